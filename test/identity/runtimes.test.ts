// IdentityResolver against real container runtimes started by the harness (containerd + CRI, dockerd, podman): a
// container's real cgroup id resolves to its id, name, image and runtime; the CRI pod also to its pod name, UID and
// namespace from sandbox metadata; a runtime that is stopped and restarted is survived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdentityResolver } from '../../src/identity/index';
import { identityConfigSchema } from '../../src/config/identity';
import { DropCounters } from '../../src/core/drops';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import {
  ContainerdHarness, DockerHarness, PodmanHarness, newPodSpec, startOrSkip, waitFor,
} from '../harness/runtimes';

type EndpointKind = 'cri' | 'docker' | 'podman';

function resolverFor(kind: EndpointKind, socket: string, drops = new DropCounters()): IdentityResolver {
  return new IdentityResolver({
    drops,
    config: identityConfigSchema.parse({
      runtimes: { endpoints: [{ kind, socket }], backoffInitialMs: 50, backoffMaxMs: 400, minRelistIntervalMs: 10 },
      cgroups: { minScanIntervalMs: 10 },
    }),
  });
}


test('containerd CRI: a pod container resolves to container and pod identity from sandbox metadata', { ...needsRoot, timeout: 120_000 }, async (t) => {
  const h = await startOrSkip(t, () => ContainerdHarness.start());
  if (!h) return;
  const identity = resolverFor('cri', h.socket);
  try {
    const spec = newPodSpec('web-0');
    const pod = await h.runPod(spec);
    const c = await h.runContainer(pod, 'app');
    await identity.start();
    const attrs = await identity.resolve(c.cgroupId);
    assert.equal(attrs['container.id'], c.id);
    assert.equal(attrs['container.name'], 'app');
    assert.equal(attrs['container.runtime'], 'containerd');
    assert.equal(attrs['container.image.name'], h.image.name);
    assert.equal(attrs['container.image.id'], h.image.id);
    assert.equal(attrs['k8s.pod.name'], spec.name);
    assert.equal(attrs['k8s.pod.uid'], spec.uid);
    assert.equal(attrs['k8s.namespace.name'], spec.namespace);
    assert.equal(attrs['k8s.container.name'], 'app');

    // enrich() puts the same attributes on an event, keeping the collector's own.
    const event: TapioEvent = { name: 'process.exec', timeUnixNano: 1n, cgroupId: c.cgroupId,
      attributes: { 'process.pid': c.pid } };
    identity.enrich(event);
    assert.equal(event.attributes['container.id'], c.id);
    assert.equal(event.attributes['process.pid'], c.pid);

    // The test process itself is on the host.
    assert.deepEqual(identity.attributesFor(1n), {});
  } finally {
    identity.stop();
    await h.teardown();
  }
});

test('containerd restart: identity degrades to cgroup paths, then recovers names', { ...needsRoot, timeout: 120_000 }, async (t) => {
  const h = await startOrSkip(t, () => ContainerdHarness.start());
  if (!h) return;
  const identity = resolverFor('cri', h.socket);
  try {
    const pod = await h.runPod(newPodSpec('restart-0'));
    await identity.start();
    assert.equal(identity.stats().runtimes[0]!.state, 'connected');

    await h.stopDaemon();
    // The endpoint notices on its next call: force one.
    await identity.runtimes.refresh(true);
    await waitFor('the runtime to be seen down', () => identity.stats().runtimes[0]!.state === 'waiting', 10_000);

    await h.restartDaemon();
    await waitFor('the runtime to be back', () => identity.stats().runtimes[0]!.state === 'connected', 20_000);
    // A container started after the restart is learned with its names again.
    const c = await h.runContainer(pod, 'late');
    const attrs = await identity.resolve(c.cgroupId);
    assert.equal(attrs['container.id'], c.id);
    assert.equal(attrs['container.name'], 'late');
    assert.equal(attrs['k8s.pod.name'], 'restart-0');
    const status = identity.stats().runtimes[0]!;
    assert.ok(status.failures >= 1 && status.connects >= 2, JSON.stringify(status));
  } finally {
    identity.stop();
    await h.teardown();
  }
});

