// The agent: probe the kernel, start every enabled collector (each degrades on its own), run events through the
// pipeline to the sinks, keep counters in sync, and stop cleanly, draining what the kernel already handed over.
import * as os from 'node:os';
import type { TapioConfig } from '../config/schema';
import '../collectors'; // registers the collectors
import { collectorEntries } from '../collectors/registry';
import type { Collector, CollectorStatus } from '../collectors/types';
import { probeKernel, unavailableKinds, type KernelFeatures } from '../kernel/features';
import { DropCounters } from '../pipeline/drops';
import { Pipeline, type EventFilter, type EventSink, type IdentityGate } from '../pipeline/pipeline';
import type { TapioEvent } from '../pipeline/event';

export interface AgentOptions {
  config: TapioConfig;
  /** Shared with the services around the agent (identity, export) so every drop lands in one registry. */
  drops?: DropCounters;
  sinks: EventSink[];
  filter?: EventFilter;
  enrich?: (e: TapioEvent) => void;
  /** Cgroup directories made and removed, from the cgroup collector (identity follows them). */
  cgroupChanged?: (change: { op: 'mkdir' | 'rmdir'; id: bigint; path: string }) => void;
  /** Holds events of containers not yet named by a runtime until identity settles (src/identity). */
  identityGate?: IdentityGate;
  log?: (message: string) => void;
  /** Collector names to run; default: every enabled one. */
  only?: string[];
}

export interface AgentStatus {
  node: string;
  startedAt: string;
  uptimeSeconds: number;
  kernel?: Pick<KernelFeatures, 'kernelRelease' | 'cgroups'>;
  collectors: CollectorStatus[];
  /** Collectors that failed to start at all, with the reason. */
  failed: { name: string; error: string }[];
  pipeline: ReturnType<Pipeline['stats']>;
  drops: ReturnType<DropCounters['rows']>;
}

export class Agent {
  readonly drops: DropCounters;
  readonly pipeline: Pipeline;
  readonly collectors: Collector[] = [];
  readonly failed: { name: string; error: string }[] = [];
  features?: KernelFeatures;
  private readonly started = new Date();
  private syncTimer?: NodeJS.Timeout;
  private readonly log: (m: string) => void;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? ((m) => process.stderr.write(`tapio: ${m}\n`));
    this.drops = options.drops ?? new DropCounters();
    this.pipeline = new Pipeline(this.drops, [...options.sinks], options.filter ?? {}, options.enrich, options.identityGate);
  }

  async start(): Promise<void> {
    this.features = await probeKernel(this.options.config.kernel);
    const skip = unavailableKinds(this.features);
    const { config } = this.options;
    for (const entry of collectorEntries()) {
      if (!entry.enabled(config)) continue;
      if (this.options.only && !this.options.only.includes(entry.name)) continue;
      const c = entry.create({ unavailableKinds: skip });
      try {
        await c.start({
          config,
          emit: (events) => this.pipeline.push(events),
          drops: this.drops,
          log: (m) => this.log(`${entry.name}: ${m}`),
          unavailableKinds: skip,
          cgroupChanged: this.options.cgroupChanged,
        });
        this.collectors.push(c);
        const st = c.status();
        if (!st.available) this.log(`collector ${entry.name} unavailable: ${describeUnavailable(st)}`);
      } catch (e) {
        // One failing collector never stops another.
        this.failed.push({ name: entry.name, error: (e as Error).message });
        this.log(`collector ${entry.name} failed to start: ${(e as Error).message}`);
        await c.stop().catch(() => undefined);
      }
    }
    this.syncTimer = setInterval(() => this.syncCounters(), 1000);
    this.syncTimer.unref();
  }

  syncCounters(): void {
    for (const c of this.collectors) {
      try {
        c.syncCounters();
      } catch (e) {
        this.log(`${c.name}: reading kernel counters failed: ${(e as Error).message}`);
      }
    }
  }

  status(): AgentStatus {
    return {
      node: this.options.config.node.name ?? process.env.NODE_NAME ?? os.hostname(),
      startedAt: this.started.toISOString(),
      uptimeSeconds: Math.round((Date.now() - this.started.getTime()) / 1000),
      kernel: this.features && { kernelRelease: this.features.kernelRelease, cgroups: this.features.cgroups },
      collectors: this.collectors.map((c) => c.status()),
      failed: [...this.failed],
      pipeline: this.pipeline.stats(),
      drops: this.drops.rows(),
    };
  }

  /** Stops collectors (their readers deliver what is queued), syncs counters a last time, flushes sinks. */
  async stop(): Promise<void> {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncCounters();
    for (const c of [...this.collectors].reverse()) {
      try {
        await c.stop();
      } catch (e) {
        this.log(`${c.name}: stop failed: ${(e as Error).message}`);
      }
    }
    await this.pipeline.flush();
    await this.pipeline.close();
  }
}

function describeUnavailable(st: CollectorStatus): string {
  return st.hooks.filter((h) => !h.optional && !h.chosen)
    .map((h) => `${h.name}: ${h.attempts.map((a) => `${a.kind} ${a.stage}: ${a.error.split('\n')[0]}`).join('; ')}`)
    .join(' | ');
}

/** The summary printed on stderr on exit and with --stats: events per kind, drops per reason, hook modes. */
export function formatSummary(s: AgentStatus): string {
  const lines: string[] = [];
  const kinds = Object.keys(s.pipeline.received).sort();
  lines.push(`tapio: ${s.uptimeSeconds}s on ${s.node}; events per kind (received / emitted):`);
  if (kinds.length === 0) lines.push('  (none)');
  for (const k of kinds) lines.push(`  ${k.padEnd(28)} ${String(s.pipeline.received[k]).padStart(10)} / ${s.pipeline.emitted[k] ?? 0}`);
  if (s.pipeline.filteredOut) lines.push(`  (${s.pipeline.filteredOut} filtered out by --events/--pid/--comm)`);
  lines.push('drops (stage kind reason: count):');
  if (s.drops.length === 0) lines.push('  none');
  for (const d of s.drops) lines.push(`  ${d.stage} ${d.kind} ${d.reason}: ${d.count}`);
  const counters = s.collectors.flatMap((c) => Object.entries(c.counters ?? {}).filter(([, v]) => v > 0).map(([k, v]) => `  ${c.name} ${k}: ${v}`));
  if (counters.length) lines.push('not losses, but worth knowing:', ...counters);
  lines.push('hooks:');
  for (const c of s.collectors) {
    for (const h of c.hooks) {
      const tried = h.attempts.map((a) => `${a.kind}: ${a.error.split('\n')[0]}`);
      lines.push(`  ${c.name}/${h.name}: ${h.chosen ? h.chosen.kind : 'UNAVAILABLE'}${tried.length ? `  (fell back past ${tried.join('; ')})` : ''}`);
    }
  }
  for (const f of s.failed) lines.push(`  ${f.name}: FAILED TO START: ${f.error}`);
  return lines.join('\n') + '\n';
}
