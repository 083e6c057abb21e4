// The header every BPF record starts with (struct tapio_header in bpf/include/tapio.h), shared by all decoders.
// Offsets are checked against the compiled objects' BTF by test/collectors/layout.test.ts.
import type { FieldLayout } from '../kernel/btf-layout';

export const HEADER_SIZE = 32;

/** Header fields as they appear inside a record whose header member is named `h`. */
export const HEADER_FIELDS: Record<string, FieldLayout> = {
  'h.kind': { offset: 0, size: 4 },
  'h.size': { offset: 4, size: 4 },
  'h.ts_ns': { offset: 8, size: 8 },
  'h.cgroup_id': { offset: 16, size: 8 },
  'h.pid': { offset: 24, size: 4 },
  'h.tid': { offset: 28, size: 4 },
};

export interface RecordHeader {
  kind: number;
  size: number;
  tsNs: bigint;
  cgroupId: bigint;
  pid: number;
  tid: number;
}

/** Reads the header at `offset`; the caller has checked that at least HEADER_SIZE bytes are there. */
export function readHeader(view: DataView, offset: number): RecordHeader {
  return {
    kind: view.getUint32(offset, true),
    size: view.getUint32(offset + 4, true),
    tsNs: view.getBigUint64(offset + 8, true),
    cgroupId: view.getBigUint64(offset + 16, true),
    pid: view.getUint32(offset + 24, true),
    tid: view.getUint32(offset + 28, true),
  };
}

/** A NUL-terminated string inside a fixed-size field (at most `max` bytes), decoded as UTF-8. */
export function readCString(view: DataView, offset: number, max: number): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, max);
  let end = bytes.indexOf(0);
  if (end < 0) end = max;
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('utf8');
}

/** Cgroup ids are inode numbers: exact as a JS number below 2^53, which covers every real system. */
export function cgroupAttribute(id: bigint): number | string {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id.toString();
}
