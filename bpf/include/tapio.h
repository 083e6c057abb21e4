/* Shared by every Tapio BPF program: the common record header, event kinds, drop reasons, and the drop-counting
 * primitive. Record layouts live in bpf/include and only here; everything userspace shares is declared in
 * bpf/testing/layouts.bpf.c and generated into src/kernel/layouts.generated.ts (`npm run gen:layouts`). Each program
 * file defines its own LICENSE (a global in a header would clash when objects are linked). */
#ifndef TAPIO_H
#define TAPIO_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* Event kinds: one number per record type, across all collectors. */
enum tapio_kind {
	TAPIO_KIND_NONE = 0,
	TAPIO_KIND_PROC_EXEC = 1,
	TAPIO_KIND_PROC_EXIT = 2,
	TAPIO_KIND_PROC_FORK = 3,
	TAPIO_KIND_TCP_CONNECT = 8,
	TAPIO_KIND_TCP_ACCEPT = 9,
	TAPIO_KIND_TCP_CLOSE = 10,
	TAPIO_KIND_TCP_CONNECT_FAILED = 11,
	TAPIO_KIND_TCP_RETRANSMIT = 12,
	TAPIO_KIND_TCP_RESET = 13,
	TAPIO_KIND_CGROUP_MKDIR = 16,
	TAPIO_KIND_CGROUP_RMDIR = 17,
	TAPIO_KIND_TEST = 31, /* used by the spine's own tests and benchmarks */
	/* security collector (bpf/security.bpf.c): one kind per family of detections */
	TAPIO_KIND_SEC_NAMESPACE = 20,
	TAPIO_KIND_SEC_HOST = 21,
	TAPIO_KIND_SEC_PRIVILEGE = 22,
	TAPIO_KIND_SEC_FILE = 23,
	TAPIO_KIND_SEC_EXEC = 24,
	/* 40..: seccomp and policy-drop signals (bpf/security_signals.bpf.c) */
	TAPIO_KIND_SECCOMP_SIGNAL = 40,
	TAPIO_KIND_SECCOMP_ERRNO = 41,
	TAPIO_KIND_NETFILTER_DROP = 42,
	/* 60..: request-level capture (bpf/l7.bpf.c) */
	TAPIO_KIND_L7_DATA = 60,  /* payload bytes of a request-level connection (l7.h) */
	TAPIO_KIND_L7_CLOSE = 61, /* a request-level connection closed */
	/* 62..: TLS plaintext from OpenSSL uprobes (bpf/tls.bpf.c) */
	TAPIO_KIND_TLS_DATA = 62,  /* plaintext of one SSL_read/SSL_write call (tls.h) */
	TAPIO_KIND_TLS_CLOSE = 63, /* an SSL object's socket closed, or SSL_free */
	TAPIO_KIND_MAX = 64,
};

/* Why a program could not emit a record. src/kernel/drops.ts names them from the generated layouts. */
enum tapio_drop_reason {
	TAPIO_DROP_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve failed: the consumer is behind */
	TAPIO_DROP_SAMPLED = 1,	     /* sampled out on purpose (counted so totals still add up) */
	TAPIO_DROP_RATE_LIMITED = 2, /* per-cgroup token bucket empty */
	TAPIO_DROP_MAP_FULL = 3,     /* a state map had no room (update failed) */
	TAPIO_DROP_READ_FAILED = 4,  /* a kernel/user memory read failed; the record was not sent */
	TAPIO_DROP_EVICTED = 5,	     /* LRU state evicted before its record could be completed */
	TAPIO_DROP_REASON_MAX = 8,
};

/* Drop counters: one per-CPU slot per (kind, reason); userspace sums across CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPIO_KIND_MAX *TAPIO_DROP_REASON_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tapio_drops SEC(".maps");

static __always_inline void tapio_count_drop(__u32 kind, __u32 reason)
{
	__u32 key = kind * TAPIO_DROP_REASON_MAX + reason;
	__u64 *slot = bpf_map_lookup_elem(&tapio_drops, &key);
	if (slot)
		*slot += 1;
}

/* Every record starts with this header. */
struct tapio_header {
	__u32 kind;	 /* enum tapio_kind */
	__u32 size;	 /* bytes in the record, header included */
	__u64 ts_ns;	 /* bpf_ktime_get_boot_ns(): boot-time clock, converted to wall clock in userspace */
	__u64 cgroup_id; /* bpf_get_current_cgroup_id() (cgroup v2 inode) */
	__u32 pid;	 /* tgid */
	__u32 tid;
};

