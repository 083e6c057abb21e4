// HTTP/2 connection state: two frame readers (from the client, from the server), an HPACK decoder per direction,
// multiplexed streams with their header blocks (HEADERS + CONTINUATION), trailers, RST_STREAM and GOAWAY, and
// gRPC on top. Header blocks are decoded in order whatever happens to their stream, so the dynamic tables stay
// exact; when bytes are lost the table is marked unknown instead (see hpack/decoder.ts), streams in flight are
// counted lost, and nothing decoded from unknown state is ever reported as a header.
import { HpackDecoder, HpackError, type HeaderField } from './hpack/decoder';
import type { ParserHost } from './host';
import { Flag, FrameReader, FrameType, type FrameHeader, type FrameSink } from './http2-frames';
import type { SessionEnd } from './types';
import type { H2cHandover } from './http1';
import { decodeGrpcMessage, GrpcMessageCounter, grpcStatus, grpcStatusFromHttp, grpcStatusFromReset, isGrpcContentType } from './grpc';
import { BodyCapture, headerValue, type Exchange } from './record';

const CLIENT = 0;
const SERVER = 1;

interface Stream {
  id: number;
  startNs: bigint;
  request: HeaderField[];
  response?: HeaderField[];
  trailers?: HeaderField[];
  ended: [boolean, boolean];
  endNs: bigint;
  messages: [GrpcMessageCounter, GrpcMessageCounter];
  bodyBytes: [number, number];
  bodies: [BodyCapture, BodyCapture];
  unknownFields: number;
  resetCode?: number;
  /** Set for stream 1 after an h2c upgrade: method and path came from the HTTP/1 request. */
  fromUpgrade?: H2cHandover;
}

interface BlockInProgress { streamId: number; type: number; endStream: boolean; parts: Uint8Array[]; size: number; lost: boolean }

export class Http2Parser {
  private readonly readers: [FrameReader, FrameReader];
  private readonly decoders: [HpackDecoder, HpackDecoder];
  private readonly blocks: [BlockInProgress | undefined, BlockInProgress | undefined] = [undefined, undefined];
  private readonly streams = new Map<number, Stream>();
  /** Highest client stream id seen (opened, refused or skipped): a HEADERS at or below it opens nothing. */
  private lastClientStream = 0;
  /** Client streams above this id were refused by the server's GOAWAY. */
  private goawayLast = Infinity;
  /** Any gRPC stream seen (the session then reports the connection as gRPC). */
  sawGrpc = false;
  /** Whether the connection was joined mid-way (records then say which headers were unknown). */
  readonly joinedMidway: boolean;

  constructor(private readonly host: ParserHost, opts: { midway: boolean; upgrade?: H2cHandover; startNs?: bigint }) {
    const cap = host.limits.maxHpackTableBytes;
    this.decoders = [new HpackDecoder(cap), new HpackDecoder(cap)];
    this.joinedMidway = opts.midway;
    if (opts.midway) { this.decoders[0].markUnknown(); this.decoders[1].markUnknown(); }
    const maxBlock = host.limits.maxHeaderBlockBytes;
    this.readers = [
      // joined mid-way: each direction first waits for a chunk that starts on a frame boundary
      new FrameReader(this.sink(CLIENT), !opts.midway, maxBlock, !opts.midway),
      new FrameReader(this.sink(SERVER), false, maxBlock, !opts.midway),
    ];
    for (const r of this.readers) r.onSkip = (n) => { host.counters.bytesSkipped += n; };
    if (opts.upgrade) {
      const s = this.newStream(1, opts.upgrade.startNs, opts.upgrade.headers);
      s.fromUpgrade = opts.upgrade;
      s.ended[CLIENT] = true; // the HTTP/1 request (and its body) was already complete
      this.lastClientStream = 1;
    }
  }

  feed(fromClient: boolean, data: Uint8Array, missing: number, t: bigint): void {
    this.readers[fromClient ? CLIENT : SERVER].feed(data, missing, t);
  }

