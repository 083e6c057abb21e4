/* Request-capture collector, kernel side: copies the payload bytes of TCP sends and receives on connections that
 * speak HTTP/1.x or HTTP/2, in stream order per connection and direction, for the parsers in src/protocols.
 *
 * Where: tp_btf/sock_send_length and tp_btf/sock_recv_length fire for socket I/O only, with a typed struct sock; the
 * user buffer (or iovec, or msghdr) comes from the thread's saved syscall registers (notes/l7.md). The fallback for
 * kernels without those tracepoints is raw_tracepoint/sys_exit: the same registers, the fd walked to its socket.
 * Which one runs is decided in src/collectors/requests/spec.ts; the copying itself is in bpf/include/l7_copy.h.
 *
 * Cost control: a connection's protocol is decided from its first payloads (detect()); anything else is marked and
 * costs one map lookup from then on. Connections older than the agent are detected on their first data.
 * Limits (limits.h) apply per connection, at detection: a connection is captured whole or not at all. Copies are
 * bounded per syscall (l7_settings) and split into records of at most L7_RECORD_DATA_MAX bytes; bytes not copied
 * are counted by reason (l7_counters) and visible to userspace as stream-offset gaps. Records: bpf/include/l7.h. */
#include "task_fd.h"
#include "l7.h"
#include "network.h"
#include "limits.h"
#include "l7_syscalls.h"
#include "l7_detect.h"
#include "l7_copy.h"
#include "l7_h2count.h"
#include "l7_ringfull.h"
#include "sock_tuple.h"
#include "tls_sockets.h"
#include <bpf/bpf_endian.h>

#define AF_INET		     2
#define AF_INET6	     10
#define IPPROTO_TCP	     6
#define MSG_PEEK	     2
#define S_IFMT		     00170000
#define S_IFSOCK	     0140000
#define L7_SYSCALL_BYTES_MAX (1 << 20) /* 64 records of L7_RECORD_DATA_MAX; the copy loop takes one step per piece */
#define L7_H2_WALK_STEPS     (1 << 16) /* frame walker steps per syscall (~2 per frame) */
#define L7_DETECT_BYTES	     16

/* Connection state. Every socket syscall of the node looks its socket up here, so the lookup is the fixed price
 * of request capture. Where the programs hold a typed socket (tp_btf: the socket-length plan) the state lives in
 * the socket's own storage: measured here ~35 ns a lookup against ~150-220 ns for a hash keyed by the socket's
 * address (two cache misses under load), and it goes away with the socket (no address reuse, no eviction). The
 * fallback plan's programs only have the address (a classic tracepoint, an fd walk) and keep the LRU hash. Each
 * caller passes `typed` as a constant, so every program keeps one of the two. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct l7_conn);
} l7_sk_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized from collectors.l7.connectionTableSize before load */
	__type(key, __u64);	    /* struct sock pointer */
	__type(value, struct l7_conn);
} l7_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_settings);
} l7_settings_map SEC(".maps");

/* Keep the record structs in the object's BTF for the layout test. */
const struct l7_close_record *unused_l7_close_record __attribute__((unused));
const struct l7_conn *unused_l7_conn __attribute__((unused));

/* ---- connection role and lifetime (mirrors the network collector's use of the same tracepoint) ---- */

static __always_inline struct l7_conn *conn_get(struct sock *sk, __u64 key, bool typed)
{
	if (typed)
		return bpf_sk_storage_get(&l7_sk_conns, sk, 0, 0);
	return bpf_map_lookup_elem(&l7_conns, &key);
}

/* A connection's state starts over (a socket that connects again starts a new connection). */
static __always_inline struct l7_conn *conn_begin(struct sock *sk, __u64 key, __u8 role, bool typed)
{
	struct l7_conn c = {.start_ns = bpf_ktime_get_boot_ns(), .role = role};
	struct l7_conn *p = NULL;
	if (typed) {
		p = bpf_sk_storage_get(&l7_sk_conns, sk, &c, BPF_SK_STORAGE_GET_F_CREATE);
		if (p)
			*p = c;
	} else if (bpf_map_update_elem(&l7_conns, &key, &c, BPF_ANY) == 0) {
		p = bpf_map_lookup_elem(&l7_conns, &key);
	}
	if (!p)
		l7_count(L7_CNT_STATE_FULL, 1);
	return p;
}

