// Who caused this event? IdentityResolver turns a kernel cgroup id (and optionally a pid) into OpenTelemetry
// attributes: container.* from the cgroup path and the container runtimes, k8s.* from Kubernetes metadata when given,
// else from CRI sandbox metadata. The hot path is one Map lookup per event (attributes are cached per cgroup id and
// recomputed only when runtimes or the cgroup tree change, or after attributesTtlMs); it never throws.
import type { Attributes, TapioEvent } from '../core/event';
import type { DropCounters } from '../core/drops';
import type { CgroupChange } from '../core/cgroup-change';
import { identityConfigSchema, type IdentityConfig } from '../config/identity';
import { CgroupPathResolver, ROOT_CGROUP_ID, type CgroupResolverStats } from './cgroups/resolver';
import { LruMap } from '../core/lru';
import { parseCgroupPath, type ParsedCgroup } from './cgroups/path-parser';
import type { CgroupLayout } from './cgroups/layout';
import { RuntimeManager, type EndpointStatus } from './runtimes/manager';
import type { ContainerInfo, KubernetesMetadata } from './types';


export interface IdentityResolverOptions {
  /** Parsed `identity` section of the config; defaults apply when absent. */
  config?: IdentityConfig;
  /** The Kubernetes side (src/identity/kubernetes); without it, pod attributes come from CRI sandboxes. */
  kubernetes?: KubernetesMetadata;
  drops?: DropCounters;
  log?: (message: string) => void;
  /** Override the detected cgroup layout (tests, unusual mounts). */
  layout?: CgroupLayout;
}

export interface IdentityStats {
  lookups: number;
  cacheHits: number;
  /** Lookups whose cgroup id could not be resolved to a path (yet). */
  unresolved: number;
  /** Container ids seen in cgroup paths that no runtime knows (yet). */
  unknownContainers: number;
  errors: number;
  cgroups: CgroupResolverStats;
  runtimes: EndpointStatus[];
}

interface CacheEntry {
  generation: number;
  attributes: Attributes;
}

const EMPTY: Attributes = Object.freeze({}) as Attributes;

export class IdentityResolver {
  readonly cgroups: CgroupPathResolver;
  readonly runtimes: RuntimeManager;
  private readonly config: IdentityConfig;
  private readonly kubernetes: KubernetesMetadata | undefined;
  private readonly cache: LruMap<bigint, CacheEntry>;
  private generation = 0;
  private ttlTimer: NodeJS.Timeout | undefined;
  private readonly counters = { lookups: 0, cacheHits: 0, unresolved: 0, unknownContainers: 0, errors: 0 };

  constructor(options: IdentityResolverOptions = {}) {
    this.config = options.config ?? identityConfigSchema.parse({});
    this.kubernetes = options.kubernetes;
    const c = this.config.cgroups;
    this.cgroups = new CgroupPathResolver({ layout: options.layout, cacheSize: c.cacheSize,
      minScanIntervalMs: c.minScanIntervalMs, maxScanDirectories: c.maxScanDirectories });
    const r = this.config.runtimes;
    this.runtimes = new RuntimeManager({ endpoints: r.endpoints, drops: options.drops, log: options.log,
      relistIntervalMs: r.relistIntervalMs, minRelistIntervalMs: r.minRelistIntervalMs,
      backoffInitialMs: r.backoffInitialMs, backoffMaxMs: r.backoffMaxMs, deadlineMs: r.deadlineMs });
    this.cache = new LruMap(c.cacheSize);
    this.runtimes.onChange(() => this.generation++);
    this.cgroups.onRemoved((id) => this.cache.delete(id));
    this.cgroups.onAdded((id) => this.cache.delete(id));
  }

  /** Walk the cgroup tree once and try every runtime once; resolves when both are done. Runtimes that failed keep
   *  retrying with backoff (see stats().runtimes); meanwhile identity comes from cgroup paths alone. */
  async start(): Promise<void> {
    if (!this.config.enabled) return;
    this.ttlTimer = setInterval(() => this.generation++, this.config.attributesTtlMs);
    this.ttlTimer.unref();
    await Promise.all([this.runtimes.start(), this.cgroups.scan()]);
  }

  stop(): void {
    clearInterval(this.ttlTimer);
    clearInterval(this.removalTimer);
    this.cgroups.stop();
    this.runtimes.stop();
  }

