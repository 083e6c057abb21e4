// What a signal's records wait in until their batch goes to the delivery lane: at most batch.maxRecords per batch,
// closed as they fill, the open one taken when its delay is up. Logs as protobuf are encoded as they arrive, so the
// events die young (V8's young generation collects them nearly for free; held for the batch delay they were
// promoted, and the old generation then had to be marked every few seconds); other signals and encodings keep their
// records and serialize each batch when it goes.
import type { TapioEvent } from '../core/event';
import { forEachRun } from '../core/runs';
import type { LogsEncoder } from './encode/logs';
import type { Signal } from './settings';
import type { Batch } from './spool-file';

export interface Batcher<T> {
  /** Records waiting, in closed and open batches. */
  readonly records: number;
  /** True when a batch is full (closed) and should go now. */
  readonly hasFull: boolean;
  /** When the open batch got its first record (Date.now()), Infinity when it has none. */
  readonly openSince: number;
  /** Adds items[from, to), closing a batch whenever it reaches maxRecords. */
  add(items: readonly T[], from: number, to: number): void;
  /** The closed batches, and with `all` the open one too. A batch that could not be serialized is counted by the
   *  batcher (serialize_failed) and left out. */
  drain(all: boolean): Batch[];
}

/** Counts records that could not be serialized: `kind` is the event name when known, else `otlp.<signal>`. */
export type SerializeFailed = (kind: string, records: number, error: Error) => void;

/** Adds items[from, to) to a count per kind (a run of one kind costs one update). */
function countKinds<T>(kinds: Record<string, number>, items: readonly T[], from: number, to: number, kindOf: (t: T) => string): void {
  forEachRun(items, kindOf, (kind, n) => { kinds[kind] = (kinds[kind] ?? 0) + n; }, from, to);
}

/** Records per kind of items[from, to): what a batch, or a drop of several records, is counted under. */
export function kindsOf<T>(items: readonly T[], kindOf: (t: T) => string, from = 0, to = items.length): Record<string, number> {
  const kinds: Record<string, number> = {};
  countKinds(kinds, items, from, to, kindOf);
  return kinds;
}

/** Keeps the records; serializes each batch when it goes. */
export class RecordBatcher<T> implements Batcher<T> {
  private open: T[] = [];
  private closed: T[][] = [];
  private waiting = 0;
  openSince = Infinity;

  constructor(private readonly signal: Signal, private readonly encoding: Batch['encoding'], private readonly maxRecords: number,
    private readonly kindOf: (t: T) => string, private readonly serialize: (items: T[]) => Uint8Array | undefined,
    private readonly failed: SerializeFailed) {}

  get records(): number {
    return this.waiting;
  }

  get hasFull(): boolean {
    return this.closed.length > 0;
  }

  add(items: readonly T[], from: number, to: number): void {
    for (let i = from; i < to; i++) {
      if (this.open.length === 0) this.openSince = Date.now();
      this.open.push(items[i]!);
      if (this.open.length >= this.maxRecords) {
        this.closed.push(this.open);
        this.open = [];
        this.openSince = Infinity;
      }
    }
    this.waiting += to - from;
  }

  drain(all: boolean): Batch[] {
    const going = all && this.open.length > 0 ? [...this.closed, this.open] : this.closed;
    if (all) {
      this.open = [];
      this.openSince = Infinity;
    }
    this.closed = [];
    this.waiting = this.open.length;
    const out: Batch[] = [];
    for (const items of going) {
      const kinds = kindsOf(items, this.kindOf);
      try {
        const payload = this.serialize(items);
        if (payload) out.push({ signal: this.signal, encoding: this.encoding, records: items.length, kinds, createdAtMs: Date.now(), payload });
        else this.failed(`otlp.${this.signal}`, items.length, new Error('the serializer returned nothing'));
      } catch (e) {
        this.failed(`otlp.${this.signal}`, items.length, e as Error); // which records within the batch is not known
      }
    }
    return out;
  }
}

/** Log records encoded as the events arrive (encode/logs.ts); a batch is taken as bytes. */
export class EncodingLogsBatcher implements Batcher<TapioEvent> {
  private closed: Batch[] = [];
  private closedRecords = 0;
  private kinds: Record<string, number> = {};
  openSince = Infinity;
  private readonly skipped = (e: TapioEvent, error: Error): void => {
    if (--this.kinds[e.name]! === 0) delete this.kinds[e.name];
    this.failed(e.name, 1, error);
  };

  constructor(private readonly encoder: LogsEncoder, private readonly maxRecords: number, private readonly failed: SerializeFailed) {}

  get records(): number {
    return this.closedRecords + this.encoder.openRecords;
  }

  get hasFull(): boolean {
    return this.closed.length > 0;
  }

  add(events: readonly TapioEvent[], from: number, to: number): void {
    const observed = BigInt(Date.now()) * 1_000_000n;
    let at = from;
    while (at < to) {
      if (this.encoder.openRecords === 0) this.openSince = Date.now();
      const n = Math.min(to - at, this.maxRecords - this.encoder.openRecords);
      countKinds(this.kinds, events, at, at + n, (e) => e.name);
      this.encoder.append(events, at, at + n, observed, this.skipped); // takes a skipped event out of the count again
      at += n;
      if (this.encoder.openRecords >= this.maxRecords) this.close();
    }
  }

  drain(all: boolean): Batch[] {
    if (all && this.encoder.openRecords > 0) this.close();
    if (all) this.openSince = Infinity; // also when every event since it opened was left out
    const out = this.closed;
    this.closed = [];
    this.closedRecords = 0;
    return out;
  }

  private close(): void {
    const records = this.encoder.openRecords;
    this.closed.push({ signal: 'logs', encoding: 'protobuf', records, kinds: this.kinds, createdAtMs: Date.now(), payload: this.encoder.take() });
    this.closedRecords += records;
    this.kinds = {};
    this.openSince = Infinity;
  }
}
