/* Counting the requests of HTTP/2 connections that are not captured (sampled out at detection, or let go by l7_shed),
 * for bpf/l7.bpf.c: the frame walker of l7_copy.h in a count-only mode, in the request direction only (a client's
 * sends, a server's receives). Only the 9-byte frame headers are read (a header split between syscalls is kept, as
 * walk_step keeps it); every payload is passed over by its length; nothing is copied and no record is sent. A request
 * is a HEADERS frame that opens a client stream: an odd stream id above the largest seen (h2_frame_header_done).
 *
 * The count needs the frame layout. It is known where the client's stream was seen from its preface (detection), or
 * where the capture walker kept it until the connection was let go: counting then goes on from the first byte capture
 * did not see, and the streams capture saw (l7_conn.h2_streams) are userspace's to report or count lost. Elsewhere a
 * connection's requests cannot be counted, and the connection is counted as such (L7_CNT_CONNS_H2_UNCOUNTED).
 * Include once, from l7.bpf.c, after l7_copy.h. */
#ifndef TAPIO_L7_H2COUNT_H
#define TAPIO_L7_H2COUNT_H

#include "l7.h"
#include "network.h"
#include "l7_syscalls.h"
#include "l7_copy.h"

#define L7_H2_COUNT_STEPS (1 << 16) /* count_step steps per syscall (about one per frame) */
#define L7_H2_COUNT_AHEAD 128 /* bytes read at once at a frame header: small frames then need no read of their own */

static __always_inline __u8 h2_request_dir(const struct l7_conn *conn)
{
	return conn->role == TCP_ROLE_CLIENT ? L7_DIR_SEND : L7_DIR_RECV;
}

/* Requests are counted in `dir` from here on, the client's stream starting with its preface. */
static __always_inline void h2_count_from_preface(struct l7_conn *conn, __u8 dir)
{
	__u8 d = dir & 1;
	conn->h2_walk[d] = 1;
	conn->h2_left[d] = L7_H2_PREFACE_BYTES;
	conn->h2_type[d] = L7_H2_PREFACE;
	conn->h2_have[d] = 0;
	conn->h2_streams[d] = 0;
}

/* An HTTP/2 connection sampled out at detection, on the syscall of `dir` that was detected (`sender` spoke it). The
 * client's stream is known from its start when that syscall begins with the client's preface, or when the server's
 * first frame was detected before the client sent anything. */
static __always_inline void h2_count_not_admitted(struct l7_conn *conn, __u8 dir, __u8 sender)
{
	__u8 req = h2_request_dir(conn);
	if (sender == TCP_ROLE_CLIENT && dir == req)
		h2_count_from_preface(conn, req);
	else if (sender == TCP_ROLE_SERVER && dir != req && conn->seq[req & 1] == 0)
		h2_count_from_preface(conn, req);
	else
		l7_count(L7_CNT_CONNS_H2_UNCOUNTED, 1);
}

/* A captured HTTP/2 connection let go (l7_shed): the request direction goes on counting where the capture walker
 * stands, if it knows the layout there; the response direction is not looked at any more. */
static __always_inline void h2_count_after_shed(struct l7_conn *conn)
{
	__u8 req = h2_request_dir(conn);
	conn->h2_walk[(req ^ 1) & 1] = 0;
	if (!conn->h2_walk[req & 1])
		l7_count(L7_CNT_CONNS_H2_UNCOUNTED, 1);
}

/* bpf_loop callback: one step of the count. Loads the next iovec, or reads (the rest of) a frame header and passes
 * over what of its payload is in the current segment, or passes over payload. `arg` is this CPU's scratch slot. */
