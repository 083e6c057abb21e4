// From captured streams to requests: one ProtocolSession (src/protocols) per connection, fed each direction's chunks
// in stream order, its role (client or server) from the kernel. Every completed request becomes one event,
// `http.request` or `grpc.request`, carrying the scrubbed RequestRecord and its semconv attributes; the pipeline adds
// the observed pod's identity (by cgroup id) and the peer's Service (by network.peer.address), and the OTLP exporter
// sends it as a span. Requests the parsers could not report are counted per reason in the drop registry
// (stage `protocol`), so made = reported + lost holds and is visible in `tapio status` and /metrics.
import type { DropCounters } from '../../core/drops';
import type { TapioEvent } from '../../core/event';
import { requestAttributes, requestEventName } from '../../core/request-attributes';
import { bootNsToUnixNano } from '../../kernel/clock';
import { ProtocolSession, type SessionOptions } from '../../protocols/session';
import { LOST_REASONS, type LostReason, type ProtocolCounters, type SessionEnd } from '../../protocols/types';
import { cgroupAttribute } from '../record-header';
import type { ConnectionInfo, StreamChunk, StreamConsumer } from './streams';

/** Parser counters summed over every session (closed and live) besides reported and lost. */
const SUMMED = ['desyncs', 'resyncs', 'hpackErrors', 'hpackBlocksLost', 'hpackUnknownFields', 'midStreamJoins',
  'orphanResponses', 'bytesSkipped'] as const;
type Summed = (typeof SUMMED)[number];

export interface RequestTotals {
  /** Requests reported as events. */
  reported: number;
  lost: Record<LostReason, number>;
  /** Sessions whose role the kernel did not know; guessed from who spoke first (clients speak first). */
  roleGuessed: number;
  /** Sessions whose bytes matched no parser (given up after the detection budget). */
  unsupported: number;
  parser: Record<Summed, number>;
}

export function newTotals(): RequestTotals {
  const lost = {} as Record<LostReason, number>;
  for (const r of LOST_REASONS) lost[r] = 0;
  const parser = {} as Record<Summed, number>;
  for (const k of SUMMED) parser[k] = 0;
  return { reported: 0, lost, roleGuessed: 0, unsupported: 0, parser };
}

/** Parser diagnostics (not losses) are folded into the totals every this many chunks, at close and at settle(). */
const FOLD_EVERY = 64;

export class RequestSessions {
  readonly totals = newTotals();
  /** Live sessions' folds, so settle() can bring the totals up to date before they are read. */
  private readonly live = new Set<() => void>();

  constructor(private readonly drops: DropCounters, private readonly options: SessionOptions = {}) {}

  /** The StreamConsumer of one connection: its protocol session, made on the first chunk. */
  consumer(info: ConnectionInfo, emit: (e: TapioEvent) => void): StreamConsumer {
    let session: ProtocolSession | undefined;
    const seen = { lost: {} as Record<LostReason, number>, parser: {} as Record<Summed, number> };
    for (const r of LOST_REASONS) seen.lost[r] = 0;
    for (const k of SUMMED) seen.parser[k] = 0;
    const ends = {
      localAddress: info.tuple.localAddress, localPort: info.tuple.localPort,
      peerAddress: info.tuple.peerAddress, peerPort: info.tuple.peerPort,
    };
    const cgroup = cgroupAttribute(info.cgroupId);
    let pushes = 0;
    let lostSeen = 0;
    const foldNow = (): void => {
      if (session) { lostSeen = session.lostCount; this.fold(session.counters, seen, session.protocol === 'grpc' ? 'grpc.request' : 'http.request'); }
    };

    // Per chunk: requests out at once; losses folded into the drop registry as soon as they happen (one number
    // compared), the parser's other counters every FOLD_EVERY chunks.
    const drain = (s: ProtocolSession): void => {
      const recs = s.takeRequests();
      for (let i = 0; i < recs.length; i++) {
        const rec = recs[i]!;
        const attributes = requestAttributes(rec, ends);
        attributes['process.pid'] = info.pid;
        attributes['tapio.cgroup.id'] = cgroup;
        if (info.attributes) {
          // Plaintext of a TLS stream (src/collectors/tls): marked, and its URL is https.
          Object.assign(attributes, info.attributes);
          const url = attributes['url.full'];
          if (typeof url === 'string' && info.attributes['tls.protocol.name']) attributes['url.full'] = url.replace(/^http:/, 'https:');
        }
        emit({ name: requestEventName(rec), timeUnixNano: rec.startTimeUnixNano, attributes, cgroupId: info.cgroupId, request: rec });
        this.totals.reported++;
      }
      if (s.lostCount !== lostSeen || ++pushes % FOLD_EVERY === 0) foldNow();
    };

    return {
      push: (chunk: StreamChunk) => {
        if (!session) {
          let role = info.role;
          if (role === 'unknown') {
            role = chunk.direction === 'send' ? 'client' : 'server';
            this.totals.roleGuessed++;
          }
          session = new ProtocolSession(role, { ...this.options, bootToWallNs: bootNsToUnixNano(0n) });
          this.live.add(foldNow);
        }
        session.push(chunk);
        drain(session);
      },
      close: (timeNs: bigint, _evicted: boolean, reason?: SessionEnd) => {
        if (!session) return;
        session.close(timeNs, reason ?? 'closed');
        drain(session);
        foldNow();
        this.live.delete(foldNow);
        if (session.protocol === 'unsupported') this.totals.unsupported++;
      },
    };
  }

  /** Brings the totals up to date with every live session (before they are read). */
  settle(): void {
    for (const f of this.live) f();
  }

  /** Adds what a session counted since last time to the totals, and its lost requests to the drop registry. */
  private fold(c: ProtocolCounters, seen: { lost: Record<LostReason, number>; parser: Record<Summed, number> }, kind: string): void {
    for (const r of LOST_REASONS) {
      const d = c.lost[r] - seen.lost[r];
      if (d > 0) {
        seen.lost[r] = c.lost[r];
        this.totals.lost[r] += d;
        this.drops.count('protocol', kind, r, d);
      }
    }
    for (const k of SUMMED) {
      const d = c[k] - seen.parser[k];
      if (d > 0) { seen.parser[k] = c[k]; this.totals.parser[k] += d; }
    }
  }
}
