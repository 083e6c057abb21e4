// The kernel probe: what this kernel can do, found by trying (loading and attaching one tiny program per kind from
// bpf/probe.bpf.c), never by reading version numbers. Each unavailable item carries the kernel's reason.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from './native';
import { loadCollector, type HookKind, type HookSpec } from './loader';
import { ensureTracefs } from './tracefs';
import { cgroupMounts } from '../core/mountinfo';
import { chooseTransport, ringBufferSupport, type TransportChoice, type TransportDecision } from './transport';
import { helperHooks, helperResults, isHelperHook, probeTaskStorage, type HelperResult } from './helper-probe';

export interface FeatureResult {
  available: boolean;
  /**
   * For program kinds: 'unavailable' only when the failure says the kind itself cannot work here (the kernel refused
   * the program type, or the attach mechanism is missing); 'inconclusive' when only the probe's one target failed,
   * so hooks of that kind on other targets are still worth trying. Absent means the same as `available`.
   */
  state?: 'available' | 'unavailable' | 'inconclusive';
  /** Why not, in the kernel's (or libbpf's) words; or a note about how it was found. */
  reason?: string;
  detail?: string;
}

export type CgroupLayout = 'v2' | 'v1' | 'hybrid' | 'none';

export interface KernelFeatures {
  kernelRelease: string;
  /** The CPU architecture as the kernel names it (x86_64, aarch64): BPF objects and the addon are built per architecture. */
  machine?: string;
  libbpfVersion: string;
  btf: FeatureResult;
  ringBuffer: FeatureResult;
  /** How records leave the kernel here (kernel.transport, or the ring buffer when the kernel has one). */
  transport: TransportDecision;
  tracefs: FeatureResult;
  bpfStats: FeatureResult;
  cgroups: { layout: CgroupLayout; v2Mount?: string; v1Controllers: string[] };
  /** One entry per program/attach kind that the probe object tries. */
  programs: Record<string, FeatureResult>;
  /** BPF helpers tracing programs may call here (bpf_loop, bpf_task_pt_regs, ...), by name (src/kernel/helper-probe.ts). */
  helpers: Record<string, HelperResult>;
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
  const mounts = cgroupMounts(mountinfo);
  const v2Mount = mounts.v2?.mountPoint;
  const v1 = mounts.v1.flatMap((m) => m.controllers ?? []);
  const layout: CgroupLayout = v2Mount && v1.length ? 'hybrid' : v2Mount ? 'v2' : v1.length ? 'v1' : 'none';
  return { layout, v2Mount, v1Controllers: [...new Set(v1)].sort() };
}

