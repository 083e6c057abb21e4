/* The security collector's single-shot hooks (included once, by bpf/security.bpf.c): host-level operations, credential
 * changes, ptrace, chmod, file opens and links with the in-kernel path rules, runtime sockets, exec, and the LSM forms
 * preferred where BPF LSM works. Everything here reads syscall arguments at sys_exit from the saved registers. */
#ifndef TAPIO_SECURITY_HOOKS_H
#define TAPIO_SECURITY_HOOKS_H

/* --- host-level operations ------------------------------------------------------------------------------------ */

/* One record for a syscall of `det`: ret, two numeric args, and the user string `user` as path. */
static __always_inline int sec_simple(void *ctx, __u32 det, __u32 op, long ret, __u64 a0, __u64 a1, const char *user)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (sec_lsm_owns(s, op) || !sec_wanted(s, det, t, &container))
		return 0;
	struct sec_record *r = sec_begin(t, det, op, container);
	if (!r)
		return 0;
	r->ret = ret;
	r->arg0 = a0;
	r->arg1 = a1;
	sec_set_user_path(r, user);
	tapio_submit(ctx, &security_events, r);
	return 0;
}

#define ARG1 PT_REGS_PARM1_CORE_SYSCALL(sec_regs())
#define ARG2 PT_REGS_PARM2_CORE_SYSCALL(sec_regs())
#define ARG3 PT_REGS_PARM3_CORE_SYSCALL(sec_regs())
#define ARG4 PT_REGS_PARM4_CORE_SYSCALL(sec_regs())
#define ARG5 PT_REGS_PARM5_CORE_SYSCALL(sec_regs())

SEC("tracepoint/syscalls/sys_exit_mount")
int mount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_MOUNT, SEC_OP_MOUNT, ctx->ret, ARG4, 0, (const char *)ARG2);
}
SEC("tracepoint/syscalls/sys_exit_fsopen")
int fsopen_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_MOUNT, SEC_OP_FSOPEN, ctx->ret, ARG2, 0, (const char *)ARG1);
}
SEC("tracepoint/syscalls/sys_exit_fsmount")
int fsmount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_MOUNT, SEC_OP_FSMOUNT, ctx->ret, ARG2, ARG3, NULL);
}
SEC("tracepoint/syscalls/sys_exit_move_mount")
int move_mount_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_MOUNT, SEC_OP_MOVE_MOUNT, ctx->ret, ARG5, 0, (const char *)ARG4);
}
SEC("tracepoint/syscalls/sys_exit_mount_setattr")
int mount_setattr_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_MOUNT, SEC_OP_MOUNT_SETATTR, ctx->ret, ARG3, 0, (const char *)ARG2);
}
SEC("tracepoint/syscalls/sys_exit_open_tree")
int open_tree_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 flags = ARG3;
	if (!(flags & OPEN_TREE_CLONE))
		return 0; /* only a detached copy of a mount tree is a mount operation */
	return sec_simple(ctx, SEC_DET_MOUNT, SEC_OP_OPEN_TREE, ctx->ret, flags, 0, (const char *)ARG2);
}
SEC("tracepoint/syscalls/sys_exit_chroot")
int chroot_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_CHROOT, SEC_OP_CHROOT, ctx->ret, 0, 0, (const char *)ARG1);
}
SEC("tracepoint/syscalls/sys_exit_pivot_root")
int pivot_root_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_CHROOT, SEC_OP_PIVOT_ROOT, ctx->ret, 0, 0, (const char *)ARG1);
}
/* No tracepoints where CONFIG_MODULES=n: these then fail to attach and the hook reports why. */
/* finit_module(fd, args, flags): the file behind fd (still open at sys_exit), resolved as the LSM form does. */
SEC("tracepoint/syscalls/sys_exit_finit_module")
int finit_module_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (sec_lsm_owns(s, SEC_OP_FINIT_MODULE) || !sec_wanted(s, SEC_DET_MODULE_LOAD, t, &container))
		return 0;
	struct file *f = tapio_fd_file(t, (long)ARG1);
	struct sec_scratch *sc = NULL;
	bool cut = false;
	int n = f ? sec_resolve_file(t, f, 0, &sc, &cut) : -1;
	struct sec_record *r = sec_begin(t, SEC_DET_MODULE_LOAD, SEC_OP_FINIT_MODULE, container);
	if (!r)
		return 0;
	r->ret = ctx->ret;
	r->arg0 = ARG1;
	r->arg1 = ARG3;
	sec_set_path(r, sc, n, SEC_F_PATH_RESOLVED | (cut ? SEC_F_PATH_TRUNCATED : 0));
	tapio_submit(ctx, &security_events, r);
	return 0;
}
SEC("tracepoint/syscalls/sys_exit_init_module")
int init_module_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_simple(ctx, SEC_DET_MODULE_LOAD, SEC_OP_INIT_MODULE, ctx->ret, ARG2, 0, NULL);
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int bpf_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ARG1 != BPF_PROG_LOAD_CMD)
		return 0;
	__u32 prog_type = 0;
	bpf_probe_read_user(&prog_type, sizeof(prog_type), (void *)ARG2);
	return sec_simple(ctx, SEC_DET_BPF_LOAD, SEC_OP_BPF, ctx->ret, BPF_PROG_LOAD_CMD, prog_type, NULL);
}

