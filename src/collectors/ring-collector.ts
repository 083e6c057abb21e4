// What every ring-buffer collector does the same way: load its object through the fallback loader (never failing
// the agent when hooks are missing), read its ring in batches, turn records into events, keep the kernel's drop
// counters in the shared registry, and stop cleanly (delivering what the reader still holds). A collector only says
// what is its own: its spec, what to set up once loaded, and how to handle one record.
import { kindName, reasonName } from '../kernel/drops';
import { loadCollector, type CollectorSpec, type LoadedCollector, type LoaderOptions } from '../kernel/loader';
import type { RingReader } from '../kernel/ring';
import type { TapioEvent } from '../core/event';
import type { Collector, CollectorContext, CollectorStatus } from './types';
import { ringReaderOptions } from './ring-options';

/** Handles one record: pushes the events it makes onto `out` (or none). */
export type RecordHandler = (view: DataView, offset: number, size: number, out: TapioEvent[]) => void;

/** The common handler: one decoded event per record (undefined when the decoder counted and skipped it). */
export function decodeInto(decoder: { decode(view: DataView, offset: number, size: number): TapioEvent | undefined }): RecordHandler {
  return (view, offset, size, out) => {
    const e = decoder.decode(view, offset, size);
    if (e) out.push(e);
  };
}

export abstract class RingCollector implements Collector {
  abstract readonly name: string;
  protected loaded: LoadedCollector | undefined;
  protected reader: RingReader | undefined;
  protected ctx: CollectorContext | undefined;
  private stopped = false;

  constructor(protected readonly loaderOptions: LoaderOptions = {}) {}

  /** The hooks, object and map sizes, from config. */
  protected abstract spec(ctx: CollectorContext): CollectorSpec;
  /** The ring buffer map to read. */
  protected abstract readonly ringName: string;
  /** Runs once the programs are attached: write settings maps, seed tables; returns the record handler. */
  protected abstract prepare(loaded: LoadedCollector, ctx: CollectorContext): RecordHandler;
  /** Loads the object; a collector with a second plan of hooks overrides this (src/collectors/requests). */
  protected load(spec: CollectorSpec, ctx: CollectorContext): Promise<LoadedCollector> {
    return loadCollector(spec, this.kernelLoaderOptions(ctx));
  }

  /** The loader options with the transport and external BTF the config asks for. */
  protected kernelLoaderOptions(ctx: CollectorContext): LoaderOptions {
    return { transport: ctx.config.kernel.transport, btfPath: ctx.config.kernel.btfPath, ...this.loaderOptions };
  }
  /** True when the object includes bpf/include/limits.h (per-cgroup rate limits and sampling). */
  protected readonly usesLimits: boolean = false;
  /** Events made so far, per event name (for status). */
  protected abstract eventCounts(): Record<string, number>;
  /** Counters that are not losses (evictions, unknown owners), for status and /metrics. */
  protected counters(): Record<string, number> {
    return {};
  }

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    const spec = this.spec(ctx);
    if (this.usesLimits) spec.mapMaxEntries = { ...spec.mapMaxEntries, tapio_limits_state: ctx.config.limits.bucketTableSize };
    this.loaded = await this.load(spec, ctx);
    if (!this.loaded.available) {
      ctx.log(`${this.name} collector unavailable: ${this.loaded.unavailableReasons().join(' | ')}`);
      // Hooks that did attach would fill a ring nobody reads: take everything down, keep the reasons for status.
      await this.loaded.close();
      return;
    }
    const handle = this.prepare(this.loaded, ctx);
    const name = this.name;
    this.reader = this.loaded.openRing(this.ringName, (batch) => {
      const events: TapioEvent[] = [];
      batch.forEach((view, offset, size) => {
        try {
          handle(view, offset, size, events);
        } catch {
          ctx.drops.count('decode', `${name}.record`, 'handler_error'); // one bad record, not the whole batch
        }
      });
      if (events.length === 0) return;
      try {
        ctx.emit(events);
      } catch {
        for (const e of events) ctx.drops.count('pipeline', e.name, 'emit_failed');
      }
    }, ringReaderOptions(ctx.config));
  }

  status(): CollectorStatus {
    return {
      name: this.name, available: this.loaded?.available ?? false, hooks: this.loaded?.hooks ?? [],
      events: { ...this.eventCounts() }, counters: this.counters(),
    };
  }

  kernelObjects(): LoadedCollector[] {
    return this.loaded ? [this.loaded] : [];
  }

  syncCounters(): void {
    if (!this.loaded?.available || !this.ctx || this.stopped) return; // an unavailable collector was closed at start
    for (const d of this.loaded.readDrops()) this.ctx.drops.set('kernel', kindName(d.kind), reasonName(d.reason), d.count);
    if (this.reader && this.reader.handlerErrors > 0) {
      this.ctx.drops.set('decode', `${this.name}.batch`, 'handler_error', this.reader.handlerErrors);
    }
  }

  async stop(): Promise<void> {
    if (!this.loaded || this.stopped) return;
    this.loaded.detachAll(); // no new records from here on...
    this.reader?.stop(); // ...and the reader delivers every one the ring still holds
    this.syncCounters(); // the last kernel counts, before the maps go away
    this.stopped = true;
    await this.loaded.close();
  }
}
