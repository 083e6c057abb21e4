// What the agent costs (needs root). Part 1: the agent's own CPU (share of the whole node) and RSS at idle, 10k and
// 100k events/s, with and without the adaptive controller, plus drops and delivery latency. Events come from the
// limits test program (bpf/testing/limits_test.bpf.c) driven by a generator child, through the real Agent, pipeline
// and observe server, so the rate is exact. Part 2: what the agent adds to a workload, as ratios against no agent in
// the same run: an exec storm and a loopback HTTP load (wrk against a small node server), with `tapio run` (the real
// process and network collectors) in a child process. Prints tables; never fails on a number.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../src/config/load';
import { Agent } from '../src/agent/agent';
import { bootNowNs } from '../src/kernel/clock';
import { createLimits } from '../src/pipeline/limits';
import { startObserveServer } from '../src/observe';
import type { TapioEvent } from '../src/core/event';
import { startGenerator } from '../test/helpers/spine';
import { addTarget, testKindDrops } from '../test/pipeline/limits-helpers';
import { testCollectors } from '../test/observe/test-collectors';

const CORES = os.availableParallelism();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (f: number) => `${(f * 100).toFixed(2)}%`;

interface LoadRow { scenario: string; adaptive: boolean; target: number; delivered: number; cpu: number; rssMiB: number;
  lostPct: number; sampledPct: number; keepOneIn: number; p99ms: number }

async function agentUnderLoad(eventsPerSec: number, adaptive: boolean, seconds = 8): Promise<LoadRow> {
  const config = parseConfig(`limits:\n  rateLimits: {}\n  adaptive:\n    enabled: ${adaptive}\n    intervalMs: 1000\n    kinds: [test]\n`);
  let delivered = 0;
  const lat: number[] = [];
  const sink = { name: 'count', write(events: TapioEvent[]) {
    const now = Number(bootNowNs());
    for (const e of events) {
      delivered++;
      if ((delivered & 15) === 0) lat.push((now - (e.attributes['tapio.boot_ns'] as number)) / 1e6);
    }
  } };
  const agent = new Agent({ config, sinks: [sink], only: ['observe_limits'], collectors: testCollectors(), log: () => undefined });
  await agent.start();
  const obj = agent.collectors[0].kernelObjects!()[0];
  const limits = createLimits({ config: config.limits, objects: [obj] });
  const server = await startObserveServer({ address: '127.0.0.1:0', sources: { agent, limits } });
  const burst = eventsPerSec >= 50_000 ? 50 : 10;
  const callsPerSec = eventsPerSec / burst;
  const gen = eventsPerSec > 0 ? await startGenerator(Math.round(callsPerSec * seconds), callsPerSec) : undefined;
  try {
    if (gen) addTarget(obj, gen.pid, burst);
    const done = gen?.run();
    await sleep(seconds * 500); // first half: warm-up (and the controller's steps)
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 500 - 200);
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    const rss = process.memoryUsage.rss();
    const calls = (await done) ?? 0;
    await sleep(100);
    agent.syncCounters();
    const d = testKindDrops(obj);
    const generated = calls * burst;
    lat.sort((a, b) => a - b);
    return {
      scenario: eventsPerSec ? `${eventsPerSec / 1000}k events/s` : 'idle', adaptive, target: eventsPerSec, delivered,
      cpu: (c.user + c.system) / (wallUs * CORES), rssMiB: rss / 1048576,
      lostPct: generated ? (d.ringbufFull / generated) * 100 : 0, sampledPct: generated ? (d.sampled / generated) * 100 : 0,
      keepOneIn: limits.controller?.sampleEvery().test ?? 1, p99ms: lat.length ? lat[Math.floor(lat.length * 0.99)] : NaN,
    };
  } finally {
    gen?.kill();
    limits.stop();
    await server.close();
    await agent.stop();
  }
}

/** utime + stime of a process, seconds. */
function cpuSecondsOf(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ = 100
}

