/* Security collector, kernel side: namespace breakouts, host-level operations from containers, privilege escalation,
 * sensitive file access and suspicious execution (docs/security.md). Per-syscall tracepoints on a curated list, read
 * at sys_exit with the arguments taken from the task's saved registers (so a call refused by seccomp before it ran,
 * which has a sys_exit but no sys_enter, is still seen as an attempt); tp_btf where the kernel has one; LSM forms
 * preferred where BPF LSM works, their tracepoint forms standing down (settings.lsm_mask). Each program returns at
 * once when its detection is off; userspace attaches only the hooks of enabled detections. Records:
 * bpf/include/security.h; the rules and names live in src/collectors/security/. */
#include "security_task.h"
#include "limits.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized from config before load */
} security_events SEC(".maps");

/* State saved at sys_enter for the sys_exit that compares before and after (credentials, namespaces). */
struct sec_pending {
	__u32 uid, euid, gid, egid;
	__u64 cap_effective;
	__u32 ns[SEC_NS_COUNT];
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct sec_pending);
} security_pending SEC(".maps");

const struct sec_record *unused_sec_record __attribute__((unused));
const struct sec_settings *unused_sec_settings __attribute__((unused));
const struct sec_path_rule *unused_sec_rule __attribute__((unused));

#define S_IFMT		  00170000
#define S_IFSOCK	  0140000
#define S_IFCHR		  0020000
#define S_ISUID		  0004000
#define S_ISGID		  0002000
#define FMODE_READ	  0x1
#define FMODE_WRITE	  0x2
#define O_ACCMODE	  3
#define O_CREAT		  0100
#define O_TRUNC		  01000
#define O_APPEND	  02000
#define CLONE_NEWNS	  0x00020000
#define CLONE_NEWCGROUP	  0x02000000
#define CLONE_NEWUTS	  0x04000000
#define CLONE_NEWIPC	  0x08000000
#define CLONE_NEWUSER	  0x10000000
#define CLONE_NEWPID	  0x20000000
#define CLONE_NEWNET	  0x40000000
#define AF_UNIX		  1
#define BPF_PROG_LOAD_CMD 5
#define OPEN_TREE_CLONE	  1

static __always_inline __u32 sec_kind(__u32 det)
{
	switch (det) {
	case SEC_DET_SETNS:
	case SEC_DET_UNSHARE:
	case SEC_DET_CLONE_NS:
		return TAPIO_KIND_SEC_NAMESPACE;
	case SEC_DET_MOUNT:
	case SEC_DET_CHROOT:
	case SEC_DET_MODULE_LOAD:
	case SEC_DET_BPF_LOAD:
	case SEC_DET_RUNTIME_SOCKET:
		return TAPIO_KIND_SEC_HOST;
	case SEC_DET_FILE_OPEN:
	case SEC_DET_FILE_LINK:
		return TAPIO_KIND_SEC_FILE;
	case SEC_DET_SETUID_EXEC:
	case SEC_DET_CRED_CHANGE:
	case SEC_DET_PTRACE:
	case SEC_DET_SETUID_BIT:
	case SEC_DET_USERNS:
		return TAPIO_KIND_SEC_PRIVILEGE;
	default:
		return TAPIO_KIND_SEC_EXEC;
	}
}

static __always_inline struct pt_regs *sec_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

static __always_inline void sec_read_creds(struct task_struct *t, __u32 *uid, __u32 *euid, __u32 *gid, __u32 *egid,
					   __u64 *cap)
{
	const struct cred *c = BPF_CORE_READ(t, real_cred);
	*uid = BPF_CORE_READ(c, uid.val);
	*euid = BPF_CORE_READ(c, euid.val);
	*gid = BPF_CORE_READ(c, gid.val);
	*egid = BPF_CORE_READ(c, egid.val);
	kernel_cap_t caps = BPF_CORE_READ(c, cap_effective);
	bpf_probe_read_kernel(cap, sizeof(*cap), &caps);
}

