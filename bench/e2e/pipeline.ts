// Part 1 of bench/agent-end-to-end.ts: the whole agent in this process (real kernel program and ring, the real
// Agent and pipeline, the real OTLP exporter) sending to a real receiver in a child process over loopback, at a fixed
// rate or as fast as it goes. Events come from bpf/testing/limits_test.bpf.c (records per setpriority() of a
// generator child), so the ground truth is exact; each record is decoded into an event shaped like a TCP close
// (12 attributes, as the network collector makes). Measures CPU per thread group, RSS, delivery, drops by reason,
// latency from the kernel timestamp to receipt, and a CPU profile of the main thread split by stage.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Session } from 'node:inspector';
import { Agent } from '../../src/agent/agent';
import type { CollectorEntry } from '../../src/collectors';
import { ringReaderOptions } from '../../src/collectors/ring-options';
import type { Collector, CollectorContext, CollectorStatus } from '../../src/collectors/types';
import { parseConfig } from '../../src/config/load';
import { DropCounters } from '../../src/core/drops';
import type { TapioEvent } from '../../src/core/event';
import { createOtlpExporter } from '../../src/export/otlp';
import { exportConfigSchema } from '../../src/config/export';
import { loadCollector, type LoadedCollector } from '../../src/kernel';
import { bootNsToUnixNano } from '../../src/kernel/clock';
import { releaseBuffer, releaseFreedHeap } from '../../src/kernel/heap';
import { kindName, reasonName } from '../../src/kernel/drops';
import { startGenerator } from '../../test/helpers/spine';
import { addTarget, testKindDrops } from '../../test/pipeline/limits-helpers';
import { DockerHarness, type RunningContainer } from '../../test/harness/runtimes';
import { IdentityResolver } from '../../src/identity';
import { identityConfigSchema } from '../../src/config/identity';
import { detectHostCgroupLayout, directoryOf } from '../../src/identity/cgroups/layout';
import { memoryOf, type MemoryRow } from './memory';

const CORES = os.availableParallelism();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The limits test program's records as TCP-close-shaped events (the decode stage of this benchmark). */
class LoadCollector implements Collector {
  readonly name = 'bench_load';
  loaded?: LoadedCollector;
  private ctx?: CollectorContext;
  private events = 0;

  async start(ctx: CollectorContext): Promise<void> {
    this.ctx = ctx;
    this.loaded = await loadCollector({ name: this.name, object: 'testing/limits_test.bpf.o',
      hooks: [{ name: 'emit', implementations: [{ kind: 'tracepoint', program: 'limits_emit' }] }] });
    if (!this.loaded.available) throw new Error(`limits_test did not load: ${this.loaded.unavailableReasons().join('; ')}`);
    let seq = 0;
    this.loaded.openRing('limits_events', (batch) => {
      const out: TapioEvent[] = [];
      batch.forEach((v, off) => {
        const pid = v.getUint32(off + 24, true);
        const n = seq++;
        out.push({ name: 'network.tcp.close', timeUnixNano: bootNsToUnixNano(v.getBigUint64(off + 8, true)),
          cgroupId: v.getBigUint64(off + 16, true), attributes: {
            'network.transport': 'tcp', 'network.type': 'ipv4', 'network.local.address': '10.0.0.5',
            'network.local.port': 40000 + (n & 1023), 'network.peer.address': '10.0.0.7', 'network.peer.port': 443,
            'tapio.network.direction': 'outbound', 'process.pid': pid, 'tapio.bytes.sent': 1200,
            'tapio.bytes.received': 5400, 'tapio.tcp.srtt_us': 180, 'tapio.duration_ns': 3_000_000 } });
      });
      this.events += out.length;
      ctx.emit(out);
    }, ringReaderOptions(ctx.config));
  }

  status(): CollectorStatus {
    return { name: this.name, available: !!this.loaded?.available, hooks: this.loaded?.hooks ?? [], events: { 'network.tcp.close': this.events } };
  }

  kernelObjects(): LoadedCollector[] {
    return this.loaded ? [this.loaded] : [];
  }

  syncCounters(): void {
    if (!this.loaded?.available || !this.ctx) return;
    for (const d of this.loaded.readDrops()) this.ctx.drops.set('kernel', kindName(d.kind), reasonName(d.reason), d.count);
  }

  async stop(): Promise<void> {
    this.syncCounters();
    await this.loaded?.close();
  }
}

