// TLS capture's names for its records (struct tls_data_record, tls_close_record, tls_settings in bpf/include/tls.h).
// Every number comes from the generated layouts (src/kernel/layouts.generated.ts); only enum value names are here.
import * as L from '../../kernel/layouts.generated';

export const KIND_TLS_DATA = L.TAPIO_KIND_TLS_DATA;
export const KIND_TLS_CLOSE = L.TAPIO_KIND_TLS_CLOSE;
export const TLS_DATA_RECORD = L.STRUCTS.tls_data_record;
export const TLS_CLOSE_RECORD = L.STRUCTS.tls_close_record;
export const TLS_SETTINGS = L.STRUCTS.tls_settings;
export const RECORD_DATA_MAX = L.TLS_RECORD_DATA_MAX;
export const DATA_HEADER_BYTES = TLS_DATA_RECORD.fields.data.offset;
export const FLAG_CALL_START = L.TLS_FLAG_CALL_START;
export const FLAG_CALL_END = L.TLS_FLAG_CALL_END;
export const FLAG_READ_FAILED = L.TLS_FLAG_READ_FAILED;
/** tls_close_record.reason: sampling rose and the kernel let the stream go (it may go on, not captured). */
export const CLOSE_SHED = L.TLS_CLOSE_SHED;

function enumNames(e: Record<string, number>, prefix: string): string[] {
  const names: string[] = [];
  for (const [c, v] of Object.entries(e)) if (!c.endsWith('_MAX')) names[v] = c.slice(prefix.length).toLowerCase();
  return names;
}

/** enum tls_func by number: the OpenSSL function the bytes went through. */
export const FUNC_NAMES: readonly string[] = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'];
if (L.TLS_FN_WRITE !== 0 || L.TLS_FN_READ !== 1 || L.TLS_FN_WRITE_EX !== 2 || L.TLS_FN_READ_EX !== 3) {
  throw new Error('enum tls_func changed: update FUNC_NAMES');
}
/** enum tls_map_how by number ('none', 'inside', 'cached', 'adjacent', 'next'). */
export const MAP_HOW_NAMES: readonly string[] = enumNames(L.ENUMS.tls_map_how, 'TLS_MAP_');
/** enum tls_counter slots of the per-CPU tls_counters map, by index. */
export const COUNTER_NAMES: readonly string[] = enumNames(L.ENUMS.tls_counter, 'TLS_CNT_');
