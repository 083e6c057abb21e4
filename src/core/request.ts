// A request seen on the wire (one HTTP exchange or one gRPC call), as the protocol parsers in src/protocols build it
// and the exporters (src/export) turn it into a span, metrics and console lines. It lives in core because both
// rooms speak it and neither may import the other.
import type { Attributes } from './attributes';

/** A request seen on the wire, as the protocol parsers (src/protocols) report it. */
export interface RequestRecord {
  protocol: 'http' | 'grpc';
  /** `server`: the observed process answered the request; `client`: it sent it. */
  side: 'server' | 'client';
  /** HTTP method, or the gRPC method (`/package.Service/Method`). */
  method: string;
  /** Low-cardinality route template (`/users/{id}`), when known. */
  route?: string;
  /** The raw path and query, e.g. `/users/42?x=1`. */
  target?: string;
  /** HTTP status code or gRPC status code. */
  status: number;
  startTimeUnixNano: bigint;
  durationNs: bigint;
  /** The request's W3C traceparent header, when it had one. */
  traceparent?: string;
  /** Identity (container.*, k8s.*) and peer attributes (network.peer.address, server.address, ...). */
  attributes: Attributes;
  // Filled by src/protocols when known; every value below has already been scrubbed there.
  /** `network.protocol.version`: '1.0', '1.1' or '2'. */
  protocolVersion?: string;
  /** The request's W3C tracestate, sent along with traceparent. */
  tracestate?: string;
  /** Host header or :authority. */
  host?: string;
  userAgent?: string;
  /** gRPC status message (grpc-message, percent-decoded). */
  statusMessage?: string;
  /** HTTP/2 stream id. */
  streamId?: number;
  /** gRPC messages each way, counted from the 5-byte length-prefixed framing. */
  requestMessages?: number;
  responseMessages?: number;
  requestBodyBytes?: number;
  responseBodyBytes?: number;
  /** The protocol the connection switched to after this request (`websocket`, `h2c`, `connect`). */
  upgrade?: string;
  /** HTTP/2 RST_STREAM error code, when the stream was reset. */
  resetCode?: number;
  /** Some headers could not be decoded (joined mid-way, HPACK state unknown); those present are exact. */
  partial?: boolean;
  /** Headers and bodies, only when configured to be captured. */
  requestHeaders?: Record<string, string>;
  responseHeaders?: Record<string, string>;
  requestBody?: string;
  responseBody?: string;
}
