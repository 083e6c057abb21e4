/* Feature probe: one tiny program per program/attach type. `tapio probe` loads and attaches each one, so what it
 * reports is what this kernel really does, not what its version number suggests. Every program returns at once. */
#include "tapio.h"

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int probe_raw_tracepoint(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_tp_btf, struct task_struct *p)
{
	return 0;
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("fexit/do_sys_openat2")
int BPF_PROG(probe_fexit)
{
	return 0;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(probe_kprobe)
{
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(probe_kretprobe)
{
	return 0;
}

SEC("kprobe.multi/do_sys_openat2")
int BPF_KPROBE(probe_kprobe_multi)
{
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(probe_uprobe)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

SEC("cgroup_skb/ingress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1; /* allow */
}

SEC("tc")
int probe_tc(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK */
}

/* Helper probes: one tp_btf program per helper (tracing programs are what the collectors that need these helpers
 * are), so the verifier says per helper whether this kernel has it for them. They only need to load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

static long probe_loop_step(__u32 i, void *ctx)
{
	return 1; /* stop after the first step */
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_helper_loop, struct task_struct *p)
{
	bpf_loop(1, probe_loop_step, NULL, 0);
	return 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_helper_task_pt_regs, struct task_struct *p)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	return regs ? 0 : 1;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_helper_current_task_btf, struct task_struct *p)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return t->pid == 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_helper_ringbuf_reserve, struct task_struct *p)
{
	__u64 *r = bpf_ringbuf_reserve(&probe_ring, sizeof(*r), 0);
	if (r)
		bpf_ringbuf_discard(r, 0);
	return 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_helper_ringbuf_output, struct task_struct *p)
{
	__u64 v = 0;
	bpf_ringbuf_output(&probe_ring, &v, sizeof(v), 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