/* Reserves a record for `det` and fills what every record has: who, where, ancestry, executable. */
static __always_inline struct sec_record *sec_begin(struct task_struct *t, __u32 det, __u32 op, bool container)
{
	__u32 kind = sec_kind(det);
	if (!tapio_admit(kind, bpf_get_current_cgroup_id()))
		return NULL;
	struct sec_record *r = tapio_reserve(&security_events, struct sec_record, kind);
	if (!r)
		return NULL;
	tapio_fill_header(&r->h, kind, sizeof(*r));
	r->detection = det;
	r->op = op;
	r->flags = container ? SEC_F_CONTAINER : 0;
	r->ret = 0;
	r->arg0 = 0;
	r->arg1 = 0;
	r->rule = 0;
	r->target_pid = 0;
	r->path_len = 0;
	r->path[0] = 0;
	r->ppid = BPF_CORE_READ(t, real_parent, tgid);
	sec_read_creds(t, &r->uid, &r->euid, &r->gid, &r->egid, &r->cap_effective);
	r->old_uid = r->uid;
	r->old_euid = r->euid;
	r->old_gid = r->gid;
	r->old_egid = r->egid;
	r->old_cap_effective = r->cap_effective;
	r->start_boot_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	sec_read_ns(t, r->ns_after);
	__builtin_memcpy(r->ns_before, r->ns_after, sizeof(r->ns_before));
	bpf_get_current_comm(r->comm, sizeof(r->comm));

	/* Ancestry while the parents share the task's pid namespace: up to the container's first process. */
	_Static_assert(sizeof(r->ancestors) == sizeof(struct tapio_ancestor) * TAPIO_ANCESTORS,
		       "ancestor layouts differ");
	r->ancestor_count = tapio_ancestors(t, (struct tapio_ancestor *)r->ancestors);

	struct sec_scratch *sc = NULL;
	bool cut = false;
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	int n = exe ? sec_resolve_file(t, exe, 1, &sc, &cut) : -1;
	r->exe_len = 0;
	r->exe[0] = 0;
	if (n > 0 && sc) {
		bpf_probe_read_kernel(r->exe, SEC_PATH_LEN, sc->buf);
		r->exe_len = n;
		if (cut)
			r->flags |= SEC_F_EXE_TRUNCATED;
	}
	return r;
}

/* Copies a path from scratch into the record. */
static __always_inline void sec_set_path(struct sec_record *r, struct sec_scratch *sc, int n, __u32 flags)
{
	if (n <= 0 || !sc)
		return;
	bpf_probe_read_kernel(r->path, SEC_PATH_LEN, sc->buf);
	r->path_len = n < SEC_PATH_LEN ? n : SEC_PATH_LEN - 1;
	r->flags |= flags;
}

/* A user string as the record's path (relative ones too: said as given). */
static __always_inline void sec_set_user_path(struct sec_record *r, const char *user)
{
	if (!user)
		return;
	long n = bpf_probe_read_user_str(r->path, SEC_PATH_LEN, user);
	r->path_len = n > 1 ? n - 1 : 0;
	if (n >= SEC_PATH_LEN)
		r->flags |= SEC_F_PATH_TRUNCATED;
}

static __always_inline bool sec_lsm_owns(struct sec_settings *s, __u32 op)
{
	return s && (s->lsm_mask & (1u << op));
}

/* --- enter/exit pairs: namespaces and credentials ------------------------------------------------------------ */

static __always_inline int sec_save_enter(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct sec_pending p = {};
	sec_read_creds(t, &p.uid, &p.euid, &p.gid, &p.egid, &p.cap_effective);
	sec_read_ns(t, p.ns);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&security_pending, &tid, &p, BPF_ANY) != 0)
		tapio_count_drop(TAPIO_KIND_SEC_PRIVILEGE, TAPIO_DROP_MAP_FULL);
	return 0;
}

/* The state saved at enter (removed from the map), or NULL when the call never entered (seccomp refused it). */
static __always_inline bool sec_take_enter(struct sec_pending *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sec_pending *p = bpf_map_lookup_elem(&security_pending, &tid);
	if (!p)
		return false;
	*out = *p;
	bpf_map_delete_elem(&security_pending, &tid);
	return true;
}

static __always_inline bool sec_ns_differs_from_host(const __u32 *ns, struct sec_settings *s)
{
	for (int i = 0; i < SEC_NS_COUNT - 1; i++) /* user namespaces are judged by the userns detection */
		if (ns[i] != s->host_ns[i])
			return true;
	return false;
}

