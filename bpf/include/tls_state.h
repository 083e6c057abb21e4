/* State of TLS plaintext capture (bpf/tls.bpf.c), kept apart so the program file stays readable: the ring, settings
 * and the per-CPU record scratch; the state shared with request capture's socket programs (counters, per-SSL-object
 * state, socket -> SSL, per thread and per process) is in tls_sockets.h. Included by tls.bpf.c only. */
#ifndef TAPIO_TLS_STATE_H
#define TAPIO_TLS_STATE_H

#include "tls.h"
#include "tls_sockets.h"

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

#endif
