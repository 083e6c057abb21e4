// One delivery lane per signal: sends batches to the collector in order and never loses one silently. While the
// collector answers, batches go straight from memory, several requests at a time (a window of `maxInFlight`
// requests holding at most `maxInFlightRecords` records, so a slow answer does not hold up the next batch). The
// first retryable failure (or memory over its limit) switches the lane to the spool: every batch not yet sent is
// appended to the spool in order, the batches that were in flight stay in memory ahead of it and are retried one at
// a time, and the lane replays the spool oldest first, with exponential backoff (or the server's requested delay),
// until it is empty; then it goes back to direct sending. A batch leaves the spool only once the collector
// has acknowledged it, which makes delivery at-least-once (docs/export.md lists when a batch can arrive twice).
// The bytes of the batches a lane holds in memory are charged to a budget all lanes share (`memory`), which the
// exporter admits new records against.
import type { Batch, BatchHeader } from './spool-file';
import type { ByteBudget, GiveUpReason, Spool } from './spool';
import type { SendResult, Transport } from './transport';
import { redactUrlsIn } from './redact';
import { Backoff } from '../core/backoff';

export type LaneDropReason = GiveUpReason | 'rejected' | 'rejected_partial' | 'shutdown';

export interface LaneOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Over this many records waiting in memory, the lane moves them to the spool (only worth it on disk). */
  spillOverRecords?: number;
  /** The bytes every lane holds in memory together; this lane charges its batches (waiting, in flight, on their
   *  way to the spool) to it. */
  memory?: ByteBudget;
  /** Over this many bytes in `memory`, the lane moves its batches not in flight to the spool (only worth it on disk). */
  spillOverBytes?: number;
  /** Requests sent from memory without waiting for the answers of earlier ones (default 1). */
  maxInFlight?: number;
  /** Most records in those requests together (default: no bound beyond maxInFlight); a lone batch always goes.
   *  It bounds what one interruption can repeat: every request in flight may have been processed unanswered. */
  maxInFlightRecords?: number;
  /** Batches queued behind a full window are sent as one request of up to this many records (protobuf only). */
  mergeUpToRecords?: number;
  /** Frees a payload's memory now (native releaseBuffer); called only when nothing reads it any more. */
  release?: (payload: Uint8Array) => void;
  /** Told about every record given up, with the reason; `detail` is a message a person can act on. */
  onDrop: (header: BatchHeader, n: number, reason: LaneDropReason, detail?: string) => void;
  log: (message: string) => void;
  /** Wall clock for retention (default Date.now). */
  now?: () => number;
}

export interface LaneStats {
  memoryBatches: number;
  memoryRecords: number;
  /** Bytes of those records' encoded batches. */
  memoryBytes: number;
  /** Requests sent and not yet answered. */
  inFlight: number;
  /** Batches that went out inside an earlier batch's request because they queued behind a full window. */
  mergedBatches: number;
  sentBatches: number;
  sentRecords: number;
  failedAttempts: number;
  retryingSince?: number;
  lastError?: string;
}

export class DeliveryLane {
  /** Oldest first. While sending directly, the first `launched` batches are in flight (or failed and waiting for a
   *  retry); while spooling, memory holds only such batches, all older than anything in the spool. */
  private readonly memory: Batch[] = [];
  private memoryRecords = 0;
  private memoryBytes = 0;
  private launched = 0;
  private readonly inFlight = new Map<Batch, Promise<void>>();
  private inFlightRecords = 0;
  /** Batches joined into an earlier one's request (mergeQueued). */
  private merged = 0;
  /** The retryable answer a direct send got; the loop waits it out before retrying from memory. */
  private pendingPause: SendResult | undefined;
  private spooling = false;
  private spoolWrites: Promise<void> = Promise.resolve();
  private spoolPendingRecords = 0;
  private spoolPendingBytes = 0;
  private wake: (() => void) | undefined;
  private endPause: (() => void) | undefined;
  private stopping = false;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly loopDone: Promise<void>;
  private readonly counters = { sentBatches: 0, sentRecords: 0, failedAttempts: 0 };
  private retryingSince: number | undefined;
  private lastError: string | undefined;
  /** The last request may have been processed without us hearing back: before resending a batch, an empty request
   *  must be answered in time, so a slow collector sees each batch at most twice per interruption, not once per try. */
  private probeFirst = false;

