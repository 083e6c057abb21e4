// How long ring batches gather, as the agent derives it from its config (src/collectors/ring-options.ts): small
// batches may wait a quarter of the OTLP batch delay (at most 50 ms), since records wait for their export batch
// anyway; without OTLP, or with a low-latency export, they go at kernel.coalesceMs as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load';
import { ringReaderOptions } from '../../src/collectors/ring-options';

const options = (yaml: string) => ringReaderOptions(parseConfig(yaml));

test('with OTLP export on, a small batch may gather a quarter of batch.delayMs, at most 50 ms', () => {
  assert.deepEqual(options('export: { otlp: { enabled: true } }'),
    { coalesceMs: 5, maxCoalesceMs: 50, batchRecords: 8192, queueBatches: 16 }); // delayMs 200 by default
  assert.equal(options('export: { otlp: { enabled: true, batch: { delayMs: 100 } } }').maxCoalesceMs, 25);
  assert.equal(options('export: { otlp: { enabled: true, batch: { delayMs: 5000 } } }').maxCoalesceMs, 50);
});

test('the low-latency profiles, and no OTLP export, keep kernel.coalesceMs', () => {
  assert.equal(options('kernel: { coalesceMs: 2 }\nexport: { otlp: { enabled: true, batch: { delayMs: 5 } } }').maxCoalesceMs, 2);
  assert.equal(options('kernel: { coalesceMs: 1 }\nexport: { otlp: { enabled: true, batch: { delayMs: 2 } } }').maxCoalesceMs, 1);
  assert.equal(options('{}').maxCoalesceMs, 5);
});

test('kernel.maxCoalesceMs set wins, but never below coalesceMs', () => {
  assert.equal(options('kernel: { maxCoalesceMs: 20 }\nexport: { otlp: { enabled: true } }').maxCoalesceMs, 20);
  assert.equal(options('kernel: { maxCoalesceMs: 200 }').maxCoalesceMs, 200);
  assert.equal(options('kernel: { coalesceMs: 8, maxCoalesceMs: 3 }').maxCoalesceMs, 8);
});
