// Holds the first plaintext of an SSL object whose socket is not known yet, until it is. Node writes ciphertext
// after SSL_write returns (a memory BIO), so a client's first request is captured before the kernel learns its
// socket from the next socket write; the response that follows carries it. A stream opens (in the stream table)
// with the tuple of its first mapped record; what stays unmapped past the bounds opens without one (counted).
import type { TlsCloseRecord, TlsDataRecord } from './records';

interface Held {
  recs: TlsDataRecord[];
  bytes: number;
  sinceMs: number;
}

export interface HoldCounters {
  held_records: number;
  released_mapped: number;
  released_unmapped: number;
}

export class UnmappedHold {
  private readonly held = new Map<string, Held>();
  private readonly open = new Set<string>();
  readonly counters: HoldCounters = { held_records: 0, released_mapped: 0, released_unmapped: 0 };

  constructor(private readonly out: (r: TlsDataRecord) => void, private readonly maxRecords = 64,
    private readonly maxBytes = 256 << 10, private readonly maxAgeMs = 1000, private readonly maxStreams = 4096) {}

  data(r: TlsDataRecord, nowMs = Date.now()): void {
    if (this.open.has(r.connection)) return this.out(r);
    const h = this.held.get(r.connection);
    if (r.sock !== 0n) {
      if (h) {
        this.held.delete(r.connection);
        this.counters.released_mapped++;
        for (const x of h.recs) this.out({ ...x, tuple: r.tuple, sock: r.sock });
      }
      this.markOpen(r.connection);
      return this.out(r);
    }
    if (!h) {
      if (this.held.size >= this.maxStreams) this.releaseOldest();
      this.held.set(r.connection, { recs: [r], bytes: r.data.length, sinceMs: nowMs });
    } else {
      h.recs.push(r);
      h.bytes += r.data.length;
      if (h.recs.length >= this.maxRecords || h.bytes >= this.maxBytes) this.release(r.connection);
    }
    this.counters.held_records++;
  }

  /** The stream ended: whatever is held goes out unmapped first. */
  close(r: TlsCloseRecord): void {
    if (this.held.has(r.connection)) this.release(r.connection);
    this.open.delete(r.connection);
  }

  /** Releases streams held longer than maxAgeMs (called on every batch and scan). */
  expire(nowMs = Date.now()): void {
    for (const [k, h] of this.held) if (nowMs - h.sinceMs >= this.maxAgeMs) this.release(k);
  }

  /** Everything held goes out (the agent stops). */
  flush(): void {
    for (const k of [...this.held.keys()]) this.release(k);
  }

  private markOpen(key: string): void {
    if (this.open.size >= this.maxStreams * 16) this.open.clear();
    this.open.add(key);
  }

  private release(key: string): void {
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    this.counters.released_unmapped++;
    this.markOpen(key);
    for (const x of h.recs) this.out(x);
  }

  private releaseOldest(): void {
    const k = this.held.keys().next();
    if (!k.done) this.release(k.value);
  }
}
