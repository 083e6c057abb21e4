/* Helpers of the security collector (bpf/security.bpf.c): settings, the task's namespaces and credentials, its
 * ancestry, syscall arguments at sys_exit, the path of a (dentry, mount) walked up to the task's root with mount
 * crossing (bpf_loop, so the verifier sees one iteration), and the in-kernel path rules. */
#ifndef TAPIO_SECURITY_TASK_H
#define TAPIO_SECURITY_TASK_H

#include "task_fd.h"
#include "exe_parts.h"
#include "security.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sec_settings);
} security_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SEC_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sec_path_rule);
} security_path_rules SEC(".maps");

/* Shell names (comm, NUL-padded to 16 bytes): an exec whose new comm is here is a shell. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[SEC_COMM_LEN]);
	__type(value, __u8);
} security_shells SEC(".maps");

/* Per-CPU path buffers: slot 0 for the object's path, slot 1 for the executable. */
struct sec_scratch {
	char buf[SEC_SCRATCH];
	__u64 dentries[SEC_WALK_DEPTH];
	__u32 n;   /* dentries remembered */
	__u32 pos; /* bytes of buf in use */
	__u32 truncated;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sec_scratch);
} security_scratch SEC(".maps");

/* The syscall a task is in, from its saved registers (for LSM forms that report what the tracepoint form reports). */
#if defined(__TARGET_ARCH_x86)
#define SEC_NR_PTRACE	     101
#define SEC_O_LARGEFILE	     0100000
#define sec_syscall_nr(regs) BPF_CORE_READ((regs), orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define SEC_NR_PTRACE	     117
#define SEC_O_LARGEFILE	     0400000
#define sec_syscall_nr(regs) BPF_CORE_READ((regs), syscallno)
#else
#error "security: the ptrace syscall number for this architecture is missing"
#endif

static __always_inline struct sec_settings *sec_settings(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&security_settings, &zero);
}

/* The namespaces that matter for escapes. PID is pid_ns_for_children: what setns(CLONE_NEWPID) changes. */
static __always_inline void sec_read_ns(struct task_struct *t, __u32 *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(t, nsproxy);
	ns[SEC_NS_MNT] = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns[SEC_NS_PID] = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	ns[SEC_NS_NET] = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns[SEC_NS_UTS] = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns[SEC_NS_IPC] = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns[SEC_NS_CGROUP] = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns[SEC_NS_USER] = BPF_CORE_READ(t, real_cred, user_ns, ns.inum);
}

/* The pid namespace the task itself lives in (not the one its children get): exe_parts.h's, typed. */
static __always_inline struct pid_namespace *sec_active_pid_ns(struct task_struct *t)
{
	return (struct pid_namespace *)tapio_active_pid_ns(t);
}

/* In a container: its mount or (active) pid namespace is not the host's. */
static __always_inline bool sec_in_container(struct task_struct *t, struct sec_settings *s)
{
	__u32 mnt = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	__u32 pid = BPF_CORE_READ(sec_active_pid_ns(t), ns.inum);
	return mnt != s->host_ns[SEC_NS_MNT] || pid != s->host_ns[SEC_NS_PID];
}

/* Should detection `det` be reported for this task? Also says whether it is in a container. */
static __always_inline bool sec_wanted(struct sec_settings *s, __u32 det, struct task_struct *t, bool *container)
{
	if (!s || !(s->enabled_mask & (1u << det)))
		return false;
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == s->agent_tgid)
		return false;
	*container = sec_in_container(t, s);
	return *container || (s->host_scope_mask & (1u << det));
}

/* --- path walk ------------------------------------------------------------------------------------------------ */

/* The counters live in the map value, not on the stack: the verifier then sees unknown values at each iteration
 * and checks the callback once, instead of once per possible count (which exceeds its 1M-instruction budget). */
struct sec_walk {
	struct dentry *dentry;
	struct vfsmount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct sec_scratch *sc;
};

