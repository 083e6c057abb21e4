// gRPC over HTTP/2: counting length-prefixed messages (1 byte flag + 4 bytes length + message) in DATA payloads,
// reading grpc-status and grpc-message, and the status a client sees when there is no grpc-status
// (the mapping from HTTP status and RST_STREAM codes in grpc/doc/http-grpc-status-mapping.md and PROTOCOL-HTTP2.md).
import type { HeaderField } from './hpack/decoder';
import { headerValue } from './record';

/** Counts messages in one direction of one stream from the 5-byte prefixes, across DATA frame boundaries. */
export class GrpcMessageCounter {
  messages = 0;
  /** False once bytes went missing: the count would be a guess, so it is not reported. */
  known = true;
  private prefixLeft = 5;
  private lenBytes = 0;
  private msgLen = 0;
  private bodyLeft = 0;

  feed(b: Uint8Array, start: number, end: number): void {
    let p = start;
    while (p < end) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, end - p);
        this.bodyLeft -= n;
        p += n;
        continue;
      }
      // inside a prefix: byte 0 is the compressed flag, bytes 1..4 the big-endian length
      if (this.prefixLeft === 5) { this.msgLen = 0; this.lenBytes = 0; }
      if (this.prefixLeft < 5) { this.msgLen = this.msgLen * 256 + b[p]!; this.lenBytes++; }
      this.prefixLeft--;
      p++;
      if (this.prefixLeft === 0) {
        this.messages++;
        this.bodyLeft = this.msgLen;
        this.prefixLeft = 5;
      }
    }
  }

  lost(): void { this.known = false; }
}

/** Percent-decodes grpc-message (percent-encoded UTF-8); malformed escapes are kept as they are. */
export function decodeGrpcMessage(raw: string): string {
  if (!raw.includes('%')) return Buffer.from(raw, 'latin1').toString('utf8');
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 && i + 2 < raw.length + 0 && /^[0-9a-fA-F]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** grpc-status as a number, when present and well formed. */
export function grpcStatus(headers: readonly HeaderField[]): number | undefined {
  const v = headerValue(headers, 'grpc-status');
  if (v === undefined || !/^\d{1,2}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

/** The status a gRPC client reports for an HTTP status without grpc-status. */
export function grpcStatusFromHttp(status: number): number {
  switch (status) {
    case 400: return 13; // INTERNAL
    case 401: return 16; // UNAUTHENTICATED
    case 403: return 7; // PERMISSION_DENIED
    case 404: return 12; // UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return 14; // UNAVAILABLE
    default: return 2; // UNKNOWN
  }
}

/** The status a gRPC client reports for a stream reset with this HTTP/2 error code. */
export function grpcStatusFromReset(code: number): number {
  switch (code) {
    case 0x7: return 14; // REFUSED_STREAM -> UNAVAILABLE
    case 0x8: return 1; // CANCEL -> CANCELLED
    case 0xb: return 8; // ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED
    case 0xc: return 7; // INADEQUATE_SECURITY -> PERMISSION_DENIED
    default: return 13; // INTERNAL
  }
}

export function isGrpcContentType(v: string | undefined): boolean {
  return v !== undefined && /^application\/grpc($|[+;])/i.test(v);
}
