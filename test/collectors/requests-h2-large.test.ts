// HTTP/2 writes larger than 64 KiB with real peers (needs root: real kernel capture): Node's http2 server answers
// with 150 KiB bodies, which it writes in single writev calls of more than 64 KiB, and then more requests follow on
// the same connection. Their header blocks come after the large DATA writes and use the HPACK dynamic table, so one
// lost header byte would give them wrong paths: both ends must report every request with its own path and status.
// And grpc-js under load, whose syscalls go well past 64 KiB with header blocks behind DATA frames.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { needsRoot } from '../helpers/root';
import { requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';
import { BIG, bigAnswers, triple } from './requests/h2-big';

let ra: RequestsAgent | undefined;

before(async () => {
  if (needsRoot.skip) return;
  ra = await startRequestsAgent({ receiverDown: true });
});

after(async () => {
  await ra?.stop();
});

test('Node http2: 150 KiB responses, then more requests on the same connection, every path right on both ends', needsRoot, async () => {
  const { made, server, client } = await bigAnswers(ra!);
  assert.deepEqual(server.map(triple).sort(), [...made].sort(), 'server side');
  assert.deepEqual(client.map(triple).sort(), [...made].sort(), 'client side');
  for (const e of [...server, ...client]) assert.notEqual(e.attributes['tapio.request.partial'], true, 'every header known');
  const big = server.find((e) => e.request!.target === '/big/0')!;
  assert.equal(big.request!.responseBodyBytes, BIG, 'the body length is exact');
});

test('grpc-js, 64 calls of 1 KiB in flight: syscalls over 64 KiB with HEADERS after DATA, every call on both ends', needsRoot, async (t) => {
  // grpc-js is Node's http2 underneath. Under this load it writes and reads well over 64 KiB per syscall, with
  // the trailers and the next calls' HEADERS behind DATA frames: a 64 KiB bound lost them and desynchronised the
  // connection (all 1280 calls of one end counted lost). Needs http2BytesPerSyscall above those syscalls (256 KiB).
  const id = (b: Buffer) => b;
  const service = { say: { path: '/large.Echo/Say', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
  const server = new grpc.Server();
  server.addService(service as unknown as grpc.ServiceDefinition, { say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  const Client = grpc.makeGenericClientConstructor(service, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const say = (client as unknown as { say(p: Buffer, cb: (e: Error | null) => void): void }).say.bind(client);
  const lostBefore = ra!.lost();
  const payload = Buffer.alloc(1024, 7);
  let made = 0;
  for (let round = 0; round < 20; round++) {
    await Promise.all(Array.from({ length: 64 }, () => new Promise<void>((resolve, reject) => say(payload, (e) => (e ? reject(e) : resolve())))));
    made += 64;
  }
  client.close();
  await until(`${made} calls on both ends`, () => {
    const r = requestsOn(ra!.sink, port);
    return r.server.length + r.client.length >= 2 * made || ra!.lost() - lostBefore >= made;
  }, 30_000);
  const r = requestsOn(ra!.sink, port);
  assert.equal(r.server.length, made, `server side (lost meanwhile: ${ra!.lost() - lostBefore})`);
  assert.equal(r.client.length, made, 'client side');
  for (const e of [...r.server, ...r.client]) {
    assert.equal(e.attributes['rpc.method'], 'Say');
    assert.equal(e.attributes['rpc.service'], 'large.Echo');
    assert.equal(e.attributes['rpc.grpc.status_code'], 0);
  }
});
