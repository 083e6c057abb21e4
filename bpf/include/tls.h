/* Record layouts of TLS plaintext capture (bpf/tls.bpf.c): the bytes an application handed to SSL_write or got
 * from SSL_read (OpenSSL 1.1 and 3, shared libssl or a binary that exports the symbols, like node), with the SSL
 * object, the process and, when it could be learnt, the socket. Same family as l7.h: a tapio_header, the stream
 * offset per direction, the 4-tuple, then data[]. Shared with userspace through bpf/testing/layouts.bpf.c and the
 * generated src/kernel/layouts.generated.ts (`npm run gen:layouts`). */
#ifndef TAPIO_TLS_H
#define TAPIO_TLS_H

#include "tapio.h"

enum tls_sizes {
	TLS_RECORD_DATA_MAX = 16384, /* bytes one record carries; a larger call is split over records in order */
	TLS_CALL_BYTES_MAX = 65536,  /* the most bytes copied of one call (tls_settings.bytes_per_call is capped) */
};

/* Which function the bytes went through. */
enum tls_func {
	TLS_FN_WRITE = 0,
	TLS_FN_READ = 1,
	TLS_FN_WRITE_EX = 2,
	TLS_FN_READ_EX = 3,
};

/* How the SSL object's socket was learnt (record field `mapped`). */
enum tls_map_how {
	TLS_MAP_NONE = 0,     /* not known: the record is reported with the process only ("unmapped") */
	TLS_MAP_INSIDE = 1,   /* a socket syscall on this thread inside the SSL call (curl, nginx, Python) */
	TLS_MAP_CACHED = 2,   /* learnt earlier for this SSL object */
	TLS_MAP_ADJACENT = 3, /* the socket read on this thread just before SSL_read (memory BIOs: Node) */
	TLS_MAP_NEXT = 4,     /* the first socket write on this thread after SSL_write returned (Node) */
};

/* Record flags. */
enum tls_flag {
	TLS_FLAG_CALL_START = 1,  /* data[0] is the call's first byte */
	TLS_FLAG_CALL_END = 2,	  /* the last record of this call */
	TLS_FLAG_READ_FAILED = 4, /* copying stopped early: user memory could not be read */
};

/* Per-CPU counters (tls_counters), named in src/collectors/tls/layout.ts. */
enum tls_counter {
	TLS_CNT_CALLS = 0,	     /* SSL_read/SSL_write calls that returned bytes */
	TLS_CNT_CALLS_EMPTY = 1,     /* calls that returned no bytes (want read/write, errors, handshake) */
	TLS_CNT_RECORDS = 2,	     /* data records sent */
	TLS_CNT_BYTES_COPIED = 3,    /* plaintext bytes copied */
	TLS_CNT_BYTES_SEEN = 4,	     /* plaintext bytes returned by the calls */
	TLS_CNT_BYTES_TRUNCATED = 5, /* beyond tls_settings.bytes_per_call */
	TLS_CNT_BYTES_RING_FULL = 6, /* the ring had no room */
	TLS_CNT_BYTES_READ_FAILED = 7,
	TLS_CNT_MAPPED_INSIDE = 8, /* calls mapped to a socket, per enum tls_map_how */
	TLS_CNT_MAPPED_CACHED = 9,
	TLS_CNT_MAPPED_ADJACENT = 10,
	TLS_CNT_MAPPED_NEXT = 11, /* SSL objects bound by the next socket write (their calls count as cached) */
	TLS_CNT_UNMAPPED = 12,	  /* calls reported without a socket */
	TLS_CNT_STATE_FULL = 13,  /* a state map had no room */
	TLS_CNT_NESTED =
		14, /* an SSL call entered while another was active on the thread (counted, only the outer is captured) */
	TLS_CNT_STREAMS_NOT_ADMITTED = 15, /* SSL streams sampled out or rate limited when first seen */
	TLS_CNT_STREAMS_SHED = 16,	   /* captured SSL streams let go when sampling rose */
	TLS_CNT_STREAMS_RING_FULL = 17,	   /* captured SSL streams let go because a record did not fit (tls_letgo.h) */
	TLS_CNT_H1_REQUESTS_NOT_CAPTURED = 18, /* request lines in calls of HTTP/1 streams not captured */
	/* streams not captured that speak HTTP/2: their requests are not counted (TLS frames are not walked) */
	TLS_CNT_STREAMS_H2_UNCOUNTED = 19,
	TLS_CNT_CLOSES_LOST = 20, /* close records owed to userspace (ring_full) that did not fit even at the end */
	TLS_CNT_PROBE_HITS = 21,  /* entry probes that fired: SSL calls of every probed process (each one a breakpoint
				   * trap the calling process pays, captured or not: the probe duty cycle's measure) */
	TLS_CNT_STREAMS_RESTARTED = 22, /* SSL objects seen again after the probes were paused (tls_settings.epoch):
					 * taken up as new streams, from their next call */
	TLS_CNT_STREAMS_H2_NOT_RESUMED = 23, /* ... except HTTP/2 ones: their HPACK state was missed, so they stay not
					      * captured (also counted as TLS_CNT_STREAMS_H2_UNCOUNTED) */
	TLS_CNT_CALLS_UNRETURNED = 24,	     /* a call in flight whose return the probes missed (they were attached or
					* detached in between): forgotten when the thread's next call is not inside it */
	TLS_CNT_STREAMS_WINDOW_SAMPLED = 25, /* SSL streams not captured in a duty-cycle window (tls_settings
					      * .window_every): the agent's decoding of a window held within its budget */
	TLS_CNT_MAX = 32,
};