/* connect() to a unix socket whose path matches a CONNECT rule (the container runtimes' API sockets). */
SEC("tracepoint/syscalls/sys_exit_connect")
int connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_RUNTIME_SOCKET, t, &container))
		return 0;
	const char *addr = (const char *)ARG2;
	__u16 family = 0;
	if (bpf_probe_read_user(&family, sizeof(family), addr) != 0 || family != AF_UNIX)
		return 0;
	struct sec_scratch *sc = NULL;
	int n = sec_user_path(addr + 2, &sc);
	int rule = sec_match_path(sc, n, SEC_RULE_CONNECT);
	if (rule < 0)
		return 0;
	struct sec_record *r = sec_begin(t, SEC_DET_RUNTIME_SOCKET, SEC_OP_CONNECT, container);
	if (!r)
		return 0;
	r->ret = ctx->ret;
	r->rule = rule;
	/* sec_begin reused scratch slot 1 only: slot 0 still holds the socket path. */
	sec_set_path(r, sc, n, 0);
	tapio_submit(ctx, &security_events, r);
	return 0;
}

/* --- credentials ------------------------------------------------------------------------------------------------ */

static __always_inline int sec_cred_exit(void *ctx, __u32 op, long ret)
{
	struct sec_pending before = {};
	bool entered = sec_take_enter(&before);
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_CRED_CHANGE, t, &container))
		return 0;
	__u32 uid, euid, gid, egid;
	__u64 cap;
	sec_read_creds(t, &uid, &euid, &gid, &egid, &cap);
	bool gained = entered && ((before.uid && !uid) || (before.euid && !euid) || (before.gid && !gid) ||
				  (before.egid && !egid) || (cap & ~before.cap_effective));
	if (!gained && (entered || ret >= 0))
		return 0; /* nothing gained, and not a refused attempt */
	struct sec_record *r = sec_begin(t, SEC_DET_CRED_CHANGE, op, container);
	if (!r)
		return 0;
	r->ret = ret;
	r->arg0 = ARG1;
	r->arg1 = ARG2;
	if (entered) {
		r->old_uid = before.uid;
		r->old_euid = before.euid;
		r->old_gid = before.gid;
		r->old_egid = before.egid;
		r->old_cap_effective = before.cap_effective;
	} else {
		r->flags |= SEC_F_NO_ENTER;
	}
	tapio_submit(ctx, &security_events, r);
	return 0;
}

#define SEC_CRED_PAIR(name, op)                               \
	SEC("tracepoint/syscalls/sys_enter_" #name)           \
	int name##_enter(void *ctx)                           \
	{                                                     \
		return sec_save_enter();                      \
	}                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #name)            \
	int name##_exit(struct trace_event_raw_sys_exit *ctx) \
	{                                                     \
		return sec_cred_exit(ctx, op, ctx->ret);      \
	}

SEC_CRED_PAIR(setuid, SEC_OP_SETUID)
SEC_CRED_PAIR(setreuid, SEC_OP_SETREUID)
SEC_CRED_PAIR(setresuid, SEC_OP_SETRESUID)
SEC_CRED_PAIR(setgid, SEC_OP_SETGID)
SEC_CRED_PAIR(setregid, SEC_OP_SETREGID)
SEC_CRED_PAIR(setresgid, SEC_OP_SETRESGID)
SEC_CRED_PAIR(capset, SEC_OP_CAPSET)

/* ptrace: attach, seize and writes into another process. */
#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PTRACE_POKEUSR	6
#define PTRACE_ATTACH	16
#define PTRACE_SEIZE	0x4206

SEC("tracepoint/syscalls/sys_exit_ptrace")
int ptrace_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 req = ARG1;
	if (req != PTRACE_ATTACH && req != PTRACE_SEIZE && req != PTRACE_POKETEXT && req != PTRACE_POKEDATA &&
	    req != PTRACE_POKEUSR)
		return 0;
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (sec_lsm_owns(s, SEC_OP_PTRACE) || !sec_wanted(s, SEC_DET_PTRACE, t, &container))
		return 0;
	struct sec_record *r = sec_begin(t, SEC_DET_PTRACE, SEC_OP_PTRACE, container);
	if (!r)
		return 0;
	r->ret = ctx->ret;
	r->arg0 = req;
	r->target_pid = ARG2;
	tapio_submit(ctx, &security_events, r);
	return 0;
}

/* chmod family: a set-id bit being set. */
static __always_inline int sec_chmod(void *ctx, long ret, __u64 mode, const char *user, int fd)
{
	if (!(mode & (S_ISUID | S_ISGID)))
		return 0;
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_SETUID_BIT, t, &container))
		return 0;
	struct sec_scratch *sc = NULL;
	bool cut = false;
	int n = -1;
	if (fd >= 0) {
		struct file *f = tapio_fd_file(t, fd);
		if (f)
			n = sec_resolve_file(t, f, 0, &sc, &cut);
	}
	struct sec_record *r = sec_begin(t, SEC_DET_SETUID_BIT, SEC_OP_CHMOD, container);
	if (!r)
		return 0;
	r->ret = ret;
	r->arg0 = mode;
	if (n > 0)
		sec_set_path(r, sc, n, SEC_F_PATH_RESOLVED | (cut ? SEC_F_PATH_TRUNCATED : 0));
	else
		sec_set_user_path(r, user);
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_chmod")
int chmod_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_chmod(ctx, ctx->ret, ARG2, (const char *)ARG1, -1);
}
SEC("tracepoint/syscalls/sys_exit_fchmod")
int fchmod_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_chmod(ctx, ctx->ret, ARG2, NULL, (int)ARG1);
}
SEC("tracepoint/syscalls/sys_exit_fchmodat")
int fchmodat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_chmod(ctx, ctx->ret, ARG3, (const char *)ARG2, -1);
}
SEC("tracepoint/syscalls/sys_exit_fchmodat2")
int fchmodat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_chmod(ctx, ctx->ret, ARG3, (const char *)ARG2, -1);
}

#include "security_files.h"
#include "security_exec.h"

#endif
