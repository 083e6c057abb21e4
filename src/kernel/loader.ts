// The fallback loader. A logical hook is declared once with an ordered list of implementations (fentry, kprobe,
// tracepoint, tp_btf, ...). We load every candidate program we can (one failing program never fails the others:
// it is switched off and the object reloaded), then attach each hook's implementations in order of preference and
// keep the first that attaches. Each earlier failure is recorded in the kernel's own words. A collector whose
// required hook has no working implementation is reported unavailable, with reasons, and the agent carries on.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BPF_OBJECT_DIR, native, type AttachOutcome, type NativeBpfObject } from './native';
import { BpfMap } from './maps';
import { RingReader, type BatchHandler } from './ring';
import type { RingReaderOptions } from './native';
import { releaseFreedHeap } from './heap';
import { readKernelDrops, type KernelDropRow } from './drops';
import { ensureTracefs } from './tracefs';
import { chooseTransport, prepareTransport, type TransportChoice } from './transport';
import { Backoff } from '../core/backoff';

export type HookKind = 'fentry' | 'fexit' | 'kprobe' | 'kretprobe' | 'tracepoint' | 'raw_tracepoint' | 'tp_btf'
  | 'uprobe' | 'uretprobe' | 'lsm' | 'cgroup_skb' | 'tc' | 'iter';

/** Said (status, probe) next to a hook that is a syscall tracepoint; measured by bench/agent-end-to-end.ts. */
export const SYSCALL_TAX = 'syscall tracepoint: every syscall on the node pays ~25-40 ns while it is attached';

export interface HookImplementation {
  kind: HookKind;
  /** The BPF function name in the object. */
  program: string;
  /** What to attach to, for kinds that need more than their SEC() name. */
  /** Uprobes: `functionName`, or `fileOffset` for a function found by other means (not exported). */
  target?: { binaryPath?: string; functionName?: string; fileOffset?: number; pid?: number; cgroupPath?: string; ifname?: string; ingress?: boolean;
    /** Uprobes: bpf_get_attach_cookie() in the program (which attachment fired). */
    cookie?: number };
  /** A syscalls:* tracepoint: while attached, every syscall of every task takes the slow path (~25 ns here). */
  syscallTracepoint?: boolean;
}

export interface HookSpec {
  name: string;
  implementations: HookImplementation[];
  /** An optional hook may fail without making its collector unavailable. */
  optional?: boolean;
  /** Attach only when an earlier hook chose this kind (a companion of that implementation); otherwise skipped. */
  onlyWith?: { hook: string; kind: HookKind };
}

export interface CollectorSpec {
  name: string;
  /** File name in bpf/.output (e.g. 'process.bpf.o') or an absolute path. */
  object: string;
  hooks: HookSpec[];
  /** Set before load: LRU and hash sizes, ring buffer bytes. */
  mapMaxEntries?: Record<string, number>;
  /** Set before load: `const volatile` globals (.rodata) by name, each value exactly the variable's size. */
  rodata?: Record<string, Buffer>;
  /** Set before load: maps this object shares with one loaded earlier, by name -> that map's fd (the sizes in
   *  mapMaxEntries must agree with it). */
  reuseMaps?: Record<string, number>;
}

export interface HookAttempt {
  kind: HookKind;
  program: string;
  stage: 'skipped' | 'load' | 'attach';
  error: string;
}

export interface HookStatus {
  name: string;
  optional: boolean;
  chosen?: { kind: HookKind; program: string; syscallTracepoint?: boolean };
  /** Every implementation tried before the chosen one (or all of them, when none works), with the reason. */
  attempts: HookAttempt[];
}

/**
 * Why each required hook has no implementation attached: one line per hook, every attempt in the kernel's own
 * words (first line only). The one formatter the summary, /readyz, /status and the loader's errors all use.
 */
export function describeUnavailableHooks(hooks: readonly HookStatus[], opts: { programs?: boolean } = {}): string[] {
  const attempt = (a: HookAttempt) => `${a.kind}${opts.programs ? ` (${a.program})` : ''} ${a.stage}: ${a.error.split('\n')[0]}`;
  return hooks.filter((h) => !h.optional && !h.chosen).map((h) =>
    `${h.name}: ${h.attempts.map(attempt).join('; ') || 'no implementation'}`);
}

