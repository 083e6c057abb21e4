/* State of TLS plaintext capture (bpf/tls.bpf.c), kept apart so the program file stays readable: the ring, settings
 * and counters, the per-thread call in flight, per-SSL-object state, socket -> SSL, the processes that use TLS, the
 * thread's last socket read and pending SSL_write, and the per-CPU record scratch. Included by tls.bpf.c only. */
#ifndef TAPIO_TLS_STATE_H
#define TAPIO_TLS_STATE_H

#include "tls.h"

#define AF_INET	    2
#define AF_INET6    10
#define IPPROTO_TCP 6
#define MSG_PEEK    2

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized from config before load */
} tls_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_settings);
} tls_settings_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tls_counters SEC(".maps");

/* The SSL call in flight per thread, with its nesting depth (an exported SSL_* calling another through the PLT). */
struct tls_active {
	struct tls_call call;
	__u32 depth;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct tls_active);
} tls_calls SEC(".maps");

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

/* Processes that made SSL calls: the socket hooks do nothing for anyone else (one lookup). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} tls_procs SEC(".maps");

struct tls_last_io {
	__u64 sk;
	__u64 ns;
};

/* The last socket read per thread (of processes in tls_procs), for TLS_MAP_ADJACENT. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_last_io);
} tls_last_recv SEC(".maps");

/* An SSL_write that returned without a socket: the thread's next socket write is its ciphertext (TLS_MAP_NEXT). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_ssl_key);
} tls_pending_write SEC(".maps");

/* A record being built, one per CPU (an array indexed by CPU: larger than a per-CPU value may be). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256); /* possible CPUs, set before load */
	__type(key, __u32);
	__type(value, struct tls_data_record);
} tls_scratch SEC(".maps");

/* Keep the record structs in the object's BTF for the layout test. */
const struct tls_close_record *unused_tls_close_record __attribute__((unused));

#define TLS_RECORD_HEADER_BYTES __builtin_offsetof(struct tls_data_record, data)

static __always_inline void tls_count(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&tls_counters, &slot);
	if (v)
		*v += n;
}

#endif
