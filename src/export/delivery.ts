// One delivery lane per signal: sends batches to the collector one at a time, in order, and never loses one
// silently. While the collector answers, batches go straight from memory. The first retryable failure (or memory
// over its limit) switches the lane to the spool: the failed batch and everything behind it are appended to the
// spool in order, and the lane replays the spool oldest first, with exponential backoff (or the server's requested
// delay), until it is empty; then it goes back to direct sending. A batch leaves the spool only once the collector
// has acknowledged it, which makes delivery at-least-once (docs/export.md lists when a batch can arrive twice).
import type { Batch, BatchHeader } from './spool-file';
import type { GiveUpReason, Spool } from './spool';
import type { SendResult, Transport } from './transport';
import { redactUrlsIn } from './redact';
import { Backoff } from '../core/backoff';

export type LaneDropReason = GiveUpReason | 'rejected' | 'rejected_partial' | 'shutdown';

export interface LaneOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Over this many records waiting in memory, the lane moves them to the spool (only worth it on disk). */
  spillOverRecords?: number;
  /** Told about every record given up, with the reason; `detail` is a message a person can act on. */
  onDrop: (header: BatchHeader, n: number, reason: LaneDropReason, detail?: string) => void;
  log: (message: string) => void;
  /** Wall clock for retention (default Date.now). */
  now?: () => number;
}

export interface LaneStats {
  memoryBatches: number;
  memoryRecords: number;
  sentBatches: number;
  sentRecords: number;
  failedAttempts: number;
  retryingSince?: number;
  lastError?: string;
}

export class DeliveryLane {
  private readonly memory: Batch[] = [];
  private memoryRecords = 0;
  private spooling = false;
  private inFlight: Batch | undefined;
  private spoolWrites: Promise<void> = Promise.resolve();
  private spoolPendingRecords = 0;
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

  /** Records held in memory by this lane (waiting to be sent or to be written to the spool). */
  get pendingRecords(): number {
    return this.memoryRecords + this.spoolPendingRecords;
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
      if (this.opts.spillOverRecords !== undefined && this.memoryRecords > this.opts.spillOverRecords) this.spill();
    }
    this.poke();
  }

  stats(): LaneStats {
    return { memoryBatches: this.memory.length, memoryRecords: this.pendingRecords, ...this.counters,
      retryingSince: this.retryingSince, lastError: this.lastError };
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
    // An attempt still in flight gets its own deadline to finish; after it, its batch goes to the spool with the
    // rest (it may arrive twice: at-least-once), or, with a memory spool, is counted as given up at shutdown.
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

  /** Move everything in memory to the spool, in order, and keep spooling from now on. A batch whose send is in
   *  flight stays in memory, ahead of the spool, and is retried from there until the collector takes it. */
  private spill(includingInFlight = false): void {
    this.spooling = true;
    const keep = !includingInFlight && this.inFlight !== undefined && this.memory[0] === this.inFlight ? 1 : 0;
    const moved = this.memory.splice(keep);
    for (const b of moved) {
      this.memoryRecords -= b.records;
      this.toSpool(b);
    }
  }

  private toSpool(batch: Batch): void {
    this.spoolPendingRecords += batch.records;
    this.spoolWrites = this.spoolWrites
      .then(() => this.spool.append(batch))
      .catch((e: Error) => this.opts.onDrop(batch, batch.records, 'spool_write_failed', e.message))
      .finally(() => {
        this.spoolPendingRecords -= batch.records;
        this.poke();
      });
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
        if ((await this.pass()) === 'done') return;
      } catch (e) {
        // A spool operation failed (read-only volume, EIO...): say so, wait like after a failed send, try again.
        this.lastError = `spool: ${(e as Error).message}`;
        this.opts.log(`OTLP: ${this.lastError}; retrying`);
        await this.pause({ kind: 'retry', error: this.lastError });
      }
    }
  }

  /** One step of the delivery loop; 'done' when the lane is finished. */
  private async pass(): Promise<'done' | 'again'> {
    // A batch in memory is always older than anything in the spool: send it first.
    const batch = this.memory[0];
    if (batch) {
      this.inFlight = batch;
      const r = await this.attempt(batch);
      this.inFlight = undefined;
      if (this.memory[0] !== batch) return 'again'; // spilled by shutdown meanwhile: the spool has it now
      if (r.kind === 'retry') {
        if (!this.spooling) this.spill(); // the failed batch first, then everything behind it
        await this.pause(r);
        return 'again';
      }
      this.memory.shift();
      this.memoryRecords -= batch.records;
      return 'again';
    }
    if (!this.spooling) {
      if (this.stopping) return 'done';
      await this.waitForWork();
      return 'again';
    }
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
    if (r.kind === 'retry') await this.pause(r);
    else await this.spool.remove(head.entry);
    return 'again';
  }
}

/** An export request with no records, of the batch's signal and encoding: asks "are you answering in time?". */
function emptyLike(batch: Batch): Batch {
  return { ...batch, records: 0, kinds: {}, payload: batch.encoding === 'json' ? Buffer.from('{}') : new Uint8Array(0) };
}
