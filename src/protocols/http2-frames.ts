// HTTP/2 frame reader for one direction (RFC 9113 section 4): follows frame boundaries across chunks, buffers the
// payloads we need whole (header blocks, SETTINGS, RST_STREAM, GOAWAY), streams DATA payloads without copying,
// and knows what a gap means: inside a frame it is skipped exactly, across a boundary the framing is lost and the
// reader waits for a chunk that starts with a plausible run of frames.

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7,
  WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const DEFAULT_MAX_FRAME_SIZE = 16384;

export interface FrameHeader { length: number; type: number; flags: number; streamId: number }

export interface FrameSink {
  /** A complete frame of a buffered type (or an ignored type, payload undefined). */
  frame(f: FrameHeader, payload: Uint8Array | undefined, t: bigint): void;
  /** DATA payload bytes (padding removed), in order; `last` on the final piece of the frame. */
  data(f: FrameHeader, b: Uint8Array, start: number, end: number, last: boolean, t: bigint): void;
  /** `missing` payload bytes of the current frame were not captured (for DATA: unpadded bytes lost). */
  frameGap(f: FrameHeader, missing: number, t: bigint): void;
  /** Framing lost (gap across a frame boundary, or bytes that are not HTTP/2): everything in flight is unknown. */
  desync(t: bigint): void;
  resync(): void;
  /** A buffered frame larger than the limit: its payload is dropped (header blocks then count as lost). */
  tooLarge(f: FrameHeader, t: bigint): void;
}

const BUFFERED = new Set<number>([FrameType.HEADERS, FrameType.CONTINUATION, FrameType.PUSH_PROMISE,
  FrameType.SETTINGS, FrameType.RST_STREAM, FrameType.GOAWAY]);

const ALLOWED_FLAGS = [0x09, 0x2d, 0, 0, 0x01, 0x0c, 0x01, 0, 0, 0x04];

/** Whether a frame header is one a real peer could send (used to find frame boundaries after a loss). */
export function plausibleFrame(f: FrameHeader, maxFrameSize: number): boolean {
  if (f.type > 9 || f.length > maxFrameSize) return false;
  if ((f.flags & ~ALLOWED_FLAGS[f.type]!) !== 0) return false;
  const onStream0 = f.type === FrameType.SETTINGS || f.type === FrameType.PING || f.type === FrameType.GOAWAY;
  if (f.type !== FrameType.WINDOW_UPDATE && onStream0 !== (f.streamId === 0)) return false;
  switch (f.type) {
    case FrameType.RST_STREAM: case FrameType.WINDOW_UPDATE: return f.length === 4;
    case FrameType.PRIORITY: return f.length === 5;
    case FrameType.PING: return f.length === 8;
    case FrameType.SETTINGS: return f.length % 6 === 0 && (!(f.flags & Flag.ACK) || f.length === 0);
    case FrameType.GOAWAY: return f.length >= 8;
    default: return true;
  }
}

