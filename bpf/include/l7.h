/* Record layouts of the request-capture collector (bpf/l7.bpf.c): payload bytes of TCP sends and receives on
 * connections that speak HTTP/1.x or HTTP/2, and the close of such connections. Shared with userspace through
 * bpf/testing/layouts.bpf.c and the generated src/kernel/layouts.generated.ts (`npm run gen:layouts`). */
#ifndef TAPIO_L7_H
#define TAPIO_L7_H

#include "tapio.h"

/* Bytes of payload one record carries at most. A syscall with more to copy is split over several records in
 * stream order (see l7_settings.http2_bytes); the per-CPU scratch is twice this size for the verifier's sake. */
enum l7_sizes {
	L7_RECORD_DATA_MAX = 16384,
};

/* What a connection speaks, decided in the kernel from its first payload bytes. */
enum l7_protocol {
	L7_PROTO_UNKNOWN = 0,	  /* no payload seen yet, or not decided */
	L7_PROTO_HTTP1 = 1,	  /* a request line (GET, POST, ...) or a status line (HTTP/1.x) */
	L7_PROTO_HTTP2 = 2,	  /* the HTTP/2 client preface (PRI * HTTP/2.0) */
	L7_PROTO_UNSUPPORTED = 3, /* none of the above within l7_settings.detect_chunks payloads: skipped from now on */
	L7_PROTO_NOT_ADMITTED = 4, /* sampled out or rate limited (counted once, at detection): skipped */
};

enum l7_direction {
	L7_DIR_SEND = 0, /* the observed process sent these bytes */
	L7_DIR_RECV = 1, /* the observed process received them */
};

/* Which syscall carried the bytes (the shape of its user buffer). */
enum l7_syscall {
	L7_SYS_OTHER = 0, /* sendmmsg, splice, sendfile, io_uring, kernel senders: no user buffer we can read */
	L7_SYS_WRITE = 1,
	L7_SYS_READ = 2,
	L7_SYS_WRITEV = 3,
	L7_SYS_READV = 4,
	L7_SYS_SENDTO = 5,
	L7_SYS_RECVFROM = 6,
	L7_SYS_SENDMSG = 7,
	L7_SYS_RECVMSG = 8,
};

/* Record flags. */
enum l7_flag {
	L7_FLAG_SYSCALL_START = 1, /* data[0] is the syscall's first byte */
	L7_FLAG_SYSCALL_END = 2,   /* the last record of this syscall */
	L7_FLAG_READ_FAILED = 4,   /* copying stopped early: user memory could not be read */
	L7_FLAG_NO_BUFFER = 8,	   /* the syscall's buffer is not reachable (L7_SYS_OTHER): nothing copied */
};

/* Why bytes of a supported connection were not copied; tapio_drops counts these per (kind, reason) too, and
 * l7_counters keeps the byte totals. */
enum l7_counter {
	L7_CNT_RECORDS = 0,	      /* data records sent */
	L7_CNT_BYTES_COPIED = 1,      /* payload bytes copied into records */
	L7_CNT_BYTES_SEEN = 2,	      /* payload bytes of supported connections (copied or not) */
	L7_CNT_BYTES_TRUNCATED = 3,   /* not copied: beyond the configured bytes per syscall */
	L7_CNT_BYTES_RING_FULL = 4,   /* not copied: the ring had no room */
	L7_CNT_BYTES_READ_FAILED = 5, /* not copied: user memory could not be read */
	L7_CNT_BYTES_NO_BUFFER = 6,   /* not copied: syscall without a readable user buffer */
	L7_CNT_CONNS_HTTP1 = 7,	      /* connections detected as HTTP/1.x */
	L7_CNT_CONNS_HTTP2 = 8,	      /* connections detected as HTTP/2 */
	L7_CNT_CONNS_UNSUPPORTED = 9, /* connections found to speak something else */
	L7_CNT_CONNS_NOT_ADMITTED = 10,
	L7_CNT_STATE_FULL = 11,	     /* a connection's state could not be stored */
	L7_CNT_CONNS_SHED = 12,	     /* captured connections let go when sampling rose (l7_shed) */
	L7_CNT_H2_DATA_SKIPPED = 13, /* HTTP/2 DATA payload bytes past the bound passed over by the frame walker */
	L7_CNT_H2_WALK_LOST = 14,    /* directions where the frame walker lost the frame layout (off from then on) */
	L7_CNT_H1_REQUESTS_NOT_CAPTURED = 15, /* request lines seen on HTTP/1 connections sampled out or let go */
	/* HTTP/2 connections sampled out or let go whose requests cannot be counted: the frame layout of the request
	 * direction is not known (joined mid-way, the walker lost or off) or was lost while counting */
	L7_CNT_CONNS_H2_UNCOUNTED = 16,
	L7_CNT_H2_REQUESTS_NOT_CAPTURED = 17, /* streams opened (HEADERS) on HTTP/2 connections sampled out or let go */
	L7_CNT_CONNS_RING_FULL =
		18,		 /* captured connections let go because a record did not fit the ring (l7_ringfull.h) */
	L7_CNT_CLOSES_LOST = 19, /* close records owed to userspace (ring_full) that did not fit even at TCP close */
	L7_CNT_MAX = 20,
};

