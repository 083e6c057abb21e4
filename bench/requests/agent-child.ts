// Benchmark helper (child process): runs the request-capture collector with a consumer per connection and, on
// SIGTERM, prints one JSON line with the collector's counters and what the consumers saw, then exits. Run apart
// from the load so its CPU can be measured on its own (/proc/<pid>/stat).
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import { RequestsCollector } from '../../src/collectors/requests';
import { benchConsumer, consumerTotals } from './consumer';

async function main(): Promise<void> {
  const drops = new DropCounters();
  const collector = new RequestsCollector({ consumer: benchConsumer });
  const config = configSchema.parse({ collectors: { requests: { enabled: true, capture: process.argv[2] === 'syscalls' ? 'syscalls' : 'auto' } } });
  await collector.start({ config, emit: () => undefined, drops, log: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    const counters = collector.counters();
    collector.syncCounters();
    void collector.stop().then(() => {
      process.stdout.write(`${JSON.stringify({ counters, consumers: consumerTotals(), drops: drops.rows() })}\n`);
      process.exit(0);
    });
  });
}

void main();
