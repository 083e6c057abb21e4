// gRPC with @grpc/grpc-js on both ends over loopback, through the recording proxy: unary OK and error (a
// trailers-only response with a percent-encoded message), server streaming that lasts as long as it really does,
// bidi streaming with message counts, and metadata large enough to need CONTINUATION frames.
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { test } from 'node:test';
import { recordingProxy, replay, truncate, type Recording } from './peers';

const passthrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const SERVICE: grpc.ServiceDefinition = {
  Say: { path: '/protol7.Echo/Say', requestStream: false, responseStream: false, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize },
  Count: { path: '/protol7.Echo/Count', requestStream: false, responseStream: true, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize },
  Chat: { path: '/protol7.Echo/Chat', requestStream: true, responseStream: true, requestSerialize: passthrough.serialize, requestDeserialize: passthrough.deserialize, responseSerialize: passthrough.serialize, responseDeserialize: passthrough.deserialize },
};
const OPTIONS = { 'grpc.max_metadata_size': 256 * 1024 };
const STREAM_GAP_MS = 40;

async function startServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(OPTIONS);
  server.addService(SERVICE, {
    Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const text = call.request.toString();
      if (text === 'missing') cb({ code: grpc.status.NOT_FOUND, details: 'no such thing: 100% gone' });
      else cb(null, Buffer.from(`echo ${text}`));
    },
    Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      let i = 0;
      const timer = setInterval(() => {
        call.write(Buffer.from(`n${i}`));
        if (++i === 5) { clearInterval(timer); call.end(); }
      }, STREAM_GAP_MS);
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (d: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), d])));
      call.on('end', () => call.emit('error', { code: grpc.status.ABORTED, details: 'chat over' }));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

async function calls(port: number): Promise<void> {
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), OPTIONS) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  const unary = (text: string, md = new grpc.Metadata()) => new Promise<grpc.StatusObject['code']>((resolve) => {
    (client['Say'] as (r: Buffer, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void)(Buffer.from(text), md, (e) => resolve(e ? e.code : 0));
  });
  assert.equal(await unary('hello'), 0);
  assert.equal(await unary('missing'), grpc.status.NOT_FOUND);
  const big = new grpc.Metadata();
  big.set('x-big', 'm'.repeat(40_000));
  big.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.equal(await unary('with big metadata', big), 0);
  await new Promise<void>((resolve, reject) => {
    const s = (client['Count'] as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('go'));
    let n = 0;
    s.on('data', () => n++);
    s.on('error', reject);
    s.on('status', () => { assert.equal(n, 5); resolve(); });
  });
  await new Promise<void>((resolve) => {
    const s = (client['Chat'] as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    s.on('data', () => {});
    s.on('error', () => resolve()); // the server ends the chat with ABORTED
    for (let i = 0; i < 3; i++) s.write(Buffer.from(`m${i}`));
    s.end();
  });
  client.close();
}

async function record(): Promise<Recording[]> {
  const { server, port } = await startServer();
  const proxy = await recordingProxy(port);
  try {
    await calls(proxy.port);
    await proxy.idle();
    return proxy.connections;
  } finally {
    await proxy.close();
    server.forceShutdown();
  }
}

test('grpc-js unary, server streaming and bidi: method, status, message, counts and durations', async () => {
  const conns = await record();
  for (const role of ['client', 'server'] as const) {
    const r = replay(conns, role);
    assert.equal(r.protocol, 'grpc', JSON.stringify(r.records[0], (k, v) => (typeof v === 'bigint' ? String(v) : v)));
    assert.equal(r.lost, 0, JSON.stringify(r.counters.lost));
    assert.equal(r.records.length, 5, 'made (5 calls) = reported');
    const [ok, missing, big, count, chat] = r.records;
    assert.deepEqual(r.records.map((x) => [x.protocol, x.method, x.status]), [
      ['grpc', '/protol7.Echo/Say', 0], ['grpc', '/protol7.Echo/Say', 5], ['grpc', '/protol7.Echo/Say', 0],
      ['grpc', '/protol7.Echo/Count', 0], ['grpc', '/protol7.Echo/Chat', 10]]);
    assert.equal(ok!.requestMessages, 1);
    assert.equal(ok!.responseMessages, 1);
    assert.equal(missing!.statusMessage, 'no such thing: 100% gone', 'grpc-message percent-decoded');
    assert.equal(missing!.responseMessages, 0, 'a trailers-only error carries no message');
    assert.equal(big!.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    assert.equal(count!.responseMessages, 5);
    assert.ok(count!.durationNs >= BigInt(5 * STREAM_GAP_MS * 0.8 * 1e6), `streaming lasted ${count!.durationNs} ns`);
    assert.ok(ok!.durationNs < count!.durationNs);
    assert.equal(chat!.requestMessages, 3);
    assert.equal(chat!.responseMessages, 3);
    assert.equal(chat!.statusMessage, 'chat over');
  }
  const sends = conns[0]!.filter((c) => c.direction === 'send');
  assert.ok(sends.some((c) => c.length > 16_384), 'the big metadata went out as HEADERS + CONTINUATION');
});

test('grpc-js bytes cut short: no record with a wrong method or status', async () => {
  const conns = await record();
  const truth = new Map([['/protol7.Echo/Say', [0, 5]], ['/protol7.Echo/Count', [0]], ['/protol7.Echo/Chat', [10, 1, 13]]]);
  for (let seed = 1; seed <= 40; seed++) {
    for (const role of ['client', 'server'] as const) {
      const r = replay(truncate(conns, seed, 3, 300), role);
      for (const rec of r.records) {
        assert.ok(truth.get(rec.method)?.includes(rec.status), `seed ${seed}: ${rec.method} ${rec.status} ${JSON.stringify(rec, (k, v) => (typeof v === "bigint" ? String(v) : v))}`);
      }
      assert.ok(r.records.length + r.lost <= 5);
    }
  }
});
