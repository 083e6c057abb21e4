/* TLS plaintext capture, kernel side: uprobes on OpenSSL's SSL_write, SSL_read, SSL_write_ex and SSL_read_ex (the
 * same signatures in OpenSSL 1.1 and 3), attached per file by userspace (src/collectors/tls) to every libssl and
 * every binary that exports them (node). The entry saves the call's arguments per thread; the return copies the
 * plaintext (bounded, split into records of TLS_RECORD_DATA_MAX) into tls_events, in stream order per SSL object and
 * direction. Records: bpf/include/tls.h.
 *
 * Which connection: an SSL object has no socket we could read portably, so it is learnt from socket I/O on the same
 * thread, by request capture's socket programs (bpf/l7.bpf.c, bpf/include/tls_sockets.h, which holds the shared
 * maps); once learnt, kept per (tgid, SSL*) -> TLS_MAP_CACHED, until the socket closes (inet_sock_set_state) or
 * SSL_free.
 * Calls whose socket is not known are still reported, with the process, as TLS_MAP_NONE, and counted. */
#include "tls_state.h"
#include "tls_letgo.h"
#include "limits.h"
#include "sock_tuple.h"
#include <bpf/bpf_endian.h>

/* ---- SSL call entry: save the arguments ---- */

static __always_inline void enter(void *ctx, __u64 ssl, __u64 buf, __u64 len_ptr, __u8 func)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct tls_settings *cfg = bpf_map_lookup_elem(&tls_settings_map, &zero);
	if (!cfg)
		return;
	tls_count(TLS_CNT_PROBE_HITS, 1);
	if (cfg->self_tgid == id >> 32)
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	struct tls_thread *t = bpf_task_storage_get(&tls_threads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		tls_count(TLS_CNT_STATE_FULL, 1);
		return;
	}
	if (t->epoch != (__u8)cfg->epoch) {
		/* The probes were detached meanwhile: a call entered then never returned through our probe. */
		t->epoch = (__u8)cfg->epoch;
		t->in_call = 0;
		t->active.depth = 0;
		t->pending = 0;
	}
	__u64 sp = PT_REGS_SP((struct pt_regs *)ctx);
	if (t->in_call && sp >= t->active.sp) {
		/* Not inside the call in flight (a nested call's stack is deeper): that one returned unseen. */
		t->in_call = 0;
		t->active.depth = 0;
		tls_count(TLS_CNT_CALLS_UNRETURNED, 1);
	}
	if (t->in_call) {
		t->active.depth++;
		tls_count(TLS_CNT_NESTED, 1);
		return;
	}
	/* The cookie names the file this probe was attached to: the library is known per call, not guessed. */
	struct tls_active n = {.call = {.ssl = ssl,
					.buf = buf,
					.len_ptr = len_ptr,
					.func = func,
					.lib = (__u32)bpf_get_attach_cookie(ctx)},
			       .sp = sp};
	t->active = n;
	t->in_call = 1;
}

SEC("uprobe")
int BPF_KPROBE(tls_write_enter, void *ssl, const void *buf, int num)
{
	enter(ctx, (__u64)ssl, (__u64)buf, 0, TLS_FN_WRITE);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_read_enter, void *ssl, void *buf, int num)
{
	enter(ctx, (__u64)ssl, (__u64)buf, 0, TLS_FN_READ);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_write_ex_enter, void *ssl, const void *buf, __u64 num, __u64 *written)
{
	enter(ctx, (__u64)ssl, (__u64)buf, (__u64)written, TLS_FN_WRITE_EX);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_read_ex_enter, void *ssl, void *buf, __u64 num, __u64 *readbytes)
{
	enter(ctx, (__u64)ssl, (__u64)buf, (__u64)readbytes, TLS_FN_READ_EX);
	return 0;
}

/* ---- SSL call return: learn the socket, copy the plaintext ---- */

/* Like request capture's l7_shed (l7.bpf.c): a long-lived TLS stream captured before the sampling rose is asked
 * again (tapio_still_sampled, limits.h); one that falls out of the share is let go: userspace is told (a close
 * record, reason shed) and the stream's calls are not copied from now on. If the record cannot be sent, the stream
 * stays (tried again). */
