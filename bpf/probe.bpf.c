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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