static __always_inline void conn_end(void *ctx, struct sock *sk, __u64 key, bool typed)
{
	struct l7_conn *c = conn_get(sk, key, typed);
	if (!c)
		return;
	if (c->protocol == L7_PROTO_HTTP1 || c->protocol == L7_PROTO_HTTP2) {
		struct l7_close_record *r = tapio_reserve(&l7_events, struct l7_close_record, TAPIO_KIND_L7_CLOSE);
		if (r) {
			fill_close(r, key, c, L7_CLOSE_TCP);
			tapio_submit(ctx, &l7_events, r);
		}
	}
	l7_pay_close_at_end(c, key); /* let go with the ring full: the close record, if still owed */
	if (typed)
		bpf_sk_storage_delete(&l7_sk_conns, sk);
	else
		bpf_map_delete_elem(&l7_conns, &key);
}

/* Sampling applies at detection, so a busy long-lived connection (a keep-alive pool, a gRPC channel) is asked again
 * when N rises (tapio_still_sampled, limits.h); one that falls out of the share is let go: userspace gets a close
 * record that says so and counts its unfinished requests as sampled. If that record cannot be sent, the connection
 * stays (tried again). Its id is when Tapio first saw it (the sock pointer would do, but in a tp_btf program it is a
 * trusted pointer the verifier allows no arithmetic on). */
static __always_inline bool l7_shed(struct l7_conn *conn, __u64 key)
{
	if (tapio_still_sampled(TAPIO_KIND_L7_DATA, conn->start_ns, &conn->kept_every))
		return false;
	struct l7_close_record r;
	fill_close(&r, key, conn, L7_CLOSE_SHED);
	if (bpf_ringbuf_output(&l7_events, &r, sizeof(r), l7_wake_flags()) != 0)
		return false;
	conn->skipped_proto = conn->protocol;
	conn->protocol = L7_PROTO_NOT_ADMITTED;
	if (conn->skipped_proto == L7_PROTO_HTTP2)
		h2_count_after_shed(conn);
	l7_count(L7_CNT_CONNS_SHED, 1);
	tapio_count_drop(TAPIO_KIND_L7_DATA, TAPIO_DROP_SAMPLED);
	return true;
}

static __always_inline void handle_state(void *ctx, struct sock *sk, int old_state, int new_state, bool typed)
{
	if (!tapio_is_tcp_ip(sk))
		return;
	__u64 key = (__u64)sk;
	if (new_state == TCP_SYN_SENT)
		conn_begin(sk, key, TCP_ROLE_CLIENT, typed);
	else if (new_state == TCP_ESTABLISHED && old_state == TCP_SYN_RECV)
		conn_begin(sk, key, TCP_ROLE_SERVER, typed);
	else if (new_state == TCP_CLOSE)
		conn_end(ctx, sk, key, typed);
}

/* The socket-length plan's: state in the socket's storage. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(l7_state_sk, const struct sock *sk, const int old_state, const int new_state)
{
	handle_state(ctx, (struct sock *)sk, old_state, new_state, true);
	return 0;
}

/* The syscall-exit plan's (state in the hash), typed where tp_btf attaches, else the classic tracepoint. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(l7_state_btf, const struct sock *sk, const int old_state, const int new_state)
{
	handle_state(ctx, (struct sock *)sk, old_state, new_state, false);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int l7_state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	handle_state(ctx, (struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate, false);
	return 0;
}

/* Reads the first bytes of the payload (for detection). Returns how many. */
static __always_inline __u32 first_bytes(const struct syscall_buf *sb, __u32 len, __u8 *out)
{
	__u64 base = sb->buf, n = len;
	if (sb->vector) {
		struct iovec iv;
		if (sb->count == 0 || bpf_probe_read_user(&iv, sizeof(iv), (void *)sb->buf) != 0)
			return 0;
		base = (__u64)iv.iov_base;
		if (iv.iov_len < n)
			n = iv.iov_len;
	}
	if (n > L7_DETECT_BYTES)
		n = L7_DETECT_BYTES;
	if (n == 0 || bpf_probe_read_user(out, n, (void *)base) != 0)
		return 0;
	return n;
}

/* A connection sampled out or let go is not copied, but its requests are still counted. HTTP/1: a syscall that
 * starts with a request line is one more (pipelined requests in one syscall count once); one read of its first
 * bytes. HTTP/2: the streams opened, from the frame headers of the request direction (l7_h2count.h); an HTTP/1
 * connection whose client sends the HTTP/2 preface (h2c Upgrade) is counted so from then on. */
