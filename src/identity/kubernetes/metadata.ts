// The Kubernetes side of identity (implements KubernetesMetadata from ../types): pods on this node with their
// workload, this node's labels, the cluster's uid, and Service names for IPs. Everything is answered from memory;
// the API server is only watched (pods of this node, this node, optionally Services and EndpointSlices) and asked
// for owners now and then. Without any Kubernetes it runs in "host mode": nothing is watched and nothing breaks.
import type { KubernetesConfig } from '../../config/kubernetes';
import type { Attributes } from '../../core/event';
import type { DropCounters } from '../../core/drops';
import type { KubernetesMetadata, PodInfo } from '../types';
import { ApiClient, discoverApiServer, message, type ConnectionMode, type TransferStats } from './connection';
import { Informer, type InformerStatus, type WatchedObject } from './informer';
import {
  endpointSliceProjection, keyMatcher, namespaceProjection, nodeProjection, podProjection, serviceProjection,
  stripRuntimePrefix, type EndpointSlice, type KeyFilter, type Node, type Pod, type Service,
} from './objects';
import { OwnerResolver, type OwnerStatus } from './owners';
import { LruMap } from '../../core/lru';
import { Backoff } from '../../core/backoff';

/** How long a deleted pod still names the events that arrive after its deletion. */
const DELETED_POD_GRACE_MS = 60_000;
import { ServiceIndex } from './services';
import { PeerIndex, podIpsOf, type PeerPod } from './peers';

export interface KubernetesMetadataOptions {
  config: KubernetesConfig;
  /** This node's name (config node.name, $NODE_NAME from the downward API, or the hostname). */
  nodeName: string;
  clusterName?: string;
  drops?: DropCounters;
  /** For tests: environment and service-account directory prefix used to find the API server. */
  env?: NodeJS.ProcessEnv;
  serviceAccountPrefix?: string;
}

export interface KubernetesStatus {
  mode: ConnectionMode;
  /** Where credentials came from, or why host mode. */
  source: string;
  server?: string;
  /** Every watch is up. */
  connected: boolean;
  synced: boolean;
  nodeName: string;
  /** False when the API has no node of this name (set NODE_NAME from spec.nodeName); undefined until known. */
  nodeFound?: boolean;
  clusterUid?: string;
  lastError?: string;
  objects: { pods: number; nodes: number; services: number; endpointSlices: number; owners: number };
  malformedObjects: number;
  /** The last object skipped as malformed and why. */
  lastMalformed?: string;
  informers: InformerStatus[];
  owners?: OwnerStatus;
  transfer?: TransferStats;
}

/** Pod labels the owner fallback needs even when they are not on the allowlist. */
const INTERNAL_POD_LABELS = ['pod-template-hash'];

export class KubernetesMetadataSource implements KubernetesMetadata {
  private readonly mode: ConnectionMode;
  private readonly source: string;
  private readonly api: ApiClient | undefined;
  private setupError: string | undefined;
  private readonly podLabelAllowed: KeyFilter;
  private readonly podAnnotationAllowed: KeyFilter;
  private readonly nodeLabelAllowed: KeyFilter;
  private readonly pods = new Map<string, PodInfo>();
  /** Pods deleted in the last DELETED_POD_GRACE_MS, still answering podByUid (bounded). */
  private readonly recentlyDeleted = new LruMap<string, { pod: PodInfo; at: number }>(1024);
  private readonly podUidByContainer = new Map<string, string>();
  private readonly services = new ServiceIndex();
  /** Pod IP -> pod: this node's pods, and the pods EndpointSlices name (no extra API requests; see peers.ts). */
  private readonly peers = new PeerIndex((uid) => this.pods.get(uid));
  private readonly owners: OwnerResolver;
  /** Only their lifecycle (start, stop, synced, status) is used here, whatever they watch. */
  private readonly informers: Array<Pick<Informer<WatchedObject>, 'start' | 'stop' | 'synced' | 'status'>> = [];
  private podInformer: Informer<Pod> | undefined;
  private nodeInformer: Informer<Node> | undefined;
  private serviceInformer: Informer<Service> | undefined;
  private sliceInformer: Informer<EndpointSlice> | undefined;
  private clusterUid: string | undefined;
  private clusterUidSettled = false;
  private clusterUidTimer: NodeJS.Timeout | undefined;
  private malformed = 0;
  private lastMalformed: string | undefined;
  private clusterUidError: string | undefined;
  private running = false;

