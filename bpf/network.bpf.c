/* Network collector, kernel side: TCP connect, accept, close (bytes, RTT, retransmits, resets) and failed connects,
 * for IPv4 and IPv6. The TCP state machine (sock:inet_sock_set_state) drives everything; the owning process is
 * recorded when it is known for sure (connect() enters SYN_SENT in the caller's context; accept() returns the socket
 * to its caller) and kept per socket, because later transitions often run in softirq context on behalf of anyone.
 * Hook order and fallbacks are declared in src/collectors/network/index.ts. Records: bpf/include/network.h. */
#include "task_fd.h"
#include "network.h"
#include "sock_cgroup.h"
#include "sock_tuple.h"
#include "limits.h"
#include <bpf/bpf_endian.h>

#define AF_INET	    2
#define AF_INET6    10
#define IPPROTO_TCP 6
#define ECONNRESET  104
#define EPIPE	    32

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized from config before load */
} network_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized from collectors.network.connectionTableSize before load */
	__type(key, __u64);	    /* struct sock pointer */
	__type(value, struct tcp_conn);
} tcp_conns SEC(".maps");

/* Listening sockets and their owner, for accept attribution without a syscall hook (accept_handshake_btf). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct listen_key);
	__type(value, struct tcp_conn);
} listen_owners SEC(".maps");

static __always_inline __u64 sock_cgroup_id(struct sock *sk)
{
	/* The socket remembers the cgroup of the process that created it (accepted sockets: the listener's). */
	return tapio_sock_cgroup_id(sk);
}

#define emit(ctx, kind, sk, conn, old_state, extra_flags) \
	emit_record(ctx, kind, sk, conn, ((__u32)(old_state)&0xffff) | ((__u32)(extra_flags) << 16))

/* Send one record for `sk`. `conn` is its state (NULL when unknown); the owner comes from there. A BPF-to-BPF call,
 * not inlined: handle_state calls it three times and handle_accept twice, and one copy keeps the programs (and the
 * verifier's work) smaller; the verifier still checks it at each call site, with that site's `conn`. */
static __noinline void emit_record(void *ctx, __u32 kind, struct sock *sk, struct tcp_conn *conn, __u32 state_and_flags)
{
	/* A BPF-to-BPF call takes at most five arguments: the old state (low 16 bits) and the extra flags share one. */
	int old_state = state_and_flags & 0xffff;
	__u8 extra_flags = state_and_flags >> 16;
	/* Limits apply to the connection's owner, not to whoever runs when the state changes (often a softirq). */
	__u64 owner_cgroup = conn && conn->cgroup_id ? conn->cgroup_id : sock_cgroup_id(sk);
	if (!tapio_admit(kind, owner_cgroup))
		return;
	struct tcp_record *r = tapio_reserve(&network_events, struct tcp_record, kind);
	if (!r)
		return;
	tapio_fill_header(&r->h, kind, sizeof(*r));
	if (conn) {
		r->h.pid = conn->pid;
		r->h.tid = conn->tid;
		r->h.cgroup_id = owner_cgroup;
		r->start_ns = conn->start_ns;
		r->role = conn->role;
		r->flags = (conn->reset_received ? TCP_FLAG_RESET_RECEIVED : 0) |
			   (conn->reset_sent ? TCP_FLAG_RESET_SENT : 0);
	} else {
		r->h.pid = 0;
		r->h.tid = 0;
		r->h.cgroup_id = owner_cgroup;
		r->start_ns = 0;
		r->role = TCP_ROLE_UNKNOWN;
		r->flags = TCP_FLAG_OWNER_UNKNOWN;
	}
	r->flags |= extra_flags;
	r->old_state = old_state;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	/* Payload only: bytes_sent counts every transmission (minus the retransmitted ones = each byte once);
	 * bytes_received counts rcv_nxt's advance, which includes the peer's FIN once it arrived (SOCK_DONE). */
	r->bytes_sent = BPF_CORE_READ(tp, bytes_sent) - BPF_CORE_READ(tp, bytes_retrans);
	__u64 received = BPF_CORE_READ(tp, bytes_received);
	unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	if ((sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) && received > 0)
		received -= 1;
	r->bytes_received = received;
	r->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3; /* the kernel keeps 8x the smoothed RTT */
	r->retransmits = BPF_CORE_READ(tp, total_retrans);
	r->error = BPF_CORE_READ(sk, sk_err);
	TAPIO_READ_SOCK_TUPLE(r, sk);
	tapio_submit(ctx, &network_events, r);
}

