// The whole agent, kernel to collector, in one run (needs root). Prints its tables, each with the load average
// next to it (this 2-core machine is shared: read the ratios within a table, not absolute numbers across runs):
//  idle. `tapio run` (default collectors) with nothing of its own to do, after it settled: CPU by thread group,
//     wake-ups, memory as RSS/PSS by holder (bench/e2e/memory.ts); BENCH_BASELINE alternates another checkout's;
//  1. pipeline + OTLP: a kernel program's records through the ring, decode, the real Agent and pipeline and the OTLP
//     exporter (direct protobuf encoder) to a real receiver over loopback, gRPC and HTTP/protobuf, at 10k and 100k
//     events/s and as fast as it goes: delivered vs ground truth, CPU (% of the node, µs per event, split by thread
//     group), RSS, drops by reason, p50/p99 kernel timestamp -> receipt, and the main thread's CPU profile by stage;
//  2. exec storm: `tapio run` (default collectors) vs execsnoop (libbpf-tools) vs bpftrace (exec, exit and fork
//     like Tapio), workload slowdown and tracer CPU per exec, and each agent's idle CPU;
//  3. syscall tax: ns per getppid, stat and open+close with no tracer, with `tapio run`, with the network
//     collector's old accept hook (syscall tracepoints), and with bpftrace on those same tracepoints.
//  1b. the latency/CPU trade-off: gRPC at 10k/s with batch.delayMs 2, 5, 20 and 100 ms (BENCH_DELAYS); then the
//     defaults against the old one-request-at-a-time lane (maxInFlight 1, delayMs 100 as this bench used before),
//     alternating, over both protocols at 10k and 100k/s.
//  1c. docs/tuning.md's low-latency profiles against part 1's settings, both protocols at 100k and 10k/s.
//  1d. this checkout against BENCH_BASELINE's (default: nothing to compare), each case in a process of its own (with
//     the image's Node flags) measured after a warm-up of the same load in the same agent (case-child.ts), alternating,
//     BENCH_ROUNDS rounds, both protocols at 10k and 100k/s with the agent's defaults: the cost at the rates the issue
//     sets goals for, with export requests and ring callbacks per second.
//  1m. memory at 100k/s, the collector answering and stopped for BENCH_STALL_MS (a backlog), each case in its own
//     process; BENCH_BASELINE alternates that checkout's agent in the same cases (bench/e2e/backlog.ts).
// Run: npx tsc -p . && sudo node dist/bench/agent-end-to-end.js   (BENCH_SECONDS=8, BENCH_EXECS=4000,
// BENCH_PARTS=idle,1,1b,1c,1d,1m,2,3, BENCH_IDLE_SECONDS=60, BENCH_IDLE_SETTLE=30, BENCH_STALL_MS=3000;
// part 1d: BENCH_RATES=10000,100000, BENCH_CASE_WARMUP=2, BENCH_CONTAINER=1 (the generator in a Docker container
// and identity naming it through dockerd, as `tapio run` does; the baseline must know that option too);
// part 2: BENCH_WARMUP_EXECS=500, BENCH_BASELINE=/work/main adds that checkout's agent, alternating, BENCH_ROUNDS)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipelineCase, type CaseOptions, type PipelineRow } from './e2e/pipeline';
import { bpftrace, buildTaxProgram, execsnoop, oldAcceptHook, stormTable, tapioRun, taxTable, type Tracer } from './e2e/peers';
import { idleRow, type IdleRow } from './e2e/idle';
import { formatMemory } from './e2e/memory';
import { backlogRows, printBacklog } from './e2e/backlog';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const EXECS = Number(process.env.BENCH_EXECS ?? 4000);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'idle,1,1b,1c,1m,2,3').split(','));
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 3000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const IDLE_SETTLE = Number(process.env.BENCH_IDLE_SETTLE ?? 30);
const WARMUP = Number(process.env.BENCH_WARMUP_EXECS ?? 500);
/** Another checkout's root (e.g. /work/main): its `tapio run` runs beside this one's, alternating, for before/after. */
const BASELINE = process.env.BENCH_BASELINE;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (BASELINE ? 2 : 1));
/** docs/tuning.md's low-latency profiles (part 1c). */
const LOW_LATENCY: CaseOptions = { maxRecords: 512, delayMs: 5, coalesceMs: 2, maxInFlightRecords: 2048 };
const LOWEST_LATENCY: CaseOptions = { maxRecords: 256, delayMs: 2, coalesceMs: 1, maxInFlightRecords: 2048 };
/** Part 1d: the rates, and the warm-up's seconds (V8 compiles the hot path on helper threads for seconds at 10k/s). */
const CASE_RATES = (process.env.BENCH_RATES ?? '10000,100000').split(',').map(Number);
const CASE_WARMUP = Number(process.env.BENCH_CASE_WARMUP ?? 2);
const IN_CONTAINER = process.env.BENCH_CONTAINER === '1';
const DELAYS = (process.env.BENCH_DELAYS ?? '2,5,20,100').split(',').map(Number);
const load = () => `load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${os.availableParallelism()} cores`;
const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

