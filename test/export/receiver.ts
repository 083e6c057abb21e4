// A real OTLP receiver for the export tests and benchmark: a gRPC server (@grpc/grpc-js) and an HTTP server
// (node:http/https) on loopback that decode what Tapio sends with the official OpenTelemetry protocol definitions,
// or as OTLP/JSON, and keep every request. It can be stopped and restarted on the same port (a collector outage)
// and told to answer with errors (throttling, rejection).
//
// The definitions come from npm, not from copied .proto files: @opentelemetry/otlp-transformer@0.202.0 (installed
// under the alias otlp-proto-definitions, a devDependency) ships a protobufjs static module generated from
// opentelemetry-proto, LogRecord.eventName included. The 0.223 line the exporter uses writes protobuf by hand and
// no longer ships it.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import generatedRoot = require('otlp-proto-definitions/build/src/generated/root');

/** What we use of a message class in the generated static module (its .d.ts only says "a Root"). */
interface GeneratedMessage {
  decode(body: Uint8Array): object;
  encode(message: object): { finish(): Uint8Array };
  fromObject(plain: Record<string, unknown>): object;
  toObject(message: object, options: { longs: typeof String; enums: typeof Number; bytes: typeof String }): any;
}

export type Signal = 'logs' | 'metrics' | 'traces';

/** The generated collector package of each signal: opentelemetry.proto.collector.<name>.v1. */
type CollectorPackage = Record<string, GeneratedMessage>;
const collector = (generatedRoot as unknown as {
  opentelemetry: { proto: { collector: Record<'logs' | 'metrics' | 'trace', { v1: CollectorPackage }> } };
}).opentelemetry.proto.collector;

/** Per signal: the gRPC service path and the request/response message classes. */
const SERVICE: Record<Signal, { grpcPath: string; request: GeneratedMessage; response: GeneratedMessage }> = {
  logs: {
    grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
    request: collector.logs.v1.ExportLogsServiceRequest,
    response: collector.logs.v1.ExportLogsServiceResponse,
  },
  metrics: {
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    request: collector.metrics.v1.ExportMetricsServiceRequest,
    response: collector.metrics.v1.ExportMetricsServiceResponse,
  },
  traces: {
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    request: collector.trace.v1.ExportTraceServiceRequest,
    response: collector.trace.v1.ExportTraceServiceResponse,
  },
};

/** A decoded request message as a plain object shaped like OTLP/JSON (string int64s, base64 bytes, enum numbers). */
function toPlain(signal: Signal, message: object): any {
  return SERVICE[signal].request.toObject(message, { longs: String, enums: Number, bytes: String });
}

/** Decode a protobuf request body into a plain object shaped like OTLP/JSON (string int64s, base64 bytes). */
export function decodeRequest(signal: Signal, body: Uint8Array): any {
  return toPlain(signal, SERVICE[signal].request.decode(body));
}

/** A gRPC request as the service definition below hands it over: decoded, or null when not sampled. */
interface SampledRequest {
  message: object | null;
}

/** What the receiver answers; `delayMs`: after that long (the request is recorded at once; a slow collector). */
export type Answer = (
  | { kind: 'ok'; rejected?: number }
  | { kind: 'http'; status: number; retryAfter?: string }
  | { kind: 'grpc'; code: grpc.status; retryDelayMs?: number }) & { delayMs?: number };

/** Run `fn` now, or after the answer's delay (a timer that does not keep a finished test alive). */
function answerAfter(a: Answer, fn: () => void): void {
  if (!a.delayMs) fn();
  else setTimeout(fn, a.delayMs).unref();
}

export interface Received {
  signal: Signal;
  encoding: 'protobuf' | 'json';
  gzip: boolean;
  headers: Record<string, string>;
  body: any;
}

export interface ReceiverOptions {
  protocol: 'grpc' | 'http';
  tls?: { key: Buffer; cert: Buffer };
  /** Decide the answer per request (default: ok). Called after the request is recorded unless it says otherwise. */
  answer?: (signal: Signal, n: number) => Answer;
  /** Called with each decoded request (the benchmark measures latency here). */
  onReceive?: (r: Received) => void;
  /** Keep requests in `received` (default true; the benchmark turns it off to bound memory). */
  keep?: boolean;
  /** Decode only 1 request in `sampleEvery` (others get body null); the benchmark's receiver stays cheap. */
  sampleEvery?: number;
}

