// Benchmark: Tapio's process and network collectors against peers on the same storms, with ground truth from the
// generator (test/collectors/storm.ts). Prints a table: events captured out of ground truth, and CPU seconds spent
// by each tracer (utime+stime from /proc/<pid>/stat; for Tapio, this Node process, decoding included).
//   exec storm:    Tapio process collector vs Debian libbpf-tools `execsnoop` (tracepoints).
//   connect storm: Tapio network collector vs `bpftrace` on sock:inet_sock_set_state. libbpf-tools' `tcpconnect`
//                  cannot run here: it needs kprobes, which this kernel lacks (notes/kernel.md).
// Run as root: node dist/bench/collectors-vs-peers.js [seconds=10] [execRate=2000] [connectRate=1000]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { ProcessCollector } from '../src/collectors/process';
import { NetworkCollector } from '../src/collectors/network';
import type { Collector } from '../src/collectors/types';
import { runCollector } from '../test/collectors/collect';
import { removeStormTools, runStorm, stormTools } from '../test/collectors/storm';

const seconds = Number(process.argv[2] ?? 10);
const execRate = Number(process.argv[3] ?? 2000);
const connectRate = Number(process.argv[4] ?? 1000);

function cpuSeconds(pid: number | 'self'): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row { scenario: string; tool: string; truth: number; captured: number; lost: string; cpu: number; note?: string }

async function tapio(scenario: 'exec' | 'connect', rate: number, collector: Collector): Promise<Row> {
  const run = await runCollector(collector);
  try {
    const { target } = stormTools();
    const cpu0 = cpuSeconds('self');
    const storm = runStorm(scenario, rate, seconds);
    const truth = await storm.done;
    const count = () => scenario === 'exec'
      ? run.events.filter((e) => e.name === 'process.exec' && e.attributes['process.executable.path'] === target).length
      : run.events.filter((e) => e.name === 'network.tcp.connect' && e.attributes['process.pid'] === storm.pid).length;
    await run.waitFor(() => count() >= truth, 5000);
    const cpu = cpuSeconds('self') - cpu0;
    collector.syncCounters();
    const kind = scenario === 'exec' ? 'process.exec' : 'network.tcp.connect';
    return { scenario, tool: 'tapio', truth, captured: count(), lost: String(run.drops.total({ kind })), cpu };
  } finally {
    await run.stop();
  }
}

/** Runs a peer tracer around a storm; `count` picks the lines that are storm events. */
async function peer(scenario: 'exec' | 'connect', rate: number, tool: string, cmd: string, args: string[],
  ready: RegExp, count: (line: string, stormPid: number) => boolean, note?: string): Promise<Row> {
  // stdbuf -oL: peers write to a pipe here, and block-buffered output would hide their lines (and their header)
  // until exit. stdbuf execs the tool, so the pid (and its CPU time) stays the tool's own.
  const child = spawn('stdbuf', ['-oL', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  try {
    for (let i = 0; i < 500 && !ready.test(out + err); i++) await sleep(20);
    if (!ready.test(out + err)) throw new Error(`${tool} did not start: ${err.trim()}`);
    const cpu0 = cpuSeconds(child.pid!);
    const storm = runStorm(scenario, rate, seconds);
    const truth = await storm.done;
    const lines = () => out.split('\n').filter((l) => count(l, storm.pid)).length;
    for (let i = 0; i < 250 && lines() < truth; i++) await sleep(20);
    const cpu = cpuSeconds(child.pid!) - cpu0;
    const lost = [...err.matchAll(/lost (\d+) events/gi)].reduce((s, m) => s + Number(m[1]), 0);
    return { scenario, tool, truth, captured: lines(), lost: lost ? String(lost) : '0 reported', cpu, note };
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => { child.once('close', r); setTimeout(r, 3000); });
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the collectors and peers load BPF programs');
  const { target } = stormTools();
  const rows: Row[] = [];
  try {
    rows.push(await tapio('exec', execRate, new ProcessCollector()));
    rows.push(await peer('exec', execRate, 'execsnoop (libbpf-tools)', '/usr/sbin/execsnoop', [], /PCOMM/,
      (l) => l.includes(target)));
    rows.push(await tapio('connect', connectRate, new NetworkCollector()));
    rows.push(await peer('connect', connectRate, 'bpftrace sock:inet_sock_set_state', 'bpftrace',
      ['-e', 'tracepoint:sock:inet_sock_set_state /args->oldstate == 2 && args->newstate == 1 && args->protocol == 6/ { printf("connect %d\\n", args->dport); }'],
      /Attaching/, (l) => l.startsWith('connect '),
      'counts every client connect on the machine (bpftrace sees no reliable pid in softirq)'));
  } finally {
    removeStormTools();
  }
  console.log(`\nStorms of ${seconds} s: exec at ${execRate}/s, connect at ${connectRate}/s (2 cores, generator competing)`);
  console.log('| scenario | tracer | captured / ground truth | lost (as reported) | CPU s | CPU µs per event |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.tool} | ${r.captured} / ${r.truth} | ${r.lost} | ${r.cpu.toFixed(2)} | ${(r.cpu / Math.max(1, r.captured) * 1e6).toFixed(1)} |`);
  }
  console.log('| connect | tcpconnect (libbpf-tools) | cannot run here: needs kprobes (CONFIG_KPROBES off) | | | |');
  for (const r of rows.filter((x) => x.note)) console.log(`note (${r.tool}): ${r.note}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
