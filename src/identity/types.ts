// The contracts between the identity pieces: cgroups + runtimes (who is this cgroup?) and Kubernetes (who is this
// pod?). src/identity/index.ts composes them into the attributes put on every event.
import type { Attributes } from '../core/event';

export type RuntimeName = 'containerd' | 'cri-o' | 'docker' | 'podman' | 'unknown';

/** What a kernel cgroup path says by itself, without asking any runtime. */
export interface CgroupIdentity {
  kind: 'container' | 'host' | 'unknown';
  containerId?: string;
  runtime?: RuntimeName;
  podUid?: string;
  qos?: 'guaranteed' | 'burstable' | 'besteffort';
}

/** What a runtime (CRI, Docker API) says about one container. */
export interface ContainerInfo {
  id: string;
  name: string;
  runtime: RuntimeName;
  imageName?: string;
  imageDigest?: string;
  labels: Record<string, string>;
  pid?: number;
  podSandboxId?: string;
  /** From CRI sandbox/container metadata, used when the API server is unreachable. */
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  kubernetesContainerName?: string;
}

/** What the Kubernetes API says about one pod on this node, owner chain resolved. */
export interface PodInfo {
  uid: string;
  name: string;
  namespace: string;
  /** k8s.deployment.name, k8s.replicaset.name, k8s.statefulset.name, k8s.daemonset.name, k8s.job.name,
   *  k8s.cronjob.name as found on the owner chain, plus allowlisted labels/annotations. */
  attributes: Attributes;
  /** container name -> container id (without the runtime:// prefix), from pod status. */
  containerIds: Record<string, string>;
}

/** The Kubernetes side as the resolver sees it (implemented in src/identity/kubernetes). */
export interface KubernetesMetadata {
  podByUid(uid: string): PodInfo | undefined;
  /** k8s.node.name, k8s.cluster.name, k8s.cluster.uid and node labels worth keeping (zone, region, instance type). */
  resourceAttributes(): Attributes;
  /** `<service>.<namespace>` when ip is a Service's ClusterIP or an EndpointSlice endpoint. */
  serviceForIp(ip: string): string | undefined;
  /** The pod with this IP (on this node, or named by an EndpointSlice), for naming a connection's peer. */
  peerForIp?(ip: string): { name: string; namespace: string; workloadName?: string; workloadKind?: string } | undefined;
  /** True once the first list of every watched resource has completed. */
  synced(): boolean;
}
