// Benchmark helper (child process) for bench/tls-overhead.ts: `full` runs the request collector as the agent does
// (plaintext capture plus TLS uprobes, every request parsed, scrubbed, made into an event and discarded); `tls` runs
// TLS capture alone (uprobes and sessions, no plaintext-TCP capture); `budget` is `full` with the agent's limits
// (the adaptive controller holding the CPU budget by sampling streams and connections) and the TLS probes' duty cycle
// holding their cost to the traced processes (tls.maxProbeCostPercent, the default). Prints `ready` once attached (after the first
// scan found `waitFor`, a path fragment), and on SIGTERM one JSON line with the counters, then exits. TLS_SHARED=0
// probes the exported names only.
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import { RequestsCollector } from '../../src/collectors/requests';
import { RequestSessions } from '../../src/collectors/requests/sessions';
import { TlsCapture } from '../../src/collectors/tls';
import { enableRunStats } from '../../src/kernel/run-stats';
import { createLimits } from '../../src/pipeline/limits';

async function main(): Promise<void> {
  const [mode, waitFor] = process.argv.slice(2);
  const drops = new DropCounters();
  // TLS_SHARED=0: probes at the exported SSL_* names only (the layout before shared entry points).
  const sharedEntryPoints = process.env.TLS_SHARED !== '0';
  // Only `budget` has the probes' duty cycle (tls.maxProbeCostPercent): the other modes measure what the probes
  // cost when they are always attached.
  const dutyCycle = mode === 'budget' ? {} : { maxProbeCostPercent: 100 };
  // `budget` rescans at the default interval, as `tapio run` does; the others every 500 ms, to find the server fast.
  const rescan = mode === 'budget' ? {} : { rescanIntervalMs: 500 };
  const config = configSchema.parse({ collectors: { requests: { enabled: true, tls: { ...rescan, sharedEntryPoints, ...dutyCycle } } } });
  const ctx = { config, emit: () => undefined, drops, log: (m: string) => process.stderr.write(`${m}\n`) };
  let counters: () => Record<string, number>;
  let hooks: () => { name: string; chosen?: unknown }[];
  let stop: () => Promise<void>;
  let runStats: () => unknown = () => undefined;
  // Run-time stats cost every BPF program run (two clock reads); only `tls` reports them, and the DaemonSet runs
  // without them (agent.programRunStats defaults off in the chart), so `budget` measures without.
  const stats = process.env.TLS_RUN_STATS === '1' && mode === 'tls' ? enableRunStats() : undefined;
  let sampling: () => unknown = () => undefined;
  if (mode === 'full' || mode === 'budget') {
    const c = new RequestsCollector();
    await c.start(ctx);
    counters = () => c.counters();
    hooks = () => c.status().hooks;
    // `budget`: the agent's limits too, as `tapio run` has them (the adaptive controller holding its CPU budget).
    const limits = mode === 'budget' ? createLimits({ config: config.limits, objects: c.kernelObjects() }) : undefined;
    sampling = () => limits?.controller?.state().sampleEvery;
    stop = () => { limits?.stop(); return c.stop(); };
  } else {
    const sessions = new RequestSessions(drops, {});
    const t = new TlsCapture(ctx, (info, emit) => sessions.consumer(info, emit));
    await t.start();
    counters = () => ({ ...t.counters(), requests_reported: sessions.totals.reported });
    hooks = () => t.hooks();
    runStats = () => t.programRunStats();
    stop = () => t.stop();
  }
  const deadline = Date.now() + 30_000;
  while (waitFor && !hooks().some((h) => h.chosen && h.name.includes(waitFor)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    // Report first: stopping drains what the ring still holds, which can take long on a loaded machine.
    process.stdout.write(`${JSON.stringify({ counters: counters(), drops: drops.rows(), programs: runStats(), sampling: sampling() })}\n`);
    stats?.close();
    void stop().then(() => process.exit(0));
  });
}

void main();
