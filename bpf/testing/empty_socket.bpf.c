/* For benchmarks only: programs on the socket-length tracepoints that do nothing, the floor under request capture's
 * cost (bench/requests-kernel-tax.ts): what any program attached there costs every socket syscall of the node. */
#include "tapio.h"

SEC("tp_btf/sock_send_length")
int BPF_PROG(empty_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(empty_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
