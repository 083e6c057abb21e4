// Byte layout of the network collector's record (struct tcp_record in bpf/include/network.h), as the decoder reads
// it. test/collectors/layout.test.ts checks it against the BTF of bpf/.output/network.bpf.o.
import { HEADER_FIELDS } from '../record-header';

export const KIND_CONNECT = 8;
export const KIND_ACCEPT = 9;
export const KIND_CLOSE = 10;
export const KIND_CONNECT_FAILED = 11;

export const ROLE_CLIENT = 1;
export const ROLE_SERVER = 2;

export const FLAG_RESET_RECEIVED = 1;
export const FLAG_RESET_SENT = 2;
export const FLAG_OWNER_UNKNOWN = 4;

export const AF_INET = 2;
export const AF_INET6 = 10;

export const TCP_RECORD = {
  name: 'tcp_record',
  size: 112,
  fields: {
    ...HEADER_FIELDS,
    start_ns: { offset: 32, size: 8 },
    bytes_sent: { offset: 40, size: 8 },
    bytes_received: { offset: 48, size: 8 },
    srtt_us: { offset: 56, size: 4 },
    retransmits: { offset: 60, size: 4 },
    error: { offset: 64, size: 4 },
    family: { offset: 68, size: 2 },
    local_port: { offset: 70, size: 2 },
    peer_port: { offset: 72, size: 2 },
    role: { offset: 74, size: 1 },
    flags: { offset: 75, size: 1 },
    old_state: { offset: 76, size: 1 },
    local_addr: { offset: 80, size: 16 },
    peer_addr: { offset: 96, size: 16 },
  },
} as const;

/** struct tcp_conn: the per-socket state in the `tcp_conns` LRU map (checked too, though only BPF reads it). */
export const TCP_CONN = {
  name: 'tcp_conn',
  size: 32,
  fields: {
    start_ns: { offset: 0, size: 8 },
    cgroup_id: { offset: 8, size: 8 },
    pid: { offset: 16, size: 4 },
    tid: { offset: 20, size: 4 },
    role: { offset: 24, size: 1 },
    accept_reported: { offset: 25, size: 1 },
    reset_received: { offset: 26, size: 1 },
    reset_sent: { offset: 27, size: 1 },
  },
} as const;
