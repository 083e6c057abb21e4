#!/usr/bin/env node
// Exercises every implementation of the network collector's accept hook on the running kernel, not only the one the
// fallback picks: for each implementation, the kinds preferred over it are marked unavailable (the same loader
// option `tapio run` passes to each collector from the probe), the real NetworkCollector starts, a real TCP client and server talk
// over 127.0.0.1, and we check the accept event (pid, ports, direction). Needs root and the host's dist/ build.
// Prints one JSON line per implementation; exits 1 if an implementation that attached gave wrong or no events.
// Run inside the matrix VM:  scripts/kernel-matrix/run.sh 6.1 node scripts/kernel-matrix/fallback-paths.js
'use strict';
const net = require('node:net');
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist', 'src');
const { NetworkCollector, networkCollectorSpec } = require(path.join(dist, 'collectors', 'network'));
const { configSchema } = require(path.join(dist, 'config', 'schema'));
const { DropCounters } = require(path.join(dist, 'core', 'drops'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One loopback connection; resolves with the server's and the client's ports. Bounded by a 5 s timeout. */
async function exchange(host) {
  const server = net.createServer((s) => { s.resume(); s.on('end', () => s.end('bye')); });
  try {
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, host, resolve); });
    const serverPort = server.address().port;
    const clientPort = await new Promise((resolve, reject) => {
      const c = net.connect(serverPort, host, () => c.end('hello'));
      let port = 0;
      c.on('connect', () => { port = c.localPort; });
      c.resume();
      c.on('error', reject);
      c.on('close', () => resolve(port));
      c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    });
    return { serverPort, clientPort };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

async function tryImplementation(impl, preferred) {
  const forced = Object.fromEntries(preferred.map((k) => [k, 'forced off by kernel-matrix fallback-paths']));
  const collector = new NetworkCollector({ unavailableKinds: forced });
  const events = [];
  const drops = new DropCounters();
  const result = { hook: 'accept', implementation: impl.kind, program: impl.program };
  await collector.start({ config: configSchema.parse({}), emit: (e) => events.push(...e), drops, log: () => {} });
  try {
    const hook = collector.status().hooks.find((h) => h.name === 'accept');
    result.chosen = hook && hook.chosen ? hook.chosen.kind : null;
    const own = hook ? hook.attempts.filter((a) => a.program === impl.program) : [];
    if (result.chosen !== impl.kind) {
      result.ok = false;
      result.error = own.map((a) => `${a.stage}: ${a.error}`).join('\n') || 'not chosen';
      return result;
    }
    const { serverPort, clientPort } = await exchange('127.0.0.1');
    const match = (e) => e.name === 'network.tcp.accept' && e.attributes['network.local.port'] === serverPort
      && e.attributes['network.peer.port'] === clientPort;
    for (let i = 0; i < 250 && !events.some(match); i++) await sleep(20);
    const accepts = events.filter(match);
    result.acceptEvents = accepts.length;
    const e = accepts[0];
    const problems = [];
    if (accepts.length !== 1) problems.push(`expected 1 accept event, got ${accepts.length}`);
    if (e && e.attributes['process.pid'] !== process.pid) problems.push(`pid ${e.attributes['process.pid']} != ${process.pid}`);
    if (e && e.attributes['tapio.network.direction'] !== 'inbound') problems.push(`direction ${e.attributes['tapio.network.direction']}`);
    if (e && e.attributes['network.peer.address'] !== '127.0.0.1') problems.push(`peer ${e.attributes['network.peer.address']}`);
    result.ok = problems.length === 0;
    if (problems.length) result.error = problems.join('; ');
    return result;
  } finally {
    await collector.stop();
  }
}

async function main() {
  const spec = networkCollectorSpec({ ringBufferBytes: 1 << 20, connectionTableSize: 1024 });
  const impls = spec.hooks.find((h) => h.name === 'accept').implementations;
  let failed = false;
  for (const [i, impl] of impls.entries()) {
    const r = await tryImplementation(impl, impls.slice(0, i).map((x) => x.kind)).catch((err) => ({ hook: 'accept', implementation: impl.kind, ok: false, error: String(err && err.stack || err) }));
    // An implementation the kernel refuses is a finding about the kernel, not a failure; wrong events are.
    if (!r.ok && r.chosen === impl.kind) failed = true;
    if (!r.ok && r.chosen === undefined) failed = true;
    console.log(JSON.stringify(r));
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => { console.error(err); process.exitCode = 2; });