  constructor(private readonly opts: KubernetesMetadataOptions) {
    const c = opts.config;
    this.podLabelAllowed = keyMatcher(c.podLabels);
    this.podAnnotationAllowed = keyMatcher(c.podAnnotations);
    this.nodeLabelAllowed = keyMatcher(c.nodeLabels);
    const found = discoverApiServer({ enabled: c.enabled, kubeconfig: c.kubeconfig, env: opts.env, serviceAccountPrefix: opts.serviceAccountPrefix });
    this.mode = found.mode;
    this.source = found.source;
    this.setupError = found.error;
    if (found.kubeConfig) {
      try {
        this.api = new ApiClient(found.kubeConfig, c.requestTimeoutMs);
      } catch (err) {
        this.mode = 'host';
        this.setupError = `cannot use ${found.source}: ${message(err)}`;
      }
    }
    const onMalformed = (kind: string, error: string): void => this.countMalformed(kind, error);
    this.owners = new OwnerResolver(this.api, { ttlMs: c.owners.ttlSeconds * 1000, maxEntries: c.owners.maxEntries, onMalformed });
    if (this.api) this.createInformers(this.api, onMalformed);
  }

  private createInformers(api: ApiClient, onMalformed: (kind: string, error: string) => void): void {
    const c = this.opts.config;
    const common = { watchTimeoutSeconds: c.watchTimeoutSeconds, backoff: c.backoff, onMalformed };
    const keepPodLabel: KeyFilter = (k) => this.podLabelAllowed(k) || INTERNAL_POD_LABELS.includes(k);
    const zoneLabels = ZONE_LABELS.concat(REGION_LABELS, INSTANCE_TYPE_LABELS);
    const keepNodeLabel: KeyFilter = (k) => zoneLabels.includes(k) || this.nodeLabelAllowed(k);

    // Only this node's pods: the API server filters by spec.nodeName from its watch cache (never all pods).
    const pods = this.podInformer = new Informer<Pod>(api, {
      ...common, path: '/api/v1/pods', fieldSelector: `spec.nodeName=${this.opts.nodeName}`,
      projection: podProjection(keepPodLabel, this.podAnnotationAllowed),
    });
    pods.on('add', (p) => this.podChanged(p));
    pods.on('update', (p) => this.podChanged(p));
    pods.on('delete', (p) => this.podDeleted(p));

    this.nodeInformer = new Informer<Node>(api, {
      ...common, path: '/api/v1/nodes', fieldSelector: `metadata.name=${this.opts.nodeName}`, projection: nodeProjection(keepNodeLabel),
    });
    this.informers.push(pods, this.nodeInformer);

    if (c.services) {
      const svc = this.serviceInformer = new Informer<Service>(api, { ...common, path: '/api/v1/services', projection: serviceProjection });
      svc.on('add', (s) => this.services.setService(s));
      svc.on('update', (s) => this.services.setService(s));
      svc.on('delete', (s) => this.services.deleteService(s));
      const slices = this.sliceInformer = new Informer<EndpointSlice>(api, {
        ...common, path: '/apis/discovery.k8s.io/v1/endpointslices', projection: endpointSliceProjection,
      });
      slices.on('add', (s) => { this.services.setSlice(s); this.peers.setSlice(s); });
      slices.on('update', (s) => { this.services.setSlice(s); this.peers.setSlice(s); });
      slices.on('delete', (s) => { this.services.deleteSlice(s); this.peers.deleteSlice(s); });
      this.informers.push(svc, slices);
    }
  }

