// Sampling that reaches long-lived connections (bpf/l7.bpf.c l7_shed). Sampling of request capture is decided when a
// connection's protocol is detected, so without shedding a keep-alive pool captured before the adaptive controller
// raised N would stay captured however far N rose, and the agent could not hold its CPU budget. Real kernel, real
// Node peers (child processes) over 16 keep-alive connections, plain HTTP and HTTPS (TLS streams, bpf/tls.bpf.c
// tls_shed); the sampling is written to the kernel the way the controller writes it. Needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { promisify } from 'node:util';
import { needsRoot } from '../helpers/root';
import { ProtocolSession } from '../../src/protocols/session';
import { requestsCollector, requestsOn, sampleEvery as setSampling, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);

const SOCKETS = 16;
let ra: RequestsAgent | undefined;
let dir = '';

// One request per keep-alive socket per "round NAME" line on stdin; prints "done NAME <sockets>" when all answered.
const peers = (tls: boolean) => ({
  server: `const fs = require('fs'); const o = ${tls ? `{ key: fs.readFileSync(process.argv[1] + '/key.pem'), cert: fs.readFileSync(process.argv[1] + '/cert.pem') }` : '{}'};
require('${tls ? 'https' : 'http'}').createServer(o, (q, s) => s.end('ok ' + q.url)).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
  client: `
const http = require('${tls ? 'https' : 'http'}');
const agent = new http.Agent({ keepAlive: true, maxSockets: ${SOCKETS}, rejectUnauthorized: false });
const port = Number(process.argv[1]);
require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  const name = line.split(' ')[1];
  await Promise.all(Array.from({ length: ${SOCKETS} }, (_, i) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' + name + '/' + i, agent }, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject);
  })));
  console.log('done ' + name + ' ' + (Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length));
});
console.log('ready');`,
});

before(async () => {
  if (needsRoot.skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-shed-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost']);
  ra = await startRequestsAgent({ receiverDown: true, configure: (c) => { c.collectors.requests.tls.rescanIntervalMs = 300; c.collectors.requests.tls.maxProbeCostPercent = 100; } });
});

after(async () => {
  await ra?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const requests = () => requestsCollector(ra!);
const sampleEvery = (kind: string, n: number) => setSampling(ra!, kind, n);

/** A server and a client with 16 keep-alive sockets, as child processes (the agent never captures itself). */
async function startPeers(tls: boolean) {
  const p = peers(tls);
  const server = spawn(process.execPath, ['-e', p.server, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((r) => server.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))));
  const client = spawn(process.execPath, ['-e', p.client, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => String((await lines.next()).value);
  assert.equal(await nextLine(), 'ready');
  return {
    port,
    async round(name: string): Promise<void> {
      client.stdin!.write(`round ${name}\n`);
      assert.match(await nextLine(), new RegExp(`^done ${name} ${SOCKETS}$`), `one request on each of the ${SOCKETS} kept-alive sockets`);
    },
    stop() { client.kill(); server.kill(); },
  };
}

/** Events of a round's requests, both ends, after what the kernel has sent us settled. */
async function reported(port: number, name: string, atLeast: number): Promise<number> {
  const of = () => { const r = requestsOn(ra!.sink, port); return [...r.server, ...r.client].filter((e) => e.request!.target!.startsWith(`/${name}/`)).length; };
  await until(`${atLeast} events of round ${name}`, () => of() >= atLeast, 15_000).catch((e: Error) => {
    const c = Object.entries(requests().counters()).filter(([k]) => /tls_kernel|sessions|reported|lost/.test(k));
    throw new Error(`${e.message}: ${of()} so far; ${JSON.stringify(Object.fromEntries(c))}`);
  });
  await new Promise((r) => setTimeout(r, 700)); // the ring's coalescing and the sessions' drain: anything more by now
  return of();
}

const sampledLost = () => ra!.drops.rows().filter((d) => d.stage === 'protocol' && d.reason === 'sampled').reduce((a, d) => a + d.count, 0);

/** Rounds of one request per socket end: all captured at 1-in-1; at 1-in-4 each end is reported or let go (and
 *  counted), the kept stay kept, the let-go stay let go, also after sampling falls back to 1-in-1. */
async function shedScenario(tls: boolean): Promise<void> {
  const kind = tls ? 'tls.data' : 'l7.data';
  const shedCounter = tls ? 'tls_kernel_streams_shed' : 'kernel_connections_shed';
  const sessionsShed = tls ? 'tls_sessions_shed' : 'sessions_shed';
  const peers = await startPeers(tls);
  try {
    if (tls) {
      await until('node\'s OpenSSL attached', () => requests().status().hooks.some((h) => h.name.startsWith('tls ') && h.name.includes(path.basename(process.execPath)) && !!h.chosen), 20_000);
    }
    await peers.round('r1');
    assert.equal(await reported(peers.port, 'r1', 2 * SOCKETS), 2 * SOCKETS, 'all captured at 1-in-1: each request once per end');
    const shed0 = requests().counters()[shedCounter] ?? 0;
    const sessions0 = requests().counters()[sessionsShed] ?? 0;
    const lost0 = sampledLost();
    const notCapturedName = tls ? 'tls_kernel_h1_requests_not_captured' : 'kernel_h1_requests_not_captured';
    const notCaptured0 = requests().counters()[notCapturedName] ?? 0;

    sampleEvery(kind, 4);
    await peers.round('r2');
    await until('the kernel let some ends go', () => (requests().counters()[shedCounter] ?? 0) - shed0 > 0, 10_000);
    await new Promise((r) => setTimeout(r, 700));
    // The counters are the node's: other processes' connections (other tests, the machine's own traffic) may be let
    // go at the same time, so this test's ends are at least those counts, never more than the node's.
    const kept2 = await reported(peers.port, 'r2', 1);
    const shed = 2 * SOCKETS - kept2; // each of the 32 ends (16 connections, two ends) made one request this round
    const shedNode = (requests().counters()[shedCounter] ?? 0) - shed0;
    assert.ok(shedNode >= shed, `the kernel counted every end let go (${shedNode} on the node >= ${shed} of this test)`);
    assert.ok(shed > 2 * SOCKETS / 2 && kept2 > 0, `about 3 in 4 ends let go at 1-in-4 (${shed} of ${2 * SOCKETS}), some kept`);
    assert.ok((requests().counters()[sessionsShed] ?? 0) - sessions0 >= shed, 'userspace closed a session per end the kernel let go');

    await peers.round('r3');
    const kept3 = await reported(peers.port, 'r3', kept2);
    assert.equal(kept3, kept2, 'none let go twice or taken back');

    sampleEvery(kind, 1);
    await peers.round('r4');
    assert.equal(await reported(peers.port, 'r4', kept2), kept2, 'lowered sampling does not take a let-go stream back (its state is gone)');
    // HTTP/1 (in TLS too: bpf/include/tls_letgo.h): the requests of the ends let go are still counted, one per
    // request line: rounds r2, r3, r4.
    await until('the uncaptured requests counted', () => (requests().counters()[notCapturedName] ?? 0) - notCaptured0 >= 3 * shed, 5000);
    // ">=": the node's other let-go HTTP/1 connections count too; on a quiet node it is exactly 3 x shed.
    assert.ok((requests().counters()[notCapturedName] ?? 0) - notCaptured0 >= 3 * shed,
      'every request is reported or counted: r2-r4 made 3 x 32, reported 3 x kept, counted 3 x let go');
    assert.equal(sampledLost() - lost0, 0, 'rounds are sequential: no request was in flight when its end was let go');
  } finally {
    sampleEvery(kind, 1);
    peers.stop();
  }
}

test('raised sampling lets go of already-captured connections by their hash, counted, and never takes them back', needsRoot, () => shedScenario(false));

test('the same for TLS streams (node\'s OpenSSL, https keep-alive)', needsRoot, () => shedScenario(true));

test('a request in flight when its connection is let go is counted lost as sampled, not as closed or completed', () => {
  for (const role of ['server', 'client'] as const) {
    const s = new ProtocolSession(role, { bootToWallNs: 0n });
    const req = Buffer.from('GET /inflight HTTP/1.1\r\nHost: x\r\n\r\n');
    s.push({ direction: role === 'server' ? 'recv' : 'send', data: req, length: req.length, timeNs: 1n });
    const resp = Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial body');
    s.push({ direction: role === 'server' ? 'send' : 'recv', data: resp, length: resp.length, timeNs: 2n });
    s.close(3n, 'sampled');
    assert.equal(s.takeRequests().length, 0, `${role}: a close-delimited response is not complete when only capture stopped`);
    assert.equal(s.counters.lost.sampled, 1);
    assert.equal(s.counters.lost.closed, 0);
  }
});
