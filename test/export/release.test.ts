// Sent batches are freed at once (the native releaseBuffer detaches their memory) instead of waiting for V8's next
// full collection, but only once nothing reads them any more. The dangerous case is a collector that answers before
// it has read the whole request body: the socket is still sending the batch from that memory, and freeing it then
// would send freed memory. A real HTTP server here answers 200 at once, then reads the body to its end and decodes
// it: every record must be intact. And a collector that reads first and answers after gets its batches freed.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter } from '../../src/export/otlp';
import { releaseBuffer } from '../../src/kernel/heap';
import { config, event, waitFor } from './helpers';
import { decodeRequest } from './receiver';

const EVENTS = 2000;
const BIG = 'y'.repeat(4000); // 2000 x 4 KB: an 8 MB body, far more than the loopback socket takes at once

function seqsIn(body: Buffer): number[] {
  const out: number[] = [];
  for (const rl of decodeRequest('logs', body).resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) for (const lr of sl.logRecords ?? []) {
    const seq = lr.attributes.find((a: { key: string }) => a.key === 'tapio.seq');
    const cmd = lr.attributes.find((a: { key: string }) => a.key === 'process.command_line');
    if (cmd?.value.stringValue === BIG) out.push(Number(seq.value.intValue));
  }
  return out;
}

for (const early of [true, false]) {
  test(`a collector that answers ${early ? 'before reading the body gets it intact (its batch is not freed while sent)'
    : 'after reading the body gets its batch freed at once'}`, { timeout: 60_000 }, async (t) => {
    const bodies: Buffer[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        if (!early) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
      if (early) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => { server.closeAllConnections(); server.close(); });
    const released: Uint8Array[] = [];
    const exporter = createOtlpExporter(config({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, protocol: 'http/protobuf',
      metrics: { enabled: false }, batch: { maxRecords: EVENTS, delayMs: 20 },
    }), { drops: new DropCounters(), env: {}, log: () => {}, releaseBuffer: (b) => { if (releaseBuffer(b)) released.push(b); } });
    t.after(() => exporter.shutdown());

    exporter.export(Array.from({ length: EVENTS }, (_, i) => event(i, 'process.exec', { 'process.command_line': BIG })));
    await waitFor('the batch answered', () => exporter.stats().signals.logs.sentRecords === EVENTS, 30_000);
    await waitFor('the whole body read by the collector', () => bodies.length === 1, 30_000);

    assert.deepEqual(seqsIn(bodies[0]!), Array.from({ length: EVENTS }, (_, i) => i), 'every record arrived intact');
    if (early) assert.equal(released.length, 0, 'the batch was not freed while its body was still being sent');
    else assert.equal(released.length, 1, 'the delivered batch was freed at once');
  });
}