test('docker: a container resolves to its id, name, image and runtime; new ones arrive by /events', { ...needsRoot, timeout: 120_000 }, async (t) => {
  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  const identity = resolverFor('docker', h.socket);
  try {
    const c = await h.run('tapio-box');
    await identity.start();
    const attrs = await identity.resolve(c.cgroupId);
    assert.equal(attrs['container.id'], c.id);
    assert.equal(attrs['container.name'], 'tapio-box');
    assert.equal(attrs['container.runtime'], 'docker');
    assert.equal(attrs['container.image.name'], h.image.shortName);
    assert.equal(attrs['container.image.id'], h.image.id);
    assert.equal(attrs['k8s.pod.uid'], undefined);

    // Started after the resolver: the start event alone must teach it (no re-list is asked for here).
    const before = identity.runtimes.generation;
    const late = await h.run('tapio-late');
    await waitFor('the start event', () => identity.runtimes.lookup(late.id) !== undefined, 10_000);
    assert.ok(identity.runtimes.generation > before);
    // Removal arrives the same way.
    h.remove(late.id);
    await waitFor('the destroy event', () => identity.runtimes.lookup(late.id) === undefined, 10_000);

    // Created, not yet running: dockerd's process is already in it while `start` is on its way, and the agent re-lists
    // often (any unknown container id on the node asks for one). A list of running containers only dropped what the
    // create event had taught, so the container's first execs went out unnamed (image.test.ts failed so in CI).
    const early = h.create('tapio-early');
    await waitFor('the create event', () => identity.runtimes.lookup(early) !== undefined, 10_000);
    await identity.runtimes.refresh(true);
    assert.equal(identity.runtimes.lookup(early)?.name, 'tapio-early', 'a re-list keeps a container that is created but not started');
    h.start(early);
    await identity.runtimes.refresh(true);
    assert.equal(identity.runtimes.lookup(early)?.name, 'tapio-early');
  } finally {
    identity.stop();
    await h.teardown();
  }
});

test('docker restart: the event stream is re-established after dockerd comes back', { ...needsRoot, timeout: 120_000 }, async (t) => {
  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  const identity = resolverFor('docker', h.socket);
  try {
    await identity.start();
    await h.stopDaemon();
    await waitFor('the runtime to be seen down', () => identity.stats().runtimes[0]!.state === 'waiting', 10_000);
    await h.restartDaemon();
    await waitFor('the runtime to be back', () => identity.stats().runtimes[0]!.state === 'connected', 20_000);
    const c = await h.run('after-restart');
    await waitFor('the start event after restart', () => identity.runtimes.lookup(c.id) !== undefined, 10_000);
    assert.equal((await identity.resolve(c.cgroupId))['container.name'], 'after-restart');
  } finally {
    identity.stop();
    await h.teardown();
  }
});

test('podman: a container resolves through the Docker-compatible API', { ...needsRoot, timeout: 120_000 }, async (t) => {
  const h = await startOrSkip(t, () => PodmanHarness.start());
  if (!h) return;
  const identity = resolverFor('podman', h.socket);
  try {
    const c = await h.run('tapio-pod-box');
    await identity.start();
    const attrs = await identity.resolve(c.cgroupId);
    assert.equal(attrs['container.id'], c.id);
    assert.equal(attrs['container.name'], 'tapio-pod-box');
    assert.equal(attrs['container.runtime'], 'podman');
    assert.match(String(attrs['container.image.name']), new RegExp(`${h.image.shortName}$`));
    assert.equal(attrs['container.image.id'], h.image.id);
    // Created, not started: a re-list keeps it (podman's compat API takes the same state filter).
    const early = h.create('tapio-pod-early');
    await identity.runtimes.refresh(true);
    assert.equal(identity.runtimes.lookup(early)?.name, 'tapio-pod-early');
  } finally {
    identity.stop();
    await h.teardown();
  }
});

test('a missing runtime socket degrades to cgroup-only identity and keeps retrying', { timeout: 30_000 }, async () => {
  const identity = resolverFor('cri', '/nonexistent/tapio-test.sock');
  try {
    await identity.start();
    const s = identity.stats().runtimes[0]!;
    assert.equal(s.state, 'waiting');
    assert.match(s.lastError ?? '', /does not exist/);
    await waitFor('retries with backoff', () => identity.stats().runtimes[0]!.failures >= 3, 10_000);
    assert.equal(identity.runtimes.anyConnected(), false);
  } finally {
    identity.stop();
  }
});
