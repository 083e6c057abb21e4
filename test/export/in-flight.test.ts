// Several requests in flight per signal (export.otlp.maxInFlight): a slow collector does not hold up the next
// batch, a failure in the middle of the window loses and repeats nothing it need not, and a shutdown with several
// requests unanswered keeps every record in the spool or counts it. Real receivers on loopback, both protocols.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter, type OtlpExporter } from '../../src/export/otlp';
import { config, event, tempDir, waitFor, writeKey } from './helpers';
import { OtlpReceiver, type Answer } from './receiver';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SLOW_MS = 600;
const BATCH = 25; // records per export() call; each call becomes its own batch (delayMs 20 between calls)

/** Four batches of BATCH records, each flushed on its own (export, wait past delayMs, next). */
async function exportFour(exporter: OtlpExporter, from = 0): Promise<void> {
  for (let b = 0; b < 4; b++) {
    exporter.export(Array.from({ length: BATCH }, (_, i) => event(from + b * BATCH + i)));
    await sleep(40);
  }
}

const seqs = (r: OtlpReceiver) => r.logRecords().map((l) => l.attributes['tapio.seq'] as number);

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  const kind = protocol === 'grpc' ? 'grpc' : 'http';

  for (const maxInFlight of [1, 4]) {
    test(`${protocol}: with maxInFlight ${maxInFlight}, a collector answering in ${SLOW_MS} ms ${maxInFlight > 1 ? 'gets four requests at once' : 'gets one at a time'}`, async (t) => {
      const arrivals: number[] = [];
      const receiver = new OtlpReceiver({ protocol: kind, answer: () => ({ kind: 'ok', delayMs: SLOW_MS }),
        onReceive: () => arrivals.push(Date.now()) });
      await receiver.start();
      const drops = new DropCounters();
      // batch.maxRecords 100: four 25-record batches fit the window of one batch's worth of records.
      const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
        traces: { enabled: false }, maxInFlight }), { drops, env: {}, log: () => {} });
      t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
      let peak = 0;
      const watch = setInterval(() => { peak = Math.max(peak, exporter.stats().signals.logs.inFlight); }, 5);
      t.after(() => clearInterval(watch));
      await exportFour(exporter);
      await waitFor('all records acknowledged', () => exporter.stats().signals.logs.sentRecords === 4 * BATCH, 15_000, 20);
      clearInterval(watch);
      assert.equal(peak, maxInFlight, 'requests in flight at once');
      if (maxInFlight === 4) {
        assert.equal(arrivals.length, 4, 'one request per batch');
        assert.ok(arrivals[3]! - arrivals[0]! < SLOW_MS, 'the fourth request arrived before the first was answered');
      } else {
        // Each request waits for the answer to the one before (batches queued meanwhile go joined: fewer requests).
        assert.ok(arrivals.length >= 2 && arrivals.length <= 4, `${arrivals.length} requests`);
        for (let i = 1; i < arrivals.length; i++) {
          assert.ok(arrivals[i]! - arrivals[i - 1]! >= SLOW_MS - 5, `request ${i} waited for the answer to the one before`);
        }
      }
      assert.deepEqual([...seqs(receiver)].sort((a, b) => a - b), Array.from({ length: 4 * BATCH }, (_, i) => i));
      assert.equal(drops.total(), 0);
    });
  }

  test(`${protocol}: the window holds at most one batch's worth of records: full batches go one at a time`, async (t) => {
    const receiver = new OtlpReceiver({ protocol: kind, answer: () => ({ kind: 'ok', delayMs: 100 }) });
    await receiver.start();
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
      traces: { enabled: false }, maxInFlight: 4 }), { drops: new DropCounters(), env: {}, log: () => {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    let peak = 0;
    const watch = setInterval(() => { peak = Math.max(peak, exporter.stats().signals.logs.inFlight); }, 5);
    t.after(() => clearInterval(watch));
    exporter.export(Array.from({ length: 400 }, (_, i) => event(i))); // four full batches of 100
    await waitFor('all records acknowledged', () => exporter.stats().signals.logs.sentRecords === 400, 15_000, 20);
    assert.equal(peak, 1, 'full batches are not sent side by side (an interruption repeats at most one batch)');
    assert.deepEqual(seqs(receiver), Array.from({ length: 400 }, (_, i) => i), 'in order');
  });

  test(`${protocol}: a retryable failure in the middle of the window: the failed batch is retried, nothing lost or repeated`, async (t) => {
    const failure: Answer = protocol === 'grpc' ? { kind: 'grpc', code: 14 /* UNAVAILABLE */ } : { kind: 'http', status: 503 };
    const receiver = new OtlpReceiver({ protocol: kind, answer: (_s, n) => (n === 1 ? { ...failure, delayMs: 50 } : { kind: 'ok', delayMs: 200 }) });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
      traces: { enabled: false }, maxInFlight: 4, retry: { initialBackoffMs: 100, maxBackoffMs: 200 } }),
    { drops, env: {}, log: () => {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    await exportFour(exporter);
    await exportFour(exporter, 4 * BATCH); // more behind the failure: they go through the spool after it
    await waitFor('every record', () => new Set(seqs(receiver)).size === 8 * BATCH, 15_000, 20);
    const seen = seqs(receiver);
    assert.equal(seen.length, 8 * BATCH, 'a refused batch was not processed: no record arrives twice');
    assert.equal(drops.total(), 0, 'nothing given up');
    assert.equal(exporter.stats().signals.logs.failedAttempts, 1);
    // Order: the refused batch arrives after the batches that were in flight beside it, never later than that.
    const secondBatchAt = seen.indexOf(BATCH);
    assert.ok(secondBatchAt >= 0 && secondBatchAt <= 4 * BATCH, `the failed batch was resent within the window (at ${secondBatchAt})`);
    const after = seen.filter((s) => s >= 4 * BATCH);
    assert.deepEqual(after, [...after].sort((a, b) => a - b), 'the batches behind the failure keep their order');
  });

  test(`${protocol}: shutdown with four requests unanswered spools every record on disk; the next start delivers them`, async (t) => {
    const dir = tempDir(t);
    const keyFile = writeKey(dir);
    const hung = new OtlpReceiver({ protocol: kind, answer: () => ({ kind: 'ok', delayMs: 60_000 }) });
    await hung.start();
    const cfg = (endpoint: string) => config({ endpoint, protocol, metrics: { enabled: false }, traces: { enabled: false },
      maxInFlight: 4, shutdownTimeoutMs: 200, spool: { dir: path.join(dir, 'spool'), keyFile, fsync: false } });
    const drops = new DropCounters();
    const first = createOtlpExporter(cfg(hung.url), { drops, env: {}, log: () => {} });
    await first.ready;
    await exportFour(first);
    first.export(Array.from({ length: BATCH }, (_, i) => event(4 * BATCH + i))); // not yet sent: the window is full
    await waitFor('four in flight', () => first.stats().signals.logs.inFlight === 4, 5000, 10);
    await first.shutdown();
    await hung.stop();
    const spool = first.stats().spool;
    assert.equal(drops.total(), 0, 'nothing counted lost: all of it is on disk');
    assert.equal(spool.files, 5, 'four batches in flight and the one behind them');

    const receiver = new OtlpReceiver({ protocol: kind });
    await receiver.start();
    const second = createOtlpExporter(cfg(receiver.url), { drops, env: {}, log: () => {} });
    t.after(async () => { await second.shutdown(); await receiver.stop(); });
    await waitFor('the spooled records', () => receiver.logRecords().length === 5 * BATCH, 15_000, 20);
    assert.deepEqual(seqs(receiver), Array.from({ length: 5 * BATCH }, (_, i) => i), 'in order, each once');
  });

  test(`${protocol}: shutdown with four requests unanswered and no disk spool counts every record (shutdown)`, async (t) => {
    const hung = new OtlpReceiver({ protocol: kind, answer: () => ({ kind: 'ok', delayMs: 60_000 }) });
    await hung.start();
    t.after(() => hung.stop());
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({ endpoint: hung.url, protocol, metrics: { enabled: false },
      traces: { enabled: false }, maxInFlight: 4, shutdownTimeoutMs: 200 }), { drops, env: {}, log: () => {} });
    await exportFour(exporter);
    await waitFor('four in flight', () => exporter.stats().signals.logs.inFlight === 4, 5000, 10);
    await exporter.shutdown();
    const s = exporter.stats().signals.logs;
    assert.equal(s.sentRecords, 0, 'none acknowledged');
    assert.equal(drops.total({ stage: 'export', reason: 'shutdown' }), 4 * BATCH, 'acknowledged + counted = produced');
  });
}

