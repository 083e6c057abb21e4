// The exporter's memory stays bounded in bytes while the collector stops answering: a real receiver takes the
// connection and then answers nothing (each request waits far past the exporter's deadline), events of ~4 KiB keep
// coming (20 MB/s, far more than the bound), and what the exporter holds must stay within `queueMaxBytes` the whole
// time. Without a disk spool what does not fit is counted (queue_full, spool_full); with one it goes to disk and
// nothing is dropped. Either way, once the collector answers again every record has arrived or been counted.
// (The record bound is set far out of reach: with records this big, only the byte bound can keep memory down.)
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter } from '../../src/export/otlp';
import { config, event, tempDir, waitFor, writeKey } from './helpers';
import { OtlpReceiver, type Answer } from './receiver';
import { releaseBuffer } from '../../src/kernel/heap';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const BOUND = 4 << 20;
const BATCH = 256;
const PER_TICK = 50; // every 10 ms: 5000 events/s of ~4 KiB, ~20 MB/s
const BIG = 'x'.repeat(4000);
const STALL_MS = 6000;
const MiB = (n: number) => (n / 2 ** 20).toFixed(1);

/** Live ArrayBuffer bytes (Buffers: the encoded batches) after a full collection, so garbage does not count. */
function liveBuffers(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

const cases = [
  { protocol: 'grpc', disk: false },
  { protocol: 'http/protobuf', disk: false },
  { protocol: 'grpc', disk: true },
] as const;

for (const { protocol, disk } of cases) {
  test(`${protocol}, ${disk ? 'disk spool' : 'no disk spool'}: a collector that stops answering holds the exporter ` +
    `to queueMaxBytes, and every record arrives or is counted`, { timeout: 180_000 }, async (t) => {
    const dir = tempDir(t);
    let stalled = false;
    // Stalled: the answer (an error, so the request is not recorded as received) comes only after 10 minutes.
    const stall: Answer = protocol === 'grpc' ? { kind: 'grpc', code: grpc.status.UNAVAILABLE, delayMs: 600_000 }
      : { kind: 'http', status: 503, delayMs: 600_000 };
    const seen = new Set<number>();
    const receiver = new OtlpReceiver({
      protocol: protocol === 'grpc' ? 'grpc' : 'http', keep: false,
      answer: () => (stalled ? stall : { kind: 'ok' }),
      onReceive: (r) => {
        for (const rl of r.body.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) {
          const seq = lr.attributes.find((a: { key: string }) => a.key === 'tapio.seq');
          seen.add(Number(seq.value.intValue));
        }
      },
    });
    await receiver.start();
    const drops = new DropCounters();
    const exporter = createOtlpExporter(config({
      endpoint: receiver.url, protocol, metrics: { enabled: false }, timeoutMs: 3000,
      batch: { maxRecords: BATCH, delayMs: 20 }, queueMaxRecords: 10_000_000, queueMaxBytes: BOUND,
      retry: { initialBackoffMs: 100, maxBackoffMs: 1000 },
      ...(disk ? { spool: { dir: path.join(dir, 'spool'), keyFile: writeKey(dir), fsync: false } } : {}),
    }), { drops, env: {}, log: () => {}, releaseBuffer }); // as the agent builds it
    let producer: NodeJS.Timeout | undefined;
    t.after(async () => { clearInterval(producer); await exporter.shutdown(); await receiver.stop(); });
    await exporter.ready;

    let seq = 0;
    const produce = () => exporter.export(Array.from({ length: PER_TICK }, () => event(seq++, 'process.exec', { 'process.command_line': BIG })));
    producer = setInterval(produce, 10);
    await waitFor('traffic before the stall', () => seen.size > 2000, 30_000, 50);

    const base = liveBuffers();
    stalled = true;
    const producedAtStall = seq;
    let peakHeld = 0;
    let peakBuffers = 0;
    const stallEnds = Date.now() + STALL_MS;
    while (Date.now() < stallEnds) {
      await new Promise((r) => setTimeout(r, 100));
      peakHeld = Math.max(peakHeld, exporter.stats().memory.bytes);
      peakBuffers = Math.max(peakBuffers, liveBuffers() - base);
    }
    const offered = (seq - producedAtStall) * BIG.length;
    stalled = false;
    const producedAtResume = seq;
    await waitFor('records made after the collector answers again', () => [...seen].some((s) => s >= producedAtResume), 60_000, 100);
    clearInterval(producer);
    const total = seq;

    const accounted = () => seen.size + drops.total();
    await waitFor('every record arrived or counted', () => accounted() >= total, 120_000, 200);
    t.diagnostic(`${protocol}: offered ${MiB(offered)} MiB while stalled; exporter held at most ${MiB(peakHeld)} MiB ` +
      `(bound ${MiB(BOUND)}), live Buffers grew by at most ${MiB(peakBuffers)} MiB; produced ${total}, arrived ` +
      `${seen.size}, counted ${JSON.stringify(drops.rows().map((d) => `${d.stage}/${d.reason}=${d.count}`))}`);

    assert.ok(offered > 10 * BOUND, `the stall offered ${MiB(offered)} MiB, far more than the bound`);
    // One batch may be admitted on an estimate of its size before it is encoded.
    const batchBytes = BATCH * (BIG.length + 512);
    assert.ok(peakHeld <= BOUND + batchBytes, `the exporter held ${MiB(peakHeld)} MiB, over the bound`);
    // What the whole process holds in Buffers: the exporter's share, and beyond it a few batches that do not
    // depend on the backlog: the requests in flight and their copies (gRPC framing; the receiver's, in this
    // process), the one batch being written to the disk spool and its encrypted copy, the one read back from it.
    assert.ok(peakBuffers <= BOUND + 8 * batchBytes, `live Buffers grew by ${MiB(peakBuffers)} MiB`);
    // Nothing silently lost; a record counted twice (delivered unanswered, then given up) is possible only for the
    // batch in flight when the collector stopped answering.
    assert.ok(accounted() >= total, 'every record arrived or was counted');
    assert.ok(accounted() <= total + BATCH, `arrived + counted = ${accounted()}, produced ${total}`);
    for (const d of drops.rows()) assert.ok(['queue_full', 'spool_full'].includes(d.reason), `dropped as ${d.reason}`);
    if (disk) assert.equal(drops.total(), 0, 'with a disk spool nothing is dropped');
    else assert.ok(drops.total() > 0, 'without a disk spool what does not fit is counted');
  });
}
