// HTTP/1.1 with real peers over loopback, recorded by a byte-recording proxy and replayed into ProtocolSession on
// both sides (as the client and as the server would be observed): curl keep-alive with bodies and 100-continue,
// pipelined requests to Node's http server, a WebSocket upgrade, and the same bytes with tails cut off.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { test } from 'node:test';
import { recordingProxy, replay, run, truncate, type Recording } from './peers';

/** Status the server answers for a path: `/s/<code>/...` -> code, anything else 200 (201 for uploads). */
function statusFor(method: string, path: string): number {
  const m = /^\/s\/(\d{3})\//.exec(path);
  if (m) return Number(m[1]);
  return method === 'POST' ? 201 : 200;
}

async function startServer(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (d: Buffer) => { size += d.length; });
    req.on('end', () => {
      const status = statusFor(req.method!, req.url!);
      if (req.url!.startsWith('/chunked/')) {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.write('a'.repeat(1000));
        setImmediate(() => { res.write('b'.repeat(3000)); res.end('end'); });
        return;
      }
      const body = req.method === 'POST' ? `got ${size}` : `hello ${req.url}`;
      res.writeHead(status, { 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.on('upgrade', (req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d)); // echo "frames" back, whatever they are
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

async function withProxy<T>(fn: (port: number) => Promise<T>): Promise<{ result: T; connections: Recording[] }> {
  const server = await startServer();
  const proxy = await recordingProxy((server.address() as net.AddressInfo).port);
  try {
    const result = await fn(proxy.port);
    await proxy.idle();
    return { result, connections: proxy.connections };
  } finally {
    await proxy.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

const made = [
  { method: 'GET', path: '/users/1?x=1' }, { method: 'GET', path: '/s/404/missing' },
  { method: 'GET', path: '/chunked/7' }, { method: 'POST', path: '/upload/8', bytes: 5000 },
  { method: 'HEAD', path: '/s/200/head' }, { method: 'GET', path: '/s/503/busy' },
];

async function curlKeepAlive(port: number): Promise<void> {
  const args = ['-s', '--http1.1'];
  made.forEach((r, i) => {
    if (i > 0) args.push('--next');
    args.push('-o', '/dev/null', `http://127.0.0.1:${port}${r.path}`);
    if (r.method === 'POST') args.push('-H', 'Expect: 100-continue', '--data-binary', 'z'.repeat(r.bytes!));
    if (r.method === 'HEAD') args.push('-I');
  });
  await run('curl', args);
}

test('curl keep-alive: every request reported with method, path, status and body sizes, from both ends', async () => {
  const { connections } = await withProxy(curlKeepAlive);
  assert.equal(connections.length, 1, 'curl reused one connection');
  for (const role of ['client', 'server'] as const) {
    const r = replay(connections, role);
    assert.equal(r.protocol, 'http1');
    assert.equal(r.lost, 0, `nothing lost (${JSON.stringify(r.counters.lost)})`);
    assert.equal(r.records.length, made.length, 'made = reported');
    r.records.forEach((rec, i) => {
      assert.equal(rec.side, role);
      assert.equal(rec.method, made[i]!.method);
      assert.equal(rec.target, made[i]!.path);
      assert.equal(rec.status, statusFor(made[i]!.method, made[i]!.path));
      assert.equal(rec.protocolVersion, '1.1');
      assert.ok(rec.durationNs > 0n);
    });
    assert.equal(r.records[0]!.route, '/users/{id}');
    assert.equal(r.records[2]!.responseBodyBytes, 4003, 'chunked body counted without chunk framing');
    assert.equal(r.records[3]!.requestBodyBytes, 5000, 'the body sent after 100 Continue');
    assert.equal(r.records[3]!.status, 201, 'the final status, not the 100 Continue');
    assert.equal(r.records[4]!.responseBodyBytes, 0, 'a HEAD response has no body');
  }
});

test('pipelined requests to Node http are paired in order', async () => {
  const paths = ['/s/200/a', '/s/404/b', '/chunked/c', '/s/500/d', '/s/201/e'];
  const { connections } = await withProxy(async (port) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    await new Promise((r) => sock.once('connect', r));
    sock.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const deadline = Date.now() + 5000;
    while ((got.match(/HTTP\/1\.1 \d{3}/g) ?? []).length < paths.length || !got.endsWith('\r\n\r\n') && !got.endsWith('/s/201/e')) {
      if (Date.now() > deadline) throw new Error(`pipelined responses incomplete: ${got.length} bytes`);
      await new Promise((r) => setTimeout(r, 10));
    }
    sock.end();
  });
  const r = replay(connections, 'client');
  assert.deepEqual(r.records.map((x) => [x.target, x.status]), paths.map((p) => [p, statusFor('GET', p)]));
  assert.equal(r.lost, 0);
});

test('a WebSocket upgrade is reported as such and the frames after it are not parsed as HTTP', async () => {
  const { connections } = await withProxy(async (port) => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    while (!got.includes('\r\n\r\n')) await new Promise((r) => setTimeout(r, 5));
    sock.write('GET /not-a-request HTTP/1.1\r\n\r\n'); // looks like HTTP, but is WebSocket payload now
    while (!got.includes('not-a-request')) await new Promise((r) => setTimeout(r, 5));
    sock.end();
  });
  const r = replay(connections, 'server');
  assert.equal(r.records.length, 1);
  assert.equal(r.records[0]!.status, 101);
  assert.equal(r.records[0]!.upgrade, 'websocket');
  assert.equal(r.records[0]!.target, '/chat');
});

test('curl with copied bytes cut short: desync is detected and no record is wrong', async () => {
  const runs = await Promise.all([0, 1].map(() => withProxy(async (port) => {
    const args = ['-s', '--http1.1'];
    for (let i = 0; i < 40; i++) {
      if (i > 0) args.push('--next');
      const p = i % 3 === 0 ? `/s/404/n${i}` : i % 3 === 1 ? `/chunked/c${i}` : `/s/200/ok${i}`;
      args.push('-o', '/dev/null', `http://127.0.0.1:${port}${p}`);
    }
    await run('curl', args);
  })));
  const connections = runs.flatMap((x) => x.connections);
  let desyncs = 0;
  let reported = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const cut = truncate(connections, seed, 4, 64);
    for (const role of ['client', 'server'] as const) {
      const r = replay(cut, role);
      for (const rec of r.records) assert.equal(rec.status, statusFor(rec.method, rec.target!), `seed ${seed}: ${rec.target}`);
      assert.ok(r.records.length + r.lost <= 80, 'never more than made');
      desyncs += r.counters.desyncs;
      reported += r.records.length;
      assert.ok(r.counters.gaps > 0);
    }
  }
  assert.ok(desyncs > 0, 'some cuts landed in heads');
  assert.ok(reported > 0, 'and requests after them were still reported');
});
