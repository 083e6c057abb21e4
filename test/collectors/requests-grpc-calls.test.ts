// gRPC calls become grpc.request events and RPC spans (needs root: real capture, @grpc/grpc-js on both ends over
// loopback): unary OK, an error status (a trailers-only response), server streaming that lasts as long as it really
// does (status from the trailers at END_STREAM, not the first HEADERS), bidi with message counts, and metadata large
// enough for CONTINUATION frames. Both ends report every call: made = reported + counted lost.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { needsRoot } from '../helpers/root';
import { requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

let ra: RequestsAgent | undefined;
let server: grpc.Server | undefined;
let client: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
let port = 0;
const STREAM_MS = 300;

const id = (b: Buffer) => b;
const def = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
});
const SERVICE = {
  say: def('/tapio.test.Echo/Say', false, false),
  fail: def('/tapio.test.Echo/Fail', false, false),
  list: def('/tapio.test.Echo/List', false, true),
  chat: def('/tapio.test.Echo/Chat', true, true),
};

before(async () => {
  if (needsRoot.skip) return;
  ra = await startRequestsAgent();
  server = new grpc.Server();
  server.addService(SERVICE, {
    say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
    fail: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
    list: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      let n = 0;
      const t = setInterval(() => {
        call.write(Buffer.from(`item ${n}`));
        if (++n === 5) { clearInterval(t); call.end(); }
      }, STREAM_MS / 5);
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (m: Buffer) => call.write(m));
      call.on('end', () => call.end());
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Ctor = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
});

after(async () => {
  client?.close();
  server?.forceShutdown();
  await ra?.stop();
});

const unary = (method: 'say' | 'fail', body: Buffer, md = new grpc.Metadata()) => new Promise<grpc.StatusObject | undefined>((resolve) => {
  (client[method] as (b: Buffer, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void)(body, md, (e) => resolve(e ?? undefined));
});

test('unary OK and NOT_FOUND, server streaming, bidi, 20 KB metadata: both ends, status from trailers, real durations', needsRoot, async () => {
  const lostBefore = ra!.lost();
  for (let i = 0; i < 8; i++) assert.equal(await unary('say', Buffer.from(`hello ${i}`)), undefined);
  const err = await unary('fail', Buffer.from('x'));
  assert.equal(err?.code, grpc.status.NOT_FOUND);
  const big = new grpc.Metadata();
  big.set('x-large', 'm'.repeat(20_000));
  assert.equal(await unary('say', Buffer.from('big'), big), undefined);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const s = (client.list as (b: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('go'));
    s.on('data', () => undefined).on('error', reject).on('end', () => resolve());
  });
  const streamMs = Date.now() - started;
  await new Promise<void>((resolve, reject) => {
    const s = (client.chat as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    let got = 0;
    s.on('data', () => { if (++got === 3) s.end(); }).on('error', reject).on('end', () => resolve());
    for (let i = 0; i < 3; i++) s.write(Buffer.from(`msg ${i}`));
  });
  const made = 8 + 1 + 1 + 1 + 1;
  await until('every call on both ends', () => {
    const r = requestsOn(ra!.sink, port);
    return r.server.length + r.client.length + (ra!.lost() - lostBefore) >= 2 * made;
  });
  const r = requestsOn(ra!.sink, port);
  assert.equal(r.server.length, made, 'server side reported every call');
  assert.equal(r.client.length, made, 'client side reported every call');
  for (const side of [r.server, r.client]) {
    const by = (m: string) => side.filter((e) => e.attributes['rpc.method'] === m);
    assert.equal(by('Say').length, 9);
    assert.ok(by('Say').every((e) => e.attributes['rpc.grpc.status_code'] === 0 && e.attributes['rpc.service'] === 'tapio.test.Echo'));
    assert.ok(side.every((e) => e.name === 'grpc.request' && e.attributes['rpc.system'] === 'grpc'));
    const fail = by('Fail')[0]!;
    assert.equal(fail.attributes['rpc.grpc.status_code'], grpc.status.NOT_FOUND, 'trailers-only status');
    assert.equal(fail.attributes['tapio.rpc.grpc.status_message'], 'no such thing');
    const list = by('List')[0]!;
    assert.equal(list.attributes['rpc.grpc.status_code'], 0);
    assert.equal(list.attributes['tapio.rpc.response_messages'], 5);
    // Lasts until END_STREAM with the trailers, not the first response HEADERS.
    const ms = Number(list.request!.durationNs) / 1e6;
    assert.ok(ms >= STREAM_MS * 0.6 && ms <= streamMs + 50, `streaming call lasted ${ms} ms (client saw ${streamMs} ms)`);
    const chat = by('Chat')[0]!;
    assert.equal(chat.attributes['tapio.rpc.request_messages'], 3);
    assert.equal(chat.attributes['tapio.rpc.response_messages'], 3);
  }
  // Spans: server and client kind, named pkg.Service/Method, error status on the NOT_FOUND client span.
  await until('the spans at the collector', () => ra!.receiver.spans().filter((s) => s.attributes['server.port'] === port).length >= 2 * made);
  const spans = ra!.receiver.spans().filter((s) => s.attributes['server.port'] === port);
  assert.equal(spans.filter((s) => s.kind === 2).length, made);
  assert.equal(spans.filter((s) => s.kind === 3).length, made);
  const failClient = spans.find((s) => s.kind === 3 && s.name === 'tapio.test.Echo/Fail')!;
  assert.equal(failClient.statusCode, 2, 'client span of a failed call has status ERROR');
  assert.equal(failClient.attributes['rpc.grpc.status_code'], 5);
  await until('the rpc duration histograms', () => ['rpc.server.call.duration', 'rpc.client.call.duration']
    .every((m) => (ra!.receiver.latestMetrics().get(m) ?? []).some((p) => p.attributes['rpc.method'] === 'Say' && (p.count ?? 0) >= 9)));
});
