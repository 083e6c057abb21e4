// Requests on the wire become events, spans and metrics (needs root: real kernel capture, real peers over loopback):
// curl HTTP/1.1 keep-alive and h2c with prior knowledge, Node http and http2, nghttp -> nghttpd. Each scenario
// checks both ends (server and client spans) for method, path and status, and that requests made = requests
// reported + requests counted lost. Secrets sent both ways (Authorization, Cookie, Set-Cookie, x-api-key, a token in
// the query) appear in no output: console JSON, the encrypted spool (decrypted here) and what the OTLP receiver got.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { needsRoot } from '../helpers/root';
import { requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);
let ra: RequestsAgent | undefined;

before(async () => {
  if (needsRoot.skip) return;
  // The secret headers are captured on purpose: their (scrubbed) values then go on every output.
  ra = await startRequestsAgent({ receiverDown: true, configure: (c) => {
    c.collectors.requests.captureHeaders = ['authorization', 'cookie', 'set-cookie', 'x-api-key', 'user-agent'];
  } });
});

after(async () => {
  await ra?.stop();
});

/** A server that answers `/missing*` with 404 and everything else with 200, setting secrets on the way back. */
function handler(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
  req.resume();
  req.on('end', () => {
    const status = req.url?.startsWith('/missing') ? 404 : 200;
    res.writeHead(status, { 'set-cookie': 'session=SRVsecretCookie42; HttpOnly', 'x-api-key': 'SRVsecretApiKey42', 'content-type': 'text/plain' });
    res.end('hello');
  });
}

