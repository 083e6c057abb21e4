// Contact with the Kubernetes API server from a pod (needs root, containerd CRI): the FAKE API server (no real one
// can run here) lists a `kubernetes` Service in `default` whose ClusterIP is a loopback address; a container in a
// CRI pod (host network) connects to it for real; the network collector's connect, enriched by identity (which names
// the peer `kubernetes.default`), becomes a `security.k8s.apiserver_contact` event with the pod's identity. A
// connect from the host to the same address is not one (node components talk to the API server by design).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { parseConfig } from '../../src/config/load';
import { IdentityResolver } from '../../src/identity';
import { enrichWith } from '../../src/agent/services';
import { makeService } from '../helpers/fake-apiserver';
import { needsRoot } from '../helpers/root';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { ContainerdHarness, newPodSpec, startOrSkip } from '../harness/runtimes';
import { startHarness, type Harness } from '../identity/kubernetes-helpers';

const API_IP = '127.0.0.77';
let agent: TestAgent | undefined;
let identity: IdentityResolver | undefined;
let ctrd: ContainerdHarness | undefined;
let k8s: Harness | undefined;
let server: net.Server | undefined;

after(async () => {
  await agent?.stop();
  identity?.stop();
  await ctrd?.teardown().catch(() => undefined);
  await k8s?.cleanup();
  server?.close();
});

test('a pod connecting to the kubernetes.default Service is reported with its pod identity; the host is not', needsRoot, async (t) => {
  ctrd = await startOrSkip(t, () => ContainerdHarness.start());
  if (!ctrd) return;
  k8s = await startHarness({}, (fake) => fake.upsert(makeService('kubernetes', 'default', API_IP)));
  server = net.createServer((s) => { s.on('error', () => undefined); s.end('ok'); });
  await new Promise<void>((r) => server!.listen(0, API_IP, () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const config = parseConfig('');
  config.identity.runtimes.endpoints = [{ kind: 'cri', socket: ctrd.socket, runtime: 'containerd' }];
  identity = new IdentityResolver({ config: config.identity, kubernetes: k8s.source, log: () => undefined });
  await identity.start();
  agent = await startTestAgent({ config, only: ['cgroup', 'network'], enrich: enrichWith(identity, k8s.source),
    identityGate: identity, cgroupChanged: (c) => identity!.cgroupChanged(c) });
  // Wait until the metadata source has the Service (it names the peer).
  for (let i = 0; i < 250 && k8s.source.serviceForIp(API_IP) !== 'kubernetes.default'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(k8s.source.serviceForIp(API_IP), 'kubernetes.default');

  // From the host: not a pod, no event.
  await new Promise<void>((r, j) => { const c = net.connect(port, API_IP, () => { c.destroy(); r(); }); c.on('error', j); });

  const spec = newPodSpec('curious');
  const pod = await ctrd.runPod(spec);
  const c = await ctrd.runContainer(pod, 'probe');
  await ctrd.exec(c.id, ['sh', '-c', `echo hi | nc -w2 ${API_IP} ${port}; true`]);
  const e = await agent.sink.waitFor((x) => x.name === 'security.k8s.apiserver_contact', 10_000, 'the API server contact');
  assert.equal(e.attributes['container.id'], c.id);
  assert.equal(e.attributes['k8s.pod.name'], spec.name);
  assert.equal(e.attributes['k8s.namespace.name'], spec.namespace);
  assert.equal(e.attributes['network.peer.address'], API_IP);
  assert.equal(e.attributes['network.peer.port'], port);
  assert.equal(e.attributes['tapio.network.peer.service'], 'kubernetes.default');
  assert.equal(e.attributes['tapio.security.apiserver.matched_by'], 'service');
  assert.equal(e.attributes['tapio.security.detection'], 'apiserver_contact');
  assert.equal(e.attributes['tapio.security.mitre.technique.id'], 'T1613');
  assert.equal(e.severity, 'WARN');
  const contacts = agent.sink.events.filter((x) => x.name === 'security.k8s.apiserver_contact');
  assert.ok(contacts.every((x) => x.attributes['container.id'] === c.id), 'the host connect made no contact event');
});
