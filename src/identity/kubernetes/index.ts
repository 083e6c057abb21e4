// Kubernetes metadata for events: pods on this node and their workloads, node and cluster attributes, Service names
// and pods for IPs. Create with createKubernetesMetadata(), call start(), then ask it (it implements KubernetesMetadata).
import { KubernetesMetadataSource, type KubernetesMetadataOptions } from './metadata';

export { KubernetesMetadataSource, type KubernetesMetadataOptions, type KubernetesStatus } from './metadata';
export { discoverApiServer, type ConnectionMode, type Discovery } from './connection';
export { normalizeIp } from './services';
export { peerAttributes, type PeerPod } from './peers';

/** Finds the API server (in-cluster, kubeconfig, or host mode) and starts watching. Never throws for a missing API. */
export function createKubernetesMetadata(opts: KubernetesMetadataOptions): KubernetesMetadataSource {
  const source = new KubernetesMetadataSource(opts);
  source.start();
  return source;
}