async function startAgentChild(): Promise<ChildProcess> {
  const bin = path.join(__dirname, '..', '..', 'bin', 'tapio.js');
  const child = spawn(process.execPath, [bin, 'run', '--output', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => { err += d; });
  // Started once its first periodic work has run; give probing and loading a few seconds.
  for (let i = 0; i < 100 && child.exitCode === null; i++) await sleep(50);
  if (child.exitCode !== null) throw new Error(`tapio run exited: ${err}`);
  return child;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (c.exitCode === null) c.kill('SIGKILL');
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { maxBuffer: 1 << 24 }, (e, out) => (e ? reject(e) : resolve(out))));
}

async function execStorm(n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run('/bin/sh', ['-c', `i=0; while [ $i -lt ${n} ]; do /bin/true; i=$((i+1)); done`]);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function httpLoad(seconds: number): Promise<{ rps: number; p99ms: number }> {
  const server = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', function () { console.log(this.address().port); })`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<string>((r) => server.stdout!.once('data', (d) => r(String(d).trim())));
    const out = await run('wrk', ['-t2', '-c32', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const m = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
    const p99ms = m ? Number(m[1]) * (m[2] === 'us' ? 1e-3 : m[2] === 's' ? 1e3 : 1) : NaN;
    return { rps, p99ms };
  } finally {
    server.kill('SIGKILL');
  }
}

async function workloadOverhead(): Promise<void> {
  const storm = 1500;
  const base = { exec: await execStorm(storm), http: await httpLoad(5) };
  const agent = await startAgentChild();
  try {
    const cpu0 = cpuSecondsOf(agent.pid!);
    const t0 = Date.now();
    const withAgent = { exec: await execStorm(storm), http: await httpLoad(5) };
    const agentCpu = (cpuSecondsOf(agent.pid!) - cpu0) / ((Date.now() - t0) / 1000) / CORES;
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${agent.pid}/status`, 'utf8'))?.[1]) / 1024;
    console.log('\nWorkload overhead (tapio run with the real process and network collectors, output none):');
    console.log('| workload | without agent | with agent | ratio |');
    console.log('|---|---|---|---|');
    console.log(`| exec storm, ${storm} x /bin/true | ${base.exec.toFixed(0)} ms | ${withAgent.exec.toFixed(0)} ms | ${(withAgent.exec / base.exec).toFixed(3)} |`);
    console.log(`| HTTP (wrk -c32, 5 s) req/s | ${base.http.rps.toFixed(0)} | ${withAgent.http.rps.toFixed(0)} | ${(withAgent.http.rps / base.http.rps).toFixed(3)} |`);
    console.log(`| HTTP p99 latency | ${base.http.p99ms.toFixed(2)} ms | ${withAgent.http.p99ms.toFixed(2)} ms | ${(withAgent.http.p99ms / base.http.p99ms).toFixed(3)} |`);
    console.log(`agent during the workloads: CPU ${pct(agentCpu)} of the node (${CORES} cores), RSS ${rss.toFixed(0)} MiB`);
  } finally {
    await stopChild(agent);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('overhead: needs root (loads BPF programs); skipped');
    return;
  }
  console.log(`Agent cost under load (limits test program through the real Agent; ${CORES} cores; CPU = share of the whole node):`);
  console.log('| load | adaptive | delivered | agent CPU | RSS | lost (ring full) | sampled | keep 1 in | p99 latency |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const rate of [0, 10_000, 100_000]) {
    for (const adaptive of [false, true]) {
      const r = await agentUnderLoad(rate, adaptive);
      console.log(`| ${r.scenario} | ${r.adaptive ? 'on' : 'off'} | ${r.delivered} | ${pct(r.cpu)} | ${r.rssMiB.toFixed(0)} MiB | ` +
        `${r.lostPct.toFixed(3)}% | ${r.sampledPct.toFixed(1)}% | ${r.keepOneIn} | ${Number.isNaN(r.p99ms) ? '-' : `${r.p99ms.toFixed(2)} ms`} |`);
    }
  }
  if (process.argv.includes('--no-workload')) return;
  await workloadOverhead();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
