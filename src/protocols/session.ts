// One observed TCP connection, fed with the bytes the kernel capture copied from each syscall, in order. Detects
// the protocol from the first bytes (HTTP/1 request or status line, the HTTP/2 preface, or HTTP/2 frames when
// joined mid-way), runs the matching parser and hands out completed exchanges as scrubbed RequestRecords.
// A connection that speaks nothing we parse becomes 'unsupported' and is not looked at again.
import type { RequestRecord } from '../core/request';
import type { ParserHost } from './host';
import { looksLikeRequest, looksLikeResponse } from './http1-head';
import { Http1Parser, type H2cHandover } from './http1';
import { Http2Parser } from './http2';
import { DEFAULT_MAX_FRAME_SIZE, looksLikeFrames, PREFACE } from './http2-frames';
import { buildRecord, newMemo, type Exchange, type RecordContext } from './record';
import { Scrubber } from './scrub';
import { DEFAULT_LIMITS, newCounters, type ProtocolCounters, type ProtocolLimits, type SessionEnd, type SessionOptions } from './types';

export type { SessionOptions, ProtocolCounters, ProtocolLimits, LostReason, SessionEnd } from './types';

export interface CapturedChunk {
  /** From the observed process's point of view. */
  direction: 'send' | 'recv';
  /** Bytes copied (may be fewer than length). */
  data: Uint8Array;
  /** The syscall's full byte count; length > data.length means bytes were not copied (a gap follows). */
  length: number;
  /** Kernel boot-clock ns of the syscall. */
  timeNs: bigint;
}

export type SessionProtocol = 'unknown' | 'http1' | 'http2' | 'grpc' | 'unsupported';

/** Completed records are queued until taken; past this many the oldest are counted lost rather than kept. */
const MAX_QUEUED_RECORDS = 4096;

export class ProtocolSession {
  readonly counters: ProtocolCounters = newCounters();
  private readonly limits: ProtocolLimits;
  private readonly ctx: RecordContext;
  private readonly host: ParserHost;
  private parser: Http1Parser | Http2Parser | undefined;
  private detected: SessionProtocol = 'unknown';
  private records: RequestRecord[] = [];
  private detectBytes = 0;
  private detectBuf: [Uint8Array, Uint8Array] = [new Uint8Array(0), new Uint8Array(0)];
  private closed = false;

  constructor(readonly role: 'client' | 'server', options: SessionOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.ctx = {
      side: role,
      scrubber: new Scrubber(options.scrub),
      captureHeaders: new Set((options.captureHeaders ?? []).map((h) => h.toLowerCase())),
      bootToWallNs: options.bootToWallNs ?? 0n,
      memo: newMemo(),
    };
    this.host = {
      limits: this.limits,
      counters: this.counters,
      captureBodyBytes: Math.max(0, options.captureBodyBytes ?? 0),
      emit: (x) => this.emit(x),
      lose: (r) => { this.counters.lost[r]++; this.lostCount++; },
      active: (p) => this.parser === p,
      upgradeToHttp2: (stream1, clientBytes) => this.upgrade(stream1, clientBytes),
    };
  }

  get protocol(): SessionProtocol {
    if (this.detected === 'http2' && this.parser instanceof Http2Parser && this.parser.sawGrpc) this.detected = 'grpc';
    return this.detected;
  }

  /** Whether the request flows in the given direction (the client sends requests). */
  private fromClient(direction: 'send' | 'recv'): boolean {
    return (direction === 'send') === (this.role === 'client');
  }

  push(chunk: CapturedChunk): void {
    if (this.closed || this.detected === 'unsupported') return;
    const data = chunk.data.length > chunk.length ? chunk.data.subarray(0, chunk.length) : chunk.data;
    const missing = Math.max(0, chunk.length - data.length);
    const c = this.counters;
    c.chunks++;
    c.bytes += chunk.length;
    if (missing > 0) { c.gaps++; c.bytesNotCaptured += missing; }
    try {
      this.dispatch(this.fromClient(chunk.direction), data, missing, chunk.timeNs);
    } catch (err) {
      // A parser bug must not take the agent down: count it and stop parsing this connection.
      c.desyncs++;
      this.parser = undefined;
      this.detected = 'unsupported';
      this.lastError = (err as Error).message;
    }
  }

  /** Exchanges counted lost so far, over every reason (a cheap "anything new?" for the collector). */
  lostCount = 0;

  /** The message of an unexpected internal error that stopped this session (for debugging; counted as desync). */
  lastError?: string;

