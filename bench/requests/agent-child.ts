// Benchmark helper (child process): runs the request-capture collector with its real protocol sessions (every
// request parsed, scrubbed and made into an event, then discarded here) and, on SIGTERM, prints one JSON line with
// the collector's counters (bytes, requests reported and lost), then exits. Run apart
// from the load so its CPU can be measured on its own (/proc/<pid>/stat).
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import { RequestsCollector } from '../../src/collectors/requests';

async function main(): Promise<void> {
  const drops = new DropCounters();
  const collector = new RequestsCollector();
  const config = configSchema.parse({ collectors: { requests: { enabled: true, capture: process.argv[2] === 'syscalls' ? 'syscalls' : 'auto' } } });
  await collector.start({ config, emit: () => undefined, drops, log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    const counters = collector.counters();
    collector.syncCounters();
    void collector.stop().then(() => {
      process.stdout.write(`${JSON.stringify({ counters, drops: drops.rows() })}\n`);
      process.exit(0);
    });
  });
}

void main();
