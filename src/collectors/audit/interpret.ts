// Audit records -> security events. One audit event is several records sharing a serial (e.g. a Landlock denial
// 1423 followed by its SYSCALL 1300 and PROCTITLE 1327, closed by EOE 1320), delivered as separate datagrams: they
// are gathered per serial until EOE or `groupWaitMs`, then decided together. Reported:
//   1326 SECCOMP              -> security.seccomp.violation (action from code=)
//   1400 AVC (SELinux)        -> security.lsm.denied, only `denied` (auditallow `granted` is not a denial)
//   1400/1500-1507 AppArmor   -> security.lsm.denied, apparmor="DENIED" (and KILL)
//   1423 LANDLOCK_ACCESS      -> security.lsm.denied; the process from the SYSCALL record, else from the domain's
//                                1424 record (kept per domain id)
// Everything else is ignored. Pure apart from the process lookups it is given, so tests feed it recorded lines.
import { AUDIT, type AuditRecord } from './parse';
import type { Attributes, TapioEvent } from '../../core/event';
import { securityEvent, type KnownProcess, type SecuritySeverity } from '../security-signals/event';
import { SECCOMP_EVENT, SECCOMP_SEVERITY, archName } from '../security-signals/decode';
import { syscallName } from '../../core/syscalls';

export const LSM_EVENT = 'security.lsm.denied';

export interface ProcessLookup {
  /** process.* attributes for pid (from /proc now, `known` filling in for a process that is gone). */
  attributes(pid: number, known: KnownProcess): { attributes: Attributes; live: boolean };
  cgroupId(pid: number): bigint | undefined;
}

export interface InterpreterCounters {
  records: number;
  events: number;
  ignored: number;
  processGone: number;
  seccompMerged: number;
}

