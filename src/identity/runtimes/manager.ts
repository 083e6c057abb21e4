// All container runtimes of this node at once: one RuntimeEndpoint per configured socket (containerd, k3s, CRI-O,
// Docker, podman), looked up together by container id. Sockets that do not exist yet are retried with backoff, so
// the agent may start before the runtimes do.
import type { DropCounters } from '../../core/drops';
import type { ContainerInfo } from '../types';
import { RuntimeEndpoint, type EndpointConfig, type EndpointStatus, type EndpointTiming } from './endpoint';

export type { EndpointConfig, EndpointStatus } from './endpoint';

/** The sockets runtimes listen on by default. */
export const DEFAULT_ENDPOINTS: EndpointConfig[] = [
  { kind: 'cri', socket: '/run/containerd/containerd.sock' },
  { kind: 'cri', socket: '/run/k3s/containerd/containerd.sock' },
  { kind: 'cri', socket: '/var/run/crio/crio.sock' },
  { kind: 'docker', socket: '/var/run/docker.sock' },
  { kind: 'podman', socket: '/run/podman/podman.sock' },
];

export interface RuntimeManagerOptions extends Partial<EndpointTiming> {
  endpoints?: EndpointConfig[];
  drops?: DropCounters;
  log?: (message: string) => void;
}

export class RuntimeManager {
  private readonly endpoints: RuntimeEndpoint[];
  private readonly listeners: Array<() => void> = [];
  /** Bumped whenever any runtime's set of containers changes; caches compare against it. */
  generation = 0;

  constructor(options: RuntimeManagerOptions = {}) {
    const timing: EndpointTiming = {
      relistIntervalMs: options.relistIntervalMs ?? 30_000,
      minRelistIntervalMs: options.minRelistIntervalMs ?? 1000,
      backoffInitialMs: options.backoffInitialMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      deadlineMs: options.deadlineMs ?? 5000,
    };
    const log = options.log ?? (() => {});
    this.log = log;
    const events = {
      changed: () => {
        this.generation++;
        for (const l of this.listeners) l();
      },
      malformed: (_what: string) => options.drops?.count('identity', 'container', 'runtime_answer_malformed'),
      log,
    };
    // The same socket listed twice (e.g. /var/run -> /run) would double every answer: keep the first.
    const seen = new Set<string>();
    this.endpoints = (options.endpoints ?? DEFAULT_ENDPOINTS).filter((e) => {
      const key = `${e.kind}:${e.socket}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    }).map((e) => new RuntimeEndpoint(e, timing, events));
  }

  /** Start every endpoint; resolves once each has connected or failed its first attempt (failed ones retry). */
  async start(): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.start()));
    const st = this.status();
    const up = st.filter((s) => s.state === 'connected').map((s) => `${s.runtime} (${s.socket})`);
    const absent = st.filter((s) => s.state !== 'connected').map((s) => s.socket);
    this.log(`identity: container runtimes connected: ${up.length ? up.join(', ') : 'none'}` +
      (absent.length ? `; watching for ${absent.join(', ')}` : ''));
  }

  private readonly log: (message: string) => void;

  stop(): void {
    for (const e of this.endpoints) e.stop();
  }

  /** The container with this id on any runtime, or undefined. */
  lookup(containerId: string): ContainerInfo | undefined {
    for (const e of this.endpoints) {
      const c = e.containers.get(containerId);
      if (c) return c;
    }
    return undefined;
  }

  /** The container whose runtime reported exactly this cgroups path (CRI verbose status), or undefined. */
  lookupByCgroupPath(cgroupPath: string): ContainerInfo | undefined {
    for (const e of this.endpoints) {
      const id = e.byCgroupsPath.get(cgroupPath);
      if (id) return e.containers.get(id);
    }
    return undefined;
  }

  /** Ask every connected runtime to re-list (rate-limited per runtime); resolves when they are done. */
  async refresh(force = false): Promise<void> {
    await Promise.all(this.endpoints.map((e) => e.refresh(force)));
  }

  /** Called after any runtime's containers changed. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  status(): EndpointStatus[] {
    return this.endpoints.map((e) => e.status());
  }

  /** True when at least one runtime is connected. */
  anyConnected(): boolean {
    return this.endpoints.some((e) => e.connected);
  }
}