static __always_inline bool tls_shed(void *ctx, struct tls_ssl_state *st, const struct tls_ssl_key *key)
{
	if (tapio_still_sampled(TAPIO_KIND_TLS_DATA, st->start_ns ^ key->ssl, &st->kept_every))
		return false;
	struct tls_close_record *r = tapio_reserve(&tls_events, struct tls_close_record, TAPIO_KIND_TLS_CLOSE);
	if (!r)
		return false;
	fill_close(r, key, st, TLS_CLOSE_SHED);
	tapio_submit(ctx, &tls_events, r);
	tls_stop_capture(st);
	tls_count(TLS_CNT_STREAMS_SHED, 1);
	tapio_count_drop(TAPIO_KIND_TLS_DATA, TAPIO_DROP_SAMPLED);
	return true;
}

/* The socket of this SSL object now, and how it is known (enum tls_map_how). */
static __always_inline __u8 learn_socket(struct tls_ssl_state *st, const struct tls_ssl_key *key, __u64 call_sk,
					 __u8 dir, struct tls_thread *t, __u64 now, const struct tls_settings *cfg)
{
	if (call_sk) {
		bind_socket(st, key, call_sk);
		return TLS_MAP_INSIDE;
	}
	if (st->sk)
		return TLS_MAP_CACHED;
	if (dir == 1) {
		if (t->has_recv && now - t->last_recv.ns <= cfg->adjacent_ns) {
			bind_socket(st, key, t->last_recv.sk);
			return TLS_MAP_ADJACENT;
		}
	} else {
		t->pending_write = *key;
		t->pending = 1;
	}
	return TLS_MAP_NONE;
}

/* v bounded to [0, max] (max < 64 KiB) for the verifier right where a helper takes it as a size, out of the
 * compiler's sight (barrier_var: neither the mask nor the clamp is folded away). The mask also unlinks v from the
 * registers the compiler copied it to. Needed on 6.12: after a compare on such a copy plus a constant (done + n >=
 * want), its verifier gives v the copy's range minus that constant, an unsigned add that wraps, and so drops v's
 * unsigned range; the helper then refuses v as an unbounded size ("R2 unbounded memory access"). 6.16+ keeps it. */
#define TLS_BOUND(v, max)          \
	do {                       \
		barrier_var(v);    \
		v &= 0xffff;       \
		if (v > (max))     \
			v = (max); \
	} while (0)
_Static_assert(sizeof(struct tls_data_record) <= 0xffff, "TLS_BOUND's mask keeps a whole record");