export function readFrameHeader(b: Uint8Array, at: number): FrameHeader {
  return {
    length: (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!,
    type: b[at + 3]!,
    flags: b[at + 4]!,
    streamId: ((b[at + 5]! & 0x7f) * 2 ** 24) + ((b[at + 6]! << 16) | (b[at + 7]! << 8) | b[at + 8]!),
  };
}

/** 'yes' when bytes from `at` are a run of plausible frames (two or more, or one ending exactly at the end). */
export function looksLikeFrames(b: Uint8Array, at: number, maxFrameSize: number): 'yes' | 'no' | 'more' {
  let pos = at;
  let complete = 0;
  while (pos + 9 <= b.length) {
    const f = readFrameHeader(b, pos);
    if (!plausibleFrame(f, maxFrameSize)) return 'no';
    pos += 9 + f.length;
    if (pos > b.length) break;
    complete++;
    if (complete >= 2) return 'yes';
  }
  if (complete === 1 && pos === b.length) return 'yes';
  return pos + 9 > b.length && complete === 0 ? 'more' : 'no';
}

function startsWithPreface(b: Uint8Array): boolean {
  if (b.length < PREFACE.length) return false;
  for (let i = 0; i < PREFACE.length; i++) if (b[i] !== PREFACE[i]) return false;
  return true;
}

export class FrameReader {
  private state: 'preface' | 'header' | 'payload' | 'desync';
  private prefaceSeen = 0;
  private hdr = new Uint8Array(9);
  private hdrLen = 0;
  private f: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  private pos = 0; // payload bytes of the current frame consumed
  private parts: Uint8Array[] = [];
  private dropping = false;
  private dataStart = 0;
  private dataEnd = 0;
  /** Largest frame we accept, from SETTINGS_MAX_FRAME_SIZE of the receiver (default 16384). */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;

  constructor(private readonly sink: FrameSink, expectPreface: boolean, private readonly maxBuffered: number,
    synced = true) {
    this.state = !synced ? 'desync' : expectPreface ? 'preface' : 'header';
  }

  get inSync(): boolean { return this.state !== 'desync'; }

  /** The frame whose payload is being read (its header was whole), or undefined between frames. */
  get inFrame(): FrameHeader | undefined { return this.state === 'payload' ? this.f : undefined; }

  feed(b: Uint8Array, missing: number, t: bigint): void {
    let p = 0;
    if (this.state === 'desync' && startsWithPreface(b)) {
      this.state = 'preface';
      this.prefaceSeen = 0;
      this.sink.resync();
    } else if (this.state === 'desync') {
      if (looksLikeFrames(b, 0, Math.max(this.maxFrameSize, DEFAULT_MAX_FRAME_SIZE)) !== 'yes') { this.skipped(b.length); return; }
      this.state = 'header';
      this.hdrLen = 0;
      this.sink.resync();
    }
    while (p < b.length && (this.state as string) !== 'desync') {
      if (this.state === 'preface') {
        while (p < b.length && this.prefaceSeen < PREFACE.length) {
          if (b[p] !== PREFACE[this.prefaceSeen]) { this.lose(t); this.skipped(b.length - p); return; }
          p++; this.prefaceSeen++;
        }
        if (this.prefaceSeen === PREFACE.length) this.state = 'header';
      } else if (this.state === 'header') {
        const n = Math.min(9 - this.hdrLen, b.length - p);
        this.hdr.set(b.subarray(p, p + n), this.hdrLen);
        this.hdrLen += n;
        p += n;
        if (this.hdrLen === 9) this.startFrame(t);
      } else p = this.payload(b, p, t);
    }
    if (missing > 0) this.gap(missing, t);
    // A frame continues in the next chunk: keep a copy of its bytes, not views that would pin this chunk's buffer.
    if (this.parts.length > 0) this.parts = [Buffer.concat(this.parts)];
  }

  private skipped(n: number): void { this.onSkip?.(n); }
  /** Set by the owner to count bytes passed over while looking for a frame boundary. */
  onSkip?: (n: number) => void;

  private startFrame(t: bigint): void {
    this.hdrLen = 0;
    this.f = readFrameHeader(this.hdr, 0);
    this.pos = 0;
    this.parts = [];
    if (this.f.length > Math.max(this.maxFrameSize, DEFAULT_MAX_FRAME_SIZE) && this.f.length > 16_777_215) { this.lose(t); return; }
    this.dropping = BUFFERED.has(this.f.type) && this.f.length > this.maxBuffered;
    if (this.dropping) this.sink.tooLarge(this.f, t);
    this.dataStart = 0;
    this.dataEnd = this.f.length;
    this.state = 'payload';
    if (this.f.length === 0) this.endFrame(t);
  }

  private payload(b: Uint8Array, p: number, t: bigint): number {
    const n = Math.min(this.f.length - this.pos, b.length - p);
    const from = this.pos;
    this.pos += n;
    if (this.f.type === FrameType.DATA) {
      if (from === 0 && (this.f.flags & Flag.PADDED)) {
        const pad = b[p]!;
        if (pad >= this.f.length) { this.lose(t); return b.length; }
        this.dataStart = 1;
        this.dataEnd = this.f.length - pad;
      }
      const s = Math.max(from, this.dataStart);
      const e = Math.min(this.pos, this.dataEnd);
      const last = this.pos === this.f.length;
      if (e > s || last) this.sink.data(this.f, b, p + (s - from), p + Math.max(s, e) - from, last, t);
    } else if (BUFFERED.has(this.f.type) && !this.dropping) {
      this.parts.push(b.subarray(p, p + n));
    }
    if (this.pos === this.f.length) this.endFrame(t);
    return p + n;
  }

  private endFrame(t: bigint): void {
    this.state = 'header';
    if (this.f.type === FrameType.DATA) {
      if (this.f.length === 0) this.sink.data(this.f, this.hdr, 0, 0, true, t);
      return;
    }
    if (this.dropping) return;
    const payload = BUFFERED.has(this.f.type)
      ? (this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts)) : undefined;
    this.parts = [];
    this.sink.frame(this.f, payload, t);
  }

  private gap(missing: number, t: bigint): void {
    if (this.state === 'payload' && missing <= this.f.length - this.pos) {
      const from = this.pos;
      this.pos += missing;
      if (this.f.type === FrameType.DATA) {
        // padding lost is harmless; data lost is reported as such
        const lostData = Math.max(0, Math.min(this.pos, this.dataEnd) - Math.max(from, this.dataStart));
        if (lostData > 0 || this.pos === this.f.length) this.sink.frameGap(this.f, lostData, t);
        if (this.pos === this.f.length) this.sink.data(this.f, this.hdr, 0, 0, true, t);
        if (this.pos === this.f.length) this.state = 'header';
        return;
      }
      this.sink.frameGap(this.f, missing, t);
      this.dropping = true; // the payload is incomplete: never hand it on
      if (this.pos === this.f.length) this.state = 'header';
      return;
    }
    this.lose(t);
  }

  private lose(t: bigint): void {
    this.state = 'desync';
    this.hdrLen = 0;
    this.parts = [];
    this.sink.desync(t);
  }
}
