// A TLS server that never calls the exported SSL_read/SSL_write: `openssl s_server -www` answers through an SSL BIO,
// which goes straight to libssl's internal ssl_read_internal/ssl_write_internal. With the probes on those shared
// entry points (src/collectors/tls/entry-points.ts) its end is decoded too; with them off (the exported names only)
// it is not, which is the blind spot this removes. Needs root (real kernel, real openssl and curl, loopback).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { needsRoot } from '../helpers/root';
import { requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const skip = needsRoot.skip || ((process.arch !== 'x64' || !fs.existsSync(LIBSSL)) && 'needs the x86-64 libssl.so.3 (shared entry points are x86-64 only)');
let dir = '';

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-tls-bio-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=localhost']);
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** s_server -www on a fresh port with an agent whose TLS capture uses (or not) the shared entry points; curl makes
 *  three requests; returns what each end reported once the client's three arrived. */
async function serveAndCurl(sharedEntryPoints: boolean): Promise<{ server: string[]; client: string[]; serverPid: number }> {
  let ra: RequestsAgent | undefined;
  let srv: ChildProcess | undefined;
  try {
    ra = await startRequestsAgent({ receiverDown: true, configure: (c) => {
      c.collectors.requests.tls.rescanIntervalMs = 300;
      c.collectors.requests.tls.sharedEntryPoints = sharedEntryPoints;
    } });
    const port = await freePort();
    srv = spawn('openssl', ['s_server', '-www', '-quiet', '-accept', `127.0.0.1:${port}`, '-key', path.join(dir, 'key.pem'), '-cert', path.join(dir, 'cert.pem')],
      { stdio: ['pipe', 'ignore', 'inherit'] });
    const agent = ra.agent;
    await until('s_server\'s libssl attached', () => agent.status().collectors.find((c) => c.name === 'requests')!.hooks
      .some((h) => h.name.startsWith('tls ') && h.name.includes('libssl.so') && !!h.chosen), 20_000);
    for (let i = 0; ; i++) { // s_server listening
      const up = await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/ready`]).then((r) => r.stdout === '200', () => false);
      if (up) break;
      if (i > 100) throw new Error('s_server did not answer');
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const p of ['/bio/1', '/bio/2', '/bio/3']) await run('curl', ['-sk', '-o', '/dev/null', '--http1.1', `https://127.0.0.1:${port}${p}`]);
    const mine = () => {
      const all = requestsOn(ra!.sink, port);
      const keep = (e: { request?: { target?: string } }) => (e.request?.target ?? '').startsWith('/bio/');
      return { server: all.server.filter(keep), client: all.client.filter(keep) };
    };
    await until('curl\'s three requests reported', () => mine().client.length >= 3, 20_000);
    await new Promise((r) => setTimeout(r, 1500)); // the server's end, if it is seen, by now
    const r = mine();
    for (const e of r.server) assert.equal(e.attributes['process.pid'], srv.pid, 'the server end is s_server');
    const t = (e: { request?: { method?: string; target?: string; status?: number } }) => `${e.request!.method} ${e.request!.target} ${e.request!.status}`;
    return { server: r.server.map(t).sort(), client: r.client.map(t).sort(), serverPid: srv.pid! };
  } finally {
    srv?.kill();
    await ra?.stop();
  }
}

const WANT = ['GET /bio/1 200', 'GET /bio/2 200', 'GET /bio/3 200'];

test('openssl s_server -www (SSL BIO): both ends decoded at the shared entry points, the server end missed without them', { skip }, async () => {
  const shared = await serveAndCurl(true);
  assert.deepEqual(shared.client, WANT, 'curl\'s end, once each');
  assert.deepEqual(shared.server, WANT, 's_server\'s end, once each, at ssl_read_internal/ssl_write_internal');
  const names = await serveAndCurl(false);
  assert.deepEqual(names.client, WANT, 'curl calls the exported names: seen either way');
  assert.deepEqual(names.server, [], 'the BIO path never reaches the exported names: this is what the shared entry points add');
});
