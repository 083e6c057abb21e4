// IP -> pod, so the other end of a connection or request can be named. Two sources, both already watched (no
// request to the API server is added for this):
// - this node's pods (the node-scoped pod watch): exact, with the workload from the owner chain;
// - every EndpointSlice in the cluster (the optional Services watch): each endpoint's targetRef names the pod behind
//   an address, in the slice's namespace. Only pods behind a Service are known this way; their workload is inferred
//   from the ReplicaSet naming convention (`<deployment>-<pod-template-hash>-<suffix>`) or the StatefulSet one
//   (`<statefulset>-<ordinal>`) and marked so, since asking the API about pods on other nodes is what the
//   node-scoped design avoids (docs/kubernetes-scale.md).
// Pods on the host network share the node's IP and name nothing.
import type { Attributes } from '../../core/event';
import type { PodInfo } from '../types';
import type { EndpointSlice } from './objects';
import { normalizeIp } from './services';

export interface PeerPod {
  name: string;
  namespace: string;
  workloadName?: string;
  /** deployment, statefulset, daemonset, cronjob, job, replicaset */
  workloadKind?: string;
  /** 'pod' when read from the pod's owner chain (pods on this node), 'name' when inferred from the pod's name. */
  workloadSource?: 'pod' | 'name';
}

const WORKLOAD_KEYS: ReadonlyArray<[string, string]> = [
  ['k8s.deployment.name', 'deployment'], ['k8s.statefulset.name', 'statefulset'], ['k8s.daemonset.name', 'daemonset'],
  ['k8s.cronjob.name', 'cronjob'], ['k8s.job.name', 'job'], ['k8s.replicaset.name', 'replicaset'],
];

/** The workload of a pod on this node, from the attributes its owner chain gave. */
export function workloadOf(attributes: Attributes): { name: string; kind: string } | undefined {
  for (const [key, kind] of WORKLOAD_KEYS) {
    const v = attributes[key];
    if (typeof v === 'string' && v) return { name: v, kind };
  }
  return undefined;
}

// pod-template-hash: 1-10 characters of the "safe" alphabet; the pod suffix: 5 of the same.
const REPLICASET_POD = /^(.+)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/;
const STATEFULSET_POD = /^(.+)-(0|[1-9]\d{0,5})$/;

/** A remote pod's workload from its name alone (the controllers' naming conventions), or nothing. */
export function workloadFromName(pod: string): { name: string; kind: string } | undefined {
  const rs = REPLICASET_POD.exec(pod);
  if (rs) return { name: rs[1]!, kind: 'deployment' };
  const sts = STATEFULSET_POD.exec(pod);
  if (sts) return { name: sts[1]!, kind: 'statefulset' };
  return undefined;
}

export function podIpsOf(pod: { spec?: { hostNetwork?: boolean | null } | null; status?: { podIP?: string | null; podIPs?: Array<{ ip: string }> | null } | null }): string[] {
  if (pod.spec?.hostNetwork) return [];
  const ips = new Set<string>();
  if (pod.status?.podIP) ips.add(normalizeIp(pod.status.podIP));
  for (const p of pod.status?.podIPs ?? []) if (p.ip) ips.add(normalizeIp(p.ip));
  return [...ips];
}

export class PeerIndex {
  /** ip -> uid of a pod on this node (looked up in the live pod map, so owner updates show at once). */
  private readonly localIps = new Map<string, string>();
  private readonly ipsOfLocal = new Map<string, string[]>();
  /** ip -> the pod an EndpointSlice names for it, with the slice that said so (for exact removal). */
  private readonly remote = new Map<string, { pod: string; namespace: string; slice: string }>();
  private readonly sliceIps = new Map<string, string[]>();

  constructor(private readonly localPod: (uid: string) => PodInfo | undefined) {}

  setLocal(uid: string, ips: readonly string[]): void {
    this.deleteLocal(uid);
    for (const ip of ips) this.localIps.set(ip, uid);
    if (ips.length) this.ipsOfLocal.set(uid, [...ips]);
  }

  deleteLocal(uid: string): void {
    for (const ip of this.ipsOfLocal.get(uid) ?? []) if (this.localIps.get(ip) === uid) this.localIps.delete(ip);
    this.ipsOfLocal.delete(uid);
  }

  setSlice(slice: EndpointSlice): void {
    this.deleteSlice(slice);
    if (!slice.pods) return;
    const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
    const ips: string[] = [];
    slice.addresses.forEach((a, i) => {
      const pod = slice.pods![i];
      if (!pod) return;
      const ip = normalizeIp(a);
      this.remote.set(ip, { pod, namespace: slice.metadata.namespace, slice: key });
      ips.push(ip);
    });
    if (ips.length) this.sliceIps.set(key, ips);
  }

  deleteSlice(slice: EndpointSlice): void {
    const key = `${slice.metadata.namespace}/${slice.metadata.name}`;
    for (const ip of this.sliceIps.get(key) ?? []) if (this.remote.get(ip)?.slice === key) this.remote.delete(ip);
    this.sliceIps.delete(key);
  }

  lookup(ip: string): PeerPod | undefined {
    const n = normalizeIp(ip);
    const uid = this.localIps.get(n);
    const local = uid ? this.localPod(uid) : undefined;
    if (local) {
      const w = workloadOf(local.attributes);
      return { name: local.name, namespace: local.namespace, ...(w ? { workloadName: w.name, workloadKind: w.kind, workloadSource: 'pod' as const } : {}) };
    }
    const r = this.remote.get(n);
    if (!r) return undefined;
    const w = workloadFromName(r.pod);
    return { name: r.pod, namespace: r.namespace, ...(w ? { workloadName: w.name, workloadKind: w.kind, workloadSource: 'name' as const } : {}) };
  }

  sizes(): { localIps: number; endpointPods: number } {
    return { localIps: this.localIps.size, endpointPods: this.remote.size };
  }
}

/** The attributes a peer pod adds to an event (spans, network events); metrics keep only the non-pod ones. */
export function peerAttributes(p: PeerPod, into: Attributes): void {
  into['tapio.network.peer.k8s.pod.name'] = p.name;
  into['tapio.network.peer.k8s.namespace.name'] = p.namespace;
  if (p.workloadName) {
    into['tapio.network.peer.k8s.workload.name'] = p.workloadName;
    into['tapio.network.peer.k8s.workload.kind'] = p.workloadKind!;
  }
}
