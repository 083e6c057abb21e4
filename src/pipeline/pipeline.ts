// The pipeline between collectors and exporters: filter what the user asked for, attach identity, hand each batch
// to every sink, and count what passed and what was lost. One direction only: a sink never calls back upstream.
import type { DropCounters } from './drops';
import type { TapioEvent } from './event';

export interface EventSink {
  readonly name: string;
  write(events: TapioEvent[]): void;
  flush?(): Promise<void>;
  close?(): Promise<void>;
}

export interface EventFilter {
  /** Event names or prefixes (`process` matches `process.exec`, `process.exit`, ...). */
  events?: string[];
  pids?: number[];
  /** Executable names (`process.executable.name`). */
  comms?: string[];
}

export function compileFilter(f: EventFilter): ((e: TapioEvent) => boolean) | undefined {
  const names = f.events?.filter(Boolean);
  const pids = f.pids?.length ? new Set(f.pids) : undefined;
  const comms = f.comms?.length ? new Set(f.comms) : undefined;
  if (!names?.length && !pids && !comms) return undefined;
  return (e) => {
    if (names?.length && !names.some((n) => e.name === n || e.name.startsWith(n + '.'))) return false;
    if (pids && !pids.has(e.attributes['process.pid'] as number)) return false;
    if (comms && !comms.has(e.attributes['process.executable.name'] as string)) return false;
    return true;
  };
}

export interface PipelineStats {
  received: Record<string, number>;
  emitted: Record<string, number>;
  filteredOut: number;
  enrichErrors: number;
}

export class Pipeline {
  private readonly received = new Map<string, number>();
  private readonly emitted = new Map<string, number>();
  private filteredOut = 0;
  private enrichErrors = 0;
  private readonly accept: ((e: TapioEvent) => boolean) | undefined;

  constructor(
    private readonly drops: DropCounters,
    private readonly sinks: EventSink[],
    filter: EventFilter = {},
    /** Adds identity attributes in place (src/identity); must not throw. */
    private readonly enrich?: (e: TapioEvent) => void,
  ) {
    this.accept = compileFilter(filter);
  }

  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  push(events: TapioEvent[]): void {
    const out: TapioEvent[] = [];
    for (const e of events) {
      this.received.set(e.name, (this.received.get(e.name) ?? 0) + 1);
      if (this.accept && !this.accept(e)) {
        this.filteredOut++; // asked for by the user: not a loss, but still visible in the stats
        continue;
      }
      if (this.enrich) {
        try {
          this.enrich(e);
        } catch {
          this.enrichErrors++; // the event still goes out, just without identity
        }
      }
      this.emitted.set(e.name, (this.emitted.get(e.name) ?? 0) + 1);
      out.push(e);
    }
    if (out.length === 0) return;
    for (const s of this.sinks) {
      try {
        s.write(out);
      } catch (err) {
        for (const e of out) this.drops.count('export', e.name, `sink_${s.name}_failed`);
      }
    }
  }

  stats(): PipelineStats {
    return {
      received: Object.fromEntries(this.received),
      emitted: Object.fromEntries(this.emitted),
      filteredOut: this.filteredOut,
      enrichErrors: this.enrichErrors,
    };
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush?.()));
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close?.()));
  }
}
