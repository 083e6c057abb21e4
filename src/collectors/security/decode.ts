// Turns security records (bpf/include/security.h) into `security.*` events: classifies namespace changes (escape,
// nsenter, change) against the host's namespaces, names the detection, its severity and ATT&CK technique, adds the
// process, its ancestry and what was touched, and applies scope and allowlists. Never throws on bad bytes: a record
// that does not fit is counted (stage 'decode') and skipped.
import * as fs from 'node:fs';
import type { DropCounters } from '../../core/drops';
import type { Attributes, TapioEvent } from '../../core/event';
import { HEADER_SIZE, cgroupAttribute, readCString, readHeader } from '../record-header';
import { DET } from './detections';
import {
  ANCESTORS, ANCESTOR_COMM_OFFSET, ANCESTOR_SIZE, COMM_LEN, F_CONTAINER, F_LSM, F_NO_ENTER, F_PATH_RESOLVED, F_PATH_TRUNCATED, NS_COUNT, NS_NAMES, OP_LSM,
  OP_NAMES, PATH_LEN, SECURITY_KINDS, SEC_RECORD,
} from './layout';
import type { SecurityPolicy } from './policy';

const F = SEC_RECORD.fields;

export interface SecurityDecoderOptions {
  policy: SecurityPolicy;
  /** Namespace inodes of the host, enum sec_ns order (what the kernel compares against too). */
  hostNs: number[];
  drops: DropCounters;
  toUnixNano: (bootNs: bigint) => bigint;
  /** Arguments and executable of a live process; default: /proc. */
  procInfo?: (pid: number) => { args?: string[]; exe?: string };
}

const FIXED: Record<number, string> = {
  [DET.UNSHARE]: 'namespace.change', [DET.CLONE_NS]: 'namespace.change', [DET.USERNS]: 'privilege.userns',
  [DET.MOUNT]: 'host.mount', [DET.CHROOT]: 'host.chroot', [DET.MODULE_LOAD]: 'host.module_load', [DET.BPF_LOAD]: 'host.bpf_load',
  [DET.RUNTIME_SOCKET]: 'host.runtime_socket', [DET.FILE_LINK]: 'file.link', [DET.SETUID_EXEC]: 'privilege.setuid_exec',
  [DET.CRED_CHANGE]: 'privilege.cred_change', [DET.PTRACE]: 'privilege.ptrace', [DET.SETUID_BIT]: 'privilege.setuid_bit',
  [DET.EXEC_FILELESS]: 'exec.fileless', [DET.EXEC_DROPPED]: 'exec.dropped_binary', [DET.SHELL_TTY]: 'exec.interactive_shell',
  [DET.SHELL_SOCKET]: 'exec.reverse_shell',
};

const SEVERITY_LEVEL = { low: 'WARN', medium: 'WARN', high: 'ERROR', critical: 'ERROR' } as const;

