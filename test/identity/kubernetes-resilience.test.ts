// Kubernetes metadata when the API server misbehaves, against a FAKE API server (no real one can run here): it goes
// away and comes back (the last known data is kept meanwhile; changes made meanwhile show up after), and it sends
// malformed objects and lines (skipped and counted, never a crash).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeOwned, makePod } from '../helpers/fake-apiserver';
import { NODE, startHarness, waitFor } from './kubernetes-helpers';

test('an API server that stops and restarts is survived; changes made meanwhile show up after', async () => {
  const h = await startHarness({}, (fake) => {
    fake.upsert(makePod({ name: 'stays', namespace: 'default', node: NODE, uid: 'uid-stays' }));
    fake.upsert(makePod({ name: 'goes', namespace: 'default', node: NODE, uid: 'uid-goes' }));
    fake.upsert(makePod({ name: 'changes', namespace: 'default', node: NODE, uid: 'uid-changes', labels: { app: 'v1' } }));
  });
  try {
    assert.equal(await h.source.whenSynced(5000), true);
    await waitFor(() => h.source.status().connected, 'all watches up');

    await h.fake.stop(); // the API server crashes; its watch cache is gone when it returns
    await waitFor(() => !h.source.status().connected, 'outage noticed');
    assert.equal(h.source.podByUid('uid-stays')?.name, 'stays', 'last known data kept during the outage');
    assert.equal(h.source.status().objects.pods, 3);
    assert.ok(h.source.status().lastError, 'the outage is reported');

    // Meanwhile (as etcd would have it): one pod deleted, one added, one changed.
    h.fake.remove('Pod', 'default', 'goes');
    h.fake.upsert(makePod({ name: 'new', namespace: 'default', node: NODE, uid: 'uid-new' }));
    h.fake.upsert(makePod({ name: 'changes', namespace: 'default', node: NODE, uid: 'uid-changes', labels: { app: 'v2' } }));
    // Let a few reconnect attempts fail against the closed port before it comes back.
    await waitFor(() => h.source.status().informers.some((i) => i.restarts >= 2), 'reconnect attempts with backoff');
    await h.fake.start();

    await waitFor(() => h.source.podByUid('uid-new') !== undefined, 'pod added during the outage');
    await waitFor(() => !h.source.podIsLive('uid-goes'), 'pod deleted during the outage');
    await waitFor(() => h.source.podByUid('uid-changes')?.attributes['k8s.pod.label.app'] === 'v2', 'pod changed during the outage');
    await waitFor(() => h.source.status().connected, 'reconnected');
    assert.equal(h.source.podByUid('uid-stays')?.name, 'stays');

    // And the watch works again after the relist.
    h.fake.upsert(makePod({ name: 'after', namespace: 'default', node: NODE, uid: 'uid-after' }));
    await waitFor(() => h.source.podByUid('uid-after') !== undefined, 'pod added after the restart');
  } finally {
    await h.cleanup();
  }
});

test('a watch that the server ends (timeout) resumes from its resourceVersion without a relist', async () => {
  const h = await startHarness({ watchTimeoutSeconds: 1, services: false });
  try {
    await h.source.whenSynced(5000);
    await waitFor(() => h.fake.requests.filter((r) => r.verb === 'watch' && r.path === '/api/v1/pods').length >= 2, 'second pod watch', 500);
    const podLists = h.fake.requests.filter((r) => r.verb === 'list' && r.path === '/api/v1/pods');
    assert.equal(podLists.length, 1, 'one list, then watches only');
    h.fake.upsert(makePod({ name: 'p', namespace: 'default', node: NODE, uid: 'uid-p' }));
    await waitFor(() => h.source.podByUid('uid-p') !== undefined, 'event on the resumed watch');
  } finally {
    await h.cleanup();
  }
});

