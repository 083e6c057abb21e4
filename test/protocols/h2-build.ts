// Test helper: builds HTTP/2 frames and HPACK header blocks byte by byte (plain literals, indexed fields, table
// size updates), so unit tests can put exactly the frames an edge case needs on the wire.
import type { CapturedChunk } from '../../src/protocols/session';
import { PREFACE } from '../../src/protocols/http2-frames';

export { PREFACE };

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type; h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

function int(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByteFlags | value];
  const out = [firstByteFlags | max];
  let v = value - max;
  while (v >= 128) { out.push((v % 128) + 128); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}

function str(s: string): number[] {
  const b = Buffer.from(s, 'latin1');
  return [...int(b.length, 7, 0), ...b];
}

/** HPACK representations. */
export const hp = {
  indexed: (i: number) => int(i, 7, 0x80),
  /** Literal with incremental indexing, new name. */
  insert: (name: string, value: string) => [0x40, ...str(name), ...str(value)],
  /** Literal with incremental indexing, indexed name. */
  insertIdx: (nameIndex: number, value: string) => [...int(nameIndex, 6, 0x40), ...str(value)],
  /** Literal without indexing, new name. */
  literal: (name: string, value: string) => [0x00, ...str(name), ...str(value)],
  literalIdx: (nameIndex: number, value: string) => [...int(nameIndex, 4, 0x00), ...str(value)],
  sizeUpdate: (n: number) => int(n, 5, 0x20),
};

export function block(...fields: number[][]): Buffer {
  return Buffer.from(fields.flat());
}

export const T = { DATA: 0, HEADERS: 1, RST: 3, SETTINGS: 4, GOAWAY: 7, CONTINUATION: 9 } as const;
export const F = { END_STREAM: 1, END_HEADERS: 4, PADDED: 8 } as const;

/** A gRPC length-prefixed message. */
export function grpcMessage(body: string): Buffer {
  const b = Buffer.from(body);
  const h = Buffer.alloc(5);
  h.writeUInt32BE(b.length, 1);
  return Buffer.concat([h, b]);
}

let clock = 1_000_000n;
/** A chunk as the capture would hand it over, observed at the client; `cut` bytes at the end not copied. */
export function chunk(direction: 'send' | 'recv', ...parts: Uint8Array[]): CapturedChunk {
  const data = Buffer.concat(parts);
  clock += 1000n;
  return { direction, data, length: data.length, timeNs: clock };
}

export function cut(c: CapturedChunk, keep: number): CapturedChunk {
  return { ...c, data: c.data.subarray(0, keep) };
}

/** Common request fields: GET (static 2), http (static 6), :authority literal, :path as given. */
export function getRequest(path: string, extra: number[][] = []): Buffer {
  return block(hp.indexed(2), hp.indexed(6), hp.literalIdx(1, 'example.test'), hp.literalIdx(4, path), ...extra);
}