  /** Start watching; returns at once. Host mode: nothing to start. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const i of this.informers) i.start();
    if (this.api) void this.fetchClusterUid(this.api, new Backoff(this.opts.config.backoff.initialMs, this.opts.config.backoff.maxMs));
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.clusterUidTimer);
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /** Resolves true once synced, false if `timeoutMs` passes first. */
  async whenSynced(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.synced() && this.running && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    return this.synced();
  }

  /** True while the API lists the pod (podByUid also answers for a minute after its deletion). */
  podIsLive(uid: string): boolean {
    return this.pods.has(uid);
  }

  podByUid(uid: string): PodInfo | undefined {
    const live = this.pods.get(uid);
    if (live) return live;
    // A pod's last events (its containers' exits, final closes) often reach us after the API said it is gone.
    const gone = this.recentlyDeleted.peek(uid);
    return gone && Date.now() - gone.at < DELETED_POD_GRACE_MS ? gone.pod : undefined;
  }

  /** The pod running a container, by container id (with or without the `containerd://` prefix). */
  podByContainerId(containerId: string): PodInfo | undefined {
    const uid = this.podUidByContainer.get(stripRuntimePrefix(containerId));
    return uid ? this.pods.get(uid) : undefined;
  }

  serviceForIp(ip: string): string | undefined {
    return this.services.lookup(ip);
  }

  /** The pod that has this IP: one on this node (exact workload), else one an EndpointSlice names. */
  peerForIp(ip: string): PeerPod | undefined {
    return this.peers.lookup(ip);
  }

  synced(): boolean {
    if (!this.api) return true; // host mode: there is nothing to wait for
    return this.informers.every((i) => i.synced()) && this.clusterUidSettled;
  }

  resourceAttributes(): Attributes {
    const attrs: Attributes = { 'k8s.node.name': this.opts.nodeName };
    if (this.opts.clusterName) attrs['k8s.cluster.name'] = this.opts.clusterName;
    if (this.clusterUid) attrs['k8s.cluster.uid'] = this.clusterUid;
    const node = this.nodeInformer?.get(this.opts.nodeName);
    if (!node) return attrs;
    attrs['k8s.node.uid'] = node.metadata.uid;
    const labels = node.metadata.labels ?? {};
    const first = (keys: string[]): string | undefined => keys.map((k) => labels[k]).find((v) => v);
    const zone = first(ZONE_LABELS);
    const region = first(REGION_LABELS);
    const type = first(INSTANCE_TYPE_LABELS);
    if (zone) attrs['cloud.availability_zone'] = zone;
    if (region) attrs['cloud.region'] = region;
    if (type) attrs['host.type'] = type;
    for (const [k, v] of Object.entries(labels)) if (this.nodeLabelAllowed(k)) attrs[`k8s.node.label.${k}`] = v;
    return attrs;
  }

  status(): KubernetesStatus {
    const informers = this.informers.map((i) => i.status());
    const lastError = this.setupError ?? informers.map((i) => i.lastError).find(Boolean) ?? this.clusterUidError
      ?? this.owners.status().lastError;
    const nodeSynced = this.nodeInformer?.synced();
    return {
      mode: this.mode, source: this.source, ...(this.api ? { server: this.api.serverUrl } : {}),
      connected: this.api ? informers.every((i) => i.connected) : false,
      synced: this.synced(), nodeName: this.opts.nodeName,
      ...(nodeSynced ? { nodeFound: !!this.nodeInformer?.get(this.opts.nodeName) } : {}),
      ...(this.clusterUid ? { clusterUid: this.clusterUid } : {}),
      ...(lastError ? { lastError } : {}),
      objects: {
        pods: this.pods.size, nodes: this.nodeInformer?.objects().length ?? 0,
        services: this.serviceInformer?.objects().length ?? 0, endpointSlices: this.sliceInformer?.objects().length ?? 0,
        owners: this.owners.status().cached,
      },
      malformedObjects: this.malformed, ...(this.lastMalformed ? { lastMalformed: this.lastMalformed } : {}), informers,
      ...(this.api ? { owners: this.owners.status(), transfer: { ...this.api.stats } } : {}),
    };
  }

