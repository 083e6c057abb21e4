/* A captured connection whose record does not fit the ring (l7_events), for bpf/l7.bpf.c. Bytes userspace does not
 * get are a hole in its stream: an HTTP/1 request line, or an HTTP/2 HEADERS frame (and with it the HPACK state of
 * that direction for good), could sit in it, and the parser could neither report nor count what it never saw. So
 * the connection is let go at the first byte userspace will not get, like a connection l7_shed lets go:
 *  - flush() (l7_copy.h) sends nothing more of that syscall once a record did not fit; the record stays in the
 *    scratch, and the frame walker knows which streams the headers in it opened (l7_copy_state.lost_streams);
 *  - l7_ring_full() counts, in the kernel, the requests from that byte on: HTTP/1, the lost record if it began the
 *    syscall with a request line; HTTP/2, the streams opened in the lost record and, in the count-only walk of
 *    l7_h2count.h, in the rest of the syscall; from then on the connection is "not captured" and count_not_captured()
 *    counts its requests like those of a connection sampled out;
 *  - userspace learns it from a close record with reason L7_CLOSE_RING_FULL, sent as soon as the ring has room:
 *    right away if it does, else owed (l7_conn.close_owed) and tried again on the connection's next syscall and at
 *    its TCP close (a debt still unpaid there is counted, L7_CNT_CLOSES_LOST). Userspace counts the requests it had
 *    open as lost, reason ring_full. Nothing of the connection reaches userspace after the hole.
 * Include once, from l7.bpf.c, after l7_h2count.h. */
#ifndef TAPIO_L7_RINGFULL_H
#define TAPIO_L7_RINGFULL_H

#include "l7.h"
#include "network.h"
#include "l7_copy.h"
#include "l7_detect.h"
#include "l7_h2count.h"

/* A close record for userspace (also l7.bpf.c's, at TCP close and in l7_shed). */
static __always_inline void fill_close(struct l7_close_record *r, __u64 key, const struct l7_conn *c, __u8 reason)
{
	tapio_fill_header(&r->h, TAPIO_KIND_L7_CLOSE, sizeof(*r));
	r->sock = key;
	r->conn_start_ns = c->start_ns;
	r->sent = c->seq[L7_DIR_SEND];
	r->received = c->seq[L7_DIR_RECV];
	r->role = c->role;
	r->protocol = c->protocol;
	r->reason = reason;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
}

/* Sends the close record owed to userspace for a connection let go with the ring full, if it fits now. */
static __always_inline void l7_pay_close(struct l7_conn *conn, __u64 key)
{
	struct l7_close_record r;
	fill_close(&r, key, conn, L7_CLOSE_RING_FULL);
	r.protocol = conn->skipped_proto;
	if (bpf_ringbuf_output(&l7_events, &r, sizeof(r), l7_wake_flags()) == 0)
		conn->close_owed = 0;
}

/* At TCP close: the last chance to pay the debt (a session userspace never hears about ends with the agent). */
static __always_inline void l7_pay_close_at_end(struct l7_conn *conn, __u64 key)
{
	if (!conn->close_owed)
		return;
	l7_pay_close(conn, key);
	if (conn->close_owed)
		l7_count(L7_CNT_CLOSES_LOST, 1);
}

/* The connection is not captured from now on: its requests are counted (count_not_captured), userspace is told. */
static __always_inline void l7_let_go_ring_full(struct l7_conn *conn, __u64 key)
{
	conn->skipped_proto = conn->protocol;
	conn->protocol = L7_PROTO_NOT_ADMITTED;
	conn->close_owed = 1;
	if (conn->skipped_proto == L7_PROTO_HTTP2)
		h2_count_after_shed(conn);
	l7_count(L7_CNT_CONNS_RING_FULL, 1);
	l7_pay_close(conn, key);
}

/* HTTP/1: the record that did not fit began a syscall in the request direction with a request line (its bytes are
 * still in the scratch): one request userspace never saw. A request whose start userspace did get is its own to
 * count (lost, ring_full). */
static __always_inline void h1_count_lost_record(const struct l7_conn *conn, struct l7_scratch *s, __u8 dir)
{
	struct l7_copy_state *c = &s->st;
	if (!(c->lost_flags & L7_FLAG_SYSCALL_START) || c->lost_copied == 0)
		return;
	if ((conn->role == TCP_ROLE_CLIENT && dir != L7_DIR_SEND) ||
	    (conn->role == TCP_ROLE_SERVER && dir != L7_DIR_RECV))
		return;
	__u8 head[16];
	__builtin_memcpy(head, s->rec.data, sizeof(head));
	__u8 sender = TCP_ROLE_UNKNOWN;
	__u32 n = c->lost_copied < sizeof(head) ? c->lost_copied : sizeof(head);
	if (detect(head, n, &sender, false) == L7_PROTO_HTTP1 && sender == TCP_ROLE_CLIENT)
		l7_count(L7_CNT_H1_REQUESTS_NOT_CAPTURED, 1);
}

/* HTTP/2 with the frame walker on, in the request direction: the streams opened in the record that did not fit, and
 * the rest of the syscall walked in count-only mode from where the copy stopped (the walker's place is exact there).
 * If that walk cannot finish, the direction's layout is lost and the connection counts as uncounted. */
static __always_inline void h2_count_lost_rest(struct l7_conn *conn, struct l7_scratch *s, __u8 d, __u32 *cpu)
{
	struct l7_copy_state *c = &s->st;
	if (!c->walk || d != (h2_request_dir(conn) & 1) || !conn->h2_walk[d & 1])
		return;
	l7_count(L7_CNT_H2_REQUESTS_NOT_CAPTURED, c->lost_streams);
	if (c->total_left == 0)
		return;
	c->new_streams = 0;
	c->win_len = 0; /* the read-ahead window of count_step: nothing read yet */
	bpf_loop(2 * c->iov_count + L7_H2_COUNT_STEPS, count_step, cpu, 0);
	l7_count(L7_CNT_H2_REQUESTS_NOT_CAPTURED, c->new_streams);
	if (c->read_failed || c->total_left > 0)
		conn->h2_walk[d & 1] = 0;
	else
		walker_save(conn, c, d);
}

/* After the copy of one syscall of direction `dir` (this CPU's scratch), when one of its records did not fit. A global
 * function: the verifier checks it once, not once for every path that reaches the end of a copy. */
__attribute__((noinline)) int l7_ring_full(struct l7_conn *conn, __u8 dir)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct l7_scratch *s = bpf_map_lookup_elem(&l7_scratch_map, &cpu);
	if (!conn || !s)
		return 0;
	struct l7_copy_state *c = &s->st;
	if (!c->read_failed) /* what the copy did not reach */
		l7_count(L7_CNT_BYTES_RING_FULL, c->walk ? c->total_left : c->remaining);
	if (conn->protocol == L7_PROTO_HTTP1)
		h1_count_lost_record(conn, s, dir);
	else
		h2_count_lost_rest(conn, s, dir & 1, &cpu);
	l7_let_go_ring_full(conn, s->rec.sock);
	return 0;
}

#endif
