// Parts 2 and 3 of bench/agent-end-to-end.ts, all tracers in one run: the agent as a user runs it (`tapio run`,
// default collectors, in a child process) against libbpf-tools execsnoop and bpftrace on a sequential exec storm,
// and the syscall tax (ns per getppid, stat, open+close from bench/syscall-tax.c) with no tracer, with Tapio, with
// the network collector's old accept hook (a syscall tracepoint) and with bpftrace on those same tracepoints.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { networkCollectorSpec } from '../../src/collectors/network';
import { loadCollector } from '../../src/kernel';
import { memoryOf, type MemoryRow } from './memory';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CORES = os.availableParallelism();

/** utime + stime of a process and its threads, seconds. */
export function cpuSecondsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** utime + stime (seconds) by thread group: the main thread, the ring readers (tapio-ring) and every other thread
 *  (V8's compiler and GC helpers, libuv). Threads that ended meanwhile are missing: read deltas as a lower bound. */
export function cpuByThread(pid: number): { main: number; reader: number; other: number } {
  const out = { main: 0, reader: 0, other: 0 };
  let tids: string[] = [];
  try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const s = (Number(f[11]) + Number(f[12])) / 100;
      if (tid === String(pid)) out.main += s; else if (comm === 'tapio-ring') out.reader += s; else out.other += s;
    } catch { /* the thread ended */ }
  }
  return out;
}

export interface Tracer {
  name: string;
  pid?: number;
  stop(): Promise<void>;
}

async function stopChild(c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill(signal);
  await Promise.race([exited, sleep(10_000)]);
  if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Start a tracer child and wait until its output says it is attached. */
async function startChild(name: string, cmd: string, args: string[], ready: (out: string) => boolean, limitMs = 20_000): Promise<Tracer> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; if (out.length > 1 << 16) out = out.slice(-4096); });
  child.stderr!.on('data', (d) => { out += d; if (out.length > 1 << 16) out = out.slice(-4096); });
  const start = Date.now();
  while (!ready(out) && child.exitCode === null && Date.now() - start < limitMs) await sleep(50);
  if (child.exitCode !== null || !ready(out)) {
    await stopChild(child);
    throw new Error(`${name} did not start: ${out.slice(-500)}`);
  }
  return { name, pid: child.pid, stop: () => stopChild(child, 'SIGINT') };
}

/** Attached BPF links a process holds (anon_inode:bpf_link fds): how we know `tapio run` is up without --stats. */
function bpfLinks(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).match(/bpf.link/) !== null; } catch { return false; }
    }).length;
  } catch {
    return 0;
  }
}

/** `tapio run` from this checkout, or from another one (its root, e.g. main's, for before/after in one run). */
export async function tapioRun(root = path.join(__dirname, '..', '..', '..'), label = ''): Promise<Tracer> {
  const bin = path.join(root, 'bin', 'tapio.js');
  // Node's flags as the image's ENTRYPOINT runs it (scripts/image/Dockerfile).
  const child = spawn(process.execPath, ['--max-semi-space-size=4', bin, 'run', '--output', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err = (err + d).slice(-4096); });
  const stop = () => stopChild(child);
  // Up once the links have stopped growing for 3 s (process, network and cgroup attach one after the other, after
  // the feature probe, whose short-lived programs include a syscall tracepoint: measuring then would be wrong).
  let last = -1;
  let stableSince = Date.now();
  for (let i = 0; i < 600 && child.exitCode === null; i++) {
    await sleep(100);
    const n = bpfLinks(child.pid!);
    if (n !== last) { last = n; stableSince = Date.now(); }
    if (n > 0 && Date.now() - stableSince > 3000) break;
  }
  if (child.exitCode !== null || last <= 0) {
    await stop();
    throw new Error(`tapio run did not start: ${err}`);
  }
  return { name: `tapio run${label} (default collectors, ${last} BPF links)`, pid: child.pid, stop };
}

export function execsnoop(): Promise<Tracer> {
  return startChild('execsnoop (libbpf-tools)', 'stdbuf', ['-oL', '/usr/sbin/execsnoop'], (o) => /PCOMM/.test(o));
}

export function bpftrace(name: string, program: string): Promise<Tracer> {
  return startChild(name, 'bpftrace', ['-e', program], (o) => /Attaching/.test(o));
}

/** The network collector alone with the accept hook it used before (a syscall tracepoint), loaded in-process. */
export async function oldAcceptHook(): Promise<Tracer> {
  const spec = networkCollectorSpec({ ringBufferBytes: 1 << 20, connectionTableSize: 65536 });
  spec.hooks = spec.hooks.map((h) => (h.name === 'accept'
    ? { ...h, implementations: h.implementations.filter((i) => i.kind === 'tracepoint') }
    : h.name === 'accept_legacy_syscall' ? { ...h, onlyWith: undefined } : h));
  const loaded = await loadCollector(spec);
  const accept = loaded.hooks.find((h) => h.name === 'accept')?.chosen;
  if (accept?.kind !== 'tracepoint') throw new Error('the old accept hook did not attach');
  return { name: 'network collector, old accept hook (sys_exit_accept4/accept tracepoints)', stop: () => loaded.close() };
}

