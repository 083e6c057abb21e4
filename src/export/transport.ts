// Sends one already-serialized OTLP request to the collector, over HTTP (protobuf or JSON) or gRPC, and classifies
// the answer the way the OTLP spec says: delivered (maybe partly rejected), retryable (with the server's requested
// delay when it gave one: HTTP Retry-After, gRPC RetryInfo), or permanently rejected. No retries here: the
// delivery lane (delivery.ts) owns retrying and spooling.
import * as http from 'node:http';
import * as https from 'node:https';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer, ProtobufLogsSerializer,
  ProtobufMetricsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { Reader } from 'protobufjs';
import type { Batch } from './spool-file';
import type { Signal, SignalTarget } from './settings';
import { redactUrl } from './redact';

const gzipAsync = promisify(gzip);

export type SendResult =
  /** `payloadFree`: nothing reads the batch's payload any more (no socket write or compression of it still going
   *  on), so the lane may free its memory at once rather than at V8's next full collection. */
  | { kind: 'ok'; rejected: number; message?: string; payloadFree?: boolean }
  /** `ambiguous`: the request went out and may have been processed (no complete answer in time, or the connection
   *  dropped after sending); resending it right away could deliver it twice. */
  | { kind: 'retry'; error: string; retryAfterMs?: number; ambiguous?: boolean }
  | { kind: 'permanent'; error: string; payloadFree?: boolean };

export interface Transport {
  send(batch: Batch): Promise<SendResult>;
  close(): void;
}

/** Reads `partial_success` out of a response body, in the batch's encoding. */
function rejectedIn(signal: Signal, encoding: Batch['encoding'], body: Uint8Array): { rejected: number; message?: string } {
  if (body.length === 0) return { rejected: 0 };
  try {
    let ps: { rejectedLogRecords?: unknown; rejectedDataPoints?: unknown; rejectedSpans?: unknown; errorMessage?: string } | undefined;
    if (signal === 'logs') ps = (encoding === 'json' ? JsonLogsSerializer : ProtobufLogsSerializer).deserializeResponse(body).partialSuccess;
    else if (signal === 'metrics') ps = (encoding === 'json' ? JsonMetricsSerializer : ProtobufMetricsSerializer).deserializeResponse(body).partialSuccess;
    else ps = (encoding === 'json' ? JsonTraceSerializer : ProtobufTraceSerializer).deserializeResponse(body).partialSuccess;
    const n = Number(ps?.rejectedLogRecords ?? ps?.rejectedDataPoints ?? ps?.rejectedSpans ?? 0);
    return { rejected: Number.isFinite(n) && n > 0 ? n : 0, message: ps?.errorMessage || undefined };
  } catch {
    return { rejected: 0 }; // an unreadable success body is still a success
  }
}

/** Retry-After: delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

const RETRYABLE_HTTP = new Set([429, 502, 503, 504]);

class HttpTransport implements Transport {
  private readonly agent: http.Agent;
  private readonly url: URL;
  /** The endpoint as errors show it (credentials masked): made once, not per request. */
  private readonly shown: string;

  constructor(private readonly target: SignalTarget) {
    this.url = new URL(target.url);
    this.shown = redactUrl(this.url.href);
    const { ca, cert, key } = target.tls;
    this.agent = this.url.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ca, cert, key })
      : new http.Agent({ keepAlive: true });
  }

  async send(batch: Batch): Promise<SendResult> {
    let body = Buffer.from(batch.payload.buffer, batch.payload.byteOffset, batch.payload.byteLength);
    const headers: Record<string, string> = {
      ...this.target.headers,
      'content-type': batch.encoding === 'json' ? 'application/json' : 'application/x-protobuf',
      'user-agent': 'tapio-otlp-exporter',
    };
    if (this.target.compression === 'gzip') {
      body = await gzipAsync(body);
      headers['content-encoding'] = 'gzip';
    }
    headers['content-length'] = String(body.length);
    const lib = this.url.protocol === 'https:' ? https : http;
    const shown = this.shown;
    return new Promise<SendResult>((done) => {
      let settled = false;
      let sent = false;
      const resolve = (r: SendResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        // The payload was compressed into a copy before sending, or its last byte has gone to the socket ('finish'):
        // a collector that answers before reading the whole body must not see freed memory sent.
        done(r.kind === 'retry' ? r : { ...r, payloadFree: sent || this.target.compression === 'gzip' });
      };
      // A total deadline for the whole exchange, not an idle timeout: a collector that sends headers and then
      // trickles its body one byte a second would otherwise hold the lane for ever while looking alive.
      const deadline = setTimeout(() => {
        resolve({ kind: 'retry', error: `no complete answer from ${shown} within ${this.target.timeoutMs} ms`, ambiguous: true });
        req.destroy();
      }, this.target.timeoutMs);
      const req = lib.request(this.url, { method: 'POST', headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => resolve({ kind: 'retry', error: `reading response from ${shown}: ${e.message}`, ambiguous: true }));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const resBody = Buffer.concat(chunks);
            if (status >= 200 && status < 300) {
              resolve({ kind: 'ok', ...rejectedIn(batch.signal, batch.encoding, resBody) });
              return;
            }
            const text = resBody.subarray(0, 200).toString('utf8').replace(/[^\x20-\x7e]+/g, ' ').trim();
            const error = `HTTP ${status} from ${shown}${text ? `: ${text}` : ''}`;
            if (RETRYABLE_HTTP.has(status)) {
              const ra = res.headers['retry-after'];
              resolve({ kind: 'retry', error, retryAfterMs: parseRetryAfter(Array.isArray(ra) ? ra[0] : ra) });
            } else {
              resolve({ kind: 'permanent', error });
            }
          });
        });
      req.on('finish', () => { sent = true; });
      req.on('error', (e) => resolve({ kind: 'retry', error: `${shown}: ${e.message}`, ambiguous: sent }));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