  /** Identity attributes of a cgroup id (and pid, used when the id is not known yet). Host processes get {}.
   *  The returned object is shared and frozen-by-contract: copy it before changing it. */
  attributesFor(cgroupId: bigint, pid?: number): Attributes {
    this.counters.lookups++;
    if (!this.config.enabled) return EMPTY;
    // On a cgroup v1-only host the kernel's cgroup id names the (unused) v2 hierarchy: the same root for every task.
    // There the pid is the only way in: /proc/<pid>/cgroup in the id hierarchy (memory), cached per pid.
    if (this.cgroups.layout.mode === 'v1') return pid === undefined ? EMPTY : this.attributesOfPid(pid);
    // peek, not get: moving the key on every hit costs more than it saves (measured ~1 us vs ~80 ns per lookup);
    // eviction is therefore oldest-computed first, and an evicted hot id is recomputed from the path cache.
    const cached = this.cache.peek(cgroupId);
    if (cached && cached.generation === this.generation) {
      this.counters.cacheHits++;
      return cached.attributes;
    }
    try {
      return this.compute(cgroupId, pid);
    } catch {
      this.counters.errors++;
      return EMPTY;
    }
  }

  /** Merge the identity attributes of event.cgroupId (pid from `process.pid`) into event.attributes. */
  enrich(event: TapioEvent): void {
    const pid = event.attributes['process.pid'];
    const attrs = this.attributesFor(event.cgroupId, typeof pid === 'number' ? pid : undefined);
    for (const k in attrs) event.attributes[k] = attrs[k]!;
  }

  /** Cgroup ids removed recently, forgotten after a grace period: events of a container's last moments (its exit,
   *  a final close) can reach us after the rmdir record, and must still resolve. */
  private readonly pendingRemovals: { at: number; id: bigint }[] = [];
  private removalTimer: NodeJS.Timeout | undefined;
  static readonly REMOVAL_GRACE_MS = 5000;

  /** Feed from the cgroup collector (cgroup_mkdir/rmdir): new cgroups are known at once, removed ones forgotten
   *  after a grace period. */
  cgroupChanged(change: CgroupChange): void {
    if (change.op === 'mkdir') {
      if (change.path) this.cgroups.onCgroupCreated(change.id, change.path);
      return;
    }
    this.pendingRemovals.push({ at: Date.now() + IdentityResolver.REMOVAL_GRACE_MS, id: change.id });
    if (!this.removalTimer) {
      this.removalTimer = setInterval(() => {
        const now = Date.now();
        while (this.pendingRemovals.length && this.pendingRemovals[0].at <= now) this.cgroups.onCgroupRemoved(this.pendingRemovals.shift()!.id);
        if (this.pendingRemovals.length === 0) { clearInterval(this.removalTimer); this.removalTimer = undefined; }
      }, 1000);
      this.removalTimer.unref();
    }
  }

  /** For the pipeline's identity gate: the event's cgroup is not known yet, or it names a container that no
   *  runtime has named yet while some runtime is connected (so waiting for the next walk or list can help). */
  incomplete(event: TapioEvent): boolean {
    // v1-only hosts: every event has the same (meaningless) cgroup id, and holding by it would hold everything.
    if (this.cgroups.layout.mode === 'v1') return false;
    const a = event.attributes;
    if (a['container.id'] === undefined) {
      // A cgroup we have not seen yet (created since the last walk; its process may already be gone, so the pid
      // did not help): a walk of the tree will place it. Known host cgroups and "unknown" (0) never wait.
      const id = event.cgroupId;
      return this.config.enabled && id !== 0n && id !== ROOT_CGROUP_ID && this.cgroups.pathOf(id) === undefined;
    }
    if (a['container.name'] !== undefined) return false;
    // Given up on lately, and no runtime has told anything new since (a container started while its first exec was
    // held, dockerd still creating it, is named by the runtime's next change: then it is worth waiting again).
    const gaveUp = this.gaveUp.peek(event.cgroupId);
    if (gaveUp !== undefined && gaveUp.generation === this.runtimes.generation &&
      Date.now() - gaveUp.at < this.config.runtimes.relistIntervalMs) return false;
    return this.runtimes.status().some((s) => s.state === 'connected');
  }

  private readonly settling = new Map<bigint, Promise<void>>();

  /** For the pipeline's identity gate: resolves once a re-list has had a chance to name this cgroup's container.
   *  Concurrent callers for one cgroup share one wait. */
  settle(cgroupId: bigint, pid?: number): Promise<void> {
    let p = this.settling.get(cgroupId);
    if (!p) {
      p = this.resolve(cgroupId, pid).then((attrs) => {
        // Still no name (a runtime we do not watch, a container already gone): do not hold this cgroup's events
        // again until the next periodic re-list could have changed that.
        if (attrs['container.id'] !== undefined && attrs['container.name'] === undefined) {
          this.gaveUp.set(cgroupId, { at: Date.now(), generation: this.runtimes.generation });
        }
      }, () => undefined).finally(() => this.settling.delete(cgroupId));
      this.settling.set(cgroupId, p);
    }
    return p;
  }

  /** Cgroups whose container no runtime could name at the last try: when, and the runtimes' generation then. */
  private readonly gaveUp = new LruMap<bigint, { at: number; generation: number }>(4096);