  constructor(private readonly transport: Transport, private readonly spool: Spool, private readonly opts: LaneOptions,
    ready: Promise<void> = Promise.resolve()) {
    this.backoff = new Backoff(opts.initialBackoffMs, opts.maxBackoffMs, 'half');
    this.spoolWrites = ready; // spool writes wait until the spool is open
    // Whatever an earlier run left in the spool goes first.
    this.loopDone = ready.then(() => {
      if (this.spool.files > 0) this.spooling = true;
      return this.loop();
    }).catch((e: Error) => {
      // loop() guards each pass; this is the last line of defence: a lane that stopped is logged, never a crash.
      this.lastError = `delivery stopped: ${e.message}`;
      this.opts.log(`OTLP: delivery loop stopped: ${e.stack ?? e.message}`);
    });
  }

  /** Records held in memory by this lane (waiting to be sent, in flight, or on their way to the spool). */
  get pendingRecords(): number {
    return this.memoryRecords + this.spoolPendingRecords;
  }

  /** Bytes of the batches held in memory by this lane (the same ones as pendingRecords). */
  get pendingBytes(): number {
    return this.memoryBytes + this.spoolPendingBytes;
  }

  enqueue(batch: Batch): void {
    if (this.stopped) {
      this.opts.onDrop(batch, batch.records, 'shutdown', 'exporter already shut down');
      return;
    }
    if (this.spooling) {
      this.toSpool(batch);
    } else {
      this.memory.push(batch);
      this.memoryRecords += batch.records;
      this.memoryBytes += this.charge(batch);
      if (this.opts.spillOverRecords !== undefined && this.memoryRecords > this.opts.spillOverRecords) this.spill();
      else if (this.opts.spillOverBytes !== undefined && (this.opts.memory?.used ?? 0) > this.opts.spillOverBytes) this.spill();
    }
    this.poke();
  }

  stats(): LaneStats {
    return { memoryBatches: this.memory.length, memoryRecords: this.pendingRecords, memoryBytes: this.pendingBytes, inFlight: this.inFlight.size,
      mergedBatches: this.merged, ...this.counters, retryingSince: this.retryingSince, lastError: this.lastError };
  }

  /** Deliver what is queued within `timeoutMs`; then stop and keep the rest in the spool (or count it lost). */
  async shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.poke();
    if (this.retryingSince !== undefined) this.endPause?.(); // collector down: no point waiting out the backoff
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loopDone, new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
    clearTimeout(timer);
    this.stopped = true;
    this.poke();
    this.endPause?.();
    // Attempts still in flight get their own deadline to finish; after it, their batches go to the spool with the
    // rest (they may arrive twice: at-least-once), or, with a memory spool, are counted as given up at shutdown.
    await Promise.race([this.loopDone, new Promise<void>((r) => { timer = setTimeout(r, 2000); })]);
    clearTimeout(timer);
    this.spill(true);
    await this.spoolWrites;
    await this.spool.close();
    this.transport.close();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private waitForWork(): Promise<void> {
    return new Promise<void>((resolve) => { this.wake = resolve; });
  }

  /** Move every batch not in flight to the spool, in order, and keep spooling from now on. Batches in flight stay
   *  in memory, ahead of the spool, and are retried from there until the collector takes them. */
  private spill(includingInFlight = false): void {
    this.spooling = true;
    const kept: Batch[] = [];
    for (const b of this.memory.splice(0)) {
      if (!includingInFlight && this.inFlight.has(b)) {
        kept.push(b);
      } else {
        this.memoryRecords -= b.records;
        this.memoryBytes -= this.charge(b, -1);
        this.toSpool(b);
      }
    }
    this.memory.push(...kept);
    this.launched = kept.length;
  }

  /** Add (sign 1) or take back (-1) a batch's bytes in the shared memory budget; returns the bytes. */
  private charge(batch: Batch, sign: 1 | -1 = 1): number {
    const n = batch.payload.byteLength;
    if (this.opts.memory) this.opts.memory.used += sign * n;
    return n;
  }

  private toSpool(batch: Batch): void {
    this.spoolPendingRecords += batch.records;
    this.spoolPendingBytes += this.charge(batch);
    this.spoolWrites = this.spoolWrites
      .then(() => {
        // Handed over: a memory spool charges the same budget itself (at once, so nothing is counted twice or
        // missed); a disk spool holds it only while writing it.
        this.spoolPendingBytes -= this.charge(batch, -1);
        return this.spool.append(batch);
      })
      .catch((e: Error) => this.opts.onDrop(batch, batch.records, 'spool_write_failed', e.message))
      .finally(() => {
        this.spoolPendingRecords -= batch.records;
        this.poke();
      });
  }