for (const protocol of ['grpc', 'http/protobuf', 'http/json'] as const) {
  const joins = protocol !== 'http/json';
  test(`${protocol}: batches queued behind a busy window ${joins ? 'go out as one request' : 'stay separate (JSON cannot be joined)'}; every record once, in order`, async (t) => {
    // The first answer takes 1.5 s; the three batches made after the first request arrived queue behind it.
    const receiver = new OtlpReceiver({ protocol: protocol === 'grpc' ? 'grpc' : 'http',
      answer: (_s, n) => ({ kind: 'ok', delayMs: n === 0 ? 1500 : 0 }) });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
      traces: { enabled: false }, maxInFlight: 1 }), { drops, env: {}, log: () => {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    exporter.export(Array.from({ length: BATCH }, (_, i) => event(i)));
    await waitFor('the first request', () => receiver.received.length === 1, 5000, 5);
    for (let b = 1; b < 4; b++) {
      exporter.export(Array.from({ length: BATCH }, (_, i) => event(b * BATCH + i)));
      await sleep(40); // past delayMs: each is its own batch
    }
    await waitFor('all records acknowledged', () => exporter.stats().signals.logs.sentRecords === 4 * BATCH, 15_000, 20);
    const requests = receiver.received.filter((r) => r.signal === 'logs').length;
    assert.equal(requests, joins ? 2 : 4, 'requests the receiver got');
    assert.equal(exporter.stats().signals.logs.mergedBatches, joins ? 2 : 0);
    assert.deepEqual(seqs(receiver), Array.from({ length: 4 * BATCH }, (_, i) => i), 'every record once, in order');
    assert.equal(drops.total(), 0);
  });
}
