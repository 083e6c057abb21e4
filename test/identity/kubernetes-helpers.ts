// Shared setup for the Kubernetes metadata tests: a kubeconfig pointing at the FAKE API server (no real API server
// can run here), a metadata source with fast backoff, bounded waiting, and cleanup that runs even when a test fails.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kubernetesConfigSchema } from '../../src/config/kubernetes';
import { DropCounters } from '../../src/core/drops';
import { createKubernetesMetadata, type KubernetesMetadataSource } from '../../src/identity/kubernetes';
import { FakeApiServer, makeNamespace, makeNode } from '../helpers/fake-apiserver';

export const NODE = 'node-1';
export const CLUSTER_UID = '7f3c1e2a-0000-4000-8000-00000000c1a5';

export function writeKubeconfig(dir: string, server: string): string {
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: fake',
    'clusters:', '- name: fake', '  cluster:', `    server: ${server}`, '    insecure-skip-tls-verify: true',
    'users:', '- name: tester', '  user:', '    token: test-token',
    'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: tester',
  ].join('\n'));
  return file;
}

/** Poll `cond` until it holds; fails with `what` after a bounded number of tries (never asserts on timing). */
export async function waitFor(cond: () => boolean, what: string, tries = 250): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for: ${what}`);
}

export interface Harness {
  fake: FakeApiServer;
  source: KubernetesMetadataSource;
  drops: DropCounters;
  dir: string;
  cleanup(): Promise<void>;
}

/** A fake API server holding this node and kube-system, and a started metadata source pointed at it. */
export async function startHarness(config: Record<string, unknown> = {}, prepare?: (fake: FakeApiServer) => void): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-k8s-'));
  const fake = new FakeApiServer();
  let source: KubernetesMetadataSource | undefined;
  const cleanup = async (): Promise<void> => {
    await source?.stop();
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    fake.upsert(makeNode(NODE, { 'topology.kubernetes.io/zone': 'eu-north-1a', 'topology.kubernetes.io/region': 'eu-north-1',
      'node.kubernetes.io/instance-type': 'm7i.large', 'team': 'storage' }));
    fake.upsert(makeNode('node-2', { 'topology.kubernetes.io/zone': 'eu-north-1b' }));
    fake.upsert(makeNamespace('kube-system', CLUSTER_UID));
    prepare?.(fake);
    await fake.start();
    const drops = new DropCounters();
    const parsed = kubernetesConfigSchema.parse({
      kubeconfig: writeKubeconfig(dir, fake.url), backoff: { initialMs: 20, maxMs: 200 }, ...config,
    });
    source = createKubernetesMetadata({ config: parsed, nodeName: NODE, clusterName: 'test-cluster', drops, env: {} });
    return { fake, source, drops, dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
