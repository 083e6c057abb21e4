// The kernel cgroup id of a process, as BPF's bpf_get_current_cgroup_id() reports it: the inode of the process's
// directory in the cgroup2 hierarchy (mounted at /sys/fs/cgroup on v2 hosts, /sys/fs/cgroup/unified on hybrid
// ones). For sources that know only a pid (audit records, a network namespace's members). Pure-v1 hosts have no
// cgroup2 ids to give: undefined there.
import * as fs from 'node:fs';

let mount: { path: string; root: string } | null | undefined;

function cgroup2Mount(): { path: string; root: string } | null {
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const dash = line.indexOf(' - ');
      if (dash < 0 || !line.slice(dash + 3).startsWith('cgroup2 ')) continue;
      const left = line.slice(0, dash).split(' ');
      const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return { root: unescape(left[3] ?? '/'), path: unescape(left[4] ?? '') };
    }
  } catch { /* no /proc */ }
  return null;
}

/** undefined when the process is gone (or the host has no cgroup2). */
export function cgroupIdOfPid(pid: number, procRoot = '/proc'): bigint | undefined {
  if (mount === undefined) mount = cgroup2Mount();
  if (!mount || pid <= 0) return undefined;
  try {
    const line = fs.readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    if (!line) return undefined;
    const p = line.slice(3);
    const root = mount.root === '/' ? '' : mount.root.replace(/\/+$/, '');
    if (root && p !== root && !p.startsWith(root + '/')) return undefined;
    const rel = p.slice(root.length);
    if (rel.split('/').includes('..')) return undefined;
    return fs.statSync(mount.path + (rel === '/' ? '' : rel), { bigint: true }).ino;
  } catch {
    return undefined;
  }
}
