/* Copying one syscall's bytes into records for bpf/l7.bpf.c: the ring and the byte counters, the per-CPU scratch
 * record, and the bpf_loop step that fills and sends it. Include once, from l7.bpf.c only (it defines maps). */
#ifndef TAPIO_L7_COPY_H
#define TAPIO_L7_COPY_H

#include "l7.h"
#include "l7_syscalls.h"

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
	__u8 ring_full; /* a record did not fit the ring: nothing more is copied or sent (l7_ringfull.h) */
	/* HTTP/2 frame walker (walk_step), loaded from and saved back to the connection's h2_* state */
	__u8 walk;	/* this syscall is walked */
	__u8 walk_lost; /* the layout is lost (a frame we must copy did not fit): no walking from here on */
	__u8 h2_have;
	__u8 h2_type;
	__u8 lost_flags; /* the record that did not fit: its flags (L7_FLAG_SYSCALL_START: it began the syscall) */
	__u8 pad;
	__u32 h2_left;
	__u32 extra;	    /* bytes the walker may still copy past the bound (headers, frames other than DATA) */
	__u32 total_left;   /* bytes of the syscall not passed yet */
	__u32 skipped;	    /* DATA payload bytes passed over */
	__u32 h2_streams;   /* the largest odd stream id a HEADERS frame carried (l7_conn.h2_streams) */
	__u32 new_streams;  /* HEADERS frames that carried a larger one in this syscall */
	__u32 rec_streams;  /* ... whose frame header ended in the record being filled (not sent yet) */
	__u32 lost_streams; /* ... in the record that did not fit the ring */
	__u32 lost_copied;  /* bytes of data[] in the record that did not fit (still in the scratch record) */
	__u32 win_len; /* count-only walk (l7_h2count.h): bytes read ahead into rec.data, from user address win_base */
	__u64 win_base;
	__u8 h2_hdr[16];
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

/* Sends the scratch record with `fill` bytes; the next record continues where it ended. After a record of this
 * syscall did not fit, nothing more is sent: userspace must never see bytes past the first one it lost (the
 * connection is let go from there, l7_ringfull.h), and the record that did not fit stays in the scratch. */
static __always_inline void flush(struct l7_scratch *s, __u8 last)
{
	struct l7_data_record *r = &s->rec;
	struct l7_copy_state *c = &s->st;
	if (c->ring_full)
		return;
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
		c->lost_flags = r->flags;
		c->lost_copied = n;
		c->lost_streams = c->rec_streams;
	} else {
		l7_count(L7_CNT_RECORDS, 1);
		l7_count(L7_CNT_BYTES_COPIED, n);
	}
	c->rec_streams = 0;
	r->seq += n;
	r->flags &= ~L7_FLAG_SYSCALL_START;
	c->fill = 0;
}

/* Loads the next iovec of a vector syscall as the current segment: 0 when it did, 1 when there is none (or it could
 * not be read: read_failed). */
