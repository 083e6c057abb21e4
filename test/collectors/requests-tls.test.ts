// TLS traffic decoded from OpenSSL uprobes (needs root: real kernel, real peers over loopback, all as child
// processes, since the agent never captures its own TLS): curl over https (HTTP/1.1 keep-alive and HTTP/2, the
// host's libssl.so.3), Node https / http2 / grpc-js over TLS (node's built-in OpenSSL, attached on the node binary),
// Python's ssl module, and a Python process that imports ssl only after the agent started. Each request shows up
// exactly once per end, decoded, with the right connection (server.port, network.peer.port = the client's port) and
// tls marked; the ciphertext of the same sockets is never parsed; secrets sent both ways reach no output (console
// JSON, spool, OTLP); status lists the attached files.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import { startObserveServer } from '../../src/observe';
import { fetchText } from '../../src/cli/status';
import { requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);
const PEERS = path.join(__dirname, 'requests', 'tls-peers.js');
const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');
const SECRETS = ['CLIsecretBearer42', 'CLIsecretQueryTok42', 'SRVsecretCookie42', 'PYsecretBearer42', 'H2secretBearer42'];
let ra: RequestsAgent | undefined;
let server: ChildProcess | undefined;
let ports = { h1: 0, h2: 0, grpc: 0 };
let dir = '';

before(async () => {
  if (needsRoot.skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-tls-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  ra = await startRequestsAgent({ receiverDown: true, configure: (c) => {
    c.collectors.requests.captureHeaders = ['authorization', 'set-cookie'];
    c.collectors.requests.tls.rescanIntervalMs = 300;
  } });
  server = spawn(process.execPath, [PEERS, 'serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  ports = await new Promise((resolve, reject) => {
    server!.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString())));
    server!.once('exit', (code) => reject(new Error(`tls peers server exited ${code}`)));
  });
  await until('the node binary attached (the server process maps it)', () => tlsHooks().some((h) => h.name.includes(path.basename(process.execPath)) && !!h.chosen), 20_000);
});

