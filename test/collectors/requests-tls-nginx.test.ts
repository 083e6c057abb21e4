// nginx over TLS with curl as the client, HTTP/1.1 and HTTP/2 (needs root: real kernel capture; nginx from Debian's
// nginx package, run in the foreground from a temporary prefix on an ephemeral loopback port, a master and one
// worker). nginx calls SSL_read/SSL_write on libssl's socket BIO, so its socket is learnt from the syscall inside
// the SSL call; its HTTP/2 goes through the same SSL_write from its own buffers, and a large file goes out as one
// SSL_write per 16 KiB buffer. Each request must show up exactly once per end: decoded (method, path, route,
// status), on its connection (nginx's span: server.port and the client.port curl reports as its local port; curl's
// span: the peer port), from the right process (nginx's worker, curl), TLS marked and mapped; the Authorization
// header, the ?token= query and nginx's Set-Cookie reach no output (console JSON, spool, OTLP).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import { freePort, requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);
const NGINX = '/usr/sbin/nginx';
const SECRETS = ['NGXsecretBearer42', 'NGXsecretQueryTok42', 'NGXsecretCookie42'];
const BIG = 200 * 1024; // several SSL_write calls (16 KiB buffers) and several 16 KiB records per call
const skip = needsRoot.skip || (!fs.existsSync(NGINX) ? 'nginx (Debian nginx) is not installed: run npm run setup' : false);
let ra: RequestsAgent | undefined;
let nginx: ChildProcess | undefined;
let dir = '';
let port = 0;

function nginxConf(): string {
  // Every path in the temp dir (Debian's build puts temp files under /var/lib/nginx). nginx 1.22: `http2` is a
  // parameter of `listen` (the `http2 on;` directive came in 1.25). One server takes both: curl's ALPN picks.
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    root ${dir}/www;
    location /items/ { add_header Set-Cookie "sid=${SECRETS[2]}"; return 200 "item\\n"; }
  }
}
`;
}

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-nginx-'));
  fs.chmodSync(dir, 0o755); // the worker runs as nobody and reads www/
  fs.mkdirSync(path.join(dir, 'www', 'files'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'));
  fs.writeFileSync(path.join(dir, 'www', 'files', 'big.bin'), Buffer.alloc(BIG, 'x'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost']);
  ra = await startRequestsAgent({ receiverDown: true, configure: (c) => {
    c.collectors.requests.captureHeaders = ['authorization', 'set-cookie'];
    c.collectors.requests.tls.rescanIntervalMs = 300;
  } });
  port = await freePort();
  fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConf());
  // -p: every relative path (temp dirs) under the prefix; -e: the error log before the config is read.
  nginx = spawn(NGINX, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  await until('nginx running with its worker', () => {
    if (nginx!.exitCode !== null) throw new Error(`nginx exited ${nginx!.exitCode}: ${fs.readFileSync(path.join(dir, 'error.log'), 'utf8').slice(-2000)}`);
    return fs.existsSync(path.join(dir, 'nginx.pid')) && workerPid() > 0;
  }, 10_000);
  await until('libssl attached (nginx maps it)', () => requestsStatus().hooks.some((h) => h.name.startsWith('tls ') && /libssl\.so/.test(h.name) && !!h.chosen), 20_000);
});

after(async () => {
  nginx?.kill('SIGTERM');
  await ra?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function requestsStatus() {
  return ra!.agent.status().collectors.find((c) => c.name === 'requests')!;
}

/** nginx's one worker: the master's child. */
function workerPid(): number {
  try {
    const kids = fs.readFileSync(`/proc/${nginx!.pid}/task/${nginx!.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length === 1 ? Number(kids[0]) : 0;
  } catch {
    return 0;
  }
}

/** Runs curl; resolves with its pid and the local port of each transfer (-w), in order. */
function curl(args: string[]): Promise<{ pid: number; localPorts: number[] }> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', ['-sk', '-w', '%{local_port}\\n', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (d) => { out += d; });
    c.on('exit', (code) => code === 0 ? resolve({ pid: c.pid!, localPorts: out.trim().split('\n').map(Number) }) : reject(new Error(`curl exited ${code}`)));
  });
}

const triple = (e: TapioEvent) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;

/** Both ends reported exactly `made` (paths matching `paths`), once each, over TLS, on the right connections. */
async function expectBothEnds(made: string[], paths: RegExp, c: { pid: number; localPorts: number[] }): Promise<{ server: TapioEvent[]; client: TapioEvent[] }> {
  const mine = () => {
    const all = requestsOn(ra!.sink, port);
    const keep = (e: TapioEvent) => paths.test(e.request!.target ?? '');
    return { server: all.server.filter(keep), client: all.client.filter(keep) };
  };
  await until(`${made.length} requests on both ends`, () => mine().server.length >= made.length && mine().client.length >= made.length, 20_000)
    .catch((e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify({ ...mine(), counters: requestsStatus().counters }, (_k, v) => typeof v === 'bigint' ? String(v) : v).slice(0, 3000)}`); });
  await new Promise((r) => setTimeout(r, 300)); // anything reported twice would arrive by now
  const r = mine();
  assert.deepEqual(r.server.map(triple).sort(), [...made].sort(), 'nginx\'s end, once each');
  assert.deepEqual(r.client.map(triple).sort(), [...made].sort(), 'curl\'s end, once each');
  const worker = workerPid();
  assert.ok(worker > 0 && worker !== nginx!.pid);
  for (const e of r.server) {
    assert.equal(e.attributes['process.pid'], worker, 'nginx\'s worker');
    assert.equal(e.attributes['server.port'], port);
    assert.ok(c.localPorts.includes(Number(e.attributes['client.port'])), `client.port ${String(e.attributes['client.port'])} is curl's (${c.localPorts.join(', ')})`);
  }
  for (const e of r.client) {
    assert.equal(e.attributes['process.pid'], c.pid, 'curl');
    assert.equal(e.attributes['network.peer.port'], port);
  }
  for (const e of [...r.server, ...r.client]) {
    assert.equal(e.attributes['tls.protocol.name'], 'tls', 'marked as TLS');
    assert.equal(e.attributes['tapio.tls.unmapped'], undefined, 'mapped to its connection');
  }
  return r;
}

