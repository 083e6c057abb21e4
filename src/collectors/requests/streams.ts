// Per-connection stream assembly: turns data records into CapturedChunks in stream order per direction, with the
// bytes that were not copied (beyond the per-syscall bound, ring full, unreadable memory, reordering) handed on as
// explicit gaps, so a parser always knows exactly where its bytes sit. Connections are bounded (least recently used
// evicted first; evictions counted) and closed when the kernel says the socket closed.
import type { SessionEnd } from '../../protocols/types';
import { LruMap } from '../../core/lru';
import type { CloseRecord, ConnectionTuple, DataRecord } from './records';
import { FLAG_SYSCALL_END } from './layout';

/** The parsers' input (same shape as CapturedChunk in src/protocols/session.ts). */
export interface StreamChunk {
  direction: 'send' | 'recv';
  data: Uint8Array;
  /** The bytes this chunk covers in the stream; more than data.length means the rest was not copied. */
  length: number;
  timeNs: bigint;
  /** The syscall that carried the bytes (write, writev, recvmsg, ...), for diagnostics. */
  syscall?: string;
}

/** Who is on a connection, as first seen. */
export interface ConnectionInfo {
  key: string;
  role: 'unknown' | 'client' | 'server';
  protocol: number;
  pid: number;
  cgroupId: bigint;
  tuple: ConnectionTuple;
  /** Added to every request of this stream (TLS capture: tls.protocol.name, tapio.tls.*). */
  attributes?: Record<string, string | number | boolean>;
}

/** What consumes one connection's streams (a protocol session, or a test's recorder). */
export interface StreamConsumer {
  push(chunk: StreamChunk): void;
  /** The connection ended (closed, or evicted: `evicted` true, or no longer captured: `reason` sampled or ring_full). */
  close(timeNs: bigint, evicted: boolean, reason?: SessionEnd): void;
}

export interface StreamCounters {
  connections: number;
  evicted: number;
  /** Let go by the kernel when sampling rose (their unfinished requests count as lost, `sampled`). */
  shed: number;
  /** Let go by the kernel when one of their records did not fit the ring (unfinished requests lost, `ring_full`). */
  ringFull: number;
  /** Let go when TLS capture's probes were paused (unfinished requests lost, `tls_paused`). */
  paused: number;
  /** Records of a connection after the kernel let it go (another thread's syscall that was being copied then):
   *  dropped, they would start a session in the middle of a stream. */
  recordsAfterEnd: number;
  closed: number;
  gapBytes: number;
  gaps: number;
  outOfOrder: number;
}

/** Connections let go while open whose keys are kept, to drop records that were still on their way. */
const LET_GO_REMEMBERED = 4096;

interface Connection {
  info: ConnectionInfo;
  consumer: StreamConsumer;
  next: [number | undefined, number | undefined];
}

export class StreamTable {
  private readonly conns = new Map<string, Connection>();
  readonly counters: StreamCounters = { connections: 0, evicted: 0, closed: 0, shed: 0, ringFull: 0, paused: 0, recordsAfterEnd: 0, gapBytes: 0, gaps: 0, outOfOrder: 0 };
  /** Connections the kernel let go while open (most recent last, bounded): their later records are dropped. */
  private readonly letGo = new LruMap<string, true>(LET_GO_REMEMBERED);

  constructor(private readonly maxConnections: number, private readonly open: (info: ConnectionInfo) => StreamConsumer) {}

  get size(): number {
    return this.conns.size;
  }

  has(connection: string): boolean {
    return this.conns.has(connection);
  }

  data(r: DataRecord): void {
    let c = this.conns.get(r.connection);
    if (c) {
      this.conns.delete(r.connection); // re-insert: Map order is recency order
    } else {
      if (this.letGo.size > 0 && this.letGo.has(r.connection)) { this.counters.recordsAfterEnd++; return; }
      if (this.conns.size >= this.maxConnections) this.evictOldest(r.timeNs);
      if (!r.tuple) return; // the decoder was told the connection was known: cannot happen within one call
      const info: ConnectionInfo = { key: r.connection, role: r.role, protocol: r.protocol, pid: r.pid, cgroupId: r.cgroupId, tuple: r.tuple };
      c = { info, consumer: this.open(info), next: [undefined, undefined] };
      this.counters.connections++;
    }
    this.conns.set(r.connection, c);
    const d = r.direction === 'send' ? 0 : 1;
    const expected = c.next[d] ?? r.seq;
    let seq = r.seq;
    let data = r.data;
    if (seq < expected) {
      // Another thread's syscall on this socket claimed later bytes but reached the ring first: what overlaps
      // what was already handed on cannot be put back in place. Keep the part past `expected`, if any.
      this.counters.outOfOrder++;
      const skip = expected - seq;
      if (skip >= data.length) data = new Uint8Array(0);
      else data = data.subarray(skip);
      seq = expected;
    } else if (seq > expected) {
      const gap = seq - expected;
      this.counters.gaps++;
      this.counters.gapBytes += gap;
      c.consumer.push({ direction: r.direction, data: new Uint8Array(0), length: gap, timeNs: r.timeNs });
      c.next[d] = seq; // handed on: a record that only says where its syscall ended must not repeat the gap
    }
    let end = r.seq + r.data.length;
    if (r.flags & FLAG_SYSCALL_END) end = r.syscallSeq + r.syscallLength;
    if (end <= seq) return;
    const length = end - seq;
    if (length > data.length) {
      this.counters.gaps++;
      this.counters.gapBytes += length - data.length;
    }
    c.next[d] = end;
    c.consumer.push({ direction: r.direction, data, length, timeNs: r.timeNs, syscall: r.syscall });
  }

  close(r: CloseRecord): void {
    if (r.reason !== 'closed') {
      this.letGo.set(r.connection, true);
    }
    const c = this.conns.get(r.connection);
    if (!c) return;
    this.conns.delete(r.connection);
    if (r.reason === 'closed') this.counters.closed++;
    else if (r.reason === 'sampled') this.counters.shed++;
    else this.counters.ringFull++;
    c.consumer.close(r.timeNs, false, r.reason);
  }

  /** Lets every connection go while they stay open (TLS capture's probes paused): what each had in flight is lost
   *  under `reason`, and records of theirs still on their way are dropped (counted `recordsAfterEnd`). */
  letGoAll(timeNs: bigint, reason: 'tls_paused'): void {
    for (const [key, c] of this.conns) {
      this.letGo.set(key, true);
      this.counters.paused++;
      c.consumer.close(timeNs, false, reason);
    }
    this.conns.clear();
  }

  /** Ends every connection (the agent is stopping). */
  closeAll(timeNs: bigint): void {
    for (const c of this.conns.values()) c.consumer.close(timeNs, true);
    this.conns.clear();
  }

  private evictOldest(timeNs: bigint): void {
    const oldest = this.conns.keys().next();
    if (oldest.done) return;
    const c = this.conns.get(oldest.value)!;
    this.conns.delete(oldest.value);
    this.counters.evicted++;
    c.consumer.close(timeNs, true);
  }
}
