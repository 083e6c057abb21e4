// The process collector: exec, exit and (sampled) fork events from bpf/process.bpf.c. Declares each hook with its
// implementations in order of preference, writes the sampling and argv limits into the kernel's settings map,
// decodes ring-buffer batches and keeps the kernel's drop counters in ctx.drops.
import { bootNsToUnixNano } from '../../kernel/clock';
import { kindName, reasonName } from '../../kernel/drops';
import { loadCollector, type CollectorSpec, type LoadedCollector, type LoaderOptions } from '../../kernel/loader';
import { u32Key } from '../../kernel/maps';
import type { RingReader } from '../../kernel/ring';
import type { TapioEvent } from '../../pipeline/event';
import type { Collector, CollectorContext, CollectorStatus } from '../types';
import { ProcessDecoder } from './decode';
import { encodeSettings } from './layout';
import { ProcessTable } from './table';

export const PROCESS_RING = 'process_events';

/** tp_btf first everywhere: typed task access and no tracefs needed. There is no fentry/kprobe form: the scheduler
 *  tracepoints are the stable, complete hooks for these events on every kernel (kernel functions here are inlined
 *  or renamed across versions), so a kernel-function variant would add risk and no data. */
export function processCollectorSpec(config: { ringBufferBytes: number }): CollectorSpec {
  return {
    name: 'process',
    object: 'process.bpf.o',
    hooks: [
      { name: 'exec', implementations: [{ kind: 'tp_btf', program: 'exec_btf' }, { kind: 'tracepoint', program: 'exec_tp' }] },
      { name: 'exit', implementations: [{ kind: 'tp_btf', program: 'exit_btf' }, { kind: 'tracepoint', program: 'exit_tp' }] },
      { name: 'fork', optional: true, implementations: [{ kind: 'tp_btf', program: 'fork_btf' }, { kind: 'raw_tracepoint', program: 'fork_raw' }] },
    ],
    mapMaxEntries: { [PROCESS_RING]: config.ringBufferBytes },
  };
}

export class ProcessCollector implements Collector {
  readonly name = 'process';
  private loaded: LoadedCollector | undefined;
  private reader: RingReader | undefined;
  private decoder: ProcessDecoder | undefined;
  private ctx: CollectorContext | undefined;
  private stopped = false;
  table: ProcessTable | undefined;

  constructor(private readonly loaderOptions: LoaderOptions = {}) {}

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    const cfg = ctx.config.collectors.process;
    const kcfg = ctx.config.kernel;
    this.loaded = await loadCollector(processCollectorSpec(kcfg), this.loaderOptions);
    if (!this.loaded.available) {
      ctx.log(`process collector unavailable: ${this.loaded.unavailableReasons().join(' | ')}`);
      return;
    }
    this.loaded.map('process_settings').update(u32Key(0), encodeSettings(cfg.forkSampleEvery, cfg.argvMaxBytes));
    this.table = new ProcessTable(cfg.processTableSize, () => ctx.drops.count('collector', 'process.exit', 'process_table_evicted'));
    // Programs are attached already: records queue in the ring meanwhile, and exec records overwrite seeded entries.
    this.table.seedFromProc();
    const decoder = new ProcessDecoder({ argvMaxCount: cfg.argvMaxCount, table: this.table, drops: ctx.drops, toUnixNano: bootNsToUnixNano });
    this.decoder = decoder;
    this.reader = this.loaded.openRing(PROCESS_RING, (batch) => {
      const events: TapioEvent[] = [];
      batch.forEach((view, offset, size) => {
        const e = decoder.decode(view, offset, size);
        if (e) events.push(e);
      });
      if (events.length) ctx.emit(events);
    }, { coalesceMs: kcfg.coalesceMs, batchRecords: kcfg.batchRecords, queueBatches: kcfg.queueBatches });
  }

  status(): CollectorStatus {
    return {
      name: this.name,
      available: this.loaded?.available ?? false,
      hooks: this.loaded?.hooks ?? [],
      events: { ...(this.decoder?.counts ?? {}) },
    };
  }

  syncCounters(): void {
    if (!this.loaded?.available || !this.ctx || this.stopped) return;
    for (const d of this.loaded.readDrops()) this.ctx.drops.set('kernel', kindName(d.kind), reasonName(d.reason), d.count);
    if (this.reader && this.reader.handlerErrors > 0) {
      this.ctx.drops.set('decode', 'process.batch', 'handler_error', this.reader.handlerErrors);
    }
  }

  async stop(): Promise<void> {
    if (!this.loaded || this.stopped) return;
    this.reader?.stop(); // delivers the batches it still holds
    this.syncCounters(); // the last kernel counts, before the maps go away
    this.stopped = true;
    await this.loaded.close();
  }
}
