// How the exporter holds records until their batch goes (src/export/batcher.ts): logs as protobuf are encoded when
// they are exported, so the exporter keeps no event object alive for the batch delay (held for it, events outlived
// V8's young generation and made it collect the old one every few seconds); batches still close at
// batch.maxRecords and go at batch.delayMs; an event that cannot be encoded is counted and the rest still go. A real
// receiver on loopback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { DropCounters } from '../../src/core/drops';
import type { TapioEvent } from '../../src/core/event';
import { createOtlpExporter } from '../../src/export/otlp';
import { config, event, waitFor } from './helpers';
import { OtlpReceiver } from './receiver';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const seqs = (r: OtlpReceiver) => r.logRecords().map((l) => l.attributes['tapio.seq'] as number);

for (const [protocol, kind] of [['grpc', 'grpc'], ['http/protobuf', 'http'], ['http/json', 'http']] as const) {
  test(`${protocol}: batches close at maxRecords, the rest goes at delayMs, every record once`, async (t) => {
    const receiver = new OtlpReceiver({ protocol: kind });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
      traces: { enabled: false }, batch: { maxRecords: 100, delayMs: 1000 } }), { drops, env: {}, log: () => {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    exporter.export(Array.from({ length: 130 }, (_, i) => event(i)));
    exporter.export(Array.from({ length: 120 }, (_, i) => event(130 + i)));
    await waitFor('the two full batches', () => receiver.received.length >= 2, 5000, 10);
    const sizes = () => receiver.received.map((r) => r.body.resourceLogs[0].scopeLogs[0].logRecords.length);
    assert.deepEqual(sizes(), [100, 100], 'full batches go at once');
    await waitFor('both acknowledged, 50 records waiting', () => exporter.stats().signals.logs.queuedRecords === 50, 5000, 5);
    assert.equal(receiver.received.length, 2, 'the open batch waits for its delay');
    await waitFor('the partial batch, after delayMs', () => receiver.received.length >= 3, 5000, 10);
    assert.deepEqual(sizes(), [100, 100, 50]);
    assert.deepEqual(seqs(receiver), Array.from({ length: 250 }, (_, i) => i));
    assert.equal(drops.total(), 0);
  });
}

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`${protocol}: exported events are not kept alive while their batch waits; a bad one is counted, the rest go`, async (t) => {
    const receiver = new OtlpReceiver({ protocol: protocol === 'grpc' ? 'grpc' : 'http' });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({ endpoint: receiver.url, protocol, metrics: { enabled: false },
      traces: { enabled: false }, batch: { maxRecords: 1000, delayMs: 60_000 } }), { drops, env: {}, log: () => {} });
    t.after(async () => { await receiver.stop(); });
    const refs: WeakRef<TapioEvent>[] = [];
    (() => { // the events exist only in here, as a collector's batch does
      const events = Array.from({ length: 100 }, (_, i) => event(i));
      events.splice(50, 0, { ...event(999), timeUnixNano: 'no time' as unknown as bigint }); // cannot be encoded
      for (const e of events) refs.push(new WeakRef(e));
      exporter.export(events);
    })();
    await new Promise((r) => setImmediate(r)); // WeakRef targets are kept until the end of the current job
    gc();
    assert.equal(exporter.stats().signals.logs.queuedRecords, 100, 'the batch is still waiting (delayMs 60 s)');
    assert.equal(refs.filter((r) => r.deref() !== undefined).length, 0, 'no event object is kept alive by the waiting batch');
    assert.equal(drops.rows().find((d) => d.reason === 'serialize_failed')?.count, 1);
    await exporter.shutdown(); // sends what waits
    assert.deepEqual(seqs(receiver), Array.from({ length: 100 }, (_, i) => i));
  });
}