static long count_step(__u32 i, void *arg)
{
	__u32 key = *(__u32 *)arg;
	struct l7_scratch *s = bpf_map_lookup_elem(&l7_scratch_map, &key);
	if (!s)
		return 1;
	struct l7_copy_state *c = &s->st;
	if (c->total_left == 0)
		return 1;
	if (c->seg_left == 0)
		return next_segment(c);
	__u64 n = c->seg_left < c->total_left ? c->seg_left : c->total_left;
	if (c->h2_left == 0) {
		__u32 have = c->h2_have & 15;
		if (have >= L7_H2_FRAME_HEADER)
			return 1;
		if (n > L7_H2_FRAME_HEADER - have)
			n = L7_H2_FRAME_HEADER - have;
		if (n > L7_H2_FRAME_HEADER)
			n = L7_H2_FRAME_HEADER;
		/* From the bytes read ahead, else read ahead from here (never past this segment or the syscall). */
		__u64 off = c->seg_base - c->win_base;
		if (c->seg_base < c->win_base || off + n > c->win_len) {
			__u64 ahead = c->seg_left < c->total_left ? c->seg_left : c->total_left;
			if (ahead > L7_H2_COUNT_AHEAD)
				ahead = L7_H2_COUNT_AHEAD;
			if (bpf_probe_read_user(s->rec.data, ahead, (void *)c->seg_base) != 0) {
				c->read_failed = 1;
				return 1;
			}
			c->win_base = c->seg_base;
			c->win_len = ahead;
			off = 0;
		}
		for (__u32 k = 0; k < L7_H2_FRAME_HEADER; k++) {
			if (k >= n)
				break;
			c->h2_hdr[(have + k) & 15] = s->rec.data[(off + k) & (L7_RECORD_DATA_MAX - 1)];
		}
		c->seg_base += n;
		c->seg_left -= n;
		c->total_left -= n;
		c->h2_have = have + n;
		if (c->h2_have < L7_H2_FRAME_HEADER)
			return c->total_left == 0 ? 1 : 0;
		h2_frame_header_done(c);
		/* the payload's bytes in this segment are passed over in the same step */
		n = c->seg_left < c->total_left ? c->seg_left : c->total_left;
	}
	if (n > c->h2_left)
		n = c->h2_left;
	c->seg_base += n;
	c->seg_left -= n;
	c->total_left -= n;
	c->h2_left -= n;
	return c->total_left == 0 ? 1 : 0;
}

/* Walks one syscall of the request direction (`sb`: its buffer) in count-only mode and counts the streams opened. */
static __always_inline void h2_count_syscall(struct l7_conn *conn, __u8 d, __u32 len, const struct syscall_buf *sb)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct l7_scratch *s = bpf_map_lookup_elem(&l7_scratch_map, &cpu);
	if (!s || sb->sys == L7_SYS_OTHER) { /* no buffer to read frame headers from */
		conn->h2_walk[d] = 0;
		l7_count(L7_CNT_CONNS_H2_UNCOUNTED, 1);
		return;
	}
	struct l7_copy_state *c = &s->st;
	__builtin_memset(c, 0, sizeof(*c));
	walker_load(c, conn, d);
	c->total_left = len;
	copy_source(c, sb, len);
	bpf_loop(2 * c->iov_count + L7_H2_COUNT_STEPS, count_step, &cpu, 0);
	if (c->new_streams)
		l7_count(L7_CNT_H2_REQUESTS_NOT_CAPTURED, c->new_streams);
	if (c->read_failed || c->total_left > 0) { /* the layout is lost: no more counting on this connection */
		conn->h2_walk[d] = 0;
		l7_count(L7_CNT_CONNS_H2_UNCOUNTED, 1);
		return;
	}
	walker_save(conn, c, d);
}

/* `len` bytes went in `dir` on an HTTP/2 connection not captured: the streams they open are counted. */
static __always_inline void count_h2_requests(struct l7_conn *conn, __u8 dir, __u32 len, struct pt_regs *regs,
					      bool typed)
{
	__u8 d = dir & 1;
	if (!conn->h2_walk[d])
		return;		       /* the response direction, or the layout is not known */
	if (len <= conn->h2_left[d]) { /* all inside one frame's payload: nothing to read */
		conn->h2_left[d] -= len;
		return;
	}
	struct syscall_buf sb;
	syscall_buffer(syscall_regs(regs, typed), dir, &sb, typed);
	h2_count_syscall(conn, d, len, &sb);
}

/* An HTTP/1 connection not captured whose client sent the HTTP/2 preface (after `Upgrade: h2c`, its request counted
 * as HTTP/1): its streams are counted from here, this syscall (`sb`, in the request direction) included. The
 * upgraded request is stream 1, which the client never opens with HEADERS. */
static __always_inline void h2_count_upgraded(struct l7_conn *conn, __u8 dir, __u32 len, const struct syscall_buf *sb)
{
	conn->skipped_proto = L7_PROTO_HTTP2;
	h2_count_from_preface(conn, dir);
	h2_count_syscall(conn, dir & 1, len, sb);
}

#endif
