// A small protobuf writer over one growable buffer that is reused from batch to batch: varints, fixed64, doubles,
// strings and length-delimited messages written by hand, with no object per field. Lengths are minimal varints
// (what every other encoder writes), so the output can be compared byte for byte with the OpenTelemetry serializer:
// a message's length is reserved with a guess and the body is moved once when the guess was wrong.

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

/** Bytes a non-negative 32-bit varint takes. */
export function varintSize32(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** True when a number goes out as AnyValue.int_value (int64), false when as double_value: the serializer's rule. */
export function isInt64(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_INT64 && n < MAX_INT64;
}

export class ProtoWriter {
  buf: Buffer;
  pos = 0;
  private view: DataView;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Start a new message at the beginning of the buffer (the buffer itself is kept). */
  reset(): void {
    this.pos = 0;
  }

  /** A copy of what was written: the buffer is reused by the next batch, the copy travels (queue, spool). */
  finish(): Uint8Array {
    const { buffer, byteOffset } = this.buf;
    return new Uint8Array(buffer.slice(byteOffset, byteOffset + this.pos)); // one memcpy into a new ArrayBuffer
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Raw bytes (a pre-encoded chunk: a key with its tag, the resource, ...). */
  bytes(chunk: Uint8Array): void {
    const n = chunk.length;
    this.ensure(n);
    if (n > 48) {
      this.buf.set(chunk, this.pos);
      this.pos += n;
      return;
    }
    const b = this.buf; // short chunks (keys, names): a loop beats TypedArray.set's call overhead
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = chunk[i]!;
    this.pos = p;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** A varint of a non-negative number below 2^32. */
  uint32(v: number): void {
    this.ensure(5);
    const b = this.buf;
    while (v > 0x7f) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[this.pos++] = v;
  }

  /** A varint of an int64 held in a JS number (negative ones take ten bytes, two's complement). */
  int64(v: number): void {
    if (v >= 0 && v <= 0xffffffff) {
      this.uint32(v);
      return;
    }
    let lo: number;
    let hi: number;
    if (v >= 0) {
      lo = v >>> 0;
      hi = (v / 0x100000000) >>> 0;
    } else {
      const abs = -v;
      lo = ~(abs >>> 0) >>> 0;
      hi = ~((abs / 0x100000000) >>> 0) >>> 0;
      lo = (lo + 1) >>> 0;
      if (lo === 0) hi = (hi + 1) >>> 0;
    }
    this.ensure(10);
    const b = this.buf;
    while (hi > 0 || lo > 0x7f) {
      b[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[this.pos++] = lo;
  }

  fixed64(v: bigint): void {
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }

  fixed32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string. ASCII (the common case: names, paths, addresses) is copied char by char. */
  string(s: string): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
    }
    if (ascii) {
      this.ensure(5 + n);
      this.uint32(n);
      const b = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
      this.pos = p;
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.ensure(5 + len);
    this.uint32(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** A string whose UTF-8 length the caller already knows (equal to its length: ASCII, copied without a scan). */
  stringOfLength(s: string, utf8Length: number): void {
    this.ensure(5 + utf8Length);
    this.uint32(utf8Length);
    const n = s.length;
    if (utf8Length !== n) {
      this.pos += this.buf.write(s, this.pos, utf8Length, 'utf8');
      return;
    }
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Reserve room for a message's length; `guess` bytes (1-5) is what the length will most likely take. */
  beginMessage(guess: number): number {
    this.ensure(guess);
    const at = this.pos;
    this.pos += guess;
    return at * 8 + guess; // position and guess in one number: no object per message
  }

  /** Write the length reserved by beginMessage, moving the body when the guess was not the minimal size. */
  endMessage(mark: number): void {
    const guess = mark % 8;
    const at = (mark - guess) / 8;
    const bodyStart = at + guess;
    const length = this.pos - bodyStart;
    const size = varintSize32(length);
    if (size !== guess) {
      if (size > guess) this.ensure(size - guess);
      this.buf.copyWithin(at + size, bodyStart, this.pos);
      this.pos += size - guess;
    }
    let p = at;
    let v = length;
    const b = this.buf;
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p] = v;
  }
}
