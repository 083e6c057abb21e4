// Kernel cgroup id -> cgroup path. The id the BPF side reports is the inode of the cgroup's directory in the id
// hierarchy (layout.ts), so resolving means finding that directory. We keep an LRU cache that follows creation and
// removal: a miss schedules a walk of the hierarchy (at most one per minScanIntervalMs), a pid lets us read
// /proc/<pid>/cgroup directly, and the BPF side may feed cgroup_mkdir/rmdir through onCgroupCreated/onCgroupRemoved.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LruMap } from '../../core/lru';
import { detectHostCgroupLayout, directoryOf, pathFromProcCgroup, type CgroupLayout } from './layout';

export interface CgroupResolverOptions {
  /** Defaults to the layout of this machine. */
  layout?: CgroupLayout;
  /** Most cgroup ids remembered. */
  cacheSize?: number;
  /** Least time between two walks of the hierarchy started by misses, ms. */
  minScanIntervalMs?: number;
  /** Most directories one walk visits (a runaway hierarchy must not stall the agent). */
  maxScanDirectories?: number;
  /** Where /proc is (tests may point elsewhere). */
  procRoot?: string;
}

export interface CgroupResolverStats {
  hits: number;
  misses: number;
  scans: number;
  lastScanDirectories: number;
  /** Walks cut short by maxScanDirectories. */
  scansTruncated: number;
  procLookups: number;
  procLookupFailures: number;
  evictions: number;
  cached: number;
}

/** The root cgroup: host processes (and kernel threads) report id 1. */
export const ROOT_CGROUP_ID = 1n;

export class CgroupPathResolver {
  readonly layout: CgroupLayout;
  private readonly cache: LruMap<bigint, string>;
  private readonly minScanIntervalMs: number;
  private readonly maxScanDirectories: number;
  private readonly procRoot: string;
  private scanInFlight: Promise<void> | undefined;
  private lastScanStart = -Infinity;
  // Ids learned from hooks or /proc while a walk runs: the walk may have passed their parent before they existed.
  private learnedDuringWalk: Set<bigint> | undefined;
  private delayedScan: NodeJS.Timeout | undefined;
  private delayedScanDone: Promise<void> | undefined;
  private readonly removedListeners: Array<(id: bigint) => void> = [];
  private readonly addedListeners: Array<(id: bigint, cgroupPath: string) => void> = [];
  private readonly counters = { hits: 0, misses: 0, scans: 0, lastScanDirectories: 0, scansTruncated: 0,
    procLookups: 0, procLookupFailures: 0 };

  constructor(options: CgroupResolverOptions = {}) {
    this.layout = options.layout ?? detectHostCgroupLayout();
    this.cache = new LruMap(options.cacheSize ?? 65536);
    this.minScanIntervalMs = options.minScanIntervalMs ?? 1000;
    this.maxScanDirectories = options.maxScanDirectories ?? 200_000;
    this.procRoot = options.procRoot ?? '/proc';
    this.cache.set(ROOT_CGROUP_ID, '/');
  }

  /** Cached path of a cgroup id, or undefined; a miss schedules a (rate-limited) walk. Never throws, never blocks. */
  pathOf(id: bigint): string | undefined {
    const p = this.cache.get(id);
    if (p !== undefined) {
      this.counters.hits++;
      return p;
    }
    this.counters.misses++;
    void this.scheduleScan(); // the walk's result serves later lookups; scan() never rejects
    return undefined;
  }

  /** Like pathOf, but on a miss waits for a walk (starting one if the rate limit allows). */
  async resolve(id: bigint): Promise<string | undefined> {
    const cached = this.pathOf(id);
    if (cached !== undefined) return cached;
    await this.scheduleScan();
    return this.cache.peek(id);
  }

  /** The /proc fallback: the cgroup path of `pid` in the id hierarchy, cached under its directory's inode.
   *  With `expectedId`, the answer only counts when the directory's inode is that id (the pid may have moved). */
  pathOfPid(pid: number, expectedId?: bigint): string | undefined {
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    this.counters.procLookups++;
    try {
      const text = fs.readFileSync(path.join(this.procRoot, String(pid), 'cgroup'), 'utf8');
      const cgroupPath = pathFromProcCgroup(text, this.layout);
      const dir = cgroupPath === undefined ? undefined : directoryOf(cgroupPath, this.layout.ids);
      if (cgroupPath === undefined || dir === undefined) throw new Error('no line for the id hierarchy');
      const id = fs.statSync(dir, { bigint: true }).ino;
      if (expectedId !== undefined && id !== expectedId) throw new Error('pid is in another cgroup now');
      this.remember(id, cgroupPath);
      return cgroupPath;
    } catch {
      // Gone processes, races with moves, unreadable /proc: a counted miss, never an error.
      this.counters.procLookupFailures++;
      return undefined;
    }
  }

