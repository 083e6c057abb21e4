// Accept attribution without a syscall tracepoint (needs root): servers in child processes, one listening before
// the collector starts (its owner seeded from /proc) and one after (seen at listen()); a connection from this test
// process to each must give an accept event owned by the server's process, not by the client. And on a kernel
// where tp_btf works, neither accept hook is a syscall tracepoint, so the node pays no per-syscall tax for them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { needsRoot } from '../helpers/root';
import { NetworkCollector } from '../../src/collectors/network';
import { findListenerOwners } from '../../src/collectors/network/listeners';
import { runCollector, type Running } from './collect';

let run: Running | undefined;
let collector: NetworkCollector;
const servers: ChildProcess[] = [];

/** A node server in its own process on 127.0.0.1; resolves with its pid and port. */
async function startServer(): Promise<{ pid: number; port: number }> {
  const child = spawn(process.execPath, ['-e',
    "const s = require('net').createServer((c) => c.end('ok')).listen(0, '127.0.0.1', () => console.log(s.address().port));"],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { pid: child.pid!, port };
}

function connectOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let local = 0;
    c.on('connect', () => { local = c.localPort!; });
    c.on('data', () => undefined);
    c.on('close', () => resolve(local));
    c.on('error', reject);
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
  });
}

let early: { pid: number; port: number } | undefined;

before(async () => {
  if (needsRoot.skip) return;
  early = await startServer(); // listening before the collector: only /proc knows its owner
  collector = new NetworkCollector();
  run = await runCollector(collector);
});

after(async () => {
  await run?.stop();
  for (const s of servers) s.kill();
});

test('/proc listing finds a listening socket and the process holding it', needsRoot, () => {
  const found = findListenerOwners().find((o) => o.port === early!.port);
  assert.ok(found, `no listener on port ${early!.port} in /proc`);
  assert.equal(found.pid, early!.pid);
});

for (const when of ['before', 'after'] as const) {
  test(`an accept on a listener opened ${when} the collector started is owned by the server process`, needsRoot, async () => {
    const server = when === 'before' ? early! : await startServer();
    const clientPort = await connectOnce(server.port);
    const accept = () => run!.events.find((e) => e.name === 'network.tcp.accept' &&
      e.attributes['network.local.port'] === server.port && e.attributes['network.peer.port'] === clientPort);
    assert.ok(await run!.waitFor(() => !!accept()), 'no accept event');
    assert.equal(accept()!.attributes['process.pid'], server.pid);
    assert.equal(accept()!.attributes['tapio.network.direction'], 'inbound');
  });
}

test('with tp_btf available, accept attribution uses no syscall tracepoint', needsRoot, () => {
  const hooks = collector.status().hooks;
  const accept = hooks.find((h) => h.name === 'accept')!;
  const legacy = hooks.find((h) => h.name === 'accept_legacy_syscall')!;
  const tpBtf = hooks.find((h) => h.name === 'tcp_state')!.chosen?.kind === 'tp_btf';
  if (!tpBtf) return; // a kernel without tp_btf falls back further; nothing to check here
  assert.notEqual(accept.chosen?.kind, 'tracepoint', JSON.stringify(accept));
  if (accept.chosen?.kind !== 'tracepoint') {
    assert.equal(legacy.chosen, undefined);
    assert.equal(legacy.attempts[0]?.stage, 'skipped');
  }
});
