// The process table: pid -> what we know about a running process (executable path, arguments, start time), so a
// process.exit event, whose kernel record carries only the pid, can still say which program ended. Bounded LRU
// (a Map kept in use order); every eviction is counted. Seeded from /proc at start for processes older than the agent.
import * as fs from 'node:fs';
import { LruMap } from '../../core/lru';

export interface ProcessInfo {
  path: string;
  args?: string[];
  /** Process start, boot clock (ns); from /proc it has clock-tick (10 ms) resolution. */
  startBootNs: bigint;
}

export class ProcessTable {
  private readonly entries: LruMap<number, ProcessInfo>;

  constructor(readonly capacity: number, onEvict: () => void = () => {}) {
    this.entries = new LruMap(capacity, onEvict);
  }

  get size(): number {
    return this.entries.size;
  }

  get evictions(): number {
    return this.entries.evictions;
  }

  set(pid: number, info: ProcessInfo): void {
    this.entries.set(pid, info);
  }

  get(pid: number): ProcessInfo | undefined {
    return this.entries.peek(pid);
  }

  /** Removes and returns the entry (a process exits once). */
  take(pid: number): ProcessInfo | undefined {
    const info = this.entries.peek(pid);
    if (info) this.entries.delete(pid);
    return info;
  }

  /** Fills the table from /proc; processes that vanish meanwhile are skipped. Returns how many were added. */
  seedFromProc(procRoot = '/proc', limit = this.capacity): number {
    let names: string[];
    try {
      names = fs.readdirSync(procRoot);
    } catch {
      return 0;
    }
    const ticksToNs = 1_000_000_000n / clockTicksPerSecond();
    let added = 0;
    for (const name of names) {
      if (added >= limit) break;
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      try {
        const stat = fs.readFileSync(`${procRoot}/${name}/stat`, 'utf8');
        // Field 22 (starttime, clock ticks since boot) counts from after the ")" that closes the comm.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const startTicks = BigInt(fields[19] ?? '0');
        let path = '';
        try { path = fs.readlinkSync(`${procRoot}/${name}/exe`); } catch { /* kernel threads have no exe */ }
        if (!path) continue;
        const raw = fs.readFileSync(`${procRoot}/${name}/cmdline`);
        const args = raw.length ? raw.toString('utf8').replace(/\0$/, '').split('\0') : [];
        if (!this.entries.has(pid)) {
          this.set(pid, { path: path.replace(/ \(deleted\)$/, ''), args, startBootNs: startTicks * ticksToNs });
          added++;
        }
      } catch {
        continue; // exited while we looked
      }
    }
    return added;
  }
}

/** USER_HZ: 100 on every Linux architecture we run on (getconf CLK_TCK); not exposed to Node otherwise. */
function clockTicksPerSecond(): bigint {
  return 100n;
}
