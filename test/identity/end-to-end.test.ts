// End to end (needs root, real runtimes): a process exec'd inside a container and a TCP connection made from it,
// seen by the real BPF collectors, carry the right container.id, name, image and runtime; for the CRI pod also the
// pod's name, uid and namespace (from CRI sandbox metadata: no API server here). A host process carries none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseConfig } from '../../src/config/load';
import { IdentityResolver } from '../../src/identity';
import { enrichWith } from '../../src/agent/services';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { ContainerdHarness, DockerHarness, PodmanHarness, HarnessSkip, newPodSpec } from '../harness/runtimes';

type Harness = ContainerdHarness | DockerHarness | PodmanHarness;
const harnesses: { containerd?: ContainerdHarness; docker?: DockerHarness; podman?: PodmanHarness } = {};
const skipped: Record<string, string> = {};
let agent: TestAgent | undefined;
let identity: IdentityResolver | undefined;

async function startOrSkip<T extends Harness>(name: string, start: () => Promise<T>): Promise<T | undefined> {
  try {
    return await start();
  } catch (e) {
    if (e instanceof HarnessSkip) { skipped[name] = e.message; return undefined; }
    throw e;
  }
}

before(async () => {
  if (needsRoot.skip) return;
  harnesses.containerd = await startOrSkip('containerd', () => ContainerdHarness.start());
  harnesses.docker = await startOrSkip('docker', () => DockerHarness.start());
  harnesses.podman = await startOrSkip('podman', () => PodmanHarness.start());
  const endpoints = [
    harnesses.containerd && { kind: 'cri' as const, socket: harnesses.containerd.socket, runtime: 'containerd' as const },
    harnesses.docker && { kind: 'docker' as const, socket: harnesses.docker.socket },
    harnesses.podman && { kind: 'podman' as const, socket: harnesses.podman.socket },
  ].filter((e) => !!e);
  const config = parseConfig('');
  config.identity.runtimes.endpoints = endpoints;
  config.identity.kubernetes.enabled = false;
  identity = new IdentityResolver({ config: config.identity, log: () => undefined });
  await identity.start();
  agent = await startTestAgent({ config, only: ['cgroup', 'process', 'network'], enrich: enrichWith(identity, undefined, 'test-node', 'test-cluster'), identityGate: identity,
    cgroupChanged: (c) => identity!.cgroupChanged(c) });
});

after(async () => {
  await agent?.stop();
  identity?.stop();
  for (const h of [harnesses.podman, harnesses.docker, harnesses.containerd]) await h?.teardown().catch(() => undefined);
});

// Inside the container: a tiny HTTP server (busybox httpd) and a client fetching from it over loopback.
const PORT = 18000 + (process.pid % 1000);
const WORKLOAD = ['sh', '-c', `httpd -p 127.0.0.1:${PORT} -h /tmp; wget -q -O /dev/null http://127.0.0.1:${PORT}/ ; echo tapio-e2e`];

function checkContainerEvent(e: TapioEvent, c: { id: string; name: string }, runtime: string): void {
  assert.equal(e.attributes['container.id'], c.id, `${e.name} container.id`);
  assert.equal(e.attributes['container.runtime'], runtime);
  assert.equal(e.attributes['container.name'], c.name);
  // Runtimes name the image as they were asked to: `tapio/busybox:test` (Docker) or fully qualified (CRI, podman).
  assert.match(String(e.attributes['container.image.name']), /(^|\/)tapio\/busybox:test$/);
  assert.equal(e.attributes['k8s.node.name'], 'test-node');
}

async function checkRuntime(runtime: string, exec: () => Promise<unknown> | unknown, c: { id: string; name: string; cgroupId: bigint }): Promise<TapioEvent[]> {
  const sink = agent!.sink;
  const from = sink.events.length;
  await exec();
  const inContainer = (e: TapioEvent) => e.cgroupId === c.cgroupId;
  const fresh = (e: TapioEvent) => sink.events.indexOf(e) >= from;
  const wget = await sink.waitFor((e) => fresh(e) && inContainer(e) && e.name === 'process.exec' && (e.attributes['process.command_args'] as string[])?.[0] === 'wget', 10_000, `${runtime}: exec of wget`);
  checkContainerEvent(wget, c, runtime);
  const connect = await sink.waitFor((e) => fresh(e) && inContainer(e) && e.name === 'network.tcp.connect' && e.attributes['network.peer.port'] === PORT, 10_000, `${runtime}: connect`);
  checkContainerEvent(connect, c, runtime);
  assert.equal(connect.attributes['network.peer.address'], '127.0.0.1');
  const accept = await sink.waitFor((e) => fresh(e) && inContainer(e) && e.name === 'network.tcp.accept' && e.attributes['network.local.port'] === PORT, 10_000, `${runtime}: accept`);
  checkContainerEvent(accept, c, runtime);
  return [wget, connect, accept];
}

test('containerd (CRI): container and pod identity on exec and TCP events', needsRoot, async (t) => {
  const h = harnesses.containerd;
  if (!h) return t.skip(skipped.containerd ?? 'not started');
  const spec = newPodSpec('e2e-pod');
  const pod = await h.runPod(spec);
  const c = await h.runContainer(pod, 'e2e-app');
  const [wget] = await checkRuntime('containerd', () => h.exec(c.id, WORKLOAD), c);
  assert.equal(wget.attributes['k8s.pod.name'], spec.name);
  assert.equal(wget.attributes['k8s.pod.uid'], spec.uid);
  assert.equal(wget.attributes['k8s.namespace.name'], spec.namespace);
  assert.equal(wget.attributes['k8s.container.name'], 'e2e-app');
});

test('dockerd: container identity on exec and TCP events', needsRoot, async (t) => {
  const h = harnesses.docker;
  if (!h) return t.skip(skipped.docker ?? 'not started');
  const c = await h.run('tapio-e2e-docker');
  const [wget] = await checkRuntime('docker', () => h.exec(c.id, WORKLOAD), c);
  assert.equal(wget.attributes['k8s.pod.name'], undefined, 'a plain Docker container is not a pod');
});

test('podman: container identity on exec and TCP events', needsRoot, async (t) => {
  const h = harnesses.podman;
  if (!h) return t.skip(skipped.podman ?? 'not started');
  const c = await h.run('tapio-e2e-podman');
  await checkRuntime('podman', () => h.exec(c.id, WORKLOAD), c);
});

test('a host process carries no container or pod attributes, and that is visible', needsRoot, async () => {
  const marker = `tapio-host-e2e-${process.pid}`;
  execFileSync('/bin/true', [marker]);
  const e = await agent!.sink.waitFor((ev) => ev.name === 'process.exec' &&
    Array.isArray(ev.attributes['process.command_args']) && (ev.attributes['process.command_args'] as string[]).includes(marker), 10_000, 'host exec');
  const identityKeys = Object.keys(e.attributes).filter((k) => k.startsWith('container.') || k.startsWith('k8s.pod.') || k === 'k8s.namespace.name' || k === 'k8s.container.name');
  assert.deepEqual(identityKeys, [], 'no container or pod attributes on a host process');
  assert.equal(e.attributes['k8s.node.name'], 'test-node', 'the node is still named');
});
