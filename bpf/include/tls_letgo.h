/* TLS streams that are not captured, for bpf/tls.bpf.c: sampled out when first seen, let go when sampling rose
 * (tls_shed), or let go because one of their records did not fit the ring (tls_ring_full). A request is either
 * reported whole or counted, so:
 *  - a record that does not fit ends the stream's capture at its first byte: nothing more of the call is sent (the
 *    parser would find a hole where a request line could sit), the stream is skipped from then on, and userspace is
 *    told by a close record with reason TLS_CLOSE_RING_FULL, sent as soon as the ring has room: right away if it
 *    does, else owed (tls_ssl_state.close_owed) and tried again on the stream's next call and at its end (a debt
 *    still unpaid there is counted, TLS_CNT_CLOSES_LOST). Userspace counts the requests it had open lost, ring_full;
 *  - the requests of a stream not captured are counted where that can be done from the first bytes of a call: on
 *    HTTP/1, a call whose plaintext starts with a request line is one request (a client's SSL_write, a server's
 *    SSL_read: each end once), the record that did not fit included when it began its call. What a stream speaks
 *    (tls_ssl_state.proto) is learnt from its first plaintext. HTTP/2 streams are counted as streams whose requests
 *    are not counted (TLS_CNT_STREAMS_H2_UNCOUNTED): the frames inside TLS are not walked.
 * Include once, from tls.bpf.c, after tls_state.h. */
#ifndef TAPIO_TLS_LETGO_H
#define TAPIO_TLS_LETGO_H

#include "tls_state.h"
#include "l7_detect.h"

#define TLS_HEAD_BYTES 16

static __always_inline void fill_close(struct tls_close_record *r, const struct tls_ssl_key *key,
				       const struct tls_ssl_state *st, __u8 reason)
{
	tapio_fill_header(&r->h, TAPIO_KIND_TLS_CLOSE, sizeof(*r));
	r->h.pid = key->tgid;
	r->ssl = key->ssl;
	r->sock = st->sk;
	r->start_ns = st->start_ns;
	r->sent = st->seq[0];
	r->received = st->seq[1];
	r->reason = reason;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
}

static __always_inline __u64 wake_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&tls_events, BPF_RB_AVAIL_DATA);
	return avail == 0 || avail > bpf_ringbuf_query(&tls_events, BPF_RB_RING_SIZE) / 2 ? BPF_RB_FORCE_WAKEUP
											  : BPF_RB_NO_WAKEUP;
}

/* What the first plaintext bytes of a call say: its protocol, and whether they are a request line (*request). */
static __always_inline __u8 tls_detect(const __u8 *head, __u32 n, bool stream_start, bool *request)
{
	__u8 sender = TCP_ROLE_UNKNOWN;
	__u8 p = detect(head, n, &sender, stream_start);
	*request = p == L7_PROTO_HTTP1 && sender == TCP_ROLE_CLIENT;
	return p;
}

/* The stream's protocol, learnt once from its first plaintext (anything else: L7_PROTO_UNSUPPORTED). */
static __always_inline void tls_learn_proto(struct tls_ssl_state *st, __u8 p)
{
	if (st->proto != L7_PROTO_UNKNOWN)
		return;
	st->proto = p == L7_PROTO_UNKNOWN ? L7_PROTO_UNSUPPORTED : p;
	if (p == L7_PROTO_HTTP2 && st->skipped)
		tls_count(TLS_CNT_STREAMS_H2_UNCOUNTED, 1);
}

/* A stream that was captured is not any more (tls_shed, tls_ring_full): an HTTP/2 one's requests go uncounted. */
static __always_inline void tls_stop_capture(struct tls_ssl_state *st)
{
	st->skipped = 1;
	if (st->proto == L7_PROTO_HTTP2)
		tls_count(TLS_CNT_STREAMS_H2_UNCOUNTED, 1);
}

/* Sends the close record owed to userspace for a stream let go with the ring full, if it fits now. */
static __always_inline void tls_pay_close(struct tls_ssl_state *st, const struct tls_ssl_key *key)
{
	struct tls_close_record r;
	fill_close(&r, key, st, TLS_CLOSE_RING_FULL);
	if (bpf_ringbuf_output(&tls_events, &r, sizeof(r), wake_flags()) == 0)
		st->close_owed = 0;
}

/* The stream ends (SSL_free, socket closed): the last chance to pay the debt. */
static __always_inline void tls_pay_close_at_end(struct tls_ssl_state *st, const struct tls_ssl_key *key)
{
	if (!st->close_owed)
		return;
	tls_pay_close(st, key);
	if (st->close_owed)
		tls_count(TLS_CNT_CLOSES_LOST, 1);
}

/* A record of a call did not fit the ring (`r`: the record, still holding its bytes): the stream is let go. */
static __always_inline void tls_ring_full(struct tls_ssl_state *st, const struct tls_ssl_key *key,
					  const struct tls_data_record *r)
{
	if ((r->flags & TLS_FLAG_CALL_START) && r->copied > 0 && st->proto == L7_PROTO_HTTP1) {
		__u8 head[TLS_HEAD_BYTES];
		bool request = false;
		__builtin_memcpy(head, r->data, sizeof(head));
		tls_detect(head, r->copied < sizeof(head) ? r->copied : sizeof(head), false, &request);
		if (request)
			tls_count(TLS_CNT_H1_REQUESTS_NOT_CAPTURED, 1);
	}
	tls_stop_capture(st);
	st->close_owed = 1;
	tls_count(TLS_CNT_STREAMS_RING_FULL, 1);
	tls_pay_close(st, key);
}

/* A call of `len` bytes on a stream not captured: the close record it may owe, and the request it may carry. */
static __always_inline void tls_not_captured(struct tls_ssl_state *st, const struct tls_ssl_key *key,
					     const struct tls_call *c, __u64 len)
{
	if (st->close_owed)
		tls_pay_close(st, key);
	if (len == 0 || st->proto > L7_PROTO_HTTP1)
		return; /* nothing returned, or a stream whose requests are not counted this way */
	__u8 head[TLS_HEAD_BYTES] = {};
	__u32 n = len < TLS_HEAD_BYTES ? len : TLS_HEAD_BYTES;
	if (bpf_probe_read_user(head, n, (void *)c->buf) != 0)
		return;
	bool request = false;
	tls_learn_proto(st, tls_detect(head, n, st->seq[0] == 0 && st->seq[1] == 0, &request));
	if (request && st->proto == L7_PROTO_HTTP1)
		tls_count(TLS_CNT_H1_REQUESTS_NOT_CAPTURED, 1);
}

#endif