static __always_inline void emit_data(struct tls_ssl_state *st, const struct tls_ssl_key *key, const struct tls_call *c,
				      __u8 dir, __u32 len, __u8 how, const struct tls_settings *cfg)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct tls_data_record *r = bpf_map_lookup_elem(&tls_scratch, &cpu);
	if (!r)
		return;
	tapio_fill_header(&r->h, TAPIO_KIND_TLS_DATA, TLS_RECORD_HEADER_BYTES);
	r->ssl = key->ssl;
	r->sock = st->sk;
	r->start_ns = st->start_ns;
	r->seq = st->seq[dir & 1];
	r->call_seq = r->seq;
	r->call_len = len;
	r->direction = dir;
	r->func = c->func;
	r->mapped = how;
	r->flags = TLS_FLAG_CALL_START;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	r->lib = c->lib;
	/* A local first: inside the macro's CO-RE reads, st->sk would become a relocation against our own struct. */
	struct sock *sk = (struct sock *)st->sk;
	if (sk) {
		TAPIO_READ_SOCK_TUPLE(r, sk);
	} else { /* unmapped: an empty tuple */
		__builtin_memset(r->local_addr, 0, sizeof(r->local_addr));
		__builtin_memset(r->peer_addr, 0, sizeof(r->peer_addr));
		r->family = 0;
		r->local_port = 0;
		r->peer_port = 0;
	}
	st->seq[dir & 1] += len;
	tls_count(TLS_CNT_BYTES_SEEN, len);

	__u32 bound = cfg->bytes_per_call;
	if (bound > TLS_CALL_BYTES_MAX)
		bound = TLS_CALL_BYTES_MAX;
	__u32 want = len < bound ? len : bound;
	if (len > want)
		tls_count(TLS_CNT_BYTES_TRUNCATED, len - want);
	__u64 src = c->buf;
	__u32 done = 0;
	for (int i = 0; i < TLS_CALL_BYTES_MAX / TLS_RECORD_DATA_MAX; i++) {
		__u64 n = want > done ? want - done : 0;
		if (n > TLS_RECORD_DATA_MAX)
			n = TLS_RECORD_DATA_MAX;
		bool last = done + n >= want;
		TLS_BOUND(n, TLS_RECORD_DATA_MAX);
		if (bpf_probe_read_user(r->data, n, (void *)(src + done)) != 0) {
			r->flags |= TLS_FLAG_READ_FAILED;
			tls_count(TLS_CNT_BYTES_READ_FAILED, want - done);
			tapio_count_drop(TAPIO_KIND_TLS_DATA, TAPIO_DROP_READ_FAILED);
			n = 0;
			last = true;
		} else if (done == 0 && st->proto == L7_PROTO_UNKNOWN) {
			bool request;
			tls_learn_proto(st, tls_detect(r->data, n, r->call_seq == 0, &request));
		}
		__u32 size = TLS_RECORD_HEADER_BYTES + n;
		TLS_BOUND(size, sizeof(*r));
		r->copied = n;
		r->h.size = size;
		if (last)
			r->flags |= TLS_FLAG_CALL_END;
		if (bpf_ringbuf_output(&tls_events, r, size, wake_flags()) != 0) {
			/* Nothing more of this stream is sent: the bytes from here on would be a hole in userspace's stream. */
			tapio_count_drop(TAPIO_KIND_TLS_DATA, TAPIO_DROP_RINGBUF_FULL);
			tls_count(TLS_CNT_BYTES_RING_FULL, want - done);
			tls_ring_full(st, key, r);
			break;
		} else {
			tls_count(TLS_CNT_RECORDS, 1);
			tls_count(TLS_CNT_BYTES_COPIED, n);
		}
		if (last)
			break;
		done += n;
		r->seq += n;
		r->flags &= ~TLS_FLAG_CALL_START;
	}
}

