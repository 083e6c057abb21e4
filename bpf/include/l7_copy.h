/* Copying one syscall's bytes into records for bpf/l7.bpf.c: the ring and the byte counters, the per-CPU scratch
 * record, and the bpf_loop step that fills and sends it. Include once, from l7.bpf.c only (it defines maps). */
#ifndef TAPIO_L7_COPY_H
#define TAPIO_L7_COPY_H

#include "l7.h"

#define UIO_MAXIOV 1024

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized from config before load */
} l7_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, L7_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} l7_counters SEC(".maps");

/* The copy of one syscall in progress. Kept in the map value, not on the stack: the verifier then sees every
 * bpf_loop iteration start from unknown values and checks the callback once, instead of following each value
 * of the fill level through every iteration (on 6.18 that ran past the 1M-instruction limit). */
struct l7_copy_state {
	__u64 seg_base;	 /* user address of the next byte of the current segment */
	__u64 seg_left;	 /* bytes left in the current segment */
	__u64 iov;	 /* user struct iovec array (vector syscalls) */
	__u32 iov_next;	 /* next iovec to load */
	__u32 iov_count; /* iovecs in the array (bounded by UIO_MAXIOV) */
	__u32 remaining; /* bytes still to copy within the per-syscall bound */
	__u32 fill;	 /* bytes in the scratch record */
	__u8 read_failed;
	__u8 ring_full;
	__u8 pad[6];
};

/* A record being built. Twice the record's data size so that "offset < MAX, length <= MAX" is provably in bounds.
 * Larger than a per-CPU value may be, so it is an array indexed by CPU (entries = possible CPUs, set before load). */
struct l7_scratch {
	struct l7_copy_state st;
	struct l7_data_record rec;
	__u8 slack[L7_RECORD_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct l7_scratch);
} l7_scratch_map SEC(".maps");

#define L7_RECORD_HEADER_BYTES __builtin_offsetof(struct l7_data_record, data)

static __always_inline void l7_count(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&l7_counters, &slot);
	if (v)
		*v += n;
}

/* The same wakeup policy as tapio_submit (tapio.h), for bpf_ringbuf_output. */
static __always_inline __u64 l7_wake_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&l7_events, BPF_RB_AVAIL_DATA);
	return avail == 0 || avail > bpf_ringbuf_query(&l7_events, BPF_RB_RING_SIZE) / 2 ? BPF_RB_FORCE_WAKEUP
											 : BPF_RB_NO_WAKEUP;
}

/* Sends the scratch record with `fill` bytes; the next record continues where it ended. */
static __always_inline void flush(struct l7_scratch *s, __u8 last)
{
	struct l7_data_record *r = &s->rec;
	struct l7_copy_state *c = &s->st;
	__u32 n = c->fill;
	if (n > L7_RECORD_DATA_MAX)
		n = L7_RECORD_DATA_MAX;
	r->copied = n;
	r->h.size = L7_RECORD_HEADER_BYTES + n;
	if (last)
		r->flags |= L7_FLAG_SYSCALL_END;
	if (c->read_failed)
		r->flags |= L7_FLAG_READ_FAILED;
	if (bpf_ringbuf_output(&l7_events, r, L7_RECORD_HEADER_BYTES + n, l7_wake_flags()) != 0) {
		tapio_count_drop(TAPIO_KIND_L7_DATA, TAPIO_DROP_RINGBUF_FULL);
		l7_count(L7_CNT_BYTES_RING_FULL, n);
		c->ring_full = 1;
	} else {
		l7_count(L7_CNT_RECORDS, 1);
		l7_count(L7_CNT_BYTES_COPIED, n);
	}
	r->seq += n;
	r->flags &= ~L7_FLAG_SYSCALL_START;
	c->fill = 0;
}

/* bpf_loop callback: one step of the copy. Either loads the next iovec, or copies one piece (what fits in the
 * current record from the current segment) and sends the record when it is full. `arg` is this CPU's slot. */
static long copy_step(__u32 i, void *arg)
{
	__u32 key = *(__u32 *)arg;
	struct l7_scratch *s = bpf_map_lookup_elem(&l7_scratch_map, &key);
	if (!s)
		return 1;
	struct l7_copy_state *c = &s->st;
	if (c->remaining == 0)
		return 1;
	if (c->seg_left == 0) {
		if (c->iov_next >= c->iov_count || c->iov_next >= UIO_MAXIOV)
			return 1;
		struct iovec iv;
		if (bpf_probe_read_user(&iv, sizeof(iv), (void *)(c->iov + (__u64)c->iov_next * sizeof(iv))) != 0) {
			c->read_failed = 1;
			return 1;
		}
		c->iov_next++;
		c->seg_base = (__u64)iv.iov_base;
		c->seg_left = iv.iov_len;
		return 0;
	}
	__u32 fill = c->fill & (L7_RECORD_DATA_MAX - 1);
	__u64 n = L7_RECORD_DATA_MAX - fill;
	if (n > c->seg_left)
		n = c->seg_left;
	if (n > c->remaining)
		n = c->remaining;
	if (n > L7_RECORD_DATA_MAX)
		n = L7_RECORD_DATA_MAX;
	if (bpf_probe_read_user(&s->rec.data[fill], n, (void *)c->seg_base) != 0) {
		c->read_failed = 1;
		return 1;
	}
	c->fill = fill + n;
	c->seg_base += n;
	c->seg_left -= n;
	c->remaining -= n;
	if (c->fill >= L7_RECORD_DATA_MAX)
		flush(s, 0);
	return c->remaining == 0 ? 1 : 0;
}

#endif
