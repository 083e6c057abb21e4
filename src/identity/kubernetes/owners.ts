// Which workload a pod belongs to: the owner chain Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob,
// Pod -> StatefulSet, Pod -> DaemonSet, resolved lazily. A pod's own ownerReferences name its direct owner; only
// ReplicaSets and Jobs need one GET each to learn their owner. Answers are cached with a TTL in a bounded LRU, and
// concurrent lookups of the same owner share one request, so a node with 110 pods of 20 Deployments costs 20 GETs
// per TTL, not 110.
import type { Attributes } from '../../core/event';
import { type ApiClient, ApiError, message } from './connection';
import { ownerObjectProjection, type OwnerReference, type Pod } from './objects';

export interface OwnerResolverOptions {
  ttlMs: number;
  maxEntries: number;
  /** Failed lookups are retried sooner than the TTL. */
  failureTtlMs?: number;
  onMalformed: (kind: string, error: string) => void;
}

export interface OwnerStatus {
  lookups: number;
  failures: number;
  cached: number;
  lastError?: string;
}

/** What a lookup learned about a ReplicaSet or Job: its controlling owner, if any; `failed` when we could not ask. */
interface CachedOwner {
  owner: OwnerReference | undefined;
  failed: boolean;
  expiresAt: number;
}

const PATHS: Record<string, (ns: string, name: string) => string> = {
  ReplicaSet: (ns, name) => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/replicasets/${encodeURIComponent(name)}`,
  Job: (ns, name) => `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs/${encodeURIComponent(name)}`,
};

/** The controller among an object's owners (the one with controller: true), else the first. */
export function controllerOf(refs: readonly OwnerReference[] | null | undefined): OwnerReference | undefined {
  if (!refs || refs.length === 0) return undefined;
  return refs.find((r) => r.controller) ?? refs[0];
}

export class OwnerResolver {
  private readonly cache = new Map<string, CachedOwner>();
  private readonly inFlight = new Map<string, Promise<CachedOwner>>();
  private readonly counts = { lookups: 0, failures: 0 };
  private lastError: string | undefined;

  constructor(private readonly api: ApiClient | undefined, private readonly opts: OwnerResolverOptions) {}

  /** What the pod's own owner reference says, without asking anything (used until the lookup answers). */
  direct(pod: Pod): Attributes {
    const ref = controllerOf(pod.metadata.ownerReferences);
    const attrs: Attributes = {};
    if (!ref) return attrs;
    switch (ref.kind) {
      case 'ReplicaSet': attrs['k8s.replicaset.name'] = ref.name; break;
      case 'Job': attrs['k8s.job.name'] = ref.name; break;
      case 'StatefulSet': attrs['k8s.statefulset.name'] = ref.name; break;
      case 'DaemonSet': attrs['k8s.daemonset.name'] = ref.name; break;
      default: break;
    }
    return attrs;
  }

  /** The whole chain: direct owner plus the Deployment or CronJob above a ReplicaSet or Job. */
  async workload(pod: Pod): Promise<Attributes> {
    const attrs = this.direct(pod);
    const ref = controllerOf(pod.metadata.ownerReferences);
    if (!ref || (ref.kind !== 'ReplicaSet' && ref.kind !== 'Job')) return attrs;
    const found = await this.lookup(ref.kind, pod.metadata.namespace, ref.name);
    const parent = found.owner;
    if (ref.kind === 'ReplicaSet') {
      if (parent?.kind === 'Deployment') attrs['k8s.deployment.name'] = parent.name;
      else if (found.failed) {
        // Could not ask (RBAC, API down): a Deployment names its ReplicaSets <deployment>-<pod-template-hash>.
        const hash = pod.metadata.labels?.['pod-template-hash'];
        if (hash && ref.name.endsWith(`-${hash}`)) attrs['k8s.deployment.name'] = ref.name.slice(0, -hash.length - 1);
      }
    } else if (parent?.kind === 'CronJob') {
      attrs['k8s.cronjob.name'] = parent.name;
    }
    return attrs;
  }

  status(): OwnerStatus {
    return { ...this.counts, cached: this.cache.size, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  private lookup(kind: string, namespace: string, name: string): Promise<CachedOwner> {
    const key = `${kind}/${namespace}/${name}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > now) {
      this.cache.delete(key); // re-insert: Map order is our LRU order
      this.cache.set(key, hit);
      return Promise.resolve(hit);
    }
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const p = this.fetch(kind, namespace, name).then((entry) => {
      this.inFlight.delete(key);
      this.cache.delete(key);
      this.cache.set(key, entry);
      while (this.cache.size > this.opts.maxEntries) {
        const oldest = this.cache.keys().next().value;
        if (oldest === undefined) break;
        this.cache.delete(oldest);
      }
      return entry;
    });
    this.inFlight.set(key, p);
    return p;
  }

  private async fetch(kind: string, namespace: string, name: string): Promise<CachedOwner> {
    const failed = (): CachedOwner => ({ owner: undefined, failed: true, expiresAt: Date.now() + (this.opts.failureTtlMs ?? Math.min(this.opts.ttlMs, 30_000)) });
    if (!this.api) return failed();
    this.counts.lookups++;
    try {
      // resourceVersion=0: served from the API server's cache, not a quorum read from etcd; owners change rarely.
      const parsed = ownerObjectProjection.parse(await this.api.getJson(`${PATHS[kind]!(namespace, name)}?resourceVersion=0`));
      if (!parsed.ok) {
        this.opts.onMalformed(`k8s.${kind.toLowerCase()}`, parsed.error);
        this.note(`${kind} ${namespace}/${name}: ${parsed.error}`);
        return failed();
      }
      return { owner: controllerOf(parsed.value.metadata.ownerReferences), failed: false, expiresAt: Date.now() + this.opts.ttlMs };
    } catch (err) {
      // Gone is an answer (the owner was deleted): no parent, cached like a success.
      if (err instanceof ApiError && err.statusCode === 404) return { owner: undefined, failed: false, expiresAt: Date.now() + this.opts.ttlMs };
      const hint = err instanceof ApiError && err.statusCode === 403
        ? ` (grant the agent's service account get on ${kind === 'Job' ? 'batch/jobs' : 'apps/replicasets'})` : '';
      this.note(`${kind} ${namespace}/${name}: ${message(err)}${hint}`);
      return failed();
    }
  }

  private note(msg: string): void {
    this.counts.failures++;
    this.lastError = msg;
  }
}
