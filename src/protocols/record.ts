// Turns one parsed exchange (request + response as the parsers saw them) into the RequestRecord the exporters take:
// scrubbed target and headers, route template, W3C trace context, optional captured headers and bodies.
import type { RequestRecord } from '../core/request';
import type { HeaderField } from './hpack/decoder';
import { routeTemplate } from './route';
import type { Scrubber } from './scrub';

/** What a parser knows about one exchange when it completes. */
export interface Exchange {
  protocol: 'http' | 'grpc';
  version: '1.0' | '1.1' | '2';
  method: string;
  /** Request target (HTTP/1) or :path (HTTP/2), raw: scrubbed when the record is built. */
  target?: string;
  requestHeaders: HeaderField[];
  responseHeaders: HeaderField[];
  status: number;
  statusMessage?: string;
  startNs: bigint;
  endNs: bigint;
  streamId?: number;
  requestMessages?: number;
  responseMessages?: number;
  requestBodyBytes?: number;
  responseBodyBytes?: number;
  requestBody?: Uint8Array;
  responseBody?: Uint8Array;
  upgrade?: string;
  resetCode?: number;
  partial?: boolean;
}

export interface RecordContext {
  side: 'client' | 'server';
  scrubber: Scrubber;
  captureHeaders: ReadonlySet<string>;
  bootToWallNs: bigint;
  /** Scrubbed text and route templates already computed on this connection (keep-alive requests repeat them). */
  memo?: Record<'target' | 'route' | 'text', Map<string, string>>;
}

const MEMO_ENTRIES = 64;

/** f(value), remembered per connection under `tag` (the scrubber and templating are pure for a given config). */
function memoized(ctx: RecordContext, tag: 'target' | 'route' | 'text', value: string, f: (v: string) => string): string {
  const m = ctx.memo?.[tag];
  if (!m) return f(value);
  let out = m.get(value);
  if (out === undefined) {
    out = f(value);
    if (m.size >= MEMO_ENTRIES) m.clear();
    if (value.length <= 512) m.set(value, out);
  }
  return out;
}

export function newMemo(): NonNullable<RecordContext['memo']> {
  return { target: new Map(), route: new Map(), text: new Map() };
}

export function headerValue(headers: readonly HeaderField[], name: string): string | undefined {
  for (const h of headers) if (h.name.length === name.length && h.name.toLowerCase() === name) return h.value;
  return undefined;
}

function captured(headers: readonly HeaderField[], ctx: RecordContext): Record<string, string> | undefined {
  if (ctx.captureHeaders.size === 0) return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const h of headers) {
    const name = h.name.toLowerCase();
    if (!ctx.captureHeaders.has(name)) continue;
    const v = ctx.scrubber.header(name, h.value);
    out[name] = out[name] === undefined ? v : `${out[name]}, ${v}`;
    any = true;
  }
  return any ? out : undefined;
}

export function buildRecord(x: Exchange, ctx: RecordContext): RequestRecord {
  const s = ctx.scrubber;
  const rec: RequestRecord = {
    protocol: x.protocol,
    side: ctx.side,
    method: x.protocol === 'grpc' ? s.text(x.method) : x.method,
    status: x.status,
    startTimeUnixNano: x.startNs + ctx.bootToWallNs,
    durationNs: x.endNs > x.startNs ? x.endNs - x.startNs : 0n,
    attributes: {},
    protocolVersion: x.version,
  };
  if (x.target !== undefined) {
    const target = memoized(ctx, 'target', x.target, (v) => s.target(v));
    rec.target = target;
    rec.route = x.protocol === 'grpc' ? rec.method : memoized(ctx, 'route', target, routeTemplate);
  }
  const host = headerValue(x.requestHeaders, x.version === '2' ? ':authority' : 'host')
    ?? (x.version === '2' ? headerValue(x.requestHeaders, 'host') : undefined);
  if (host !== undefined) rec.host = memoized(ctx, 'text', host, (v) => s.text(v));
  const traceparent = headerValue(x.requestHeaders, 'traceparent');
  if (traceparent !== undefined) {
    rec.traceparent = s.text(traceparent);
    const tracestate = headerValue(x.requestHeaders, 'tracestate');
    if (tracestate !== undefined) rec.tracestate = s.text(tracestate);
  }
  const ua = headerValue(x.requestHeaders, 'user-agent');
  if (ua !== undefined) rec.userAgent = memoized(ctx, 'text', ua, (v) => s.text(v));
  if (x.statusMessage !== undefined) rec.statusMessage = s.text(x.statusMessage);
  if (x.streamId !== undefined) rec.streamId = x.streamId;
  if (x.requestMessages !== undefined) rec.requestMessages = x.requestMessages;
  if (x.responseMessages !== undefined) rec.responseMessages = x.responseMessages;
  if (x.requestBodyBytes !== undefined) rec.requestBodyBytes = x.requestBodyBytes;
  if (x.responseBodyBytes !== undefined) rec.responseBodyBytes = x.responseBodyBytes;
  if (x.upgrade !== undefined) rec.upgrade = x.upgrade;
  if (x.resetCode !== undefined) rec.resetCode = x.resetCode;
  if (x.partial) rec.partial = true;
  const reqH = captured(x.requestHeaders, ctx);
  if (reqH) rec.requestHeaders = reqH;
  const respH = captured(x.responseHeaders, ctx);
  if (respH) rec.responseHeaders = respH;
  if (x.requestBody && x.requestBody.length > 0) rec.requestBody = s.text(Buffer.from(x.requestBody).toString('latin1'));
  if (x.responseBody && x.responseBody.length > 0) rec.responseBody = s.text(Buffer.from(x.responseBody).toString('latin1'));
  return rec;
}

/** Collects up to `limit` body bytes for capture (nothing when the limit is 0). */
export class BodyCapture {
  private parts: Uint8Array[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  add(b: Uint8Array, start: number, end: number): void {
    if (this.size >= this.limit) return;
    const n = Math.min(end - start, this.limit - this.size);
    this.parts.push(b.slice(start, start + n));
    this.size += n;
  }
  take(): Uint8Array | undefined {
    if (this.limit === 0 || this.size === 0) return undefined;
    return Buffer.concat(this.parts);
  }
}