static __always_inline void count_not_captured(struct l7_conn *conn, __u8 dir, __u32 len, struct pt_regs *regs,
					       bool typed)
{
	if (conn->skipped_proto == L7_PROTO_HTTP2) {
		count_h2_requests(conn, dir, len, regs, typed);
		return;
	}
	if (conn->skipped_proto != L7_PROTO_HTTP1)
		return;
	/* Requests go one way: a client sends them, a server receives them (both ways looked at if the role is unknown). */
	if ((conn->role == TCP_ROLE_CLIENT && dir != L7_DIR_SEND) ||
	    (conn->role == TCP_ROLE_SERVER && dir != L7_DIR_RECV))
		return;
	struct syscall_buf sb;
	syscall_buffer(syscall_regs(regs, typed), dir, &sb, typed);
	if (sb.sys == L7_SYS_OTHER)
		return;
	__u8 head[L7_DETECT_BYTES] = {};
	__u8 sender = TCP_ROLE_UNKNOWN;
	__u32 n = first_bytes(&sb, len, head);
	__u8 proto = detect(head, n, &sender, false);
	if (proto == L7_PROTO_HTTP1 && sender == TCP_ROLE_CLIENT)
		l7_count(L7_CNT_H1_REQUESTS_NOT_CAPTURED, 1);
	else if (proto == L7_PROTO_HTTP2)
		h2_count_upgraded(conn, dir, len, &sb);
}

/* The heart: `len` payload bytes of `sk` went in direction `dir`, by the syscall whose saved registers are `regs`.
 * Every TCP socket of the node passes through here, so a connection already known to be skipped costs one lookup:
 * the socket and the syscall's buffer are read only when needed (detection, counting, copying). */
