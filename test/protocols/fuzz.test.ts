// Fuzzing the parsers with a seeded PRNG (reproducible): valid seed conversations for HTTP/1, HTTP/2 frames, HPACK
// blocks and gRPC framing are mutated (bit flips, truncation, splicing, random lengths, copied bytes cut short)
// and fed to ProtocolSession. Over 1M cases: no exception may escape, no internal error may be caught, and memory
// per connection stays bounded. Prints cases/s per parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HpackDecoder, HpackError } from '../../src/protocols/hpack/decoder';
import { GrpcMessageCounter } from '../../src/protocols/grpc';
import { ProtocolSession, type CapturedChunk } from '../../src/protocols/session';
import { block, F, frame, getRequest, grpcMessage, hp, PREFACE, T } from './h2-build';

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

type Conv = CapturedChunk[];
const at = (direction: 'send' | 'recv', data: Uint8Array | string, i: number): CapturedChunk => {
  const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return { direction, data: d, length: d.length, timeNs: BigInt(i) * 1000n };
};

const HTTP1_SEEDS: Conv[] = [
  ['GET /a?x=1 HTTP/1.1\r\nHost: h\r\nCookie: s=1\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
  ['POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\nT: v\r\n\r\n'],
  ['PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', 'xyz', 'HTTP/1.0 204 No Content\r\n\r\n'],
  ['GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nHEAD /3 HTTP/1.1\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 NF\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'],
  ['GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', 'HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'],
  ['GET /h2 HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n', 'HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n\0\0\0\x04\0\0\0\0\0\0\0\x01\x01\x04\0\0\0\x01\x88'],
  ['GET /old HTTP/1.0\r\n\r\n', 'HTTP/1.0 200 OK\r\n\r\nuntil close'],
].map((conv) => conv.map((d, i) => at(d.startsWith('HTTP/') || i % 2 === 1 && !/^[A-Z]+ \//.test(d) ? 'recv' : 'send', d, i)));

const grpcReq = (id: number, path: string) => frame(T.HEADERS, F.END_HEADERS, id, block(hp.indexed(3), hp.indexed(6), hp.insertIdx(4, path), hp.insert('content-type', 'application/grpc'), hp.insert('te', 'trailers')));
const HTTP2_SEEDS: Conv[] = [
  [at('send', Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, Buffer.from([0, 1, 0, 0, 0x10, 0])), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, getRequest('/a', [hp.insert('x-k', 'v')]))]), 0),
    at('recv', Buffer.concat([frame(T.SETTINGS, 0, 0), frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(8), hp.insert('server', 's'))), frame(T.DATA, F.PADDED | F.END_STREAM, 1, Buffer.from([1, 65, 0]))]), 1),
    at('send', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, getRequest('/b', [hp.indexed(62)])), 2),
    at('recv', Buffer.concat([frame(T.RST, 0, 3, Buffer.from([0, 0, 0, 8])), frame(T.GOAWAY, 0, 0, Buffer.alloc(8))]), 3)],
  [at('send', Buffer.concat([PREFACE, grpcReq(1, '/p.S/M'), frame(T.DATA, 0, 1, grpcMessage('hi')), frame(T.DATA, F.END_STREAM, 1, grpcMessage('there'))]), 0),
    at('recv', Buffer.concat([frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(8), hp.insert('content-type', 'application/grpc'))), frame(T.DATA, 0, 1, grpcMessage('r1'))]), 1),
    at('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.insert('grpc-status', '0'), hp.insert('grpc-message', 'a%20b'))), 2),
    at('send', Buffer.concat([grpcReq(3, '/p.S/N'), frame(T.DATA, F.END_STREAM, 3, grpcMessage(''))]), 3),
    at('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, block(hp.indexed(8), hp.indexed(63), hp.literal('grpc-status', '5'))), 4)],
  (() => {
    const b = getRequest('/big', [hp.sizeUpdate(100), hp.literal('x-big', 'z'.repeat(300))]);
    return [at('send', Buffer.concat([PREFACE, frame(T.HEADERS, F.END_STREAM, 1, b.subarray(0, 100)), frame(T.CONTINUATION, 0, 1, b.subarray(100, 200)), frame(T.CONTINUATION, F.END_HEADERS, 1, b.subarray(200))]), 0),
      at('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block(hp.indexed(13))), 1)];
  })(),
];

/** One mutated conversation built from the seeds. */
function mutate(rand: () => number, seeds: Conv[]): Conv {
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)]!;
  let conv: { direction: "send" | "recv"; data: Buffer; length: number; timeNs: bigint }[] = pick(seeds).map((c) => ({ ...c, data: Buffer.from(c.data) }));
  const rounds = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < rounds; r++) {
    const i = Math.floor(rand() * conv.length);
    const c = conv[i]!;
    switch (Math.floor(rand() * 8)) {
      case 0: for (let k = 0; k < 1 + rand() * 8 && c.data.length > 0; k++) c.data[Math.floor(rand() * c.data.length)]! ^= 1 << Math.floor(rand() * 8); break;
      case 1: c.data = c.data.subarray(0, Math.floor(rand() * c.data.length)); c.length = c.data.length; break; // truncation
      case 2: c.length = c.data.length + Math.floor(rand() * 5000); c.data = c.data.subarray(0, Math.floor(rand() * (c.data.length + 1))); break; // bytes not copied
      case 3: { const o = pick(pick(seeds)); const cutAt = Math.floor(rand() * c.data.length); c.data = Buffer.concat([c.data.subarray(0, cutAt), o.data.subarray(Math.floor(rand() * o.data.length))]); c.length = c.data.length; break; } // splice
      case 4: if (c.data.length > 0) { const p = Math.floor(rand() * c.data.length); c.data[p] = [0, 0xff, 0x7f, 0x80, 0x3f, 0x40][Math.floor(rand() * 6)]!; } break; // boundary values (lengths, indices)
      case 5: { const p = Math.floor(rand() * (c.data.length + 1)); c.data = Buffer.concat([c.data.subarray(0, p), Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 20) }, () => Math.floor(rand() * 256))), c.data.subarray(p)]); c.length = c.data.length; break; }
      case 6: { const p = Math.floor(rand() * c.data.length); conv.splice(i, 1, { ...c, data: c.data.subarray(0, p), length: p }, { ...c, data: c.data.subarray(p), length: c.data.length - p }); break; } // re-chunk
      default: conv = [...conv, ...pick(seeds).map((x) => ({ ...x, data: Buffer.from(x.data) }))].slice(0, 12); break; // reorder/append a conversation
    }
  }
  return conv;
}

