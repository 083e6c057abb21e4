// Kubernetes metadata against a FAKE API server (test/helpers/fake-apiserver.ts): no real API server can run on
// this machine, so a local one on 127.0.0.1 serves real-shaped objects through list and chunked watch. What a user
// would check: pods of this node appear, change and disappear; workloads are named through the owner chain; node and
// cluster attributes; the label/annotation allowlist; Service names for IPs; host mode without any Kubernetes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { kubernetesConfigSchema } from '../../src/config/kubernetes';
import { createKubernetesMetadata } from '../../src/identity/kubernetes';
import { makeEndpointSlice, makeOwned, makePod, makeService } from '../helpers/fake-apiserver';
import { CLUSTER_UID, NODE, startHarness, waitFor } from './kubernetes-helpers';

test('pods on this node are added, changed and deleted while running; other nodes\' pods are not watched', async () => {
  const h = await startHarness({}, (fake) => {
    fake.upsert(makePod({ name: 'early', namespace: 'default', node: NODE, uid: 'uid-early', containers: [{ name: 'app', id: 'containerd://aaa111' }] }));
    fake.upsert(makePod({ name: 'elsewhere', namespace: 'default', node: 'node-2', uid: 'uid-elsewhere' }));
  });
  try {
    assert.equal(await h.source.whenSynced(5000), true, 'synced');
    assert.equal(h.source.podByUid('uid-early')?.name, 'early');
    assert.equal(h.source.podByUid('uid-early')?.containerIds.app, 'aaa111', 'runtime:// prefix stripped');
    assert.equal(h.source.podByUid('uid-elsewhere'), undefined, 'pod of another node');
    // The API server was asked for this node's pods only.
    const podRequests = h.fake.requests.filter((r) => r.path === '/api/v1/pods');
    assert.ok(podRequests.length >= 2);
    for (const r of podRequests) assert.match(decodeURIComponent(r.query), new RegExp(`fieldSelector=spec\\.nodeName=${NODE}`));

    h.fake.upsert(makePod({ name: 'late', namespace: 'shop', node: NODE, uid: 'uid-late', containers: [{ name: 'web' }] }));
    await waitFor('pod added while running', () => h.source.podByUid('uid-late') !== undefined, 5000);
    assert.deepEqual(h.source.podByUid('uid-late')?.containerIds, {}, 'no container id before it started');

    // The container starts: kubelet writes its id into the pod status.
    h.fake.upsert(makePod({ name: 'late', namespace: 'shop', node: NODE, uid: 'uid-late', containers: [{ name: 'web', id: 'cri-o://bbb222' }] }));
    await waitFor('container id after update', () => h.source.podByUid('uid-late')?.containerIds.web === 'bbb222', 5000);
    assert.equal(h.source.podByContainerId('bbb222')?.name, 'late');
    assert.equal(h.source.podByContainerId('cri-o://bbb222')?.namespace, 'shop');

    h.fake.remove('Pod', 'default', 'early');
    await waitFor('pod deleted while running', () => !h.source.podIsLive('uid-early'), 5000);
    assert.equal(h.source.status().objects.pods, 1);
    assert.equal(h.source.podByContainerId('aaa111'), undefined);
    // Events that arrive just after the deletion (the containers' exits) still get the pod's names for a while.
    assert.equal(h.source.podByUid('uid-early')?.name, 'early', 'a deleted pod still names late events');
  } finally {
    await h.cleanup();
  }
});

