// The request-capture collector on the real kernel (socket-length tracepoints): real peers over loopback. Every
// syscall shape (send/sendmsg/recv/recvmsg from Python, write/writev/read from Node) arrives byte for byte on both
// ends; bytes beyond the bound are counted as gaps, never misplaced; connections speaking something else are
// skipped; h2c from curl to nghttpd is detected as HTTP/2; a connection opened before the agent is still captured.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { RequestsCollector } from '../../src/collectors/requests';
import { runCollector, type Running } from './collect';
import { Recorder } from './requests/recorder';
import { syscallShapes, truncatedBodies } from './requests/scenarios';
import { freePort, until } from './requests/agent';

let run: Running | undefined;
let collector: RequestsCollector;
const recorder = new Recorder();
let early: { server: net.Server; client: net.Socket; serverSide: Promise<net.Socket> } | undefined;

before(async () => {
  if (needsRoot.skip) return;
  // A keep-alive connection that exists before the collector starts.
  let accept!: (s: net.Socket) => void;
  const serverSide = new Promise<net.Socket>((r) => { accept = r; });
  const server = net.createServer((s) => accept(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  early = { server, client, serverSide };
  collector = new RequestsCollector({ consumer: recorder.factory });
  run = await runCollector(collector, { collectors: { requests: { enabled: true } } });
});

after(async () => {
  early?.client.destroy();
  early?.server.close();
  await run?.stop();
});

test('the socket-length plan is the one in use', needsRoot, () => {
  const st = collector.status();
  assert.equal(st.available, true, JSON.stringify(st.hooks));
  assert.equal(st.counters?.plan_socket_length, 1);
});

test('send, 150-iovec sendmsg, recv, recvmsg, write, 200-buffer writev and read: both ends byte for byte', needsRoot, async () => {
  await syscallShapes(run!, recorder);
});

test('bodies beyond the per-syscall bound: copied + counted gaps = bytes on the wire, every copied byte in place', needsRoot, async () => {
  await truncatedBodies(run!, recorder);
  assert.ok(collector.counters().kernel_bytes_truncated! > 0);
});

test('a connection speaking something else is skipped after detection and counted', needsRoot, async () => {
  const before = collector.counters().kernel_connections_unsupported ?? 0;
  const server = net.createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  for (let i = 0; i < 8; i++) {
    c.write(`SSH-2.0-OpenSSH_9.2 line ${i}\r\n`);
    await new Promise((r) => c.once('data', r));
  }
  // The echo server's socket and the client's: both looked at, both found unsupported.
  assert.ok(await run!.waitFor(() => (collector.counters().kernel_connections_unsupported ?? 0) >= before + 2, 3000));
  c.destroy();
  server.close();
  assert.equal(recorder.find(c.localPort!, port), undefined, 'nothing of it reached userspace');
});

test('h2c with prior knowledge (curl -> nghttpd): detected as HTTP/2, preface first, both ends equal', needsRoot, async (t) => {
  const which = (b: string) => ['/usr/bin', '/usr/sbin', '/bin'].some((d) => fs.existsSync(path.join(d, b)));
  if (!which('nghttpd') || !which('curl')) { t.skip('nghttpd or curl missing (scripts/setup.sh installs nghttp2-server and curl)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-h2-'));
  fs.writeFileSync(path.join(dir, 'index.html'), 'hello over h2c\n'.repeat(50));
  // A port that was free a moment ago (not a random one, which may be some other connection's ephemeral port), and
  // one curl once nghttpd listens: retried curls (refused, or timed out on a loaded machine) left extra connections
  // on the port for the checks below to pick from.
  const port = await freePort();
  const srv: ChildProcess = spawn('nghttpd', ['--no-tls', '-d', dir, '-a', '127.0.0.1', String(port)], { stdio: 'ignore' });
  try {
    const listening = `:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
    await until('nghttpd to listen', () => fs.readFileSync('/proc/net/tcp', 'utf8').includes(listening));
    const body = await new Promise<string>((resolve, reject) => execFile('curl', ['-sS', '--http2-prior-knowledge', '--max-time', '30', `http://127.0.0.1:${port}/index.html`],
      (err, out) => (err ? reject(err) : resolve(out))));
    assert.equal(body, 'hello over h2c\n'.repeat(50));
    const conns = () => recorder.connections.filter((c) => c.info.tuple.peerPort === port || c.info.tuple.localPort === port);
    assert.ok(await run!.waitFor(() => conns().length >= 2 && conns().every((c) => c.closed), 15_000), 'both ends captured and closed');
    const client = conns().find((c) => c.info.tuple.peerPort === port)!;
    const server = conns().find((c) => c.info.tuple.localPort === port)!;
    assert.equal(client.info.protocol, 2);
    assert.equal(client.info.role, 'client');
    assert.equal(server.info.role, 'server');
    const sent = Recorder.rebuild(client, 'send');
    assert.equal(sent.copied.subarray(0, 24).toString('latin1'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    assert.equal(sent.gapBytes, 0);
    assert.ok(sent.copied.equals(Recorder.rebuild(server, 'recv').copied), 'what curl sent is what nghttpd read');
    const back = Recorder.rebuild(server, 'send').copied;
    const read = Recorder.rebuild(client, 'recv').copied;
    // curl may close before reading nghttpd's last frames (its GOAWAY): what curl read is the start of what was sent.
    assert.ok(read.length > 0 && back.subarray(0, read.length).equals(read), `curl read ${read.length} of ${back.length} bytes nghttpd sent`);
    assert.ok(Recorder.rebuild(client, 'recv').copied.includes(Buffer.from('hello over h2c')), 'the DATA frame is in the stream');
  } finally {
    srv.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a connection opened before the agent: captured from its first request, roles learnt from it', needsRoot, async () => {
  const { client, serverSide } = early!;
  const s = await serverSide;
  s.on('data', () => s.write('HTTP/1.1 204 No Content\r\n\r\n'));
  const got = new Promise((r) => client.once('data', r));
  client.write('GET /early HTTP/1.1\r\nHost: t\r\n\r\n');
  await got;
  const cp = client.localPort!;
  const sp = client.remotePort!;
  assert.ok(await run!.waitFor(() => !!recorder.find(cp, sp) && !!recorder.find(sp, cp)
    && Recorder.rebuild(recorder.find(cp, sp), 'recv').length > 0 && Recorder.rebuild(recorder.find(sp, cp), 'send').length > 0, 5000));
  assert.equal(recorder.find(cp, sp)!.info.role, 'client');
  assert.equal(recorder.find(sp, cp)!.info.role, 'server');
  assert.equal(Recorder.rebuild(recorder.find(sp, cp), 'recv').copied.toString(), 'GET /early HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal(Recorder.rebuild(recorder.find(cp, sp), 'recv').copied.toString(), 'HTTP/1.1 204 No Content\r\n\r\n');
});
