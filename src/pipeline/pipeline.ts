// The pipeline between collectors and exporters: filter what the user asked for, attach identity, hand each batch
// to every sink, and count what passed and what was lost. One direction only: a sink never calls back upstream.
import type { DropCounters } from '../core/drops';
import type { TapioEvent } from '../core/event';
import type { EventSink } from '../core/sink';
import { forEachRun } from '../core/runs';

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

/**
 * Identity for a brand-new container can lag its first events by a runtime re-list. Rather than send those events
 * without names, the pipeline holds them (per cgroup, in order, bounded in count and time) until identity settles.
 */
export interface IdentityGate {
  /** True when the event's identity is incomplete and worth waiting for (a container no runtime has named yet). */
  incomplete(e: TapioEvent): boolean;
  /** Resolves once the identity of this cgroup is as good as it will get soon (known, or the runtimes said no). */
  settle(cgroupId: bigint, pid?: number): Promise<void>;
}

export interface HoldOptions {
  /** Longest an event waits for identity before it goes out without it. */
  maxHoldMs: number;
  /** Most events held at once; past it the oldest cgroup's events go out at once (never dropped). */
  maxHeldEvents: number;
}

export interface PipelineStats {
  received: Record<string, number>;
  emitted: Record<string, number>;
  filteredOut: number;
  enrichErrors: number;
  identityHold: { held: number; releasedResolved: number; releasedTimeout: number; releasedOverflow: number };
}

/** Adds each event to its name's count; a run of one name (the usual batch) costs one update. */
function countByName(counts: Map<string, number>, events: readonly TapioEvent[]): void {
  forEachRun(events, (e) => e.name, (name, n) => counts.set(name, (counts.get(name) ?? 0) + n));
}

export class Pipeline {
  private readonly received = new Map<string, number>();
  private readonly emitted = new Map<string, number>();
  private filteredOut = 0;
  private enrichErrors = 0;
  private readonly accept: ((e: TapioEvent) => boolean) | undefined;
  /** Events waiting for identity, per cgroup, in arrival order (Map iteration order = oldest cgroup first). */
  private readonly held = new Map<bigint, TapioEvent[]>();
  private heldCount = 0;
  private readonly hold = { releasedResolved: 0, releasedTimeout: 0, releasedOverflow: 0 };
  private readonly holdOptions: HoldOptions;
  private readonly rules: ((events: TapioEvent[]) => TapioEvent[])[] = [];

  constructor(
    private readonly drops: DropCounters,
    private readonly sinks: EventSink[],
    filter: EventFilter = {},
    /** Adds identity attributes in place (src/identity); must not throw. */
    private readonly enrich?: (e: TapioEvent) => void,
    private readonly gate?: IdentityGate,
    holdOptions: Partial<HoldOptions> = {},
  ) {
    this.accept = compileFilter(filter);
    this.holdOptions = { maxHoldMs: 2000, maxHeldEvents: 20_000, ...holdOptions };
  }

  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  /** A rule sees each batch of enriched events just before the sinks and returns the batch to send: it may leave
   *  events out (counting them itself) or add events it derived (src/collectors/security-signals/rules.ts). */
  addRule(rule: (events: TapioEvent[]) => TapioEvent[]): void {
    this.rules.push(rule);
  }

  push(events: TapioEvent[]): void {
    countByName(this.received, events);
    const out: TapioEvent[] = [];
    for (const e of events) {
      if (this.accept && !this.accept(e)) {
        this.filteredOut++; // asked for by the user: not a loss, but still visible in the stats
        continue;
      }
      this.enrichOne(e);
      const waiting = this.held.size > 0 ? this.held.get(e.cgroupId) : undefined;
      if (waiting) {
        waiting.push(e); // keep per-cgroup order behind the events already waiting
        this.heldCount++;
      } else if (this.gate && this.gate.incomplete(e)) {
        this.startHold(e);
      } else {
        out.push(e);
      }
    }
    this.deliver(out);
    while (this.heldCount > this.holdOptions.maxHeldEvents) {
      const oldest = this.held.keys().next().value as bigint;
      this.hold.releasedOverflow++;
      this.release(oldest);
    }
  }

  private enrichOne(e: TapioEvent): void {
    if (!this.enrich) return;
    try {
      this.enrich(e);
    } catch {
      this.enrichErrors++; // the event still goes out, just without identity
    }
  }

  private startHold(e: TapioEvent): void {
    const cgroupId = e.cgroupId;
    this.held.set(cgroupId, [e]);
    this.heldCount++;
    const pid = e.attributes['process.pid'];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), this.holdOptions.maxHoldMs); });
    timer!.unref(); // a hold never keeps the process alive; flush() releases whatever is still held
    const settled = this.gate!.settle(cgroupId, typeof pid === 'number' ? pid : undefined).then(() => 'settled' as const, () => 'settled' as const);
    void Promise.race([settled, timeout]).then((how) => {
      clearTimeout(timer);
      if (!this.held.has(cgroupId)) return; // already released (overflow or flush)
      if (how === 'timeout') this.hold.releasedTimeout++;
      else this.hold.releasedResolved++;
      this.release(cgroupId);
    });
  }

  /** Sends a cgroup's held events, enriched again now that identity had time to settle. */
  private release(cgroupId: bigint): void {
    const events = this.held.get(cgroupId);
    if (!events) return;
    this.held.delete(cgroupId);
    this.heldCount -= events.length;
    for (const e of events) this.enrichOne(e);
    this.deliver(events);
  }

  private deliver(out: TapioEvent[]): void {
    for (const rule of this.rules) {
      try {
        out = rule(out);
      } catch {
        this.enrichErrors++; // a failing rule leaves the batch as it was
      }
    }
    if (out.length === 0) return;
    countByName(this.emitted, out);
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
      identityHold: { held: this.heldCount, ...this.hold },
    };
  }

  async flush(): Promise<void> {
    for (const cgroupId of [...this.held.keys()]) this.release(cgroupId);
    await Promise.all(this.sinks.map(async (s) => { await s.flush?.(); }));
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map(async (s) => { await s.close?.(); }));
  }
}
