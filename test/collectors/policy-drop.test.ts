// Netfilter policy drops on the real kernel (needs root, iptables): in the test's OWN network namespace (ip netns +
// a veth pair), DROP rules on the namespace's INPUT (ingress: attributed by the namespace) and OUTPUT (egress:
// attributed by the sending socket's cgroup); inside a Docker container (--network none: only lo), DROP rules on lo
// attribute both directions to the container. Every rule lives in a namespace the test made and is removed with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { parseConfig } from '../../src/config/load';
import { IdentityResolver } from '../../src/identity';
import { enrichWith } from '../../src/agent/services';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { DockerHarness, missingBinaries, startOrSkip } from '../harness/runtimes';
import { runAsync } from './security-fixtures';

const NS = `tapio-nf-${process.pid}`;
const HOST_IF = `tnfh${process.pid % 10000}`;
const NS_IF = `tnfn${process.pid % 10000}`;
const HOST_IP = '10.199.7.1';
const NS_IP = '10.199.7.2';
let agent: TestAgent | undefined;
let identity: IdentityResolver | undefined;
let docker: DockerHarness | undefined;
const missing = missingBinaries(['ip', 'iptables']);
const skip = needsRoot.skip || (missing.length ? `missing ${missing.join(', ')} (scripts/setup.sh installs iptables)` : false);

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' }).toString();

before(async () => {
  if (skip) return;
  sh('ip', ['netns', 'add', NS]);
  sh('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF, 'netns', NS]);
  sh('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF]);
  sh('ip', ['link', 'set', HOST_IF, 'up']);
  sh('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', NS_IF]);
  sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up']);
  sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
});

after(async () => {
  await agent?.stop();
  identity?.stop();
  await docker?.teardown().catch(() => undefined);
  if (skip) return;
  try { sh('ip', ['link', 'del', HOST_IF]); } catch { /* gone with the namespace */ }
  try { sh('ip', ['netns', 'del', NS]); } catch { /* not made */ }
});

const drop = (pred: (a: TapioEvent['attributes']) => boolean) => (e: TapioEvent) => e.name === 'security.network.policy_drop' && pred(e.attributes);

function netnsInode(path: string): number {
  return Number(fs.statSync(path).ino);
}

test('own network namespace: ingress and egress DROP rules give drops with 5-tuple, reason and attribution', { skip }, async (t) => {
  docker = await startOrSkip(t, () => DockerHarness.start()).catch(() => undefined);
  const config = parseConfig('');
  config.identity.runtimes.endpoints = docker ? [{ kind: 'docker', socket: docker.socket }] : [];
  config.identity.kubernetes.enabled = false;
  identity = new IdentityResolver({ config: config.identity, log: () => undefined });
  await identity.start();
  agent = await startTestAgent({ config, only: ['security-signals'], enrich: enrichWith(identity, undefined), identityGate: identity });

  const nsIno = netnsInode(`/run/netns/${NS}`);
  // A process that keeps the namespace populated, so the ingress drop has someone to be attributed to.
  const sleeper = (await import('node:child_process')).spawn('ip', ['netns', 'exec', NS, 'sleep', '60'], { stdio: 'ignore' });
  try {
    sh('ip', ['netns', 'exec', NS, 'iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '7701', '-j', 'DROP']);
    sh('ip', ['netns', 'exec', NS, 'iptables', '-A', 'OUTPUT', '-p', 'udp', '--dport', '7702', '-j', 'DROP']);
    // Ingress: this process sends from the host to the namespace, where INPUT drops it.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, HOST_IP, () => r()));
    const srcPort = sock.address().port;
    await new Promise<void>((r, j) => sock.send('x', 7701, NS_IP, (err) => (err ? j(err) : r())));
    sock.close();
    const ing = await agent.sink.waitFor(drop((a) => a['destination.port'] === 7701), 8000, 'the ingress drop');
    assert.equal(ing.attributes['tapio.network.direction'], 'ingress');
    assert.equal(ing.attributes['network.transport'], 'udp');
    assert.equal(ing.attributes['source.address'], HOST_IP);
    assert.equal(ing.attributes['source.port'], srcPort);
    assert.equal(ing.attributes['destination.address'], NS_IP);
    assert.equal(ing.attributes['tapio.network.drop.reason'], 'NETFILTER_DROP');
    assert.equal(ing.attributes['tapio.network.netns.inode'], nsIno);
    assert.equal(ing.attributes['tapio.security.detection'], 'policy_drop');
    assert.equal(ing.attributes['tapio.security.mitre.technique.id'], 'T1046');
    assert.equal(ing.attributes['tapio.security.attributed_by'], 'network_namespace');

    // Egress: a shell inside the namespace sends; OUTPUT drops it; the socket names the sender.
    const r = await runAsync('ip', ['netns', 'exec', NS, 'bash', '-c', `echo x > /dev/udp/${HOST_IP}/7702; echo sent`]);
    void r;
    const eg = await agent.sink.waitFor(drop((a) => a['destination.port'] === 7702), 8000, 'the egress drop');
    assert.equal(eg.attributes['tapio.network.direction'], 'egress');
    assert.equal(eg.attributes['source.address'], NS_IP);
    assert.equal(eg.attributes['destination.address'], HOST_IP);
    assert.equal(eg.attributes['tapio.network.netns.inode'], nsIno);
    assert.equal(eg.attributes['tapio.process.comm'], 'bash', 'sent in process context: the sender is named');
  } finally {
    sleeper.kill();
  }

  if (!docker) return;
  // A container: only lo; DROP rules inside its namespace. Both directions belong to the container.
  const c = await docker.run(`tapio-nf-${process.pid}`);
  const nsenter = (args: string[]) => sh('nsenter', ['-t', String(c.pid), '-n', ...args]);
  nsenter(['iptables', '-A', 'OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', '7703', '-j', 'DROP']);
  nsenter(['iptables', '-A', 'INPUT', '-i', 'lo', '-p', 'tcp', '--dport', '7704', '-j', 'DROP']);
  await runAsync('docker', ['-H', `unix://${docker.socket}`, 'exec', c.id, 'sh', '-c', 'echo x | nc -w1 127.0.0.1 7703; echo x | nc -w1 127.0.0.1 7704; true']);
  const ce = await agent.sink.waitFor(drop((a) => a['destination.port'] === 7703), 8000, 'the container egress drop');
  assert.equal(ce.attributes['container.id'], c.id);
  assert.equal(ce.cgroupId, c.cgroupId);
  assert.equal(ce.attributes['tapio.network.direction'], 'egress');
  const ci = await agent.sink.waitFor(drop((a) => a['destination.port'] === 7704 && a['tapio.network.direction'] === 'ingress'), 8000, 'the container ingress drop');
  assert.equal(ci.attributes['container.id'], c.id, 'the intended receiver: the container living in that namespace');
  assert.equal(ci.attributes['network.transport'], 'tcp');
});
