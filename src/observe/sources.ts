// What the observe server reads, as small interfaces the agent (src/cli) hands in: the agent's status and
// collectors, the drop registry, exporter health, the limits (kernel buckets and the adaptive controller) and extra
// readiness checks. Nothing here reaches into the agent: it is all passed in, so tests can use real parts alone.
import type { Collector, CollectorStatus } from '../collectors/types';
import type { KernelFeatures } from '../kernel/features';
import type { PipelineStats } from '../pipeline/pipeline';
import type { SecurityCountRow } from '../pipeline/security-counts';
import type { DropCounters, DropRow } from '../core/drops';
import type { LimitsHandle } from '../pipeline/limits/setup';
import type { ProcessResources } from '../core/resources';
import type { ConfigReloadStatus } from '../config/watch';

/** What the agent reports about itself: the shape src/agent builds and everything here reads. */
export interface AgentStatus {
  node: string;
  startedAt: string;
  uptimeSeconds: number;
  kernel?: Pick<KernelFeatures, 'kernelRelease' | 'cgroups'>;
  collectors: CollectorStatus[];
  /** Collectors that failed to start at all, with the reason. */
  failed: { name: string; error: string }[];
  pipeline: PipelineStats;
  drops: DropRow[];
  /** Security events sent, per detection, severity, namespace and workload (src/pipeline/security-counts.ts). */
  security?: { events: SecurityCountRow[]; overflowed: number };
}

/** The Agent of src/agent/agent.ts, or anything shaped like it. */
export interface AgentLike {
  status(): AgentStatus;
  readonly collectors: readonly Collector[];
  readonly drops: DropCounters;
}

/** One exporter's state, generic over exporter kinds (OTLP, console, ...). */
export interface ExporterHealth {
  name: string;
  /** Records waiting in memory to be sent. */
  queuedRecords: number;
  /** Bytes the exporter holds in memory (its queues, requests in flight, a memory spool). */
  queuedBytes: number;
  spoolBytes: number;
  spoolFiles: number;
  sentRecords: number;
  failedAttempts: number;
  /** True while the exporter cannot deliver (retrying, backing off). */
  failing: boolean;
  lastError?: string;
}

export interface ReadinessCheck {
  /** e.g. 'identity.runtimes', 'identity.kubernetes' */
  name: string;
  check(): boolean | { ready: boolean; detail?: string };
}

export interface ObserveSources {
  agent: AgentLike;
  exporters?: () => ExporterHealth[];
  limits?: LimitsHandle;
  /** Extra readiness inputs (identity sources synced, ...); collectors attached is always checked. */
  readiness?: ReadinessCheck[];
  /** Shared with the adaptive controller when there is one; otherwise the server measures on its own. */
  resources?: ProcessResources;
  budget?: { cpuFraction: number; memoryBytes: number };
  /** The config file's last reload (src/agent/reload.ts), when the agent runs with --config. */
  configReload?: () => ConfigReloadStatus | undefined;
}