/** A sequential storm of `n` fork+exec of /bin/true from one shell: wall ms. */
export function execStorm(n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => execFile('/bin/sh', ['-c', `i=0; while [ $i -lt ${n} ]; do /bin/true; i=$((i+1)); done`],
    (e) => (e ? reject(e) : resolve(Number(process.hrtime.bigint() - t0) / 1e6))));
}

export interface StormRow {
  tracer: string; stormMs: number; slowdown: number; cpuS: number; usPerExec: number; idlePct?: number;
  /** µs per exec by thread group (main, ring readers, other threads), for processes with threads. */
  threads?: { main: number; reader: number; other: number };
  /** The tracer's memory just after the storm (processes only). */
  mem?: MemoryRow;
}

/** The storm with no tracer, then with each tracer (no-tracer runs between them keep the baseline honest). */
export async function stormTable(n: number, tracers: (() => Promise<Tracer>)[], warmup = 0): Promise<StormRow[]> {
  await execStorm(200); // warm the page cache
  const baselines: number[] = [await execStorm(n)];
  const rows: StormRow[] = [];
  for (const make of tracers) {
    const t = await make();
    try {
      let idlePct: number | undefined;
      if (t.pid) {
        const c0 = cpuSecondsOf(t.pid);
        await sleep(5000);
        idlePct = ((cpuSecondsOf(t.pid) - c0) / (5 * CORES)) * 100;
      }
      // A short storm first, for every tracer alike: the rows are the steady state of a tracer that has seen execs
      // before (a JIT compiles the agent's hot path once; on a cold agent that adds ~20 µs per exec to a 3000-exec
      // storm, on the V8 helper threads).
      if (warmup > 0) { await execStorm(warmup); await sleep(1500); }
      const c0 = t.pid ? cpuSecondsOf(t.pid) : 0;
      const th0 = t.pid ? cpuByThread(t.pid) : undefined;
      const ms = await execStorm(n);
      await sleep(1500); // let the tracer drain what the storm made
      const cpuS = t.pid ? cpuSecondsOf(t.pid) - c0 : NaN;
      const th1 = t.pid ? cpuByThread(t.pid) : undefined;
      const us = (s: number) => (s * 1e6) / n;
      const threads = th0 && th1 ? { main: us(th1.main - th0.main), reader: us(th1.reader - th0.reader), other: us(th1.other - th0.other) } : undefined;
      rows.push({ tracer: t.name, stormMs: ms, slowdown: 0, cpuS, usPerExec: us(cpuS), idlePct, threads, mem: t.pid ? memoryOf(t.pid) : undefined });
    } finally {
      await t.stop();
    }
    baselines.push(await execStorm(n));
  }
  // Against the no-tracer storms just before and after (the machine's load drifts over minutes).
  rows.forEach((r, i) => { r.slowdown = r.stormMs / ((baselines[i]! + baselines[i + 1]!) / 2); });
  const sorted = [...baselines].sort((a, b) => a - b);
  return [{ tracer: 'none (median of the runs between tracers)', stormMs: sorted[Math.floor(sorted.length / 2)]!, slowdown: 1, cpuS: 0, usPerExec: 0 }, ...rows];
}

/** bench/syscall-tax.c, compiled once into a temp dir. */
export function buildTaxProgram(): string {
  const src = path.join(__dirname, '..', '..', '..', 'bench', 'syscall-tax.c');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-tax-')), 'syscall-tax');
  execFileSync('cc', ['-O2', '-o', out, src]);
  return out;
}

export interface TaxRow { setup: string; getppid: number; stat: number; openClose: number; tax?: TaxRow }

type Ns = { getppid: number; stat: number; openClose: number };
function measureTax(bin: string): Ns {
  const [getppid, stat, openClose] = execFileSync(bin, ['200000', '9'], { encoding: 'utf8' }).trim().split(' ').map(Number);
  return { getppid: getppid!, stat: stat!, openClose: openClose! };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** ns per syscall with each setup, `passes` times; each setup's tax is against the no-tracer runs just before and
 *  after it (the load on this shared machine drifts over minutes), the median over passes reported. */
export async function taxTable(bin: string, setups: (() => Promise<Tracer>)[], passes = 3): Promise<TaxRow[]> {
  const nones: Ns[] = [];
  const per = new Map<string, { ns: Ns[]; tax: Ns[] }>();
  for (let p = 0; p < passes; p++) {
    for (const make of setups) {
      const before = measureTax(bin);
      const t = await make();
      let ns: Ns;
      try {
        await sleep(500);
        ns = measureTax(bin);
      } finally {
        await t.stop();
      }
      const after = measureTax(bin);
      nones.push(before, after);
      const base = (k: keyof Ns) => Math.min(before[k], after[k]);
      const row = per.get(t.name) ?? { ns: [], tax: [] };
      row.ns.push(ns);
      row.tax.push({ getppid: ns.getppid - base('getppid'), stat: ns.stat - base('stat'), openClose: ns.openClose - base('openClose') });
      per.set(t.name, row);
    }
  }
  const med = (xs: Ns[]): Ns => ({ getppid: median(xs.map((x) => x.getppid)), stat: median(xs.map((x) => x.stat)),
    openClose: median(xs.map((x) => x.openClose)) });
  return [{ setup: 'none', ...med(nones) },
    ...[...per].map(([setup, r]) => ({ setup, ...med(r.ns), tax: { setup, ...med(r.tax) } }))];
}
