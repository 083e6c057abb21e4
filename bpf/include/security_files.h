/* The security collector's file hooks (included once, from security_hooks.h): opens against the in-kernel path
 * rules at sys_exit (resolved path of the new fd) and links made to sensitive files. The LSM form of opens is in
 * security_exec.h. */
#ifndef TAPIO_SECURITY_FILES_H
#define TAPIO_SECURITY_FILES_H

/* --- sensitive files ------------------------------------------------------------------------------------------- */

static __always_inline __u32 sec_rule_scope(bool container)
{
	return container ? 0 : SEC_RULE_HOST;
}

enum sec_open_call { SEC_OPENAT, SEC_OPEN, SEC_OPENAT2 };

/* After an open: the resolved path of the new fd (or, for a refused open, the caller's absolute string) against
 * the READ/WRITE rules. Host processes only meet rules marked SEC_RULE_HOST. The arguments are read from the saved
 * registers only after the scope check: most opens on a node leave before it (every open pays what comes first). */
static __always_inline int sec_open_exit(void *ctx, long ret, enum sec_open_call call)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (sec_lsm_owns(s, SEC_OP_OPEN) && ret >= 0)
		return 0; /* the LSM form saw it (refused opens never reach the LSM hook: still ours) */
	if (!sec_wanted(s, SEC_DET_FILE_OPEN, t, &container))
		return 0;
	struct pt_regs *regs = sec_regs();
	__u64 flags = 0;
	const char *user;
	if (call == SEC_OPEN) {
		flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
		user = (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
	} else {
		user = (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		if (call == SEC_OPENAT)
			flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
		else /* struct open_how starts with flags */
			bpf_probe_read_user(&flags, sizeof(flags), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
	}
	struct sec_scratch *sc = NULL;
	bool cut = false;
	int n;
	__u32 access;
	__u32 fmode = 0;
	if (ret >= 0) {
		struct file *f = tapio_fd_file(t, ret);
		if (!f)
			return 0;
		fmode = BPF_CORE_READ(f, f_mode);
		access = ((fmode & FMODE_WRITE) ? SEC_RULE_WRITE : 0) | ((fmode & FMODE_READ) ? SEC_RULE_READ : 0);
		if (flags & (O_CREAT | O_TRUNC))
			access |= SEC_RULE_WRITE;
		n = sec_resolve_file(t, f, 0, &sc, &cut);
	} else {
		__u64 acc = flags & O_ACCMODE;
		access = (acc != 0 || (flags & (O_CREAT | O_TRUNC | O_APPEND))) ? SEC_RULE_WRITE : 0;
		if (acc != 1)
			access |= SEC_RULE_READ;
		n = sec_user_path(user, &sc);
	}
	int rule = sec_match_path(sc, n, access);
	if (rule < 0)
		return 0;
	if (!container) {
		struct sec_path_rule *pr = bpf_map_lookup_elem(&security_path_rules, &rule);
		if (!pr || !(pr->flags & SEC_RULE_HOST))
			return 0;
	}
	struct sec_record *r = sec_begin(t, SEC_DET_FILE_OPEN, SEC_OP_OPEN, container);
	if (!r)
		return 0;
	r->ret = ret;
	r->rule = rule;
	r->arg0 = flags;
	r->arg1 = fmode;
	sec_set_path(r, sc, n, (ret >= 0 ? SEC_F_PATH_RESOLVED : 0) | (cut ? SEC_F_PATH_TRUNCATED : 0));
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_open_exit(ctx, ctx->ret, SEC_OPENAT);
}
SEC("tracepoint/syscalls/sys_exit_open")
int open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_open_exit(ctx, ctx->ret, SEC_OPEN);
}
SEC("tracepoint/syscalls/sys_exit_openat2")
int openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_open_exit(ctx, ctx->ret, SEC_OPENAT2);
}

/* symlink/link whose target is a sensitive (READ-rule) path. */
static __always_inline int sec_link(void *ctx, __u32 op, long ret, const char *target)
{
	struct sec_settings *s = sec_settings();
	struct task_struct *t = bpf_get_current_task_btf();
	bool container = false;
	if (!sec_wanted(s, SEC_DET_FILE_LINK, t, &container))
		return 0;
	struct sec_scratch *sc = NULL;
	int n = sec_user_path(target, &sc);
	int rule = sec_match_path(sc, n, SEC_RULE_READ | SEC_RULE_WRITE);
	if (rule < 0)
		return 0;
	struct sec_record *r = sec_begin(t, SEC_DET_FILE_LINK, op, container);
	if (!r)
		return 0;
	r->ret = ret;
	r->rule = rule;
	sec_set_path(r, sc, n, 0);
	tapio_submit(ctx, &security_events, r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int symlink_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_link(ctx, SEC_OP_SYMLINK, ctx->ret, (const char *)ARG1);
}
SEC("tracepoint/syscalls/sys_exit_symlinkat")
int symlinkat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_link(ctx, SEC_OP_SYMLINK, ctx->ret, (const char *)ARG1);
}
SEC("tracepoint/syscalls/sys_exit_link")
int link_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_link(ctx, SEC_OP_LINK, ctx->ret, (const char *)ARG1);
}
SEC("tracepoint/syscalls/sys_exit_linkat")
int linkat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return sec_link(ctx, SEC_OP_LINK, ctx->ret, (const char *)ARG2);
}

#endif
