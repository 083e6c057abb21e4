// The agent's state as one JSON document: what /status serves, what `tapio status` prints and what /metrics is
// built from, so the three always agree. Bigints become strings; nothing here throws for one bad source.
import { describeUnavailableHooks, type HookStatus } from '../kernel/loader';
import type { AdaptiveState } from '../pipeline/limits/adaptive';
import type { BucketCounters } from '../pipeline/limits/kernel-limits';
import type { ResourceSample } from '../core/resources';
import type { ConfigReloadStatus } from '../config/watch';
import { type KernelStats, objectsOf, type MapRow, type ProgramRow, type RingRow } from './kernel-stats';
import type { AgentStatus, ExporterHealth, ObserveSources } from './sources';

export const STATUS_VERSION = 1;
/** Cgroups listed in status with the most limited or sampled events. */
const TOP_LIMITED_CGROUPS = 20;

export interface ReadinessResult {
  ready: boolean;
  checks: { name: string; ready: boolean; detail?: string }[];
}

export interface CollectorReport {
  name: string;
  available: boolean;
  hooks: HookStatus[];
  events: Record<string, number>;
  /** Counters that are not losses (evictions, unknown owners). */
  counters: Record<string, number>;
  /** Programs outside any hook that failed to load, with the verifier's words. */
  programFailures: { program: string; error: string }[];
}

export interface ObserveStatus {
  version: number;
  node: string;
  startedAt: string;
  uptimeSeconds: number;
  kernel?: AgentStatus['kernel'];
  ready: ReadinessResult;
  collectors: CollectorReport[];
  failed: { name: string; error: string }[];
  programs: ProgramRow[];
  runStats: { enabled: boolean; error?: string };
  maps: MapRow[];
  rings: RingRow[];
  pipeline: AgentStatus['pipeline'];
  drops: AgentStatus['drops'];
  security?: AgentStatus['security'];
  exporters: ExporterHealth[];
  limits: {
    buckets: BucketCounters;
    topCgroups: { cgroupId: string; kind: string; admitted: number; rateLimited: number; sampled: number }[];
  };
  adaptive?: AdaptiveState;
  /** Config hot reload: the last reload, counts, and changes waiting for a restart. */
  config?: ConfigReloadStatus;
  process: {
    cpuFraction: number;
    rssBytes: number;
    budget?: { cpuFraction: number; memoryBytes: number };
    overBudget: { cpu: boolean; memory: boolean };
  };
}

function guard<T>(fallback: T, fn: () => T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

export function readiness(sources: ObserveSources, st: AgentStatus): ReadinessResult {
  const checks: ReadinessResult['checks'] = [];
  const down = st.collectors.filter((c) => !c.available);
  const up = st.collectors.filter((c) => c.available);
  const reasons = [
    ...down.map((c) => `${c.name}: ${describeUnavailableHooks(c.hooks).join(' | ')}`),
    ...st.failed.map((f) => `${f.name}: failed to start: ${f.error.split('\n')[0]}`),
  ];
  // Ready once some collector has its programs attached; those that cannot run here are named (and alerted on).
  checks.push({ name: 'collectors', ready: up.length > 0,
    detail: up.length > 0
      ? `${up.map((c) => c.name).join(', ')} attached${reasons.length ? `; unavailable: ${reasons.join(' || ')}` : ''}`
      : `no collector has its programs attached${reasons.length ? `: ${reasons.join(' || ')}` : ''}` });
  for (const r of sources.readiness ?? []) {
    const v = guard<boolean | { ready: boolean; detail?: string }>({ ready: false, detail: 'check threw' }, () => r.check());
    checks.push(typeof v === 'boolean' ? { name: r.name, ready: v } : { name: r.name, ready: v.ready, detail: v.detail });
  }
  return { ready: checks.every((c) => c.ready), checks };
}

/** Builds the status document. `resources` gives the latest CPU/RSS sample (the caller owns its window). */
export function buildStatus(sources: ObserveSources, kernel: KernelStats, resources: ResourceSample): ObserveStatus {
  const st = sources.agent.status();
  const collectors = sources.agent.collectors;
  const objects = objectsOf(collectors);
  const programFailures = new Map<string, { program: string; error: string }[]>();
  for (const o of objects) programFailures.set(o.name, [...(programFailures.get(o.name) ?? []), ...o.otherFailures]);

  const buckets: BucketCounters = { live: 0, created: 0, evicted: 0, insertFailed: 0 };
  const limited: ObserveStatus['limits']['topCgroups'] = [];
  for (const k of sources.limits?.kernels ?? []) {
    guard(undefined, () => {
      const b = k.bucketCounters();
      buckets.live += b.live; buckets.created += b.created; buckets.evicted += b.evicted; buckets.insertFailed += b.insertFailed;
      for (const r of k.cgroups()) {
        if (r.rateLimited + r.sampled > 0) limited.push({ ...r, cgroupId: r.cgroupId.toString() });
      }
    });
  }
  limited.sort((a, b) => (b.rateLimited + b.sampled) - (a.rateLimited + a.sampled));

  const adaptive = sources.limits?.controller?.state();
  // The controller holds the budget a config reload last set; without one, the budget object the agent updates.
  const budget = adaptive ? { cpuFraction: adaptive.cpuBudget, memoryBytes: adaptive.memoryBudgetBytes } : sources.budget;
  const overBudget = adaptive?.overBudget ?? {
    cpu: budget !== undefined && resources.cpuFraction > budget.cpuFraction,
    memory: budget !== undefined && resources.rssBytes > budget.memoryBytes,
  };
  return {
    version: STATUS_VERSION,
    node: st.node,
    startedAt: st.startedAt,
    uptimeSeconds: st.uptimeSeconds,
    kernel: st.kernel,
    ready: readiness(sources, st),
    collectors: st.collectors.map((c) => ({ ...c, counters: c.counters ?? {}, programFailures: programFailures.get(c.name) ?? [] })),
    failed: st.failed,
    programs: guard([], () => kernel.programs(collectors)),
    runStats: kernel.runStats,
    maps: guard([], () => kernel.maps(collectors)),
    rings: guard([], () => kernel.rings(collectors)),
    pipeline: st.pipeline,
    drops: st.drops,
    security: st.security,
    exporters: guard([], () => sources.exporters?.() ?? []),
    limits: { buckets, topCgroups: limited.slice(0, TOP_LIMITED_CGROUPS) },
    adaptive,
    config: guard(undefined, () => sources.configReload?.()),
    process: { cpuFraction: resources.cpuFraction, rssBytes: resources.rssBytes, budget, overBudget },
  };
}