export interface LoaderOptions {
  /** Hook kinds already known not to work here (from the probe), with the kernel's reason: skipped up front. */
  unavailableKinds?: Partial<Record<HookKind, string>>;
  /** Attempts for transient failures (EAGAIN, EBUSY, EINTR), with exponential backoff from `retryBaseMs`. */
  retries?: number;
  retryBaseMs?: number;
  /** kernel.transport: how records leave the kernel (src/kernel/transport.ts). Default 'auto'. */
  transport?: TransportChoice;
  /** kernel.btfPath: an external BTF file for CO-RE relocation, for kernels without /sys/kernel/btf/vmlinux. */
  btfPath?: string;
}

const TRANSIENT_ERRNOS = new Set([4 /* EINTR */, 11 /* EAGAIN */, 16 /* EBUSY */]);

/** Program sections that attach by the kernel's BTF ids: they need the kernel's own BTF, not just CO-RE data. */
const NEEDS_KERNEL_BTF = /^(tp_btf|fentry|fexit|fmod_ret|lsm|iter|struct_ops)(\.s)?\//;
const KERNEL_BTF_MISSING = /Error loading vmlinux BTF|failed to find valid kernel BTF/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Which program a failed bpf_object__load was about, from libbpf's log. */
export function failedProgramFromLog(log: string): string | undefined {
  const m = /prog '([^']+)': (?:BPF program load failed|failed to load|failed to find|failed to resolve|relo #\d+: .*fail)/.exec(log);
  return m?.[1];
}

/** The lines of the log about one program, verifier log included, as the reason a person reads. */
export function programLogExcerpt(log: string, program: string): string {
  const lines = log.split('\n');
  const out: string[] = [];
  let inVerifierLog = false;
  for (const line of lines) {
    if (line.includes('PROG LOAD LOG --') && !line.includes(`prog '${program}'`)) { inVerifierLog = false; continue; }
    if (line.includes(`prog '${program}'`)) {
      if (line.includes('BEGIN PROG LOAD LOG')) inVerifierLog = true;
      else if (line.includes('END PROG LOAD LOG')) inVerifierLog = false;
      else out.push(line.replace(/^libbpf: /, '').trim());
    } else if (inVerifierLog && line.trim() !== '') {
      out.push(line.trim());
    }
  }
  const text = out.join('\n');
  return text.length > 8000 ? `${text.slice(0, 4000)}\n...\n${text.slice(-4000)}` : text;
}

export class LoadedCollector {
  private readonly maps = new Map<string, BpfMap>();
  private mapNames?: Set<string>;
  private readonly readers: RingReader[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    readonly hooks: HookStatus[],
    private readonly object: NativeBpfObject | undefined,
    /** Programs that failed to load and are not part of any hook, with reasons. */
    readonly otherFailures: { program: string; error: string }[],
    /** Ring maps that became perf event arrays (perf transport), with their pages per CPU. */
    private readonly perfRings: ReadonlyMap<string, number> = new Map(),
  ) {}

  /** How this object's records reach userspace. */
  get transport(): 'ringbuf' | 'perf' {
    return this.perfRings.size > 0 ? 'perf' : 'ringbuf';
  }

  /** True when every required hook has an attached implementation. */
  get available(): boolean {
    return this.object !== undefined && this.hooks.every((h) => h.optional || h.chosen);
  }

  /** One line per unavailable required hook: the reasons each implementation failed. */
  unavailableReasons(): string[] {
    return describeUnavailableHooks(this.hooks, { programs: true });
  }

  private obj(): NativeBpfObject {
    if (!this.object || this.closed) throw new Error(`collector ${this.name}: BPF object is not loaded`);
    return this.object;
  }

  map(name: string): BpfMap {
    let m = this.maps.get(name);
    if (!m) {
      m = new BpfMap(name, this.obj().mapFd(name));
      this.maps.set(name, m);
    }
    return m;
  }

