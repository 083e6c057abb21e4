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
const SLOW_MS = 400;
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
    test(`${protocol}: with maxInFlight ${maxInFlight}, a collector answering in ${SLOW_MS} ms gets ${maxInFlight} request(s) at once`, async (t) => {
      const receiver = new OtlpReceiver({ protocol: kind, answer: () => ({ kind: 'ok', delayMs: SLOW_MS }) });
      await receiver.start();
      const drops = new DropCounters();
      // batch.maxRecords 100: four 25-record batches fit the window of one batch's worth of records.
      const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
        traces: { enabled: false }, maxInFlight }), { drops, env: {}, log: () => {} });
      t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
      let peak = 0;
      const watch = setInterval(() => { peak = Math.max(peak, exporter.stats().signals.logs.inFlight); }, 5);
      t.after(() => clearInterval(watch));
      const t0 = Date.now();
      await exportFour(exporter);
      // While the first answer is still on its way, the receiver has seen as many requests as the window holds.
      const seenBeforeFirstAnswer = receiver.received.length;
      await waitFor('all records acknowledged', () => exporter.stats().signals.logs.sentRecords === 4 * BATCH, 15_000, 20);
      const took = Date.now() - t0;
      clearInterval(watch);
      assert.equal(peak, maxInFlight, 'requests in flight at once');
      if (maxInFlight === 4) {
        assert.equal(seenBeforeFirstAnswer, 4, 'four requests arrived before any was answered');
        assert.ok(took < 3 * SLOW_MS, `four slow answers overlapped (${took} ms)`);
      } else {
        assert.equal(seenBeforeFirstAnswer, 1, 'one request at a time');
        assert.ok(took >= 4 * SLOW_MS, `four slow answers one after the other (${took} ms)`);
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
