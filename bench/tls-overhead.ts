// What TLS capture costs (needs root): HTTPS requests/s of wrk -> Node https and h2load -> nghttpd over TLS
// (libssl.so.3), each without Tapio, with TLS capture alone (probes at the exported SSL_* names, then at the shared
// entry points: src/collectors/tls/entry-points.ts) and with the whole request collector (plaintext path + TLS
// uprobes, every request parsed), then without again, in one run, as ratios; and the cost of one SSL call under the uprobes, measured
// with Python's ssl module over memory BIOs (no sockets: SSL_write_ex + SSL_read_ex in a loop), with and without.
// Prints a table with the load average; never fails on a number. Absolute numbers on 2 shared cores are pessimistic.
// Within the budget (BENCH_BUDGET_ONLY=1 runs only that) it also reports the CPU the load took per request (server +
// load generator + agent, from /proc and the generator's rusage): requests/s here swing by up to 2x between runs.
import { spawn } from 'node:child_process';
import { run, waitLine } from './requests/proc';
import { loadCollector } from '../src/kernel/loader';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
/** Within the budget the runs alternate in blocks, without Tapio and with it, starting and ending without (N A N A N
 *  A N): this VM's speed drifts by 20-30% over minutes, which one block of each side would read as the agent's cost. */
const BUDGET_BLOCKS = Number(process.env.BENCH_BUDGET_BLOCKS ?? 3);
/** Runs of the load without Tapio in each block. */
const BUDGET_NONE_RUNS = Number(process.env.BENCH_BUDGET_NONE_RUNS ?? 4);
/** Runs of the load each agent gets to settle within its budget before its measured ones (its first window decodes
 *  at full sampling). */
const BUDGET_WARMUP = Number(process.env.BENCH_BUDGET_WARMUP ?? 4);
/** Runs of the load measured in each agent block: the probes' duty cycle (tls.maxProbeCostPercent) pauses them for
 *  up to tens of seconds at a time, so one 6 s run could fall wholly inside or outside a pause. */
const BUDGET_RUNS = Number(process.env.BENCH_BUDGET_RUNS ?? 6);
/** BENCH_BUDGET_ONLY=1: only the loads without Tapio and within the budget (no always-attached runs, no SSL loop). */
const BUDGET_ONLY = process.env.BENCH_BUDGET_ONLY === '1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One run of a load: its requests/s, and for the CPU per request, its requests and the load generator's CPU. */
interface Drive { rps: number; requests: number; clientCpuS: number }
interface Load { name: string; binary: string; start(): Promise<{ stop: () => void; pid: number }>; drive(): Promise<Drive> }

/** Runs a command under python3 for the CPU it used (the children's rusage; Node has none for a child): its stdout,
 *  then a last line with the seconds. */
const RUSAGE = `
import resource, subprocess, sys
out = subprocess.run(sys.argv[1:], capture_output=True, text=True).stdout
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(out); print('CPU', r.ru_utime + r.ru_stime)
`;

async function measured(cmd: string, args: string[], timeoutMs?: number): Promise<{ out: string; cpuS: number }> {
  const out = await run('python3', ['-c', RUSAGE, cmd, ...args], timeoutMs);
  return { out, cpuS: Number(/^CPU ([\d.]+)\s*$/m.exec(out)?.[1] ?? NaN) };
}

/** A process's CPU time so far, seconds (utime + stime at 100 ticks a second). */
function cpuOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

