// The network collector on the real kernel: a TCP client and server over 127.0.0.1 and ::1 exchanging known byte
// counts give connect, accept and close events with the right addresses, ports, direction, owner and bytes; a
// refused connect is reported with its reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { needsRoot } from '../helpers/root';
import { NetworkCollector } from '../../src/collectors/network';
import type { TapioEvent } from '../../src/core/event';
import { runCollector, type Running } from './collect';

let run: Running | undefined;
let collector: NetworkCollector;

before(async () => {
  if (needsRoot.skip) return;
  collector = new NetworkCollector();
  run = await runCollector(collector);
});

after(async () => {
  await run?.stop();
});

const CLIENT_BYTES = 12345;
const SERVER_BYTES = 54321;

/** One connection: the client sends CLIENT_BYTES and half-closes, the server answers SERVER_BYTES and closes. */
async function exchange(host: string): Promise<{ serverPort: number; clientPort: number }> {
  const server = net.createServer((s) => {
    let got = 0;
    s.on('data', (d) => { got += d.length; });
    s.on('end', () => { assert.equal(got, CLIENT_BYTES); s.end(Buffer.alloc(SERVER_BYTES, 1)); });
  });
  try {
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, host, resolve); });
    const serverPort = (server.address() as net.AddressInfo).port;
    const clientPort = await new Promise<number>((resolve, reject) => {
      const c = net.connect(serverPort, host, () => c.end(Buffer.alloc(CLIENT_BYTES, 2)));
      let got = 0;
      let port = 0;
      c.on('connect', () => { port = c.localPort!; });
      c.on('data', (d) => { got += d.length; });
      c.on('error', reject);
      c.on('close', () => (got === SERVER_BYTES ? resolve(port) : reject(new Error(`client got ${got} bytes`))));
      c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    });
    return { serverPort, clientPort };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

function find(name: string, localPort: number, peerPort: number): TapioEvent | undefined {
  return run!.events.find((e) => e.name === name && e.attributes['network.local.port'] === localPort && e.attributes['network.peer.port'] === peerPort);
}

for (const [host, type] of [['127.0.0.1', 'ipv4'], ['::1', 'ipv6']] as const) {
  test(`client and server over ${host}: connect, accept and two closes with addresses, direction and bytes`, needsRoot, async () => {
    const { serverPort, clientPort } = await exchange(host);
    const all = () => [find('network.tcp.connect', clientPort, serverPort), find('network.tcp.accept', serverPort, clientPort),
      find('network.tcp.close', clientPort, serverPort), find('network.tcp.close', serverPort, clientPort)];
    if (!(await run!.waitFor(() => all().every(Boolean)))) assert.fail(`missing events: ${all().map((e) => e?.name ?? 'none').join(', ')}`);
    const [connect, accept, clientClose, serverClose] = all() as TapioEvent[];
    for (const e of [connect, accept, clientClose, serverClose]) {
      assert.equal(e.attributes['network.transport'], 'tcp');
      assert.equal(e.attributes['network.type'], type);
      assert.equal(e.attributes['network.local.address'], host);
      assert.equal(e.attributes['network.peer.address'], host);
      assert.equal(e.attributes['process.pid'], process.pid, `${e.name} is owned by this process`);
    }
    assert.equal(connect.attributes['tapio.network.direction'], 'outbound');
    assert.equal(accept.attributes['tapio.network.direction'], 'inbound');
    assert.equal(clientClose.attributes['tapio.network.direction'], 'outbound');
    assert.equal(serverClose.attributes['tapio.network.direction'], 'inbound');
    assert.equal(clientClose.attributes['tapio.bytes.sent'], CLIENT_BYTES);
    assert.equal(clientClose.attributes['tapio.bytes.received'], SERVER_BYTES);
    assert.equal(serverClose.attributes['tapio.bytes.sent'], SERVER_BYTES);
    assert.equal(serverClose.attributes['tapio.bytes.received'], CLIENT_BYTES);
    assert.ok((clientClose.attributes['tapio.duration_ns'] as number) > 0);
    assert.ok((clientClose.attributes['tapio.tcp.srtt_us'] as number) > 0);
    assert.equal(clientClose.attributes['tapio.tcp.reset'], undefined);
  });
}

test('a refused connect is reported as connect_failed with ECONNREFUSED', needsRoot, async () => {
  // A port that was just free: bind, read the port, close, then connect to it.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const code = await new Promise<string>((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
    c.on('connect', () => { c.destroy(); resolve('connected'); });
  });
  assert.equal(code, 'ECONNREFUSED');
  const failed = () => run!.events.find((e) => e.name === 'network.tcp.connect_failed' && e.attributes['network.peer.port'] === port);
  assert.ok(await run!.waitFor(() => !!failed()));
  assert.equal(failed()!.attributes['error.type'], 'ECONNREFUSED');
  assert.equal(failed()!.attributes['process.pid'], process.pid);
  assert.equal(failed()!.attributes['network.peer.address'], '127.0.0.1');
});

test('a reset is reported on the close of the side that received it', needsRoot, async () => {
  // The server destroys its socket with unread data pending, which makes the kernel send a reset.
  const server = net.createServer((s) => { s.once('data', () => s.resetAndDestroy()); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const clientPort = await new Promise<number>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('hello'));
      let p = 0;
      c.on('connect', () => { p = c.localPort!; });
      c.on('error', () => {});
      c.on('close', () => resolve(p));
    });
    const close = () => find('network.tcp.close', clientPort, port);
    assert.ok(await run!.waitFor(() => !!close()));
    assert.equal(close()!.attributes['tapio.tcp.reset'], 'received');
    const serverClose = () => find('network.tcp.close', port, clientPort);
    assert.ok(await run!.waitFor(() => !!serverClose()));
    assert.equal(serverClose()!.attributes['tapio.tcp.reset'], 'sent');
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('no records were lost and the accept hook fell back as expected on this kernel', needsRoot, () => {
  collector.syncCounters();
  assert.equal(run!.drops.total({ stage: 'kernel', reason: 'ringbuf_full' }), 0);
  assert.equal(run!.drops.total({ stage: 'decode' }), 0);
  const accept = collector.status().hooks.find((h) => h.name === 'accept')!;
  assert.ok(accept.chosen, JSON.stringify(accept.attempts));
  // Kernel-function variants are tried first and their failures recorded in the kernel's words.
  if (accept.chosen.kind === 'tracepoint') assert.ok(accept.attempts.length >= 1);
});
