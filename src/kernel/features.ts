// The kernel probe: what this kernel can do, found by trying (loading and attaching one tiny program per kind from
// bpf/probe.bpf.c), never by reading version numbers. Each unavailable item carries the kernel's reason.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from './native';
import { loadCollector, type HookKind, type HookSpec } from './loader';
import { ensureTracefs } from './tracefs';

export interface FeatureResult {
  available: boolean;
  /** Why not, in the kernel's (or libbpf's) words; or a note about how it was found. */
  reason?: string;
  detail?: string;
}

export type CgroupLayout = 'v2' | 'v1' | 'hybrid' | 'none';

export interface KernelFeatures {
  kernelRelease: string;
  libbpfVersion: string;
  btf: FeatureResult;
  ringBuffer: FeatureResult;
  tracefs: FeatureResult;
  bpfStats: FeatureResult;
  cgroups: { layout: CgroupLayout; v2Mount?: string; v1Controllers: string[] };
  /** One entry per program/attach kind that the probe object tries. */
  programs: Record<string, FeatureResult>;
}

/** The probe object's programs, by the kind they stand for. */
const PROBE_PROGRAMS: { kind: HookKind | 'kprobe.multi'; program: string; target?: HookSpec['implementations'][number]['target'] }[] = [
  { kind: 'tracepoint', program: 'probe_tracepoint' },
  { kind: 'raw_tracepoint', program: 'probe_raw_tracepoint' },
  { kind: 'tp_btf', program: 'probe_tp_btf' },
  { kind: 'fentry', program: 'probe_fentry' },
  { kind: 'fexit', program: 'probe_fexit' },
  { kind: 'kprobe', program: 'probe_kprobe' },
  { kind: 'kretprobe', program: 'probe_kretprobe' },
  { kind: 'kprobe.multi', program: 'probe_kprobe_multi' },
  { kind: 'uprobe', program: 'probe_uprobe' },
  { kind: 'lsm', program: 'probe_lsm' },
  { kind: 'cgroup_skb', program: 'probe_cgroup_skb' },
  { kind: 'tc', program: 'probe_tc', target: { ifname: 'lo', ingress: true } },
];

export function detectCgroupLayout(mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): KernelFeatures['cgroups'] {
  let v2Mount: string | undefined;
  const v1: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const parts = line.split(' - ');
    if (parts.length < 2) continue;
    const fields = parts[0].split(' ');
    const [fstype, , superOpts = ''] = parts[1].split(' ');
    if (fstype === 'cgroup2') v2Mount ??= fields[4];
    if (fstype === 'cgroup') {
      const names = superOpts.split(',').filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o));
      v1.push(...names.map((n) => n.replace(/^name=/, 'name=')));
    }
  }
  const layout: CgroupLayout = v2Mount && v1.length ? 'hybrid' : v2Mount ? 'v2' : v1.length ? 'v1' : 'none';
  return { layout, v2Mount, v1Controllers: [...new Set(v1)].sort() };
}

/** A shared library that exports getpid, for the uprobe probe. */
function libcPath(): string | undefined {
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /\s(\/\S*libc[.-]\S*\.so\S*)$/.exec(line) ?? /\s(\/\S*libc\.so\.6)$/.exec(line);
    if (m) return m[1];
  }
  return ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib64/libc.so.6'].find((p) => fs.existsSync(p));
}

export async function probeKernel(): Promise<KernelFeatures> {
  const n = native();
  const btfOk = fs.existsSync('/sys/kernel/btf/vmlinux');
  const ring = n.probeMapType('ringbuf');
  const tracefs = ensureTracefs();

  let bpfStats: FeatureResult;
  try {
    n.closeFd(n.enableRunStats());
    bpfStats = { available: true, detail: 'BPF_ENABLE_STATS(BPF_STATS_RUN_TIME) works' };
  } catch (e) {
    bpfStats = { available: false, reason: (e as Error).message };
  }

  const cgroups = detectCgroupLayout();
  const libc = libcPath();
  const hooks: HookSpec[] = PROBE_PROGRAMS.map((p) => ({
    name: p.kind,
    optional: true,
    implementations: [{
      kind: (p.kind === 'kprobe.multi' ? 'kprobe' : p.kind) as HookKind,
      program: p.program,
      target: p.kind === 'uprobe' ? (libc ? { binaryPath: libc, functionName: 'getpid' } : undefined)
        : p.kind === 'cgroup_skb' ? (cgroups.v2Mount ? { cgroupPath: cgroups.v2Mount } : undefined)
        : p.target,
    }],
  }));
  const programs: Record<string, FeatureResult> = {};
  const loaded = await loadCollector({ name: 'tapio_probe', object: 'probe.bpf.o', hooks }, { retries: 1 });
  try {
    for (const h of loaded.hooks) {
      if (h.chosen) programs[h.name] = { available: true };
      else {
        const a = h.attempts[h.attempts.length - 1];
        programs[h.name] = { available: false, reason: a ? `${a.stage} failed: ${a.error}` : 'not tried' };
      }
    }
  } finally {
    await loaded.close(); // detaches everything the probe attached (cgroup_skb, tc included)
  }
  return {
    kernelRelease: os.release(),
    libbpfVersion: n.libbpfVersion(),
    btf: btfOk ? { available: true, detail: '/sys/kernel/btf/vmlinux' } : { available: false, reason: '/sys/kernel/btf/vmlinux does not exist (kernel built without CONFIG_DEBUG_INFO_BTF)' },
    ringBuffer: ring.ok ? { available: true } : { available: false, reason: ring.error },
    tracefs: tracefs.ok ? { available: true, detail: tracefs.mountedByUs ? `mounted by tapio at ${tracefs.path}` : tracefs.path } : { available: false, reason: tracefs.error },
    bpfStats,
    cgroups,
    programs,
  };
}

/** The probe's verdict as loader input: kinds to skip up front, each with the kernel's reason. */
export function unavailableKinds(f: KernelFeatures): Partial<Record<HookKind, string>> {
  const out: Partial<Record<HookKind, string>> = {};
  for (const [kind, r] of Object.entries(f.programs)) {
    if (!r.available && kind !== 'kprobe.multi') out[kind as HookKind] = (r.reason ?? 'unavailable').split('\n').slice(0, 3).join(' | ');
  }
  return out;
}

/** Which implementation each hook would use here, given the probe (first available kind in preference order). */
export interface PlannedHook {
  hook: string;
  mode?: HookKind;
  skipped: string[];
  syscallTracepoint?: boolean;
  /** A companion hook (HookSpec.onlyWith) that the plan does not need. */
  notNeeded?: boolean;
}

export function plannedModes(f: KernelFeatures, hooks: HookSpec[]): PlannedHook[] {
  const plan: PlannedHook[] = [];
  for (const h of hooks) {
    const needs = h.onlyWith;
    if (needs && plan.find((p) => p.hook === needs.hook)?.mode !== needs.kind) {
      plan.push({ hook: h.name, skipped: [], notNeeded: true });
      continue;
    }
    plan.push(planOne(f, h));
  }
  return plan;
}

function planOne(f: KernelFeatures, h: HookSpec): PlannedHook {
  const skipped: string[] = [];
  for (const impl of h.implementations) {
    if (f.programs[impl.kind]?.available !== false) {
      return { hook: h.name, mode: impl.kind, skipped, ...(impl.syscallTracepoint ? { syscallTracepoint: true } : {}) };
    }
    skipped.push(impl.kind);
  }
  return { hook: h.name, skipped };
}
