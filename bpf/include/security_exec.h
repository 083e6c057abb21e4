/* The security collector's exec checks and LSM forms (included once, by security_hooks.h). At exec, from the task
 * alone (so the tp_btf and the classic tracepoint form see the same): set-id exec that changed effective ids,
 * fileless exec, a binary changed after its container started, exec from watched directories, shells with a
 * terminal or a socket on stdin/stdout. LSM programs load only where BPF LSM works (not on this machine). */
#ifndef TAPIO_SECURITY_EXEC_H
#define TAPIO_SECURITY_EXEC_H

struct inode___v611 {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));
struct inode___v66 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));
struct inode___old {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

/* Inode change time, wall clock ns, across the three layouts the kernel has had. */
static __always_inline __u64 sec_inode_ctime(struct inode *ino)
{
	if (bpf_core_field_exists(struct inode___v611, i_ctime_sec)) {
		struct inode___v611 *i = (void *)ino;
		return BPF_CORE_READ(i, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(i, i_ctime_nsec);
	}
	if (bpf_core_field_exists(struct inode___v66, __i_ctime)) {
		struct inode___v66 *i = (void *)ino;
		return BPF_CORE_READ(i, __i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(i, __i_ctime.tv_nsec);
	}
	struct inode___old *i = (void *)ino;
	return BPF_CORE_READ(i, i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(i, i_ctime.tv_nsec);
}

#define SEC_EXEC_BITS                                                                                 \
	((1u << SEC_DET_SETUID_EXEC) | (1u << SEC_DET_EXEC_FILELESS) | (1u << SEC_DET_EXEC_DROPPED) | \
	 (1u << SEC_DET_EXEC_PATH) | (1u << SEC_DET_SHELL_TTY) | (1u << SEC_DET_SHELL_SOCKET))

static __always_inline void sec_exec_emit(void *ctx, struct task_struct *t, __u32 det, bool container, __u64 a0,
					  __u64 a1, int rule)
{
	struct sec_record *r = sec_begin(t, det, SEC_OP_EXEC, container);
	if (!r)
		return;
	r->arg0 = a0;
	r->arg1 = a1;
	r->rule = rule < 0 ? 0 : rule;
	bpf_probe_read_kernel(r->path, SEC_PATH_LEN, r->exe);
	r->path_len = r->exe_len;
	r->flags |= SEC_F_PATH_RESOLVED | ((r->flags & SEC_F_EXE_TRUNCATED) ? SEC_F_PATH_TRUNCATED : 0);
	tapio_submit(ctx, &security_events, r);
}

static __always_inline bool sec_is_tty(__u32 rdev)
{
	__u32 major = rdev >> 20;
	return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

static __always_inline void sec_exec(void *ctx, struct task_struct *t)
{
	struct sec_settings *s = sec_settings();
	if (!s || (__u32)(bpf_get_current_pid_tgid() >> 32) == s->agent_tgid)
		return;
	bool container = sec_in_container(t, s);
	__u32 want = s->enabled_mask & (container ? ~0u : s->host_scope_mask) & SEC_EXEC_BITS;
	if (!want)
		return;
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	struct inode *ino = BPF_CORE_READ(exe, f_inode);
	if (!ino)
		return;
	__u32 mode = BPF_CORE_READ(ino, i_mode);
	__u32 nlink = BPF_CORE_READ(ino, __i_nlink);

	if ((want & (1u << SEC_DET_SETUID_EXEC)) && (mode & (S_ISUID | S_ISGID))) {
		const struct cred *c = BPF_CORE_READ(t, real_cred);
		if (BPF_CORE_READ(c, uid.val) != BPF_CORE_READ(c, euid.val) ||
		    BPF_CORE_READ(c, gid.val) != BPF_CORE_READ(c, egid.val))
			sec_exec_emit(ctx, t, SEC_DET_SETUID_EXEC, container, mode, 0, -1);
	}
	if ((want & (1u << SEC_DET_EXEC_FILELESS)) && nlink == 0)
		sec_exec_emit(ctx, t, SEC_DET_EXEC_FILELESS, container, nlink, 0, -1);
	struct pid_namespace *pidns = sec_active_pid_ns(t);
	/* Needs the container's own pid namespace (its first process tells when it started); the first process's own
	 * exec (the entrypoint, from the image) is not a dropped binary. */
	if (container && nlink != 0 && (want & (1u << SEC_DET_EXEC_DROPPED)) &&
	    BPF_CORE_READ(pidns, ns.inum) != s->host_ns[SEC_NS_PID] &&
	    BPF_CORE_READ(pidns, child_reaper, tgid) != BPF_CORE_READ(t, tgid)) {
		struct task_struct *reaper = BPF_CORE_READ(pidns, child_reaper);
		__u64 started = BPF_CORE_READ(reaper, start_boottime) + s->boot_to_wall_ns;
		__u64 ctime = sec_inode_ctime(ino);
		if (reaper && ctime > started)
			sec_exec_emit(ctx, t, SEC_DET_EXEC_DROPPED, container, ctime, started, -1);
	}
	if (want & (1u << SEC_DET_EXEC_PATH)) {
		struct sec_scratch *sc = NULL;
		bool cut = false;
		int n = sec_resolve_file(t, exe, 0, &sc, &cut);
		int rule = sec_match_path(sc, n, SEC_RULE_EXEC);
		if (rule >= 0) {
			struct sec_path_rule *pr = bpf_map_lookup_elem(&security_path_rules, &rule);
			if (pr && (container || (pr->flags & SEC_RULE_HOST)))
				sec_exec_emit(ctx, t, SEC_DET_EXEC_PATH, container, 0, 0, rule);
		}
	}
	if (want & ((1u << SEC_DET_SHELL_TTY) | (1u << SEC_DET_SHELL_SOCKET))) {
		char comm[SEC_COMM_LEN] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&security_shells, comm))
			return;
		struct inode *in0 = BPF_CORE_READ(tapio_fd_file(t, 0), f_inode);
		struct inode *in1 = BPF_CORE_READ(tapio_fd_file(t, 1), f_inode);
		__u32 m0 = in0 ? BPF_CORE_READ(in0, i_mode) : 0;
		__u32 m1 = in1 ? BPF_CORE_READ(in1, i_mode) : 0;
		__u64 sock = ((m0 & S_IFMT) == S_IFSOCK ? 1 : 0) | ((m1 & S_IFMT) == S_IFSOCK ? 2 : 0);
		if (sock && (want & (1u << SEC_DET_SHELL_SOCKET)))
			sec_exec_emit(ctx, t, SEC_DET_SHELL_SOCKET, container, sock, 0, -1);
		else if ((m0 & S_IFMT) == S_IFCHR && (want & (1u << SEC_DET_SHELL_TTY))) {
			__u32 rdev = BPF_CORE_READ(in0, i_rdev);
			if (sec_is_tty(rdev))
				sec_exec_emit(ctx, t, SEC_DET_SHELL_TTY, container, rdev, 0, -1);
		}
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	sec_exec(ctx, p);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int exec_tp(void *ctx)
{
	sec_exec(ctx, bpf_get_current_task_btf());
	return 0;
}

/* --- LSM forms (BPF LSM kernels): the kernel's own decision points, on resolved objects ----------------------- */

#ifndef SEC_NO_LSM /* for verifier debugging with bpftool on kernels without BPF LSM */
SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_FILE_OPEN, t, &container))
		return 0;
	__u32 fmode = BPF_CORE_READ(file, f_mode);
	__u32 fflags = BPF_CORE_READ(file, f_flags);
	__u32 access = ((fmode & FMODE_WRITE) ? SEC_RULE_WRITE : 0) | ((fmode & FMODE_READ) ? SEC_RULE_READ : 0);
	if (fflags & O_TRUNC)
		access |= SEC_RULE_WRITE;
	struct sec_scratch *sc = NULL;
	bool cut = false;
	int n = sec_resolve_file(t, file, 0, &sc, &cut);
	int rule = sec_match_path(sc, n, access);
	if (rule < 0)
		return 0;
	struct sec_path_rule *pr = bpf_map_lookup_elem(&security_path_rules, &rule);
	if (!pr || (!container && !(pr->flags & SEC_RULE_HOST)))
		return 0;
	struct sec_record *r = sec_begin(t, SEC_DET_FILE_OPEN, SEC_OP_OPEN | SEC_OP_LSM, container);
	if (!r)
		return 0;
	r->rule = rule;
	r->arg0 = fflags & ~SEC_O_LARGEFILE; /* the flags as the caller gave them: the kernel adds O_LARGEFILE */
	r->arg1 = fmode;
	sec_set_path(r, sc, n, SEC_F_PATH_RESOLVED | SEC_F_LSM | (cut ? SEC_F_PATH_TRUNCATED : 0));
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(lsm_ptrace, struct task_struct *child, unsigned int mode)
{
	if (!(mode & 0x02)) /* PTRACE_MODE_ATTACH: attach, seize, /proc/<pid>/mem writes */
		return 0;
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_PTRACE, t, &container))
		return 0;
	struct sec_record *r = sec_begin(t, SEC_DET_PTRACE, SEC_OP_PTRACE | SEC_OP_LSM, container);
	if (!r)
		return 0;
	/* The request as the tracepoint form reports it when this check comes from ptrace(2); 0 for the other callers
	 * (/proc/<pid>/mem writes, process_vm_writev, pidfd_getfd). The kernel's access mode goes in arg1. */
	struct pt_regs *regs = sec_regs();
	r->arg0 = sec_syscall_nr(regs) == SEC_NR_PTRACE ? PT_REGS_PARM1_CORE_SYSCALL(regs) : 0;
	r->arg1 = mode;
	r->target_pid = BPF_CORE_READ(child, tgid);
	r->flags |= SEC_F_LSM;
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("lsm/sb_mount")
int BPF_PROG(lsm_sb_mount, const char *dev_name, const struct path *path, const char *type, unsigned long flags,
	     void *data)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_MOUNT, t, &container))
		return 0;
	struct sec_scratch *sc = NULL;
	bool cut = false;
	int n = sec_resolve(t, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), 0, &sc, &cut);
	struct sec_record *r = sec_begin(t, SEC_DET_MOUNT, SEC_OP_MOUNT | SEC_OP_LSM, container);
	if (!r)
		return 0;
	r->arg0 = flags;
	sec_set_path(r, sc, n, SEC_F_PATH_RESOLVED | SEC_F_LSM | (cut ? SEC_F_PATH_TRUNCATED : 0));
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("lsm/kernel_read_file")
int BPF_PROG(lsm_kernel_read_file, struct file *file, enum kernel_read_file_id id, bool contents)
{
	if (id != bpf_core_enum_value(enum kernel_read_file_id, READING_MODULE))
		return 0;
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_MODULE_LOAD, t, &container))
		return 0;
	struct sec_scratch *sc = NULL;
	bool cut = false;
	int n = sec_resolve_file(t, file, 0, &sc, &cut);
	struct sec_record *r = sec_begin(t, SEC_DET_MODULE_LOAD, SEC_OP_FINIT_MODULE | SEC_OP_LSM, container);
	if (!r)
		return 0;
	sec_set_path(r, sc, n, SEC_F_PATH_RESOLVED | SEC_F_LSM);
	tapio_submit(ctx, &security_events, r);
	return 0;
}
#endif

#endif
