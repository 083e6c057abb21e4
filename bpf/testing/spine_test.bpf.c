/* Programs for the spine's tests and benchmarks. A setpriority() call from the test process emits `burst` records
 * (bpf_loop fan-out lets a JS loop drive millions of records per second). The same logical hook is declared with
 * fentry, kprobe and tracepoint implementations to exercise the fallback loader, and one program is deliberately
 * rejected by the verifier to prove it does not stop the others. */
#include "tapio.h"
#include "spine_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} spine_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct spine_test_settings);
} spine_test_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} spine_seq SEC(".maps");

/* Which implementation of the fallback hook actually fired: 1 fentry, 2 kprobe, 3 tracepoint. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} spine_fired SEC(".maps");

/* Not used by any program: exercises hash map access from userspace in the tests. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} spine_hash SEC(".maps");

struct emit_ctx {
	void *prog_ctx; /* the program's context, for the perf transport */
	__s32 nice;
	__u32 no_wakeup;
};

/* fetch: take the sequence number with an atomic fetch-and-add (5.12+); without it (older kernels) read, then add:
 * records emitted at once on two CPUs may then share a number. */
static __always_inline long emit_record(__u32 index, struct emit_ctx *ctx, const bool fetch)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&spine_seq, &zero);
	struct spine_test_record *r = tapio_reserve(&spine_events, struct spine_test_record, TAPIO_KIND_TEST);
	if (!r)
		return 0; /* counted; keep going so every record of the burst is either sent or counted */
	tapio_fill_header(&r->h, TAPIO_KIND_TEST, sizeof(*r));
	if (fetch) {
		r->seq = seq ? __sync_fetch_and_add(seq, 1) : 0;
	} else if (seq) {
		r->seq = *seq;
		__sync_fetch_and_add(seq, 1); /* result unused: the plain atomic add every kernel has */
	} else {
		r->seq = 0;
	}
	r->burst_index = index;
	r->nice = ctx->nice;
	if (ctx->no_wakeup && !tapio_use_perf)
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	else
		tapio_submit(ctx->prog_ctx, &spine_events, r);
	return 0;
}

static long emit_one(__u32 index, struct emit_ctx *ctx)
{
	return emit_record(index, ctx, true);
}

static __noinline long emit_one_nofetch(__u32 index, struct emit_ctx *ctx)
{
	return emit_record(index, ctx, false);
}

static __always_inline int on_setpriority(void *prog_ctx, int nice)
{
	__u32 zero = 0;
	struct spine_test_settings *s = bpf_map_lookup_elem(&spine_test_settings, &zero);
	if (!s || s->target_tgid != (bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct emit_ctx ctx = {.prog_ctx = prog_ctx, .nice = nice, .no_wakeup = s->no_wakeup};
	__u32 burst = s->burst ? s->burst : 1;
	if (burst > 1000000)
		burst = 1000000;
	bpf_loop(burst, emit_one, &ctx, 0);
	return 0;
}

static __always_inline void mark_fired(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&spine_fired, &which);
	if (n)
		*n += 1;
}

/* The emitting hook: bursts of any size with bpf_loop (5.17+); spine_emit_bounded below stands in before. */
SEC("tracepoint/syscalls/sys_enter_setpriority")
int spine_emit(struct trace_event_raw_sys_enter *ctx)
{
	return on_setpriority(ctx, (int)ctx->args[2]);
}

/* The same without bpf_loop (5.17), for older kernels: a bounded loop of at most SPINE_BOUNDED_BURST records. */
#define SPINE_BOUNDED_BURST 32

SEC("tracepoint/syscalls/sys_enter_setpriority")
int spine_emit_bounded(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0;
	struct spine_test_settings *s = bpf_map_lookup_elem(&spine_test_settings, &zero);
	if (!s || s->target_tgid != (bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct emit_ctx ectx = {.prog_ctx = ctx, .nice = (int)ctx->args[2], .no_wakeup = s->no_wakeup};
	__u32 burst = s->burst ? s->burst : 1;
	for (__u32 i = 0; i < SPINE_BOUNDED_BURST && i < burst; i++)
		emit_one_nofetch(i, &ectx);
	return 0;
}

/* The fallback hook, preferred first to last: fentry, kprobe, tracepoint. The syscall's kernel function carries the
 * architecture's prefix (arch/<arch>/include/asm/syscall_wrapper.h). */
#if defined(__TARGET_ARCH_arm64)
#define SYS_SETPRIORITY "__arm64_sys_setpriority"
#else
#define SYS_SETPRIORITY "__x64_sys_setpriority"
#endif

SEC("fentry/" SYS_SETPRIORITY)
int BPF_PROG(spine_fallback_fentry)
{
	mark_fired(1);
	return 0;
}

SEC("kprobe/" SYS_SETPRIORITY)
int BPF_KPROBE(spine_fallback_kprobe)
{
	mark_fired(2);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setpriority")
int spine_fallback_tracepoint(void *ctx)
{
	mark_fired(3);
	return 0;
}

/* Deliberately broken: reads the stack at an unbounded offset, which the verifier must reject. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int spine_broken(void *ctx)
{
	volatile char buf[16] = {};
	__u32 i = bpf_get_prandom_u32();
	return buf[i];
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
