// Sampling that reaches long-lived connections (bpf/l7.bpf.c l7_shed). Sampling of request capture is decided when a
// connection's protocol is detected, so without shedding a keep-alive pool captured before the adaptive controller
// raised N would stay captured however far N rose, and the agent could not hold its CPU budget. Real kernel, real
// Node peers (child processes) over 16 keep-alive connections; the sampling is written to the kernel the way the
// controller writes it. Needs root.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import { needsRoot } from '../helpers/root';
import { KernelLimits, kindNumber } from '../../src/pipeline/limits';
import { ProtocolSession } from '../../src/protocols/session';
import { requestsOn, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const SOCKETS = 16;
let ra: RequestsAgent | undefined;
let server: ChildProcess | undefined;
let client: ChildProcess | undefined;
let port = 0;
let nextLine: () => Promise<string>;

const SERVER = `require('http').createServer((q, s) => s.end('ok ' + q.url)).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
// One request per keep-alive socket per "round NAME" line on stdin; prints "done NAME" when all answered.
const CLIENT = `
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: ${SOCKETS} });
const port = Number(process.argv[1]);
require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  const name = line.split(' ')[1];
  await Promise.all(Array.from({ length: ${SOCKETS} }, (_, i) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' + name + '/' + i, agent }, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject);
  })));
  console.log('done ' + name + ' ' + (Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length));
});
console.log('ready');`;

before(async () => {
  if (needsRoot.skip) return;
  ra = await startRequestsAgent({ receiverDown: true });
  server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = Number(await new Promise<string>((r) => server!.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))));
  client = spawn(process.execPath, ['-e', CLIENT, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  nextLine = async () => String((await lines.next()).value);
  assert.equal(await nextLine(), 'ready');
});

after(async () => {
  client?.kill();
  server?.kill();
  await ra?.stop();
});

function requests() {
  return ra!.agent.collectors.find((c) => c.name === 'requests')! as unknown as { counters(): Record<string, number>; kernelObjects(): Parameters<typeof KernelLimits.of>[0][] };
}

/** Kernel sampling of request capture, written to the request collector's objects as the controller does. */
function sampleEvery(n: number): void {
  const kind = kindNumber('l7.data')!;
  for (const obj of requests().kernelObjects()) KernelLimits.of(obj)?.setSampleEvery(kind, n);
}

async function round(name: string): Promise<void> {
  client!.stdin!.write(`round ${name}\n`);
  assert.match(await nextLine(), new RegExp(`^done ${name} ${SOCKETS}$`), `one request on each of the ${SOCKETS} kept-alive sockets`);
}

/** Events of a round's requests, both ends, after what the kernel has sent us settled. */
async function reported(name: string, atLeast: number): Promise<number> {
  const of = () => { const r = requestsOn(ra!.sink, port); return [...r.server, ...r.client].filter((e) => e.request!.target!.startsWith(`/${name}/`)).length; };
  await until(`${atLeast} events of round ${name}`, () => of() >= atLeast, 15_000);
  await new Promise((r) => setTimeout(r, 700)); // the ring's coalescing and the sessions' drain: anything more by now
  return of();
}

test('raised sampling lets go of already-captured connections by their hash, counted, and never takes them back', needsRoot, async () => {
  await round('r1');
  assert.equal(await reported('r1', 2 * SOCKETS), 2 * SOCKETS, 'all captured at 1-in-1: each request once per end');
  const shed0 = requests().counters().kernel_connections_shed ?? 0;

  sampleEvery(4);
  await round('r2');
  await until('the kernel decided for every socket end', () => (requests().counters().kernel_connections_shed ?? 0) - shed0 > 0, 10_000);
  const shed = (requests().counters().kernel_connections_shed ?? 0) - shed0;
  const kept2 = await reported('r2', 2 * SOCKETS - shed);
  // Each of the 32 socket ends (16 connections, two ends) made one request this round: reported or its end let go.
  assert.equal(kept2 + shed, 2 * SOCKETS, `reported ${kept2} + ends let go ${shed}`);
  assert.ok(shed > 2 * SOCKETS / 2 && kept2 > 0, `about 3 in 4 ends let go at 1-in-4 (${shed} of ${2 * SOCKETS}), some kept`);
  const c = requests().counters();
  assert.equal(c.sessions_shed, shed, 'userspace closed one session per end the kernel let go');

  await round('r3');
  assert.equal(await reported('r3', kept2), kept2, 'the kept ends stay kept, the others stay let go');
  assert.equal((requests().counters().kernel_connections_shed ?? 0) - shed0, shed, 'nobody let go twice');

  sampleEvery(1);
  await round('r4');
  assert.equal(await reported('r4', kept2), kept2, 'lowered sampling does not take a let-go connection back (its stream state is gone)');
  assert.equal(ra!.drops.rows().filter((d) => d.stage === 'protocol' && d.reason === 'sampled').reduce((a, d) => a + d.count, 0), 0,
    'rounds are sequential: no request was in flight when its end was let go');
});

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