static __always_inline long next_segment(struct l7_copy_state *c)
{
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

/* Where the syscall's bytes come from: one buffer, or an iovec array that next_segment loads one by one. */
static __always_inline void copy_source(struct l7_copy_state *c, const struct syscall_buf *sb, __u32 len)
{
	if (sb->vector) {
		c->iov = sb->buf;
		c->iov_count = sb->count < UIO_MAXIOV ? sb->count : UIO_MAXIOV;
	} else {
		c->seg_base = sb->buf;
		c->seg_left = len;
	}
}

/* The frame walker's place in direction `d` of a connection, loaded for one syscall and saved after it. */
static __always_inline void walker_load(struct l7_copy_state *c, const struct l7_conn *conn, __u8 d)
{
	c->h2_left = conn->h2_left[d & 1];
	c->h2_have = conn->h2_have[d & 1];
	c->h2_type = conn->h2_type[d & 1];
	c->h2_streams = conn->h2_streams[d & 1];
	__builtin_memcpy(c->h2_hdr, conn->h2_hdr[d & 1], sizeof(c->h2_hdr));
}

static __always_inline void walker_save(struct l7_conn *conn, const struct l7_copy_state *c, __u8 d)
{
	conn->h2_left[d & 1] = c->h2_left;
	conn->h2_have[d & 1] = c->h2_have;
	conn->h2_type[d & 1] = c->h2_type;
	conn->h2_streams[d & 1] = c->h2_streams;
	__builtin_memcpy(conn->h2_hdr[d & 1], c->h2_hdr, sizeof(c->h2_hdr));
}

/* A frame header is whole (c->h2_hdr): the payload to pass is its length. A HEADERS frame on an odd stream id
 * larger than any before opens a client stream (a request, in the request direction); trailers and responses carry
 * an id already seen. */
static __always_inline void h2_frame_header_done(struct l7_copy_state *c)
{
	c->h2_left = ((__u32)c->h2_hdr[0] << 16) | ((__u32)c->h2_hdr[1] << 8) | c->h2_hdr[2];
	c->h2_type = c->h2_hdr[3];
	c->h2_have = 0;
	if (c->h2_type != L7_H2_TYPE_HEADERS)
		return;
	__u32 id = ((__u32)(c->h2_hdr[5] & 0x7f) << 24) | ((__u32)c->h2_hdr[6] << 16) | ((__u32)c->h2_hdr[7] << 8) |
		   c->h2_hdr[8];
	if ((id & 1) && id > c->h2_streams) {
		c->h2_streams = id;
		c->new_streams++;
		c->rec_streams++;
	}
}

/* One step of an HTTP/2 syscall with the frame walker on: pieces never cross a frame boundary. Within the bound
 * (`remaining`) everything is copied as in copy_step; past it, frame headers and frames other than DATA are still
 * copied (out of `extra`), DATA payload is passed over (the record ends; the next one starts after the skip, and
 * userspace sees a gap inside one DATA frame, which its parser follows exactly). */
static __always_inline long walk_step(struct l7_scratch *s, struct l7_copy_state *c)
{
	if (c->total_left == 0)
		return 1;
	if (c->seg_left == 0)
		return next_segment(c);
	bool at_header = c->h2_left == 0;
	__u64 n = c->seg_left < c->total_left ? c->seg_left : c->total_left;
	__u32 have = c->h2_have & 15;
	if (at_header) {
		if (have >= L7_H2_FRAME_HEADER)
			return 1;
		if (n > L7_H2_FRAME_HEADER - have)
			n = L7_H2_FRAME_HEADER - have;
	} else if (n > c->h2_left) {
		n = c->h2_left;
	}
	bool data = !at_header && c->h2_type == L7_H2_TYPE_DATA;
	if (c->remaining == 0 && data) { /* past the bound: pass over DATA payload */
		if (c->fill > 0)
			flush(s, 0);
		s->rec.seq += n;
		s->rec.flags &= ~L7_FLAG_SYSCALL_START;
		c->skipped += n;
	} else {
		__u32 budget = c->remaining > 0 ? c->remaining : c->extra;
		if (budget == 0) { /* a frame we must copy does not fit: the layout is lost here */
			c->walk_lost = 1;
			return 1;
		}
		__u32 fill = c->fill & (L7_RECORD_DATA_MAX - 1);
		if (n > L7_RECORD_DATA_MAX - fill)
			n = L7_RECORD_DATA_MAX - fill;
		if (n > budget)
			n = budget;
		if (n > L7_RECORD_DATA_MAX)
			n = L7_RECORD_DATA_MAX;
		if (bpf_probe_read_user(&s->rec.data[fill], n, (void *)c->seg_base) != 0) {
			c->read_failed = 1;
			return 1;
		}
		if (at_header) { /* keep the header's bytes: it may end in the next syscall */
			for (__u32 k = 0; k < L7_H2_FRAME_HEADER; k++) {
				if (k >= n)
					break;
				c->h2_hdr[(have + k) & 15] = s->rec.data[(fill + k) & (2 * L7_RECORD_DATA_MAX - 1)];
			}
		}
		c->fill = fill + n;
		if (c->remaining > 0)
			c->remaining -= n;
		else
			c->extra -= n;
	}
	c->seg_base += n;
	c->seg_left -= n;
	c->total_left -= n;
	if (at_header) {
		c->h2_have = have + n;
		if (c->h2_have >= L7_H2_FRAME_HEADER)
			h2_frame_header_done(c);
	} else {
		c->h2_left -= n;
	}
	/* Sent after the header is taken in: a stream opened by a header in this record is the record's (rec_streams) */
	if (c->fill >= L7_RECORD_DATA_MAX)
		flush(s, 0);
	return c->total_left == 0 || c->ring_full ? 1 : 0;
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
	if (c->ring_full) /* a record did not fit: the connection is let go (l7_ringfull.h), nothing more is copied */
		return 1;
	if (c->walk)
		return walk_step(s, c);
	if (c->remaining == 0)
		return 1;
	if (c->seg_left == 0)
		return next_segment(c);
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
	return c->remaining == 0 || c->ring_full ? 1 : 0;
}

#endif
