// Collectors that misbehave in the ways the reliability review found (a real HTTP server on loopback, OTLP/HTTP
// JSON, switched between modes while the exporter runs):
// - headers, then a body trickled one byte at a time: the lane must not freeze, and it must say it is failing;
// - answers slower than timeoutMs while still processing each request: a batch repeats at most once per
//   interruption (docs/export.md), not once per retry;
// - never answers while the agent shuts down: the batch in flight is spooled (disk) or counted (memory), not lost.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createOtlpExporter } from '../../src/export/otlp';
import { DropCounters } from '../../src/core/drops';
import { config, event, tempDir, waitFor, writeKey } from './helpers';

type Mode = 'ok' | 'trickle' | 'slow' | 'hang';

/** A collector whose behaviour can be switched; `seen` counts each record (by tapio.seq) per copy processed. */
class HostileCollector {
  mode: Mode = 'ok';
  slowMs = 1200;
  readonly seen = new Map<number, number>();
  requests = 0;
  private server!: http.Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const mode = this.mode;
        if (mode === 'hang') return; // takes the request, never answers
        this.process(Buffer.concat(chunks)); // a slow or trickling collector still processes what it got
        if (mode === 'ok') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } else if (mode === 'slow') {
          const t = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), this.slowMs);
          this.timers.add(t);
        } else {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          const t = setInterval(() => res.write(' '), 1000);
          this.timers.add(t);
          res.on('close', () => clearInterval(t));
        }
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private process(body: Buffer): void {
    if (body.length === 0) return;
    const req = JSON.parse(body.toString()) as { resourceLogs?: { scopeLogs?: { logRecords?: { attributes?: { key: string; value: { intValue?: string | number } }[] }[] }[] }[] };
    for (const rl of req.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) {
      const seq = Number(lr.attributes?.find((a) => a.key === 'tapio.seq')?.value.intValue);
      this.seen.set(seq, (this.seen.get(seq) ?? 0) + 1);
    }
  }

  get duplicates(): number {
    let d = 0;
    for (const n of this.seen.values()) d += n - 1;
    return d;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function collector(t: TestContext): Promise<HostileCollector> {
  const c = new HostileCollector();
  await c.start();
  t.after(() => c.stop());
  return c;
}

const send = (exporter: ReturnType<typeof createOtlpExporter>, from: number, n: number) =>
  exporter.export(Array.from({ length: n }, (_, i) => event(from + i)));

test('a collector that trickles its body does not freeze the lane, and the lane says it is failing', async (t) => {
  const c = await collector(t);
  c.mode = 'trickle';
  const drops = new DropCounters();
  const exporter = createOtlpExporter(config({ endpoint: c.url, protocol: 'http/json', timeoutMs: 500,
    metrics: { enabled: false }, traces: { enabled: false } }), { drops, env: {}, log: () => {} });
  t.after(() => exporter.shutdown());
  send(exporter, 0, 300);
  await waitFor('the lane to report failure', () => exporter.stats().signals.logs.retryingSince !== undefined &&
    exporter.stats().signals.logs.failedAttempts >= 2, 10_000);
  assert.match(exporter.stats().signals.logs.lastError ?? '', /no complete answer .* within 500 ms/);
  c.mode = 'ok'; // the collector recovers: everything arrives
  await waitFor('all 300 records delivered', () => c.seen.size === 300 && exporter.stats().signals.logs.queuedRecords === 0, 15_000);
  assert.equal(exporter.stats().signals.logs.retryingSince, undefined, 'no longer failing');
});

test('a collector slower than timeoutMs sees each batch at most twice per interruption', async (t) => {
  const c = await collector(t);
  c.mode = 'slow';
  const drops = new DropCounters();
  const exporter = createOtlpExporter(config({ endpoint: c.url, protocol: 'http/json', timeoutMs: 300,
    batch: { maxRecords: 100, delayMs: 20 }, retry: { initialBackoffMs: 20, maxBackoffMs: 50 },
    metrics: { enabled: false }, traces: { enabled: false } }), { drops, env: {}, log: () => {} });
  t.after(() => exporter.shutdown());
  send(exporter, 0, 1000);
  // Many retries happen during the slow spell (backoff 20-50 ms, timeout 300 ms).
  await waitFor('a slow spell with many retries', () => exporter.stats().signals.logs.failedAttempts >= 8, 15_000);
  c.mode = 'ok';
  await waitFor('all 1000 records delivered', () => c.seen.size === 1000 && exporter.stats().signals.logs.queuedRecords === 0, 20_000);
  assert.ok(c.duplicates <= 100, `at most one batch (100 records) repeated, saw ${c.duplicates} duplicate records ` +
    `after ${exporter.stats().signals.logs.failedAttempts} failed attempts`);
});

test('at shutdown, the batch in flight to a hung collector is spooled on disk', async (t) => {
  const c = await collector(t);
  c.mode = 'hang';
  const dir = tempDir(t);
  const keyFile = writeKey(dir);
  const cfg = config({ endpoint: c.url, protocol: 'http/json', timeoutMs: 60_000, shutdownTimeoutMs: 200,
    metrics: { enabled: false }, traces: { enabled: false }, spool: { dir: path.join(dir, 'spool'), keyFile, fsync: false } });
  const drops = new DropCounters();
  const exporter = createOtlpExporter(cfg, { drops, env: {}, log: () => {} });
  await exporter.ready;
  send(exporter, 0, 100); // exactly one batch, which the collector takes and never answers
  await waitFor('the batch is in flight', () => c.requests === 1);
  await exporter.shutdown();
  const files = fs.readdirSync(path.join(dir, 'spool', 'logs')).filter((f) => f.endsWith('.spool'));
  assert.equal(files.length, 1, 'the in-flight batch was written to the spool');
  assert.deepEqual(drops.rows(), [], 'nothing counted as lost');

  // The next start delivers it.
  c.mode = 'ok';
  const again = createOtlpExporter(cfg, { drops, env: {}, log: () => {} });
  await waitFor('the spooled batch delivered after restart', () => c.seen.size === 100, 10_000);
  await again.shutdown();
});

test('at shutdown without a disk spool, the batch in flight is counted as given up (shutdown)', async (t) => {
  const c = await collector(t);
  c.mode = 'hang';
  const drops = new DropCounters();
  const exporter = createOtlpExporter(config({ endpoint: c.url, protocol: 'http/json', timeoutMs: 60_000, shutdownTimeoutMs: 200,
    metrics: { enabled: false }, traces: { enabled: false } }), { drops, env: {}, log: () => {} });
  send(exporter, 0, 100);
  await waitFor('the batch is in flight', () => c.requests === 1);
  await exporter.shutdown();
  const lost = drops.rows().filter((r) => r.reason === 'shutdown').reduce((a, r) => a + r.count, 0);
  assert.equal(lost, 100, `the in-flight records are counted: ${JSON.stringify(drops.rows())}`);
});
