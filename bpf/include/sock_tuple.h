/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A TCP socket's addresses as every record that names a connection carries them (network, l7 and tls records all
 * have family, local_port, peer_port, local_addr[16], peer_addr[16]), and the "is this a TCP/IP socket" check that
 * request capture and TLS share. */
#ifndef TAPIO_SOCK_TUPLE_H
#define TAPIO_SOCK_TUPLE_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Fills r's tuple from sk (not NULL). A macro because the three record structs differ around the same field names.
 * inet_sport, not skc_num: the close transition releases the port (skc_num = 0) before the tracepoint runs. */
#define TAPIO_READ_SOCK_TUPLE(r, sk)                                                              \
	do {                                                                                      \
		__u16 family_ = BPF_CORE_READ((sk), __sk_common.skc_family);                      \
		(r)->family = family_;                                                            \
		(r)->local_port = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)(sk), inet_sport)); \
		(r)->peer_port = bpf_ntohs(BPF_CORE_READ((sk), __sk_common.skc_dport));           \
		__builtin_memset((r)->local_addr, 0, sizeof((r)->local_addr));                    \
		__builtin_memset((r)->peer_addr, 0, sizeof((r)->peer_addr));                      \
		if (family_ == AF_INET) {                                                         \
			bpf_core_read((r)->local_addr, 4, &(sk)->__sk_common.skc_rcv_saddr);      \
			bpf_core_read((r)->peer_addr, 4, &(sk)->__sk_common.skc_daddr);           \
		} else {                                                                          \
			bpf_core_read((r)->local_addr, 16, &(sk)->__sk_common.skc_v6_rcv_saddr);  \
			bpf_core_read((r)->peer_addr, 16, &(sk)->__sk_common.skc_v6_daddr);       \
		}                                                                                 \
	} while (0)

static __always_inline bool tapio_is_tcp_ip(struct sock *sk)
{
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return false;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return family == AF_INET || family == AF_INET6;
}

/* The same check for a typed socket (a tp_btf argument): plain loads, no probe-read helper calls. */
static __always_inline bool tapio_is_tcp_ip_typed(struct sock *sk)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return false;
	__u16 family = sk->__sk_common.skc_family;
	return family == AF_INET || family == AF_INET6;
}

#endif