static __always_inline void capture(struct sock *sk, __u8 dir, __u32 len, struct pt_regs *regs, bool typed)
{
	__u64 key = (__u64)sk;
	struct l7_conn *conn = conn_get(sk, key, typed);
	if (!conn) {
		/* Only connections with state are known to be TCP over IP: a new one is checked. */
		if (!(typed ? tapio_is_tcp_ip_typed(sk) : tapio_is_tcp_ip(sk)))
			return;
		/* Opened before the agent (or state evicted): adopt it now; the role is learnt from the first request. */
		conn = conn_begin(sk, key, TCP_ROLE_UNKNOWN, typed);
		if (!conn)
			return;
	}
	__u8 proto = conn->protocol;
	if (proto == L7_PROTO_UNSUPPORTED)
		return;
	if (proto == L7_PROTO_NOT_ADMITTED) {
		if (conn->close_owed) /* let go with the ring full: the close record, as soon as the ring has room */
			l7_pay_close(conn, key);
		count_not_captured(conn, dir, len, regs, typed);
		return;
	}
	if (proto != L7_PROTO_UNKNOWN && l7_shed(conn, key)) {
		count_not_captured(conn, dir, len, regs, typed);
		return;
	}
	struct syscall_buf sbuf;
	syscall_buffer(syscall_regs(regs, typed), dir, &sbuf, typed);
	const struct syscall_buf *sb = &sbuf;

	struct l7_settings *cfg;
	__u32 zero = 0;
	cfg = bpf_map_lookup_elem(&l7_settings_map, &zero);
	if (!cfg)
		return;

	if (proto == L7_PROTO_UNKNOWN) {
		__u8 head[L7_DETECT_BYTES] = {};
		__u8 sender = TCP_ROLE_UNKNOWN;
		__u32 n = first_bytes(sb, len, head);
		/* Only where the connection's start was seen (its role is known) can a stream begin with a bare frame. */
		bool start = conn->role != TCP_ROLE_UNKNOWN && conn->seq[dir & 1] == 0;
		proto = detect(head, n, &sender, start);
		if (proto == L7_PROTO_UNKNOWN) {
			conn->seq[dir & 1] += len;
			if (++conn->detect_seen >= cfg->detect_chunks) {
				conn->protocol = L7_PROTO_UNSUPPORTED;
				l7_count(L7_CNT_CONNS_UNSUPPORTED, 1);
			}
			return;
		}
		/* Seen from its SYN (the role came from the handshake), or adopted: the role is learnt from who spoke. */
		bool from_start = conn->role != TCP_ROLE_UNKNOWN;
		if (!from_start)
			conn->role = dir == L7_DIR_SEND
					     ? sender
					     : (sender == TCP_ROLE_CLIENT ? TCP_ROLE_SERVER : TCP_ROLE_CLIENT);
		if (!tapio_admit(TAPIO_KIND_L7_DATA, bpf_get_current_cgroup_id())) {
			conn->protocol = L7_PROTO_NOT_ADMITTED;
			conn->skipped_proto = proto;
			l7_count(L7_CNT_CONNS_NOT_ADMITTED, 1);
			if (proto == L7_PROTO_HTTP2)
				h2_count_not_admitted(conn, dir, sender);
			count_not_captured(conn, dir, len, regs, typed);
			return;
		}
		conn->kept_every = tapio_sample_every(TAPIO_KIND_L7_DATA);
		conn->protocol = proto;
		/* The frame layout is known only from the connection's first byte, both directions (role known, nothing
		 * passed undetected): the client's direction starts with the preface, the server's with a frame. */
		if (proto == L7_PROTO_HTTP2 && from_start && conn->seq[0] == 0 && conn->seq[1] == 0 &&
		    cfg->http2_walk) {
			__u8 c2s = conn->role == TCP_ROLE_CLIENT ? L7_DIR_SEND : L7_DIR_RECV;
			conn->h2_walk[0] = conn->h2_walk[1] = 1;
			conn->h2_left[c2s & 1] = L7_H2_PREFACE_BYTES;
			conn->h2_type[c2s & 1] = L7_H2_PREFACE;
		}
		l7_count(proto == L7_PROTO_HTTP2 ? L7_CNT_CONNS_HTTP2 : L7_CNT_CONNS_HTTP1, 1);
	}

	__u32 cpu = bpf_get_smp_processor_id();
	struct l7_scratch *s = bpf_map_lookup_elem(&l7_scratch_map, &cpu);
	if (!s)
		return;
	struct l7_data_record *r = &s->rec;
	tapio_fill_header(&r->h, TAPIO_KIND_L7_DATA, L7_RECORD_HEADER_BYTES);
	r->sock = key;
	r->conn_start_ns = conn->start_ns;
	r->seq = conn->seq[dir & 1];
	r->syscall_seq = r->seq;
	r->syscall_len = len;
	r->direction = dir;
	r->role = conn->role;
	r->protocol = proto;
	r->flags = L7_FLAG_SYSCALL_START;
	r->syscall = sb->sys;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	TAPIO_READ_SOCK_TUPLE(r, sk);
	conn->seq[dir & 1] += len; /* claimed before copying: another thread may send on this socket meanwhile */
	l7_count(L7_CNT_BYTES_SEEN, len);

	struct l7_copy_state *c = &s->st;
	__builtin_memset(c, 0, sizeof(*c));
	if (sb->sys == L7_SYS_OTHER) {
		r->flags |= L7_FLAG_NO_BUFFER;
		l7_count(L7_CNT_BYTES_NO_BUFFER, len);
		/* The frame walker keeps its place only if these bytes are all inside one frame's payload. */
		__u8 dw = dir & 1;
		if (proto == L7_PROTO_HTTP2 && conn->h2_walk[dw]) {
			if (len <= conn->h2_left[dw]) {
				conn->h2_left[dw] -= len;
			} else {
				conn->h2_walk[dw] = 0;
				l7_count(L7_CNT_H2_WALK_LOST, 1);
			}
		}
		flush(s, 1);
		if (c->ring_full)
			l7_ring_full(conn, dir);
		return;
	}
	__u32 bound = proto == L7_PROTO_HTTP2 ? cfg->http2_bytes : cfg->http1_bytes;
	if (bound > L7_SYSCALL_BYTES_MAX)
		bound = L7_SYSCALL_BYTES_MAX;
	__u32 wanted = len < bound ? len : bound;
	c->remaining = wanted;
	__u8 d = dir & 1;
	c->walk = proto == L7_PROTO_HTTP2 && conn->h2_walk[d];
	if (c->walk) {
		walker_load(c, conn, d);
		c->extra = L7_SYSCALL_BYTES_MAX;
		c->total_left = len;
	} else if (len > wanted) {
		l7_count(L7_CNT_BYTES_TRUNCATED, len - wanted);
	}
	copy_source(c, sb, len);
	/* Steps: one per iovec loaded, one per piece copied (at most one more than iovecs plus records); walking, one
	 * or two more per frame (header, payload), so a generous bound: every step makes progress or ends the loop. */
	__u32 steps = 2 * c->iov_count + L7_SYSCALL_BYTES_MAX / L7_RECORD_DATA_MAX + 2;
	if (c->walk)
		steps = 2 * c->iov_count + L7_H2_WALK_STEPS;
	bpf_loop(steps, copy_step, &cpu, 0);
	__u8 failed = c->read_failed;
	if (failed) {
		tapio_count_drop(TAPIO_KIND_L7_DATA, TAPIO_DROP_READ_FAILED);
		l7_count(L7_CNT_BYTES_READ_FAILED, c->walk ? c->total_left : c->remaining);
	}
	if (c->walk) {
		/* Save where the frame layout stands for the next syscall in this direction, or stop walking. */
		bool lost = c->walk_lost || failed || (c->total_left > 0 && !c->ring_full);
		walker_save(conn, c, d);
		if (lost) {
			conn->h2_walk[d] = 0;
			l7_count(L7_CNT_H2_WALK_LOST, 1);
		}
		l7_count(L7_CNT_H2_DATA_SKIPPED, c->skipped);
		__u64 uncopied = c->skipped + (failed || c->ring_full ? 0 : c->total_left);
		if (uncopied)
			l7_count(L7_CNT_BYTES_TRUNCATED, uncopied);
		/* The last record says where the syscall ends, also after a skip that reached it (r->seq is the next byte
		 * after what was sent or passed over): a DATA frame ending the syscall, and its stream, completes only so. */
		if (c->fill > 0 || c->skipped > 0 || r->seq != r->syscall_seq + len || failed || len == 0)
			flush(s, 1);
	} else if (c->fill > 0 || wanted < len || failed || wanted == 0) {
		/* The last record says where the syscall ends; skip it only when a full record already ended it exactly. */
		flush(s, 1);
	}
	if (c->ring_full) /* a record did not fit the ring: the connection is let go from there (l7_ringfull.h) */
		l7_ring_full(conn, dir);
}

