// What a protocol parser needs from the session that runs it: limits, counters, where exchanges go, and the
// hand-over from HTTP/1 to HTTP/2 (h2c upgrade).
import type { HeaderField } from './hpack/decoder';
import type { Exchange } from './record';
import type { LostReason, ProtocolCounters, ProtocolLimits } from './types';

/** The first request of an h2c upgrade, which becomes HTTP/2 stream 1. */
export interface H2cHandover { method: string; target: string; headers: HeaderField[]; startNs: bigint }

export interface ParserHost {
  readonly limits: ProtocolLimits;
  readonly counters: ProtocolCounters;
  readonly captureBodyBytes: number;
  emit(x: Exchange): void;
  lose(reason: LostReason): void;
  /** Whether this parser still owns the connection (false once it handed over to another). */
  active(parser: object): boolean;
  upgradeToHttp2(stream1: H2cHandover, clientBytes: Uint8Array): void;
}
