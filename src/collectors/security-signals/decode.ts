// Turns security-signals records (bpf/include/security_signals.h) into `security.seccomp.violation` and
// `security.network.policy_drop` events. Never throws on bad bytes: such records are counted (stage 'decode') and
// skipped. The process is read from /proc on arrival; when it is gone (a KILL), the record's comm, uid and executable
// (path components read from the task in the kernel) stand in.
import * as fs from 'node:fs';
import type { DropCounters } from '../../core/drops';
import type { Attributes, TapioEvent } from '../../core/event';
import { HEADER_SIZE, cgroupAttribute, readCString, readHeader, type RecordHeader } from '../record-header';
import { formatAddress } from '../network/address';
import { errnoName } from '../network/decode';
import { claimSeccompViolation } from './dedupe';
import { processAttributes, securityEvent, type SecuritySeverity } from './event';
import {
  ANCESTOR, ANCESTORS, COMM_LEN, DIR_EGRESS, EXE_DEEPER, EXE_PART_LEN, EXE_PARTS, KIND_NETFILTER_DROP, KIND_SECCOMP_ERRNO, KIND_SECCOMP_SIGNAL, NETFILTER_DROP_RECORD,
  SECCOMP_MODE_DEAD, SECCOMP_RECORD, SRC_NO_ENTER,
} from './layout';
import type { NetnsIndex } from './netns';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, NATIVE_AUDIT_ARCH, syscallName } from '../../core/syscalls';

export const SECCOMP_EVENT = 'security.seccomp.violation';
export const POLICY_DROP_EVENT = 'security.network.policy_drop';

/** The executable the kernel record names: its components (leaf first) joined from the root; a path that lost its
 *  first directories (deeper than the record holds) starts with "...". Undefined when the record has none. */
export function recordExe(view: DataView, at: number): string | undefined {
  const n = Math.min(view.getUint8(at + S.exe_parts.offset), EXE_PARTS);
  if (n === 0) return undefined;
  const parts: string[] = [];
  for (let i = n - 1; i >= 0; i--) parts.push(readCString(view, at + S.exe.offset + i * EXE_PART_LEN, EXE_PART_LEN));
  const deeper = (view.getUint8(at + S.exe_flags.offset) & EXE_DEEPER) !== 0;
  return `${deeper ? '...' : ''}/${parts.join('/')}`;
}

/** The record's parents (kernel view, up to the container's first process): pids, and executables from /proc where
 *  the parent still runs (its comm otherwise). */
export function recordAncestry(view: DataView, at: number, procRoot = '/proc'): Attributes {
  const n = Math.min(view.getUint8(at + S.ancestor_count.offset), ANCESTORS);
  const pids: number[] = [];
  const exes: string[] = [];
  for (let i = 0; i < n; i++) {
    const base = at + S.ancestors.offset + i * ANCESTOR.size;
    const pid = view.getUint32(base + ANCESTOR.fields.pid.offset, true);
    pids.push(pid);
    let exe: string | undefined;
    try { exe = fs.readlinkSync(`${procRoot}/${pid}/exe`).replace(/ \(deleted\)$/, ''); } catch { /* gone */ }
    exes.push(exe ?? readCString(view, base + ANCESTOR.fields.comm.offset, ANCESTOR.fields.comm.size));
  }
  return { 'tapio.process.ancestors.pids': pids, 'tapio.process.ancestors.executables': exes };
}

export interface SecuritySignalsDecoderOptions {
  drops: DropCounters;
  toUnixNano: (bootNs: bigint) => bigint;
  netns: Pick<NetnsIndex, 'lookup' | 'hostNetns'>;
}

const S = SECCOMP_RECORD.fields;
const N = NETFILTER_DROP_RECORD.fields;
const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp', 132: 'sctp' };

