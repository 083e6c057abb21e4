// Which cgroup hierarchy the kernel's cgroup ids refer to, found from /proc/self/mountinfo.
//   v2 only:  cgroup2 mounted (usually at /sys/fs/cgroup): ids are inodes of directories below it.
//   hybrid:   v1 controllers plus cgroup2 (e.g. /sys/fs/cgroup/unified): ids are still the cgroup2 inodes.
//   v1 only:  no cgroup2 mount; every task sits in the root of the default hierarchy (id 1), so the BPF side must read
//             the id of one v1 hierarchy instead; we pick it here (memory, then pids, cpu, name=systemd, any).
import * as fs from 'node:fs';
import { cgroupMounts, type CgroupMount } from '../../core/mountinfo';

export type CgroupMode = 'v2' | 'hybrid' | 'v1';

export type CgroupHierarchy = CgroupMount;

export interface CgroupLayout {
  mode: CgroupMode;
  /** The hierarchy whose directory inodes are the cgroup ids we resolve. */
  ids: CgroupHierarchy;
}

export class CgroupLayoutError extends Error {}

const V1_PREFERENCE = ['memory', 'pids', 'cpu', 'name=systemd'];

/** Detect the layout from mountinfo text; throws CgroupLayoutError when no cgroup hierarchy is mounted. */
export function detectCgroupLayout(mountinfo: string): CgroupLayout {
  const { v2, v1 } = cgroupMounts(mountinfo);
  if (v2) return { mode: v1.length > 0 ? 'hybrid' : 'v2', ids: v2 };
  if (v1.length === 0) throw new CgroupLayoutError('no cgroup or cgroup2 filesystem is mounted (see /proc/self/mountinfo); mount cgroup2 at /sys/fs/cgroup');
  for (const want of V1_PREFERENCE) {
    const h = v1.find((x) => x.controllers?.includes(want));
    if (h) return { mode: 'v1', ids: h };
  }
  return { mode: 'v1', ids: v1[0]! };
}

/** Detect the layout of this machine (reads /proc/self/mountinfo). */
export function detectHostCgroupLayout(mountinfoPath = '/proc/self/mountinfo'): CgroupLayout {
  let text: string;
  try {
    text = fs.readFileSync(mountinfoPath, 'utf8');
  } catch (e) {
    throw new CgroupLayoutError(`cannot read ${mountinfoPath}: ${(e as Error).message}`);
  }
  return detectCgroupLayout(text);
}

/** The path of `pid`'s cgroup in the id hierarchy, from /proc/<pid>/cgroup text; undefined when absent. */
export function pathFromProcCgroup(text: string, layout: CgroupLayout): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (!path.startsWith('/')) continue;
    if (layout.mode !== 'v1') {
      if (line.slice(0, first) === '0' && controllers === '') return path;
    } else if (layout.ids.controllers && controllers.split(',').some((c) => layout.ids.controllers!.includes(c))) {
      return path;
    }
  }
  return undefined;
}

/** Join a cgroup path with the hierarchy's mount, taking a non-`/` mount root into account; undefined if outside. */
export function directoryOf(cgroupPath: string, h: CgroupHierarchy): string | undefined {
  const root = h.root === '/' ? '' : h.root.replace(/\/+$/, '');
  if (root && cgroupPath !== root && !cgroupPath.startsWith(root + '/')) return undefined;
  const rel = cgroupPath.slice(root.length);
  if (rel.split('/').includes('..')) return undefined;
  return h.mountPoint + (rel === '/' ? '' : rel);
}