after(async () => {
  server?.kill();
  await ra?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function requestsStatus() {
  return ra!.agent.status().collectors.find((c) => c.name === 'requests')!;
}

function tlsHooks() {
  return requestsStatus().hooks.filter((h) => h.name.startsWith('tls '));
}

const triple = (e: TapioEvent) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;

/** Both ends reported exactly the requests made, once each, over TLS, on the right connection. */
async function expectBothEnds(port: number, made: string[], opts: { clientPid?: number; paths?: RegExp } = {}): Promise<{ server: TapioEvent[]; client: TapioEvent[] }> {
  const want = [...made].sort();
  // Only this scenario's requests (by path), so each test stands on its own.
  const mine = () => {
    const all = requestsOn(ra!.sink, port);
    const keep = (e: TapioEvent) => !opts.paths || opts.paths.test(e.request!.target ?? '');
    return { server: all.server.filter(keep), client: all.client.filter(keep) };
  };
  await until(`${made.length} TLS requests on both ends of port ${port}`, () => {
    const r = mine();
    return r.server.length >= made.length && r.client.length >= made.length;
  }, 20_000);
  await new Promise((r) => setTimeout(r, 300)); // anything reported twice would arrive by now
  const r = mine();
  assert.deepEqual(r.server.map(triple).sort(), want, 'server side, once each');
  assert.deepEqual(r.client.map(triple).sort(), want, 'client side, once each');
  for (const e of [...r.server, ...r.client]) {
    assert.equal(e.attributes['tls.protocol.name'], 'tls', 'marked as TLS');
    assert.equal(e.attributes['tapio.tls.unmapped'], undefined, 'mapped to its connection');
  }
  // The right connection: the server's peer port is a client's local port, and the client's peer is the server.
  for (const e of r.client) assert.equal(e.attributes['network.peer.port'], port);
  for (const e of r.server) assert.equal(e.attributes['server.port'], port);
  if (opts.clientPid) for (const e of r.client) assert.equal(e.attributes['process.pid'], opts.clientPid);
  const serverPids = new Set(r.server.map((e) => e.attributes['process.pid']));
  assert.deepEqual([...serverPids], [server!.pid], 'the server process');
  return r;
}

test('curl over https, HTTP/1.1 keep-alive and HTTP/2 (libssl.so.3): each request once per end, on its connection, https URLs', needsRoot, async () => {
  const { stderr } = await run('curl', ['-sk', '-v', '-o', '/dev/null', '--http1.1', '-H', `Authorization: Bearer ${SECRETS[0]}`,
    `https://127.0.0.1:${ports.h1}/items/1?token=${SECRETS[1]}`, `https://127.0.0.1:${ports.h1}/missing/2`]);
  assert.match(stderr, /Re-using existing connection/, 'curl kept the connection');
  const h1 = await expectBothEnds(ports.h1, ['GET /items/1?token=[REDACTED] 200', 'GET /missing/2 404'], { paths: /^\/(items|missing)\// });
  const c = h1.client.find((e) => e.request!.target!.startsWith('/items'))!;
  assert.equal(c.attributes['url.full'], `https://127.0.0.1:${ports.h1}/items/1?token=[REDACTED]`);
  // From the attach cookie of the probe that fired, so also for a curl that exited before its stream was read.
  const lib = c.attributes['tapio.tls.library'];
  assert.match(String(lib), /libssl\.so/, `library ${String(lib)}`);
  const s = h1.server.find((e) => e.request!.target!.startsWith('/items'))!;
  assert.deepEqual(s.attributes['http.request.header.authorization'], ['[REDACTED]']);
  assert.equal(new Set(h1.server.map((e) => e.attributes['client.port'])).size, 1, 'one connection for both requests');

  await run('curl', ['-sk', '-o', '/dev/null', '--http2', '-H', `Authorization: Bearer ${SECRETS[4]}`,
    `https://127.0.0.1:${ports.h2}/h2/curl/1`, `https://127.0.0.1:${ports.h2}/h2/curl/2`]);
  const h2 = await expectBothEnds(ports.h2, ['GET /h2/curl/1 200', 'GET /h2/curl/2 200'], { paths: /^\/h2\/curl\// });
  for (const e of [...h2.server, ...h2.client]) assert.equal(e.attributes['network.protocol.version'], '2');
});

test('Node https and http2 clients against Node servers (node\'s own OpenSSL), grpc-js over TLS: both ends', needsRoot, async () => {
  const before = ra!.sink.events.length;
  await run(process.execPath, [PEERS, 'https', String(ports.h1), '3', `Bearer ${SECRETS[0]}`]);
  await run(process.execPath, [PEERS, 'h2', String(ports.h2), '4', `Bearer ${SECRETS[4]}`]);
  await run(process.execPath, [PEERS, 'grpc', String(ports.grpc), dir, '3']);
  const node1 = await expectBothEnds(ports.h1, [0, 1, 2].map((i) => `GET /node/${i}?token=[REDACTED] 200`), { paths: /^\/node\// });
  // The library: named for the long-lived server (known from the scan); best effort for the short-lived client
  // (read from its maps when its stream opens: a client that already exited has none, counted library_unknown).
  const isNode = (lib: unknown) => lib === process.execPath || String(lib).endsWith('/node');
  for (const e of node1.server) assert.ok(isNode(e.attributes['tapio.tls.library']), `server library ${String(e.attributes['tapio.tls.library'])}`);
  for (const e of node1.client) assert.ok(isNode(e.attributes['tapio.tls.library']), `client library ${String(e.attributes['tapio.tls.library'])}`);
  await expectBothEnds(ports.h2, ['GET /missing/h2n 404', 'GET /h2n/1 200', 'GET /h2n/2 200', 'GET /h2n/3 200'], { paths: /^\/(h2n\/|missing\/h2n)/ });
  await until('3 gRPC calls on both ends', () => {
    const r = requestsOn(ra!.sink, ports.grpc);
    return r.server.length >= 3 && r.client.length >= 3;
  }, 20_000);
  const g = requestsOn(ra!.sink, ports.grpc);
  const calls = (l: TapioEvent[]) => l.map((e) => `${e.attributes['rpc.method']} ${e.attributes['rpc.grpc.status_code']}`).sort();
  assert.deepEqual(calls(g.server), ['Fail 5', 'Say 0', 'Say 0']);
  assert.deepEqual(calls(g.client), ['Fail 5', 'Say 0', 'Say 0']);
  for (const e of [...g.server, ...g.client]) assert.equal(e.attributes['tls.protocol.name'], 'tls');
  assert.ok(ra!.sink.events.length > before);
});

test('Python\'s ssl module, and a Python that imports ssl only after the agent started: both ends', needsRoot, async () => {
  const py = (p: string, delay: number) => [
    '-c', `import time; time.sleep(${delay})\nimport ssl, http.client\nc = http.client.HTTPSConnection('127.0.0.1', ${ports.h1}, context=ssl._create_unverified_context())\nc.request('GET', '${p}', headers={'Authorization': 'Bearer ${SECRETS[3]}'})\nr = c.getresponse(); r.read(); print(r.status)`,
  ];
  const first = await run('python3', py('/py/1', 0));
  assert.equal(first.stdout.trim(), '200');
  const late = spawn('python3', py('/py/late', 1.5), { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = await new Promise<string>((resolve) => { let s = ''; late.stdout!.on('data', (d) => { s += d; }); late.on('exit', () => resolve(s)); });
  assert.equal(out.trim(), '200');
  await until('both python requests on both ends', () => {
    const r = requestsOn(ra!.sink, ports.h1);
    return ['/py/1', '/py/late'].every((p) => r.server.some((e) => e.request!.target === p) && r.client.some((e) => e.request!.target === p));
  }, 20_000);
  const r = requestsOn(ra!.sink, ports.h1);
  const lateClient = r.client.filter((e) => e.request!.target === '/py/late');
  assert.equal(lateClient.length, 1, 'once');
  assert.equal(lateClient[0]!.attributes['process.pid'], late.pid, 'the late process');
  assert.equal(r.server.filter((e) => e.request!.target === '/py/late').length, 1, 'once on the server');
});

test('ciphertext of TLS sockets is never parsed, status lists the attached files, secrets reach no output', needsRoot, async () => {
  // Every request event on the TLS ports came from the uprobes (the plaintext path saw only ciphertext there).
  for (const port of [ports.h1, ports.h2, ports.grpc]) {
    const r = requestsOn(ra!.sink, port);
    for (const e of [...r.server, ...r.client]) assert.equal(e.attributes['tls.protocol.name'], 'tls', `${triple(e)} on ${port} came from TLS capture`);
  }
  const st = requestsStatus();
  const counters = st.counters ?? {};
  assert.equal(counters.tls_available, 1);
  assert.ok((counters.tls_streams_mapped ?? 0) >= 8, 'streams mapped');
  assert.equal(counters.tls_kernel_bytes_truncated, 0);
  const attached = tlsHooks().filter((h) => h.chosen).map((h) => h.name);
  assert.ok(attached.some((n) => /libssl\.so/.test(n)), `libssl attached: ${attached.join(', ')}`);
  assert.ok(attached.some((n) => n.includes(process.execPath) || /\/node /.test(n)), `node attached: ${attached.join(', ')}`);

  // A library named libssl that is not OpenSSL, mapped by a real process: listed as not attached, with why.
  const fake = path.join(dir, 'libssl.so.99');
  fs.copyFileSync(fs.realpathSync('/lib/x86_64-linux-gnu/libz.so.1'), fake);
  const holder = spawn('python3', ['-c', `import ctypes, time; ctypes.CDLL('${fake}'); print('loaded', flush=True); time.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await until('the fake libssl listed as not attached', () => tlsHooks().some((h) => h.name.includes(fake) && !h.chosen), 20_000);
    const failed = tlsHooks().find((h) => h.name.includes(fake))!;
    assert.match(failed.attempts[0]!.error, /exports no SSL_read\/SSL_write/);
    const observe = await startObserveServer({ address: '127.0.0.1:0', sources: { agent: ra!.agent } });
    try {
      const m = (await fetchText(observe.url, '/metrics', 5000)).body;
      assert.match(m, /tapio_hook_attached\{collector="requests",hook="tls [^"]*libssl\.so[^"]*",implementation="uprobe",program="5 probes on SSL_write\/SSL_write_ex via \+0x[0-9a-f]+, SSL_read\/SSL_read_ex via \+0x[0-9a-f]+, SSL_free"\} 1/,
        'the host libssl is probed at the internal function each pair calls (entry-points.ts), not at the four names');
      assert.match(m, /tapio_hook_attempt_failed\{[^}]*hook="tls [^"]*libssl\.so\.99[^"]*"[^}]*error="libssl\.so\.99 exports no SSL_read\/SSL_write[^"]*"\} 1/);
      const cli = await new Promise<string>((resolve) => execFile(process.execPath, [TAPIO, 'status', '--url', observe.url], { encoding: 'utf8', timeout: 20_000 }, (_e, out) => resolve(out)));
      assert.match(cli, /tls \S*node \(\S+\) \(optional\): uprobe \(9 probes on /, 'tapio status lists node as attached');
      assert.match(cli, /tls \S*libssl\.so\.99 \(\S+\) \(optional\): UNAVAILABLE/, 'and the fake libssl as not');
      assert.match(cli, /exports no SSL_read\/SSL_write/);
    } finally {
      await observe.close();
    }
  } finally {
    holder.kill();
  }
  await until('the fake libssl forgotten once nothing maps it', () => !tlsHooks().some((h) => h.name.includes(fake)), 20_000);

  await until('spans waiting in the spool (collector down)', () => ra!.spoolFiles() > 0 && ra!.otlp.stats().signals.traces.queuedRecords === 0);
  const spooled = ra!.spoolText();
  await ra!.receiver.start();
  await until('TLS spans delivered', () => ra!.receiver.spans().some((s) => s.attributes['server.port'] === ports.h1 && s.attributes['tls.protocol.name'] === 'tls'))
    .catch((e) => { throw new Error(`${(e as Error).message}: got ${JSON.stringify(ra!.receiver.spans().slice(0, 3).map((s) => s.attributes))} of ${ra!.receiver.spans().length}`); });
  const outputs = { console: ra!.console(), spool: spooled, otlp: JSON.stringify(ra!.receiver.received, (_k, v) => typeof v === 'bigint' ? String(v) : v) };
  assert.ok(outputs.console.includes('"tls.protocol.name":"tls"'), 'the console shows TLS requests');
  assert.ok(outputs.spool.includes('/items/1'), 'the spool held them');
  for (const [where, text] of Object.entries(outputs)) {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${s} found in ${where}`);
  }
});
