// A small protobuf writer over one growable buffer that is reused from batch to batch: varints, fixed64, doubles,
// strings and length-delimited messages written by hand, with no object per field. Lengths are minimal varints
// (what every other encoder writes), so the output can be compared byte for byte with the OpenTelemetry serializer:
// a message's length is reserved with a guess and the body is moved once when the guess was wrong.
//
// What it costs here (V8 on this machine): a JS loop moves ~3 ns per byte, TypedArray.set ~16 ns per call whatever
// the size up to ~64 bytes, Buffer.write ~70 ns per string. So chunks longer than a few bytes are copied with set,
// strings of 16 characters and more with Buffer.write, shorter ones by a loop.

const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;
/** Chunks up to this many bytes are copied by a loop, longer ones with TypedArray.set. */
const LOOP_COPY_MAX = 6;
/** Strings this long or longer are written by Buffer.write (native), shorter ones by a loop. */
const NATIVE_STRING_MIN = 16;

/** Bytes a non-negative 32-bit varint takes. */
export function varintSize32(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** True when a number goes out as AnyValue.int_value (int64), false when as double_value: the serializer's rule. */
export function isInt64(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_INT64 && n < MAX_INT64;
}

export class ProtoWriter {
  /** The bytes (a plain Uint8Array: V8 indexes it faster than a Buffer). */
  buf: Uint8Array;
  pos = 0;
  /** The same memory as a Buffer, for UTF-8 writes. */
  private text: Buffer;
  private view: DataView;

  constructor(initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(initialBytes);
    this.text = Buffer.from(this.buf.buffer, 0, initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Start a new message at the beginning of the buffer (the buffer itself is kept). */
  reset(): void {
    this.pos = 0;
  }

  /** A copy of what was written: the buffer is reused by the next batch, the copy travels (queue, spool). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.text = Buffer.from(next.buffer, 0, size);
    this.view = new DataView(next.buffer);
  }

  /** Raw bytes (a pre-encoded chunk: a key with its tag, the resource, ...). */
  bytes(chunk: Uint8Array): void {
    const n = chunk.length;
    this.ensure(n);
    if (n > LOOP_COPY_MAX) {
      this.buf.set(chunk, this.pos);
      this.pos += n;
      return;
    }
    const b = this.buf;
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

  /** A length-prefixed UTF-8 string. */
  string(s: string): void {
    const n = s.length;
    if (n >= NATIVE_STRING_MIN) {
      // Written natively behind a length sized for ASCII (the common case: paths, addresses, command lines); the
      // bytes move once when the UTF-8 length needs another size.
      this.ensure(5 + 3 * n);
      const guess = varintSize32(n);
      const at = this.pos;
      const len = this.text.write(s, at + guess, 'utf8');
      const size = varintSize32(len);
      if (size !== guess) this.buf.copyWithin(at + size, at + guess, at + guess + len);
      this.pos = at;
      this.uint32(len);
      this.pos += len;
      return;
    }
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        this.ensure(5 + 3 * n);
        const len = Buffer.byteLength(s, 'utf8');
        this.uint32(len);
        this.pos += this.text.write(s, this.pos, len, 'utf8');
        return;
      }
    }
    this.ensure(5 + n);
    const b = this.buf;
    let p = this.pos;
    b[p++] = n; // below 16: one byte
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
