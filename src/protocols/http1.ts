// HTTP/1.x exchanges on one connection: requests one way, responses the other, paired in order (pipelining and
// keep-alive), bodies delimited by Content-Length, chunked coding or connection close, 1xx responses skipped
// (100-continue), Upgrade followed (WebSocket marked and left alone, h2c handed to the HTTP/2 parser).
// Missing bytes inside a body of known length are skipped exactly; anywhere else the direction waits for a chunk
// that starts with a start line, and pairing is held back until it is provably right again (see Pairing below).
import type { HeaderField } from './hpack/decoder';
import { bodyFraming, findHeadEnd, looksLikeRequest, looksLikeResponse, parseHead, type RequestHead, type ResponseHead } from './http1-head';
import { BodyCapture, headerValue, type Exchange } from './record';
import type { ParserHost } from './host';
import type { SessionEnd } from './types';

interface PendingRequest {
  method: string;
  target: string;
  minor: number;
  headers: HeaderField[];
  startNs: bigint;
  bodyBytes: number;
  body: BodyCapture;
  /** Paired only while pairing is trusted; an untrusted request is counted lost when a response takes it. */
  trusted: boolean;
  upgrade?: string;
}

/** Shared empty buffer: `buf` is only ever replaced, never written into. */
const EMPTY: Buffer = Buffer.alloc(0);

type Mode = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'desync' | 'held' | 'raw';

class Direction {
  mode: Mode = 'head';
  buf: Buffer = EMPTY; // an incomplete head or chunk line, bounded
  remaining = 0;
  bodyBytes = 0;
  body: BodyCapture;
  response?: ResponseHead & { startNs: bigint; req?: PendingRequest };
  request?: PendingRequest;
  constructor(readonly isRequest: boolean, captureLimit: number) { this.body = new BodyCapture(captureLimit); }
}

/** Version hand-over for `Upgrade: h2c`: the request becomes HTTP/2 stream 1. */
export type { H2cHandover } from './host';

export class Http1Parser {
  private readonly req: Direction;
  private readonly resp: Direction;
  private readonly queue: PendingRequest[] = [];
  private trusted = true;
  /** Responses still owed to requests already counted lost at a response-side desync. */
  private owedOrphans = 0;

  constructor(private readonly host: ParserHost) {
    this.req = new Direction(true, host.captureBodyBytes);
    this.resp = new Direction(false, host.captureBodyBytes);
  }

  /** Bytes of one chunk for the request or response direction; `missing` bytes were not captured after them. */
  /** Returns how many bytes it consumed: fewer than data.length only when it handed the connection over (h2c). */
  feed(isRequest: boolean, data: Uint8Array, missing: number, timeNs: bigint): number {
    const d = isRequest ? this.req : this.resp;
    if (d.mode === 'desync') {
      const looks = isRequest ? looksLikeRequest(data) : looksLikeResponse(data);
      if (looks !== 'yes') {
        this.host.counters.bytesSkipped += data.length;
        if (!isRequest) this.answersSkipped(timeNs);
        return data.length;
      }
      d.mode = 'head';
      d.buf = EMPTY;
      this.host.counters.resyncs++;
    }
    let pos = 0;
    while (pos < data.length && this.host.active(this)) {
      pos = this.step(d, data, pos, timeNs);
    }
    if (missing > 0 && this.host.active(this)) this.gap(d, missing, timeNs);
    return pos;
  }