const GRPC_PATH: Record<Signal, string> = {
  logs: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
};

// OTLP/gRPC: these codes mean "try again later". RESOURCE_EXHAUSTED is retried even without RetryInfo (the spec
// says only with it): giving data up because a throttling collector forgot the hint would lose it for nothing.
const RETRYABLE_GRPC = new Set([grpc.status.CANCELLED, grpc.status.DEADLINE_EXCEEDED, grpc.status.ABORTED,
  grpc.status.OUT_OF_RANGE, grpc.status.UNAVAILABLE, grpc.status.DATA_LOSS, grpc.status.RESOURCE_EXHAUSTED]);

/** The delay in a google.rpc.RetryInfo inside a google.rpc.Status (grpc-status-details-bin), in ms. */
export function retryDelayFromStatusDetails(buf: Uint8Array): number | undefined {
  try {
    const status = Reader.create(buf);
    while (status.pos < status.len) {
      const tag = status.uint32();
      if (tag >>> 3 !== 3) { status.skipType(tag & 7); continue; }
      const any = Reader.create(status.bytes()); // google.protobuf.Any { type_url = 1; value = 2; }
      let typeUrl = '';
      let value: Uint8Array | undefined;
      while (any.pos < any.len) {
        const t = any.uint32();
        if (t >>> 3 === 1) typeUrl = any.string();
        else if (t >>> 3 === 2) value = any.bytes();
        else any.skipType(t & 7);
      }
      if (!typeUrl.endsWith('google.rpc.RetryInfo') || !value) continue;
      const info = Reader.create(value); // RetryInfo { Duration retry_delay = 1; }
      while (info.pos < info.len) {
        const t = info.uint32();
        if (t >>> 3 !== 1) { info.skipType(t & 7); continue; }
        const d = Reader.create(info.bytes()); // Duration { int64 seconds = 1; int32 nanos = 2; }
        let seconds = 0;
        let nanos = 0;
        while (d.pos < d.len) {
          const u = d.uint32();
          if (u >>> 3 === 1) seconds = Number(d.int64());
          else if (u >>> 3 === 2) nanos = d.int32();
          else d.skipType(u & 7);
        }
        return seconds * 1000 + Math.floor(nanos / 1e6);
      }
    }
  } catch { /* malformed details: no hint */ }
  return undefined;
}

class GrpcTransport implements Transport {
  private readonly client: grpc.Client;

  constructor(private readonly target: SignalTarget) {
    const url = new URL(target.url);
    const creds = url.protocol === 'https:'
      ? grpc.credentials.createSsl(target.tls.ca ?? null, target.tls.key ?? null, target.tls.cert ?? null)
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(url.host, creds, {
      // Reconnect promptly after an outage; our own backoff paces the retries.
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
      ...(target.compression === 'gzip' ? { 'grpc.default_compression_algorithm': 2 } : {}),
    });
  }

  send(batch: Batch): Promise<SendResult> {
    if (batch.encoding !== 'protobuf') {
      return Promise.resolve({ kind: 'permanent', error: 'a JSON-encoded batch cannot be sent over gRPC (protocol changed since it was spooled)', payloadFree: true });
    }
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.target.headers)) metadata.set(k.toLowerCase(), v);
    const payload = Buffer.from(batch.payload.buffer, batch.payload.byteOffset, batch.payload.byteLength);
    // grpc-js copies an uncompressed message into its frame before writing it; gzip reads it on the thread pool,
    // which an early answer from the server does not wait for.
    const payloadFree = this.target.compression !== 'gzip';
    return new Promise<SendResult>((resolve) => {
      this.client.makeUnaryRequest<Buffer, Buffer>(GRPC_PATH[batch.signal], (b) => b, (b) => b, payload, metadata,
        { deadline: Date.now() + this.target.timeoutMs },
        (err, res) => {
          if (!err) {
            resolve({ kind: 'ok', ...rejectedIn(batch.signal, 'protobuf', res ?? Buffer.alloc(0)), payloadFree });
            return;
          }
          const error = `gRPC ${grpc.status[err.code] ?? err.code} from ${redactUrl(this.target.url)}: ${err.details || err.message}`;
          if (!RETRYABLE_GRPC.has(err.code)) {
            resolve({ kind: 'permanent', error, payloadFree });
            return;
          }
          const details = err.metadata?.get('grpc-status-details-bin')[0];
          const retryAfterMs = details instanceof Buffer ? retryDelayFromStatusDetails(details) : undefined;
          resolve({ kind: 'retry', error, retryAfterMs, ambiguous: err.code === grpc.status.DEADLINE_EXCEEDED });
        });
    });
  }

  close(): void {
    this.client.close();
  }
}

export function createTransport(target: SignalTarget): Transport {
  return target.protocol === 'grpc' ? new GrpcTransport(target) : new HttpTransport(target);
}
