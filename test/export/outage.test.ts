// A collector outage under load: the receiver is stopped for ~20 s while events keep coming, then restarted on the
// same port. Every record produced during the outage must arrive afterwards, first copies in order. Delivery is
// at-least-once: a batch can arrive twice only when the collector took it but its answer was lost (the connection
// dropped mid-request), so per outage at most one batch per signal may repeat: duplicates <= batch size.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter } from '../../src/export/otlp';
import { config, event, tempDir, waitFor, writeKey } from './helpers';
import { OtlpReceiver } from './receiver';

const OUTAGE_MS = 20_000;
const RATE_PER_TICK = 100; // events every 10 ms: ~10k events/s offered
const BATCH = 512;

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`${protocol}: a 20 s collector outage under load loses nothing and keeps order`, { timeout: 180_000 }, async (t) => {
    const dir = tempDir(t);
    const receiver = new OtlpReceiver({ protocol: protocol === 'grpc' ? 'grpc' : 'http' });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({
      endpoint: receiver.url, protocol, metrics: { enabled: false },
      batch: { maxRecords: BATCH, delayMs: 50 },
      retry: { initialBackoffMs: 100, maxBackoffMs: 2000 },
      spool: { dir: path.join(dir, 'spool'), keyFile: writeKey(dir), fsync: true },
    }), { drops, env: {}, log: () => {} });
    let producer: NodeJS.Timeout | undefined;
    t.after(async () => { clearInterval(producer); await exporter.shutdown(); await receiver.stop(); });
    await exporter.ready;

    let seq = 0;
    producer = setInterval(() => {
      exporter.export(Array.from({ length: RATE_PER_TICK }, () => event(seq++)));
    }, 10);

    await waitFor('traffic before the outage', () => receiver.logRecords().length > 2000, 30_000, 200);
    await receiver.stop();
    const producedAtStop = seq;
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const producedDuringOutage = seq - producedAtStop;
    assert.ok(exporter.stats().spool.files > 0, 'the outage went to the spool');
    await receiver.start(); // same port
    // Traffic goes on after the collector is back until records made after its return arrive (the spool and fresh
    // records share the lane), not for a fixed time.
    const producedAtRestart = seq;
    await waitFor('records made after the restart', () =>
      receiver.logRecords().some((l) => (l.attributes['tapio.seq'] as number) >= producedAtRestart), 120_000, 100);
    clearInterval(producer);
    const total = seq;

    await waitFor('every record', () => new Set(receiver.logRecords().map((l) => l.attributes['tapio.seq'])).size >= total, 120_000, 500);
    const seen = receiver.logRecords().map((l) => l.attributes['tapio.seq'] as number);
    const unique = new Set(seen);
    assert.equal(unique.size, total, 'every produced record arrived');
    assert.equal(drops.total(), 0, 'nothing given up');

    // Order: the first copy of each record arrives in production order.
    const firstCopies: number[] = [];
    const met = new Set<number>();
    for (const s of seen) if (!met.has(s)) { met.add(s); firstCopies.push(s); }
    for (let i = 1; i < firstCopies.length; i++) assert.ok(firstCopies[i]! > firstCopies[i - 1]!, `out of order at ${i}`);
    const duplicates = seen.length - unique.size;
    assert.ok(duplicates <= BATCH, `${duplicates} duplicates, more than one batch`);
    t.diagnostic(`${protocol}: produced ${total} (${producedDuringOutage} during the outage), ` +
      `duplicates ${duplicates}, spool now ${exporter.stats().spool.files} files`);
  });
}
