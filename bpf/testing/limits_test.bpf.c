/* Proves bpf/include/limits.h: a setpriority() call from any process listed in limits_test_targets emits `burst`
 * records (bpf_loop fan-out), each one asking tapio_admit() first, exactly as a collector does before it reserves a
 * record. Test processes are placed in their own cgroups, so each one gets its own token bucket. */
#include "tapio.h"
#include "limits.h"
#include "limits_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} limits_events SEC(".maps");

/* tgid -> records emitted per setpriority() call */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} limits_test_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} limits_seq SEC(".maps");

struct emit_ctx {
	__u64 cgroup_id;
};

static long emit_one(__u32 index, struct emit_ctx *ctx)
{
	if (!tapio_admit(TAPIO_KIND_TEST, ctx->cgroup_id))
		return 0; /* counted by tapio_admit */
	struct limits_test_record *r = tapio_reserve(&limits_events, struct limits_test_record, TAPIO_KIND_TEST);
	if (!r)
		return 0;
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&limits_seq, &zero);
	tapio_fill_header(&r->h, TAPIO_KIND_TEST, sizeof(*r));
	r->seq = seq ? __sync_fetch_and_add(seq, 1) : 0;
	tapio_submit(&limits_events, r);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setpriority")
int limits_emit(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *burst = bpf_map_lookup_elem(&limits_test_targets, &tgid);
	if (!burst)
		return 0;
	struct emit_ctx e = {.cgroup_id = bpf_get_current_cgroup_id()};
	__u32 n = *burst ? *burst : 1;
	if (n > 1000000)
		n = 1000000;
	bpf_loop(n, emit_one, &e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
