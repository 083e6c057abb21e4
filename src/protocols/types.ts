// Options, limits and counters shared by the protocol parsers (HTTP/1.1, HTTP/2, gRPC) and the session that runs
// them. Every limit bounds memory per connection; every time one is hit, or bytes cannot be parsed, a counter says so.
import type { ScrubRules } from './scrub';

export interface ProtocolLimits {
  /** Largest HTTP/1 request/status line plus headers buffered, in bytes. */
  maxHeaderBytes: number;
  /** Largest HTTP/2 header block (HEADERS + CONTINUATION, or PUSH_PROMISE) buffered, in bytes. */
  maxHeaderBlockBytes: number;
  /** Largest HPACK dynamic table we keep per direction (caps SETTINGS_HEADER_TABLE_SIZE), in bytes. */
  maxHpackTableBytes: number;
  /** HTTP/2 streams tracked at once per connection. */
  maxConcurrentStreams: number;
  /** HTTP/1 requests waiting for their response (pipelining depth). */
  maxPendingRequests: number;
  /** Bytes examined before a connection that matches no protocol is declared unsupported. */
  maxDetectBytes: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = {
  maxHeaderBytes: 64 * 1024,
  maxHeaderBlockBytes: 64 * 1024,
  maxHpackTableBytes: 64 * 1024,
  maxConcurrentStreams: 256,
  maxPendingRequests: 64,
  maxDetectBytes: 16 * 1024,
};

export interface SessionOptions {
  limits?: Partial<ProtocolLimits>;
  /** Scrub rules; DEFAULT_SCRUB_RULES when absent. */
  scrub?: Partial<ScrubRules>;
  /** Header names (lower case) whose (scrubbed) values are copied into the record. None by default. */
  captureHeaders?: string[];
  /** Bytes of each body copied into the record (scrubbed); 0 (the default) captures no body. */
  captureBodyBytes?: number;
  /** Added to the kernel boot-clock times to get Unix-epoch nanoseconds (src/kernel/clock.ts). */
  bootToWallNs?: bigint;
}

/** Why an exchange seen (at least in part) on the wire was not reported. */
export type LostReason =
  | 'desync' // bytes were missing where the framing could not be followed; the exchange's data is unreliable
  | 'closed' // the connection closed before the exchange completed
  | 'reset' // HTTP/2 stream reset before a response status was known
  | 'goaway' // above the last stream id of a GOAWAY: the peer never processed it
  | 'stream_limit' // more concurrent HTTP/2 streams than maxConcurrentStreams
  | 'pending_limit' // more pipelined HTTP/1 requests than maxPendingRequests
  | 'header_too_large' // headers above maxHeaderBytes / maxHeaderBlockBytes
  | 'headers_unknown' // method, path or status sat in HPACK state we could not know
  | 'malformed' // the peer sent bytes that break the protocol
  | 'queue_full' // completed but not taken (takeRequests) before the session's record queue filled
  | 'sampled' // in flight when the kernel let the connection go because sampling rose (l7_shed in bpf/l7.bpf.c)
  | 'ring_full' // in flight when the kernel let the connection go because its record did not fit the ring
  | 'tls_paused'; // in flight on a TLS stream when the TLS probes were paused to hold their cost (tls/duty.ts)

export const LOST_REASONS: readonly LostReason[] = [
  'desync', 'closed', 'reset', 'goaway', 'stream_limit', 'pending_limit', 'header_too_large', 'headers_unknown',
  'malformed', 'queue_full', 'sampled', 'ring_full', 'tls_paused',
];

/** Why a session ends: its connection closed, or the kernel stopped capturing it while it stays open (sampling rose:
 *  `sampled`; one of its records did not fit the ring: `ring_full`, bpf/include/l7_ringfull.h), or TLS capture's
 *  probes were paused (`tls_paused`: nothing is seen of it until they are back, then it is a new stream). Not
 *  closed, nothing in flight completes by the end. */
export type SessionEnd = 'closed' | 'sampled' | 'ring_full' | 'tls_paused';

export interface ProtocolCounters {
  chunks: number;
  bytes: number;
  /** Bytes the kernel did not copy (length - data.length). */
  bytesNotCaptured: number;
  /** Bytes captured but not parsed: waiting for a frame boundary, unsupported or detection give-up. */
  bytesSkipped: number;
  /** Chunks with missing bytes. */
  gaps: number;
  /** Gaps that fell inside a body of known length: skipped exactly, nothing lost. */
  gapsSkippedExactly: number;
  /** Times a direction lost its framing; resyncs: times it found it again. */
  desyncs: number;
  resyncs: number;
  /** HTTP/2 header blocks that failed to decode (HPACK table then marked unknown), or were lost in a gap. */
  hpackErrors: number;
  hpackBlocksLost: number;
  /** Header fields left out because they referenced unknown HPACK state. */
  hpackUnknownFields: number;
  /** Connections first seen mid-way (no HTTP/2 preface). */
  midStreamJoins: number;
  /** HTTP/1 responses with no request to pair with (their request was lost or seen before we joined). */
  orphanResponses: number;
  /** Streams whose gRPC message count became unknown because DATA bytes were missing. */
  grpcCountsUnknown: number;
  reported: number;
  lost: Record<LostReason, number>;
}

export function newCounters(): ProtocolCounters {
  const lost = {} as Record<LostReason, number>;
  for (const r of LOST_REASONS) lost[r] = 0;
  return {
    chunks: 0, bytes: 0, bytesNotCaptured: 0, bytesSkipped: 0, gaps: 0, gapsSkippedExactly: 0, desyncs: 0,
    resyncs: 0, hpackErrors: 0, hpackBlocksLost: 0, hpackUnknownFields: 0, midStreamJoins: 0, orphanResponses: 0,
    grpcCountsUnknown: 0, reported: 0, lost,
  };
}

/** Sum of lost exchanges over every reason. */
export function totalLost(c: ProtocolCounters): number {
  return LOST_REASONS.reduce((n, r) => n + c.lost[r], 0);
}
