// A connect that times out is reported as network.tcp.connect_failed with ETIMEDOUT (needs root). Only loopback may
// be used, so the test makes its own network namespace, drops SYNs there with a tc program (bpf/testing/drop_syn),
// shortens SYN retries in that namespace, and connects inside it. Everything is removed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { NetworkCollector } from '../../src/collectors/network';
import { runCollector } from './collect';

const ROOT = path.join(__dirname, '..', '..', '..');

function inNetns(ns: string, script: string): ReturnType<typeof spawn> {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
}

async function output(child: ReturnType<typeof spawn>): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, out };
}

test('a connect that gets no answer is reported as failed with ETIMEDOUT', needsRoot, async () => {
  const ns = `tapio-timeout-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const run = await runCollector(new NetworkCollector());
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_syn_retries=1']);
    // Attach the SYN dropper from inside the namespace; the tc filter stays after that process exits.
    const attach = await output(inNetns(ns, `
      const { loadCollector } = require('./dist/src/kernel');
      loadCollector({ name: 'drop_syn', object: 'testing/drop_syn.bpf.o',
        hooks: [{ name: 'drop', implementations: [{ kind: 'tc', program: 'drop_syn', target: { ifname: 'lo', ingress: true } }] }] })
        .then((c) => { console.log(c.available ? 'attached' : c.unavailableReasons().join('; ')); process.exit(0); });`));
    assert.match(attach.out, /attached/, attach.out);
    const client = inNetns(ns, `
      const s = require('net').connect(9, '127.0.0.1');
      s.on('connect', () => { console.log('connected?!'); process.exit(1); });
      s.on('error', (e) => { console.log(e.code); process.exit(0); });
      setTimeout(() => { console.log('no answer in 20 s'); process.exit(2); }, 20000);`);
    const pid = client.pid!;
    const r = await output(client);
    assert.equal(r.out.trim(), 'ETIMEDOUT', 'the client itself saw a timeout');
    const seen = await run.waitFor(() => run.events.some((e) => e.name === 'network.tcp.connect_failed' && e.attributes['process.pid'] === pid), 5000);
    assert.ok(seen, 'connect_failed seen for the client');
    const e = run.events.find((x) => x.name === 'network.tcp.connect_failed' && x.attributes['process.pid'] === pid)!;
    assert.equal(e.attributes['error.type'], 'ETIMEDOUT');
    assert.equal(e.attributes['network.peer.address'], '127.0.0.1');
    assert.equal(e.attributes['network.peer.port'], 9);
  } finally {
    await run.stop();
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
