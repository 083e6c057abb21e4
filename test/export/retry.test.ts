// How the exporter answers a collector that throttles or refuses: it waits at least as long as the server asks
// (HTTP Retry-After, gRPC RESOURCE_EXHAUSTED with RetryInfo) before retrying, gives up permanently rejected batches
// and counts them, and counts the records a partial success rejected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter } from '../../src/export/otlp';
import { config, event, waitFor } from './helpers';
import { OtlpReceiver, type Answer } from './receiver';

const throttles: Array<{ protocol: 'grpc' | 'http/protobuf'; answer: Answer; delayMs: number }> = [
  { protocol: 'http/protobuf', answer: { kind: 'http', status: 429, retryAfter: '1' }, delayMs: 1000 },
  { protocol: 'grpc', answer: { kind: 'grpc', code: 8 /* RESOURCE_EXHAUSTED */, retryDelayMs: 1200 }, delayMs: 1200 },
];

for (const c of throttles) {
  test(`${c.protocol}: a throttled batch is retried no sooner than the server asked, then delivered`, async (t) => {
    const attempts: number[] = [];
    const receiver = new OtlpReceiver({
      protocol: c.protocol === 'grpc' ? 'grpc' : 'http',
      answer: (_s, n) => { attempts.push(Date.now()); return n < 2 ? c.answer : { kind: 'ok' }; },
    });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol: c.protocol,
      metrics: { enabled: false }, retry: { initialBackoffMs: 10, maxBackoffMs: 5000 } }), { drops, env: {}, log: () => {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    exporter.export([event(1), event(2)]);
    await waitFor('delivery after throttling', () => receiver.logRecords().length === 2);
    assert.equal(attempts.length, 3, 'two throttled attempts, then one that succeeds');
    // Lower bounds only: a busy machine can make the gaps longer, never shorter.
    assert.ok(attempts[1]! - attempts[0]! >= c.delayMs - 5, `waited ${attempts[1]! - attempts[0]!} ms`);
    assert.ok(attempts[2]! - attempts[1]! >= c.delayMs - 5, `waited ${attempts[2]! - attempts[1]!} ms`);
    assert.equal(drops.total(), 0);
  });
}

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`${protocol}: a permanently rejected batch is given up and counted; the next one goes through`, async (t) => {
    const receiver = new OtlpReceiver({
      protocol: protocol === 'grpc' ? 'grpc' : 'http',
      answer: (_s, n) => (n === 0
        ? (protocol === 'grpc' ? { kind: 'grpc', code: 3 /* INVALID_ARGUMENT */ } : { kind: 'http', status: 400 })
        : { kind: 'ok' }),
    });
    await receiver.start();
    const drops = new DropCounters();
    const messages: string[] = [];
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false } }),
      { drops, env: {}, log: (m) => messages.push(m) });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    exporter.export([event(1), event(2, 'network.tcp.connect')]);
    await waitFor('the rejection to be counted', () => drops.total({ reason: 'rejected' }) === 2);
    assert.equal(drops.total({ kind: 'process.exec', reason: 'rejected' }), 1);
    assert.equal(drops.total({ kind: 'network.tcp.connect', reason: 'rejected' }), 1);
    assert.ok(messages.some((m) => /rejected/.test(m) && /(400|INVALID_ARGUMENT)/.test(m)), messages.join('\n'));
    exporter.export([event(3)]);
    await waitFor('the next batch', () => receiver.logRecords().length === 1);
    assert.equal(receiver.logRecords()[0]!.attributes['tapio.seq'], 3);
  });
}

test('records a partial success rejected are counted', async (t) => {
  const receiver = new OtlpReceiver({ protocol: 'grpc', answer: () => ({ kind: 'ok', rejected: 3 }) });
  await receiver.start();
  const drops = new DropCounters();
  const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol: 'grpc', metrics: { enabled: false } }),
    { drops, env: {}, log: () => {} });
  t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
  exporter.export(Array.from({ length: 10 }, (_, i) => event(i)));
  await waitFor('the partial rejection to be counted', () => drops.total({ reason: 'rejected_partial' }) === 3);
  assert.equal(exporter.stats().signals.logs.sentRecords, 7);
});

test('a full in-memory queue drops with reason queue_full, and never blocks the caller', async (t) => {
  const receiver = new OtlpReceiver({ protocol: 'http' });
  await receiver.start();
  await receiver.stop(); // collector down, no disk spool: only memory holds records
  const drops = new DropCounters();
  const exporter = createOtlpExporter(config({ endpoint: receiver.url, metrics: { enabled: false }, queueMaxRecords: 500 }),
    { drops, env: {}, log: () => {} });
  t.after(() => exporter.shutdown());
  for (let i = 0; i < 2000; i += 100) exporter.export(Array.from({ length: 100 }, (_, j) => event(i + j)));
  const stats = exporter.stats().signals.logs;
  assert.equal(stats.queuedRecords + drops.total({ reason: 'queue_full' }), 2000, 'queued + dropped = produced');
  assert.ok(stats.queuedRecords <= 500);
  assert.equal(stats.droppedQueueFull, drops.total({ reason: 'queue_full' }));
});