const MEMORY_HEAD = 'RSS (PSS) MiB: BPF maps (PSS) + C heap + other anonymous + files';
const STAGES = ['ring + decode', 'pipeline', 'identity', 'encode', 'export queue', 'send', 'gc', 'native (V8/libuv)', 'other'];

function printPipeline(rows: PipelineRow[], profile = true): void {
  console.log(`\n| protocol | offered | delivered / ground truth | delivered/s | agent % of node | CPU µs/event (main + reader + other threads) | peak RSS MiB | at the end of the load: ${MEMORY_HEAD} | drops by reason | p50 / p99 ms (p99 after the first second) |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.protocol} | ${r.offered} | ${r.delivered} / ${r.truth} | ${r.perSec} | ${f(r.nodePct, 2)} | ` +
      `${f(r.usPerEvent, 2)} (${f(r.mainUs, 2)} + ${f(r.readerUs, 2)} + ${f(r.otherUs, 2)}) | ${f(r.rssMiB, 0)} | ${formatMemory(r.mem)} | ${r.drops} | ${r.p50} / ${r.p99} (${r.p99Steady}) |`);
  }
  if (!profile) return;
  console.log('\nMain-thread CPU profile by stage, µs per delivered event (share of busy samples, by the room the sampled');
  console.log('function lives in, times the main thread\'s measured CPU per event; the reader thread is the column above):');
  console.log(`| protocol | offered | ${STAGES.join(' | ')} |`);
  console.log(`|---|---|${STAGES.map(() => '---').join('|')}|`);
  for (const r of rows) {
    console.log(`| ${r.protocol} | ${r.offered} | ${STAGES.map((s) => f((r.stages[s] ?? 0) * r.mainUs, 2)).join(' | ')} |`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: loads BPF programs');
  if (PARTS.has('idle')) {
    const before = load();
    const rows: IdleRow[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rows.push(await idleRow(() => tapioRun(undefined, BASELINE ? ' (this branch)' : ''), IDLE_SETTLE, IDLE_SECONDS));
      if (BASELINE) rows.push(await idleRow(() => tapioRun(BASELINE, ` (${BASELINE})`), IDLE_SETTLE, IDLE_SECONDS));
    }
    console.log(`\n## Idle: \`tapio run --output none\`, ${IDLE_SECONDS} s after ${IDLE_SETTLE} s to settle (${before} before, ${load()} after)`);
    console.log(`| agent | % of node | CPU ms/s (main + readers + other threads) | wake-ups/s | ${MEMORY_HEAD} | load average at the end |`);
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.agent} | ${f(r.nodePct, 2)} | ${f(r.main + r.reader + r.other, 1)} (${f(r.main, 1)} + ${f(r.reader, 1)} + ${f(r.other, 1)}) | ` +
        `${f(r.wakeupsPerSec, 0)} | ${formatMemory(r.mem)} | ${r.load} |`);
    }
  }
  if (PARTS.has('1')) {
    const rows: PipelineRow[] = [];
    const before = load();
    for (const protocol of ['grpc', 'http/protobuf'] as const) {
      for (const rate of [10_000, 100_000, 'max'] as const) rows.push(await pipelineCase(protocol, rate, SECONDS));
    }
    console.log(`\n## 1. Pipeline + OTLP (${SECONDS} s per case; ${before} before, ${load()} after)`);
    printPipeline(rows);
  }
  if (PARTS.has('1b')) {
    const rows: PipelineRow[] = [];
    const before = load();
    // The CPU price of latency: one request per batch.delayMs at low rates (no profiler in these rows).
    for (const delayMs of DELAYS) {
      const r = await pipelineCase('grpc', 10_000, SECONDS, { delayMs, profile: false });
      rows.push({ ...r, protocol: `grpc, delayMs ${delayMs}` });
    }
    // Before and after side by side, alternating, so both see the same neighbours.
    for (const protocol of ['grpc', 'http/protobuf'] as const) {
      for (const rate of [10_000, 100_000]) {
        const after = await pipelineCase(protocol, rate, SECONDS, { profile: false });
        rows.push({ ...after, protocol: `${protocol} (now: defaults)` });
        const old = await pipelineCase(protocol, rate, SECONDS, { delayMs: 100, maxInFlight: 1, profile: false });
        rows.push({ ...old, protocol: `${protocol}, delayMs 100, maxInFlight 1 (before)` });
      }
    }
    console.log(`\n## 1b. Latency against CPU, and before/after (no profiler; ${SECONDS} s per case; ${before} before, ${load()} after)`);
    printPipeline(rows, false);
  }
  if (PARTS.has('1c')) {
    // Latency as a setting at 100k/s and 10k/s: the settings above (batches of 2048, the default batch.delayMs,
    // ring coalescing 5 ms) against the low-latency profiles of docs/tuning.md, alternating.
    const rows: PipelineRow[] = [];
    const before = load();
    const sets: [string, CaseOptions][] = [
      ['bench settings (maxRecords 2048, delayMs default, coalesceMs 5)', {}],
      ['low latency (maxRecords 512, delayMs 5, coalesceMs 2, maxInFlightRecords 2048)', LOW_LATENCY],
      ['lowest latency (maxRecords 256, delayMs 2, coalesceMs 1, maxInFlightRecords 2048)', LOWEST_LATENCY],
    ];
    for (const protocol of ['grpc', 'http/protobuf'] as const) {
      for (const rate of [100_000, 10_000]) {
        for (const [label, o] of sets) rows.push({ ...await pipelineCase(protocol, rate, SECONDS, { ...o, profile: false }), protocol: `${protocol}, ${label}` });
      }
    }
    console.log(`\n## 1c. Low-latency settings against the bench's (no profiler; ${SECONDS} s per case; ${before} before, ${load()} after)`);
    printPipeline(rows, false);
  }
  if (PARTS.has('1d')) {
    const rows: PipelineRow[] = [];
    const before = load();
    const roots: [string, string][] = [[path.resolve(__dirname, '..', '..'), 'this checkout']];
    if (BASELINE) roots.push([BASELINE, BASELINE]);
    for (let round = 0; round < ROUNDS; round++) {
      for (const protocol of ['grpc', 'http/protobuf'] as const) {
        for (const rate of CASE_RATES) {
          // Alternate which goes first, so neither always follows the other's leftovers.
          for (const [root, label] of round % 2 === 0 ? roots : [...roots].reverse()) {
            // With the image's Node flags (scripts/image/Dockerfile): a smaller young generation, more scavenges.
            const out = execFileSync(process.execPath, ['--max-semi-space-size=4', path.join(__dirname, 'e2e', 'case-child.js'), root, protocol, String(rate),
              String(SECONDS), String(CASE_WARMUP), JSON.stringify({ profile: false, container: IN_CONTAINER })],
            { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
            const row = JSON.parse(out.trim().split('\n').pop()!) as PipelineRow;
            rows.push({ ...row, protocol: `${protocol}, ${label}${IN_CONTAINER ? ', in a Docker container' : ''}` });
          }
        }
      }
    }
    console.log(`\n## 1d. Defaults, each case its own process, measured after ${CASE_WARMUP} s of the same load (no profiler; ${SECONDS} s per case; ${before} before, ${load()} after)`);
    printPipeline(rows, false);
    console.log(`\n| protocol | offered | export requests/s | ring callbacks/s |${IN_CONTAINER ? ' events named by identity / delivered |' : ''}`);
    console.log(`|---|---|---|---|${IN_CONTAINER ? '---|' : ''}`);
    for (const r of rows) {
      console.log(`| ${r.protocol} | ${r.offered} | ${f(r.requestsPerSec ?? NaN, 0)} | ${f(r.ringCallbacksPerSec ?? NaN, 0)} |` +
        (IN_CONTAINER ? ` ${r.named ?? '-'} / ${r.delivered} |` : ''));
    }
  }
  if (PARTS.has('1m')) {
    const before = load();
    const rows = await backlogRows({ seconds: SECONDS, stallMs: STALL_MS, rounds: ROUNDS, baseline: BASELINE });
    console.log(`\n## 1m. Memory at 100k/s, the receiver answering and stopped for ${STALL_MS / 1000} s from 2 s into the ` +
      `load (each case its own process, Node flags as in the image; ${SECONDS} s per case; ${before} before, ${load()} after)`);
    printBacklog(rows);
  }
  if (PARTS.has('2')) {
    const before = load();
    const tracers: (() => Promise<Tracer>)[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      tracers.push(() => tapioRun(undefined, BASELINE ? ' (this branch)' : ''));
      if (BASELINE) tracers.push(() => tapioRun(BASELINE, ` (${BASELINE})`));
      tracers.push(execsnoop, () => bpftrace('bpftrace (sched exec, exit, fork; printf)',
        'tracepoint:sched:sched_process_exec { printf("exec %d %s\\n", pid, str(args->filename)); } ' +
        'tracepoint:sched:sched_process_exit { printf("exit %d\\n", pid); } ' +
        'tracepoint:sched:sched_process_fork { printf("fork %d %d\\n", args->parent_pid, args->child_pid); }'));
    }
    const rows = await stormTable(EXECS, tracers, WARMUP);
    console.log(`\n## 2. Exec storm: ${EXECS} sequential fork+exec of /bin/true, after a ${WARMUP}-exec warm-up per tracer (${before} before, ${load()} after)`);
    console.log(`| tracer | storm ms | slowdown | tracer CPU s | CPU µs per exec | main + readers + other threads, µs | idle % of node | after the storm: ${MEMORY_HEAD} |`);
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const t = r.threads;
      console.log(`| ${r.tracer} | ${f(r.stormMs, 0)} | ${f(r.slowdown, 2)}x | ${f(r.cpuS, 2)} | ${f(r.usPerExec, 1)} | ` +
        `${t ? `${f(t.main, 1)} + ${f(t.reader, 1)} + ${f(t.other, 1)}` : '-'} | ${r.idlePct === undefined ? '-' : f(r.idlePct, 2)} | ${formatMemory(r.mem)} |`);
    }
  }
  if (PARTS.has('3')) {
    const bin = buildTaxProgram();
    const before = load();
    process.on('exit', () => fs.rmSync(path.dirname(bin), { recursive: true, force: true }));
    const rows = await taxTable(bin, [
      tapioRun, oldAcceptHook,
      () => bpftrace('bpftrace on sys_exit_accept4 + sys_exit_accept', 'tracepoint:syscalls:sys_exit_accept4, tracepoint:syscalls:sys_exit_accept { @n = count(); }'),
      () => bpftrace('bpftrace on sock:inet_sock_set_state (no syscall hook)', 'tracepoint:sock:inet_sock_set_state { @n = count(); }'),
    ]);
    console.log(`\n## 3. Syscall tax, ns per call (thread CPU time, min of 9 rounds; median of 3 passes; the tax is against ` +
      `the no-tracer runs just before and after each setup) (${before} before, ${load()} after)`);
    console.log('| setup | getppid | stat | open+close | tax: getppid | tax: stat | tax: open+close |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const t = r.tax;
      console.log(`| ${r.setup} | ${f(r.getppid)} | ${f(r.stat)} | ${f(r.openClose)} | ${t ? f(t.getppid) : '-'} | ` +
        `${t ? f(t.stat) : '-'} | ${t ? f(t.openClose) : '-'} |`);
    }
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