  /** The cgroup id (directory inode) of a cgroup path, read from the filesystem; undefined when it does not exist. */
  idOfPath(cgroupPath: string): bigint | undefined {
    const dir = directoryOf(cgroupPath, this.layout.ids);
    if (dir === undefined) return undefined;
    try {
      const id = fs.statSync(dir, { bigint: true }).ino;
      this.remember(id, cgroupPath);
      return id;
    } catch {
      return undefined;
    }
  }

  /** Hook for cgroup_mkdir events (from BPF or anyone who knows). */
  onCgroupCreated(id: bigint, cgroupPath: string): void {
    if (typeof cgroupPath !== 'string' || !cgroupPath.startsWith('/')) return;
    this.remember(id, cgroupPath);
  }

  /** Hook for cgroup_rmdir events: forget the id (ids are inodes and may be reused). */
  onCgroupRemoved(id: bigint): void {
    if (id === ROOT_CGROUP_ID) return;
    if (this.cache.delete(id)) for (const l of this.removedListeners) l(id);
  }

  /** Called whenever an id is forgotten because its cgroup is gone. */
  onRemoved(listener: (id: bigint) => void): void {
    this.removedListeners.push(listener);
  }

  /** Called whenever an id is learned or its path changes. */
  onAdded(listener: (id: bigint, cgroupPath: string) => void): void {
    this.addedListeners.push(listener);
  }

  /** Walk the hierarchy now unless one walk is running (then wait for it). */
  scan(): Promise<void> {
    if (!this.scanInFlight) {
      this.lastScanStart = performance.now();
      this.scanInFlight = this.walk().finally(() => {
        this.scanInFlight = undefined;
      });
    }
    return this.scanInFlight;
  }

  stats(): CgroupResolverStats {
    return { ...this.counters, evictions: this.cache.evictions, cached: this.cache.size };
  }

  private scheduleScan(): Promise<void> {
    if (this.scanInFlight) return this.scanInFlight;
    const wait = this.lastScanStart + this.minScanIntervalMs - performance.now();
    if (wait > 0) {
      // Rate-limited: one walk later instead of none, so a burst of new cgroups is still learned.
      this.delayedScanDone ??= new Promise((resolve) => {
        this.delayedScan = setTimeout(() => {
          this.delayedScan = undefined;
          this.delayedScanDone = undefined;
          void this.scan().then(resolve);
        }, wait);
        this.delayedScan.unref();
      });
      return this.delayedScanDone;
    }
    return this.scan();
  }

  /** Cancel a pending delayed walk (at shutdown). */
  stop(): void {
    clearTimeout(this.delayedScan);
    this.delayedScan = undefined;
    this.delayedScanDone = undefined;
  }

  private remember(id: bigint, cgroupPath: string): void {
    this.learnedDuringWalk?.add(id);
    if (this.cache.peek(id) === cgroupPath) return;
    this.cache.set(id, cgroupPath);
    for (const l of this.addedListeners) l(id, cgroupPath);
  }

  // Breadth-first walk recording every directory's inode; ids no longer present are forgotten.
  private async walk(): Promise<void> {
    this.counters.scans++;
    const h = this.layout.ids;
    const rootPath = h.root === '/' ? '' : h.root.replace(/\/+$/, '');
    const seen = new Set<bigint>();
    this.learnedDuringWalk = new Set();
    const queue: Array<{ dir: string; cgroupPath: string }> = [{ dir: h.mountPoint, cgroupPath: rootPath || '/' }];
    let visited = 0;
    let truncated = false;
    while (queue.length > 0) {
      if (visited >= this.maxScanDirectories) {
        truncated = true;
        break;
      }
      const { dir, cgroupPath } = queue.shift()!;
      visited++;
      let entries: fs.Dirent[];
      try {
        const st = await fs.promises.stat(dir, { bigint: true });
        seen.add(st.ino);
        this.remember(st.ino, cgroupPath);
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
      } catch {
        continue; // removed while we walked
      }
      for (const e of entries) {
        if (e.isDirectory()) {
          queue.push({ dir: path.join(dir, e.name), cgroupPath: (cgroupPath === '/' ? '' : cgroupPath) + '/' + e.name });
        }
      }
    }
    this.counters.lastScanDirectories = visited;
    const learned = this.learnedDuringWalk;
    this.learnedDuringWalk = undefined;
    if (truncated) {
      this.counters.scansTruncated++;
      return; // an incomplete walk cannot say what is gone
    }
    for (const id of [...this.cache.keys()]) {
      if (!seen.has(id) && !learned.has(id)) this.onCgroupRemoved(id);
    }
  }
}