test('owner chains: Deployment via ReplicaSet, CronJob via Job, StatefulSet, DaemonSet, bare pod', async () => {
  const h = await startHarness({}, (fake) => {
    fake.upsert(makeOwned('ReplicaSet', 'checkout-7d9f8b6c5', 'shop', { kind: 'Deployment', name: 'checkout' }));
    fake.upsert(makeOwned('ReplicaSet', 'loner-abc', 'shop')); // a ReplicaSet made by hand: no Deployment
    fake.upsert(makeOwned('Job', 'report-29170560', 'batch', { kind: 'CronJob', name: 'report' }));
    fake.upsert(makeOwned('Job', 'migrate', 'batch'));
    const pods: Array<[string, string, { kind: string; name: string } | undefined]> = [
      ['checkout-7d9f8b6c5-x1', 'shop', { kind: 'ReplicaSet', name: 'checkout-7d9f8b6c5' }],
      ['checkout-7d9f8b6c5-x2', 'shop', { kind: 'ReplicaSet', name: 'checkout-7d9f8b6c5' }],
      ['loner-abc-q', 'shop', { kind: 'ReplicaSet', name: 'loner-abc' }],
      ['report-29170560-zz', 'batch', { kind: 'Job', name: 'report-29170560' }],
      ['migrate-kk', 'batch', { kind: 'Job', name: 'migrate' }],
      ['db-0', 'data', { kind: 'StatefulSet', name: 'db' }],
      ['agent-p4', 'kube-system', { kind: 'DaemonSet', name: 'agent' }],
      ['bare', 'default', undefined],
    ];
    for (const [name, namespace, owner] of pods) fake.upsert(makePod({ name, namespace, node: NODE, uid: `uid-${name}`, owner }));
  });
  try {
    await h.source.whenSynced(5000);
    const attrs = (name: string) => h.source.podByUid(`uid-${name}`)?.attributes ?? {};
    await waitFor('owner lookups answered', () => attrs('checkout-7d9f8b6c5-x1')['k8s.deployment.name'] !== undefined && attrs('report-29170560-zz')['k8s.cronjob.name'] !== undefined, 5000);
    const workload = (name: string) => Object.fromEntries(Object.entries(attrs(name)).filter(([k]) => !k.startsWith('k8s.pod.')));
    assert.deepEqual(workload('checkout-7d9f8b6c5-x1'), { 'k8s.replicaset.name': 'checkout-7d9f8b6c5', 'k8s.deployment.name': 'checkout' });
    await waitFor('second pod of the deployment', () => attrs('checkout-7d9f8b6c5-x2')['k8s.deployment.name'] === 'checkout', 5000);
    assert.deepEqual(workload('loner-abc-q'), { 'k8s.replicaset.name': 'loner-abc' });
    assert.deepEqual(workload('report-29170560-zz'), { 'k8s.job.name': 'report-29170560', 'k8s.cronjob.name': 'report' });
    await waitFor('all owner lookups done', () => h.source.status().owners!.cached >= 4, 5000);
    assert.deepEqual(workload('migrate-kk'), { 'k8s.job.name': 'migrate' });
    assert.deepEqual(workload('db-0'), { 'k8s.statefulset.name': 'db' });
    assert.deepEqual(workload('agent-p4'), { 'k8s.daemonset.name': 'agent' });
    assert.deepEqual(workload('bare'), {});
    // Two pods of one ReplicaSet share one lookup; StatefulSet/DaemonSet need none.
    const gets = h.fake.requests.filter((r) => r.verb === 'get' && /replicasets|jobs/.test(r.path)).map((r) => r.path);
    assert.equal(gets.filter((p) => p.endsWith('/checkout-7d9f8b6c5')).length, 1, `one GET per owner: ${gets.join(', ')}`);
    assert.equal(gets.length, 4);
  } finally {
    await h.cleanup();
  }
});

test('node labels become resource attributes, the cluster uid is kube-system\'s uid', async () => {
  const h = await startHarness({ nodeLabels: ['team'] });
  try {
    await h.source.whenSynced(5000);
    const attrs = h.source.resourceAttributes();
    assert.equal(attrs['k8s.node.name'], NODE);
    assert.equal(attrs['k8s.cluster.name'], 'test-cluster');
    assert.equal(attrs['k8s.cluster.uid'], CLUSTER_UID);
    assert.equal(attrs['cloud.availability_zone'], 'eu-north-1a', 'zone of this node, not node-2');
    assert.equal(attrs['cloud.region'], 'eu-north-1');
    assert.equal(attrs['host.type'], 'm7i.large');
    assert.equal(attrs['k8s.node.label.team'], 'storage');
    assert.equal(attrs['k8s.node.label.kubernetes.io/hostname'], undefined, 'not on the allowlist');
    assert.equal(typeof attrs['k8s.node.uid'], 'string');
    // Only this node is watched.
    assert.equal(h.source.status().objects.nodes, 1);
    assert.equal(h.source.status().nodeFound, true);
  } finally {
    await h.cleanup();
  }
});

