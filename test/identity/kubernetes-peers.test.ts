// Naming the pod at the other end of a connection, against a FAKE API server (test/helpers/fake-apiserver.ts): no
// real API server can run on this machine. What a user would check: a request to a pod on this node carries that
// pod's name, namespace and Deployment; a request to a pod on another node, known from the EndpointSlice that lists
// it, carries its name and namespace (workload inferred from the name); host-network pods and unknown IPs name
// nothing; changes are followed; nothing new is asked of the API server for it; RED metrics keep the peer's
// namespace and workload but not its pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enrichWith } from '../../src/agent/services';
import type { TapioEvent } from '../../src/core/event';
import { IdentityResolver } from '../../src/identity';
import { peerAttributes, workloadFromName } from '../../src/identity/kubernetes/peers';
import { EventMetrics } from '../../src/export/metrics';
import { tapioResource } from '../../src/export/resource';
import { makeEndpointSlice, makeOwned, makePod, makeService } from '../helpers/fake-apiserver';
import { NODE, startHarness, waitFor } from './kubernetes-helpers';

test('peerForIp: pods on this node exactly, pods elsewhere from EndpointSlices, host network never', async () => {
  const h = await startHarness({}, (fake) => {
    fake.upsert(makeOwned('ReplicaSet', 'cart-7d9f8b6c5', 'shop', { kind: 'Deployment', name: 'cart' }));
    fake.upsert(makePod({ name: 'cart-7d9f8b6c5-x2x4z', namespace: 'shop', node: NODE, uid: 'uid-cart', podIP: '10.244.0.21',
      owner: { kind: 'ReplicaSet', name: 'cart-7d9f8b6c5' }, labels: { 'pod-template-hash': '7d9f8b6c5' } }));
    fake.upsert(makePod({ name: 'node-agent', namespace: 'kube-system', node: NODE, uid: 'uid-host', podIP: '10.0.0.1', hostNetwork: true }));
    fake.upsert(makeService('search', 'shop', '10.96.0.30'));
    fake.upsert(makeEndpointSlice('search-abcde', 'shop', 'search', ['10.244.7.8', '10.244.7.9', '10.244.9.1'],
      ['search-5c8d7f9b4-qwrtz', 'search-db-0', '']));
  });
  try {
    assert.equal(await h.source.whenSynced(5000), true);
    await waitFor('owner chain resolved', () => h.source.peerForIp('10.244.0.21')?.workloadName === 'cart', 5000);
    assert.deepEqual(h.source.peerForIp('10.244.0.21'), { name: 'cart-7d9f8b6c5-x2x4z', namespace: 'shop', workloadName: 'cart', workloadKind: 'deployment', workloadSource: 'pod' });
    assert.deepEqual(h.source.peerForIp('::ffff:10.244.7.8'), { name: 'search-5c8d7f9b4-qwrtz', namespace: 'shop', workloadName: 'search', workloadKind: 'deployment', workloadSource: 'name' },
      'a pod on another node, from its EndpointSlice (IPv4-mapped form as dual-stack sockets report it)');
    assert.deepEqual(h.source.peerForIp('10.244.7.9'), { name: 'search-db-0', namespace: 'shop', workloadName: 'search-db', workloadKind: 'statefulset', workloadSource: 'name' });
    assert.equal(h.source.peerForIp('10.244.9.1'), undefined, 'an endpoint that is not a pod');
    assert.equal(h.source.peerForIp('10.0.0.1'), undefined, 'a host-network pod has the node\'s IP: it names nothing');
    assert.equal(h.source.peerForIp('10.96.0.30'), undefined, 'a ClusterIP is a Service, not a pod');

    // What reaches a request span: the peer's pod beside the Service.
    const enrich = enrichWith(new IdentityResolver(), h.source);
    const e: TapioEvent = { name: 'http.request', timeUnixNano: 1n, cgroupId: 0n, attributes: { 'network.peer.address': '10.244.7.8' } };
    enrich(e);
    assert.equal(e.attributes['tapio.network.peer.service'], 'search.shop');
    assert.equal(e.attributes['tapio.network.peer.k8s.pod.name'], 'search-5c8d7f9b4-qwrtz');
    assert.equal(e.attributes['tapio.network.peer.k8s.namespace.name'], 'shop');
    assert.equal(e.attributes['tapio.network.peer.k8s.workload.name'], 'search');
    assert.equal(e.attributes['tapio.network.peer.k8s.workload.kind'], 'deployment');

    // Changes: the endpoint moves away, the local pod goes; both stop naming their old IPs.
    h.fake.upsert(makeEndpointSlice('search-abcde', 'shop', 'search', ['10.244.7.10'], ['search-5c8d7f9b4-zzzzz']));
    h.fake.remove('Pod', 'shop', 'cart-7d9f8b6c5-x2x4z');
    await waitFor('changes followed', () => h.source.peerForIp('10.244.7.10')?.name === 'search-5c8d7f9b4-zzzzz' && h.source.peerForIp('10.244.0.21') === undefined, 5000);
    assert.equal(h.source.peerForIp('10.244.7.8'), undefined, 'endpoint removed from the slice');
    h.fake.remove('EndpointSlice', 'shop', 'search-abcde');
    await waitFor('slice deleted', () => h.source.peerForIp('10.244.7.10') === undefined, 5000);

    // Bounded: nothing beyond the watches docs/kubernetes-scale.md lists (no pod GETs, no cluster-wide pod watch).
    for (const r of h.fake.requests) {
      if (r.path === '/api/v1/pods') assert.match(decodeURIComponent(r.query), /fieldSelector=spec\.nodeName=/);
      assert.doesNotMatch(r.path, /\/pods\/[^/]+$/, 'no GET of a single pod');
    }
  } finally {
    await h.cleanup();
  }
});