static __always_inline int sec_ns_exit(void *ctx, __u32 op, long ret)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	struct sec_pending before = {};
	bool entered = sec_take_enter(&before);
	if (!s)
		return 0;
	struct pt_regs *regs = sec_regs();
	__u64 a0 = PT_REGS_PARM1_CORE_SYSCALL(regs);
	__u64 a1 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	__u32 det = op == SEC_OP_SETNS ? SEC_DET_SETNS : SEC_DET_UNSHARE;
	__u32 euid_before = entered ? before.euid : BPF_CORE_READ(t, real_cred, euid.val);
	if (op == SEC_OP_UNSHARE && (a0 & CLONE_NEWUSER) && euid_before != 0)
		det = SEC_DET_USERNS;
	bool container = false;
	if (!s || !(s->enabled_mask & (1u << det)) || (__u32)(bpf_get_current_pid_tgid() >> 32) == s->agent_tgid)
		return 0;
	container = sec_in_container(t, s);
	/* setns into or out of a container counts whatever the scope: that is the breakout (or the nsenter). */
	__u32 now_ns[SEC_NS_COUNT];
	sec_read_ns(t, now_ns);
	bool touches = det == SEC_DET_SETNS && entered &&
		       (sec_ns_differs_from_host(before.ns, s) || sec_ns_differs_from_host(now_ns, s));
	if (!container && !touches && !(s->host_scope_mask & (1u << det)))
		return 0;
	struct sec_record *r = sec_begin(t, det, op, container);
	if (!r)
		return 0;
	r->ret = ret;
	r->arg0 = a0;
	r->arg1 = a1;
	if (entered) {
		__builtin_memcpy(r->ns_before, before.ns, sizeof(r->ns_before));
		r->old_euid = before.euid;
		r->old_uid = before.uid;
	} else {
		r->flags |= SEC_F_NO_ENTER;
	}
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setns")
int setns_enter(void *ctx)
{
	return sec_save_enter();
}
SEC("tracepoint/syscalls/sys_exit_setns")
int setns_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_ns_exit(ctx, SEC_OP_SETNS, ctx->ret);
}
SEC("tracepoint/syscalls/sys_enter_unshare")
int unshare_enter(void *ctx)
{
	return sec_save_enter();
}
SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_ns_exit(ctx, SEC_OP_UNSHARE, ctx->ret);
}

/* A new process whose namespaces are not its parent's: clone(CLONE_NEW*). */
static __always_inline void sec_fork(void *ctx, struct task_struct *parent, struct task_struct *child)
{
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return;
	__u32 pns[SEC_NS_COUNT], cns[SEC_NS_COUNT];
	sec_read_ns(parent, pns);
	sec_read_ns(child, cns);
	static const __u32 flag_of[SEC_NS_COUNT] = {CLONE_NEWNS,  CLONE_NEWPID,	   CLONE_NEWNET, CLONE_NEWUTS,
						    CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWUSER};
	__u64 changed = 0;
	for (int i = 0; i < SEC_NS_COUNT; i++)
		if (pns[i] != cns[i])
			changed |= flag_of[i];
	if (!changed)
		return;
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 det = (changed & CLONE_NEWUSER) && BPF_CORE_READ(parent, real_cred, euid.val) != 0 ? SEC_DET_USERNS
												 : SEC_DET_CLONE_NS;
	bool container = false;
	if (!sec_wanted(s, det, t, &container))
		return;
	struct sec_record *r = sec_begin(t, det, SEC_OP_CLONE, container);
	if (!r)
		return;
	r->arg0 = changed;
	r->target_pid = BPF_CORE_READ(child, tgid);
	__builtin_memcpy(r->ns_before, pns, sizeof(r->ns_before));
	__builtin_memcpy(r->ns_after, cns, sizeof(r->ns_after));
	tapio_submit(ctx, &security_events, r);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_btf, struct task_struct *parent, struct task_struct *child)
{
	sec_fork(ctx, parent, child);
	return 0;
}

SEC("raw_tracepoint/sched_process_fork")
int fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	sec_fork(ctx, (struct task_struct *)ctx->args[0], (struct task_struct *)ctx->args[1]);
	return 0;
}

#include "security_hooks.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
