// Byte layout of the request-capture records (struct l7_data_record, l7_close_record, l7_conn and l7_settings in
// bpf/include/l7.h), as the decoder reads them. test/collectors/layout.test.ts checks them against the BTF of
// bpf/.output/l7.bpf.o.
import { HEADER_FIELDS } from '../record-header';

export const KIND_L7_DATA = 60;
export const KIND_L7_CLOSE = 61;

export const RECORD_DATA_MAX = 16384;
/** Bytes before data[] in a data record. */
export const DATA_HEADER_BYTES = 120;

export const PROTO_UNKNOWN = 0;
export const PROTO_HTTP1 = 1;
export const PROTO_HTTP2 = 2;

export const DIR_SEND = 0;
export const DIR_RECV = 1;

export const FLAG_SYSCALL_START = 1;
export const FLAG_SYSCALL_END = 2;
export const FLAG_READ_FAILED = 4;
export const FLAG_NO_BUFFER = 8;

/** enum l7_syscall, by number. */
export const SYSCALL_NAMES = ['other', 'write', 'read', 'writev', 'readv', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg'] as const;

/** enum l7_counter slots of the per-CPU l7_counters map, by name. */
export const COUNTER_NAMES = [
  'records', 'bytes_copied', 'bytes_seen', 'bytes_truncated', 'bytes_ring_full', 'bytes_read_failed',
  'bytes_no_buffer', 'connections_http1', 'connections_http2', 'connections_unsupported',
  'connections_not_admitted', 'state_full',
] as const;
export const COUNTER_SLOTS = 16;

export const L7_DATA_RECORD = {
  name: 'l7_data_record',
  size: 120 + RECORD_DATA_MAX,
  fields: {
    ...HEADER_FIELDS,
    sock: { offset: 32, size: 8 },
    conn_start_ns: { offset: 40, size: 8 },
    seq: { offset: 48, size: 8 },
    syscall_seq: { offset: 56, size: 8 },
    syscall_len: { offset: 64, size: 4 },
    copied: { offset: 68, size: 4 },
    family: { offset: 72, size: 2 },
    local_port: { offset: 74, size: 2 },
    peer_port: { offset: 76, size: 2 },
    direction: { offset: 78, size: 1 },
    role: { offset: 79, size: 1 },
    protocol: { offset: 80, size: 1 },
    flags: { offset: 81, size: 1 },
    syscall: { offset: 82, size: 1 },
    local_addr: { offset: 88, size: 16 },
    peer_addr: { offset: 104, size: 16 },
    data: { offset: 120, size: RECORD_DATA_MAX },
  },
} as const;

export const L7_CLOSE_RECORD = {
  name: 'l7_close_record',
  size: 72,
  fields: {
    ...HEADER_FIELDS,
    sock: { offset: 32, size: 8 },
    conn_start_ns: { offset: 40, size: 8 },
    sent: { offset: 48, size: 8 },
    received: { offset: 56, size: 8 },
    role: { offset: 64, size: 1 },
    protocol: { offset: 65, size: 1 },
  },
} as const;

export const L7_CONN = {
  name: 'l7_conn',
  size: 32,
  fields: {
    start_ns: { offset: 0, size: 8 },
    seq: { offset: 8, size: 16 },
    role: { offset: 24, size: 1 },
    protocol: { offset: 25, size: 1 },
    detect_seen: { offset: 26, size: 1 },
  },
} as const;

export const L7_SETTINGS = {
  name: 'l7_settings',
  size: 16,
  fields: {
    http1_bytes: { offset: 0, size: 4 },
    http2_bytes: { offset: 4, size: 4 },
    detect_chunks: { offset: 8, size: 4 },
  },
} as const;