static __always_inline void tapio_fill_header(struct tapio_header *h, __u32 kind, __u32 size)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	h->kind = kind;
	h->size = size;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
}

/* How records leave the kernel. Ring buffers need 5.8; before that (and on some vendor kernels) the loader turns
 * every ring buffer map into a perf event array (one perf buffer per CPU) and sets this to 1 before load
 * (src/kernel/transport.ts). A .rodata constant: the verifier knows its value and checks only the path taken, so
 * each kernel sees only the helpers of its own transport. */
const volatile __u32 tapio_use_perf = 0;

/* The perf transport has no reserve: a record is built in a per-CPU scratch slot, then copied out. A program
 * interrupted on its CPU (by an IRQ-time program of the same object) must not have its record overwritten, so each
 * nesting level gets its own slot. Nesting is strictly LIFO where BPF runs with preemption off (all kernels without
 * ring buffers), which is what makes the plain depth counter below safe. */
#define TAPIO_SCRATCH_BYTES 8192
#define TAPIO_SCRATCH_NEST  4

struct tapio_scratch_slot {
	__u8 bytes[TAPIO_SCRATCH_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TAPIO_SCRATCH_NEST); /* shrunk to 1 by the loader on the ring buffer path */
	__type(key, __u32);
	__type(value, struct tapio_scratch_slot);
} tapio_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tapio_scratch_depth SEC(".maps");

static __always_inline void *tapio_perf_reserve(__u32 kind)
{
	__u32 zero = 0;
	__u32 *depth = bpf_map_lookup_elem(&tapio_scratch_depth, &zero);
	if (!depth)
		return NULL;
	__u32 d = *depth;
	void *slot = d < TAPIO_SCRATCH_NEST ? bpf_map_lookup_elem(&tapio_scratch, &d) : NULL;
	if (!slot) {
		tapio_count_drop(kind, TAPIO_DROP_RINGBUF_FULL);
		return NULL;
	}
	*depth = d + 1;
	return slot;
}

static __always_inline void tapio_perf_submit(void *ctx, void *map, void *rec, __u32 size, __u32 kind)
{
	/* Fails when this CPU's perf buffer is full (perf also counts it as a lost sample) or nobody reads it. */
	if (bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, rec, size) != 0)
		tapio_count_drop(kind, TAPIO_DROP_RINGBUF_FULL);
	__u32 zero = 0;
	__u32 *depth = bpf_map_lookup_elem(&tapio_scratch_depth, &zero);
	if (depth && *depth > 0)
		*depth -= 1;
}

/* Reserve a record in `ring`, counting a drop when the ring is full. Every reserved record must be submitted. */
#define tapio_reserve(ring, type, kind)                                                                            \
	({                                                                                                         \
		_Static_assert(sizeof(type) <= TAPIO_SCRATCH_BYTES, "record too large for the perf scratch slot"); \
		type *__r;                                                                                         \
		if (tapio_use_perf) {                                                                              \
			__r = tapio_perf_reserve(kind);                                                            \
		} else {                                                                                           \
			__r = bpf_ringbuf_reserve(ring, sizeof(type), 0);                                          \
			if (!__r)                                                                                  \
				tapio_count_drop(kind, TAPIO_DROP_RINGBUF_FULL);                                   \
		}                                                                                                  \
		__r;                                                                                               \
	})

/* Submit without waking the reader for every record: a wakeup per record is the largest cost of a busy ring
 * (notes/kernel.md, notes/l7.md). Wake it for the first record in an empty ring, so an idle reader can sleep until
 * there is work and that record waits no longer than the reader's coalescing delay. Records after it ride along
 * with that wakeup. The reader watches the fill level itself while it lets records accumulate and drains early
 * at 1/8 full; past half full (a reader that is behind) every record wakes it, as a last resort. */
/* `ctx` is the program's context (bpf_perf_event_output needs it); `rec` starts with a struct tapio_header `h`.
 * On the perf transport the wakeups are the perf buffer's own (the reader sets a watermark). */
#define tapio_submit(ctx, ring, rec)                                                                               \
	({                                                                                                         \
		if (tapio_use_perf) {                                                                              \
			tapio_perf_submit(ctx, ring, rec, sizeof(*(rec)), (rec)->h.kind);                          \
		} else {                                                                                           \
			__u64 __avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);                                \
			bpf_ringbuf_submit(rec,                                                                    \
					   __avail <= sizeof(*(rec)) + 8 ||                                        \
							   __avail > bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 2 \
						   ? BPF_RB_FORCE_WAKEUP                                           \
						   : BPF_RB_NO_WAKEUP);                                            \
		}                                                                                                  \
	})

#endif