  /** A batch in memory was answered for good (delivered or refused): it leaves memory. */
  private settle(batch: Batch, r: SendResult): void {
    const i = this.memory.indexOf(batch);
    if (i < 0) return; // spilled by shutdown meanwhile: the spool has it now
    this.memory.splice(i, 1);
    this.memoryRecords -= batch.records;
    this.memoryBytes -= this.charge(batch, -1);
    if (i < this.launched) this.launched--;
    this.free(batch, r);
  }

  /** A batch done with for good gives its memory back now: Buffers are freed only by V8's full collections, which
   *  at 100k events/s let tens of MiB of sent batches pile up in the C heap first. */
  private free(batch: Batch, r: SendResult): void {
    if (r.kind !== 'retry' && r.payloadFree) this.opts.release?.(batch.payload);
  }

  /** Start sends from memory while the window has room; the answers come back in any order. */
  private launch(): void {
    const maxRequests = this.probeFirst ? 1 : Math.max(1, this.opts.maxInFlight ?? 1);
    const maxRecords = this.opts.maxInFlightRecords ?? Infinity;
    while (this.launched < this.memory.length && this.inFlight.size < maxRequests) {
      const batch = this.mergeQueued(this.launched);
      if (this.inFlight.size > 0 && this.inFlightRecords + batch.records > maxRecords) break;
      this.launched++;
      this.inFlight.set(batch, this.sendDirect(batch));
    }
  }

  /** Batches that queued up behind a busy window go out as one request (up to `maxRecords` records): fewer,
   *  fuller requests exactly when the collector or the CPU is the bottleneck. Only protobuf: two serialized export
   *  requests concatenated are one request holding both lists of resource records (protobuf merges repeated
   *  fields); JSON bodies cannot be joined. */
  private mergeQueued(at: number): Batch {
    const first = this.memory[at]!;
    const maxRecords = this.opts.mergeUpToRecords ?? 0;
    let end = at + 1;
    let records = first.records;
    while (end < this.memory.length && first.encoding === 'protobuf' && this.memory[end]!.encoding === 'protobuf' &&
      records + this.memory[end]!.records <= maxRecords) records += this.memory[end++]!.records;
    if (end === at + 1) return first;
    const parts = this.memory.slice(at, end);
    const kinds: Record<string, number> = {};
    for (const b of parts) for (const [k, n] of Object.entries(b.kinds)) kinds[k] = (kinds[k] ?? 0) + n;
    const merged: Batch = { ...first, records, kinds, payload: Buffer.concat(parts.map((b) => b.payload)) };
    for (const b of parts) this.opts.release?.(b.payload); // copied, and never sent (not launched yet)
    this.memory.splice(at, end - at, merged);
    this.merged += parts.length - 1;
    return merged;
  }

  private async sendDirect(batch: Batch): Promise<void> {
    let r: SendResult;
    try {
      r = await this.send(batch);
    } catch (e) {
      r = { kind: 'retry', error: (e as Error).message }; // never expected; kept like a failed send, never lost
    }
    this.inFlight.delete(batch);
    if (r.kind !== 'retry') {
      this.settle(batch, r);
    } else if (!this.spooling) {
      this.pendingPause = r;
      this.spill(); // this batch and every one not yet sent go to the spool; those still in flight stay ahead
    } else {
      this.pendingPause ??= r; // it stays in memory: older than anything spooled since
    }
    this.poke(); // after the bookkeeping, so the loop sees it
  }

  /** One attempt, accounted in the window. */
  private async send(batch: Batch): Promise<SendResult> {
    this.inFlightRecords += batch.records;
    try {
      return await this.attempt(batch);
    } finally {
      this.inFlightRecords -= batch.records;
    }
  }

