// What request capture costs a workload (needs root): requests/s of wrk -> Node http, h2load -> nghttpd (h2c) and a
// grpc-js unary load, each without and with the request-capture collector (in a child process), in one run, as
// ratios; the collector's CPU per 10k requests/s; and its byte accounting (copied + gaps, kernel drops). Then the
// same with the agent's limits on, as `tapio run` has them (the adaptive controller holding the 2% CPU budget by
// sampling whole connections, BENCH_BUDGET_WARMUP runs to settle first), with the ground truth of that run: request
// ends the load made (wrk's, h2load's, the grpc client's own count, two ends each) against reported + counted not
// captured + lost. BENCH_COMPARE_ROOT=<another checkout, built> adds that build's agent, with every request parsed
// and within its budget, each run right after this one's (before it with BENCH_COMPARE_FIRST=1), for a before/after
// in one run. BENCH_BUDGET_WARMUP=0 leaves the budget rows out. BENCH_RING_BYTES=<bytes> sets the request-capture
// rings of this build's agent (plaintext and TLS; a ring small enough to overflow: connections whose records do not
// fit are let go and their requests counted, bpf/include/l7_ringfull.h). BENCH_LOADS=http1,h2,grpc picks the loads,
// BENCH_EVERY=0 leaves the every-request rows out (the budget rows alone, e.g. several rounds of them).
// Prints a table; never fails on a number.
import { spawn } from 'node:child_process';
import { run, waitLine } from './requests/proc';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
/** Runs of the load the agent gets to settle within its budget before the measured one (0: no budget rows). */
const BUDGET_WARMUP = Number(process.env.BENCH_BUDGET_WARMUP ?? 6);
const ROOT = path.join(__dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK = 100; // USER_HZ

function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** `made`: requests the load generator says it made so far (its own count); `counted`: the agent's counter of the
 *  requests of connections it did not capture, for that protocol. */
interface Load { name: string; made: number; counted: string; start(): Promise<() => void>; drive(): Promise<number> }

const lostOf = (c: Record<string, number>) => Object.entries(c).filter(([k]) => k.startsWith('requests_lost_')).reduce((n, [, v]) => n + v, 0);

const nodeHttp: Load = {
  name: 'wrk -> node http (HTTP/1.1 keep-alive)',
  made: 0,
  counted: 'kernel_h1_requests_not_captured',
  async start() {
    const child = spawn(process.execPath, ['-e', `require('http').createServer((q,s)=>s.end('hello world')).listen(18481,'127.0.0.1',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, /up/);
    return () => child.kill();
  },
  async drive() {
    // Counted as sent (wrk-sent.lua): wrk's own summary leaves out the requests still in flight at the end.
    const out = await run('wrk', ['-t1', '-c16', `-d${SECONDS}s`, '-s', path.join(ROOT, 'bench', 'requests', 'wrk-sent.lua'), 'http://127.0.0.1:18481/items/42?x=1']);
    this.made += Number(/^sent (\d+)$/m.exec(out)?.[1] ?? 0);
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  },
};

const h2 = (): Load => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-h2bench-'));
  fs.writeFileSync(path.join(dir, 'index.html'), 'x'.repeat(256));
  return {
    name: 'h2load -> nghttpd (h2c, -c8 -m10)',
    made: 0,
    counted: 'kernel_h2_requests_not_captured',
    async start() {
      const child = spawn('nghttpd', ['--no-tls', '-d', dir, '-a', '127.0.0.1', '18482'], { stdio: 'ignore' });
      await sleep(300);
      return () => child.kill();
    },
    async drive() {
      const out = await run('h2load', ['-c8', '-m10', `-D${SECONDS}`, 'http://127.0.0.1:18482/index.html'], (SECONDS + 30) * 1000);
      this.made += Number(/requests: \d+ total, (\d+) started/.exec(out)?.[1] ?? 0);
      return Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
    },
  };
};

const grpc: Load = {
  name: 'grpc-js unary (32 in flight)',
  made: 0,
  counted: 'kernel_h2_requests_not_captured',
  async start() {
    const child = spawn(process.execPath, [path.join(__dirname, 'requests', 'grpc-peer.js'), 'server', '18483'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, /up/);
    return () => child.kill();
  },
  async drive() {
    const out = await run(process.execPath, [path.join(__dirname, 'requests', 'grpc-peer.js'), 'client', '18483', String(SECONDS)], (SECONDS + 30) * 1000);
    this.made += Number(/made=(\d+)/.exec(out)?.[1] ?? 0);
    return Number(/rps=([\d.]+)/.exec(out)?.[1] ?? 0);
  },
};

/** Another build's agent child, for a before/after in one run (its dist/ as `npm run setup` leaves it). */
const COMPARE_ROOT = process.env.BENCH_COMPARE_ROOT;

/** `warmUp`: runs of the load before the measured one, with the agent's limits on (`budget`: the adaptive controller
 *  settles within its CPU budget first, a 5 s decision at a time). `made`: requests the load made in the agent's life. */
async function withAgent(plan: string, load: Load, warmUp = 0, root = ROOT): Promise<{ value: number; cpuSec: number; made: number; report: Record<string, unknown> }> {
  const childPath = path.join(root, 'dist', 'bench', 'requests', 'agent-child.js');
  const child = spawn(process.execPath, [childPath, plan, ...(warmUp ? ['budget'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(child, /ready/);
  const made0 = load.made;
  for (let i = 0; i < warmUp; i++) await load.drive();
  const before = cpuTicks(child.pid!);
  const value = await load.drive();
  const cpuSec = (cpuTicks(child.pid!) - before) / TICK;
  const made = load.made - made0;
  await sleep(1000); // what the load left in the ring is read, the connections it closed are closed, before the report
  const report = waitLine(child, /\{.*\}\n/, 20_000);
  child.kill('SIGTERM');
  return { value, cpuSec, made, report: JSON.parse(await report) as Record<string, unknown> };
}

/** Both ends of every request the load made in the agent's life, reported or counted (lost, not captured). */
function groundTruth(load: Load, made: number, c: Record<string, number>): string {
  if (!made) return '-';
  const reported = c.requests_reported ?? 0;
  const counted = c[load.counted] ?? 0;
  const uncounted = c.kernel_connections_h2_uncounted ? ` (${c.kernel_connections_h2_uncounted} HTTP/2 ends uncounted)` : '';
  return `${2 * made} made; ${reported + counted + lostOf(c)} = ${reported} + ${counted} + ${lostOf(c)}${uncounted}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('requests-overhead: needs root'); return; }
  const plan = process.env.BENCH_PLAN ?? 'auto';
  const rows: string[][] = [];
  const picked = new Set((process.env.BENCH_LOADS ?? 'http1,h2,grpc').split(','));
  const loads = [...(picked.has('http1') ? [nodeHttp] : []), ...(picked.has('h2') ? [h2()] : []), ...(picked.has('grpc') ? [grpc] : [])];
  for (const load of loads) {
    const stop = await load.start();
    try {
      await load.drive(); // warm-up, not measured
      // Without, with, without again: the machine is shared, so the two runs without capture bracket the one with
      // it, and their ratio (the control) shows how much the neighbours moved the numbers during this load.
      type Run = { label: string; r: Awaited<ReturnType<typeof withAgent>>; before: number; after: number };
      const runs: Run[] = [];
      let last = await load.drive();
      const builds = (label: string) => {
        const b = [{ label, root: ROOT }, ...(COMPARE_ROOT ? [{ label: `${label}, the build in ${COMPARE_ROOT}`, root: COMPARE_ROOT }] : [])];
        return process.env.BENCH_COMPARE_FIRST ? b.reverse() : b; // the other order, to see what running second does
      };
      // Every request parsed, then the agent as `tapio run` runs it: holding its CPU budget by sampling connections
      // (after it settled).
      const configs = [...(process.env.BENCH_EVERY === '0' ? [] : builds('every request').map((b) => ({ ...b, warmUp: 0 }))),
        ...(BUDGET_WARMUP ? builds('within its CPU budget').map((b) => ({ ...b, warmUp: BUDGET_WARMUP })) : [])];
      for (const { label, root, warmUp } of configs) {
        const r = await withAgent(plan, load, warmUp, root);
        const after = await load.drive();
        runs.push({ label, r, before: last, after });
        last = after;
      }
      for (const { label, r, before, after } of runs) {
        const base = (before + after) / 2;
        const c = (r.report.counters ?? {}) as Record<string, number>;
        const per10k = r.value > 0 ? (r.cpuSec / SECONDS) / (r.value / 10_000) : 0;
        const sampling = (r.report.sampling as Record<string, number> | undefined)?.['l7.data'];
        rows.push([`${load.name}: ${label}${sampling ? ` (l7.data 1/${sampling})` : ''}`, `${before.toFixed(0)} / ${after.toFixed(0)}`, (after / before).toFixed(3), r.value.toFixed(0),
          (r.value / base).toFixed(3), `${(per10k * 100).toFixed(1)}%`, `${((r.cpuSec / SECONDS / os.availableParallelism()) * 100).toFixed(1)}%`,
          String(c.kernel_bytes_seen ?? 0), String(c.kernel_bytes_copied ?? 0), String(c.gap_bytes ?? 0), String(c.kernel_bytes_ring_full ?? 0),
          String(c.requests_reported ?? 0), String(lostOf(c)),
          `${c.kernel_connections_http1 ?? 0} + ${c.kernel_connections_http2 ?? 0} / ${c.kernel_connections_not_admitted ?? 0} / ${c.kernel_connections_shed ?? 0} / ${c.kernel_connections_ring_full ?? '-'}`,
          groundTruth(load, r.made, c)]);
      }
    } finally {
      stop();
    }
  }
  const head = ['load: agent', 'req/s without (before / after)', 'control (after / before)', 'req/s with', 'kept (with / mean without)', 'agent CPU per 10k req/s (of one core)',
    'agent % of node', 'bytes seen', 'copied', 'gap bytes', 'ring-full bytes', 'requests reported (both ends)', 'requests lost', 'connection ends captured (h1 + h2) / not admitted / let go: sampling / ring full',
    'ground truth: request ends made = reported + counted not captured + lost'];
  console.log(`request capture overhead (plan ${plan}, ${SECONDS}s per run, ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

void main();
