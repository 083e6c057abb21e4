/* TLS capture's socket side, shared by two objects: bpf/tls.bpf.c (uprobes on OpenSSL: the call in flight, per-SSL
 * state) and bpf/l7.bpf.c, whose socket-length programs (tp_btf sock_send_length / sock_recv_length), which run on
 * every socket syscall of the node anyway, also learn here which socket an SSL object is on. One program per
 * syscall instead of two: each attached program costs ~80 ns a run here before it does anything. The maps are
 * created by the l7 object and reused by the TLS object (CollectorSpec.reuseMaps), so both must be built from this
 * header. Which socket an SSL object is on, from socket I/O on the same thread:
 *  - inside the SSL call (libssl's socket BIO: curl, nginx, Python) -> TLS_MAP_INSIDE;
 *  - Node's memory BIO reads ciphertext before SSL_read (-> TLS_MAP_ADJACENT: the thread's last socket read, if
 *    recent) and writes it after SSL_write returns (-> TLS_MAP_NEXT: the thread's next socket write). */
#ifndef TAPIO_TLS_SOCKETS_H
#define TAPIO_TLS_SOCKETS_H

#include "tls.h"
#include "sock_tuple.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tls_counters SEC(".maps");

/* The SSL call in flight, with its nesting depth (an exported SSL_* calling another through the PLT). */
struct tls_active {
	struct tls_call call;
	__u64 sp; /* the stack pointer at its entry: a call entered deeper is nested in it, one that is not means this
		   * call returned without our return probe (attached after it began, or detached meanwhile) */
	__u32 depth;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* resized from config before load */
	__type(key, struct tls_ssl_key);
	__type(value, struct tls_ssl_state);
} tls_ssl SEC(".maps");

/* socket -> the SSL object on it, to end the stream when the socket closes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tls_ssl_key);
} tls_socks SEC(".maps");

struct tls_last_io {
	__u64 sk;
	__u64 ns;
};

/* Per thread that made SSL calls, in the thread's own storage: found through the current task in ~12 ns, where a
 * hash keyed by pid_tgid costs ~75-150 ns; every socket syscall of the node looks here; gone with the thread. */
struct tls_thread {
	struct tls_active active;	  /* the SSL call in flight (in_call) */
	struct tls_last_io last_recv;	  /* the last socket read (has_recv), for TLS_MAP_ADJACENT */
	struct tls_ssl_key pending_write; /* an SSL_write that returned without a socket (pending): the thread's
					   * next socket write is its ciphertext (TLS_MAP_NEXT) */
	__u8 in_call;
	__u8 has_recv;
	__u8 pending;
	__u8 epoch; /* tls_settings.epoch of the last SSL call entered (low 8 bits): a call left open by a pause is
		     * forgotten */
	__u8 pad[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

/* Slot 0: 1 while some SSL probe is attached (TLS capture writes it as it attaches, pauses, resumes and lets files
 * go). Socket I/O learns nothing while it is 0: no SSL call is seen then, so nothing would use what it learnt, and the
 * lookups below cost every socket syscall of the node ~40 ns (measured, wrk -> node https: 170 against 210 ns a run
 * with run-time stats on). An array's slot is a few instructions once the verifier inlines the lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tls_probes_live SEC(".maps");

static __always_inline void tls_count(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tls_counters, &slot);
	if (v)
		*v += n;
}

static __always_inline void bind_socket(struct tls_ssl_state *st, const struct tls_ssl_key *key, __u64 sk)
{
	if (st->sk == sk)
		return;
	st->sk = sk;
	bpf_map_update_elem(&tls_socks, &sk, key, BPF_ANY);
}

/* `len` bytes went through typed socket `sk` in `dir` (0 send, 1 receive) on the current thread. */
static __always_inline void tls_on_sock_io(struct sock *sk, __u8 dir)
{
	/* Only threads that made SSL calls have this storage (enter() makes it): for every other thread of the node
	 * this one lookup in the current task is all. (A mark per process, in its main thread, cost ~35 ns more a run:
	 * another task's cache lines. The price: a thread's socket reads before its first SSL call are not remembered,
	 * and Node's first SSL_read, before the handshake's reads, is such a call.) */
	__u32 zero = 0;
	__u32 *live = bpf_map_lookup_elem(&tls_probes_live, &zero);
	if (!live || !*live)
		return;
	struct tls_thread *t = bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(), 0, 0);
	if (!t || !tapio_is_tcp_ip_typed(sk))
		return;
	__u64 s = (__u64)sk;
	if (t->in_call) {
		if (!t->active.call.sk)
			t->active.call.sk = s;
		return;
	}
	if (dir == 1) {
		t->last_recv.sk = s;
		t->last_recv.ns = bpf_ktime_get_boot_ns();
		t->has_recv = 1;
		return;
	}
	if (!t->pending)
		return;
	struct tls_ssl_key key = t->pending_write;
	t->pending = 0;
	struct tls_ssl_state *st = bpf_map_lookup_elem(&tls_ssl, &key);
	if (st && !st->sk) {
		bind_socket(st, &key, s);
		tls_count(TLS_CNT_MAPPED_NEXT, 1); /* SSL objects bound this way; their later calls count as cached */
	}
}

#endif