/* l7_settings[0], written by userspace before attach. */
struct l7_settings {
	__u32 http1_bytes;   /* bytes copied per syscall on HTTP/1 connections */
	__u32 http2_bytes;   /* ... on HTTP/2 connections (header blocks must arrive whole: notes/l7.md) */
	__u32 detect_chunks; /* payloads looked at before a connection is called unsupported */
	__u32 http2_walk;    /* 1: walk HTTP/2 frames past http2_bytes (l7_conn.h2_*) */
};

/* Per-connection state, keyed by the struct sock pointer, in an LRU hash. */
struct l7_conn {
	__u64 start_ns;	    /* when Tapio first saw it (connect, accept, or its first payload) */
	__u64 seq[2];	    /* bytes seen so far per enum l7_direction: the stream offset of the next byte */
	__u8 role;	    /* enum tcp_role (network.h values: 0 unknown, 1 client, 2 server) */
	__u8 protocol;	    /* enum l7_protocol */
	__u8 detect_seen;   /* payloads looked at while the protocol was unknown */
	__u8 skipped_proto; /* what a connection sampled out or let go spoke (its requests are still counted) */
	__u32 kept_every;   /* the 1-in-N sampling of TAPIO_KIND_L7_DATA this connection was last kept under */
	/* HTTP/2 frame walker, per enum l7_direction (l7_copy.h walk_step): where the frame layout is known (the
	 * connection was seen from its first byte), bytes past the per-syscall bound are still walked: frame headers
	 * and every frame but DATA are copied, DATA payload is passed over, so header blocks (HPACK) stay whole.
	 * On a connection not captured the same state counts requests (l7_h2count.h), in the request direction only. */
	__u32 h2_left[2];    /* bytes of the current frame's payload (or the client preface) not yet passed */
	__u32 h2_streams[2]; /* the largest odd stream id a HEADERS frame carried (the newest client stream) */
	__u8 h2_walk[2];     /* 1: layout known in this direction (not captured: counted in this direction) */
	__u8 h2_have[2];     /* bytes of the next frame header seen so far (a header may straddle syscalls) */
	__u8 h2_type[2];     /* the current frame's type (L7_H2_PREFACE for the client preface) */
	__u8 close_owed;     /* 1: let go because the ring was full, and userspace's close record is not sent yet */
	__u8 pad;
	__u8 h2_hdr[2][16]; /* those header bytes */
};

enum l7_h2 {
	L7_H2_FRAME_HEADER = 9,
	L7_H2_PREFACE_BYTES = 24,
	L7_H2_TYPE_DATA = 0,
	L7_H2_TYPE_HEADERS = 1,
	L7_H2_PREFACE = 255, /* the client preface, walked as one frame of 24 bytes */
};

/* One piece of one syscall's payload. On the ring only header + `copied` bytes of data[] are present
 * (h.size says so). Userspace keys a connection by (sock, conn_start_ns). */
struct l7_data_record {
	struct tapio_header h;
	__u64 sock; /* struct sock pointer */
	__u64 conn_start_ns;
	__u64 seq;	   /* stream offset (in this direction) of data[0] */
	__u64 syscall_seq; /* stream offset of the syscall's first byte */
	__u32 syscall_len; /* the syscall's full byte count */
	__u32 copied;	   /* bytes in data[] */
	__u16 family;	   /* AF_INET or AF_INET6 */
	__u16 local_port;
	__u16 peer_port;
	__u8 direction; /* enum l7_direction */
	__u8 role;	/* enum tcp_role */
	__u8 protocol;	/* enum l7_protocol */
	__u8 flags;	/* L7_FLAG_* */
	__u8 syscall;	/* enum l7_syscall */
	__u8 pad[5];
	__u8 local_addr[16];
	__u8 peer_addr[16];
	__u8 data[L7_RECORD_DATA_MAX];
};

/* The end of a captured connection: userspace closes its session. */
struct l7_close_record {
	struct tapio_header h;
	__u64 sock;
	__u64 conn_start_ns;
	__u64 sent;	/* stream length sent (seq[L7_DIR_SEND] at close) */
	__u64 received; /* stream length received */
	__u8 role;
	__u8 protocol;
	__u8 reason; /* enum l7_close_reason */
	__u8 pad[5];
};

/* Why a captured connection ends for userspace. */
enum l7_close_reason {
	L7_CLOSE_TCP = 0,	/* the socket closed */
	L7_CLOSE_SHED = 1,	/* sampling of l7 data rose and this connection was let go (still open; not captured) */
	L7_CLOSE_RING_FULL = 2, /* a record did not fit the ring: let go from that byte on (still open; not captured) */
};

#endif
