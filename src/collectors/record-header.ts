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

// One Buffer over the batch being decoded, made once per batch rather than once per string: decoders read many short
// strings from each record, and a Uint8Array plus a Buffer per string was most of their allocations. Holds only the
// last batch's buffer (every batch keeps its own buffer, see src/kernel/ring.ts).
let lastBuffer: ArrayBufferLike | undefined;
let lastBytes: Buffer = Buffer.alloc(0);

/** A Buffer over all of `view`'s ArrayBuffer (offsets in it are view.byteOffset + offset). */
export function batchBytes(view: DataView): Buffer {
  if (view.buffer !== lastBuffer) {
    lastBuffer = view.buffer;
    lastBytes = Buffer.from(view.buffer);
  }
  return lastBytes;
}

/** A NUL-terminated string inside a fixed-size field (at most `max` bytes), decoded as UTF-8. */
export function readCString(view: DataView, offset: number, max: number): string {
  const bytes = batchBytes(view);
  const start = view.byteOffset + offset;
  const limit = Math.min(start + max, bytes.length);
  let end = start;
  while (end < limit && bytes[end] !== 0) end++; // bounded by the field, never the rest of the batch
  return bytes.toString('utf8', start, end);
}

/** Cgroup ids are inode numbers: exact as a JS number below 2^53, which covers every real system. */
export function cgroupAttribute(id: bigint): number | string {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id.toString();
}
