// Drop accounting: every place that can lose an event counts it here under a stage, an event kind and a reason.
// "events seen + counted drops = what happened" is the property tests check; /metrics, `tapio status` and the exit
// summary all read this one registry.

export type DropStage = 'kernel' | 'reader' | 'decode' | 'identity' | 'pipeline' | 'export' | 'spool' | (string & {});

export interface DropRow {
  stage: DropStage;
  kind: string;
  reason: string;
  count: number;
}

export class DropCounters {
  private readonly counts = new Map<string, DropRow>();
  private readonly listeners: Array<(row: DropRow, n: number) => void> = [];

  /** Count `n` events of `kind` lost at `stage` for `reason` (e.g. 'kernel', 'process.exec', 'ringbuf_full'). */
  count(stage: DropStage, kind: string, reason: string, n = 1): void {
    if (n <= 0) return;
    const key = `${stage}\u0000${kind}\u0000${reason}`;
    let row = this.counts.get(key);
    if (!row) {
      row = { stage, kind, reason, count: 0 };
      this.counts.set(key, row);
    }
    row.count += n;
    for (const l of this.listeners) l(row, n);
  }

  /** Set an absolute value, for counters whose source of truth lives elsewhere (kernel per-CPU maps). */
  set(stage: DropStage, kind: string, reason: string, total: number): void {
    const key = `${stage}\u0000${kind}\u0000${reason}`;
    const row = this.counts.get(key);
    const prev = row?.count ?? 0;
    if (total > prev) this.count(stage, kind, reason, total - prev);
  }

  onDrop(listener: (row: DropRow, n: number) => void): void {
    this.listeners.push(listener);
  }

  rows(): DropRow[] {
    return [...this.counts.values()].map((r) => ({ ...r })).sort((a, b) =>
      a.stage.localeCompare(b.stage) || a.kind.localeCompare(b.kind) || a.reason.localeCompare(b.reason));
  }

  total(filter?: Partial<Pick<DropRow, 'stage' | 'kind' | 'reason'>>): number {
    let sum = 0;
    for (const r of this.counts.values()) {
      if (filter?.stage && r.stage !== filter.stage) continue;
      if (filter?.kind && r.kind !== filter.kind) continue;
      if (filter?.reason && r.reason !== filter.reason) continue;
      sum += r.count;
    }
    return sum;
  }
}