static __always_inline void remember_owner(__u64 key, __u8 role, __u64 cgroup_id, __u32 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct tcp_conn c = {
		.start_ns = bpf_ktime_get_boot_ns(),
		.cgroup_id = cgroup_id,
		.pid = pid_tgid >> 32,
		.tid = (__u32)pid_tgid,
		.role = role,
	};
	if (bpf_map_update_elem(&tcp_conns, &key, &c, BPF_ANY) != 0)
		tapio_count_drop(kind, TAPIO_DROP_MAP_FULL);
}

static __always_inline void handle_state(void *ctx, struct sock *sk, int old_state, int new_state)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	__u64 key = (__u64)sk;

	if (new_state == TCP_SYN_SENT) {
		/* connect(): the caller's context, the one moment the client process is known for sure. */
		remember_owner(key, TCP_ROLE_CLIENT, bpf_get_current_cgroup_id(), TAPIO_KIND_TCP_CONNECT);
		return;
	}
	struct tcp_conn *conn = bpf_map_lookup_elem(&tcp_conns, &key);
	if (new_state == TCP_ESTABLISHED) {
		if (old_state == TCP_SYN_SENT) {
			emit(ctx, TAPIO_KIND_TCP_CONNECT, sk, conn, old_state, 0);
		} else if (old_state == TCP_SYN_RECV && !conn) {
			/* Server side, usually in softirq: the owner is set when accept() hands the socket out. */
			struct tcp_conn c = {
				.start_ns = bpf_ktime_get_boot_ns(),
				.cgroup_id = sock_cgroup_id(sk),
				.role = TCP_ROLE_SERVER,
			};
			if (bpf_map_update_elem(&tcp_conns, &key, &c, BPF_ANY) != 0)
				tapio_count_drop(TAPIO_KIND_TCP_ACCEPT, TAPIO_DROP_MAP_FULL);
		}
		return;
	}
	if (new_state != TCP_CLOSE)
		return;
	if (old_state == TCP_SYN_SENT) {
		emit(ctx, TAPIO_KIND_TCP_CONNECT_FAILED, sk, conn, old_state, 0);
	} else if (old_state != TCP_LISTEN && old_state != TCP_SYN_RECV && old_state != TCP_CLOSE &&
		   old_state != TCP_NEW_SYN_RECV) {
		/* A reset from the peer sets sk_err before the close (EPIPE when it came in CLOSE_WAIT). Our own abort
		 * (close with unread data, SO_LINGER 0, shutdown races) closes without sk_err and without the FIN
		 * states, and the kernel sends the reset only after this transition, too late for tcp_send_reset to
		 * mark the state: recognise it here. */
		int err = BPF_CORE_READ(sk, sk_err);
		__u8 extra = 0;
		if (err == ECONNRESET || err == EPIPE)
			extra = TCP_FLAG_RESET_RECEIVED;
		else if (err == 0 &&
			 (old_state == TCP_ESTABLISHED || old_state == TCP_CLOSE_WAIT || old_state == TCP_FIN_WAIT1))
			extra = TCP_FLAG_RESET_SENT;
		emit(ctx, TAPIO_KIND_TCP_CLOSE, sk, conn, old_state, extra);
	}
	if (conn)
		bpf_map_delete_elem(&tcp_conns, &key);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(state_btf, const struct sock *sk, const int old_state, const int new_state)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	handle_state(ctx, (struct sock *)sk, old_state, new_state);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int state_tp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	handle_state(ctx, (struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate);
	return 0;
}

