// Benchmark helper (child process) for bench/requests-kernel-tax.ts: the request-capture collector loaded with fixed
// sampling (argv[2] = N: keep 1 of N connections; no adaptive controller) and TLS capture on or off (argv[3] = tls |
// notls), its events discarded. Prints "ready" once attached; exits on SIGTERM. Run from another build's dist/ too.
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import { RequestsCollector } from '../../src/collectors/requests';
import { createLimits } from '../../src/pipeline/limits';

async function main(): Promise<void> {
  const sampleEvery = Number(process.argv[2] ?? 1);
  const config = configSchema.parse({
    collectors: { requests: { enabled: true, tls: { enabled: process.argv[3] !== 'notls' } } },
    limits: { sampling: sampleEvery > 1 ? { 'l7.data': sampleEvery } : {}, adaptive: { enabled: false } },
  });
  const collector = new RequestsCollector();
  await collector.start({ config, emit: () => undefined, drops: new DropCounters(), log: (m) => process.stderr.write(`${m}\n`) });
  const limits = createLimits({ config: config.limits, objects: collector.kernelObjects(), log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void collector.stop().finally(() => {
      limits.stop();
      process.exit(0);
    });
  });
}

void main();