  private podChanged(pod: Pod): void {
    const uid = pod.metadata.uid;
    const old = this.pods.get(uid);
    for (const id of Object.values(old?.containerIds ?? {})) this.podUidByContainer.delete(id);
    const info: PodInfo = {
      uid, name: pod.metadata.name, namespace: pod.metadata.namespace,
      attributes: { ...this.labelAttributes(pod), ...this.owners.direct(pod) },
      containerIds: containerIdsOf(pod),
    };
    // Keep workload names already learned while the fresh lookup runs (the owner chain rarely changes).
    if (old) for (const k of ['k8s.deployment.name', 'k8s.cronjob.name']) if (old.attributes[k] && !(k in info.attributes)) info.attributes[k] = old.attributes[k]!;
    this.pods.set(uid, info);
    for (const id of Object.values(info.containerIds)) this.podUidByContainer.set(id, uid);
    this.peers.setLocal(uid, podIpsOf(pod));
    void this.owners.workload(pod).then((owners) => {
      if (this.pods.get(uid) !== info) return; // replaced or deleted meanwhile
      this.pods.set(uid, { ...info, attributes: { ...this.labelAttributes(pod), ...owners } });
    }).catch(() => { /* lookups never throw; a bug here must not become an unhandled rejection */ });
  }

  private podDeleted(pod: Pod): void {
    const old = this.pods.get(pod.metadata.uid);
    if (!old) return;
    for (const id of Object.values(old.containerIds)) this.podUidByContainer.delete(id);
    this.pods.delete(pod.metadata.uid);
    this.peers.deleteLocal(pod.metadata.uid);
    this.recentlyDeleted.set(pod.metadata.uid, { pod: old, at: Date.now() });
  }

  private labelAttributes(pod: Pod): Attributes {
    const attrs: Attributes = {};
    for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) if (this.podLabelAllowed(k)) attrs[`k8s.pod.label.${k}`] = v;
    for (const [k, v] of Object.entries(pod.metadata.annotations ?? {})) attrs[`k8s.pod.annotation.${k}`] = v;
    return attrs;
  }

  /** The kube-system namespace's uid is the de-facto cluster id (what OpenTelemetry calls k8s.cluster.uid). */
  private async fetchClusterUid(api: ApiClient, backoff: Backoff): Promise<void> {
    try {
      const parsed = namespaceProjection.parse(await api.getJson('/api/v1/namespaces/kube-system'));
      if (parsed.ok) this.clusterUid = parsed.value.metadata.uid;
      else this.countMalformed('k8s.namespace', parsed.error);
      this.clusterUidSettled = true;
      this.clusterUidError = undefined;
      return;
    } catch (err) {
      this.clusterUidError = `cluster uid (GET namespace kube-system): ${message(err)}`;
    }
    // Settled after the first answer either way, so synced() does not wait forever on RBAC; retried in background.
    this.clusterUidSettled = true;
    if (!this.running) return;
    this.clusterUidTimer = setTimeout(() => void this.fetchClusterUid(api, backoff), backoff.next());
    this.clusterUidTimer.unref();
  }

  private countMalformed(kind: string, error: string): void {
    this.malformed++;
    this.opts.drops?.count('identity', kind, 'malformed_object');
    this.lastMalformed = `${kind}: ${error}`;
  }
}

const ZONE_LABELS = ['topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/zone'];
const REGION_LABELS = ['topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/region'];
const INSTANCE_TYPE_LABELS = ['node.kubernetes.io/instance-type', 'beta.kubernetes.io/instance-type'];

function containerIdsOf(pod: Pod): Record<string, string> {
  const ids: Record<string, string> = {};
  const s = pod.status;
  for (const c of [...(s?.initContainerStatuses ?? []), ...(s?.containerStatuses ?? []), ...(s?.ephemeralContainerStatuses ?? [])]) {
    if (c.containerID) ids[c.name] = stripRuntimePrefix(c.containerID);
  }
  return ids;
}
