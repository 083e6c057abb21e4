// The kernel side of the agent's own state: per-program run time and run count (the kernel's BPF stats, switched on
// while an fd from enableRunStats() stays open), map fill and estimated memory, and ring reader statistics. Read
// from the collectors' loaded objects; every read is guarded so one closed object never breaks a scrape.
import { enableRunStats, possibleCpuCount, programRunInfo } from '../kernel/run-stats';
import type { LoadedCollector } from '../kernel/loader';
import type { Collector } from '../collectors/types';

export interface ProgramRow {
  collector: string;
  hook: string;
  program: string;
  implementation: string;
  runCount: number;
  runTimeNs: number;
}

export interface MapRow {
  collector: string;
  map: string;
  type: string;
  maxEntries: number;
  /** Entries in use (hash and LRU maps only; walked at most every mapFillIntervalMs). */
  entries?: number;
  /** Estimated kernel memory: entries x (key + value), per CPU for per-CPU maps; ring buffers their size. */
  memoryBytes: number;
}

export interface RingRow {
  collector: string;
  ring: string;
  records: number;
  bytes: number;
  batches: number;
  queueDepth: number;
  queueHighWater: number;
  stalledMs: number;
  pollErrors: number;
  running: boolean;
}

const WALKED_TYPES = new Set(['hash', 'lru_hash', 'percpu_hash', 'lru_percpu_hash']);
const PER_CPU = /percpu/;

export function objectsOf(collectors: readonly Collector[]): LoadedCollector[] {
  const out: LoadedCollector[] = [];
  for (const c of collectors) {
    try {
      out.push(...(c.kernelObjects?.() ?? []));
    } catch { /* a collector that cannot list its objects has none to show */ }
  }
  return out;
}

export class KernelStats {
  private statsHandle: { close(): void } | undefined;
  private statsError: string | undefined;
  private fillCache = new Map<string, { at: number; entries: number }>();

  constructor(private readonly mapFillIntervalMs = 30_000) {}

  /** Switch on the kernel's run-time accounting for BPF programs (kept on until close()). */
  enableRunStats(): boolean {
    if (this.statsHandle !== undefined) return true;
    try {
      this.statsHandle = enableRunStats();
      return true;
    } catch (e) {
      this.statsError = (e as Error).message;
      return false;
    }
  }

  get runStats(): { enabled: boolean; error?: string } {
    return { enabled: this.statsHandle !== undefined, error: this.statsError };
  }

  programs(collectors: readonly Collector[]): ProgramRow[] {
    const rows: ProgramRow[] = [];
    for (const obj of objectsOf(collectors)) {
      let attached: ReturnType<LoadedCollector['attachedPrograms']> = [];
      try { attached = obj.attachedPrograms(); } catch { continue; }
      for (const p of attached) {
        const hook = obj.hooks.find((h) => h.name === p.hook);
        let runCount = 0, runTimeNs = 0;
        try {
          const info = programRunInfo(p.fd);
          runCount = info.runCount;
          runTimeNs = info.runTimeNs;
        } catch { /* closed meanwhile: report zeros */ }
        rows.push({ collector: obj.name, hook: p.hook, program: p.program, implementation: hook?.chosen?.kind ?? 'unknown', runCount, runTimeNs });
      }
    }
    return rows;
  }

  maps(collectors: readonly Collector[], now = Date.now()): MapRow[] {
    const rows: MapRow[] = [];
    const cpus = (() => { try { return possibleCpuCount(); } catch { return 1; } })();
    for (const obj of objectsOf(collectors)) {
      for (const m of obj.mapDescriptions()) {
        if (m.name.startsWith('.')) continue; // .rodata, .bss: globals, not state
        const perEntry = (m.keySize + m.valueSize) * (PER_CPU.test(m.type) ? cpus : 1);
        const row: MapRow = {
          collector: obj.name, map: m.name, type: m.type, maxEntries: m.maxEntries,
          memoryBytes: m.type === 'ringbuf' ? m.maxEntries : m.maxEntries * perEntry,
        };
        if (WALKED_TYPES.has(m.type)) {
          const key = `${obj.name}/${m.name}`;
          let cached = this.fillCache.get(key);
          if (!cached || now - cached.at >= this.mapFillIntervalMs) {
            try {
              cached = { at: now, entries: obj.map(m.name).count() };
              this.fillCache.set(key, cached);
            } catch { /* object closed: no fill figure */ }
          }
          row.entries = cached?.entries;
        }
        rows.push(row);
      }
    }
    return rows;
  }

  rings(collectors: readonly Collector[]): RingRow[] {
    const rows: RingRow[] = [];
    for (const obj of objectsOf(collectors)) {
      for (const r of obj.ringReaders()) {
        try {
          const s = r.stats();
          rows.push({ collector: obj.name, ring: r.mapName, records: s.records, bytes: s.bytes, batches: s.batches,
            queueDepth: s.queueDepth, queueHighWater: s.queueHighWater, stalledMs: s.stalledMs, pollErrors: s.pollErrors,
            running: s.running });
        } catch { /* stopped and released */ }
      }
    }
    return rows;
  }

  close(): void {
    this.statsHandle?.close();
    this.statsHandle = undefined;
  }
}
