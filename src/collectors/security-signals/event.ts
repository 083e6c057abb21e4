// What every event of the security signals (seccomp, LSM denials, policy drops, API server contact) shares: the
// `security.*` name, the detection, a severity, the MITRE ATT&CK technique, and the process as /proc shows it when
// the signal arrives (pid, executable, arguments, user), falling back to what the kernel record carried when the
// process is already gone (counted by the caller).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Attributes, TapioEvent } from '../../core/event';

export type SecuritySeverity = 'low' | 'medium' | 'high' | 'critical';
export type SecuritySignalDetection = 'seccomp' | 'lsm' | 'policy_drop' | 'apiserver_contact';

/** The ATT&CK technique each detection is evidence of. */
export const TECHNIQUES: Record<SecuritySignalDetection, { id: string; name: string }> = {
  // Container seccomp profiles deny the escape levers (mount, unshare, setns, bpf, keyctl, ...).
  seccomp: { id: 'T1611', name: 'Escape to Host' },
  // A mandatory access control policy refused an access the process tried anyway.
  lsm: { id: 'T1068', name: 'Exploitation for Privilege Escalation' },
  // Traffic a network policy refuses: most often a workload probing what it may reach.
  policy_drop: { id: 'T1046', name: 'Network Service Discovery' },
  // A pod talking to the API server: listing what runs in the cluster (or using a stolen token).
  apiserver_contact: { id: 'T1613', name: 'Container and Resource Discovery' },
};

/** Log severity: security events are at least WARN; high and critical are ERROR. */
export function logSeverity(s: SecuritySeverity): 'WARN' | 'ERROR' {
  return s === 'high' || s === 'critical' ? 'ERROR' : 'WARN';
}

export function securityEvent(name: string, detection: SecuritySignalDetection, severity: SecuritySeverity,
  timeUnixNano: bigint, cgroupId: bigint, attributes: Attributes): TapioEvent {
  const t = TECHNIQUES[detection];
  attributes['tapio.security.detection'] = detection;
  attributes['tapio.security.severity'] = severity;
  attributes['tapio.security.mitre.technique.id'] = t.id;
  attributes['tapio.security.mitre.technique.name'] = t.name;
  return { name, timeUnixNano, attributes, cgroupId, severity: logSeverity(severity) };
}

export interface KnownProcess {
  comm?: string;
  exe?: string;
  uid?: number;
  args?: string[];
}

/** Parents of a live `pid` from /proc while they share its pid namespace (so up to a container's first process), at
 *  most 6, as the kernel-side collectors report them. Empty when /proc no longer has it. */
export function procAncestry(pid: number, procRoot = '/proc'): { pids: number[]; executables: string[] } {
  const pids: number[] = [];
  const executables: string[] = [];
  const ns = (p: number) => { try { return fs.readlinkSync(`${procRoot}/${p}/ns/pid`); } catch { return undefined; } };
  const own = ns(pid);
  let p = pid;
  for (let i = 0; i < 6 && own !== undefined; i++) {
    let ppid = 0;
    try {
      const stat = fs.readFileSync(`${procRoot}/${p}/stat`, 'utf8');
      ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch { break; }
    if (!(ppid > 0) || ns(ppid) !== own) break;
    pids.push(ppid);
    let exe: string;
    try { exe = fs.readlinkSync(`${procRoot}/${ppid}/exe`).replace(/ \(deleted\)$/, ''); } catch { exe = ''; }
    executables.push(exe);
    p = ppid;
  }
  return { pids, executables };
}

/** process.* attributes for `pid`, read from /proc now; what the record knew fills in for a process that is gone.
 *  Returns whether /proc still had it. */
export function processAttributes(pid: number, known: KnownProcess, procRoot = '/proc'): { attributes: Attributes; live: boolean } {
  const a: Attributes = { 'process.pid': pid };
  let exe: string | undefined;
  let args: string[] | undefined;
  let uid = known.uid;
  let live = false;
  if (pid > 0) {
    try {
      exe = fs.readlinkSync(`${procRoot}/${pid}/exe`).replace(/ \(deleted\)$/, '');
      live = true;
    } catch { /* gone, or a kernel thread */ }
    try {
      const raw = fs.readFileSync(`${procRoot}/${pid}/cmdline`);
      if (raw.length) args = raw.toString('utf8').replace(/\0$/, '').split('\0');
      const status = fs.readFileSync(`${procRoot}/${pid}/status`, 'utf8');
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m && uid === undefined) uid = Number(m[1]);
      live = true;
    } catch { /* gone */ }
  }
  exe ??= known.exe;
  args ??= known.args;
  if (exe) {
    a['process.executable.path'] = exe;
    a['process.executable.name'] = path.posix.basename(exe);
  } else if (known.comm) {
    a['process.executable.name'] = known.comm;
  }
  if (known.comm) a['tapio.process.comm'] = known.comm;
  if (args?.length) a['process.command_args'] = args;
  if (uid !== undefined) a['process.user.id'] = uid;
  if (live) {
    const anc = procAncestry(pid, procRoot);
    a['tapio.process.ancestors.pids'] = anc.pids;
    a['tapio.process.ancestors.executables'] = anc.executables;
    if (anc.pids.length) a['process.parent_pid'] = anc.pids[0];
  }
  return { attributes: a, live };
}

export { cgroupIdOfPid } from '../../kernel/cgroup-id';