/** CPU seconds of this process's threads, grouped: the JS main thread, the ring reader(s), everything else. */
function threadCpu(): { main: number; reader: number; other: number } {
  const out = { main: 0, reader: 0, other: 0 };
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const s = (Number(f[11]) + Number(f[12])) / 100;
      if (Number(tid) === process.pid) out.main += s;
      else if (comm === 'tapio-ring') out.reader += s; // named by native/src/ring_reader.cc
      else out.other += s;
    } catch { /* thread ended */ }
  }
  return out;
}

/** A CPU profile's share of busy main-thread time per stage, by the file each sampled function lives in. */
export type StageShares = Record<string, number>;
function stageOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'native (V8/libuv)';
  if (url.includes('/bench/e2e/') || url.includes('/src/collectors/') || url.includes('/src/kernel/')) return 'ring + decode';
  if (url.includes('/src/identity/')) return 'identity';
  if (url.includes('/src/pipeline/') || url.includes('/src/core/') || url.includes('/src/agent/')) return 'pipeline';
  if (url.includes('/src/export/encode/')) return 'encode';
  if (url.includes('/src/export/')) return 'export queue';
  if (url.includes('@grpc') || url.includes('http') || url.includes('net') || url.includes('stream') || url.includes('zlib')) return 'send';
  return 'other';
}

function summarize(profile: { nodes: { id: number; callFrame: { url: string; functionName: string } }[]; samples: number[]; timeDeltas: number[] }): StageShares {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const us: Record<string, number> = {};
  profile.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const stage = stageOf(n.callFrame.url, n.callFrame.functionName);
    us[stage] = (us[stage] ?? 0) + (profile.timeDeltas[i] ?? 0);
  });
  // Shares of the busy samples (a sample's time is wall time: on a loaded machine it includes time the thread was
  // preempted, so absolute values overstate; the caller scales the shares by the thread's measured CPU).
  delete us.idle;
  const busy = Object.values(us).reduce((a, b) => a + b, 0) || 1;
  for (const k of Object.keys(us)) us[k] = us[k]! / busy;
  return us;
}

export interface PipelineRow {
  protocol: string; offered: string; truth: number; delivered: number; perSec: number;
  nodePct: number; usPerEvent: number; mainUs: number; readerUs: number; otherUs: number; rssMiB: number;
  /** Export requests per second (logs), and JS callbacks from the ring reader per second. */
  requestsPerSec?: number; ringCallbacksPerSec?: number;
  /** p99Steady: without the records received in the first second (connection set-up, the JIT's warm-up). */
  drops: string; p50: number; p99: number; p99Steady: number; stages: StageShares;
  /** This process's memory when the generator finished (the agent under load; plus the bench's own little code). */
  mem?: MemoryRow;
  /** With `container`: events that reached the exporter carrying the container's name. */
  named?: number;
}

/** Settings a case overrides (default: the agent's defaults for export.otlp.batch.delayMs, maxInFlight and
 *  maxInFlightRecords; batch.maxRecords 2048; the ring's settings as the agent derives them from its config:
 *  kernel.coalesceMs 5, maxCoalesceMs a quarter of the batch delay, at most 50 ms: src/collectors/ring-options.ts).
 *  `profile: false`: no CPU profiler during the case (the sampler costs a fixed few % of a core, which at 10k/s
 *  is most of the agent's own cost; the profiled rows give the split by stage, the unprofiled ones the CPU). */
export interface CaseOptions {
  delayMs?: number; maxRecords?: number; maxInFlight?: number; maxInFlightRecords?: number; coalesceMs?: number; profile?: boolean;
  /** kernel.maxCoalesceMs (default: derived from the batch delay). */
  maxCoalesceMs?: number;
  /** The generator joins a Docker container's cgroup (a dockerd of the test harness, a real runtime), and identity
   *  names its events through that dockerd as `tapio run` wires it (enrichment and the identity gate): every event
   *  then carries the container's id, name, image and runtime. */
  container?: boolean;
  /** Seconds of load before the measurement starts, in the same agent (as a running agent is warm: one set of
   *  objects for the whole run, so V8's optimized code is not thrown away with a warm-up case's objects). */
  warmupSeconds?: number;
}

/** case-child.ts asks for this before passing warmupSeconds (a baseline checkout's pipelineCase may not know it). */
export const IN_CASE_WARMUP = true;

