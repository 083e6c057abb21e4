// The header every BPF record starts with (struct tapio_header in bpf/include/tapio.h), shared by all decoders.
// Offsets come from the generated layouts (src/kernel/layouts.generated.ts).
import { STRUCTS } from '../kernel/layouts.generated';

const H = STRUCTS.tapio_header.fields;
export const HEADER_SIZE = STRUCTS.tapio_header.size;

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
    kind: view.getUint32(offset + H.kind.offset, true),
    size: view.getUint32(offset + H.size.offset, true),
    tsNs: view.getBigUint64(offset + H.ts_ns.offset, true),
    cgroupId: view.getBigUint64(offset + H.cgroup_id.offset, true),
    pid: view.getUint32(offset + H.pid.offset, true),
    tid: view.getUint32(offset + H.tid.offset, true),
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