test('workload names from pod names follow the controllers\' conventions only', () => {
  assert.deepEqual(workloadFromName('web-6b7c9d8f5-k2x9q'), { name: 'web', kind: 'deployment' });
  assert.deepEqual(workloadFromName('kafka-2'), { name: 'kafka', kind: 'statefulset' });
  assert.equal(workloadFromName('standalone'), undefined);
  assert.equal(workloadFromName('web-aaaaaaaa-bbbbb'), undefined, 'vowels never appear in generated suffixes');
});

test('RED metrics keep the peer\'s namespace and workload, never its pod', async (t) => {
  const metrics = new EventMetrics(tapioResource({ env: {} }), 100);
  t.after(() => metrics.shutdown());
  const request = (pod: string): TapioEvent => {
    const e: TapioEvent = { name: 'http.request', timeUnixNano: 1n, cgroupId: 0n,
      attributes: { 'k8s.namespace.name': 'shop', 'k8s.deployment.name': 'cart', 'http.request.method': 'GET', 'http.route': '/items/{id}',
        'http.response.status_code': 200 },
      request: { protocol: 'http', side: 'server', method: 'GET', status: 200, startTimeUnixNano: 1n, durationNs: 2_000_000n, attributes: {} } };
    peerAttributes({ name: pod, namespace: 'shop', workloadName: 'search', workloadKind: 'deployment' }, e.attributes);
    return e;
  };
  metrics.record([request('search-5c8d7f9b4-aaaaa'), request('search-5c8d7f9b4-bbbbb'), request('search-5c8d7f9b4-ccccc')]);
  const rm = await metrics.snapshot();
  const points = rm!.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'http.server.request.duration')!.dataPoints;
  assert.equal(points.length, 1, 'three peer pods of one workload: one series');
  assert.equal(points[0]!.attributes['tapio.network.peer.k8s.namespace.name'], 'shop');
  assert.equal(points[0]!.attributes['tapio.network.peer.k8s.workload.name'], 'search');
  assert.equal(points[0]!.attributes['tapio.network.peer.k8s.workload.kind'], 'deployment');
  assert.equal(points[0]!.attributes['tapio.network.peer.k8s.pod.name'], undefined);
});