function readProc(pid: number): { args?: string[]; exe?: string } {
  const out: { args?: string[]; exe?: string } = {};
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`);
    if (raw.length) out.args = raw.toString('utf8').replace(/\0$/, '').split('\0');
  } catch { /* gone */ }
  try { out.exe = fs.readlinkSync(`/proc/${pid}/exe`); } catch { /* gone or kernel thread */ }
  return out;
}

function u32s(view: DataView, at: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => view.getUint32(at + 4 * i, true));
}

export class SecurityDecoder {
  readonly counts: Record<string, number> = {};
  /** Records not reported on purpose: allowlisted, or out of the detection's scope (not losses). */
  allowlisted = 0;
  outOfScope = 0;

  constructor(private readonly o: SecurityDecoderOptions) {}

  private bad(reason: string): undefined {
    this.o.drops.count('decode', 'security.unknown', reason);
    return undefined;
  }

  decode(view: DataView, offset: number, size: number): TapioEvent | undefined {
    if (size < HEADER_SIZE || offset + size > view.byteLength) return this.bad('short_record');
    const h = readHeader(view, offset);
    if (!SECURITY_KINDS.includes(h.kind)) return this.bad('unknown_kind');
    if (size < SEC_RECORD.size || h.size !== SEC_RECORD.size) return this.bad('size_mismatch');
    const at = offset;
    const det = view.getUint16(at + F.detection.offset, true);
    const flags = view.getUint32(at + F.flags.offset, true);
    const pathLen = view.getUint16(at + F.path_len.offset, true);
    const exeLen = view.getUint16(at + F.exe_len.offset, true);
    const ancestorCount = view.getUint32(at + F.ancestor_count.offset, true);
    if (pathLen >= PATH_LEN || exeLen >= PATH_LEN || ancestorCount > ANCESTORS) return this.bad('bad_length');
    const ret = Number(view.getBigInt64(at + F.ret.offset, true));
    const arg0 = view.getBigUint64(at + F.arg0.offset, true);
    const arg1 = view.getBigUint64(at + F.arg1.offset, true);
    const rule = view.getUint32(at + F.rule.offset, true);
    const nsBefore = u32s(view, at + F.ns_before.offset, NS_COUNT);
    const nsAfter = u32s(view, at + F.ns_after.offset, NS_COUNT);
    // A setns is judged by where the process was before it: one that left a container for the host was in one.
    const inContainer = (flags & F_CONTAINER) !== 0 || (det === DET.SETNS && (nsBefore[0] !== this.o.hostNs[0] || nsBefore[1] !== this.o.hostNs[1]));
    const extra: Attributes = {};

    let name: string | undefined = FIXED[det];
    if (det === DET.SETNS) name = this.classifySetns(nsBefore, nsAfter, ret, extra);
    else if (det === DET.FILE_OPEN || det === DET.EXEC_PATH) {
      const r = this.o.policy.rules[rule];
      if (!r) return this.bad('unknown_rule');
      name = r.detection;
      extra['tapio.security.rule'] = r.path;
      if (r.technique) extra['tapio.security.technique.id'] = r.technique;
    } else if (det === DET.FILE_LINK || det === DET.RUNTIME_SOCKET) {
      const r = this.o.policy.rules[rule];
      if (r) extra['tapio.security.rule'] = r.path;
    }
    if (name === undefined) {
      if (det === DET.SETNS) { this.outOfScope++; return undefined; } // host -> host: nothing crossed
      return this.bad('unknown_detection');
    }
    const d = this.o.policy.detections.get(name);
    if (!d) return this.bad('unknown_detection');
    if (!d.enabledHere || (!inContainer && d.effectiveScope === 'containers' && det !== DET.SETNS)) {
      this.outOfScope++; // the kernel shares hooks between detections; this one was not asked for here
      return undefined;
    }

    const exe = readCString(view, at + F.exe.offset, exeLen + 1);
    const proc = (this.o.procInfo ?? readProc)(h.pid);
    const a: Attributes = {
      'tapio.security.detection': name,
      'tapio.security.severity': d.effectiveSeverity,
      'tapio.security.technique.id': d.technique,
      'tapio.security.technique.name': d.techniqueName,
      'tapio.security.in_container': inContainer,
      'tapio.security.outcome': (flags & F_NO_ENTER) ? 'refused_before_entry' : ret < 0 ? 'failed' : 'succeeded',
      'process.pid': h.pid,
      'thread.id': h.tid,
      'process.parent_pid': view.getUint32(at + F.ppid.offset, true),
      'process.executable.path': exe || proc.exe || '',
      'process.executable.name': (exe || proc.exe || '').split('/').pop() ?? '',
      'tapio.process.comm': readCString(view, at + F.comm.offset, COMM_LEN),
      'process.real_user.id': view.getUint32(at + F.uid.offset, true),
      'process.user.id': view.getUint32(at + F.euid.offset, true),
      'process.real_group.id': view.getUint32(at + F.gid.offset, true),
      'process.group.id': view.getUint32(at + F.egid.offset, true),
      'tapio.process.capabilities.effective': `0x${view.getBigUint64(at + F.cap_effective.offset, true).toString(16)}`,
      'tapio.cgroup.id': cgroupAttribute(h.cgroupId),
      ...extra,
    };
    const op = view.getUint16(at + F.op.offset, true);
    const opName = OP_NAMES[op & ~OP_LSM];
    if (opName) a['tapio.security.operation'] = opName;
    a['tapio.security.hook'] = (flags & F_LSM) ? 'lsm' : 'tracepoint';
    if (ret < 0) a['tapio.security.errno'] = -ret;
    if (proc.args) a['process.command_args'] = proc.args;
    if (pathLen > 0) {
      a['tapio.security.path'] = readCString(view, at + F.path.offset, pathLen + 1);
      a['tapio.security.path.resolved'] = (flags & F_PATH_RESOLVED) !== 0;
      if (flags & F_PATH_TRUNCATED) a['tapio.security.path.truncated'] = true;
    }
    this.ancestry(view, at, ancestorCount, a);
    this.details(det, view, at, arg0, arg1, nsBefore, nsAfter, a);

    const event: TapioEvent = {
      name: `security.${name}`, timeUnixNano: this.o.toUnixNano(h.tsNs), attributes: a, cgroupId: h.cgroupId,
      severity: SEVERITY_LEVEL[d.effectiveSeverity],
    };
    if (this.o.policy.allowed(event)) {
      this.allowlisted++;
      return undefined;
    }
    this.counts[event.name] = (this.counts[event.name] ?? 0) + 1;
    return event;
  }

  /** setns: out of a container into a host namespace is an escape; from the host into a container, an nsenter. */
  private classifySetns(before: number[], after: number[], ret: number, a: Attributes): string | undefined {
    const host = this.o.hostNs;
    const types = NS_NAMES.slice(0, NS_COUNT - 1).map((n, i) => ({ n, i }));
    const containerBefore = before[0] !== host[0] || before[1] !== host[1];
    const joinedHost = types.filter(({ i }) => before[i] !== host[i] && after[i] === host[i]).map(({ n }) => n);
    const leftHost = types.filter(({ i }) => before[i] === host[i] && after[i] !== host[i]).map(({ n }) => n);
    const changed = types.filter(({ i }) => before[i] !== after[i]).map(({ n }) => n);
    if (changed.length) a['tapio.security.namespaces.changed'] = changed;
    if (containerBefore && joinedHost.length) {
      a['tapio.security.namespaces.host_joined'] = joinedHost;
      return 'namespace.escape';
    }
    if (!containerBefore && leftHost.length) {
      a['tapio.security.namespaces.entered'] = leftHost;
      return 'namespace.enter';
    }
    if (containerBefore && (changed.length || ret < 0)) return 'namespace.change';
    return undefined;
  }

  private ancestry(view: DataView, at: number, n: number, a: Attributes): void {
    const pids: number[] = [];
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      const base = at + F.ancestors.offset + ANCESTOR_SIZE * i;
      const pid = view.getUint32(base, true);
      pids.push(pid);
      const exe = (this.o.procInfo ?? readProc)(pid).exe;
      names.push(exe ?? readCString(view, base + ANCESTOR_COMM_OFFSET, COMM_LEN));
    }
    a['tapio.process.ancestors.pids'] = pids;
    a['tapio.process.ancestors.executables'] = names;
  }

  private details(det: number, view: DataView, at: number, arg0: bigint, arg1: bigint, before: number[], after: number[], a: Attributes): void {
    switch (det) {
      case DET.SETNS:
        a['tapio.security.namespace.type_flags'] = Number(arg1);
        break;
      case DET.UNSHARE: case DET.CLONE_NS: case DET.USERNS:
        a['tapio.security.clone_flags'] = `0x${arg0.toString(16)}`;
        a['tapio.security.namespaces.changed'] = NS_NAMES.filter((_, i) => before[i] !== after[i]);
        if (det !== DET.UNSHARE) a['tapio.security.child_pid'] = view.getUint32(at + F.target_pid.offset, true);
        break;
      case DET.MOUNT:
        a['tapio.security.mount.flags'] = `0x${arg0.toString(16)}`;
        break;
      case DET.BPF_LOAD:
        a['tapio.security.bpf.prog_type'] = Number(arg1);
        break;
      case DET.CRED_CHANGE:
        a['tapio.security.old.real_user.id'] = view.getUint32(at + F.old_uid.offset, true);
        a['tapio.security.old.user.id'] = view.getUint32(at + F.old_euid.offset, true);
        a['tapio.security.old.real_group.id'] = view.getUint32(at + F.old_gid.offset, true);
        a['tapio.security.old.group.id'] = view.getUint32(at + F.old_egid.offset, true);
        a['tapio.security.old.capabilities.effective'] = `0x${view.getBigUint64(at + F.old_cap_effective.offset, true).toString(16)}`;
        a['tapio.security.syscall.args'] = [Number(arg0), Number(arg1)];
        break;
      case DET.PTRACE:
        a['tapio.security.ptrace.request'] = Number(arg0);
        a['tapio.security.target_pid'] = view.getUint32(at + F.target_pid.offset, true);
        break;
      case DET.SETUID_BIT: case DET.SETUID_EXEC:
        a['tapio.security.file.mode'] = `0${(Number(arg0) & 0o7777).toString(8)}`;
        break;
      case DET.FILE_OPEN:
        a['tapio.security.open.flags'] = `0x${arg0.toString(16)}`;
        break;
      case DET.EXEC_DROPPED:
        a['tapio.security.file.changed_time_unix_nano'] = arg0.toString();
        a['tapio.security.container.started_time_unix_nano'] = arg1.toString();
        break;
      case DET.SHELL_TTY:
        a['tapio.security.stdin.tty'] = `${Number(arg0) >>> 20}:${Number(arg0) & 0xfffff}`;
        break;
      case DET.SHELL_SOCKET:
        a['tapio.security.socket_fds'] = [...((arg0 & 1n) ? ['stdin'] : []), ...((arg0 & 2n) ? ['stdout'] : [])];
        break;
    }
  }
}
