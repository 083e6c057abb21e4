// Child process of bench/kubernetes-scale.ts: runs the FAKE API server (test/helpers/fake-apiserver.ts) filled with
// a simulated cluster, in its own process so its memory and CPU do not count against the agent being measured.
// Talks to the parent over IPC: {fill} -> {ready, url}; {stats} -> {stats}; {churn} -> {done}; {stop} -> exit.
import { FakeApiServer, makeEndpointSlice, makeNamespace, makeNode, makeOwned, makePod, makeService } from '../test/helpers/fake-apiserver';

export interface FillRequest {
  nodes: number;
  podsPerNode: number;
  /** Pods on node-0 (the agent's node), overriding podsPerNode for it. */
  podsOnAgentNode: number;
  services: number;
  endpointsPerService: number;
}

const fake = new FakeApiServer();

function ip(n: number, base: number): string {
  return `${base}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function fill(r: FillRequest): void {
  fake.upsert(makeNamespace('kube-system'));
  let podIndex = 0;
  for (let n = 0; n < r.nodes; n++) {
    const node = `node-${n}`;
    fake.upsert(makeNode(node, { 'topology.kubernetes.io/zone': `zone-${n % 3}`, 'node.kubernetes.io/instance-type': 'm7i.large' }));
    const count = n === 0 ? r.podsOnAgentNode : r.podsPerNode;
    for (let p = 0; p < count; p++, podIndex++) {
      // The agent's node runs pods of 40 Deployments; the cluster has 500 apps.
      const app = n === 0 ? `app-${p % 40}` : `app-${podIndex % 500}`;
      const rs = `${app}-5d8f7c6b9`;
      const ns = n === 0 ? `ns-${p % 40}` : `ns-${podIndex % 50}`;
      fake.upsert(makePod({ name: `${rs}-${podIndex}`, namespace: ns, node, owner: { kind: 'ReplicaSet', name: rs },
        labels: { app, 'pod-template-hash': '5d8f7c6b9', 'app.kubernetes.io/name': app },
        annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-20T10:00:00Z' }, podIP: ip(podIndex, 10) }));
      if (n === 0 && !fake.get('ReplicaSet', ns, rs)) {
        fake.upsert(makeOwned('ReplicaSet', rs, ns, { kind: 'Deployment', name: app }));
      }
    }
  }
  for (let s = 0; s < r.services; s++) {
    const ns = `ns-${s % 50}`;
    fake.upsert(makeService(`svc-${s}`, ns, ip(s, 172)));
    const ips = Array.from({ length: r.endpointsPerService }, (_, i) => ip(s * r.endpointsPerService + i, 11));
    fake.upsert(makeEndpointSlice(`svc-${s}-abcde`, ns, `svc-${s}`, ips));
  }
}

/** Changes the parent can ask for, to measure what reaches the agent's watches. */
function churn(kind: 'pods-elsewhere' | 'pods-here' | 'slices', count: number): void {
  for (let i = 0; i < count; i++) {
    if (kind === 'slices') {
      const s = i % 100;
      fake.upsert(makeEndpointSlice(`svc-${s}-abcde`, `ns-${s % 50}`, `svc-${s}`, [ip(900_000 + i, 11), ip(s, 11)]));
    } else {
      const node = kind === 'pods-here' ? 'node-0' : `node-${1 + (i % 999)}`;
      fake.upsert(makePod({ name: `churn-${kind}-${i}`, namespace: 'churn', node }));
    }
  }
}

process.on('message', (msg: any) => {
  void (async () => {
    if (msg.fill) {
      fill(msg.fill as FillRequest);
      await fake.start();
      fake.resetStats();
      process.send!({ ready: true, url: fake.url });
    } else if (msg.stats) {
      process.send!({ stats: { bytesSent: fake.bytesSent, requests: fake.requests } });
      if (msg.reset) fake.resetStats();
    } else if (msg.churn) {
      churn(msg.churn.kind, msg.churn.count);
      process.send!({ done: true });
    } else if (msg.stop) {
      await fake.stop();
      process.exit(0);
    }
  })();
});