  private async attempt(batch: Batch): Promise<SendResult> {
    if (this.probeFirst) {
      const probe = await this.transport.send(emptyLike(batch));
      if (probe.kind === 'retry') return this.failed(batch, probe);
      this.probeFirst = false; // answered in time (even a refusal is an answer): the batch itself may go again
    }
    const r = await this.transport.send(batch);
    if (r.kind === 'ok') {
      this.counters.sentBatches++;
      this.counters.sentRecords += batch.records - r.rejected;
      if (r.rejected > 0) {
        this.opts.onDrop(batch, r.rejected, 'rejected_partial', r.message ?? 'collector rejected part of a batch');
      }
      if (this.retryingSince !== undefined) this.opts.log(`OTLP ${batch.signal}: collector reachable again`);
      this.retryingSince = undefined;
      this.backoff.reset();
    } else if (r.kind === 'permanent') {
      this.lastError = redactUrlsIn(r.error);
      this.opts.onDrop(batch, batch.records, 'rejected', this.lastError);
    } else {
      this.failed(batch, r);
    }
    return r;
  }

  private failed(batch: Batch, r: SendResult & { kind: 'retry' }): SendResult {
    this.counters.failedAttempts++;
    this.lastError = redactUrlsIn(r.error);
    if (r.ambiguous) this.probeFirst = true;
    if (this.retryingSince === undefined) {
      this.retryingSince = Date.now();
      this.opts.log(`OTLP ${batch.signal}: ${this.lastError}; keeping batches in the spool and retrying`);
    }
    return r;
  }

  /** Wait before the next retry: the server's requested delay, else exponential backoff with jitter. */
  private async pause(r: SendResult): Promise<void> {
    const hinted = r.kind === 'retry' ? r.retryAfterMs : undefined;
    const backoff = this.backoff.next();
    const delay = hinted !== undefined ? Math.min(hinted, this.opts.maxBackoffMs) : backoff;
    if (this.stopped) return;
    // New work does not cut a pause short (the server asked us to wait); only shutdown does.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.endPause = undefined; resolve(); }, delay);
      this.endPause = () => { clearTimeout(timer); resolve(); };
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if ((await this.pass()) === 'done') break;
      } catch (e) {
        // A spool operation failed (read-only volume, EIO...): say so, wait like after a failed send, try again.
        this.lastError = `spool: ${(e as Error).message}`;
        this.opts.log(`OTLP: ${this.lastError}; retrying`);
        await this.pause({ kind: 'retry', error: this.lastError });
      }
    }
    await Promise.all(this.inFlight.values()); // shutdown bounds this wait
  }

  /** One step of the delivery loop; 'done' when the lane is finished. */
  private async pass(): Promise<'done' | 'again'> {
    if (!this.spooling) {
      this.launch();
      if (this.memory.length === 0 && this.stopping) return 'done';
      await this.waitForWork(); // a new batch, an answer, or shutdown
      return 'again';
    }
    // Batches in memory are always older than anything in the spool: they go first, one at a time, once every
    // request in flight has been answered; after a retryable answer the lane waits before the next attempt.
    if (this.inFlight.size > 0) {
      await this.waitForWork();
      return 'again';
    }
    const hint = this.pendingPause;
    this.pendingPause = undefined;
    if (hint) {
      if (this.stopping) return 'done'; // collector down: what is in memory goes to the spool at shutdown
      await this.pause(hint);
      return 'again';
    }
    const batch = this.memory[0];
    if (batch) {
      this.inFlight.set(batch, Promise.resolve());
      const r = await this.send(batch).finally(() => this.inFlight.delete(batch));
      if (r.kind === 'retry') this.pendingPause = r;
      else this.settle(batch, r);
      return 'again';
    }
    this.launched = 0;
    await this.spool.expire((this.opts.now ?? Date.now)());
    if (this.stopping && this.retryingSince !== undefined) return 'done'; // collector down: keep the rest spooled
    const head = await this.spool.peek();
    if (!head) {
      if (this.spoolPendingRecords > 0) {
        await this.spoolWrites;
        return 'again';
      }
      this.spooling = false; // spool drained and nothing on its way in: back to direct sending
      return 'again';
    }
    const r = await this.attempt(head.batch);
    if (r.kind === 'retry') {
      await this.pause(r);
    } else {
      await this.spool.remove(head.entry);
      this.free(head.batch, r);
    }
    return 'again';
  }
}

/** An export request with no records, of the batch's signal and encoding: asks "are you answering in time?". */
function emptyLike(batch: Batch): Batch {
  return { ...batch, records: 0, kinds: {}, payload: batch.encoding === 'json' ? Buffer.from('{}') : new Uint8Array(0) };
}
