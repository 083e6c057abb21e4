// TLS inside a real Docker container that carries its own libssl (needs root and dockerd; skips with the reason
// otherwise): the image holds busybox and the host's curl with copies of every library it loads, so the container's
// libssl.so.3 is a different file (inode) than the host's. Its discovery goes through /proc/<pid>/root of the
// container's processes; the file is attached once, and detached when the container goes. The server is a host node
// process started in the container's network namespace (nsenter -n), so both ends are seen: the client attributed
// to the container (cgroup, container.id through the real identity layer), the server to the host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { IdentityResolver } from '../../src/identity';
import { needsRoot } from '../helpers/root';
import { DockerHarness, HarnessSkip } from '../harness/runtimes';
import { buildTlsCurlRootfs, TLS_CURL_IMAGE } from '../harness/tls-image';
import { requestsOn, startDockerRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);
const PEERS = path.join(__dirname, 'requests', 'tls-peers.js');
const SECRET = 'CTRsecretBearer42';
let docker: DockerHarness | undefined;
let skipped = '';
let identity: IdentityResolver | undefined;
let ra: RequestsAgent | undefined;
let dir = '';
const servers: ChildProcess[] = [];

before(async () => {
  if (needsRoot.skip) return;
  try {
    docker = await DockerHarness.start();
  } catch (e) {
    if (e instanceof HarnessSkip) { skipped = e.message; return; }
    throw e;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-tlsc-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost']);
  docker.importRootfs(buildTlsCurlRootfs(dir), TLS_CURL_IMAGE);
  ({ ra, identity } = await startDockerRequestsAgent(docker.socket, (c) => { c.collectors.requests.captureHeaders = ['authorization']; c.collectors.requests.tls.rescanIntervalMs = 300; }));
});

after(async () => {
  for (const s of servers) s.kill();
  await ra?.stop();
  identity?.stop();
  await docker?.teardown().catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function tlsHooks() {
  return ra!.agent.status().collectors.find((c) => c.name === 'requests')!.hooks.filter((h) => h.name.startsWith('tls '));
}

test('curl with the container\'s own libssl: its file attached once, both ends decoded, the client attributed to the container, detached when it goes', needsRoot, async (t) => {
  if (!docker) return t.skip(skipped || 'dockerd not started');
  const keyOf = (p: string) => { const st = fs.statSync(p); return `${st.ino}:${st.size}:${Math.floor(st.mtimeMs)}`; };
  const hostKey = keyOf('/usr/lib/x86_64-linux-gnu/libssl.so.3');
  const c = await docker.run('tapio-tls-curl', ['sleep', '1000000'], [], TLS_CURL_IMAGE);
  const ownKey = keyOf(`/proc/${c.pid}/root/lib/x86_64-linux-gnu/libssl.so.3`);
  assert.notEqual(ownKey, hostKey, 'the container carries its own copy');
  const own = () => tlsHooks().filter((h) => h.name.includes(`(${ownKey})`) && h.chosen);
  await until('the container\'s libssl attached', () => own().length > 0, 20_000);
  assert.equal(own().length, 1, `one attachment for the container's libssl: ${own().map((h) => h.name).join(', ')}`);

  const srv = spawn('nsenter', ['-t', String(c.pid), '-n', process.execPath, PEERS, 'serve', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(srv);
  const ports = await new Promise<{ h1: number; h2: number }>((resolve, reject) => {
    srv.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString())));
    srv.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  await until('the node binary attached', () => tlsHooks().some((h) => h.chosen && /\/node /.test(h.name)), 20_000);
  docker.exec(c.id, ['curl', '-sk', '-o', '/dev/null', '--http1.1', '-H', `Authorization: Bearer ${SECRET}`,
    `https://127.0.0.1:${ports.h1}/ctr/1`, `https://127.0.0.1:${ports.h1}/missing/2`]);
  docker.exec(c.id, ['curl', '-sk', '-o', '/dev/null', '--http2', `https://127.0.0.1:${ports.h2}/ctr/h2`]);
  const made1 = ['GET /ctr/1 200', 'GET /missing/2 404'];
  await until('both ends of the container\'s requests', () => {
    const a = requestsOn(ra!.sink, ports.h1);
    const b = requestsOn(ra!.sink, ports.h2);
    return a.server.length >= 2 && a.client.length >= 2 && b.server.length >= 1 && b.client.length >= 1;
  }, 20_000);
  await new Promise((r) => setTimeout(r, 300));
  const triple = (e: { request?: { method: string; target?: string; status: number } }) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;
  const a = requestsOn(ra!.sink, ports.h1);
  const b = requestsOn(ra!.sink, ports.h2);
  assert.deepEqual(a.server.map(triple).sort(), made1);
  assert.deepEqual(a.client.map(triple).sort(), made1);
  assert.deepEqual(b.client.map(triple), ['GET /ctr/h2 200']);
  assert.deepEqual(b.server.map(triple), ['GET /ctr/h2 200']);
  for (const e of [...a.client, ...b.client]) {
    assert.equal(e.cgroupId, c.cgroupId, 'the client is the container\'s curl');
    assert.equal(e.attributes['container.id'], c.id);
    assert.equal(e.attributes['tls.protocol.name'], 'tls');
    // From the attach cookie of the probe that fired: the container's own file (its path inside the container).
    const lib = e.attributes['tapio.tls.library'];
    assert.match(String(lib), /^\/(usr\/)?lib\/x86_64-linux-gnu\/libssl\.so\.3$/, `library ${String(lib)}`);
    assert.equal(e.attributes['network.peer.port'] ?? e.attributes['server.port'], e === b.client[0] ? ports.h2 : ports.h1);
  }
  for (const e of [...a.server, ...b.server]) {
    assert.equal(e.attributes['process.pid'], srv.pid, 'the server is the host node process');
    assert.equal(e.attributes['container.id'], undefined);
  }
  assert.ok(!ra!.console().includes(SECRET), 'the container\'s Authorization header never leaves the agent');

  docker.remove(c.id);
  srv.kill();
  await until('the container\'s libssl detached once nothing maps it', () => own().length === 0, 20_000);
});