export function archName(arch: number): string {
  if (arch === 0) return archName(NATIVE_AUDIT_ARCH);
  if (arch === AUDIT_ARCH_X86_64) return 'x86_64';
  if (arch === 0x40000003) return 'i386';
  if (arch === AUDIT_ARCH_AARCH64) return 'aarch64';
  return `0x${arch.toString(16)}`;
}

/** The seccomp action behind each signal-path record. */
export const SECCOMP_SEVERITY: Record<string, SecuritySeverity> = {
  KILL_PROCESS: 'high', KILL_THREAD: 'high', KILL: 'high', TRAP: 'medium', ERRNO: 'medium', TRACE: 'medium',
  USER_NOTIF: 'low', LOG: 'low',
};

export class SecuritySignalsDecoder {
  readonly counts: Record<string, number> = {};
  /** Events whose process had exited by the time the record was read (comm and uid from the record only). */
  processGone = 0;
  /** Seccomp violations already reported by the audit source (merged, not lost). */
  mergedDuplicates = 0;
  /** Ingress drops whose network namespace had no process left to name. */
  unattributedIngress = 0;

  constructor(private readonly o: SecuritySignalsDecoderOptions) {}

  private bad(kind: string, reason: string): undefined {
    this.o.drops.count('decode', kind, reason);
    return undefined;
  }

  decode(view: DataView, at: number, size: number): TapioEvent | undefined {
    if (size < HEADER_SIZE || at + size > view.byteLength) return this.bad('security.unknown', 'short_record');
    const h = readHeader(view, at);
    if (h.kind === KIND_SECCOMP_SIGNAL || h.kind === KIND_SECCOMP_ERRNO) {
      if (size < SECCOMP_RECORD.size || h.size !== SECCOMP_RECORD.size) return this.bad(SECCOMP_EVENT, 'size_mismatch');
      return this.count(this.seccomp(view, at, h));
    }
    if (h.kind === KIND_NETFILTER_DROP) {
      if (size < NETFILTER_DROP_RECORD.size || h.size !== NETFILTER_DROP_RECORD.size) return this.bad(POLICY_DROP_EVENT, 'size_mismatch');
      return this.count(this.policyDrop(view, at, h));
    }
    return this.bad('security.unknown', 'unknown_kind');
  }

  private count(e: TapioEvent | undefined): TapioEvent | undefined {
    if (e) this.counts[e.name] = (this.counts[e.name] ?? 0) + 1;
    return e;
  }

  private seccomp(view: DataView, at: number, h: RecordHeader): TapioEvent | undefined {
    const nr = view.getInt32(at + S.syscall_nr.offset, true);
    const arch = view.getUint32(at + S.arch.offset, true);
    const value = view.getInt32(at + S.value.offset, true);
    const mode = view.getInt32(at + S.seccomp_mode.offset, true);
    const source = view.getUint8(at + S.source.offset);
    if (!claimSeccompViolation(h.pid, nr)) {
      this.mergedDuplicates++;
      return undefined;
    }
    const comm = readCString(view, at + S.comm.offset, COMM_LEN);
    const proc = processAttributes(h.pid, { comm, uid: view.getUint32(at + S.uid.offset, true), exe: recordExe(view, at) });
    if (!proc.live) this.processGone++;
    const a: Attributes = { ...proc.attributes, ...recordAncestry(view, at) };
    if (a['tapio.process.ancestors.pids'] && (a['tapio.process.ancestors.pids'] as number[]).length) a['process.parent_pid'] = (a['tapio.process.ancestors.pids'] as number[])[0];
    let action: string;
    if (source === SRC_NO_ENTER) {
      action = 'ERRNO';
      a['error.type'] = errnoName(-value);
      a['tapio.security.attempt'] = true; // the syscall never ran
    } else {
      // A SIGSYS from seccomp is KILL (the task's seccomp mode is "dead") or TRAP; the audit record, when audit is
      // on, says which KILL. The TRAP filter's data arrives as si_errno.
      action = mode === SECCOMP_MODE_DEAD ? 'KILL' : 'TRAP';
      if (action === 'TRAP') a['tapio.security.seccomp.data'] = value;
    }
    a['tapio.security.seccomp.action'] = action;
    a['tapio.security.seccomp.syscall'] = syscallName(nr, arch);
    if (nr >= 0) a['tapio.security.seccomp.syscall_nr'] = nr;
    a['tapio.security.seccomp.arch'] = archName(arch);
    a['tapio.security.source'] = source === SRC_NO_ENTER ? 'bpf.sys_exit_without_enter' : 'bpf.signal_generate';
    a['tapio.cgroup.id'] = cgroupAttribute(h.cgroupId);
    return securityEvent(SECCOMP_EVENT, 'seccomp', SECCOMP_SEVERITY[action] ?? 'medium', this.o.toUnixNano(h.tsNs), h.cgroupId, a);
  }

