// Runtime sockets that misbehave as the reliability review found. Real runtimes do not misbehave on demand, so each
// test serves the Docker Engine API itself (a real HTTP server on a unix socket in a temp dir); this stand-in is the
// only fake here. A socket that trickles its answer must not hold start-up; a failure reported twice must not start
// a second retry loop; and /readyz, /status and /metrics say which socket is present but failing, and why.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { RuntimeManager } from '../../src/identity/runtimes/manager';
import { registerRuntimeMetrics, runtimeReadiness } from '../../src/observe/runtimes';

async function standIn(t: TestContext, handler: http.RequestListener): Promise<{ socket: string; requests: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-hostile-rt-'));
  const socket = path.join(dir, 'docker.sock');
  const requests: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, Object.assign(res, { timers }));
  });
  await new Promise<void>((r) => server.listen(socket, r));
  t.after(async () => {
    for (const x of timers) clearInterval(x);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { socket, requests };
}

test('a Docker socket that trickles its answer does not hold start-up; it is reported as failing', { timeout: 20_000 }, async (t) => {
  const { socket } = await standIn(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
    const timer = setInterval(() => res.write('O'), 300); // valid headers, then a byte now and then, for ever
    (res as unknown as { timers: Set<NodeJS.Timeout> }).timers.add(timer);
    res.on('close', () => clearInterval(timer));
  });
  const manager = new RuntimeManager({ endpoints: [{ kind: 'docker', socket }], deadlineMs: 1000, backoffInitialMs: 60_000 });
  t.after(() => manager.stop());
  const started = Date.now();
  await manager.start();
  assert.ok(Date.now() - started < 5000, `start-up waited ${Date.now() - started} ms`);
  // The first attempt ends at its total deadline (1 s), whatever the trickle does.
  const deadline = Date.now() + 5000;
  while (manager.status()[0]!.state !== 'waiting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const st = manager.status()[0]!;
  assert.equal(st.state, 'waiting');
  assert.match(st.lastError ?? '', /no complete answer in 1000 ms/);

  const ready = runtimeReadiness(() => manager.status()).check() as { ready: boolean; detail?: string };
  assert.equal(ready.ready, true, 'a failing runtime does not make the agent unready');
  assert.match(ready.detail ?? '', new RegExp(`present but failing: docker ${socket.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*no complete answer`));
  const registry = new Registry();
  registerRuntimeMetrics(registry, () => manager.status());
  const text = await registry.metrics();
  assert.match(text, new RegExp(`tapio_runtime_socket_state\\{kind="docker",socket="${socket}",state="waiting"\\} 1`));
  assert.match(text, new RegExp(`tapio_runtime_socket_failures\\{kind="docker",socket="${socket}"\\} 1`));
});

test('an answer that fails twice in one attempt starts one retry loop, not two', { timeout: 20_000 }, async (t) => {
  // _ping is fine; the event stream ends at once and the container list is not JSON: two failures per attempt.
  const { socket, requests } = await standIn(t, (req, res) => {
    if (req.url === '/_ping') res.end('OK');
    else if (req.url?.startsWith('/events')) res.writeHead(200).end('');
    else setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('not json'), 20);
  });
  const manager = new RuntimeManager({ endpoints: [{ kind: 'docker', socket }], deadlineMs: 1000,
    backoffInitialMs: 20, backoffMaxMs: 100 });
  t.after(() => manager.stop());
  await manager.start();
  const from = requests.length;
  await new Promise((r) => setTimeout(r, 2000)); // the scenario: watch the socket for 2 s
  const pings = requests.slice(from).filter((u) => u === '/_ping').length;
  // One loop retries at most every 100 ms (backoff cap): about 20 attempts in 2 s. Doubling loops reach thousands.
  assert.ok(pings <= 30, `${pings} connection attempts in 2 s`);
  assert.ok(pings >= 5, `it does keep retrying (${pings})`);
});
