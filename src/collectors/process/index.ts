// The process collector: exec, exit and fork events from bpf/process.bpf.c. Declares each hook with its
// implementations in order of preference, sets the argv limit in the object's .rodata before load, decodes
// ring-buffer batches and keeps the kernel's drop counters in ctx.drops. Fork sampling is limits.sampling's job.
import { bootNsToUnixNano } from '../../kernel/clock';
import type { CollectorSpec, LoadedCollector } from '../../kernel/loader';
import type { CollectorContext } from '../types';
import { RingCollector, decodeInto, type RecordHandler } from '../ring-collector';
import { ProcessDecoder } from './decode';
import { processRodata } from './layout';
import { ProcessTable } from './table';

export const PROCESS_RING = 'process_events';

/** tp_btf first everywhere: typed task access and no tracefs needed. There is no fentry/kprobe form: the scheduler
 *  tracepoints are the stable, complete hooks for these events on every kernel (kernel functions here are inlined
 *  or renamed across versions), so a kernel-function variant would add risk and no data. */
export function processCollectorSpec(config: { ringBufferBytes: number }, argvMaxBytes = 1024): CollectorSpec {
  return {
    name: 'process',
    object: 'process.bpf.o',
    hooks: [
      { name: 'exec', implementations: [{ kind: 'tp_btf', program: 'exec_btf' }, { kind: 'tracepoint', program: 'exec_tp' }] },
      { name: 'exit', implementations: [{ kind: 'tp_btf', program: 'exit_btf' }, { kind: 'tracepoint', program: 'exit_tp' }] },
      { name: 'fork', optional: true, implementations: [{ kind: 'tp_btf', program: 'fork_btf' }, { kind: 'raw_tracepoint', program: 'fork_raw' }] },
    ],
    mapMaxEntries: { [PROCESS_RING]: config.ringBufferBytes },
    rodata: processRodata(argvMaxBytes),
  };
}

export class ProcessCollector extends RingCollector {
  readonly name = 'process';
  protected readonly ringName = PROCESS_RING;
  protected override readonly usesLimits = true;
  private decoder: ProcessDecoder | undefined;
  table: ProcessTable | undefined;

  protected spec(ctx: CollectorContext): CollectorSpec {
    return processCollectorSpec(ctx.config.kernel, ctx.config.collectors.process.argvMaxBytes);
  }

  protected prepare(loaded: LoadedCollector, ctx: CollectorContext): RecordHandler {
    const cfg = ctx.config.collectors.process;
    // An evicted process still gets its exit event, only without the path: counted, not a drop.
    this.table = new ProcessTable(cfg.processTableSize);
    // Programs are attached already: records queue in the ring meanwhile, and exec records overwrite seeded entries.
    this.table.seedFromProc();
    const decoder = new ProcessDecoder({ argvMaxCount: cfg.argvMaxCount, table: this.table, drops: ctx.drops, toUnixNano: bootNsToUnixNano });
    this.decoder = decoder;
    return decodeInto(decoder);
  }

  protected eventCounts(): Record<string, number> {
    return this.decoder?.counts ?? {};
  }

  protected override counters(): Record<string, number> {
    return {
      process_table_evictions: this.table?.evictions ?? 0,
      exec_path_unresolved: this.decoder?.unresolvedExecutables ?? 0,
    };
  }
}