static __always_inline void from_task_regs(struct sock *sk, __u8 dir, int ret)
{
	if (ret <= 0 || !sk)
		return;
	tls_on_sock_io(sk, dir);	   /* which socket an SSL object is on (tls_sockets.h) */
	capture(sk, dir, ret, NULL, true); /* the registers are looked up only when the buffer is needed */
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(l7_send_btf, struct sock *sk, int ret, int flags)
{
	from_task_regs(sk, L7_DIR_SEND, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(l7_recv_btf, struct sock *sk, int ret, int flags)
{
	if (flags & MSG_PEEK)
		return 0; /* the bytes stay queued: they are captured when really read */
	from_task_regs(sk, L7_DIR_RECV, ret);
	return 0;
}

/* ---- fallback: every syscall's exit, for kernels without sock_{send,recv}_length ---- */

/* The TCP socket behind fd in the current task, or NULL (not a socket, not TCP). */
static __always_inline struct sock *tcp_sock_from_fd(long fd)
{
	struct file *file = tapio_fd_file((struct task_struct *)bpf_get_current_task(), fd);
	if (!file)
		return NULL;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	return tapio_is_tcp_ip(sk) ? sk : NULL;
}

SEC("raw_tracepoint/sys_exit")
int l7_sys_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	long ret = (long)ctx->args[1];
	if (ret <= 0)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = SYSCALL_NR(regs);
	__u8 dir;
	if (nr == NR_WRITE || nr == NR_WRITEV || nr == NR_SENDTO || nr == NR_SENDMSG)
		dir = L7_DIR_SEND;
	else if (nr == NR_READ || nr == NR_READV || nr == NR_RECVFROM || nr == NR_RECVMSG)
		dir = L7_DIR_RECV;
	else
		return 0;
	if (nr == NR_RECVFROM && (PT_REGS_PARM4_CORE_SYSCALL(regs) & MSG_PEEK))
		return 0;
	if (nr == NR_RECVMSG && (PT_REGS_PARM3_CORE_SYSCALL(regs) & MSG_PEEK))
		return 0;
	struct sock *sk = tcp_sock_from_fd(PT_REGS_PARM1_CORE_SYSCALL(regs));
	if (!sk)
		return 0;
	capture(sk, dir, ret, regs, false);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