  /** Like attributesFor, but waits for a cgroup walk and a runtime re-list when something is unknown. For tests
   *  and start-up paths, never for the per-event path. */
  async resolve(cgroupId: bigint, pid?: number): Promise<Attributes> {
    const first = this.attributesFor(cgroupId, pid);
    if (first['container.name'] !== undefined || cgroupId === ROOT_CGROUP_ID) return first;
    const path = await this.cgroups.resolve(cgroupId);
    if (path === undefined && pid === undefined) return first;
    await this.runtimes.refresh(true);
    this.cache.delete(cgroupId);
    return this.attributesFor(cgroupId, pid);
  }

  stats(): IdentityStats {
    return { ...this.counters, cgroups: this.cgroups.stats(), runtimes: this.runtimes.status() };
  }

  private readonly byPid = new LruMap<number, CacheEntry & { at: number }>(4096);

  private attributesOfPid(pid: number): Attributes {
    const now = Date.now();
    const cached = this.byPid.peek(pid);
    // A short life: pids are reused, and a process can move between cgroups.
    if (cached && cached.generation === this.generation && now - cached.at < 2000) {
      this.counters.cacheHits++;
      return cached.attributes;
    }
    try {
      const path = this.cgroups.pathOfPid(pid);
      if (path === undefined) {
        this.counters.unresolved++;
        return EMPTY;
      }
      const attributes = this.attributesOfPath(path);
      this.byPid.set(pid, { generation: this.generation, attributes, at: now });
      return attributes;
    } catch {
      this.counters.errors++;
      return EMPTY;
    }
  }

  private compute(cgroupId: bigint, pid: number | undefined): Attributes {
    let path: string | undefined;
    if (cgroupId === 0n) {
      // The collector could not tell: only a pid can help, and then nothing is cached under id 0.
      path = pid !== undefined ? this.cgroups.pathOfPid(pid) : undefined;
      if (path === undefined) return EMPTY;
      return this.attributesOfPath(path);
    }
    path = this.cgroups.pathOf(cgroupId) ?? (pid !== undefined ? this.cgroups.pathOfPid(pid, cgroupId) : undefined);
    if (path === undefined) {
      this.counters.unresolved++;
      return EMPTY; // not cached: the scheduled walk will know it soon
    }
    const generation = this.generation;
    const attributes = this.attributesOfPath(path);
    this.cache.set(cgroupId, { generation, attributes });
    return attributes;
  }

  private attributesOfPath(path: string): Attributes {
    const parsed: ParsedCgroup = parseCgroupPath(path);
    if (parsed.kind === 'host') return EMPTY;
    let container: ContainerInfo | undefined = this.runtimes.lookupByCgroupPath(path);
    if (!container && parsed.containerId) container = this.runtimes.lookup(parsed.containerId);
    if (!container && parsed.candidateId) container = this.runtimes.lookup(parsed.candidateId);
    if (!container && (parsed.containerId || parsed.candidateId)) {
      if (parsed.containerId) this.counters.unknownContainers++;
      void this.runtimes.refresh(); // rate-limited per runtime; the change bumps the generation
    }
    const containerId = container?.id ?? parsed.containerId;
    const podUid = container?.podUid ?? parsed.podUid;
    if (!containerId && !podUid) return EMPTY;

    const out: Attributes = {};
    if (containerId) out['container.id'] = containerId;
    const runtime = container?.runtime ?? parsed.runtime;
    if (runtime && runtime !== 'unknown') out['container.runtime'] = runtime;
    if (container) {
      out['container.name'] = container.name;
      if (container.imageName) out['container.image.name'] = container.imageName;
      if (container.imageDigest) out['container.image.id'] = container.imageDigest;
    }
    if (podUid) this.addPodAttributes(out, podUid, containerId, container);
    return Object.freeze(out) as Attributes;
  }

  private addPodAttributes(out: Attributes, podUid: string, containerId: string | undefined,
      container: ContainerInfo | undefined): void {
    out['k8s.pod.uid'] = podUid;
    const pod = this.kubernetes?.podByUid(podUid);
    if (pod) {
      out['k8s.pod.name'] = pod.name;
      out['k8s.namespace.name'] = pod.namespace;
      for (const [k, v] of Object.entries(pod.attributes)) out[k] = v;
      const name = containerId === undefined ? undefined :
        Object.entries(pod.containerIds).find(([, id]) => id === containerId)?.[0];
      const k8sName = name ?? container?.kubernetesContainerName;
      if (k8sName) out['k8s.container.name'] = k8sName;
      return;
    }
    // No API server answer: CRI sandbox metadata and annotations say the same for running pods.
    if (container?.podName) out['k8s.pod.name'] = container.podName;
    if (container?.podNamespace) out['k8s.namespace.name'] = container.podNamespace;
    if (container?.kubernetesContainerName) out['k8s.container.name'] = container.kubernetesContainerName;
  }
}
