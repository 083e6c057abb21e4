// What the observe server reads, as small interfaces the agent (src/cli) hands in: the agent's status and
// collectors, the drop registry, exporter health, the limits (kernel buckets and the adaptive controller) and extra
// readiness checks. Nothing here reaches into the agent: it is all passed in, so tests can use real parts alone.
import type { Collector } from '../collectors/types';
import type { AgentStatus } from '../cli/agent';
import type { DropCounters } from '../pipeline/drops';
import type { LimitsHandle } from '../pipeline/limits/setup';
import type { ProcessResources } from '../pipeline/limits/resources';
import type { OtlpExporterStats } from '../export/otlp';

/** The Agent of src/cli/agent.ts, or anything shaped like it. */
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
}

/** The OTLP exporter's stats() as ExporterHealth. */
export function otlpExporterHealth(name: string, exporter: { stats(): OtlpExporterStats }): ExporterHealth {
  const s = exporter.stats();
  let queuedRecords = 0, sentRecords = 0, failedAttempts = 0;
  let failing = false;
  let lastError: string | undefined;
  for (const sig of Object.values(s.signals)) {
    if (!sig.enabled) continue;
    queuedRecords += sig.queuedRecords;
    sentRecords += sig.sentRecords;
    failedAttempts += sig.failedAttempts;
    if (sig.retryingSince !== undefined) failing = true;
    if (sig.lastError) lastError = String(sig.lastError);
  }
  return { name, queuedRecords, spoolBytes: s.spool.bytes, spoolFiles: s.spool.files, sentRecords, failedAttempts, failing, lastError };
}