  private sink(dir: 0 | 1): FrameSink {
    return {
      frame: (f, payload, t) => this.frame(dir, f, payload, t),
      data: (f, b, s, e, last, t) => this.data(dir, f, b, s, e, last, t),
      frameGap: (f, missing, t) => this.frameGap(dir, f, missing, t),
      desync: (t) => this.desync(dir, t),
      resync: () => { this.host.counters.resyncs++; },
      tooLarge: (f, t) => this.tooLarge(dir, f, t),
    };
  }

  private newStream(id: number, t: bigint, request: HeaderField[]): Stream {
    const cap = this.host.captureBodyBytes;
    const s: Stream = { id, startNs: t, request, ended: [false, false], endNs: t, unknownFields: 0,
      messages: [new GrpcMessageCounter(), new GrpcMessageCounter()], bodyBytes: [0, 0],
      bodies: [new BodyCapture(cap), new BodyCapture(cap)] };
    this.streams.set(id, s);
    return s;
  }

  private frame(dir: 0 | 1, f: FrameHeader, payload: Uint8Array | undefined, t: bigint): void {
    const block = this.blocks[dir];
    if (block && f.type !== FrameType.CONTINUATION) { this.protocolError(dir, t); return; }
    switch (f.type) {
      case FrameType.HEADERS: case FrameType.PUSH_PROMISE: {
        if (!payload || f.streamId === 0) { this.protocolError(dir, t); return; }
        let start = 0;
        let end = payload.length;
        if (f.flags & Flag.PADDED) { start = 1; end -= payload[0]!; }
        if (f.type === FrameType.HEADERS && (f.flags & Flag.PRIORITY)) start += 5;
        if (f.type === FrameType.PUSH_PROMISE) start += 4;
        if (start > end) { this.protocolError(dir, t); return; }
        this.blocks[dir] = { streamId: f.streamId, type: f.type, endStream: (f.flags & Flag.END_STREAM) !== 0,
          // a block continued in later frames is kept as a copy, not a view pinning the capture buffer
          parts: [(f.flags & Flag.END_HEADERS) ? payload.subarray(start, end) : payload.slice(start, end)], size: end - start, lost: false };
        if (f.flags & Flag.END_HEADERS) this.endBlock(dir, t);
        return;
      }
      case FrameType.CONTINUATION: {
        if (!block || block.streamId !== f.streamId || !payload) {
          if (!block && !payload) return; // the block this continued was already counted lost
          this.protocolError(dir, t);
          return;
        }
        block.size += payload.length;
        if (block.size > this.host.limits.maxHeaderBlockBytes && !block.lost) this.blockTooLarge(dir, block);
        if (!block.lost) block.parts.push((f.flags & Flag.END_HEADERS) ? payload : payload.slice());
        if (f.flags & Flag.END_HEADERS) this.endBlock(dir, t);
        return;
      }
      case FrameType.RST_STREAM: {
        const s = this.streams.get(f.streamId);
        if (!s || !payload || payload.length < 4) return;
        s.resetCode = ((payload[0]! << 24) >>> 0) + ((payload[1]! << 16) | (payload[2]! << 8) | payload[3]!);
        s.endNs = t;
        this.complete(s);
        return;
      }
      case FrameType.GOAWAY: {
        if (dir !== SERVER || !payload || payload.length < 8) return;
        const last = ((payload[0]! & 0x7f) * 2 ** 24) + ((payload[1]! << 16) | (payload[2]! << 8) | payload[3]!);
        this.goawayLast = Math.min(this.goawayLast, last);
        for (const s of [...this.streams.values()]) {
          if (s.id > last && s.id % 2 === 1) { this.streams.delete(s.id); this.host.lose('goaway'); }
        }
        return;
      }
      case FrameType.SETTINGS: {
        if (!payload || (f.flags & Flag.ACK)) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const id = (payload[i]! << 8) | payload[i + 1]!;
          const value = ((payload[i + 2]! << 24) >>> 0) + ((payload[i + 3]! << 16) | (payload[i + 4]! << 8) | payload[i + 5]!);
          // the receiver's SETTINGS_MAX_FRAME_SIZE bounds the frames of the other direction
          if (id === 0x5 && value >= 16384 && value <= 16_777_215) this.readers[dir === CLIENT ? SERVER : CLIENT].maxFrameSize = value;
        }
        return;
      }
      default: return; // PRIORITY, PING, WINDOW_UPDATE, unknown extension frames: nothing for us
    }
  }

  private blockTooLarge(dir: 0 | 1, block: BlockInProgress): void {
    block.lost = true;
    block.parts = [];
    this.host.counters.hpackBlocksLost++;
    this.decoders[dir].markUnknown(); // its insertions are unknown now
  }

  private endBlock(dir: 0 | 1, t: bigint): void {
    const block = this.blocks[dir]!;
    this.blocks[dir] = undefined;
    let headers: HeaderField[] | undefined;
    let unknown = 0;
    if (!block.lost) {
      try {
        const decoded = this.decoders[dir].decode(block.parts.length === 1 ? block.parts[0]! : Buffer.concat(block.parts));
        headers = decoded.headers;
        unknown = decoded.unknownFields;
        this.host.counters.hpackUnknownFields += unknown;
      } catch (err) {
        if (!(err instanceof HpackError)) throw err;
        this.host.counters.hpackErrors++;
      }
    }
    if (block.type === FrameType.PUSH_PROMISE) return; // decoded for the table's sake; pushes are not requests
    if (dir === CLIENT) this.requestBlock(block, headers, unknown, t);
    else this.responseBlock(block, headers, unknown, t);
  }

  private requestBlock(block: BlockInProgress, headers: HeaderField[] | undefined, unknown: number, t: bigint): void {
    const id = block.streamId;
    let s = this.streams.get(id);
    if (!s) {
      if (id % 2 === 0 || id <= this.lastClientStream) return; // trailers of a stream we do not follow
      this.lastClientStream = id;
      if (!headers) { this.host.lose(block.lost ? 'header_too_large' : 'malformed'); return; }
      if (id > this.goawayLast) { this.host.lose('goaway'); return; }
      if (this.streams.size >= this.host.limits.maxConcurrentStreams) { this.host.lose('stream_limit'); return; }
      s = this.newStream(id, t, headers);
      s.unknownFields += unknown;
      if (isGrpcContentType(headerValue(headers, 'content-type'))) this.sawGrpc = true;
    } else if (!headers) { // lost request trailers: the stream's data is incomplete
      this.streams.delete(id);
      this.host.lose(block.lost ? 'header_too_large' : 'malformed');
      return;
    } else s.unknownFields += unknown;
    if (block.endStream) { s.ended[CLIENT] = true; s.endNs = t; this.maybeComplete(s); }
  }

  private responseBlock(block: BlockInProgress, headers: HeaderField[] | undefined, unknown: number, t: bigint): void {
    const s = this.streams.get(block.streamId);
    if (!s) return;
    if (!headers) { this.streams.delete(s.id); this.host.lose(block.lost ? 'header_too_large' : 'malformed'); return; }
    s.unknownFields += unknown;
    if (!s.response) {
      const status = headerValue(headers, ':status');
      if (status !== undefined && /^1\d\d$/.test(status)) return; // 1xx informational: the final one follows
      s.response = headers;
    } else s.trailers = headers;
    if (block.endStream) { s.ended[SERVER] = true; s.endNs = t; this.maybeComplete(s); }
  }

  private data(dir: 0 | 1, f: FrameHeader, b: Uint8Array, start: number, end: number, last: boolean, t: bigint): void {
    if (this.blocks[dir]) { this.protocolError(dir, t); return; }
    const s = this.streams.get(f.streamId);
    if (!s) return;
    if (end > start) {
      s.bodyBytes[dir] += end - start;
      s.messages[dir].feed(b, start, end);
      s.bodies[dir].add(b, start, end);
    }
    if (last && (f.flags & Flag.END_STREAM)) { s.ended[dir] = true; s.endNs = t; this.maybeComplete(s); }
  }

  private frameGap(dir: 0 | 1, f: FrameHeader, missing: number, _t: bigint): void {
    if (f.type === FrameType.DATA) {
      const s = this.streams.get(f.streamId);
      if (s && missing > 0) {
        s.bodyBytes[dir] += missing;
        if (s.messages[dir].known) { s.messages[dir].lost(); this.host.counters.grpcCountsUnknown++; }
      }
      this.host.counters.gapsSkippedExactly++;
      return;
    }
    if (f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION || f.type === FrameType.PUSH_PROMISE) {
      // A header block lost in part: its stream's headers are gone and the table's insertions unknown.
      this.host.counters.hpackBlocksLost++;
      this.decoders[dir].markUnknown();
      const block = this.blocks[dir];
      if (block) { block.lost = true; block.parts = []; }
      const id = block?.streamId ?? f.streamId;
      if (!(f.flags & Flag.END_HEADERS)) {
        this.blocks[dir] = block ?? { streamId: id, type: f.type, endStream: (f.flags & Flag.END_STREAM) !== 0, parts: [], size: 0, lost: true };
      } else this.blocks[dir] = undefined;
      this.loseStreamOfBlock(dir, id);
      return;
    }
    this.host.counters.gapsSkippedExactly++; // SETTINGS/GOAWAY/RST payload partly missing: ignored
  }

  private loseStreamOfBlock(dir: 0 | 1, id: number): void {
    if (this.streams.delete(id)) this.host.lose('desync');
    else if (dir === CLIENT && id % 2 === 1 && id > this.lastClientStream) { this.lastClientStream = id; this.host.lose('desync'); }
  }

  private tooLarge(dir: 0 | 1, f: FrameHeader, t: bigint): void {
    if (f.type === FrameType.HEADERS || f.type === FrameType.PUSH_PROMISE || f.type === FrameType.CONTINUATION) {
      const block = this.blocks[dir] ?? { streamId: f.streamId, type: f.type, endStream: (f.flags & Flag.END_STREAM) !== 0, parts: [], size: 0, lost: false };
      this.blockTooLarge(dir, block);
      this.blocks[dir] = block;
      // the frame's payload never comes: finish the (lost) block now if this frame ended it
      if (f.flags & Flag.END_HEADERS) this.endBlock(dir, t);
    }
  }

  private protocolError(dir: 0 | 1, t: bigint): void {
    this.host.counters.desyncs++;
    this.desyncInner(dir, t);
  }

  private desync(dir: 0 | 1, t: bigint): void {
    this.host.counters.desyncs++;
    this.desyncInner(dir, t);
  }

  /** Framing lost in one direction: header blocks may be in the lost bytes, so that table is unknown; every stream
   *  in flight may have lost frames, so they are counted lost; later frames for them are ignored. */
  private desyncInner(dir: 0 | 1, _t: bigint): void {
    this.decoders[dir].markUnknown();
    this.blocks[dir] = undefined;
    for (const id of this.streams.keys()) this.lastClientStream = Math.max(this.lastClientStream, id);
    for (let i = 0; i < this.streams.size; i++) this.host.lose('desync');
    this.streams.clear();
  }

  private maybeComplete(s: Stream): void {
    if (s.ended[CLIENT] && s.ended[SERVER]) this.complete(s);
  }

  /** Stream finished (both sides ended, or reset): report it, or count it lost when its essentials are unknown. */
  private complete(s: Stream): void {
    this.streams.delete(s.id);
    const method = s.fromUpgrade?.method ?? headerValue(s.request, ':method');
    const path = s.fromUpgrade?.target ?? headerValue(s.request, ':path');
    if (method === undefined || path === undefined) { this.host.lose(s.unknownFields > 0 ? 'headers_unknown' : 'malformed'); return; }
    const reqType = headerValue(s.request, 'content-type');
    const respType = headerValue(s.response ?? [], 'content-type');
    // With content-type lost to unknown HPACK state, a stream on a gRPC connection is taken as gRPC (its status
    // then has to come from a known grpc-status, or it is counted lost), never reported as plain HTTP.
    // gRPC calls are always POSTs: any other method is plain HTTP whatever was unknown
    const typeUnknown = s.unknownFields > 0 && reqType === undefined && respType === undefined && method === 'POST';
    if (typeUnknown && !this.sawGrpc && !s.fromUpgrade) { this.host.lose('headers_unknown'); return; } // gRPC or HTTP?
    const grpc = isGrpcContentType(reqType) || isGrpcContentType(respType) || typeUnknown;
    const httpStatusText = s.response ? headerValue(s.response, ':status') : undefined;
    const httpStatus = httpStatusText !== undefined && /^\d{3}$/.test(httpStatusText) ? Number(httpStatusText) : undefined;
    const x: Exchange = {
      protocol: grpc ? 'grpc' : 'http', version: '2', method: grpc ? path : method, target: path,
      requestHeaders: s.request, responseHeaders: [...(s.response ?? []), ...(s.trailers ?? [])], status: 0,
      startNs: s.startNs, endNs: s.endNs, streamId: s.id, requestBodyBytes: s.bodyBytes[CLIENT],
      responseBodyBytes: s.bodyBytes[SERVER], requestBody: s.bodies[CLIENT].take(), responseBody: s.bodies[SERVER].take(),
      partial: s.unknownFields > 0 || undefined,
    };
    if (s.resetCode !== undefined) x.resetCode = s.resetCode;
    if (grpc) {
      const fromTrailers = s.trailers ? grpcStatus(s.trailers) : undefined;
      const fromHeaders = s.response ? grpcStatus(s.response) : undefined; // trailers-only response
      let status = fromTrailers ?? fromHeaders;
      const statusHeaders = fromTrailers !== undefined ? s.trailers : s.response;
      if (status === undefined) {
        if (s.resetCode !== undefined) status = grpcStatusFromReset(s.resetCode);
        else if (s.unknownFields > 0) { this.host.lose('headers_unknown'); return; }
        else if (httpStatus !== undefined && httpStatus !== 200) status = grpcStatusFromHttp(httpStatus);
        else status = 2; // UNKNOWN: the server ended the call without a status
      }
      x.status = status;
      const msg = statusHeaders ? headerValue(statusHeaders, 'grpc-message') : undefined;
      if (msg !== undefined) x.statusMessage = decodeGrpcMessage(msg);
      if (s.messages[CLIENT].known) x.requestMessages = s.messages[CLIENT].messages;
      if (s.messages[SERVER].known) x.responseMessages = s.messages[SERVER].messages;
      this.sawGrpc = true;
    } else {
      if (httpStatus === undefined) {
        this.host.lose(s.resetCode !== undefined ? 'reset' : s.unknownFields > 0 ? 'headers_unknown' : 'malformed');
        return;
      }
      x.status = httpStatus;
    }
    this.host.emit(x);
  }

  /** The connection closed (or its capture stopped: `sampled`, `ring_full`): streams that got a whole response are
   *  reported, the rest counted lost, and so is a request whose header block was cut off (its HEADERS frame header
   *  was seen: after its capture stopped the kernel counts only streams whose HEADERS frame header userspace did not
   *  get, l7_h2count.h, l7_ringfull.h). */
  close(t: bigint, reason: SessionEnd = 'closed'): void {
    for (const s of [...this.streams.values()]) {
      if (s.ended[SERVER]) { this.complete(s); continue; }
      this.streams.delete(s.id);
      this.host.lose(reason);
    }
    const f = this.readers[CLIENT].inFrame;
    const cut = f?.type === FrameType.HEADERS ? f.streamId : this.blocks[CLIENT]?.type === FrameType.HEADERS ? this.blocks[CLIENT].streamId : 0;
    if (cut % 2 === 1 && cut > this.lastClientStream) {
      this.lastClientStream = cut;
      this.host.lose(reason);
    }
    void t;
  }
}