/* accept() returned `sk` to the current process: that process owns the connection from now on. */
static __always_inline void handle_accept(void *ctx, struct sock *sk)
{
	if (!sk)
		return;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != AF_INET && family != AF_INET6) || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	__u64 key = (__u64)sk;
	struct tcp_conn *conn = bpf_map_lookup_elem(&tcp_conns, &key);
	if (conn) {
		if (conn->accept_reported)
			return;
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		conn->pid = pid_tgid >> 32;
		conn->tid = (__u32)pid_tgid;
		conn->cgroup_id = bpf_get_current_cgroup_id();
		conn->accept_reported = 1; /* two accept hooks may both fire: report once */
		emit(ctx, TAPIO_KIND_TCP_ACCEPT, sk, conn, TCP_SYN_RECV, 0);
		return;
	}
	/* Established before we started (or evicted): adopt it now so its close has an owner. */
	remember_owner(key, TCP_ROLE_SERVER, bpf_get_current_cgroup_id(), TAPIO_KIND_TCP_ACCEPT);
	conn = bpf_map_lookup_elem(&tcp_conns, &key);
	if (conn) {
		conn->accept_reported = 1; /* two accept hooks may both fire: report once */
		conn->start_ns = 0;	   /* the real start is unknown */
	}
	emit(ctx, TAPIO_KIND_TCP_ACCEPT, sk, conn, TCP_SYN_RECV, 0);
}

/* Preferred where kernel-function hooks exist: fires only for TCP accepts, with the accepting process current. */
SEC("fexit/inet_csk_accept")
int accept_fexit(__u64 *ctx)
{
	__u64 ret = 0;
	bpf_get_func_ret(ctx, &ret); /* independent of the function's argument count, which changed in 6.10 */
	handle_accept(ctx, (struct sock *)ret);
	return 0;
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(accept_kretprobe, struct sock *ret)
{
	handle_accept(ctx, ret);
	return 0;
}

/* Fallback: the accept syscalls return a new fd; walk current->files to its socket. Any syscall tracepoint puts
 * tasks on the syscall slow path (notes/security.md: ~25 ns per syscall), which is why kernel-function hooks win. */
static __always_inline struct sock *sock_from_fd(long fd)
{
	struct file *file = tapio_fd_file((struct task_struct *)bpf_get_current_task(), fd);
	if (!file)
		return NULL;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int accept4_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	handle_accept(ctx, sock_from_fd(ctx->ret));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int accept_exit_tp(struct trace_event_raw_sys_exit *ctx)
{
	handle_accept(ctx, sock_from_fd(ctx->ret));
	return 0;
}

/* Accept attribution from the TCP state machine alone, for kernels without fexit or kretprobes: no syscall
 * tracepoint, so no tax on every other syscall. listen() enters TCP_LISTEN in the caller's context: remember that
 * process as the port's owner. When a connection to the port completes its handshake (SYN_RECV -> ESTABLISHED,
 * usually in softirq) the accept record names the listener's owner. Differs from the syscall hook in two ways,
 * both documented in docs/benchmarks.md: the record comes at the handshake, not at accept(); with listeners shared
 * across processes (a pre-forking server, SO_REUSEPORT) it names the process that called listen(). */
static __always_inline void listen_key_of(struct sock *sk, struct listen_key *k)
{
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	k->pad = 0;
}

static __noinline void handle_handshake(void *ctx, struct sock *sk, int old_state, int new_state)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return;
	struct listen_key lk;
	listen_key_of(sk, &lk);
	if (new_state == TCP_LISTEN) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		struct tcp_conn owner = {
			.cgroup_id = bpf_get_current_cgroup_id(),
			.pid = pid_tgid >> 32,
			.tid = (__u32)pid_tgid,
			.role = TCP_ROLE_SERVER,
		};
		bpf_map_update_elem(&listen_owners, &lk, &owner, BPF_ANY);
		return;
	}
	if (old_state == TCP_LISTEN && new_state == TCP_CLOSE) {
		/* the listener closed (a child cloned from it also leaves LISTEN, for SYN_RECV: not that) */
		bpf_map_delete_elem(&listen_owners, &lk);
		return;
	}
	if (old_state != TCP_SYN_RECV || new_state != TCP_ESTABLISHED)
		return;
	__u64 key = (__u64)sk;
	struct tcp_conn *conn = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!conn) {
		/* this program may run before state_btf on the same transition: make the state here */
		struct tcp_conn c = {
			.start_ns = bpf_ktime_get_boot_ns(),
			.cgroup_id = sock_cgroup_id(sk),
			.role = TCP_ROLE_SERVER,
		};
		if (bpf_map_update_elem(&tcp_conns, &key, &c, BPF_ANY) != 0)
			tapio_count_drop(TAPIO_KIND_TCP_ACCEPT, TAPIO_DROP_MAP_FULL);
		conn = bpf_map_lookup_elem(&tcp_conns, &key);
		if (!conn) {
			emit(ctx, TAPIO_KIND_TCP_ACCEPT, sk, NULL, TCP_SYN_RECV, 0);
			return;
		}
	}
	if (conn->accept_reported)
		return;
	conn->accept_reported = 1; /* two accept hooks may both fire: report once */
	struct tcp_conn *owner = bpf_map_lookup_elem(&listen_owners, &lk);
	if (!owner) {
		/* a listener we never saw (userspace seeds those from /proc at start): the cgroup is still known */
		emit(ctx, TAPIO_KIND_TCP_ACCEPT, sk, conn, TCP_SYN_RECV, TCP_FLAG_OWNER_UNKNOWN);
		return;
	}
	conn->pid = owner->pid;
	conn->tid = owner->tid;
	if (owner->cgroup_id)
		conn->cgroup_id = owner->cgroup_id;
	emit(ctx, TAPIO_KIND_TCP_ACCEPT, sk, conn, TCP_SYN_RECV, 0);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(accept_handshake_btf, const struct sock *sk, const int old_state, const int new_state)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	handle_handshake(ctx, (struct sock *)sk, old_state, new_state);
	return 0;
}