function loads(dir: string): Load[] {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  fs.writeFileSync(path.join(dir, 'index.html'), 'x'.repeat(256));
  return [{
    name: 'wrk -> node https (HTTP/1.1 keep-alive, -c16)',
    binary: path.basename(process.execPath),
    async start() {
      const child = spawn(process.execPath, ['-e', `const fs=require('fs');require('https').createServer({key:fs.readFileSync('${key}'),cert:fs.readFileSync('${cert}')},(q,s)=>s.end('hello world')).listen(18491,'127.0.0.1',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await waitLine(child, /up/, 20_000);
      return { stop: () => child.kill(), pid: child.pid! };
    },
    async drive() {
      const { out, cpuS } = await measured('wrk', ['-t1', '-c16', `-d${SECONDS}s`, 'https://127.0.0.1:18491/items/42?x=1']);
      return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0), requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0), clientCpuS: cpuS };
    },
  }, {
    name: 'h2load -> nghttpd (HTTP/2 over TLS, -c8 -m10)',
    binary: 'libssl.so',
    async start() {
      const child = spawn('nghttpd', ['-d', dir, '-a', '127.0.0.1', '18492', key, cert], { stdio: 'ignore' });
      await sleep(500);
      return { stop: () => child.kill(), pid: child.pid! };
    },
    async drive() {
      const { out, cpuS } = await measured('h2load', ['-c8', '-m10', `-D${SECONDS}`, 'https://127.0.0.1:18492/index.html'], (SECONDS + 60) * 1000);
      return { rps: Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0), requests: Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0), clientCpuS: cpuS };
    },
  }];
}

const SSL_LOOP = `
import ssl, sys, time
cs = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); cs.load_cert_chain(sys.argv[1], sys.argv[2])
cc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cc.check_hostname = False; cc.verify_mode = ssl.CERT_NONE
ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
c = cc.wrap_bio(ci, co); s = cs.wrap_bio(si, so, server_side=True)
for _ in range(10):
    for o in (c, s):
        try: o.do_handshake()
        except ssl.SSLWantReadError: pass
    d = co.read()
    if d: si.write(d)
    d = so.read()
    if d: ci.write(d)
n = int(sys.argv[3]); msg = b'x' * 70
best = None
for rep in range(5):
    t = time.perf_counter_ns()
    for i in range(n):
        c.write(msg); si.write(co.read()); s.read(128)
    dt = (time.perf_counter_ns() - t) / n
    best = dt if best is None or dt < best else best
print(best)
`;

/** ns per loop iteration (one SSL_write + one SSL_read), best of 5. */
async function sslLoop(dir: string): Promise<number> {
  return Number((await run('python3', ['-c', SSL_LOOP, path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'), '20000'])).trim());
}

const GETPPID_LOOP = `
import os, time
n = 200000; best = None
for r in range(5):
    t = time.perf_counter_ns()
    for i in range(n): os.getppid()
    d = (time.perf_counter_ns() - t) / n
    best = d if best is None or d < best else best
print(best)
`;

/** What any uprobe costs on this machine: ns per libc getppid() call, bare and with an empty BPF program as a
 *  uprobe, then as a uretprobe (probe.bpf.o's probe_uprobe). */
async function uprobeFloor(): Promise<{ bare: number; entry: number; ret: number }> {
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  const loop = async () => Number((await run('python3', ['-c', GETPPID_LOOP])).trim());
  const once = async (kind: 'uprobe' | 'uretprobe') => {
    const l = await loadCollector({ name: 'bench-floor', object: 'probe.bpf.o', hooks: [
      { name: 'floor', implementations: [{ kind, program: 'probe_uprobe', target: { binaryPath: libc, functionName: 'getppid' } }] }] });
    try {
      return l.available ? await loop() : NaN;
    } finally {
      await l.close();
    }
  };
  await loop();
  return { bare: await loop(), entry: await once('uprobe'), ret: await once('uretprobe') };
}

async function withChild<T>(mode: string, waitFor: string, fn: (pid: number) => Promise<T>, shared = true): Promise<{ value: T; report: Record<string, unknown> }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'requests', 'tls-child.js'), mode, waitFor], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TLS_RUN_STATS: '1', TLS_SHARED: shared ? '1' : '0' } });
  await waitLine(child, /ready/, 300_000);
  const value = await fn(child.pid!);
  const report = waitLine(child, /\{.*\}\n/, 120_000);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const parsed = JSON.parse(await report) as Record<string, unknown>;
  // The next measurement starts only once this child is gone (its uprobes detached).
  const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
  await exited;
  clearTimeout(t);
  return { value, report: parsed };
}

function printBudgetTable(rows: string[][]): void {
  const head = ['load', `req/s without (${BUDGET_BLOCKS + 1} blocks of ${BUDGET_NONE_RUNS} runs)`, `req/s, agent within its CPU budget (${BUDGET_BLOCKS} blocks of ${BUDGET_RUNS} runs after ${BUDGET_WARMUP})`, 'kept (req/s)', 'CPU µs per request, server + load generator (+ agent): without -> within the budget', 'kept (CPU per request)', 'sampling it settled on',
    'requests reported (last agent block, as the next three)', 'TLS streams not admitted / let go / sampled in windows', 'probes\' duty cycle (tls.maxProbeCostPercent)'];
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('tls-overhead: needs root'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-tlsbench-'));
  const load0 = os.loadavg();
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost']);
    const rows: string[][] = [];
    const budgetRows: string[][] = [];
    for (const load of loads(dir)) {
      const server = await load.start();
      const drive = async () => (await load.drive()).rps;
      try {
        await drive(); // warm-up
        const base = await drive();
        const skipped: { value: number; report: Record<string, unknown> } = { value: NaN, report: {} };
        const names = BUDGET_ONLY ? skipped : await withChild('tls', load.binary, drive, false);
        const tls = BUDGET_ONLY ? skipped : await withChild('tls', load.binary, drive);
        const full = BUDGET_ONLY ? skipped : await withChild('full', load.binary, drive);
        const control = await drive();
        // Within its budget, alternating: blocks without Tapio and with it (a fresh agent each time, given
        // BUDGET_WARMUP runs to settle, its first window and the backlog it decodes), N A N ... A N.
        // Requests/s on this shared VM swing by up to 2x from run to run, so the CPU the load took per request (the
        // server's, the load generator's and the agent's) is reported too: it is what the agent costs a node whose
        // capacity is CPU, and it moves far less with the neighbours.
        interface Runs { rps: number[]; requests: number; cpuS: number; agentS: number }
        const runs = async (n: number, into: Runs, agentPid?: number) => {
          const s0 = cpuOf(server.pid);
          const a0 = agentPid ? cpuOf(agentPid) : 0;
          for (let i = 0; i < n; i++) {
            const sBefore = cpuOf(server.pid);
            const aBefore = agentPid ? cpuOf(agentPid) : 0;
            const d = await load.drive();
            into.rps.push(d.rps);
            into.requests += d.requests;
            into.cpuS += d.clientCpuS;
            // Each run on stderr: where the loss sits (a run with a probe window in it, or all of them).
            const perRequest = (x: number) => (x / d.requests * 1e6).toFixed(1);
            process.stderr.write(`  ${agentPid ? 'agent' : 'none '} run ${i + 1}/${n}: ${d.rps.toFixed(0)} req/s, CPU µs per request: server ${perRequest(cpuOf(server.pid) - sBefore)}, load generator ${perRequest(d.clientCpuS)}${agentPid ? `, agent ${perRequest(cpuOf(agentPid) - aBefore)}` : ''}\n`);
          }
          const agentS = agentPid ? cpuOf(agentPid) - a0 : 0;
          into.agentS += agentS;
          into.cpuS += cpuOf(server.pid) - s0 + agentS;
        };
        const empty = (): Runs => ({ rps: [], requests: 0, cpuS: 0, agentS: 0 });
        const none = empty();
        const agent = empty();
        let report: Record<string, unknown> = {};
        for (let b = 0; b < BUDGET_BLOCKS; b++) {
          await runs(BUDGET_NONE_RUNS, none);
          report = (await withChild('budget', load.binary, async (pid) => {
            await runs(BUDGET_WARMUP, empty(), pid);
            await runs(BUDGET_RUNS, agent, pid);
          })).report;
        }
        await runs(BUDGET_NONE_RUNS, none);
        const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
        const usPerRequest = (r: Runs) => r.cpuS / r.requests * 1e6;
        const bs = (report.sampling ?? {}) as Record<string, number>;
        const bc = (report.counters ?? {}) as Record<string, number>;
        budgetRows.push([load.name, `${mean(none.rps).toFixed(0)} (runs ${Math.min(...none.rps).toFixed(0)}-${Math.max(...none.rps).toFixed(0)})`,
          `${mean(agent.rps).toFixed(0)} (runs ${Math.min(...agent.rps).toFixed(0)}-${Math.max(...agent.rps).toFixed(0)})`, (mean(agent.rps) / mean(none.rps)).toFixed(3),
          `${usPerRequest(none).toFixed(1)} -> ${usPerRequest(agent).toFixed(1)} (agent ${(agent.agentS / agent.requests * 1e6).toFixed(2)})`,
          (usPerRequest(none) / usPerRequest(agent)).toFixed(3),
          `tls.data 1/${bs['tls.data'] ?? 1}, l7.data 1/${bs['l7.data'] ?? 1}, TLS windows 1/${bc.tls_probe_window_sample_every ?? 1}`, String(bc.requests_reported ?? 0),
          `${bc.tls_kernel_streams_not_admitted ?? 0} / ${bc.tls_kernel_streams_shed ?? 0} / ${bc.tls_kernel_streams_window_sampled ?? 0}`,
          `${bc.tls_probe_pauses ?? 0} pauses, ${((bc.tls_probes_paused_ms ?? 0) / 1000).toFixed(0)} s paused, last window ${((bc.tls_probe_cost_node_permille ?? 0) / 10).toFixed(1)}% of the node (${bc.tls_probe_calls_per_second ?? 0} calls/s)`]);
        const withoutNow = (base + control) / 2;
        const c = (tls.report.counters ?? {}) as Record<string, number>;
        const f = (full.report.counters ?? {}) as Record<string, number>;
        rows.push([load.name, `${base.toFixed(0)} / ${control.toFixed(0)}`, `${names.value.toFixed(0)} (${(names.value / withoutNow).toFixed(3)})`,
          tls.value.toFixed(0), (tls.value / withoutNow).toFixed(3), full.value.toFixed(0), (full.value / withoutNow).toFixed(3),
          String(c.tls_kernel_calls ?? 0), String(c.requests_reported ?? 0), String(f.requests_reported ?? 0), String(c.tls_kernel_bytes_ring_full ?? 0)]);
      } finally {
        server.stop();
      }
    }
    if (BUDGET_ONLY) {
      console.log(`TLS within the budget only (${SECONDS}s per run, load average at start ${load0.map((l) => l.toFixed(1)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
      printBudgetTable(budgetRows);
      return;
    }
    await sslLoop(dir); // warm-up
    const bare = await sslLoop(dir);
    const atNames = await withChild('tls', 'libssl.so', () => sslLoop(dir), false);
    const probed = await withChild('tls', 'libssl.so', () => sslLoop(dir));
    const floor = await uprobeFloor();
    const progs = (probed.report.programs ?? {}) as Record<string, { runCount: number; runTimeNs: number }>;
    const head = ['load', 'req/s without (before / after)', 'TLS capture at the exported names (kept)', 'req/s TLS capture', 'kept',
      'req/s whole request collector', 'kept', 'SSL calls captured', 'requests reported (TLS only)', 'requests reported (whole)', 'ring-full bytes'];
    console.log(`TLS capture overhead (${SECONDS}s per run, ${os.availableParallelism()} cores, load average at start ${load0.map((l) => l.toFixed(1)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
    console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log('');
    printBudgetTable(budgetRows);
    console.log('');
    console.log('| SSL_write + SSL_read loop (Python ssl, memory BIOs, 70 B) | ns per iteration | ns per SSL call |');
    console.log('|---|---|---|');
    console.log(`| without uprobes | ${bare.toFixed(0)} | ${(bare / 2).toFixed(0)} |`);
    console.log(`| with TLS capture, probes at the exported names | ${atNames.value.toFixed(0)} | ${(atNames.value / 2).toFixed(0)} |`);
    console.log(`| with TLS capture (shared entry points where found) | ${probed.value.toFixed(0)} | ${(probed.value / 2).toFixed(0)} |`);
    console.log(`| cost of the uprobes at the names (entry + return + copy + record) | ${(atNames.value - bare).toFixed(0)} | ${((atNames.value - bare) / 2).toFixed(0)} |`);
    console.log(`| cost of the uprobes now | ${(probed.value - bare).toFixed(0)} | ${((probed.value - bare) / 2).toFixed(0)} |`);
    console.log('');
    console.log('| where an SSL call\'s cost goes | ns |');
    console.log('|---|---|');
    console.log(`| any uprobe on this machine: empty BPF program on libc getppid(), entry probe | ${(floor.entry - floor.bare).toFixed(0)} |`);
    console.log(`| ... as a return probe | ${(floor.ret - floor.bare).toFixed(0)} |`);
    for (const [p, r] of Object.entries(progs)) {
      if (r.runCount > 0) console.log(`| our BPF program ${p} itself (kernel run stats, ${r.runCount} runs) | ${(r.runTimeNs / r.runCount).toFixed(0)} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