/** A real dockerd with one container, and an identity resolver that knows it by the container's cgroup. */
async function containerIdentity(drops: DropCounters): Promise<{ identity: IdentityResolver; container: RunningContainer; stop(): Promise<void> }> {
  const h = await DockerHarness.start();
  const identity = new IdentityResolver({ drops, config: identityConfigSchema.parse({
    runtimes: { endpoints: [{ kind: 'docker', socket: h.socket }] }, kubernetes: { enabled: false } }) });
  try {
    const container = await h.run('bench-workload');
    await identity.start();
    const attrs = await identity.resolve(container.cgroupId);
    if (attrs['container.name'] !== 'bench-workload') throw new Error(`identity did not name the container: ${JSON.stringify(attrs)}`);
    return { identity, container, async stop() { identity.stop(); await h.teardown(); } };
  } catch (e) {
    identity.stop();
    await h.teardown();
    throw e;
  }
}

export async function pipelineCase(protocol: 'grpc' | 'http/protobuf', rate: number | 'max', seconds: number,
  opts: CaseOptions = {}): Promise<PipelineRow> {
  // What earlier cases in this process freed goes back first, as the agent's own trim every 30 s would do (a
  // case is shorter): otherwise a backlog in one case stays in the next one's RSS.
  releaseFreedHeap();
  const receiverJs = path.join(__dirname, '..', 'export-throughput.js');
  const child = fork(receiverJs, ['--receiver', protocol === 'grpc' ? 'grpc' : 'http']);
  const { port } = await new Promise<{ port: number }>((r) => child.once('message', (m) => r(m as { port: number })));
  // The agent's config as far as the ring reader is concerned: its coalescing follows the export's batch delay.
  const config = parseConfig('limits:\n  rateLimits: {}\n  adaptive:\n    enabled: false\n' +
    `export:\n  otlp:\n    enabled: true\n${opts.delayMs ? `    batch: { delayMs: ${opts.delayMs} }\n` : ''}` +
    `kernel: { ${[opts.coalesceMs && `coalesceMs: ${opts.coalesceMs}`, opts.maxCoalesceMs && `maxCoalesceMs: ${opts.maxCoalesceMs}`]
      .filter(Boolean).join(', ')} }\n`);
  const otlpConfig = exportConfigSchema.parse({ otlp: { enabled: true, endpoint: `http://127.0.0.1:${port}`, protocol,
    metrics: { enabled: false }, batch: { maxRecords: opts.maxRecords ?? 2048, ...(opts.delayMs ? { delayMs: opts.delayMs } : {}) },
    ...(opts.maxInFlight ? { maxInFlight: opts.maxInFlight } : {}),
    ...(opts.maxInFlightRecords ? { maxInFlightRecords: opts.maxInFlightRecords } : {}), queueMaxRecords: 200_000 } }).otlp;
  const collector = new LoadCollector();
  const entry: CollectorEntry = { name: collector.name, enabled: () => true, hooks: () => [], create: () => collector };
  const drops = new DropCounters();
  const runtime = opts.container ? await containerIdentity(drops) : undefined;
  // As the agent builds it (src/agent/services.ts): sent batches are freed at once.
  const exporter = createOtlpExporter(otlpConfig, { drops, env: {}, log: () => undefined, releaseBuffer });
  const identity = runtime?.identity;
  let named = 0;
  const countNamed = (events: readonly TapioEvent[]): void => {
    for (const e of events) if (e.attributes['container.name'] === 'bench-workload') named++;
  };
  const agent = new Agent({ config, drops, sinks: [{ name: 'otlp', write: (events) => {
    if (runtime) countNamed(events);
    exporter.export(events);
  } }],
    only: [collector.name], collectors: [entry], log: () => undefined,
    ...(identity ? { enrich: (e: TapioEvent) => identity.enrich(e), identityGate: identity } : {}) });
  await agent.start();
  const obj = collector.loaded!;
  const burst = 50;
  const warmup = rate === 'max' ? 0 : (opts.warmupSeconds ?? 0);
  const calls = rate === 'max' ? 60_000 : Math.round((rate / burst) * (seconds + warmup));
  const gen = await startGenerator(calls, rate === 'max' ? undefined : rate / burst);
  const session = new Session();
  session.connect();
  const post = <T>(method: string): Promise<T> => new Promise((resolve, reject) =>
    session.post(method, (err, res) => (err ? reject(err) : resolve(res as T))));
  try {
    if (runtime) {
      // Into the container's cgroup (the id hierarchy): the program's records carry its cgroup id from the first call.
      const dir = directoryOf(runtime.container.cgroupPath, detectHostCgroupLayout().ids);
      if (!dir) throw new Error(`the container's cgroup ${runtime.container.cgroupPath} is outside the mounted hierarchy`);
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(gen.pid));
    }
    addTarget(obj, gen.pid, burst);
    const profiling = opts.profile !== false;
    const running = gen.run();
    if (warmup > 0) {
      await sleep(warmup * 1000);
      await new Promise<void>((resolve) => { child.once('message', () => resolve()); child.send({ cmd: 'reset' }); });
    }
    if (profiling) {
      await post('Profiler.enable');
      await post('Profiler.start');
    }
    const logs = (): { sentRecords: number; sentBatches: number } => exporter.stats().signals.logs;
    const delivered0 = logs().sentRecords;
    const requests0 = logs().sentBatches;
    const callbacks0 = obj.ringReaders().reduce((n, r) => n + r.stats().callbacks, 0);
    const cpu0 = process.cpuUsage();
    const th0 = threadCpu();
    const t0 = process.hrtime.bigint();
    let peakRss = 0;
    const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); }, 200);
    const made = await running;
    const memUnderLoad = memoryOf('self');
    const truth = made * burst;
    // Everything produced is either delivered or counted as dropped; wait for that (bounded).
    const accounted = (): number => logs().sentRecords + agent.drops.total();
    for (let i = 0; i < 300 && accounted() < truth; i++) {
      agent.syncCounters();
      await sleep(100);
    }
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const th = threadCpu();
    clearInterval(rssTimer);
    const { profile } = profiling ? await post<{ profile: Parameters<typeof summarize>[0] }>('Profiler.stop')
      : { profile: { nodes: [], samples: [], timeDeltas: [] } };
    // The whole profile for a closer look (DevTools opens it): BENCH_PROFILE_OUT=/tmp/case.cpuprofile.
    if (profiling && process.env.BENCH_PROFILE_OUT) fs.writeFileSync(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile));
    agent.syncCounters();
    const delivered = logs().sentRecords;
    const requests = logs().sentBatches - requests0;
    // Per event and per second: what was delivered while measuring (all of it without a warm-up).
    const measured = Math.max(1, delivered - delivered0);
    const ringCallbacks = obj.ringReaders().reduce((n, r) => n + r.stats().callbacks, 0);
    const kd = testKindDrops(obj);
    const byReason: Record<string, number> = {};
    for (const d of drops.rows()) byReason[`${d.stage}/${d.reason}`] = (byReason[`${d.stage}/${d.reason}`] ?? 0) + d.count;
    if (kd.ringbufFull && !Object.keys(byReason).some((k) => k.startsWith('kernel/'))) byReason['kernel/ringbuf_full'] = kd.ringbufFull;
    await exporter.shutdown();
    const stats = await new Promise<{ p50: number; p99: number; p99Steady: number }>((resolve) => {
      child.once('message', (m) => resolve(m as { p50: number; p99: number; p99Steady: number }));
      child.send({ cmd: 'stats' });
    });
    const cpuUs = cpu.user + cpu.system;
    return {
      protocol, offered: rate === 'max' ? 'max' : `${rate / 1000}k/s`, truth, delivered,
      perSec: Math.round(measured / (wallUs / 1e6)),
      nodePct: (cpuUs / (wallUs * CORES)) * 100, usPerEvent: cpuUs / measured,
      mainUs: ((th.main - th0.main) * 1e6) / measured, readerUs: ((th.reader - th0.reader) * 1e6) / measured,
      otherUs: ((th.other - th0.other) * 1e6) / measured,
      requestsPerSec: requests / (wallUs / 1e6), ringCallbacksPerSec: (ringCallbacks - callbacks0) / (wallUs / 1e6),
      rssMiB: peakRss / 2 ** 20, drops: Object.entries(byReason).map(([k, v]) => `${k}=${v}`).join(' ') || '0',
      p50: stats.p50, p99: stats.p99, p99Steady: stats.p99Steady, stages: summarize(profile), mem: memUnderLoad,
      ...(runtime ? { named } : {}),
    };
  } finally {
    session.disconnect();
    gen.kill();
    await agent.stop();
    child.kill();
    await runtime?.stop();
  }
}