static __always_inline void leave(struct pt_regs *ctx, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_thread *t = bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->in_call)
		return;
	if (t->active.depth > 0) {
		t->active.depth--;
		return;
	}
	struct tls_call c = t->active.call;
	t->in_call = 0;

	long ret = PT_REGS_RC(ctx);
	__u64 len = 0;
	if (c.len_ptr) {
		if (ret == 1)
			bpf_probe_read_user(&len, sizeof(len), (void *)c.len_ptr);
	} else if ((int)ret > 0) {
		len = (__u32)ret;
	}

	struct tls_ssl_key key = {.ssl = c.ssl, .tgid = id >> 32};
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 zero = 0;
	/* Looked up once per call and handed on (an array's slot 0: always there). */
	const struct tls_settings *cfg = bpf_map_lookup_elem(&tls_settings_map, &zero);
	if (!cfg)
		return;
	__u8 epoch = (__u8)cfg->epoch;
	struct tls_ssl_state *st = bpf_map_lookup_elem(&tls_ssl, &key);
	if (st && st->epoch != epoch) {
		/* Seen before the probes were paused: calls were missed, so its offsets are stale, and userspace let the
		 * old stream go at the pause. HTTP/1 is taken up again as a new stream (a new start_ns, so a new stream
		 * key) from this call; HTTP/2 cannot be (the header compression state of the missed calls is gone), so
		 * it stays not captured and is counted like any HTTP/2 stream not captured. */
		if (st->proto == L7_PROTO_HTTP2) {
			st->epoch = epoch;
			if (!st->skipped)
				tls_stop_capture(st);
			tls_count(TLS_CNT_STREAMS_H2_NOT_RESUMED, 1);
		} else {
			bpf_map_delete_elem(&tls_ssl, &key);
			st = NULL;
			tls_count(TLS_CNT_STREAMS_RESTARTED, 1);
		}
	}
	if (!st) {
		/* Sampling and rate limits apply per stream, when it is first seen: a stream is captured whole or not. */
		struct tls_ssl_state fresh = {.start_ns = now, .epoch = epoch};
		__u32 every = cfg->window_every;
		if (every > 1 && ((now ^ key.ssl) * 0x9E3779B97F4A7C15ULL >> 40) % every != 0) {
			/* Not this window's share: counted as sampled, its requests still counted (tls_not_captured). */
			fresh.skipped = 1;
			tls_count(TLS_CNT_STREAMS_WINDOW_SAMPLED, 1);
			tapio_count_drop(TAPIO_KIND_TLS_DATA, TAPIO_DROP_SAMPLED);
		} else if (!tapio_admit(TAPIO_KIND_TLS_DATA, bpf_get_current_cgroup_id())) {
			fresh.skipped = 1;
			tls_count(TLS_CNT_STREAMS_NOT_ADMITTED, 1);
		} else {
			fresh.kept_every = tapio_sample_every(TAPIO_KIND_TLS_DATA);
		}
		if (bpf_map_update_elem(&tls_ssl, &key, &fresh, BPF_NOEXIST) != 0 && len > 0)
			tls_count(TLS_CNT_STATE_FULL, 1);
		st = bpf_map_lookup_elem(&tls_ssl, &key);
		if (!st)
			return;
	}
	if (st->skipped || tls_shed(ctx, st, &key)) {
		tls_not_captured(st, &key, &c, len);
		return;
	}
	/* Mapping is learnt on every call, handshake calls that return nothing included (Node's first SSL_read). */
	__u8 how = learn_socket(st, &key, c.sk, dir, t, now, cfg);
	if (len == 0) {
		tls_count(TLS_CNT_CALLS_EMPTY, 1);
		return;
	}
	if (len > 0x7fffffff)
		len = 0x7fffffff;
	tls_count(TLS_CNT_CALLS, 1);
	tls_count(how == TLS_MAP_NONE ? TLS_CNT_UNMAPPED : TLS_CNT_MAPPED_INSIDE + how - TLS_MAP_INSIDE, 1);
	emit_data(st, &key, &c, dir, len, how, cfg);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_write_exit)
{
	leave(ctx, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_read_exit)
{
	leave(ctx, 1);
	return 0;
}

/* ---- the end of an SSL stream ---- */

static __always_inline void end_stream(void *ctx, const struct tls_ssl_key *key)
{
	struct tls_ssl_state *st = bpf_map_lookup_elem(&tls_ssl, key);
	if (!st)
		return;
	struct tls_close_record *r =
		st->skipped ? NULL : tapio_reserve(&tls_events, struct tls_close_record, TAPIO_KIND_TLS_CLOSE);
	if (r) {
		fill_close(r, key, st, TLS_CLOSE_END);
		tapio_submit(ctx, &tls_events, r);
	}
	tls_pay_close_at_end(st, key); /* let go with the ring full: the close record, if still owed */
	if (st->sk) {
		__u64 sk = st->sk;
		bpf_map_delete_elem(&tls_socks, &sk);
	}
	bpf_map_delete_elem(&tls_ssl, key);
}

SEC("uprobe")
int BPF_KPROBE(tls_free_enter, void *ssl)
{
	struct tls_ssl_key key = {.ssl = (__u64)ssl, .tgid = bpf_get_current_pid_tgid() >> 32};
	end_stream(ctx, &key);
	return 0;
}

static __always_inline void on_state(void *ctx, struct sock *sk, int new_state)
{
	if (new_state != TCP_CLOSE)
		return;
	__u64 k = (__u64)sk;
	struct tls_ssl_key *key = bpf_map_lookup_elem(&tls_socks, &k);
	if (!key)
		return;
	struct tls_ssl_key copy = *key;
	end_stream(ctx, &copy);
	bpf_map_delete_elem(&tls_socks, &k);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tls_state_btf, const struct sock *sk, const int old_state, const int new_state)
{
	on_state(ctx, (struct sock *)sk, new_state);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int tls_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	on_state(ctx, (struct sock *)ctx->skaddr, ctx->newstate);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