test('malformed objects and lines from the server are skipped and counted, never a crash', async () => {
  const h = await startHarness({}, (fake) => {
    fake.upsert(makePod({ name: 'good', namespace: 'default', node: NODE, uid: 'uid-good' }));
    // In the initial list: no metadata at all; a name that is a number; container statuses or labels of the wrong type.
    fake.insertRaw('Pod', 'x/1', { kind: 'Pod', spec: { nodeName: NODE } });
    fake.insertRaw('Pod', 'x/2', { kind: 'Pod', metadata: { name: 42, namespace: 'default', uid: 'u2' }, spec: { nodeName: NODE } });
    fake.insertRaw('Pod', 'x/3', { kind: 'Pod', metadata: { name: 'p3', namespace: 'default', uid: 'u3' }, spec: { nodeName: NODE }, status: { containerStatuses: 'oops' } });
    fake.insertRaw('Pod', 'x/4', { kind: 'Pod', metadata: { name: 'p4', namespace: 'default', uid: 'u4', labels: ['a'] }, spec: { nodeName: NODE } });
    fake.upsert(makeOwned('ReplicaSet', 'rs-1', 'default', { kind: 'Deployment', name: 'dep' }));
  });
  try {
    await h.source.whenSynced(5000);
    assert.equal(h.source.podByUid('uid-good')?.name, 'good');
    assert.equal(h.source.status().objects.pods, 1);
    assert.equal(h.drops.total({ stage: 'identity', kind: 'k8s.pod', reason: 'malformed_object' }), 4);
    assert.match(h.source.status().lastMalformed ?? '', /k8s\.pod: /);

    await waitFor(() => h.fake.watcherCount('Pod') === 1 && h.fake.watcherCount('EndpointSlice') === 1, 'watches open');
    h.fake.sendRawToWatchers('Pod', 'this is not json');
    h.fake.sendRawToWatchers('Pod', JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', metadata: { namespace: 'default' } } }));
    h.fake.sendRawToWatchers('Pod', JSON.stringify({ type: 'ADDED', object: null }));
    h.fake.sendRawToWatchers('Pod', JSON.stringify({ type: 'BOOKMARK', object: 'nope' }));
    h.fake.sendRawToWatchers('Pod', JSON.stringify({ type: 'EXPLODED', object: {} }));
    h.fake.sendRawToWatchers('EndpointSlice', JSON.stringify({ type: 'ADDED', object: { metadata: { name: 's', namespace: 'd' }, endpoints: [{ addresses: 'nope' }] } }));
    // A real change after the garbage still arrives on the same watch.
    h.fake.upsert(makePod({ name: 'after', namespace: 'default', node: NODE, uid: 'uid-after', owner: { kind: 'ReplicaSet', name: 'rs-1' } }));
    await waitFor(() => h.source.podByUid('uid-after')?.attributes['k8s.deployment.name'] === 'dep', 'valid pod after garbage');
    await waitFor(() => h.drops.total({ stage: 'identity', reason: 'malformed_object' }) === 10, 'garbage counted');
    assert.equal(h.drops.total({ kind: 'k8s.endpointslice' }), 1);
    assert.equal(h.source.status().malformedObjects, 10);
    assert.equal(h.source.status().objects.pods, 2);

    // A malformed owner is counted too, and the pod keeps what its own reference says.
    h.fake.insertRaw('ReplicaSet', 'default/rs-bad', { kind: 'ReplicaSet', metadata: { name: 'rs-bad', namespace: 'default', ownerReferences: 'x' } });
    h.fake.upsert(makePod({ name: 'bad-owner', namespace: 'default', node: NODE, uid: 'uid-bo', owner: { kind: 'ReplicaSet', name: 'rs-bad' } }));
    await waitFor(() => h.drops.total({ kind: 'k8s.replicaset' }) === 1, 'malformed owner counted');
    assert.equal(h.source.podByUid('uid-bo')?.attributes['k8s.replicaset.name'], 'rs-bad');
    assert.equal(h.source.podByUid('uid-bo')?.attributes['k8s.deployment.name'], undefined);
  } finally {
    await h.cleanup();
  }
});

test('an owner the agent may not read falls back to the Deployment naming convention', async () => {
  const h = await startHarness({}, (fake) => {
    fake.forbidden = /\/replicasets\//; // as if RBAC did not grant get on replicasets
    fake.upsert(makePod({ name: 'api-5b8d4-xyz', namespace: 'default', node: NODE, uid: 'uid-api',
      owner: { kind: 'ReplicaSet', name: 'api-5b8d4' }, labels: { 'pod-template-hash': '5b8d4' } }));
    // A ReplicaSet whose name does not end in the pod's template hash was not made by a Deployment: no guess.
    fake.upsert(makePod({ name: 'odd-q', namespace: 'default', node: NODE, uid: 'uid-odd',
      owner: { kind: 'ReplicaSet', name: 'odd' }, labels: { 'pod-template-hash': '5b8d4' } }));
  });
  try {
    await h.source.whenSynced(5000);
    await waitFor(() => h.source.podByUid('uid-api')?.attributes['k8s.deployment.name'] === 'api', 'deployment by convention');
    await waitFor(() => h.source.status().owners!.failures === 2, 'both lookups refused');
    assert.equal(h.source.podByUid('uid-odd')?.attributes['k8s.deployment.name'], undefined);
    assert.equal(h.source.podByUid('uid-odd')?.attributes['k8s.replicaset.name'], 'odd');
    assert.match(h.source.status().lastError ?? '', /HTTP 403.*grant the agent's service account get on apps\/replicasets/);
  } finally {
    await h.cleanup();
  }
});