/** The large file's every byte was seen on both ends (many SSL_write calls, no gap). */
function bigWhole(r: { server: TapioEvent[]; client: TapioEvent[] }): void {
  for (const e of [...r.server, ...r.client].filter((x) => x.attributes['url.path'] === '/files/big.bin')) {
    assert.equal(e.request!.responseBodyBytes, BIG, `${e.request!.side}: the whole body`);
  }
}

test('curl --http1.1 to nginx over TLS: keep-alive requests once per end, on the connection, from nginx\'s worker', { skip }, async () => {
  const c = await curl(['--http1.1', '-H', `Authorization: Bearer ${SECRETS[0]}`,
    '-o', '/dev/null', `https://127.0.0.1:${port}/items/17?token=${SECRETS[1]}`,
    '-o', '/dev/null', `https://127.0.0.1:${port}/files/big.bin`,
    '-o', '/dev/null', `https://127.0.0.1:${port}/missing/3`]);
  assert.equal(new Set(c.localPorts).size, 1, 'curl kept the connection');
  const r = await expectBothEnds(['GET /items/17?token=[REDACTED] 200', 'GET /missing/3 404', 'GET /files/big.bin 200'], /^\/(items|missing|files)\//, c);
  for (const e of [...r.server, ...r.client]) {
    assert.equal(e.attributes['network.protocol.version'], '1.1');
    assert.equal(e.attributes['http.route'], ({ '/items/17': '/items/{id}', '/missing/3': '/missing/{id}' } as Record<string, string>)[String(e.attributes['url.path'])] ?? '/files/big.bin');
  }
  bigWhole(r);
  const s = r.server.find((e) => e.attributes['url.path'] === '/items/17')!;
  assert.deepEqual(s.attributes['http.request.header.authorization'], ['[REDACTED]']);
  const cl = r.client.find((e) => e.attributes['url.path'] === '/items/17')!;
  assert.equal(cl.attributes['url.full'], `https://127.0.0.1:${port}/items/17?token=[REDACTED]`);
  assert.deepEqual(cl.attributes['http.response.header.set-cookie'], ['[REDACTED]']);
});

test('curl --http2 to nginx over TLS: three streams multiplexed on one connection, once per end, HTTP/2 on both', { skip }, async () => {
  // --parallel: the three streams in flight at once on one connection, the file's DATA frames between the others.
  const c = await curl(['--http2', '--parallel', '-H', `Authorization: Bearer ${SECRETS[0]}`,
    '-o', '/dev/null', `https://127.0.0.1:${port}/files/big.bin?h2`,
    '-o', '/dev/null', `https://127.0.0.1:${port}/items/h2/1?token=${SECRETS[1]}`,
    '-o', '/dev/null', `https://127.0.0.1:${port}/items/h2/2`]);
  assert.equal(new Set(c.localPorts).size, 1, 'one connection');
  const r = await expectBothEnds(['GET /items/h2/1?token=[REDACTED] 200', 'GET /items/h2/2 200', 'GET /files/big.bin?h2 200'], /^\/(items\/h2|files\/big\.bin\?h2)/, c);
  for (const e of [...r.server, ...r.client]) {
    assert.equal(e.attributes['network.protocol.version'], '2');
    assert.ok(typeof e.attributes['tapio.http2.stream_id'] === 'number', 'an HTTP/2 stream');
  }
  bigWhole(r);
  const s = r.server.find((e) => e.attributes['url.path'] === '/items/h2/1')!;
  assert.deepEqual(s.attributes['http.request.header.authorization'], ['[REDACTED]']);
  assert.equal(s.attributes['http.route'], '/items/h2/{id}');
});

test('nginx over TLS: nothing from the plaintext path on its port, secrets in no output', { skip }, async () => {
  const st = requestsStatus();
  const counters = st.counters ?? {};
  assert.ok((counters.tls_streams_mapped ?? 0) >= 4, `streams mapped: ${counters.tls_streams_mapped}`);
  const all = requestsOn(ra!.sink, port);
  for (const e of [...all.server, ...all.client]) assert.equal(e.attributes['tls.protocol.name'], 'tls', `${triple(e)} came from TLS capture`);

  await until('spans waiting in the spool (collector down)', () => ra!.spoolFiles() > 0 && ra!.otlp.stats().signals.traces.queuedRecords === 0);
  const spooled = ra!.spoolText();
  await ra!.receiver.start();
  await until('nginx spans delivered', () => ra!.receiver.spans().some((s) => s.attributes['server.port'] === port && s.attributes['tls.protocol.name'] === 'tls'), 20_000);
  const outputs = { console: ra!.console(), spool: spooled, otlp: JSON.stringify(ra!.receiver.received, (_k, v) => typeof v === 'bigint' ? String(v) : v) };
  assert.ok(outputs.console.includes('/items/17'), 'the console shows the requests');
  assert.ok(outputs.spool.includes('/items/17'), 'the spool held them');
  for (const [where, text] of Object.entries(outputs)) {
    for (const s of SECRETS) assert.ok(!text.includes(s), `${s} found in ${where}`);
  }
});
