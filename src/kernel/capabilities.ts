// Which Linux capabilities this process holds (CapEff in /proc/self/status), and what each missing one costs. The
// agent needs no uid 0: CAP_BPF + CAP_PERFMON load and attach the programs; CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH
// let it read other processes' /proc fds to attribute sockets; CAP_SYS_ADMIN only switches on per-program run-time
// statistics; CAP_AUDIT_READ is for the audit event source. (Measured on this kernel; see the reliability review.)
import * as fs from 'node:fs';

export const CAP = { DAC_READ_SEARCH: 2, SYS_PTRACE: 19, SYS_ADMIN: 21, AUDIT_READ: 37, PERFMON: 38, BPF: 39 } as const;

/** The effective capability set as a bit mask, from the text of /proc/<pid>/status. */
export function effectiveCapabilities(statusText = fs.readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(statusText);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

const has = (mask: bigint, cap: number): boolean => ((mask >> BigInt(cap)) & 1n) === 1n;

export interface CapabilityReport {
  /** False when the BPF programs cannot be loaded at all. */
  canLoad: boolean;
  /** Why it cannot load (names the missing capabilities), when !canLoad. */
  error?: string;
  /** What runs without, one line each, when it can load. */
  warnings: string[];
}

export function checkCapabilities(mask = effectiveCapabilities()): CapabilityReport {
  // CAP_SYS_ADMIN covers BPF and PERFMON on kernels before 5.8 and still does today.
  const admin = has(mask, CAP.SYS_ADMIN);
  const missing = admin ? [] : (['BPF', 'PERFMON'] as const).filter((c) => !has(mask, CAP[c])).map((c) => `CAP_${c}`);
  if (missing.length) {
    return { canLoad: false, warnings: [], error: `missing ${missing.join(' and ')}: needed to load and attach the BPF ` +
      'programs (run as root, or grant CAP_BPF and CAP_PERFMON, plus CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH to attribute sockets)' };
  }
  const warnings: string[] = [];
  if (!admin && !has(mask, CAP.SYS_PTRACE) && !has(mask, CAP.DAC_READ_SEARCH)) {
    warnings.push('no CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH: sockets that began before the agent are not attributed ' +
      'to a process (counted as network owner_unknown)');
  }
  if (!admin) warnings.push('no CAP_SYS_ADMIN: per-program run-time statistics are off (everything else works)');
  if (!has(mask, CAP.AUDIT_READ)) warnings.push('no CAP_AUDIT_READ: the audit event source cannot be read');
  return { canLoad: true, warnings };
}