/* Resets: mark the connection so its close record says who reset it. */
static __always_inline void mark_reset(struct sock *sk, __u8 flag)
{
	if (!sk)
		return;
	__u64 key = (__u64)sk;
	struct tcp_conn *conn = bpf_map_lookup_elem(&tcp_conns, &key);
	if (!conn)
		return;
	if (flag == TCP_FLAG_RESET_SENT)
		conn->reset_sent = 1;
	else
		conn->reset_received = 1;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(send_reset_btf, const struct sock *sk)
{
	mark_reset((struct sock *)sk, TCP_FLAG_RESET_SENT);
	return 0;
}

/* tcp_send_reset's record: its BTF type changed name (trace_event_raw_tcp_event_sk_skb until 6.10, then
 * trace_event_raw_tcp_send_reset) but both begin with skbaddr, skaddr; a fixed layout, not CO-RE, so the object
 * builds against either kernel's vmlinux.h (e.g. Debian 6.1's for arm64) and loads on both. */
struct tcp_send_reset_tp {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
};

SEC("tracepoint/tcp/tcp_send_reset")
int send_reset_tp(struct tcp_send_reset_tp *ctx)
{
	mark_reset((struct sock *)ctx->skaddr, TCP_FLAG_RESET_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(receive_reset_btf, struct sock *sk)
{
	mark_reset(sk, TCP_FLAG_RESET_RECEIVED);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int receive_reset_tp(struct trace_event_raw_tcp_event_sk *ctx)
{
	mark_reset((struct sock *)ctx->skaddr, TCP_FLAG_RESET_RECEIVED);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