function runSession(conv: Conv, role: 'client' | 'server', limits?: object): ProtocolSession {
  const s = new ProtocolSession(role, { limits, captureBodyBytes: 64, captureHeaders: ['cookie', 'x-k'] });
  for (const c of conv) { s.push(c); s.takeRequests(); }
  s.close(99_999n);
  s.takeRequests();
  assert.equal(s.lastError, undefined, `internal error: ${s.lastError}`);
  return s;
}

function fuzz(name: string, cases: number, one: (rand: () => number, i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < cases; i++) {
    const rand = prng(0x9e3779b9 ^ (i * 2654435761) ^ name.length);
    try { one(rand, i); } catch (err) { throw new Error(`${name} case ${i} (reproduce with this index): ${(err as Error).stack}`); }
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`fuzz ${name}: ${cases} cases in ${s.toFixed(1)} s (${Math.round(cases / s)} cases/s), 0 crashes`);
  return cases;
}

test('fuzz: 1M+ mutated cases over HTTP/1, HTTP/2 frames, HPACK and gRPC framing, 0 crashes', () => {
  let total = 0;
  total += fuzz('http1', 300_000, (rand, i) => runSession(mutate(rand, HTTP1_SEEDS), i % 2 ? 'client' : 'server'));
  total += fuzz('http2', 300_000, (rand, i) => runSession(mutate(rand, HTTP2_SEEDS), i % 2 ? 'client' : 'server',
    i % 3 === 0 ? { maxHeaderBlockBytes: 200, maxConcurrentStreams: 2, maxHpackTableBytes: 256 } : undefined));
  const blocks = HTTP2_SEEDS.flat().map((c) => c.data);
  total += fuzz('hpack', 300_000, (rand) => {
    const d = new HpackDecoder(rand() < 0.5 ? 4096 : 256);
    if (rand() < 0.3) d.markUnknown();
    const src = blocks[Math.floor(rand() * blocks.length)]!;
    const b = Buffer.from(src.subarray(Math.floor(rand() * 20)));
    for (let k = 0; k < 1 + rand() * 6 && b.length > 0; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    for (let k = 0; k < 3; k++) {
      try { d.decode(b.subarray(0, Math.floor(rand() * (b.length + 1)))); } catch (err) { if (!(err instanceof HpackError)) throw err; }
    }
    assert.ok(d.tableSize <= 4096);
  });
  total += fuzz('grpc-framing', 200_000, (rand) => {
    const counter = new GrpcMessageCounter();
    const b = Buffer.concat(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => grpcMessage('m'.repeat(Math.floor(rand() * 40)))));
    for (let k = 0; k < rand() * 4; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    let p = 0;
    while (p < b.length) { const n = 1 + Math.floor(rand() * 9); counter.feed(b, p, Math.min(b.length, p + n)); p += n; }
    assert.ok(counter.messages >= 0 && counter.messages <= b.length);
  });
  assert.ok(total >= 1_000_000);
});

test('memory per connection stays bounded under input built to grow buffers', () => {
  const limits = { maxHeaderBytes: 8192, maxHeaderBlockBytes: 16384, maxConcurrentStreams: 64 };
  const before = process.memoryUsage().heapUsed;
  const sessions: ProtocolSession[] = [];
  for (let k = 0; k < 20; k++) {
    // an HTTP/1 head that never ends, a chunk-size line that never ends
    const h1 = new ProtocolSession('server', { limits });
    h1.push(at('recv', 'GET / HTTP/1.1\r\n', 0));
    for (let i = 0; i < 500; i++) h1.push(at('recv', 'X-Long: ' + 'a'.repeat(4000), i));
    // HTTP/2: a header block continued forever, and streams opened and never finished
    const h2 = new ProtocolSession('client', { limits });
    h2.push(at('send', Buffer.concat([PREFACE, frame(T.HEADERS, 0, 1, getRequest('/x'))]), 0));
    for (let i = 0; i < 500; i++) h2.push(at('send', frame(T.CONTINUATION, 0, 1, Buffer.alloc(4000, 0x41)), i));
    const h2b = new ProtocolSession('client', { limits });
    h2b.push(at('send', PREFACE, 0));
    for (let i = 0; i < 2000; i++) h2b.push(at('send', frame(T.HEADERS, F.END_HEADERS, 1 + 2 * i, getRequest(`/s/${i}`)), i));
    sessions.push(h1, h2, h2b);
    assert.ok(h1.counters.lost.header_too_large >= 1);
    assert.ok(h2.counters.hpackBlocksLost >= 1);
    assert.equal(h2b.counters.lost.stream_limit, 2000 - 64);
  }
  const grownMb = (process.memoryUsage().heapUsed - before) / 1e6;
  const fedMb = sessions.reduce((n, s) => n + s.counters.bytes, 0) / 1e6;
  console.log(`memory: 60 sessions fed ${fedMb.toFixed(0)} MB of hostile input, heap grew ${grownMb.toFixed(1)} MB`);
  assert.ok(grownMb < 60, `heap grew ${grownMb} MB`);
  assert.equal(sessions.length, 60);
});