  hasMap(name: string): boolean {
    if (!this.object) return false;
    // The maps are fixed once loaded; asking the addon each time made a description of every map each second.
    this.mapNames ??= new Set(this.object.maps().map((m) => m.name));
    return this.mapNames.has(name);
  }

  openRing(mapName: string, onBatch: BatchHandler, options?: RingReaderOptions): RingReader {
    const pages = this.perfRings.get(mapName);
    const opts: RingReaderOptions = pages ? { ...options, transport: 'perf', perfPagesPerCpu: pages } : { ...options };
    const reader = new RingReader(mapName, this.obj().mapFd(mapName), onBatch, opts);
    this.readers.push(reader);
    return reader;
  }

  /** The object's maps (name, type, sizes), for fill and memory metrics. */
  mapDescriptions(): { name: string; type: string; keySize: number; valueSize: number; maxEntries: number }[] {
    if (!this.object || this.closed) return [];
    return this.object.maps().map(({ name, type, keySize, valueSize, maxEntries }) => ({ name, type, keySize, valueSize, maxEntries }));
  }

  /** Ring readers opened on this object, for reader statistics (/metrics, status). */
  ringReaders(): readonly RingReader[] {
    return this.readers;
  }

  /** The object's tapio_drops map, summed across CPUs ([] when the object has none). */
  readDrops(): KernelDropRow[] {
    if (!this.object || this.closed || !this.hasMap('tapio_drops')) return [];
    return readKernelDrops(this.map('tapio_drops'));
  }

  /** fds of the attached programs, for run-time statistics. */
  attachedPrograms(): { hook: string; program: string; fd: number }[] {
    if (!this.object || this.closed) return [];
    return this.hooks.filter((h) => h.chosen).map((h) => ({
      hook: h.name, program: h.chosen!.program, fd: this.object!.programFd(h.chosen!.program),
    }));
  }

  /** Attaches one uprobe/uretprobe implementation at run time, to a target found later (a TLS library a process
   *  mapped), as the link `linkKey`; the outcome carries the kernel's words like every other attach. */
  attachTarget(impl: HookImplementation, linkKey: string): AttachOutcome {
    const t = impl.target ?? {};
    if ((impl.kind !== 'uprobe' && impl.kind !== 'uretprobe') || !t.binaryPath || (!t.functionName && t.fileOffset === undefined)) {
      return { ok: false, error: `attachTarget: ${impl.kind} ${impl.program} needs a uprobe target (binaryPath, functionName or fileOffset)` };
    }
    return this.obj().attachUprobe(impl.program, {
      binaryPath: t.binaryPath, functionName: t.functionName ?? '', offset: t.functionName ? 0 : t.fileOffset, pid: t.pid ?? -1,
      retprobe: impl.kind === 'uretprobe', linkKey, ...(t.cookie !== undefined ? { cookie: t.cookie } : {}),
    });
  }

  /** A loaded program's fd (run-time statistics of programs attached per target, which are in no hook). */
  programFd(program: string): number {
    return this.obj().programFd(program);
  }

  /** Detaches a link made by attachTarget. */
  detachTarget(linkKey: string): boolean {
    return !this.closed && this.object !== undefined && this.object.detach(linkKey);
  }

  /** Detaches links made by attachTarget without blocking: a uprobe's detach waits for the kernel's grace periods
   *  (~100 ms a link), done on a pool thread; the keys can be attached again at once. */
  detachTargetsInBackground(linkKeys: string[]): Promise<number> {
    if (this.closed || this.object === undefined || linkKeys.length === 0) return Promise.resolve(0);
    return this.object.detachInBackground(linkKeys);
  }

  /** Every program stops running (no new records); maps and rings stay readable until close(). */
  detachAll(): void {
    if (!this.closed) this.object?.detachAll();
  }