/* Step 1, leaf to root: remember each dentry; at a mount's root continue from where it is mounted. */
static long sec_walk_up(__u32 i, void *arg)
{
	struct sec_walk *w = arg;
	struct sec_scratch *sc = w->sc;
	/* Plain locals first: BPF_CORE_READ on w->field would relocate against our own struct. */
	struct vfsmount *vmnt = w->mnt;
	struct dentry *dentry = w->dentry;
	struct vfsmount *root_mnt = w->root_mnt;
	/* The root, also through another copy of its mount (a file opened before unshare -m: its mount is the old
	 * namespace's, the root the new one's; both share the dentries). */
	if (dentry == w->root_dentry &&
	    (vmnt == root_mnt || BPF_CORE_READ(vmnt, mnt_sb) == BPF_CORE_READ(root_mnt, mnt_sb)))
		return 1;
	struct dentry *mnt_root = BPF_CORE_READ(vmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == parent && dentry != mnt_root) {
		/* A pseudo file (memfd, pipe, anon inode) is its own parent: its name is all there is. */
		__u32 k = sc->n;
		if (k < SEC_WALK_DEPTH) {
			sc->dentries[k] = (__u64)dentry;
			sc->n = k + 1;
		}
		return 1;
	}
	if (dentry == mnt_root) {
		struct mount *m = (void *)vmnt - bpf_core_field_offset(struct mount, mnt);
		struct mount *pm = BPF_CORE_READ(m, mnt_parent);
		if (pm == m || !pm) {
			/* The root of everything, or of a detached mount. A file bind-mounted on its own and detached (runc's
			 * cloned binary) is that mount's root: keep its name, or the path would say only "/". */
			__u32 k = sc->n;
			if (k == 0 && dentry != w->root_dentry) {
				struct dentry *fsroot = BPF_CORE_READ(dentry, d_sb, s_root);
				if (dentry != fsroot) {
					sc->dentries[0] = (__u64)dentry;
					sc->n = 1;
				}
			}
			return 1;
		}
		w->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		w->mnt = (void *)pm + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	__u32 n = sc->n;
	if (n >= SEC_WALK_DEPTH) {
		sc->truncated = 1;
		return 1;
	}
	sc->dentries[n] = (__u64)dentry;
	sc->n = n + 1;
	w->dentry = parent;
	return 0;
}

/* Step 2, root to leaf: "/" + name for each remembered dentry. */
static long sec_walk_names(__u32 i, void *arg)
{
	struct sec_walk *w = arg;
	struct sec_scratch *sc = w->sc;
	__u32 n = sc->n;
	if (i >= n || n > SEC_WALK_DEPTH)
		return 1;
	__u32 idx = n - 1 - i;
	if (idx >= SEC_WALK_DEPTH)
		return 1;
	struct dentry *d = (void *)sc->dentries[idx];
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	__u32 pos = sc->pos;
	if (pos >= SEC_PATH_LEN - 1) {
		sc->truncated = 1;
		return 1;
	}
	sc->buf[pos & (SEC_SCRATCH - 1)] = '/';
	pos++;
	long k = bpf_probe_read_kernel_str(&sc->buf[pos & (SEC_SCRATCH / 2 - 1)], SEC_PATH_LEN, name);
	if (k > 1)
		pos += k - 1;
	sc->pos = pos;
	if (pos >= SEC_PATH_LEN - 1) {
		sc->truncated = 1;
		return 1;
	}
	return 0;
}

/* Resolves (dentry, mnt) to a path relative to the task's root into scratch slot `slot`. Returns its length
 * (NUL-terminated in sc->buf) or -1; *truncated says the path was cut. */
static __always_inline int sec_resolve(struct task_struct *t, struct dentry *dentry, struct vfsmount *mnt, __u32 slot,
				       struct sec_scratch **out, bool *truncated)
{
	struct sec_scratch *sc = bpf_map_lookup_elem(&security_scratch, &slot);
	if (!sc || !dentry || !mnt)
		return -1;
	sc->n = 0;
	sc->pos = 0;
	sc->truncated = 0;
	struct sec_walk w = {
		.dentry = dentry,
		.mnt = mnt,
		.root_dentry = BPF_CORE_READ(t, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(t, fs, root.mnt),
		.sc = sc,
	};
	bpf_loop(SEC_WALK_DEPTH + 16, sec_walk_up, &w, 0); /* + mount crossings */
	bpf_loop(SEC_WALK_DEPTH, sec_walk_names, &w, 0);
	__u32 pos = sc->pos;
	if (pos == 0)
		sc->buf[pos++] = '/';
	if (pos >= SEC_PATH_LEN)
		pos = SEC_PATH_LEN - 1;
	sc->buf[pos & (SEC_SCRATCH - 1)] = 0;
	*out = sc;
	*truncated = sc->truncated;
	return pos;
}

static __always_inline int sec_resolve_file(struct task_struct *t, struct file *f, __u32 slot, struct sec_scratch **out,
					    bool *truncated)
{
	return sec_resolve(t, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), slot, out, truncated);
}

/* --- path rules --------------------------------------------------------------------------------------------- */

struct sec_match {
	struct sec_scratch *sc;
	__u32 len;
	__u32 access;
	__s32 hit;
};

static long sec_match_rule(__u32 i, void *arg)
{
	struct sec_match *m = arg;
	__u32 key = i;
	struct sec_path_rule *r = bpf_map_lookup_elem(&security_path_rules, &key);
	if (!r || r->len == 0)
		return 1;
	if (!(r->flags & m->access) || r->len > m->len || r->len > SEC_RULE_LEN)
		return 0;
	__u32 start = (r->flags & SEC_RULE_SUFFIX) ? m->len - r->len : 0;
	for (__u32 j = 0; j < SEC_RULE_LEN; j++) {
		if (j >= r->len)
			break;
		if (m->sc->buf[(start + j) & (SEC_SCRATCH - 1)] != r->pattern[j])
			return 0;
	}
	m->hit = i;
	return 1;
}

/* Index of the first rule with one of the `access` flags that matches the path in sc, or -1. */
static __always_inline int sec_match_path(struct sec_scratch *sc, int len, __u32 access)
{
	struct sec_match m = {.sc = sc, .len = len, .access = access, .hit = -1};
	if (len <= 0)
		return -1;
	bpf_loop(SEC_MAX_RULES, sec_match_rule, &m, 0);
	return m.hit;
}

/* A user string (absolute paths only: relative ones cannot be matched without resolving) into scratch slot 0. */
static __always_inline int sec_user_path(const char *user, struct sec_scratch **out)
{
	__u32 slot = 0;
	struct sec_scratch *sc = bpf_map_lookup_elem(&security_scratch, &slot);
	if (!sc || !user)
		return -1;
	long n = bpf_probe_read_user_str(sc->buf, SEC_PATH_LEN, user);
	if (n <= 1 || sc->buf[0] != '/')
		return -1;
	*out = sc;
	return n - 1;
}

#endif