  /** One parsing step from `pos`; returns the new position. */
  private step(d: Direction, b: Uint8Array, pos: number, t: bigint): number {
    switch (d.mode) {
      case 'head': return this.head(d, b, pos, t);
      case 'length': {
        const n = Math.min(d.remaining, b.length - pos);
        this.bodyBytes(d, b, pos, pos + n);
        d.remaining -= n;
        if (d.remaining === 0) this.endMessage(d, t);
        return pos + n;
      }
      case 'close':
        this.bodyBytes(d, b, pos, b.length);
        return b.length;
      case 'chunk-data': {
        const n = Math.min(d.remaining, b.length - pos);
        this.bodyBytes(d, b, pos, pos + n);
        d.remaining -= n;
        if (d.remaining === 0) d.mode = 'chunk-crlf';
        return pos + n;
      }
      case 'chunk-size': case 'chunk-crlf': case 'trailers': return this.line(d, b, pos, t);
      case 'held': case 'raw': case 'desync': {
        if (d.mode === 'held') {
          if (d.buf.length + b.length - pos > this.host.limits.maxHeaderBytes) { this.desync(d); return b.length; }
          d.buf = Buffer.concat([d.buf, b.subarray(pos)]);
        }
        return b.length;
      }
    }
  }

  private bodyBytes(d: Direction, b: Uint8Array, start: number, end: number): void {
    d.bodyBytes += end - start;
    d.body.add(b, start, end);
  }

