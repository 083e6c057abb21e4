// A ring too small for the load: a captured connection whose record does not fit is let go (bpf/include/l7_ringfull.h,
// tls_ring_full in bpf/tls.bpf.c), userspace counts the requests it had open as lost (reason ring_full) and the kernel
// counts the requests of that connection from the first byte userspace did not get, so every request is still
// reported whole or counted. Real peers (needs root), every request captured (no sampling), rings of 64 KiB:
// h2load -> nghttpd (h2c), an exact-count keep-alive load -> Node http, and the same over TLS (node https). Checked
// against the load generators' own counts: request ends made = reported + counted not captured + lost; and TLS
// streams sampled out when first seen, whose HTTP/1 requests the kernel counts the same way. The kernel's
// counters and the losses are the node's: exact on a quiet node, at least where other processes' requests showed up
// meanwhile (the test says so).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { promisify } from 'node:util';
import { needsRoot } from '../helpers/root';
import type { TapioEvent } from '../../src/core/event';
import { startNghttpd } from './requests/nghttpd';
import { requestsCollector, requestsOn, sampleEvery, startRequestsAgent, until, type RequestsAgent } from './requests/agent';

const run = promisify(execFile);
const HTTP_LOAD = path.join(__dirname, 'requests', 'http-load.js');
const RING = 64 << 10;
let ra: RequestsAgent | undefined;
let certDir = '';

before(async () => {
  if (needsRoot.skip) return;
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-ringfull-'));
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost']);
  ra = await startRequestsAgent({
    receiverDown: true,
    configure: (c) => {
      c.collectors.requests.ringBufferBytes = RING;
      c.collectors.requests.tls.ringBufferBytes = RING;
      c.collectors.requests.tls.rescanIntervalMs = 300;
      // The ledger here must close exactly: requests made while the TLS probes are paused are not seen at all
      // (their duty cycle has its own test, requests-tls-duty.test.ts).
      c.collectors.requests.tls.maxProbeCostPercent = 100;
    },
  });
});

after(async () => {
  await ra?.stop();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

const counter = (name: string) => requestsCollector(ra!).counters()[name] ?? 0;
const lostBy = (reason: string) => ra!.drops.rows().filter((d) => d.stage === 'protocol' && d.reason === reason).reduce((a, d) => a + d.count, 0);
const lostRows = () => JSON.stringify(ra!.drops.rows().filter((r) => r.stage === 'protocol').map((r) => `${r.kind} ${r.reason} ${r.count}`));

/** The node's counts a test reads, as deltas from a start. `counted`: the counter of requests not captured for that
 *  load; `neighbours`: requests other processes made on the node meanwhile (reported on other ports). */
interface Ledger { reported: number; counted: number; lost: number; ringFullLost: number; letGo: number; ringFullBytes: number; uncounted: number; neighbours: number }

function ledger(port: number, names: { counted: string; letGo: string; ringFullBytes: string; uncounted: string }): Ledger {
  const r = requestsOn(ra!.sink, port);
  return {
    reported: r.server.length + r.client.length, counted: counter(names.counted), lost: ra!.lost(), ringFullLost: lostBy('ring_full'),
    letGo: counter(names.letGo), ringFullBytes: counter(names.ringFullBytes), uncounted: counter(names.uncounted),
    neighbours: ra!.sink.events.filter((e) => e.request && e.attributes['server.port'] !== port).length,
  };
}

const minus = (a: Ledger, b: Ledger): Ledger => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - b[k as keyof Ledger]])) as unknown as Ledger;
const identity = (d: Ledger) => `${d.reported} reported + ${d.counted} counted not captured + ${d.lost} lost (${d.ringFullLost} ring_full; node: ${lostRows()}), ${d.letGo} ends let go, ${d.ringFullBytes} ring-full bytes`;

/** The change since `from` once it accounts for `ends` request ends and nothing more arrives. */
async function settle(port: number, names: Parameters<typeof ledger>[1], from: Ledger, ends: number): Promise<Ledger> {
  const sum = (d: Ledger) => d.reported + d.counted + d.lost;
  await until(`${ends} request ends accounted for`, () => sum(minus(ledger(port, names), from)) >= ends, 30_000)
    .catch((e: Error) => { throw new Error(`${e.message}: ${identity(minus(ledger(port, names), from))}`); });
  await new Promise((r) => setTimeout(r, 1000)); // owed close records, the ring's coalescing, the sessions' drain
  return minus(ledger(port, names), from);
}

/** `actual` is `expected` exactly on a quiet node; where other processes' requests showed up meanwhile (the kernel's
 *  counters and the losses are the node's), at least `expected`, and the test says so. */
