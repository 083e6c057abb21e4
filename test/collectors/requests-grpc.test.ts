// Request capture of real gRPC (grpc-js client and server over loopback, HTTP/2): unary OK and error, server
// streaming, bidi, 32 calls in flight with 1 KiB messages (Node coalesces many frames into one read), and 20 KB of
// metadata (HEADERS + CONTINUATION). Walking the captured HTTP/2 frames on both ends of the connection, every frame
// header and every HEADERS/CONTINUATION payload must have been copied: HPACK state needs whole header blocks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { needsRoot } from '../helpers/root';
import { RequestsCollector } from '../../src/collectors/requests';
import { runCollector, type Running } from './collect';
import { Recorder, type RecordedConnection } from './requests/recorder';

let run: Running | undefined;
let collector: RequestsCollector;
const recorder = new Recorder();

before(async () => {
  if (needsRoot.skip) return;
  collector = new RequestsCollector({ consumer: recorder.factory });
  run = await runCollector(collector, { collectors: { requests: { enabled: true } } });
});

after(async () => {
  await run?.stop();
});

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

interface FrameWalk { frames: number; headerFrames: number; continuation: number; walked: number; problem?: string }

/** Walks HTTP/2 frames over a captured stream; the client's send stream starts with the 24-byte preface. */
function walkFrames(conn: RecordedConnection, direction: 'send' | 'recv', preface: boolean): FrameWalk {
  const r = Recorder.rebuild(conn, direction);
  const bytes = Buffer.alloc(r.length);
  const copied = new Uint8Array(r.length);
  for (const p of r.pieces) { p.data.copy(bytes, p.at); copied.fill(1, p.at, p.at + p.data.length); }
  const all = (a: number, b: number) => { for (let i = a; i < b; i++) if (!copied[i]) return false; return true; };
  const w: FrameWalk = { frames: 0, headerFrames: 0, continuation: 0, walked: 0 };
  let at = preface ? 24 : 0;
  while (at + 9 <= r.length) {
    if (!all(at, at + 9)) { w.problem = `frame header at ${at} not copied`; break; }
    const len = bytes.readUIntBE(at, 3);
    const type = bytes[at + 3];
    if (type === 1 || type === 9) {
      if (!all(at + 9, at + 9 + len)) { w.problem = `header block bytes of the frame at ${at} not copied`; break; }
      if (type === 1) w.headerFrames++; else w.continuation++;
    }
    w.frames++;
    at += 9 + len;
  }
  w.walked = at;
  return w;
}

test('grpc-js unary, error, server streaming, bidi and 20 KB metadata: every header block captured whole', needsRoot, async () => {
  const server = new grpc.Server();
  server.addService(SERVICE, {
    say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
    fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
    list: (call: grpc.ServerWritableStream<Buffer, Buffer>) => { for (let i = 0; i < 10; i++) call.write(Buffer.alloc(300, i)); call.end(); },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => { call.on('data', (d: Buffer) => call.write(d)); call.on('end', () => call.end()); },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => unknown> & grpc.Client;
  const unary = (m: string, req: Buffer, md = new grpc.Metadata()) => new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) =>
    (client[m] as (r: Buffer, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void)(req, md, (err, res) => resolve({ err, res })));
  try {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 32; i++) calls.push(unary('say', Buffer.alloc(1024, i)));
    const results = await Promise.all(calls) as { err: grpc.ServiceError | null }[];
    assert.ok(results.every((r) => r.err === null));
    const failed = await unary('fail', Buffer.from('x'));
    assert.equal(failed.err?.code, grpc.status.NOT_FOUND);
    const big = new grpc.Metadata();
    big.set('x-large', 'v'.repeat(20_000));
    assert.equal((await unary('say', Buffer.from('big'), big)).err, null);
    const listed = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const s = (client.list as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('go'));
      s.on('data', () => n++); s.on('end', () => resolve(n)); s.on('error', reject);
    });
    assert.equal(listed, 10);
    const echoed = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const s = (client.chat as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
      s.on('data', () => n++); s.on('end', () => resolve(n)); s.on('error', reject);
      for (let i = 0; i < 5; i++) s.write(Buffer.alloc(100, i));
      s.end();
    });
    assert.equal(echoed, 5);
  } finally {
    client.close();
    server.forceShutdown();
  }
  const conns = () => recorder.connections.filter((c) => c.info.tuple.peerPort === port || c.info.tuple.localPort === port);
  assert.ok(await run!.waitFor(() => conns().length >= 2 && conns().every((c) => c.closed), 8000), 'both ends captured and closed');
  const cl = conns().find((c) => c.info.tuple.peerPort === port)!;
  const sv = conns().find((c) => c.info.tuple.localPort === port)!;
  assert.equal(cl.info.protocol, 2);
  assert.equal(cl.info.role, 'client');
  assert.equal(sv.info.role, 'server');
  for (const [conn, dir, preface, label] of [[cl, 'send', true, 'client send'], [sv, 'recv', true, 'server recv'], [sv, 'send', false, 'server send'], [cl, 'recv', false, 'client recv']] as const) {
    const w = walkFrames(conn, dir, preface);
    assert.equal(w.problem, undefined, `${label}: ${w.problem}`);
    assert.equal(w.walked, Recorder.rebuild(conn, dir).length, `${label}: frames cover the whole stream`);
    // Requests: 32 + 1 + 1 + 1 + 1 HEADERS at least; responses: headers and trailers.
    assert.ok(w.headerFrames >= 36, `${label}: ${w.headerFrames} HEADERS frames`);
  }
  assert.ok(walkFrames(cl, 'send', true).continuation >= 1, 'the 20 KB metadata needed CONTINUATION and it was captured');
});
