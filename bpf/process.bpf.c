/* Process collector, kernel side: one record per exec, per process exit (whole thread group) and per fork.
 * Each hook has a typed tp_btf form (preferred: no tracefs needed, direct task access) and a classic tracepoint or
 * raw_tracepoint fallback; src/collectors/process/index.ts declares the order. Records: bpf/include/process.h. */
#include "process.h"
#include "limits.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized from config before load */
} process_events SEC(".maps");

/* Set once by userspace before load (.rodata, src/collectors/process/index.ts): the verifier sees the value, and
 * nothing is looked up per event. Copy at most this many bytes of the argument block (<= PROC_ARGV_AREA). */
const volatile __u32 argv_max_bytes = 1024;

/* Fill everything except the path from the current task (the new program, at sched_process_exec). */
static __always_inline void fill_exec(struct proc_exec_record *r, struct task_struct *task, __u32 old_tid)
{
	tapio_fill_header(&r->h, TAPIO_KIND_PROC_EXEC, sizeof(*r));
	r->old_tid = old_tid;
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->uid = BPF_CORE_READ(task, real_cred, uid.val);
	r->gid = BPF_CORE_READ(task, real_cred, gid.val);
	r->mnt_ns_inode = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	/* The active pid namespace is the one at the pid's own level (pid_ns_for_children may differ after unshare). */
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[level & 31]);
	r->pid_ns_inode = BPF_CORE_READ(up.ns, ns.inum);
	r->start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	r->flags = 0;
	bpf_get_current_comm(r->comm, sizeof(r->comm));

	/* The argument block is NUL-separated strings between mm->arg_start and arg_end; copy a bounded prefix and
	 * let userspace split it and apply the argument-count limit. */
	__u32 max = argv_max_bytes;
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	__u64 total = end > start ? end - start : 0;
	r->argv_total_bytes = total > 0xffffffff ? 0xffffffff : (__u32)total;
	__u64 len = total < max ? total : max;
	if (len > PROC_ARGV_AREA)
		len = PROC_ARGV_AREA;
	r->argv_bytes = 0;
	if (len > 0) {
		/* len is in [1, PROC_ARGV_AREA] already; the mask states that bound in the instruction the verifier checks
		 * (PROC_ARGV_AREA is a power of two), so it holds whatever register clang picks for len. */
		len = ((len - 1) & (PROC_ARGV_AREA - 1)) + 1;
		if (bpf_probe_read_user(r->argv, len, (void *)start) == 0)
			r->argv_bytes = (__u16)len;
		else
			r->flags |= PROC_EXEC_ARGV_READ_FAILED;
	}
}

static __always_inline void set_path_length(struct proc_exec_record *r, long n)
{
	/* bpf_probe_read_*_str returns the bytes copied including the NUL, or a negative error. */
	r->path_bytes = n > 0 ? (__u16)(n - 1) : 0;
	if (n >= PROC_PATH_LEN)
		r->flags |= PROC_EXEC_PATH_TRUNCATED;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!tapio_admit(TAPIO_KIND_PROC_EXEC, bpf_get_current_cgroup_id()))
		return 0;
	struct proc_exec_record *r = tapio_reserve(&process_events, struct proc_exec_record, TAPIO_KIND_PROC_EXEC);
	if (!r)
		return 0;
	fill_exec(r, p, old_pid);
	set_path_length(r, bpf_probe_read_kernel_str(r->path, sizeof(r->path), BPF_CORE_READ(bprm, filename)));
	tapio_submit(&process_events, r);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int exec_tp(struct trace_event_raw_sched_process_exec *ctx)
{
	if (!tapio_admit(TAPIO_KIND_PROC_EXEC, bpf_get_current_cgroup_id()))
		return 0;
	struct proc_exec_record *r = tapio_reserve(&process_events, struct proc_exec_record, TAPIO_KIND_PROC_EXEC);
	if (!r)
		return 0;
	fill_exec(r, (struct task_struct *)bpf_get_current_task(), ctx->old_pid);
	/* __data_loc: the low 16 bits are the string's offset from the start of the record. */
	unsigned int off = ctx->__data_loc_filename & 0xffff;
	set_path_length(r, bpf_probe_read_kernel_str(r->path, sizeof(r->path), (void *)ctx + off));
	tapio_submit(&process_events, r);
	return 0;
}

/* Called for every exiting thread; reports only when it is the last one of its process. */
/* Processes already reported as exited, keyed by (tgid, start time): see handle_exit. */
struct exit_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_boot_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct exit_key);
	__type(value, __u8);
} process_exit_reported SEC(".maps");

static __always_inline void handle_exit(struct task_struct *task)
{
	/* do_exit decrements signal->live before this tracepoint: zero means the whole thread group is gone. The same
	 * test as the 6.18 tracepoint's group_dead, but it also works on kernels whose tracepoint lacks it. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return;
	/* When exit_group kills several threads at once, every one that reaches this tracepoint after the last
	 * decrement reads zero too. Only the first may report: an insert that finds the key already there is a later
	 * thread of the same process (start time makes the key unique even when the pid is reused). */
	struct exit_key key = {.tgid = BPF_CORE_READ(task, tgid),
			       .start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime)};
	__u8 one = 1;
	if (bpf_map_update_elem(&process_exit_reported, &key, &one, BPF_NOEXIST) != 0)
		return;
	if (!tapio_admit(TAPIO_KIND_PROC_EXIT, bpf_get_current_cgroup_id()))
		return;
	struct proc_exit_record *r = tapio_reserve(&process_events, struct proc_exit_record, TAPIO_KIND_PROC_EXIT);
	if (!r)
		return;
	tapio_fill_header(&r->h, TAPIO_KIND_PROC_EXIT, sizeof(*r));
	r->ppid = BPF_CORE_READ(task, real_parent, tgid);
	r->exit_code = BPF_CORE_READ(task, exit_code);
	r->start_boot_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), &leader->comm);
	tapio_submit(&process_events, r);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_btf, struct task_struct *p)
{
	handle_exit(p);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int exit_tp(void *ctx)
{
	handle_exit((struct task_struct *)bpf_get_current_task());
	return 0;
}

static __always_inline void handle_fork(struct task_struct *parent, struct task_struct *child)
{
	/* New threads also pass here; only new processes (their own thread group) are process.fork. */
	__u32 child_pid = BPF_CORE_READ(child, pid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	if (child_pid != child_tgid)
		return;
	/* Sampling, like rate limits, is limits.h's job (limits.sampling['process.fork']). */
	if (!tapio_admit(TAPIO_KIND_PROC_FORK, bpf_get_current_cgroup_id()))
		return;
	struct proc_fork_record *r = tapio_reserve(&process_events, struct proc_fork_record, TAPIO_KIND_PROC_FORK);
	if (!r)
		return;
	tapio_fill_header(&r->h, TAPIO_KIND_PROC_FORK, sizeof(*r));
	r->child_pid = child_tgid;
	r->parent_tid = BPF_CORE_READ(parent, pid);
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), &child->comm);
	tapio_submit(&process_events, r);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fork_btf, struct task_struct *parent, struct task_struct *child)
{
	handle_fork(parent, child);
	return 0;
}

/* raw_tp gives the same task pointers without BTF typing (the classic tracepoint has only pids, which cannot tell a
 * thread from a process). */
SEC("raw_tracepoint/sched_process_fork")
int fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	handle_fork((struct task_struct *)ctx->args[0], (struct task_struct *)ctx->args[1]);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