function exact(t: TestContext, d: Ledger, actual: number, expected: number, what: string): void {
  t.diagnostic(what);
  if (d.neighbours === 0) { assert.equal(actual, expected, what); return; }
  assert.ok(actual >= expected, `${what}: ${actual} < ${expected}`);
  t.diagnostic(`${d.neighbours} requests of other processes on the node meanwhile: "${what}" checked as at least (${actual} >= ${expected})`);
}

/** What was reported is right: every request event of the port has the load's path and a 200. */
function allRight(events: TapioEvent[], path: RegExp): void {
  for (const e of events) {
    assert.match(String(e.request!.target), path, 'a reported request has its own path');
    assert.equal(e.request!.status, 200, 'and its own status');
    assert.ok(!e.request!.partial, 'and no header left unknown');
  }
}

function firstLine(child: ChildProcess): Promise<string> {
  const it = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return it.next().then((r) => String(r.value));
}

test('h2load -> nghttpd (h2c), every request captured, a 64 KiB ring: each request end is reported or counted', needsRoot, async (t) => {
  const port = await startNghttpd(t, 2048);
  if (!port) return;
  const names = { counted: 'kernel_h2_requests_not_captured', letGo: 'kernel_connections_ring_full', ringFullBytes: 'kernel_bytes_ring_full', uncounted: 'kernel_connections_h2_uncounted' };
  const from = ledger(port, names);
  const { stdout: out } = await run('h2load', ['-n', '40000', '-c', '40', '-m', '4', `http://127.0.0.1:${port}/index.html`]);
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded/.exec(out);
  assert.ok(m && m[2] === m[1] && m[4] === m[1], out);
  const made = Number(m[2]);
  const d = await settle(port, names, from, 2 * made);
  assert.ok(d.ringFullBytes > 0 && d.letGo > 0, `the ring overflowed and ends were let go: ${identity(d)}`);
  exact(t, d, d.reported + d.counted + d.lost, 2 * made, `h2load made ${made} requests, two ends each: ${identity(d)}`);
  assert.equal(d.uncounted, 0, 'the frame walker knew the layout of every end let go');
  const r = requestsOn(ra!.sink, port);
  allRight([...r.server, ...r.client], /^\/index\.html$/);
});

async function httpLoad(t: TestContext, tls: boolean, names: Parameters<typeof ledger>[1], requests = tls ? 6000 : 20000, overflow = true): Promise<void> {
  const server = spawn(process.execPath, [HTTP_LOAD, 'server', tls ? certDir : '-', '6000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => server.kill());
  const port = Number(await firstLine(server));
  if (tls) {
    await until('node\'s OpenSSL attached', () => requestsCollector(ra!).status().hooks.some((h) => h.name.startsWith('tls ') && h.name.includes(path.basename(process.execPath)) && !!h.chosen), 20_000);
  }
  const from = ledger(port, names);
  const client = spawn(process.execPath, [HTTP_LOAD, 'client', String(port), tls ? '1' : '0', '16', String(requests)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await firstLine(client);
  const m = /^made (\d+) ok (\d+)$/.exec(line);
  assert.ok(m && m[1] === m[2], `every request answered with its whole body: ${line}`);
  const made = Number(m[1]);
  const d = await settle(port, names, from, 2 * made);
  if (overflow) assert.ok(d.ringFullBytes > 0 && d.letGo > 0, `the ring overflowed and ends were let go: ${identity(d)}`);
  else assert.ok(d.counted >= made, `most ends not captured, their requests counted: ${identity(d)}`);
  exact(t, d, d.reported + d.counted + d.lost, 2 * made, `the client made ${made} requests, two ends each: ${identity(d)}`);
  assert.equal(d.uncounted, 0, 'no end let go whose requests could not be counted');
  const r = requestsOn(ra!.sink, port);
  allRight([...r.server, ...r.client], /^\/load\/\d+$/);
}

test('keep-alive load -> node http, every request captured, a 64 KiB ring: each request end is reported or counted', needsRoot, (t) =>
  httpLoad(t, false, { counted: 'kernel_h1_requests_not_captured', letGo: 'kernel_connections_ring_full', ringFullBytes: 'kernel_bytes_ring_full', uncounted: 'kernel_connections_h2_uncounted' }));

const TLS_NAMES = { counted: 'tls_kernel_h1_requests_not_captured', letGo: 'tls_kernel_streams_ring_full', ringFullBytes: 'tls_kernel_bytes_ring_full', uncounted: 'tls_kernel_streams_h2_uncounted' };

test('the same over TLS (node https): each request end is reported or counted', needsRoot, (t) => httpLoad(t, true, TLS_NAMES));

test('TLS streams sampled out when first seen: their HTTP/1 requests are counted from the first bytes of each call', needsRoot, async (t) => {
  sampleEvery(ra!, 'tls.data', 1_000_000); // (almost surely) no stream captured: every request end counted
  t.after(() => sampleEvery(ra!, 'tls.data', 1));
  await httpLoad(t, true, TLS_NAMES, 400, false);
});
