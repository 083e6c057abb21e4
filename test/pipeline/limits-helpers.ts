// Shared by the limits tests and the overhead benchmark: loads bpf/testing/limits_test.bpf.o, makes throwaway
// cgroups under the cgroup2 mount, and counts delivered records per cgroup. Every record the program would emit is
// either delivered, rate limited, sampled out or counted as a ring drop, so tests can check the totals add up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCollector, u32Key, type LoadedCollector } from '../../src/kernel';

export const CGROUP2_ROOT = '/sys/fs/cgroup/unified';
export const TEST_KIND = 31;

export async function loadLimitsTest(): Promise<LoadedCollector> {
  const c = await loadCollector({
    name: 'limits_test',
    object: 'testing/limits_test.bpf.o',
    hooks: [{ name: 'emit', implementations: [{ kind: 'tracepoint', program: 'limits_emit' }] }],
  });
  if (!c.available) throw new Error(`limits_test did not load: ${c.unavailableReasons().join('; ')}`);
  return c;
}

/** setpriority() calls from `pid` emit `burst` records each. */
export function addTarget(c: LoadedCollector, pid: number, burst: number): void {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(burst);
  c.map('limits_test_targets').update(u32Key(pid), v);
}

/** Records the kernel gave up on per reason for the test kind, from tapio_drops. */
export function testKindDrops(c: LoadedCollector): { ringbufFull: number; sampled: number; rateLimited: number } {
  const rows = c.readDrops().filter((d) => d.kind === TEST_KIND);
  const get = (reason: number) => rows.filter((d) => d.reason === reason).reduce((s, d) => s + d.count, 0);
  return { ringbufFull: get(0), sampled: get(1), rateLimited: get(2) };
}

export interface TestCgroup {
  path: string;
  /** bpf_get_current_cgroup_id() of a task in it: the directory's inode number. */
  id: bigint;
  add(pid: number): void;
  /** Moves any task left back to the root and removes the directory. Idempotent. */
  remove(): Promise<void>;
}

export function makeCgroup(name: string): TestCgroup {
  if (!fs.existsSync(path.join(CGROUP2_ROOT, 'cgroup.procs'))) throw new Error(`no cgroup2 mount at ${CGROUP2_ROOT}`);
  const dir = path.join(CGROUP2_ROOT, `tapio-test-${process.pid}-${name}`);
  fs.mkdirSync(dir);
  const id = fs.statSync(dir, { bigint: true }).ino;
  let removed = false;
  return {
    path: dir,
    id,
    add(pid) {
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    },
    async remove() {
      if (removed) return;
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          for (const pid of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            try { fs.writeFileSync(path.join(CGROUP2_ROOT, 'cgroup.procs'), pid); } catch { /* exited meanwhile */ }
          }
          fs.rmdirSync(dir);
          removed = true;
          return;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') { removed = true; return; }
          await new Promise((r) => setTimeout(r, 20)); // a task that just exited can keep it busy for a moment
        }
      }
      throw new Error(`could not remove test cgroup ${dir}`);
    },
  };
}

/** Delivered records per cgroup id, counted from the records' own header (cgroup_id at offset 16). */
export function countByCgroup(into: Map<bigint, number>): (view: DataView, offset: number) => void {
  return (view, offset) => {
    const id = view.getBigUint64(offset + 16, true);
    into.set(id, (into.get(id) ?? 0) + 1);
  };
}