  /** Detaches every program first (no new records), then stops the ring readers, which deliver everything the
   *  rings still hold, then unloads. Nothing submitted before close() is lost uncounted. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.object?.detachAll();
    for (const r of this.readers) r.stop();
    this.closed = true;
    this.object?.close();
  }
}

function attachOne(obj: NativeBpfObject, impl: HookImplementation): AttachOutcome {
  const t = impl.target ?? {};
  switch (impl.kind) {
    case 'uprobe':
    case 'uretprobe':
      if (!t.binaryPath || !t.functionName) return { ok: false, error: 'uprobe needs target.binaryPath and target.functionName' };
      return obj.attachUprobe(impl.program, { binaryPath: t.binaryPath, functionName: t.functionName, pid: t.pid ?? -1, retprobe: impl.kind === 'uretprobe' });
    case 'cgroup_skb':
      if (!t.cgroupPath) return { ok: false, error: 'cgroup_skb needs target.cgroupPath' };
      return obj.attachCgroup(impl.program, t.cgroupPath);
    case 'tc':
      if (!t.ifname) return { ok: false, error: 'tc needs target.ifname' };
      return obj.attachTc(impl.program, { ifname: t.ifname, ingress: t.ingress ?? true });
    default:
      return obj.attach(impl.program);
  }
}

export function resolveObjectPath(object: string): string {
  return path.isAbsolute(object) ? object : path.join(BPF_OBJECT_DIR, object);
}

export async function loadCollector(spec: CollectorSpec, options: LoaderOptions = {}): Promise<LoadedCollector> {
  const retries = options.retries ?? 4;
  const baseMs = options.retryBaseMs ?? 25;
  const hooks: HookStatus[] = spec.hooks.map((h) => ({ name: h.name, optional: !!h.optional, attempts: [] }));
  const file = resolveObjectPath(spec.object);
  let elf: Buffer;
  try {
    elf = fs.readFileSync(file);
  } catch (e) {
    const error = `cannot read BPF object ${file}: ${(e as Error).message} (run \`npm run setup\` to build bpf/)`;
    spec.hooks.forEach((h, i) => h.implementations.forEach((impl) => hooks[i].attempts.push({ kind: impl.kind, program: impl.program, stage: 'load', error })));
    return new LoadedCollector(spec.name, hooks, undefined, []);
  }

  // Which implementations are still candidates; skip kinds the probe already found unusable.
  const hookPrograms = new Set<string>();
  const candidates = spec.hooks.map((h, i) => h.implementations.filter((impl) => {
    hookPrograms.add(impl.program);
    const reason = options.unavailableKinds?.[impl.kind];
    if (reason) hooks[i].attempts.push({ kind: impl.kind, program: impl.program, stage: 'skipped', error: `${impl.kind} unavailable on this kernel: ${reason}` });
    return !reason;
  }));
  const wanted = new Set(candidates.flat().map((c) => c.program));
  const loadFailures = new Map<string, string>();

  const transport = chooseTransport(options.transport).transport;
  let perfRings = new Map<string, number>();
  let obj: NativeBpfObject | undefined;
  const maxRounds = wanted.size + 16;
  const loadBackoff = new Backoff(baseMs);
  for (let round = 0, transient = 0; round < maxRounds; round++) {
    const o = new (native().BpfObject)(elf, spec.name, options.btfPath ? { btfPath: options.btfPath } : undefined);
    for (const p of o.programs()) {
      // Hook programs load only while they are candidates; helper programs outside any hook load unless they failed.
      const on = hookPrograms.has(p.name) ? wanted.has(p.name) && !loadFailures.has(p.name) : !loadFailures.has(p.name);
      o.setAutoload(p.name, on);
    }
    try {
      for (const [m, n] of Object.entries(spec.mapMaxEntries ?? {})) o.setMapMaxEntries(m, n);
      for (const [v, bytes] of Object.entries(spec.rodata ?? {})) o.setRodata(v, bytes);
      for (const [m, fd] of Object.entries(spec.reuseMaps ?? {})) o.reuseMap(m, fd);
      perfRings = prepareTransport(o, transport);
    } catch (e) {
      o.close(); // a wrong name or size is the caller's bug: say so, leak nothing
      throw e;
    }
    const r = o.load();
    // The load parsed the kernel's BTF and freed it; without this glibc keeps those pages (~5-10 MiB per object).
    releaseFreedHeap();
    if (r.ok) {
      obj = o;
      break;
    }
    const programs = o.programs();
    o.close();
    if (r.errno !== undefined && TRANSIENT_ERRNOS.has(r.errno) && transient < retries) {
      transient++;
      await sleep(loadBackoff.next());
      continue;
    }
    // No kernel BTF (and none found elsewhere): libbpf refuses the whole object while any program that attaches
    // by BTF id is on, even when kernel.btfPath serves the CO-RE relocations. Switch those off, with the reason.
    const btfBound = KERNEL_BTF_MISSING.test(r.log)
      ? programs.filter((p) => p.autoload && NEEDS_KERNEL_BTF.test(p.section) && !loadFailures.has(p.name)) : [];
    if (btfBound.length > 0) {
      for (const p of btfBound) loadFailures.set(p.name, `${p.section.split('/')[0]} needs the kernel's own BTF (/sys/kernel/btf/vmlinux), which this kernel does not have`);
      continue;
    }
    const failed = failedProgramFromLog(r.log);
    if (!failed || loadFailures.has(failed)) {
      // Not attributable to one program (a map could not be created, say): the whole object is unusable.
      const error = `${r.error ?? 'load failed'}\n${r.log.trim()}`.trim();
      for (const [i, cands] of candidates.entries()) {
        for (const c of cands) hooks[i].attempts.push({ kind: c.kind, program: c.program, stage: 'load', error });
      }
      return new LoadedCollector(spec.name, hooks, undefined, []);
    }
    loadFailures.set(failed, programLogExcerpt(r.log, failed) || r.error || 'load failed');
  }

  const otherFailures = [...loadFailures].filter(([p]) => !hookPrograms.has(p)).map(([program, error]) => ({ program, error }));
  if (!obj) return new LoadedCollector(spec.name, hooks, undefined, otherFailures);

  try {
    await attachHooks(obj, candidates, hooks, loadFailures, retries, baseMs, spec.hooks);
  } catch (e) {
    obj.close(); // nothing attached may outlive a loader that failed (a wrong program name, say)
    throw e;
  }
  return new LoadedCollector(spec.name, hooks, obj, otherFailures, perfRings);
}

/** Per hook, the first implementation that attaches; every failure before it recorded with the kernel's words. */
async function attachHooks(obj: NativeBpfObject, candidates: HookImplementation[][], hooks: HookStatus[],
  loadFailures: Map<string, string>, retries: number, baseMs: number, specs: HookSpec[]): Promise<void> {
  for (const [i, cands] of candidates.entries()) {
    const cond = specs[i]?.onlyWith;
    const chosenThere = cond && hooks.find((h) => h.name === cond.hook)?.chosen?.kind;
    if (cond && chosenThere !== cond.kind) {
      for (const impl of cands) {
        hooks[i].attempts.push({ kind: impl.kind, program: impl.program, stage: 'skipped',
          error: `only needed when ${cond.hook} uses ${cond.kind} (it uses ${chosenThere ?? 'nothing'})` });
      }
      continue;
    }
    for (const impl of cands) {
      const loadError = loadFailures.get(impl.program);
      if (loadError) {
        hooks[i].attempts.push({ kind: impl.kind, program: impl.program, stage: 'load', error: loadError });
        continue;
      }
      let outcome = attachOne(obj, impl);
      const attachBackoff = new Backoff(baseMs);
      for (let attempt = 0; !outcome.ok && attempt < retries; attempt++) {
        if (impl.kind === 'tracepoint' && /perf event ID/.test(outcome.error ?? '')) {
          const t = ensureTracefs(); // tracefs not mounted: mount it and try again at once
          if (!t.ok) { outcome = { ok: false, error: `${outcome.error}\n${t.error}` }; break; }
        } else if (outcome.errno === undefined || !TRANSIENT_ERRNOS.has(outcome.errno)) {
          break;
        } else {
          await sleep(attachBackoff.next());
        }
        outcome = attachOne(obj, impl);
      }
      if (outcome.ok) {
        hooks[i].chosen = { kind: impl.kind, program: impl.program, ...(impl.syscallTracepoint ? { syscallTracepoint: true } : {}) };
        break;
      }
      hooks[i].attempts.push({ kind: impl.kind, program: impl.program, stage: 'attach', error: outcome.error ?? 'attach failed' });
    }
  }
}