/** A shared library that exports getpid, for the uprobe probe. */
function libcPath(): string | undefined {
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /\s(\/\S*libc[.-]\S*\.so\S*)$/.exec(line) ?? /\s(\/\S*libc\.so\.6)$/.exec(line);
    if (m) return m[1];
  }
  return [`/lib/${os.machine()}-linux-gnu/libc.so.6`, `/usr/lib/${os.machine()}-linux-gnu/libc.so.6`, '/lib64/libc.so.6'].find((p) => fs.existsSync(p));
}

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/** BTF for CO-RE relocation: the kernel's own, or kernel.btfPath; when neither, what to do about it. */
export function btfFeature(btfPath?: string, kernelBtf = KERNEL_BTF, release = os.release()): FeatureResult {
  if (btfPath) {
    let magic = -1;
    try {
      const fd = fs.openSync(btfPath, 'r');
      try {
        const b = Buffer.alloc(2);
        if (fs.readSync(fd, b, 0, 2, 0) === 2) magic = b.readUInt16LE(0);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      return { available: false, reason: `kernel.btfPath ${btfPath}: ${(e as Error).message}` };
    }
    if (magic !== 0xeb9f) return { available: false, reason: `kernel.btfPath ${btfPath} is not a BTF file (no 0xeB9F magic; unpack .btf.tar.xz files first)` };
    return { available: true, detail: `${btfPath} (kernel.btfPath)` };
  }
  if (fs.existsSync(kernelBtf)) return { available: true, detail: kernelBtf };
  return {
    available: false,
    reason: `${kernelBtf} does not exist (kernel built without CONFIG_DEBUG_INFO_BTF): set kernel.btfPath to a BTF ` +
      `file for exactly this kernel (${release}), e.g. BTFHub's <distro>/<version>/${os.arch() === 'arm64' ? 'arm64' : 'x86_64'}/${release}.btf ` +
      '(unpacked); tp_btf, fentry and LSM hooks stay unavailable, tracepoint and kprobe forms are used',
  };
}

export interface ProbeOptions {
  /** kernel.transport */
  transport?: TransportChoice;
  /** kernel.btfPath */
  btfPath?: string;
}

export async function probeKernel(opts: ProbeOptions = {}): Promise<KernelFeatures> {
  const n = native();
  const ring = ringBufferSupport();
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
  // The probe's programs never submit records: its object takes whatever transport the kernel has, so that the ring
  // buffer helpers are probed for what the kernel offers, not for kernel.transport.
  const probeTransport = ring.ok ? 'ringbuf' : 'perf';
  const loaded = await loadCollector({ name: 'tapio_probe', object: 'probe.bpf.o', hooks: [...hooks, ...helperHooks()] },
    { retries: 1, transport: probeTransport, btfPath: opts.btfPath });
  let helpers: Record<string, HelperResult>;
  try {
    helpers = helperResults(loaded.hooks);
    for (const h of loaded.hooks.filter((s) => !isHelperHook(s.name))) {
      if (h.chosen) programs[h.name] = { available: true, state: 'available' };
      else {
        const a = h.attempts[h.attempts.length - 1];
        const reason = a ? `${a.stage} failed: ${a.error}` : 'not tried';
        programs[h.name] = { available: false, reason, state: a ? probeVerdict(h.name, a, tracefs.ok ? tracefs.path : undefined) : 'inconclusive' };
      }
    }
  } finally {
    await loaded.close(); // detaches everything the probe attached (cgroup_skb, tc included)
  }
  helpers.bpf_task_storage_get = await probeTaskStorage({ transport: probeTransport, btfPath: opts.btfPath });
  return {
    kernelRelease: os.release(),
    machine: os.machine(),
    libbpfVersion: n.libbpfVersion(),
    btf: btfFeature(opts.btfPath),
    ringBuffer: ring.ok ? { available: true } : { available: false, reason: ring.error },
    transport: chooseTransport(opts.transport),
    tracefs: tracefs.ok ? { available: true, detail: tracefs.mountedByUs ? `mounted by tapio at ${tracefs.path}` : tracefs.path } : { available: false, reason: tracefs.error },
    bpfStats,
    cgroups,
    programs,
    helpers,
  };
}

/**
 * Whether one failed probe program rules out its whole kind. Conclusive: the kernel refused to load the program type
 * (EPERM, EINVAL, EOPNOTSUPP at load), or kprobes are missing altogether (no kprobe_events in tracefs). Anything else
 * (a target function missing, a busy attach point) says only that this one target failed here.
 */
export function probeVerdict(kind: string, attempt: { stage: string; error: string }, tracefsPath?: string): 'unavailable' | 'inconclusive' {
  if (attempt.stage === 'load' && /Operation not permitted|Invalid argument|Operation not supported|not supported/i.test(attempt.error)) {
    return 'unavailable';
  }
  if ((kind === 'kprobe' || kind === 'kretprobe' || kind === 'kprobe.multi') && tracefsPath && !fs.existsSync(`${tracefsPath}/kprobe_events`)) {
    return 'unavailable';
  }
  if (kind === 'kprobe.multi' && /Operation not supported/i.test(attempt.error)) return 'unavailable';
  return 'inconclusive';
}

/** True unless the probe concluded the kind cannot work here (an inconclusive answer still lets hooks try it). */
function ruledOut(r: FeatureResult | undefined): boolean {
  return !!r && !r.available && (r.state ?? 'unavailable') === 'unavailable';
}

/** The probe's verdict as loader input: kinds to skip up front, each with the kernel's reason (conclusive only). */
export function unavailableKinds(f: KernelFeatures): Partial<Record<HookKind, string>> {
  const out: Partial<Record<HookKind, string>> = {};
  for (const [kind, r] of Object.entries(f.programs)) {
    if (ruledOut(r) && kind !== 'kprobe.multi') out[kind as HookKind] = (r.reason ?? 'unavailable').split('\n').slice(0, 3).join(' | ');
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
    if (!ruledOut(f.programs[impl.kind])) {
      return { hook: h.name, mode: impl.kind, skipped, ...(impl.syscallTracepoint ? { syscallTracepoint: true } : {}) };
    }
    skipped.push(impl.kind);
  }
  return { hook: h.name, skipped };
}
