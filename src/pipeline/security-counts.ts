// Security events counted per detection, severity, namespace and workload, for /metrics
// (tapio_security_events_total). Counted as the batch goes to the sinks, after identity and the pipeline's rules, so
// allowlisted events are not in it. Bounded like the OTLP metrics (src/export/metrics.ts): the first `maxSeries`
// (detection, severity, namespace, workload) series are kept; later ones keep their detection and severity (a few
// dozen values) and count under namespace and workload "other", so counters only ever go up and the rows always
// sum to every security event sent.
import type { Attributes, TapioEvent } from '../core/event';

/** Workload owners in the order an event names its workload (the first present wins). */
const WORKLOAD_KEYS = [
  ['k8s.deployment.name', 'Deployment'], ['k8s.statefulset.name', 'StatefulSet'], ['k8s.daemonset.name', 'DaemonSet'],
  ['k8s.cronjob.name', 'CronJob'], ['k8s.job.name', 'Job'], ['k8s.replicaset.name', 'ReplicaSet'],
] as const;

export interface SecurityCountRow {
  detection: string;
  severity: string;
  namespace: string;
  workload: string;
  workloadKind: string;
  count: number;
}

/** The workload an event belongs to: its kind and name, or empty strings outside a Kubernetes workload. */
export function workloadOf(a: Attributes): { kind: string; name: string } {
  for (const [key, kind] of WORKLOAD_KEYS) {
    const v = a[key];
    if (typeof v === 'string' && v !== '') return { kind, name: v };
  }
  return { kind: '', name: '' };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export class SecurityCounts {
  private readonly series = new Map<string, SecurityCountRow>();
  private kept = 0;
  /** Events counted under an overflow series because the cap was reached. */
  overflowed = 0;

  constructor(private readonly maxSeries: number) {}

  record(events: readonly TapioEvent[]): void {
    for (const e of events) {
      if (!e.name.startsWith('security.')) continue;
      const a = e.attributes;
      const detection = e.name.slice('security.'.length);
      const severity = str(a['tapio.security.severity']);
      const namespace = str(a['k8s.namespace.name']);
      const w = workloadOf(a);
      const key = `${detection}\u0001${severity}\u0001${namespace}\u0001${w.kind}\u0001${w.name}`;
      let row = this.series.get(key);
      if (!row && this.kept < this.maxSeries) {
        row = { detection, severity, namespace, workload: w.name, workloadKind: w.kind, count: 0 };
        this.series.set(key, row);
        this.kept++;
      }
      if (!row) {
        this.overflowed++;
        const over = `${detection}\u0001${severity}\u0002other`;
        row = this.series.get(over);
        if (!row) this.series.set(over, row = { detection, severity, namespace: 'other', workload: 'other', workloadKind: 'other', count: 0 });
      }
      row.count++;
    }
  }

  rows(): SecurityCountRow[] {
    return [...this.series.values()].map((r) => ({ ...r }));
  }
}
