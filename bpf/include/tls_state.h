/* State of TLS plaintext capture (bpf/tls.bpf.c), kept apart so the program file stays readable: the ring, settings
 * and counters, per-SSL-object state, socket -> SSL, per thread the call in flight, the last socket read and a
 * pending SSL_write, the processes that use TLS, and the per-CPU record scratch. Included by tls.bpf.c only. */
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

/* The SSL call in flight, with its nesting depth (an exported SSL_* calling another through the PLT). */
struct tls_active {
	struct tls_call call;
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

/* Per thread, in the thread's own storage: found through the current task in ~12 ns, where a hash keyed by
 * pid_tgid costs ~75-150 ns, and every socket syscall of a process that uses TLS looks here; gone with the thread. */
struct tls_thread {
	struct tls_active active;	  /* the SSL call in flight (in_call) */
	struct tls_last_io last_recv;	  /* the last socket read (has_recv), for TLS_MAP_ADJACENT */
	struct tls_ssl_key pending_write; /* an SSL_write that returned without a socket (pending): the thread's
					   * next socket write is its ciphertext (TLS_MAP_NEXT) */
	__u8 in_call;
	__u8 has_recv;
	__u8 pending;
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

/* Processes that made SSL calls, marked in their main thread's storage: the socket hooks of every other process
 * stop after this one lookup (every socket syscall of the node makes it). Gone with the process. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u8);
} tls_procs SEC(".maps");

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