  private policyDrop(view: DataView, at: number, h: RecordHeader): TapioEvent | undefined {
    const family = view.getUint16(at + N.family.offset, true);
    const src = formatAddress(family, new Uint8Array(view.buffer, view.byteOffset + at + N.saddr.offset, 16));
    const dst = formatAddress(family, new Uint8Array(view.buffer, view.byteOffset + at + N.daddr.offset, 16));
    if (!src || !dst) return this.bad(POLICY_DROP_EVENT, 'unknown_family');
    const protocol = view.getUint8(at + N.protocol.offset);
    const direction = view.getUint8(at + N.direction.offset);
    const netnsIno = view.getUint32(at + N.netns_ino.offset, true);
    const currentCgroup = view.getBigUint64(at + N.current_cgroup_id.offset, true);
    let a: Attributes = {};
    let cgroupId = h.cgroupId;
    if (direction === DIR_EGRESS) {
      // The socket's cgroup is the sender. The task that ran is the sender too when it is in that cgroup (a send
      // in process context); otherwise it was a softirq or a retransmit timer: no process then.
      if (h.pid !== 0 && currentCgroup === h.cgroupId) {
        const proc = processAttributes(h.pid, { comm: readCString(view, at + N.comm.offset, COMM_LEN) });
        if (!proc.live) this.processGone++;
        a = proc.attributes;
      }
    } else if (netnsIno !== this.o.netns.hostNetns) {
      // Arriving packet: the intended receiver is whoever lives in the namespace it was dropped in.
      const owner = this.o.netns.lookup(netnsIno);
      if (owner) {
        cgroupId = owner.cgroupId;
        a['tapio.security.attributed_by'] = 'network_namespace';
      } else {
        this.unattributedIngress++;
      }
    }
    const sport = view.getUint16(at + N.src_port.offset, true);
    const dport = view.getUint16(at + N.dst_port.offset, true);
    Object.assign(a, {
      'network.transport': PROTOCOLS[protocol] ?? `ip_proto_${protocol}`,
      'network.type': src.type,
      'source.address': src.address,
      'destination.address': dst.address,
      'tapio.network.direction': direction === DIR_EGRESS ? 'egress' : 'ingress',
      'tapio.network.drop.reason': 'NETFILTER_DROP',
      'tapio.network.drop.reason_code': view.getUint32(at + N.reason.offset, true),
      'tapio.network.netns.inode': netnsIno,
      'tapio.security.source': 'bpf.kfree_skb',
      'tapio.cgroup.id': cgroupAttribute(cgroupId),
    });
    if (sport || dport) {
      a['source.port'] = sport;
      a['destination.port'] = dport;
    }
    const ifindex = view.getUint32(at + N.ifindex.offset, true);
    if (ifindex) a['tapio.network.interface.index'] = ifindex;
    return securityEvent(POLICY_DROP_EVENT, 'policy_drop', 'low', this.o.toUnixNano(h.tsNs), cgroupId, a);
  }
}