/** seccomp action from the 1326 record's code= (SECCOMP_RET_ACTION_FULL bits). */
export function seccompAction(code: string | undefined): string {
  const n = code === undefined ? NaN : Number(code);
  if (!Number.isFinite(n)) return 'UNKNOWN';
  switch (((n >>> 0) & 0xffff0000) >>> 0) {
    case 0x80000000: return 'KILL_PROCESS';
    case 0x00000000: return 'KILL_THREAD';
    case 0x00030000: return 'TRAP';
    case 0x00050000: return 'ERRNO';
    case 0x7fc00000: return 'USER_NOTIF';
    case 0x7ff00000: return 'TRACE';
    case 0x7ffc0000: return 'LOG';
    case 0x7fff0000: return 'ALLOW';
    default: return 'UNKNOWN';
  }
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

/** The process an audit record names (pid=, uid=, exe=, comm=; args from PROCTITLE). */
function knownFrom(f: Record<string, string>, proctitle?: string): KnownProcess {
  const k: KnownProcess = {};
  if (f.comm && f.comm !== '(null)') k.comm = f.comm;
  if (f.exe && f.exe !== '(null)') k.exe = f.exe;
  const uid = num(f.uid);
  if (uid !== undefined) k.uid = uid;
  if (proctitle) k.args = proctitle.split('\0').filter((s, i, all) => s.length > 0 || i < all.length - 1);
  return k;
}

export class AuditInterpreter {
  readonly counters: InterpreterCounters = { records: 0, events: 0, ignored: 0, processGone: 0, seccompMerged: 0 };
  readonly counts: Record<string, number> = {};
  private readonly groups = new Map<number, { firstSeen: number; records: AuditRecord[] }>();
  /** Landlock domain id -> the process that created it (from 1424), bounded. */
  private readonly domains = new Map<string, Record<string, string>>();

  constructor(private readonly o: {
    lookup: ProcessLookup;
    groupWaitMs: number;
    /** False when BPF already reported this (pid, syscall) seccomp violation (src/collectors/security-signals/dedupe). */
    claimSeccomp?: (pid: number, syscallNr: number) => boolean;
  }) {}

  /** Adds one record; returns the events of any group it completed. */
  add(r: AuditRecord, now = Date.now()): TapioEvent[] {
    this.counters.records++;
    if (r.type === AUDIT.LANDLOCK_DOMAIN && r.fields.domain) {
      if (this.domains.size >= 4096) this.domains.delete(this.domains.keys().next().value as string);
      if (r.fields.pid) this.domains.set(r.fields.domain, r.fields);
    }
    let g = this.groups.get(r.serial);
    if (!g) {
      g = { firstSeen: now, records: [] };
      this.groups.set(r.serial, g);
    }
    g.records.push(r);
    if (r.type === AUDIT.EOE) {
      this.groups.delete(r.serial);
      return this.decide(g.records);
    }
    return [];
  }

  /** Groups still waiting for their EOE (or for groupWaitMs). */
  get pending(): number {
    return this.groups.size;
  }

  /** Decides groups older than groupWaitMs (or all, at stop). */
  flush(now = Date.now(), all = false): TapioEvent[] {
    const out: TapioEvent[] = [];
    for (const [serial, g] of this.groups) {
      if (!all && now - g.firstSeen < this.o.groupWaitMs) continue;
      this.groups.delete(serial);
      out.push(...this.decide(g.records));
    }
    return out;
  }

  private decide(records: AuditRecord[]): TapioEvent[] {
    const syscall = records.find((r) => r.type === AUDIT.SYSCALL);
    const proctitle = records.find((r) => r.type === AUDIT.PROCTITLE)?.fields.proctitle;
    const out: TapioEvent[] = [];
    for (const r of records) {
      let e: TapioEvent | undefined;
      if (r.type === AUDIT.SECCOMP) e = this.seccomp(r, proctitle);
      else if (r.type === AUDIT.AVC || (r.type >= AUDIT.APPARMOR_FIRST && r.type <= AUDIT.APPARMOR_LAST)) e = this.macDenial(r, syscall, proctitle);
      else if (r.type === AUDIT.LANDLOCK_ACCESS) e = this.landlock(r, syscall, proctitle);
      else if (r.type !== AUDIT.SYSCALL && r.type !== AUDIT.PROCTITLE && r.type !== AUDIT.EOE && r.type !== AUDIT.LANDLOCK_DOMAIN) this.counters.ignored++;
      if (e) {
        out.push(e);
        this.counters.events++;
        this.counts[e.name] = (this.counts[e.name] ?? 0) + 1;
      }
    }
    return out;
  }

  private event(name: string, detection: 'seccomp' | 'lsm', severity: SecuritySeverity, r: AuditRecord, pid: number | undefined,
    known: KnownProcess, extra: Attributes): TapioEvent {
    let a: Attributes = {};
    let cgroupId = 0n;
    if (pid !== undefined && pid > 0) {
      const p = this.o.lookup.attributes(pid, known);
      a = p.attributes;
      const cg = this.o.lookup.cgroupId(pid);
      if (cg !== undefined) cgroupId = cg;
      if (!p.live || cg === undefined) this.counters.processGone++;
    }
    Object.assign(a, extra);
    a['tapio.security.source'] = 'audit';
    a['tapio.audit.type'] = r.type;
    a['tapio.audit.serial'] = r.serial;
    return securityEvent(name, detection, severity, BigInt(r.timeMs) * 1_000_000n, cgroupId, a);
  }

  private seccomp(r: AuditRecord, proctitle?: string): TapioEvent | undefined {
    const f = r.fields;
    const action = seccompAction(f.code);
    if (action === 'ALLOW') { this.counters.ignored++; return undefined; }
    const pid = num(f.pid);
    const nr = num(f.syscall) ?? -1;
    const arch = f.arch && /^[0-9a-f]+$/i.test(f.arch) ? parseInt(f.arch, 16) : 0;
    if (pid !== undefined && this.o.claimSeccomp && !this.o.claimSeccomp(pid, nr)) {
      this.counters.seccompMerged++;
      return undefined;
    }
    const extra: Attributes = {
      'tapio.security.seccomp.action': action,
      'tapio.security.seccomp.syscall': syscallName(nr, arch),
      'tapio.security.seccomp.arch': archName(arch),
    };
    if (nr >= 0) extra['tapio.security.seccomp.syscall_nr'] = nr;
    if (action === 'ERRNO') extra['tapio.security.attempt'] = true;
    return this.event(SECCOMP_EVENT, 'seccomp', SECCOMP_SEVERITY[action] ?? 'medium', r, pid, knownFrom(f, proctitle), extra);
  }

  private macDenial(r: AuditRecord, syscall: AuditRecord | undefined, proctitle?: string): TapioEvent | undefined {
    const f = r.fields;
    let extra: Attributes;
    if (r.avc) {
      if (r.avc.decision !== 'denied') { this.counters.ignored++; return undefined; }
      extra = {
        'tapio.security.lsm': 'selinux',
        'tapio.security.lsm.operation': r.avc.permissions.join(' '),
        'tapio.security.lsm.enforced': f.permissive !== '1',
      };
      if (f.scontext) extra['tapio.security.lsm.subject'] = f.scontext;
      if (f.tcontext) extra['tapio.security.lsm.object.context'] = f.tcontext;
      if (f.tclass) extra['tapio.security.lsm.object.class'] = f.tclass;
    } else if (f.apparmor !== undefined) {
      const verdict = f.apparmor.toUpperCase();
      if (verdict !== 'DENIED' && verdict !== 'KILL') { this.counters.ignored++; return undefined; }
      extra = { 'tapio.security.lsm': 'apparmor', 'tapio.security.lsm.enforced': true, 'tapio.security.lsm.verdict': verdict };
      if (f.operation) extra['tapio.security.lsm.operation'] = f.operation;
      if (f.profile) extra['tapio.security.lsm.subject'] = f.profile;
      if (f.denied_mask) extra['tapio.security.lsm.denied'] = f.denied_mask;
      if (f.requested_mask) extra['tapio.security.lsm.requested'] = f.requested_mask;
    } else {
      this.counters.ignored++;
      return undefined;
    }
    const target = f.path ?? f.name;
    if (target) extra['tapio.security.lsm.object.name'] = target;
    const pf = syscall?.fields ?? f;
    const pid = num(f.pid) ?? num(pf.pid);
    if (syscall?.fields.syscall) extra['tapio.security.lsm.syscall'] = syscallName(num(syscall.fields.syscall) ?? -1);
    return this.event(LSM_EVENT, 'lsm', 'medium', r, pid, knownFrom({ ...pf, ...pickProcess(f) }, proctitle), extra);
  }

  private landlock(r: AuditRecord, syscall: AuditRecord | undefined, proctitle?: string): TapioEvent {
    const f = r.fields;
    const creator = f.domain ? this.domains.get(f.domain) : undefined;
    const pf = syscall?.fields ?? creator ?? {};
    const extra: Attributes = { 'tapio.security.lsm': 'landlock', 'tapio.security.lsm.enforced': true };
    if (f.blockers) extra['tapio.security.lsm.operation'] = f.blockers;
    if (f.domain) extra['tapio.security.lsm.subject'] = `landlock domain ${f.domain}`;
    const target = f.path ?? f.name ?? (f.daddr ? `${f.daddr}:${f.dest ?? ''}` : undefined);
    if (target) extra['tapio.security.lsm.object.name'] = target;
    if (syscall?.fields.syscall) extra['tapio.security.lsm.syscall'] = syscallName(num(syscall.fields.syscall) ?? -1);
    if (!syscall && creator) extra['tapio.security.process_from'] = 'landlock_domain_creator';
    return this.event(LSM_EVENT, 'lsm', 'medium', r, num(pf.pid), knownFrom(pf, proctitle), extra);
  }
}

function pickProcess(f: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['pid', 'comm', 'exe', 'uid']) if (f[k] !== undefined) out[k] = f[k];
  return out;
}
