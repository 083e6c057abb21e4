// A captured request (RequestRecord) in OpenTelemetry's words: the event name, the span name, whether it failed, and
// its attributes after the current semantic conventions for HTTP (http.request.method, url.path, url.query,
// http.response.status_code, server.* / client.*, network.protocol.version) and RPC (rpc.system=grpc, rpc.service,
// rpc.method, rpc.grpc.status_code). The requests collector puts these attributes on its `http.request` and
// `grpc.request` events (so the console JSON and the span carry the same names); the OTLP exporter builds the
// span from them. Every value was scrubbed by the parser before it got here.
import type { Attributes } from './attributes';
import type { RequestRecord } from './request';

/** The connection a request travelled on, from the observed process's side. */
export interface RequestEndpoints {
  localAddress: string;
  localPort: number;
  peerAddress: string;
  peerPort: number;
}

/** Event names of captured requests: one per protocol, so `--events http,grpc` picks either. */
export const REQUEST_EVENT_NAMES = ['http.request', 'grpc.request'] as const;
export type RequestEventName = (typeof REQUEST_EVENT_NAMES)[number];

export function requestEventName(req: RequestRecord): RequestEventName {
  return req.protocol === 'grpc' ? 'grpc.request' : 'http.request';
}

// The methods semconv knows by name; any other goes out as `_OTHER` with the original beside it.
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

// gRPC codes that mean the server failed (semconv: the others are the caller's doing, not a server error).
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

/** `/pkg.Service/Method` -> ['pkg.Service', 'Method'] ('' where absent). */
export function grpcServiceMethod(path: string): [string, string] {
  const m = /^\/?([^/]*)\/(.*)$/.exec(path);
  return m ? [m[1]!, m[2]!] : ['', path.replace(/^\//, '')];
}

/** Semconv status: HTTP 5xx on a server, 4xx and 5xx on a client; gRPC by code and side. */
export function isRequestError(req: RequestRecord): boolean {
  if (req.protocol === 'grpc') return req.side === 'client' ? req.status !== 0 : GRPC_SERVER_ERRORS.has(req.status);
  return req.status >= 500 || (req.side === 'client' && req.status >= 400);
}

/** `GET /users/{id}`, `GET`, or `pkg.Service/Method`. */
export function requestSpanName(req: RequestRecord): string {
  if (req.protocol === 'grpc') return req.method.replace(/^\//, '');
  const method = KNOWN_METHODS.has(req.method) ? req.method : 'HTTP';
  return req.route ? `${method} ${req.route}` : method;
}

function hostOnly(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']') > 0 ? authority.indexOf(']') : undefined);
  const colon = authority.lastIndexOf(':');
  return colon > 0 && authority.indexOf(':') === colon ? authority.slice(0, colon) : authority;
}

/** The request's own attributes (no identity: the pipeline adds container and pod, and the peer's service). */
export function requestAttributes(req: RequestRecord, ends?: RequestEndpoints): Attributes {
  const a: Attributes = {};
  if (req.protocolVersion) a['network.protocol.version'] = req.protocolVersion;
  if (req.protocol === 'grpc') {
    const [service, method] = grpcServiceMethod(req.method);
    a['rpc.system'] = 'grpc';
    a['rpc.service'] = service;
    a['rpc.method'] = method;
    a['rpc.grpc.status_code'] = req.status;
    if (req.statusMessage) a['tapio.rpc.grpc.status_message'] = req.statusMessage;
    if (req.requestMessages !== undefined) a['tapio.rpc.request_messages'] = req.requestMessages;
    if (req.responseMessages !== undefined) a['tapio.rpc.response_messages'] = req.responseMessages;
  } else {
    if (KNOWN_METHODS.has(req.method)) a['http.request.method'] = req.method;
    else { a['http.request.method'] = '_OTHER'; a['http.request.method_original'] = req.method; }
    a['http.response.status_code'] = req.status;
    if (req.route) a['http.route'] = req.route;
    if (req.target !== undefined) {
      const q = req.target.indexOf('?');
      a['url.path'] = q < 0 ? req.target : req.target.slice(0, q);
      if (q >= 0) a['url.query'] = req.target.slice(q + 1);
    }
    if (req.userAgent) a['user_agent.original'] = req.userAgent;
    if (req.upgrade) a['tapio.http.upgrade'] = req.upgrade;
  }
  for (const [k, v] of Object.entries(req.requestHeaders ?? {})) a[`http.request.header.${k}`] = [v];
  for (const [k, v] of Object.entries(req.responseHeaders ?? {})) a[`http.response.header.${k}`] = [v];
  if (isRequestError(req)) a['error.type'] = String(req.status);
  if (req.streamId !== undefined) a['tapio.http2.stream_id'] = req.streamId;
  if (req.resetCode !== undefined) a['tapio.http2.reset_code'] = req.resetCode;
  if (req.partial) a['tapio.request.partial'] = true;
  a['tapio.duration_ns'] = Number(req.durationNs);
  if (ends) {
    // The server is the local end on a server span and the peer on a client span; its name is the Host/:authority
    // when the request said it, else the address.
    const server = req.side === 'server' ? ends.localAddress : ends.peerAddress;
    a['server.address'] = req.host ? hostOnly(req.host) : server;
    a['server.port'] = req.side === 'server' ? ends.localPort : ends.peerPort;
    if (req.side === 'server') {
      a['client.address'] = ends.peerAddress;
      a['client.port'] = ends.peerPort;
    }
    a['network.peer.address'] = ends.peerAddress;
    a['network.peer.port'] = ends.peerPort;
    if (req.protocol === 'http' && req.side === 'client' && req.target?.startsWith('/')) {
      a['url.full'] = `http://${req.host ?? `${ends.peerAddress.includes(':') ? `[${ends.peerAddress}]` : ends.peerAddress}:${ends.peerPort}`}${req.target}`;
    }
  }
  return a;
}
