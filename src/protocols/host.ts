// What a protocol parser needs from the session that runs it: limits, counters, where exchanges go, and the
// hand-over from HTTP/1 to HTTP/2 (h2c upgrade).
import type { H2cHandover } from './http1';
import type { Exchange } from './record';
import type { LostReason, ProtocolCounters, ProtocolLimits } from './types';

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