  private dispatch(fromClient: boolean, data: Uint8Array, missing: number, t: bigint): void {
    if (!this.parser) { this.detect(fromClient, data, missing, t); return; }
    if (this.parser instanceof Http1Parser) {
      const used = this.parser.feed(fromClient, data, missing, t);
      // An h2c upgrade handed the connection to HTTP/2 inside this chunk: the rest is HTTP/2.
      const now = this.parser as Http1Parser | Http2Parser | undefined;
      if (now instanceof Http2Parser && (used < data.length || missing > 0)) now.feed(fromClient, data.subarray(used), missing, t);
      return;
    }
    if (fromClient && this.awaitingClientPreface) {
      this.awaitingClientPreface = false;
      // The server spoke HTTP/2 first (its SETTINGS) and the client answers with an HTTP/1 request (an h2c Upgrade
      // the server does not take): that request can never be answered on this connection. Count it lost.
      if (!startsWithPreface(data) && looksLikeRequest(data) === 'yes') this.host.lose('desync');
    }
    this.parser.feed(fromClient, data, missing, t);
  }

  /** Set when a server's HTTP/2 SETTINGS decided the protocol before the client said anything. */
  private awaitingClientPreface = false;

  private detect(fromClient: boolean, data: Uint8Array, missing: number, t: bigint): void {
    const dir = fromClient ? 0 : 1;
    const prev = this.detectBuf[dir];
    const bytes = prev.length > 0 ? Buffer.concat([prev, data]) : data;
    const answer = this.classify(fromClient, bytes);
    if (answer === 'more' && missing === 0 && this.detectBytes + data.length <= this.limits.maxDetectBytes) {
      this.detectBuf[dir] = Uint8Array.from(bytes);
      this.detectBytes += data.length;
      return;
    }
    this.detectBuf[dir] = new Uint8Array(0);
    if (answer === 'http1') {
      this.detected = 'http1';
      this.parser = new Http1Parser(this.host);
      this.dispatch(fromClient, bytes, missing, t);
    } else if (answer === 'http2' || answer === 'http2-midway') {
      this.detected = 'http2';
      const midway = answer === 'http2-midway';
      if (midway) this.counters.midStreamJoins++;
      this.awaitingClientPreface = !midway && !fromClient;
      this.parser = new Http2Parser(this.host, { midway });
      this.parser.feed(fromClient, bytes, missing, t);
    } else {
      // Not recognisable at this chunk start; a mid-way join may still line up at a later chunk.
      this.counters.bytesSkipped += bytes.length;
      this.detectBytes += data.length + missing;
      if (this.detectBytes > this.limits.maxDetectBytes) this.detected = 'unsupported';
    }
  }

  private classify(fromClient: boolean, b: Uint8Array): 'http1' | 'http2' | 'http2-midway' | 'no' | 'more' {
    if (fromClient) {
      let prefaceMatch = true;
      for (let i = 0; i < Math.min(b.length, PREFACE.length); i++) if (b[i] !== PREFACE[i]) { prefaceMatch = false; break; }
      if (prefaceMatch) return b.length >= PREFACE.length ? 'http2' : 'more';
      const r = looksLikeRequest(b);
      if (r === 'yes') return 'http1';
      if (r === 'more') return 'more';
    } else {
      const r = looksLikeResponse(b);
      if (r === 'yes') return 'http1';
      if (r === 'more' && b.length < 12) return 'more';
    }
    const f = looksLikeFrames(b, 0, DEFAULT_MAX_FRAME_SIZE);
    if (f !== 'yes') return f === 'more' ? 'more' : 'no';
    // A server speaks first with its SETTINGS (the server preface) on a new connection: not a mid-way join.
    const serverPreface = !fromClient && this.counters.chunks === 1 && b[3] === 4 && b[4] === 0;
    return serverPreface ? 'http2' : 'http2-midway';
  }

  private upgrade(stream1: H2cHandover, clientBytes: Uint8Array): void {
    this.detected = 'http2';
    const h2 = new Http2Parser(this.host, { midway: false, upgrade: stream1 });
    this.parser = h2;
    if (clientBytes.length > 0) h2.feed(true, clientBytes, 0, stream1.startNs);
  }

  private emit(x: Exchange): void {
    if (this.records.length >= MAX_QUEUED_RECORDS) { this.counters.lost.queue_full++; this.lostCount++; return; }
    this.records.push(buildRecord(x, this.ctx));
    this.counters.reported++;
  }

  /** The connection ended (closed: in-flight exchanges complete by the close are flushed; `sampled`, `ring_full`:
   *  the kernel stopped capturing it, it may still be open). The rest in flight is counted lost under the reason. */
  close(timeNs: bigint, reason: SessionEnd = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    void this.protocol; // settle 'grpc' before the parser goes
    try { this.parser?.close(timeNs, reason); } catch (err) { this.counters.desyncs++; this.lastError = (err as Error).message; }
    this.parser = undefined;
  }

  /** Exchanges completed since the last call. */
  takeRequests(): RequestRecord[] {
    const out = this.records;
    this.records = [];
    return out;
  }
}

function startsWithPreface(b: Uint8Array): boolean {
  for (let i = 0; i < Math.min(b.length, PREFACE.length); i++) if (b[i] !== PREFACE[i]) return false;
  return true;
}