  private head(d: Direction, b: Uint8Array, pos: number, t: bigint): number {
    let bytes: Uint8Array = b;
    let from = pos;
    const held = d.buf.length;
    if (held > 0) { bytes = Buffer.concat([d.buf, b.subarray(pos)]); from = 0; }
    const end = findHeadEnd(bytes, from + Math.max(0, held - 3));
    if (end < 0) {
      const pending = bytes.length - from;
      const looks = d.isRequest ? looksLikeRequest(bytes.subarray(from)) : looksLikeResponse(bytes.subarray(from));
      if (pending > this.host.limits.maxHeaderBytes || looks === 'no') {
        if (looks !== 'no') this.lose('header_too_large');
        this.desync(d);
      } else d.buf = Buffer.from(bytes.subarray(from));
      return b.length;
    }
    const consumedFromB = held > 0 ? pos + end - held : end;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + from, end - from).toString('latin1');
    d.buf = EMPTY;
    const parsed = parseHead(text, d.isRequest ? 'request' : 'response');
    if (!parsed) { this.desync(d); return b.length; }
    if (parsed.kind === 'request') this.requestHead(d, parsed, t); else this.responseHead(d, parsed, t);
    return consumedFromB;
  }

  private requestHead(d: Direction, h: RequestHead, t: bigint): void {
    const framing = bodyFraming(h.headers, true);
    if (!framing) { this.desync(d); return; }
    const upgradeHeader = headerValue(h.headers, 'upgrade')?.toLowerCase();
    const upgrade = h.method === 'CONNECT' ? 'connect' : upgradeHeader?.includes('websocket') ? 'websocket'
      : upgradeHeader?.split(',').some((p) => p.trim() === 'h2c') ? 'h2c' : upgradeHeader ? upgradeHeader : undefined;
    const r: PendingRequest = { method: h.method, target: h.target, minor: h.minor, headers: h.headers, startNs: t,
      bodyBytes: 0, body: new BodyCapture(this.host.captureBodyBytes), trusted: this.trusted, upgrade };
    if (this.queue.length >= this.host.limits.maxPendingRequests) this.lose('pending_limit');
    else this.queue.push(r);
    d.request = r;
    d.bodyBytes = 0;
    d.body = r.body;
    this.startBody(d, framing, t);
  }

  private responseHead(d: Direction, h: ResponseHead, t: bigint): void {
    const req = this.queue[0];
    if (h.status >= 100 && h.status < 200 && h.status !== 101) return; // 100 Continue, 103 Early Hints: no body
    // A response cannot answer a request sent after it started: that request's answer is still to come.
    const answers = req && req.startNs <= t ? req : undefined;
    d.response = { kind: 'response', status: h.status, minor: h.minor, headers: h.headers, startNs: t, req: answers };
    if (answers) this.queue.shift();
    d.bodyBytes = 0;
    d.body = new BodyCapture(this.host.captureBodyBytes);
    if (h.status === 101 || (answers?.method === 'CONNECT' && h.status >= 200 && h.status < 300)) {
      // h2c: the answer to this request comes on HTTP/2 stream 1, so the record is made there.
      if (answers?.upgrade === 'h2c' && answers.trusted && h.status === 101) { d.response = undefined; this.switchProtocols(answers, d); return; }
      this.finishExchange(d, t);
      if (answers?.trusted) this.switchProtocols(answers, d);
      return;
    }
    const noBody = answers?.method === 'HEAD' || h.status === 204 || h.status === 304;
    const framing = noBody ? { kind: 'none' as const } : bodyFraming(h.headers, false);
    if (!framing) { this.desync(d); return; }
    this.startBody(d, framing, t);
    // A request waiting on Upgrade that got an ordinary answer: its held bytes are plain HTTP/1 after all.
    if (answers?.upgrade && this.req.mode === 'held') this.releaseHeld(t);
  }

  private startBody(d: Direction, framing: NonNullable<ReturnType<typeof bodyFraming>>, t: bigint): void {
    switch (framing.kind) {
      case 'none': this.endMessage(d, t); break;
      case 'length': d.mode = 'length'; d.remaining = framing.length; break;
      case 'chunked': d.mode = 'chunk-size'; break;
      case 'close': d.mode = 'close'; break;
    }
  }

  /** Chunk-size lines, the CRLF after chunk data, and trailer lines. */
  private line(d: Direction, b: Uint8Array, pos: number, t: bigint): number {
    const nl = b.indexOf(0x0a, pos);
    const end = nl < 0 ? b.length : nl + 1;
    if (d.buf.length + end - pos > 4096) { this.desync(d); return b.length; }
    const part = b.subarray(pos, end);
    if (nl < 0) { d.buf = Buffer.concat([d.buf, part]); return end; }
    const lineText = (d.buf.length ? Buffer.concat([d.buf, part]) : Buffer.from(part.buffer, part.byteOffset, part.length))
      .toString('latin1').replace(/\r?\n$/, '');
    d.buf = EMPTY;
    if (d.mode === 'chunk-crlf') {
      if (lineText !== '') this.desync(d); else d.mode = 'chunk-size';
    } else if (d.mode === 'chunk-size') {
      const m = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(lineText);
      if (!m) { this.desync(d); return end; }
      const size = parseInt(m[1]!, 16);
      if (size === 0) d.mode = 'trailers'; else { d.mode = 'chunk-data'; d.remaining = size; }
    } else if (lineText === '') this.endMessage(d, t); // trailers end with an empty line
    return end;
  }

  private endMessage(d: Direction, t: bigint): void {
    d.mode = 'head';
    if (d.isRequest) {
      if (d.request) d.request.bodyBytes = d.bodyBytes;
      if (d.request?.upgrade && d.request.trusted) d.mode = 'held'; // wait: the answer decides what follows
      d.request = undefined;
      return;
    }
    this.finishExchange(d, t);
  }

  private finishExchange(d: Direction, t: bigint): void {
    const resp = d.response;
    d.response = undefined;
    if (!resp) return;
    const req = resp.req;
    if (!req) {
      this.host.counters.orphanResponses++;
      if (this.owedOrphans > 0) this.owedOrphans--;
      else if (!this.trusted) { this.lose('desync'); this.trusted = true; } // the lost request's answer: in step again
      return;
    }
    if (!req.trusted) { this.lose('desync'); return; }
    const x: Exchange = {
      protocol: 'http', version: req.minor === 0 || resp.minor === 0 ? '1.0' : '1.1', method: req.method,
      target: req.target, requestHeaders: req.headers, responseHeaders: resp.headers, status: resp.status,
      startNs: req.startNs, endNs: t, requestBodyBytes: req.bodyBytes, responseBodyBytes: d.bodyBytes,
      requestBody: req.body.take(), responseBody: d.body.take(),
    };
    if (resp.status === 101 || (req.method === 'CONNECT' && resp.status < 300)) x.upgrade = req.upgrade ?? 'connect';
    this.host.emit(x);
  }

  private switchProtocols(req: PendingRequest, respDir: Direction): void {
    if (req.upgrade === 'h2c') {
      const held = this.req.buf;
      this.req.mode = 'raw';
      this.resp.mode = 'raw';
      this.host.upgradeToHttp2({ method: req.method, target: req.target, headers: req.headers, startNs: req.startNs }, held);
      return;
    }
    this.req.mode = 'raw'; // WebSocket frames or a CONNECT tunnel: not ours to parse
    this.req.buf = EMPTY;
    respDir.mode = 'raw';
  }

  private releaseHeld(t: bigint): void {
    const held = this.req.buf;
    this.req.buf = EMPTY;
    this.req.mode = 'head';
    if (held.length > 0) this.feed(true, held, 0, t);
  }

  /** Bytes that were not captured: skipped exactly inside a body of known size, otherwise the framing is lost. */
  private gap(d: Direction, missing: number, t: bigint): void {
    const c = this.host.counters;
    if ((d.mode === 'length' || d.mode === 'chunk-data') && missing <= d.remaining) {
      c.gapsSkippedExactly++;
      d.bodyBytes += missing;
      d.remaining -= missing;
      if (d.remaining === 0) { if (d.mode === 'length') this.endMessage(d, t); else d.mode = 'chunk-crlf'; }
      return;
    }
    if (d.mode === 'close' || d.mode === 'raw') { d.bodyBytes += missing; c.gapsSkippedExactly++; return; }
    this.desync(d);
  }

  /** This direction lost its framing. See the pairing rules in docs/protocols.md. */
  private desync(d: Direction): void {
    if (d.mode === 'desync') return;
    this.host.counters.desyncs++;
    d.mode = 'desync';
    d.buf = EMPTY;
    d.request = undefined;
    if (d.isRequest) {
      this.trusted = false; // requests may be hiding in the lost bytes: their answers would pair with later ones
      return;
    }
    // The answer in progress (or the one whose head was lost) belongs to the oldest request. With more requests
    // outstanding (pipelining), their answers may also be in the lost bytes: stop trusting the order.
    if (d.response) { if (d.response.req) this.lose('desync'); d.response = undefined; }
    else if (this.queue.length > 0) { this.queue.shift(); this.lose('desync'); }
    if (this.queue.length > 0) {
      for (let i = 0; i < this.queue.length; i++) this.lose('desync');
      this.owedOrphans += this.queue.length;
      this.queue.length = 0;
      this.trusted = false;
    }
  }

  /** Response bytes passed over while out of step may hold answers to any request sent before them. */
  private answersSkipped(t: bigint): void {
    let n = 0;
    while (this.queue.length > 0 && this.queue[0]!.startNs <= t) { this.queue.shift(); n++; this.lose('desync'); }
    if (n > 1) { this.owedOrphans += n - 1; this.trusted = false; }
  }

  private lose(reason: Parameters<ParserHost['lose']>[0]): void {
    this.host.lose(reason);
  }

  /** The connection closed: a response delimited by close completes, everything else in flight is lost. A
   *  connection the kernel stopped capturing (`sampled`, `ring_full`) did not close: nothing it had in flight
   *  completes, and a request whose head began in what was captured is lost too (the kernel counts only requests
   *  whose first byte it did not hand over: bpf/l7.bpf.c count_not_captured, bpf/include/l7_ringfull.h). */
  close(t: bigint, reason: SessionEnd = 'closed'): void {
    if (reason === 'closed' && this.resp.mode === 'close' && this.resp.response) this.finishExchange(this.resp, t);
    if (this.resp.response?.req) this.lose(reason);
    for (const r of this.queue) this.lose(r.trusted ? reason : 'desync');
    this.queue.length = 0;
    const head = this.req.mode === 'head' ? this.req.buf : EMPTY;
    if (reason !== 'closed' && head.length > 0 && looksLikeRequest(head) !== 'no') this.lose(this.trusted ? reason : 'desync');
    this.req.buf = EMPTY;
  }
}
