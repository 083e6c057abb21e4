// The observe server's exposure, as the reliability review found it: a regular file at observe.address was deleted
// (only a socket we made may ever be removed); binding beyond loopback needed no setting and offered no protection
// (now refused unless allowRemote, with a bearer token or TLS, and a warning without either); connections had no cap;
// a second agent took over the first one's socket. Endpoint credentials never show in messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { Agent } from '../../src/agent/agent';
import { startObserveServer, type ObserveServerOptions } from '../../src/observe';
import { redactUrl, redactUrlsIn } from '../../src/export/redact';

function options(address: string, extra: Partial<ObserveServerOptions> = {}): ObserveServerOptions {
  const agent = new Agent({ config: parseConfig(''), sinks: [], only: [], log: () => undefined });
  return { address, programRunStats: false, sources: { agent }, ...extra };
}

function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
}

test('observe.address naming an existing regular file is refused and the file is kept', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-exposure-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const precious = path.join(dir, 'important.txt');
  fs.writeFileSync(precious, 'precious data\n');
  await assert.rejects(startObserveServer(options(precious)), /exists and is not a socket; refusing to replace it/);
  assert.equal(fs.readFileSync(precious, 'utf8'), 'precious data\n');
});

test('a live socket of another agent is neither taken over nor deleted; a stale one is replaced', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-exposure-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'observe.sock');
  const first = await startObserveServer(options(sock));
  await assert.rejects(startObserveServer(options(sock)), /another process \(another Tapio agent\?\) serves this socket/);
  assert.ok(fs.lstatSync(sock).isSocket(), 'the first agent\'s socket is still there');
  await first.close();
  assert.equal(fs.existsSync(sock), false, 'the owner removes its own socket');
  // A socket left by a crash (nobody listens) is replaced.
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', sock]);
  assert.ok(fs.lstatSync(sock).isSocket());
  const second = await startObserveServer(options(sock));
  await second.close();
});

test('beyond loopback needs allowRemote; without a token or TLS it warns; a bearer token is enforced', async () => {
  await assert.rejects(startObserveServer(options('0.0.0.0:0')), /reachable beyond this host.*observe\.allowRemote: true/);
  const logs: string[] = [];
  const open = await startObserveServer(options('0.0.0.0:0', { allowRemote: true, log: (m) => logs.push(m) }));
  await open.close();
  assert.ok(logs.some((l) => /beyond loopback with neither a bearer token nor TLS/.test(l)), logs.join('\n'));
  const guarded = await startObserveServer(options('127.0.0.1:0', { bearerToken: 's3cret' }));
  try {
    assert.equal(await get(`${guarded.url}/status`), 401);
    assert.equal(await get(`${guarded.url}/metrics`, { authorization: 'Bearer wrong!' }), 401);
    assert.equal(await get(`${guarded.url}/status`, { authorization: 'Bearer s3cret' }), 200);
    assert.equal(await get(`${guarded.url}/healthz`), 200, 'liveness probes need no token');
  } finally {
    await guarded.close();
  }
});

test('connections to the observe server are capped', async () => {
  const server = await startObserveServer(options('127.0.0.1:0', { maxConnections: 5 }));
  const port = Number(new URL(server.url).port);
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      sockets.push(s);
    }
    await Promise.all(sockets.map((s) => new Promise((r) => s.once('connect', r))));
    const closed = await Promise.all(sockets.map((s) => new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 1500);
      s.once('close', () => { clearTimeout(t); r(true); });
    })));
    assert.equal(closed.filter(Boolean).length, 15, 'connections past the cap of 5 are closed at once');
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

test('credentials in endpoint URLs are masked wherever they are shown', () => {
  assert.equal(redactUrl('http://tapiouser:SECRETPASS@127.0.0.1:4318/v1/logs'), 'http://***@127.0.0.1:4318/v1/logs');
  assert.equal(redactUrlsIn('HTTP 503 from http://u:p@h:1/v1/logs: fake'), 'HTTP 503 from http://***@h:1/v1/logs: fake');
  assert.equal(redactUrl('http://127.0.0.1:4318'), 'http://127.0.0.1:4318');
});
