// The one reader of /proc/<pid>/mountinfo's cgroup lines, for the kernel probe and for identity: which cgroup2 and
// cgroup v1 hierarchies are mounted, where, and (v1) with which controllers.

export interface CgroupMount {
  /** Where the hierarchy is mounted, e.g. /sys/fs/cgroup/unified. */
  mountPoint: string;
  /** The cgroup path of the mount's root (not `/` when mounted inside a cgroup namespace). */
  root: string;
  /** v1 only: the controllers or `name=` of the hierarchy, as in /proc/<pid>/cgroup's second field. */
  controllers?: string[];
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

// Super options of a v1 cgroup mount that are not controllers.
const NOT_CONTROLLERS = new Set(['rw', 'ro', 'nosuid', 'nodev', 'noexec', 'xattr', 'clone_children', 'nsdelegate', 'noprefix', 'cpuset_v2_mode']);

/** The cgroup2 mount (the first one) and every v1 cgroup mount in mountinfo text. */
export function cgroupMounts(mountinfo: string): { v2?: CgroupMount; v1: CgroupMount[] } {
  let v2: CgroupMount | undefined;
  const v1: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // <id> <parent> <maj:min> <root> <mount point> <options> [optional fields...] - <fstype> <source> <super options>
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    const root = unescapeMountField(left[3]!);
    const mountPoint = unescapeMountField(left[4]!);
    const fstype = right[0];
    if (fstype === 'cgroup2') {
      // Keep the first (shortest-lived mounts come later, e.g. inside containers' own views).
      v2 ??= { mountPoint, root };
    } else if (fstype === 'cgroup') {
      const controllers = right[2]!.split(',').filter((o) =>
        !NOT_CONTROLLERS.has(o) && !o.startsWith('relatime') && !o.startsWith('release_agent='));
      v1.push({ mountPoint, root, controllers });
    }
  }
  return { v2, v1 };
}
