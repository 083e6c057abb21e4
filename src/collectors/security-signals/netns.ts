// Network namespace inode -> the container living in it, for packets dropped on their way in (no socket yet, and
// the task that ran was whoever handled the softirq). Built from /proc/<pid>/ns/net; rescanned on a miss (once at
// once for a namespace not looked for before, then at most once a second) so a flood of drops from an unknown
// namespace cannot turn into a flood of /proc scans.
import * as fs from 'node:fs';
import { cgroupIdOfPid } from './event';

export interface NetnsOwner {
  pid: number;
  cgroupId: bigint;
}

export class NetnsIndex {
  private owners = new Map<number, NetnsOwner>();
  private scannedAt = 0;
  private readonly tried = new Set<number>();
  /** Lookups that found no process in the namespace (it was gone, or the scan was rate limited). */
  misses = 0;
  readonly hostNetns: number;

  constructor(private readonly procRoot = '/proc', private readonly minRescanMs = 1000) {
    this.hostNetns = netnsOf('self', procRoot) ?? 0;
  }

  lookup(netnsIno: number): NetnsOwner | undefined {
    let owner = this.owners.get(netnsIno);
    // A namespace never looked for gets one scan at once (a new pod); after that, at most one scan a second.
    if (!owner && (!this.tried.has(netnsIno) || Date.now() - this.scannedAt >= this.minRescanMs)) {
      if (this.tried.size >= 4096) this.tried.clear();
      this.tried.add(netnsIno);
      this.scan();
      owner = this.owners.get(netnsIno);
    }
    if (!owner) this.misses++;
    return owner;
  }

  /** The lowest pid of each namespace (a pod's sandbox or first container), with its cgroup. */
  private scan(): void {
    this.scannedAt = Date.now();
    const next = new Map<number, NetnsOwner>();
    let names: string[];
    try { names = fs.readdirSync(this.procRoot); } catch { return; }
    const pids = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
    for (const pid of pids) {
      const ns = netnsOf(String(pid), this.procRoot);
      if (ns === undefined || ns === this.hostNetns || next.has(ns)) continue;
      const cgroupId = cgroupIdOfPid(pid, this.procRoot);
      if (cgroupId !== undefined) next.set(ns, { pid, cgroupId });
    }
    this.owners = next;
  }
}

function netnsOf(pid: string, procRoot: string): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(fs.readlinkSync(`${procRoot}/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
