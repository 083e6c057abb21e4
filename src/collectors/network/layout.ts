// The network collector's names for its record (struct tcp_record in bpf/include/network.h), its per-connection
// state and its flags. Every number of ours comes from the generated layouts (src/kernel/layouts.generated.ts).
import * as L from '../../kernel/layouts.generated';

export const KIND_CONNECT = L.TAPIO_KIND_TCP_CONNECT;
export const KIND_ACCEPT = L.TAPIO_KIND_TCP_ACCEPT;
export const KIND_CLOSE = L.TAPIO_KIND_TCP_CLOSE;
export const KIND_CONNECT_FAILED = L.TAPIO_KIND_TCP_CONNECT_FAILED;

export const ROLE_CLIENT = L.TCP_ROLE_CLIENT;
export const ROLE_SERVER = L.TCP_ROLE_SERVER;

export const FLAG_RESET_RECEIVED = L.TCP_FLAG_RESET_RECEIVED;
export const FLAG_RESET_SENT = L.TCP_FLAG_RESET_SENT;
export const FLAG_OWNER_UNKNOWN = L.TCP_FLAG_OWNER_UNKNOWN;

/** Address families (the kernel's AF_* numbers, part of the Linux ABI, not of our headers). */
export const AF_INET = 2;
export const AF_INET6 = 10;

export const TCP_RECORD = L.STRUCTS.tcp_record;
/** struct tcp_conn: the per-socket state in the `tcp_conns` LRU map (only BPF reads it today). */
export const TCP_CONN = L.STRUCTS.tcp_conn;
