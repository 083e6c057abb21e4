// What request capture costs a workload (needs root): requests/s of wrk -> Node http, h2load -> nghttpd (h2c) and a
// grpc-js unary load, each without and with the request-capture collector (in a child process), in one run, as
// ratios; the collector's CPU per 10k requests/s; and its byte accounting (copied + gaps, kernel drops). Then the
// same with the agent's limits on, as `tapio run` has them (the adaptive controller holding the 2% CPU budget by
// sampling whole connections, BENCH_BUDGET_WARMUP runs to settle first). Prints a table; never fails on a number.
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

interface Load { name: string; start(): Promise<() => void>; drive(): Promise<number> }

const lostOf = (c: Record<string, number>) => Object.entries(c).filter(([k]) => k.startsWith('requests_lost_')).reduce((n, [, v]) => n + v, 0);

/** Requests wrk made so far (its own count): the ground truth of the HTTP/1 rows. */
let wrkRequests = 0;

const nodeHttp: Load = {
  name: 'wrk -> node http (HTTP/1.1 keep-alive)',
  async start() {
    const child = spawn(process.execPath, ['-e', `require('http').createServer((q,s)=>s.end('hello world')).listen(18481,'127.0.0.1',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, /up/);
    return () => child.kill();
  },
  async drive() {
    const out = await run('wrk', ['-t1', '-c16', `-d${SECONDS}s`, 'http://127.0.0.1:18481/items/42?x=1']);
    wrkRequests += Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  },
};

const h2 = (): Load => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-h2bench-'));
  fs.writeFileSync(path.join(dir, 'index.html'), 'x'.repeat(256));
  return {
    name: 'h2load -> nghttpd (h2c, -c8 -m10)',
    async start() {
      const child = spawn('nghttpd', ['--no-tls', '-d', dir, '-a', '127.0.0.1', '18482'], { stdio: 'ignore' });
      await sleep(300);
      return () => child.kill();
    },
    async drive() {
      const out = await run('h2load', ['-c8', '-m10', `-D${SECONDS}`, 'http://127.0.0.1:18482/index.html'], (SECONDS + 30) * 1000);
      return Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0);
    },
  };
};

const grpc: Load = {
  name: 'grpc-js unary (32 in flight)',
  async start() {
    const child = spawn(process.execPath, [path.join(__dirname, 'requests', 'grpc-peer.js'), 'server', '18483'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, /up/);
    return () => child.kill();
  },
  async drive() {
    const out = await run(process.execPath, [path.join(__dirname, 'requests', 'grpc-peer.js'), 'client', '18483', String(SECONDS)], (SECONDS + 30) * 1000);
    return Number(/rps=([\d.]+)/.exec(out)?.[1] ?? 0);
  },
};

/** `warmUp`: runs of the load before the measured one, with the agent's limits on (`budget`: the adaptive controller
 *  settles within its CPU budget first, a 5 s decision at a time). */
async function withAgent<T>(plan: string, fn: () => Promise<T>, warmUp = 0): Promise<{ value: T; cpuSec: number; report: Record<string, unknown> }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'requests', 'agent-child.js'), plan, ...(warmUp ? ['budget'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(child, /ready/);
  for (let i = 0; i < warmUp; i++) await fn();
  const before = cpuTicks(child.pid!);
  const value = await fn();
  const cpuSec = (cpuTicks(child.pid!) - before) / TICK;
  const report = waitLine(child, /\{.*\}\n/, 20_000);
  child.kill('SIGTERM');
  return { value, cpuSec, report: JSON.parse(await report) as Record<string, unknown> };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('requests-overhead: needs root'); return; }
  const plan = process.env.BENCH_PLAN ?? 'auto';
  const rows: string[][] = [];
  for (const load of [nodeHttp, h2(), grpc]) {
    const stop = await load.start();
    try {
      await load.drive(); // warm-up, not measured
      // Without, with, without again: the machine is shared, so the two runs without capture bracket the one with
      // it, and their ratio (the control) shows how much the neighbours moved the numbers during this load.
      const base1 = await load.drive();
      const w = await withAgent(plan, () => load.drive());
      const base2 = await load.drive();
      // The agent as `tapio run` runs it: holding its CPU budget by sampling connections (after it settled).
      const wrkBefore = wrkRequests;
      const b = BUDGET_WARMUP ? await withAgent(plan, () => load.drive(), BUDGET_WARMUP) : undefined;
      const wrkMade = wrkRequests - wrkBefore;
      const base3 = b ? await load.drive() : base2;
      type Run = { label: string; r: typeof w; before: number; after: number };
      const runs: Run[] = [{ label: 'every request', r: w, before: base1, after: base2 }];
      if (b) runs.push({ label: 'within its CPU budget', r: b, before: base2, after: base3 });
      for (const { label, r, before, after } of runs) {
        const base = (before + after) / 2;
        const c = (r.report.counters ?? {}) as Record<string, number>;
        const per10k = r.value > 0 ? (r.cpuSec / SECONDS) / (r.value / 10_000) : 0;
        const sampling = (r.report.sampling as Record<string, number> | undefined)?.['l7.data'];
        rows.push([`${load.name}: ${label}${sampling ? ` (l7.data 1/${sampling})` : ''}`, `${before.toFixed(0)} / ${after.toFixed(0)}`, (after / before).toFixed(3), r.value.toFixed(0),
          (r.value / base).toFixed(3), `${(per10k * 100).toFixed(1)}%`, `${((r.cpuSec / SECONDS / os.availableParallelism()) * 100).toFixed(1)}%`,
          String(c.kernel_bytes_seen ?? 0), String(c.kernel_bytes_copied ?? 0), String(c.gap_bytes ?? 0), String(c.kernel_bytes_ring_full ?? 0),
          String(c.requests_reported ?? 0), String(lostOf(c)),
          `${c.kernel_connections_http1 ?? 0} + ${c.kernel_connections_http2 ?? 0} / ${c.kernel_connections_not_admitted ?? 0} / ${c.kernel_connections_shed ?? 0}`,
          // HTTP/1 within the budget: both ends of every request wrk made, reported or counted as not captured.
          label !== 'every request' && wrkMade ? `${2 * wrkMade} made; ${(c.requests_reported ?? 0) + (c.kernel_h1_requests_not_captured ?? 0) + lostOf(c)} = ` +
            `${c.requests_reported ?? 0} + ${c.kernel_h1_requests_not_captured ?? 0} + ${lostOf(c)}` : '-']);
      }
    } finally {
      stop();
    }
  }
  const head = ['load: agent', 'req/s without (before / after)', 'control (after / before)', 'req/s with', 'kept (with / mean without)', 'agent CPU per 10k req/s (of one core)',
    'agent % of node', 'bytes seen', 'copied', 'gap bytes', 'ring-full bytes', 'requests reported (both ends)', 'requests lost', 'connection ends captured (h1 + h2) / not admitted / let go',
    'ground truth: request ends made = reported + counted not captured + lost'];
  console.log(`request capture overhead (plan ${plan}, ${SECONDS}s per run, ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  void ROOT;
}

void main();
