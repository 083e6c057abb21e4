// The request-capture collector's names for its records (struct l7_data_record, l7_close_record, l7_conn and
// l7_settings in bpf/include/l7.h). Every number comes from the generated layouts (src/kernel/layouts.generated.ts);
// only the names of enum values are written here.
import * as L from '../../kernel/layouts.generated';

export const KIND_L7_DATA = L.TAPIO_KIND_L7_DATA;
export const KIND_L7_CLOSE = L.TAPIO_KIND_L7_CLOSE;
/** l7_close_record.reason: the kernel let a still-open connection go (sampling rose). */
export const CLOSE_SHED = L.L7_CLOSE_SHED;
/** l7_close_record.reason: a record did not fit the ring and the kernel let the still-open connection go. */
export const CLOSE_RING_FULL = L.L7_CLOSE_RING_FULL;
if (L.TLS_CLOSE_SHED !== CLOSE_SHED || L.TLS_CLOSE_RING_FULL !== CLOSE_RING_FULL) throw new Error('tls_close_reason and l7_close_reason differ: update closeReason');

export const RECORD_DATA_MAX = L.L7_RECORD_DATA_MAX;

export const PROTO_UNKNOWN = L.L7_PROTO_UNKNOWN;
export const PROTO_HTTP1 = L.L7_PROTO_HTTP1;
export const PROTO_HTTP2 = L.L7_PROTO_HTTP2;

export const DIR_SEND = L.L7_DIR_SEND;
export const DIR_RECV = L.L7_DIR_RECV;

export const FLAG_SYSCALL_START = L.L7_FLAG_SYSCALL_START;
export const FLAG_SYSCALL_END = L.L7_FLAG_SYSCALL_END;
export const FLAG_READ_FAILED = L.L7_FLAG_READ_FAILED;
export const FLAG_NO_BUFFER = L.L7_FLAG_NO_BUFFER;

export const L7_DATA_RECORD = L.STRUCTS.l7_data_record;
export const L7_CLOSE_RECORD = L.STRUCTS.l7_close_record;
export const L7_CONN = L.STRUCTS.l7_conn;
export const L7_SETTINGS = L.STRUCTS.l7_settings;

/** Bytes before data[] in a data record. */
export const DATA_HEADER_BYTES = L7_DATA_RECORD.fields.data.offset;

/** enum l7_syscall, by number: L7_SYS_WRITE is 'write', and so on. */
export const SYSCALL_NAMES: readonly string[] = enumNames(L.ENUMS.l7_syscall, 'L7_SYS_');

/** enum l7_counter slots of the per-CPU l7_counters map, by index (L7_CNT_CONNS_HTTP1 is 'connections_http1'). */
export const COUNTER_NAMES: readonly string[] = enumNames(L.ENUMS.l7_counter, 'L7_CNT_').map((n) => n.replace(/^conns_/, 'connections_'));
export const COUNTER_SLOTS = L.L7_CNT_MAX;

function enumNames(e: Record<string, number>, prefix: string): string[] {
  const names: string[] = [];
  for (const [c, v] of Object.entries(e)) if (!c.endsWith('_MAX')) names[v] = c.slice(prefix.length).toLowerCase();
  return names;
}
