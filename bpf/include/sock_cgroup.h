/* The cgroup id a socket belongs to, on every kernel of the matrix. Since 5.15 struct sock_cgroup_data holds a
 * `cgroup` pointer; before (5.10, bullseye) it was a tagged word `val`: a cgroup pointer when its low bits are clear,
 * otherwise net_cls/net_prio ids, and the socket then counts as the default hierarchy's root (id 1). CO-RE picks the
 * branch at load time: the other one is dead code the verifier never sees. */
#ifndef TAPIO_SOCK_CGROUP_H
#define TAPIO_SOCK_CGROUP_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

struct sock_cgroup_data___tagged {
	__u64 val;
} __attribute__((preserve_access_index));

#define TAPIO_ROOT_CGROUP_ID 1

static __always_inline __u64 tapio_sock_cgroup_id(struct sock *sk)
{
	if (bpf_core_field_exists(struct sock_cgroup_data, cgroup))
		return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	struct sock_cgroup_data___tagged *d = (void *)&sk->sk_cgrp_data;
	__u64 v = BPF_CORE_READ(d, val);
	if (!v || (v & 3))
		return TAPIO_ROOT_CGROUP_ID;
	return BPF_CORE_READ((struct cgroup *)v, kn, id);
}

#endif
