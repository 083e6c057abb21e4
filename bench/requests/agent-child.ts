// Benchmark helper (child process): runs the request-capture collector with its real protocol sessions (every
// request parsed, scrubbed and made into an event, then discarded here) and, on SIGTERM, prints one JSON line with
// the collector's counters (bytes, requests reported and lost), then exits. Run apart from the load so its CPU can be
// measured on its own (/proc/<pid>/stat). TAPIO_BENCH_CPU_PROFILE=<file.cpuprofile> writes a V8 CPU profile of the
// time between "ready" and SIGTERM (started after the programs are loaded: `node --cpu-prof` would interrupt the
// verifier with its profiling signal, and the load fails with EAGAIN). With `budget` as its second argument the
// agent's limits run too (the adaptive controller holding limits.budget, 2% of the node by default, as `tapio run`
// does), and the report carries the sampling it settled on.
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import { RequestsCollector } from '../../src/collectors/requests';
import { createLimits, type LimitsHandle } from '../../src/pipeline/limits';

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => s.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
}

async function main(): Promise<void> {
  const drops = new DropCounters();
  const collector = new RequestsCollector();
  // BENCH_RING_BYTES (bench/requests-overhead.ts): the request-capture rings, plaintext and TLS.
  const ring = process.env.BENCH_RING_BYTES ? Number(process.env.BENCH_RING_BYTES) : undefined;
  const config = configSchema.parse({ collectors: { requests: {
    enabled: true, capture: process.argv[2] === 'syscalls' ? 'syscalls' : 'auto', ringBufferBytes: ring, tls: { ringBufferBytes: ring },
  } } });
  await collector.start({ config, emit: () => undefined, drops, log: (m) => process.stderr.write(`${m}\n`) });
  let limits: LimitsHandle | undefined;
  if (process.argv[3] === 'budget') limits = createLimits({ config: config.limits, objects: collector.kernelObjects(), log: (m) => process.stderr.write(`${m}\n`) });
  const profileFile = process.env.TAPIO_BENCH_CPU_PROFILE;
  const session = profileFile ? new Session() : undefined;
  if (session) {
    session.connect();
    await post(session, 'Profiler.enable');
    await post(session, 'Profiler.start');
  }
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    const counters = collector.counters();
    collector.syncCounters();
    void (async () => {
      if (session && profileFile) {
        const { profile } = await post<{ profile: unknown }>(session, 'Profiler.stop');
        fs.writeFileSync(profileFile, JSON.stringify(profile));
      }
      await collector.stop();
      const sampling = limits?.controller?.state().sampleEvery;
      limits?.stop();
      process.stdout.write(`${JSON.stringify({ counters, drops: drops.rows(), sampling })}\n`);
      process.exit(0);
    })();
  });
}

void main();
