/* Feature probe for task local storage in tracing programs (5.11+). A separate object from probe.bpf.c because
 * kernels without BPF_MAP_TYPE_TASK_STORAGE refuse the map itself, and a map that cannot be created fails its
 * whole object: here that failure is the answer, and the other probes are unaffected. */
#include "tapio.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} probe_task_storage SEC(".maps");

SEC("tp_btf/sched_process_free")
int BPF_PROG(probe_helper_task_storage, struct task_struct *p)
{
	__u64 *v = bpf_task_storage_get(&probe_task_storage, p, 0, 0);
	return v ? 0 : 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
