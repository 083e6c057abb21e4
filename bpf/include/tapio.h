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
	TAPIO_KIND_TEST = 31,	  /* used by the spine's own tests and benchmarks */
	TAPIO_KIND_L7_DATA = 60,  /* payload bytes of a request-level connection (l7.h) */
	TAPIO_KIND_L7_CLOSE = 61, /* a request-level connection closed */
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

/* Reserve a record in `ring`, counting a drop when the ring is full. */
#define tapio_reserve(ring, type, kind)                                  \
	({                                                               \
		type *__r = bpf_ringbuf_reserve(ring, sizeof(type), 0);  \
		if (!__r)                                                \
			tapio_count_drop(kind, TAPIO_DROP_RINGBUF_FULL); \
		__r;                                                     \
	})

/* Submit without waking the reader for every record: a wakeup per record is the largest cost of a busy ring
 * (notes/kernel.md, notes/l7.md). Wake it for the first record in an empty ring, so an idle reader can sleep until
 * there is work and that record waits no longer than the reader's coalescing delay. Records after it ride along
 * with that wakeup. The reader watches the fill level itself while it lets records accumulate and drains early
 * at 1/8 full; past half full (a reader that is behind) every record wakes it, as a last resort. */
#define tapio_submit(ring, rec)                                                                                 \
	({                                                                                                      \
		__u64 __avail = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);                                     \
		bpf_ringbuf_submit(rec, __avail <= sizeof(*(rec)) + 8 ||                                        \
							__avail > bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 2 \
						? BPF_RB_FORCE_WAKEUP                                           \
						: BPF_RB_NO_WAKEUP);                                            \
	})

#endif
