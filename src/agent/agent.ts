// The agent: probe the kernel, start every enabled collector (each degrades on its own), run events through the
// pipeline to the sinks, keep counters in sync, and stop cleanly, draining what the kernel already handed over.
import * as os from 'node:os';
import type { TapioConfig } from '../config/schema';
import { COLLECTORS, type CollectorEntry } from '../collectors';
import type { Collector } from '../collectors/types';
import { probeKernel, unavailableKinds, type KernelFeatures } from '../kernel/features';
import { describeUnavailableHooks } from '../kernel/loader';
import { releaseFreedHeap } from '../kernel/heap';
import type { AgentStatus } from '../observe/sources';
import { DropCounters } from '../core/drops';
import { Pipeline, type EventFilter, type IdentityGate } from '../pipeline/pipeline';
import type { TapioEvent } from '../core/event';
import type { CgroupChange } from '../core/cgroup-change';
import type { EventSink } from '../core/sink';
import { securitySignalRules, type EventRule } from '../collectors/security-signals/rules';
import type { SecuritySignalsConfig } from '../config/security-signals';
import { compilePolicy, securityIdentityAllowRule } from '../collectors/security/policy';
import { SecurityCounts } from '../pipeline/security-counts';

export interface AgentOptions {
  config: TapioConfig;
  /** Shared with the services around the agent (identity, export) so every drop lands in one registry. */
  drops?: DropCounters;
  sinks: EventSink[];
  filter?: EventFilter;
  enrich?: (e: TapioEvent) => void;
  /** Cgroup directories made and removed, from the cgroup collector (identity follows them). */
  cgroupChanged?: (change: CgroupChange) => void;
  /** Holds events of containers not yet named by a runtime until identity settles (src/identity). */
  identityGate?: IdentityGate;
  log?: (message: string) => void;
  /** Collector names to run; default: every enabled one. */
  only?: string[];
  /** The collectors to choose from; default: every collector Tapio has (src/collectors COLLECTORS). */
  collectors?: readonly CollectorEntry[];
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
  private securityRule: EventRule;
  /** Security events sent, per detection and workload (tapio_security_events_total). */
  private readonly securityCounts: SecurityCounts;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? ((m) => process.stderr.write(`tapio: ${m}\n`));
    this.drops = options.drops ?? new DropCounters();
    this.pipeline = new Pipeline(this.drops, [...options.sinks], options.filter ?? {}, options.enrich, options.identityGate);
    this.securityRule = securitySignalRules(options.config.securitySignals, this.drops);
    this.pipeline.addRule((events) => this.securityRule(events)); // through a field: a config reload swaps it
    // Security allow entries that name namespaces, workloads or images can only be judged once identity is known.
    this.pipeline.addRule(securityIdentityAllowRule(compilePolicy(options.config.collectors.security), this.drops));
    const counts = this.securityCounts = new SecurityCounts(options.config.limits.cardinality.topK);
    this.pipeline.addSink({ name: 'security-counts', write: (events) => counts.record(events) });
  }

  /** Config reload: new allowlists, severity overrides and API server contact settings for the events that follow. */
  setSecuritySignals(config: SecuritySignalsConfig): void {
    this.securityRule = securitySignalRules(config, this.drops);
  }

  async start(): Promise<void> {
    this.features = await probeKernel(this.options.config.kernel);
    const skip = unavailableKinds(this.features);
    const { config } = this.options;
    for (const entry of this.options.collectors ?? COLLECTORS) {
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
        if (!st.available) this.log(`collector ${entry.name} unavailable: ${describeUnavailableHooks(st.hooks).join(' | ')}`);
      } catch (e) {
        // One failing collector never stops another.
        this.failed.push({ name: entry.name, error: (e as Error).message });
        this.log(`collector ${entry.name} failed to start: ${(e as Error).message}`);
        await c.stop().catch(() => undefined);
      }
    }
    let ticks = 0;
    this.syncTimer = setInterval(() => {
      this.syncCounters();
      // Every 30 s: what a drained backlog freed goes back to the kernel (~50 µs when there is nothing to give).
      if (++ticks % 30 === 0) releaseFreedHeap();
    }, 1000);
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
      security: { events: this.securityCounts.rows(), overflowed: this.securityCounts.overflowed },
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
