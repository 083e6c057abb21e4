/* Record layouts of the network collector (bpf/network.bpf.c). The TypeScript offsets, sizes and flags are generated
 * from BTF into src/kernel/layouts.generated.ts (declare new shared types in bpf/testing/layouts.bpf.c and run
 * `npm run gen:layouts`); test/kernel/layouts.test.ts fails when that file is stale. */
#ifndef TAPIO_NETWORK_H
#define TAPIO_NETWORK_H

#include "tapio.h"

/* Which side of the connection this host is. */
enum tcp_role {
	TCP_ROLE_UNKNOWN = 0, /* the connection began before the agent, or its state was evicted */
	TCP_ROLE_CLIENT = 1,  /* we connected (SYN_SENT) */
	TCP_ROLE_SERVER = 2,  /* we accepted (SYN_RECV -> ESTABLISHED) */
};

/* Flags on a record and on the per-connection state (an enum so they are in BTF). */
enum tcp_flag {
	TCP_FLAG_RESET_RECEIVED = 1, /* the peer reset the connection */
	TCP_FLAG_RESET_SENT = 2,     /* we reset the connection */
	TCP_FLAG_OWNER_UNKNOWN =
		4, /* no state for this socket: pid is 0, lifetime unknown (older than the agent, or evicted) */
};

/* One layout for every TCP record kind (connect, accept, close, connect_failed). h.pid/h.tid/h.cgroup_id are the
 * owning process (recorded at connect or accept time), not whoever ran the softirq that changed the state. */
struct tcp_record {
	struct tapio_header h;
	__u64 start_ns;	      /* connect() or establishment (server), boot clock; 0 when unknown */
	__u64 bytes_sent;     /* payload bytes sent, each once (retransmissions not counted twice) */
	__u64 bytes_received; /* payload bytes received (the peer's FIN not counted) */
	__u32 srtt_us;	      /* smoothed RTT, microseconds */
	__u32 retransmits;    /* tcp_sock.total_retrans */
	__s32 error;	      /* sk_err when the record was made: ECONNREFUSED, ETIMEDOUT, ECONNRESET, ... */
	__u16 family;	      /* AF_INET or AF_INET6 */
	__u16 local_port;
	__u16 peer_port;
	__u8 role;	/* enum tcp_role */
	__u8 flags;	/* TCP_FLAG_* */
	__u8 old_state; /* TCP state before the transition that produced the record */
	__u8 pad[3];
	__u8 local_addr[16]; /* IPv4 in the first 4 bytes, or IPv6 (possibly v4-mapped) */
	__u8 peer_addr[16];
};

/* Per-connection state, keyed by the struct sock pointer, in an LRU hash sized from config. */
struct tcp_conn {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u8 role;
	/* One byte per mark, each only ever set to 1 by a single byte store: CPUs marking the same connection at once
	 * cannot undo each other's mark (a shared `flags |= x` read-modify-write could). Atomic OR would need kernel
	 * 5.12 and -mcpu=v3; separate bytes work on every kernel we load on. */
	__u8 accept_reported;
	__u8 reset_received;
	__u8 reset_sent;
	__u8 pad[4];
};

/* Who listens on a port: key of the listen_owners map (the value is a struct tcp_conn with pid, tid, cgroup_id).
 * Written by the kernel at listen() and, for listeners older than the agent, by userspace from /proc at start
 * (src/collectors/network/listeners.ts). The family is not part of the key: a dual-stack listener takes both. */
struct listen_key {
	__u32 netns; /* network namespace inode number */
	__u16 port;  /* local port, host byte order */
	__u16 pad;
};

#endif