export class OtlpReceiver {
  readonly received: Received[] = [];
  port = 0;
  private grpcServer?: grpc.Server;
  private httpServer?: http.Server;
  private requests = 0;

  constructor(readonly opts: ReceiverOptions) {}

  get url(): string {
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  private decoded = 0;
  private shouldDecode(): boolean {
    return this.decoded++ % (this.opts.sampleEvery ?? 1) === 0;
  }

  private record(r: Received): void {
    this.opts.onReceive?.(r);
    if (this.opts.keep !== false) this.received.push(r);
  }

  private answer(signal: Signal): Answer {
    return this.opts.answer?.(signal, this.requests++) ?? { kind: 'ok' };
  }

  async start(): Promise<void> {
    if (this.opts.protocol === 'grpc') await this.startGrpc();
    else await this.startHttp();
  }

  /** Stop listening and drop open connections (what a collector crash looks like). */
  async stop(): Promise<void> {
    if (this.grpcServer) {
      this.grpcServer.forceShutdown();
      this.grpcServer = undefined;
    }
    if (this.httpServer) {
      const s = this.httpServer;
      this.httpServer = undefined;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private async startGrpc(): Promise<void> {
    const server = new grpc.Server();
    for (const signal of Object.keys(SERVICE) as Signal[]) {
      const { grpcPath, request, response } = SERVICE[signal];
      // A hand-written unary service definition (what @grpc/proto-loader would build from a .proto file). The
      // request is decoded here, or not at all when this one is not sampled (sampleEvery), to keep the receiver
      // cheap. It comes wrapped because grpc-js takes a null request as "no request message" and fails the call.
      const definition: grpc.ServiceDefinition = {
        Export: {
          path: grpcPath,
          requestStream: false,
          responseStream: false,
          requestSerialize: (wrapped: SampledRequest) => Buffer.from(request.encode(wrapped.message ?? {}).finish()),
          requestDeserialize: (bytes: Buffer): SampledRequest =>
            ({ message: this.shouldDecode() ? request.decode(bytes) : null }),
          responseSerialize: (plain: Record<string, unknown>) =>
            Buffer.from(response.encode(response.fromObject(plain)).finish()),
          responseDeserialize: (bytes: Buffer) => response.decode(bytes),
        },
      };
      server.addService(definition, {
        Export: (call: grpc.ServerUnaryCall<SampledRequest, object>, callback: grpc.sendUnaryData<object>) => {
          const a = this.answer(signal);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(call.metadata.getMap())) headers[k] = String(v);
          if (a.kind === 'grpc') {
            const md = new grpc.Metadata();
            if (a.retryDelayMs !== undefined) md.set('grpc-status-details-bin', statusWithRetryInfo(a.code, a.retryDelayMs));
            answerAfter(a, () => callback({ code: a.code, details: 'test receiver says no', metadata: md }));
            return;
          }
          this.record({ signal, encoding: 'protobuf', gzip: headers['grpc-encoding'] === 'gzip', headers,
            body: call.request.message ? toPlain(signal, call.request.message) : null });
          const rejected = a.kind === 'ok' && a.rejected ? a.rejected : 0;
          const field = signal === 'logs' ? 'rejectedLogRecords' : signal === 'metrics' ? 'rejectedDataPoints' : 'rejectedSpans';
          answerAfter(a, () => callback(null, rejected ? { partialSuccess: { [field]: rejected, errorMessage: 'some were bad' } } : {}));
        },
      });
    }
    const creds = this.opts.tls
      ? grpc.ServerCredentials.createSsl(null, [{ private_key: this.opts.tls.key, cert_chain: this.opts.tls.cert }])
      : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`127.0.0.1:${this.port}`, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.grpcServer = server;
  }

  private async startHttp(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const signal = (req.url ?? '').replace(/^\/v1\//, '') as Signal;
        if (!(signal in SERVICE) || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const a = this.answer(signal);
        if (a.kind === 'http') {
          answerAfter(a, () => res.writeHead(a.status, a.retryAfter ? { 'retry-after': a.retryAfter } : {}).end('test receiver says no'));
          return;
        }
        const gzip = req.headers['content-encoding'] === 'gzip';
        const json = req.headers['content-type'] === 'application/json';
        let decoded: any = null;
        try {
          let body: Buffer = Buffer.concat(chunks);
          if (gzip) body = gunzipSync(body);
          if (this.shouldDecode()) decoded = json ? JSON.parse(body.toString('utf8')) : decodeRequest(signal, body);
        } catch (err) {
          // Bytes that are not gzip/OTLP: say so to the sender, as a collector would, instead of crashing the test.
          res.writeHead(400).end(`test receiver cannot decode the body: ${(err as Error).message}`);
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k] = String(v);
        this.record({ signal, encoding: json ? 'json' : 'protobuf', gzip, headers, body: decoded });
        answerAfter(a, () => res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : ''));
      });
    };
    const server = this.opts.tls
      ? https.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert }, handler)
      : http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.httpServer = server;
  }

  // ---- reading what arrived, the same way for protobuf and JSON ----

  /** Every log record received, flattened with its resource attributes, in arrival order. */
  logRecords(): Array<{ eventName: string; severityNumber: number; severityText?: string; attributes: Record<string, unknown>;
    resource: Record<string, unknown>; timeUnixNano: string }> {
    const out = [];
    for (const r of this.received.filter((x) => x.signal === 'logs')) {
      for (const rl of r.body.resourceLogs ?? []) {
        const resource = attrs(rl.resource?.attributes);
        for (const sl of rl.scopeLogs ?? []) {
          for (const lr of sl.logRecords ?? []) {
            out.push({ eventName: lr.eventName, severityNumber: Number(lr.severityNumber), severityText: lr.severityText,
              attributes: attrs(lr.attributes), resource, timeUnixNano: String(lr.timeUnixNano) });
          }
        }
      }
    }
    return out;
  }

  spans(): Array<{ name: string; kind: number; traceId: string; spanId: string; parentSpanId: string;
    attributes: Record<string, unknown>; resource: Record<string, unknown>; statusCode: number }> {
    const out = [];
    for (const r of this.received.filter((x) => x.signal === 'traces')) {
      const hex = (v: string | undefined): string =>
        !v ? '' : r.encoding === 'json' ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex');
      for (const rs of r.body.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            out.push({ name: s.name, kind: Number(s.kind), traceId: hex(s.traceId), spanId: hex(s.spanId),
              parentSpanId: hex(s.parentSpanId), attributes: attrs(s.attributes), resource, statusCode: Number(s.status?.code ?? 0) });
          }
        }
      }
    }
    return out;
  }

  /** Metric name -> data points (attributes, value or sum/count) from the latest request that had the metric. */
  latestMetrics(): Map<string, Array<{ attributes: Record<string, unknown>; value?: number; count?: number; sum?: number }>> {
    const out = new Map();
    for (const r of this.received.filter((x) => x.signal === 'metrics')) {
      for (const rm of r.body.resourceMetrics ?? []) {
        for (const sm of rm.scopeMetrics ?? []) {
          for (const m of sm.metrics ?? []) {
            const points = m.sum?.dataPoints ?? m.histogram?.dataPoints ?? m.gauge?.dataPoints ?? [];
            out.set(m.name, points.map((p: any) => ({
              attributes: attrs(p.attributes),
              value: p.asInt !== undefined ? Number(p.asInt) : p.asDouble !== undefined ? Number(p.asDouble) : undefined,
              count: p.count !== undefined ? Number(p.count) : undefined,
              sum: p.sum !== undefined ? Number(p.sum) : undefined,
            })));
          }
        }
      }
    }
    return out;
  }
}

function anyValue(v: any): unknown {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}

function attrs(list: any[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** google.rpc.Status{code, details:[Any{RetryInfo{retry_delay}}]} encoded by hand with protobufjs' Writer. */
function statusWithRetryInfo(code: number, delayMs: number): Buffer {
  const duration = protobuf.Writer.create().uint32(8).int64(Math.floor(delayMs / 1000))
    .uint32(16).int32((delayMs % 1000) * 1e6).finish();
  const retryInfo = protobuf.Writer.create().uint32(10).bytes(duration).finish();
  const any = protobuf.Writer.create().uint32(10).string('type.googleapis.com/google.rpc.RetryInfo')
    .uint32(18).bytes(retryInfo).finish();
  return Buffer.from(protobuf.Writer.create().uint32(8).int32(code).uint32(26).bytes(any).finish());
}

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI, or undefined when openssl is missing. */
export function makeCertificate(dir: string): { key: Buffer; cert: Buffer; certFile: string } | undefined {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), certFile };
}