/* tls_settings_map[0], written by userspace before the uprobes are attached. */
struct tls_settings {
	__u32 bytes_per_call; /* plaintext bytes copied per call, at most TLS_CALL_BYTES_MAX */
	__u32 adjacent_ns;    /* how recent the thread's last socket read may be to map an SSL_read to it */
	__u32 self_tgid;      /* the agent itself (a node process: its own TLS calls are not captured) */
	__u32 epoch;	      /* raised by userspace each time the probes are attached again after a pause: state of
			       * an SSL object or a thread from before it is stale (calls were missed meanwhile) */
	__u32 window_every;   /* 1 of N streams captured while the probes run in duty-cycle windows (0 or 1: all),
			       * set from what decoding the last window cost (src/collectors/tls/duty.ts) */
};

/* An SSL call in flight on a thread (key: pid_tgid). */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr; /* size_t * of the _ex functions (bytes done), else 0 */
	__u64 sk;      /* a socket this thread did I/O on during the call */
	__u8 func;     /* enum tls_func */
	__u8 pad[3];
	__u32 lib; /* the attach cookie of the entry probe: which attached file (userspace numbers them) */
};

/* Per SSL object, keyed by (tgid, SSL pointer). */
struct tls_ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

struct tls_ssl_state {
	__u64 sk;	  /* the socket, 0 while unknown */
	__u64 seq[2];	  /* plaintext bytes so far per direction (l7_direction values: 0 send, 1 recv) */
	__u64 start_ns;	  /* first seen */
	__u32 kept_every; /* the 1-in-N sampling of TAPIO_KIND_TLS_DATA it was last kept under */
	__u8 skipped;	  /* sampled out (at first sight, or let go since): calls are not copied */
	__u8 proto;	  /* what the plaintext speaks, from its first bytes: enum l7_protocol (0: not looked at yet) */
	__u8 close_owed;  /* 1: let go with the ring full, and userspace's close record is not sent yet */
	__u8 epoch;	  /* tls_settings.epoch when first seen (low 8 bits) */
};

/* One piece of one call's plaintext. On the ring only header + `copied` bytes of data[] are present. Userspace keys
 * the stream by (pid, ssl, start_ns). */
struct tls_data_record {
	struct tapio_header h;
	__u64 ssl;	/* the SSL object's address in the process */
	__u64 sock;	/* struct sock pointer, 0 when unmapped */
	__u64 start_ns; /* when this SSL object was first seen */
	__u64 seq;	/* stream offset (in this direction) of data[0] */
	__u64 call_seq; /* stream offset of the call's first byte */
	__u32 call_len; /* bytes the call returned */
	__u32 copied;	/* bytes in data[] */
	__u16 family;	/* AF_INET or AF_INET6; 0 when unmapped */
	__u16 local_port;
	__u16 peer_port;
	__u8 direction; /* l7_direction values: 0 the process sent (SSL_write), 1 it received (SSL_read) */
	__u8 func;	/* enum tls_func */
	__u8 mapped;	/* enum tls_map_how */
	__u8 flags;	/* TLS_FLAG_* */
	__u8 pad[2];
	__u32 lib; /* which attached file made the call (tls_call.lib) */
	__u8 local_addr[16];
	__u8 peer_addr[16];
	__u8 data[TLS_RECORD_DATA_MAX];
};

/* The end of an SSL stream: its socket closed (or SSL_free). Userspace closes the session. */
struct tls_close_record {
	struct tapio_header h;
	__u64 ssl;
	__u64 sock;
	__u64 start_ns;
	__u64 sent;
	__u64 received;
	__u8 reason; /* enum tls_close_reason */
	__u8 pad[7];
};

/* Why a stream ends for userspace. */
enum tls_close_reason {
	TLS_CLOSE_END = 0,	 /* SSL_free or the socket closed */
	TLS_CLOSE_SHED = 1,	 /* sampling rose and the stream was let go (the connection may go on, not captured) */
	TLS_CLOSE_RING_FULL = 2, /* a record did not fit the ring: let go from that byte on (may go on, not captured) */
};

#endif