async function listen(server: http.Server | http2.Http2Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

const triple = (e: { request?: { method: string; target?: string; status: number } }) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;

/** Both ends reported exactly what was made (made = reported + lost, and nothing was lost here). */
async function expectBothEnds(port: number, made: string[], lostBefore: number): Promise<void> {
  const want = [...made].sort();
  await until(`${made.length} requests on both ends of port ${port}`, () => {
    const r = requestsOn(ra!.sink, port);
    return r.server.length + r.client.length >= 2 * made.length || ra!.lost() - lostBefore >= 2 * made.length;
  });
  const r = requestsOn(ra!.sink, port);
  const lost = ra!.lost() - lostBefore;
  // Other processes on this machine make requests too, so lost counts are a bound here, reported ones exact.
  assert.ok(r.server.length <= made.length && r.client.length <= made.length, 'never more reported than made');
  assert.ok(r.server.length + r.client.length + lost >= 2 * made.length, `made = reported + lost (lost ${lost})`);
  assert.deepEqual(r.server.map(triple).sort(), want, 'server side');
  assert.deepEqual(r.client.map(triple).sort(), want, 'client side');
}

const SECRETS = ['CLIsecretBearer42', 'CLIsecretCookie42', 'CLIsecretQueryTok42', 'H2secretBearer42', 'SRVsecretCookie42', 'SRVsecretApiKey42'];
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

test('secrets sent both ways over HTTP/1.1 and HTTP/2 reach no output: console, spool, OTLP; traceparent joins the trace', needsRoot, async (t) => {
  const h1 = http.createServer(handler);
  const h2 = http2.createServer(handler);
  t.after(() => { h1.close(); h2.close(); });
  const p1 = await listen(h1);
  const p2 = await listen(h2);
  const lostBefore = ra!.lost();
  await run('curl', ['-s', '-o', '/dev/null', '--http1.1', '-H', `Authorization: Bearer ${SECRETS[0]}`, '-H', `Cookie: sid=${SECRETS[1]}`,
    '-H', `traceparent: 00-${TRACE_ID}-${PARENT_ID}-01`, `http://127.0.0.1:${p1}/login?token=${SECRETS[2]}&user=bob`]);
  const client = http2.connect(`http://127.0.0.1:${p2}`);
  await new Promise<void>((resolve, reject) => {
    const s = client.request({ ':path': `/api?access_token=${SECRETS[2]}`, authorization: `Bearer ${SECRETS[3]}`, cookie: `a=${SECRETS[1]}` });
    s.on('error', reject).resume().on('end', () => resolve());
    s.end();
  });
  client.close();
  await expectBothEnds(p1, [`GET /login?token=[REDACTED]&user=bob 200`], lostBefore);
  await expectBothEnds(p2, [`GET /api?access_token=[REDACTED] 200`], lostBefore);
  await until('spans waiting in the spool (collector down)', () => ra!.spoolFiles() > 0 && ra!.otlp.stats().signals.traces.queuedRecords === 0);

  const server = requestsOn(ra!.sink, p1).server[0]!;
  assert.equal(server.attributes['url.path'], '/login');
  assert.equal(server.attributes['url.query'], 'token=[REDACTED]&user=bob');
  assert.equal(server.attributes['http.request.method'], 'GET');
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(server.attributes['client.address'], '127.0.0.1');
  assert.deepEqual(server.attributes['http.request.header.authorization'], ['[REDACTED]'], 'captured, and scrubbed');
  assert.deepEqual(server.attributes['http.request.header.user-agent'], ['curl/7.88.1']);
  assert.ok(String(server.attributes['http.response.header.set-cookie']).includes('[REDACTED]'));
  assert.equal(server.attributes['server.port'], p1);
  assert.equal(requestsOn(ra!.sink, p2).server[0]!.attributes['network.protocol.version'], '2');

  const spooled = ra!.spoolText(); // read before the collector comes back and the spool drains
  await ra!.receiver.start();
  await until('the spooled spans delivered', () => ra!.receiver.spans().filter((s) => s.attributes['server.port'] === p1 || s.attributes['server.port'] === p2).length >= 4);
  const spans = ra!.receiver.spans().filter((s) => s.attributes['server.port'] === p1);
  const serverSpan = spans.find((s) => s.kind === 2)!; // SPAN_KIND_SERVER
  assert.ok(serverSpan, 'server span received');
  assert.equal(serverSpan.name, 'GET /login');
  assert.equal(serverSpan.traceId, TRACE_ID, 'joins the caller\'s trace');
  assert.equal(serverSpan.parentSpanId, PARENT_ID);
  assert.equal(serverSpan.attributes['url.query'], 'token=[REDACTED]&user=bob');
  assert.ok(spans.some((s) => s.kind === 3), 'client span received'); // SPAN_KIND_CLIENT

  const outputs = { console: ra!.console(), spool: spooled, otlp: JSON.stringify(ra!.receiver.received, (_k, v) => typeof v === 'bigint' ? String(v) : v) };
  assert.ok(outputs.console.includes('"url.query":"token=[REDACTED]&user=bob"'), 'the console shows the request');
  assert.ok(outputs.spool.includes('/login'), 'the spool held the request');
  for (const [where, text] of Object.entries(outputs)) {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${s} found in ${where}`);
  }
});

test('curl HTTP/1.1 keep-alive: five requests on one connection, both ends, route templates in the duration histogram', needsRoot, async (t) => {
  const server = http.createServer({ keepAlive: true }, handler);
  t.after(() => server.close());
  const port = await listen(server);
  const lostBefore = ra!.lost();
  const paths = ['/items/1', '/items/2', '/items/3', '/items/4', '/missing/5'];
  const { stderr } = await run('curl', ['-s', '-v', '-o', '/dev/null', '--http1.1', ...paths.map((p) => `http://127.0.0.1:${port}${p}`)]);
  assert.match(stderr, /Re-using existing connection/, 'curl kept the connection');
  await expectBothEnds(port, paths.map((p) => `GET ${p} ${p.startsWith('/missing') ? 404 : 200}`), lostBefore);
  const routes = requestsOn(ra!.sink, port).server.map((e) => e.attributes['http.route']);
  assert.deepEqual([...new Set(routes)].sort(), ['/items/{id}', '/missing/{id}']);
  await until('the server duration histogram with the route template', () => (ra!.receiver.latestMetrics().get('http.server.request.duration') ?? [])
    .some((p) => p.attributes['http.route'] === '/items/{id}' && (p.count ?? 0) >= 4));
  const point = ra!.receiver.latestMetrics().get('http.server.request.duration')!.find((p) => p.attributes['http.route'] === '/items/{id}')!;
  assert.equal(point.attributes['http.request.method'], 'GET');
  assert.ok(point.attributes['url.path'] === undefined, 'raw paths never become series');
});

test('curl h2c with prior knowledge and the Node http2 client: multiplexed streams, both ends', needsRoot, async (t) => {
  const server = http2.createServer(handler);
  t.after(() => server.close());
  const port = await listen(server);
  const lostBefore = ra!.lost();
  const curlPaths = ['/a', '/b', '/missing/c'];
  // One curl per URL: curl 7.88 fails (exit 16) when it reuses an h2c prior-knowledge connection for a second URL.
  for (const p of curlPaths) await run('curl', ['-s', '-o', '/dev/null', '--http2-prior-knowledge', `http://127.0.0.1:${port}${p}`]);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  const nodePaths = Array.from({ length: 20 }, (_, i) => `/n/${i}`);
  await Promise.all(nodePaths.map((p) => new Promise<void>((resolve, reject) => {
    const s = client.request({ ':path': p, ':method': 'POST' });
    s.on('error', reject).resume().on('end', () => resolve());
    s.end('x'.repeat(100));
  })));
  client.close();
  await expectBothEnds(port, [...curlPaths.map((p) => `GET ${p} ${p.startsWith('/missing') ? 404 : 200}`), ...nodePaths.map((p) => `POST ${p} 200`)], lostBefore);
  const ev = requestsOn(ra!.sink, port).server;
  assert.ok(ev.every((e) => e.attributes['network.protocol.version'] === '2' && typeof e.attributes['tapio.http2.stream_id'] === 'number'));
});

test('Node http keep-alive agent: sequential and parallel POSTs with bodies', needsRoot, async (t) => {
  const server = http.createServer({ keepAlive: true }, handler);
  t.after(() => server.close());
  const port = await listen(server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  t.after(() => agent.destroy());
  const lostBefore = ra!.lost();
  const post = (p: string, body: string) => new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', agent }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end(body);
  });
  const made: string[] = [];
  for (let i = 0; i < 5; i++) { await post(`/seq/${i}`, 'y'.repeat(1000 * i)); made.push(`POST /seq/${i} 200`); }
  await Promise.all(Array.from({ length: 12 }, (_, i) => { made.push(`POST /par/${i} 200`); return post(`/par/${i}`, 'z'.repeat(5000)); }));
  await expectBothEnds(port, made, lostBefore);
});

test('nghttp -> nghttpd (prior knowledge): both ends, 200 and 404', needsRoot, async (t) => {
  const docroot = fs.mkdtempSync(path.join(ra!.dir, 'www-'));
  fs.writeFileSync(path.join(docroot, 'a.txt'), 'a'.repeat(2000));
  const { spawn } = await import('node:child_process');
  const port = 19000 + (process.pid % 1000);
  const nghttpd = spawn('nghttpd', ['--no-tls', '-d', docroot, '-a', '127.0.0.1', String(port)], { stdio: 'ignore' });
  t.after(() => nghttpd.kill('SIGKILL'));
  await until('nghttpd to listen', () => fs.readFileSync('/proc/net/tcp', 'utf8').includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`));
  const lostBefore = ra!.lost();
  await run('nghttp', ['-n', `http://127.0.0.1:${port}/a.txt`, `http://127.0.0.1:${port}/missing.txt`]);
  await expectBothEnds(port, ['GET /a.txt 200', 'GET /missing.txt 404'], lostBefore);
});