test('only allowlisted pod labels and annotations are copied, with semantic-convention names', async () => {
  const h = await startHarness({ podLabels: ['app', 'app.kubernetes.io/*'], podAnnotations: ['owner.example.com/team'] }, (fake) => {
    fake.upsert(makePod({ name: 'p', namespace: 'default', node: NODE, uid: 'uid-p',
      labels: { app: 'cart', 'app.kubernetes.io/version': '2.1', 'pod-template-hash': '5d8', secret: 'x' },
      annotations: { 'owner.example.com/team': 'payments', 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"json"}' } }));
  });
  try {
    await h.source.whenSynced(5000);
    const a = h.source.podByUid('uid-p')!.attributes;
    assert.equal(a['k8s.pod.label.app'], 'cart');
    assert.equal(a['k8s.pod.label.app.kubernetes.io/version'], '2.1');
    assert.equal(a['k8s.pod.annotation.owner.example.com/team'], 'payments');
    const copied = Object.keys(a).filter((k) => k.startsWith('k8s.pod.')).sort();
    assert.deepEqual(copied, ['k8s.pod.annotation.owner.example.com/team', 'k8s.pod.label.app', 'k8s.pod.label.app.kubernetes.io/version']);
  } finally {
    await h.cleanup();
  }
});

test('serviceForIp names ClusterIPs and endpoint IPs, and follows changes', async () => {
  const h = await startHarness({}, (fake) => {
    fake.upsert(makeService('cart', 'shop', '10.96.0.10'));
    fake.upsert({ ...makeService('web-headless', 'shop', 'None') });
    fake.upsert(makeEndpointSlice('cart-x7k2p', 'shop', 'cart', ['10.244.1.5', '10.244.2.9']));
    fake.upsert(makeEndpointSlice('web-headless-a', 'shop', 'web-headless', ['10.244.1.5']));
  });
  try {
    await h.source.whenSynced(5000);
    assert.equal(h.source.serviceForIp('10.96.0.10'), 'cart.shop');
    assert.equal(h.source.serviceForIp('::ffff:10.96.0.10'), 'cart.shop', 'IPv4-mapped form from dual-stack sockets');
    assert.equal(h.source.serviceForIp('10.244.2.9'), 'cart.shop');
    assert.equal(h.source.serviceForIp('10.244.1.5'), 'cart.shop', 'pod behind two services: stable choice by name');
    assert.equal(h.source.serviceForIp('None'), undefined);
    assert.equal(h.source.serviceForIp('192.0.2.1'), undefined);

    h.fake.upsert(makeEndpointSlice('cart-x7k2p', 'shop', 'cart', ['10.244.3.3']));
    h.fake.upsert(makeService('search', 'shop', '10.96.0.20'));
    await waitFor('slice and service changes', () => h.source.serviceForIp('10.244.3.3') === 'cart.shop' && h.source.serviceForIp('10.96.0.20') === 'search.shop', 5000);
    assert.equal(h.source.serviceForIp('10.244.2.9'), undefined, 'endpoint removed from the slice');
    assert.equal(h.source.serviceForIp('10.244.1.5'), 'web-headless.shop', 'still behind the headless service');
    h.fake.remove('Service', 'shop', 'cart');
    await waitFor('service deleted', () => h.source.serviceForIp('10.96.0.10') === undefined, 5000);
  } finally {
    await h.cleanup();
  }
});

test('services watch can be turned off: no cluster-wide watches at all', async () => {
  const h = await startHarness({ services: false });
  try {
    await h.source.whenSynced(5000);
    const paths = new Set(h.fake.requests.filter((r) => r.verb !== 'get').map((r) => r.path));
    assert.deepEqual([...paths].sort(), ['/api/v1/nodes', '/api/v1/pods']);
    assert.equal(h.source.serviceForIp('10.96.0.10'), undefined);
  } finally {
    await h.cleanup();
  }
});

test('host mode: no Kubernetes at all is a clear status, and nothing breaks', async () => {
  const config = kubernetesConfigSchema.parse({});
  const source = createKubernetesMetadata({ config, nodeName: 'laptop', env: { HOME: '/nonexistent' } });
  try {
    const s = source.status();
    assert.equal(s.mode, 'host');
    assert.match(s.source, /host mode: no Kubernetes API found/);
    assert.equal(s.lastError, undefined, 'not an error when Kubernetes was not asked for');
    assert.equal(source.synced(), true);
    assert.equal(source.podByUid('anything'), undefined);
    assert.equal(source.serviceForIp('10.0.0.1'), undefined);
    assert.deepEqual(source.resourceAttributes(), { 'k8s.node.name': 'laptop' });
  } finally {
    await source.stop();
  }
  // Asked for explicitly but absent: still running, with an error that says what to do.
  const required = createKubernetesMetadata({ config: kubernetesConfigSchema.parse({ enabled: true }), nodeName: 'n', env: { HOME: '/nonexistent' } });
  assert.equal(required.status().mode, 'host');
  assert.match(required.status().lastError ?? '', /enabled is true but no Kubernetes API found/);
  await required.stop();
});

test('host mode does not load the Kubernetes client library (its source would stay in the agent\'s heap)', () => {
  // A fresh process: the other tests here load the library. About 26 MiB of V8 heap when it is loaded.
  const dist = path.join(__dirname, '..', '..', 'src');
  const script = `
    const { createKubernetesMetadata } = require(${JSON.stringify(path.join(dist, 'identity', 'kubernetes'))});
    const { kubernetesConfigSchema } = require(${JSON.stringify(path.join(dist, 'config', 'kubernetes'))});
    const s = createKubernetesMetadata({ config: kubernetesConfigSchema.parse({}), nodeName: 'laptop', env: { HOME: '/nonexistent' } });
    const loaded = Object.keys(require.cache).filter((k) => k.includes('/@kubernetes/client-node/') || k.endsWith('/kubernetes-client.js'));
    s.stop().then(() => console.log(JSON.stringify({ mode: s.status().mode, loaded })));`;
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { mode: string; loaded: string[] };
  assert.equal(out.mode, 'host');
  assert.deepEqual(out.loaded, []);
});

test('a cluster loads only the parts of the client library the agent uses (its bundle), not every API client', async () => {
  // A fresh process against the FAKE API server: pods of this node arrive through the bundled KubeConfig and
  // ListWatch, and the package's entry point (which loads the whole generated API, ~26 MiB of V8 heap) is not loaded.
  const h = await startHarness({}, (fake) => {
    fake.upsert(makePod({ name: 'web-1', namespace: 'shop', node: NODE, uid: 'uid-web-1' }));
  });
  try {
    const dist = path.join(__dirname, '..', '..', 'src');
    const script = `
      const { createKubernetesMetadata } = require(${JSON.stringify(path.join(dist, 'identity', 'kubernetes'))});
      const { kubernetesConfigSchema } = require(${JSON.stringify(path.join(dist, 'config', 'kubernetes'))});
      global.gc();
      const before = process.memoryUsage().heapUsed;
      const config = kubernetesConfigSchema.parse({ kubeconfig: ${JSON.stringify(path.join(h.dir, 'kubeconfig'))} });
      const s = createKubernetesMetadata({ config, nodeName: ${JSON.stringify(NODE)}, env: {} });
      s.whenSynced(10000).then(async (synced) => {
        const pod = s.podByUid('uid-web-1')?.name;
        await s.stop();
        global.gc();
        const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20;
        const loaded = Object.keys(require.cache).filter((k) => k.includes('/@kubernetes/client-node/') || k.endsWith('/kubernetes-client.js'));
        console.log(JSON.stringify({ mode: s.status().mode, synced, pod, grew, loaded }));
      });`;
    const text = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const out = JSON.parse(text) as { mode: string; synced: boolean; pod?: string; grew: number; loaded: string[] };
    assert.equal(out.mode, 'kubeconfig');
    assert.equal(out.synced, true);
    assert.equal(out.pod, 'web-1', 'a pod of this node came through list and watch');
    assert.deepEqual(out.loaded.map((k) => path.basename(k)), ['kubernetes-client.js'], 'the bundle, not the package');
    assert.ok(out.grew < 15, `the V8 heap grew by ${out.grew.toFixed(1)} MiB (the whole package: ~26)`);
  } finally {
    await h.cleanup();
  }
});

test('a broken kubeconfig is a clear error, not a crash', async () => {
  const config = kubernetesConfigSchema.parse({ kubeconfig: '/nonexistent/kubeconfig' });
  const source = createKubernetesMetadata({ config, nodeName: 'n', env: {} });
  assert.equal(source.status().mode, 'host');
  assert.match(source.status().lastError ?? '', /kubeconfig \/nonexistent\/kubeconfig could not be read: .*ENOENT/);
  await source.stop();
  assert.throws(() => kubernetesConfigSchema.parse({ podLabels: ['bad key!'] }), /label or annotation key/);
});
