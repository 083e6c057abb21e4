// Parse cost per request of the protocol parsers (src/protocols), in one run: realistic HTTP/1.1 keep-alive,
// HTTP/2 (HPACK with a warm dynamic table) and gRPC unary traffic is built once, then fed to ProtocolSession in
// the chunks a capture would hand over, many times. Prints CPU ns/request and requests/s per core as a table.
import * as os from 'node:os';
import { ProtocolSession, type CapturedChunk } from '../src/protocols/session';
import { block, F, frame, grpcMessage, hp, PREFACE, T } from '../test/protocols/h2-build';

const REQUESTS_PER_CONN = 100;

function http1(): CapturedChunk[] {
  const out: CapturedChunk[] = [];
  for (let i = 0; i < REQUESTS_PER_CONN; i++) {
    out.push({ direction: 'send', data: Buffer.from(`GET /api/users/${i}/orders?page=2 HTTP/1.1\r\nHost: shop.svc:8080\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nAuthorization: Bearer abc.def.ghi\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n`), length: 0, timeNs: BigInt(i * 2) });
    out.push({ direction: 'recv', data: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 256\r\nDate: Sat, 28 Nov 2026 12:00:00 GMT\r\n\r\n${'x'.repeat(256)}`), length: 0, timeNs: BigInt(i * 2 + 1) });
  }
  return out.map((c) => ({ ...c, length: c.data.length }));
}

function http2(grpc: boolean): CapturedChunk[] {
  const out: CapturedChunk[] = [{ direction: 'send', data: Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0)]), length: 0, timeNs: 0n },
    { direction: 'recv', data: frame(T.SETTINGS, 0, 0), length: 0, timeNs: 0n }];
  for (let i = 0; i < REQUESTS_PER_CONN; i++) {
    const id = 1 + 2 * i;
    // the first request inserts into the dynamic table; later ones refer to it, as real encoders do
    const first = i === 0;
    const req = grpc
      ? block(hp.indexed(3), hp.indexed(6), first ? hp.insertIdx(4, '/shop.Orders/List') : hp.indexed(65), first ? hp.insertIdx(1, 'shop.svc:8080') : hp.indexed(64),
        first ? hp.insertIdx(31, 'application/grpc') : hp.indexed(63), first ? hp.insert('te', 'trailers') : hp.indexed(62))
      : block(hp.indexed(2), hp.indexed(6), hp.literalIdx(4, `/api/users/${i}/orders`), first ? hp.insertIdx(1, 'shop.svc:8080') : hp.indexed(63),
        first ? hp.insertIdx(58, 'bench/1.0') : hp.indexed(62), hp.literal('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'));
    const reqFrames = grpc ? Buffer.concat([frame(T.HEADERS, F.END_HEADERS, id, req), frame(T.DATA, F.END_STREAM, id, grpcMessage('q'.repeat(64)))])
      : frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, req);
    const resp = grpc
      ? Buffer.concat([frame(T.HEADERS, F.END_HEADERS, id, block(hp.indexed(8), first ? hp.insertIdx(31, 'application/grpc') : hp.indexed(62))),
        frame(T.DATA, 0, id, grpcMessage('r'.repeat(256))), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, block(first ? hp.insert('grpc-status', '0') : hp.indexed(62)))])
      : Buffer.concat([frame(T.HEADERS, F.END_HEADERS, id, block(hp.indexed(8), hp.literalIdx(31, 'application/json'))), frame(T.DATA, F.END_STREAM, id, Buffer.alloc(256, 0x78))]);
    out.push({ direction: 'send', data: reqFrames, length: 0, timeNs: BigInt(i * 2 + 2) });
    out.push({ direction: 'recv', data: resp, length: 0, timeNs: BigInt(i * 2 + 3) });
  }
  return out.map((c) => ({ ...c, length: c.data.length }));
}

function measure(name: string, chunks: CapturedChunk[], rounds: number): { name: string; ns: number; perSec: number } {
  let reported = 0;
  const runOnce = () => {
    const s = new ProtocolSession('client');
    for (const c of chunks) s.push(c);
    s.close(1_000_000n);
    reported += s.takeRequests().length;
  };
  for (let i = 0; i < 20; i++) runOnce(); // warm up the JIT
  reported = 0;
  // CPU time, not wall time: this box is shared, and a parser's cost is the CPU it takes
  const start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) runOnce();
  const used = process.cpuUsage(start);
  const ns = (used.user + used.system) * 1000;
  if (reported !== rounds * REQUESTS_PER_CONN) throw new Error(`${name}: expected ${rounds * REQUESTS_PER_CONN} records, got ${reported}`);
  return { name, ns: ns / reported, perSec: reported / (ns / 1e9) };
}

const rows = [measure('http1 (keep-alive, 256 B bodies)', http1(), 300), measure('http2 (HPACK, dynamic table)', http2(false), 300),
  measure('grpc unary (trailers, message counts)', http2(true), 300)];
console.log(`load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs (CPU time per request, so load inflates it less than wall time)`);
console.log('| parser | CPU ns/request | requests/s per core |');
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.ns)} | ${Math.round(r.perSec).toLocaleString('en')} |`);
