// One container runtime socket, kept connected: probe it, list its containers, follow changes (Docker /events; CRI by
// re-listing periodically and on request), and when the socket is missing or the runtime restarts, retry with
// exponential backoff while the last known containers stay usable. Malformed answers are counted and skipped.
import * as fs from 'node:fs';
import type { ContainerInfo, RuntimeName } from '../types';
import { CriClient } from './cri';
import { DockerClient, type DockerEvent, type EventStream } from './docker';
import {
  containerFromCri, containerFromDockerInspect, containerFromDockerSummary, extrasFromCriStatus, sandboxFromCri,
  type SandboxInfo,
} from './normalize';
import { Backoff } from '../../core/backoff';

export type EndpointKind = 'cri' | 'docker' | 'podman';

export interface EndpointConfig {
  kind: EndpointKind;
  socket: string;
  /** What to call containers found here; defaults: docker -> docker, podman -> podman, cri -> from Version. */
  runtime?: RuntimeName;
}

export interface EndpointTiming {
  relistIntervalMs: number;
  minRelistIntervalMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  deadlineMs: number;
}

export type EndpointState = 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface EndpointStatus {
  kind: EndpointKind;
  socket: string;
  runtime: RuntimeName;
  state: EndpointState;
  containers: number;
  connects: number;
  failures: number;
  malformed: number;
  lastError?: string;
  /** When the next connection attempt happens (state waiting), ms from now. */
  retryInMs?: number;
}

export interface EndpointEvents {
  changed(): void;
  malformed(what: string): void;
  log(message: string): void;
}

/** CRI Version().runtime_name -> our runtime name. */
function runtimeFromCriName(name: unknown): RuntimeName {
  if (typeof name !== 'string') return 'unknown';
  if (name.includes('containerd')) return 'containerd';
  if (name.includes('cri-o') || name.includes('crio')) return 'cri-o';
  return 'unknown';
}

export class RuntimeEndpoint {
  readonly containers = new Map<string, ContainerInfo>();
  /** CRI only: the container's cgroups path (runtimeSpec.linux.cgroupsPath) -> container id. */
  readonly byCgroupsPath = new Map<string, string>();
  private state: EndpointState = 'stopped';
  private runtime: RuntimeName;
  private cri: CriClient | undefined;
  private docker: DockerClient | undefined;
  private events: EventStream | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private readonly backoff: Backoff;
  private listing: Promise<void> | undefined;
  private lastListStart = -Infinity;
  private readonly counters = { connects: 0, failures: 0, malformed: 0 };
  private lastError: string | undefined;
  private readonly sandboxes = new Map<string, SandboxInfo>();
  /** Docker/podman: what an event last told of a container, numbered. A list answer was made when its request
   *  started, so a container that an event named (or removed) after that is newer news than the list: without
   *  this, a list begun just before a container was created dropped the container that the event had just added,
   *  and its events went unnamed until the next periodic re-list. */
  private eventSeq = 0;
  private readonly eventNews = new Map<string, { seq: number; present: boolean }>();

  constructor(readonly config: EndpointConfig, private readonly timing: EndpointTiming,
    private readonly on: EndpointEvents) {
    this.runtime = config.runtime ?? (config.kind === 'cri' ? 'unknown' : config.kind);
    this.backoff = new Backoff(timing.backoffInitialMs, timing.backoffMaxMs);
  }

  /** Start connecting; resolves once the first attempt has connected or failed (it never rejects). */
  start(): Promise<void> {
    if (this.state !== 'stopped') return Promise.resolve();
    return this.connect();
  }

  stop(): void {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearInterval(this.relistTimer);
    this.disconnectClients();
  }

  status(): EndpointStatus {
    const s: EndpointStatus = { kind: this.config.kind, socket: this.config.socket, runtime: this.runtime,
      state: this.state, containers: this.containers.size, ...this.counters };
    if (this.lastError) s.lastError = this.lastError;
    if (this.state === 'waiting') s.retryInMs = Math.max(0, this.retryAt - Date.now());
    return s;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Re-list now unless a list ran less than minRelistIntervalMs ago; resolves when the list is done. */
  refresh(force = false): Promise<void> {
    if (this.state !== 'connected') return Promise.resolve();
    if (this.listing) return this.listing;
    if (!force && performance.now() - this.lastListStart < this.timing.minRelistIntervalMs) return Promise.resolve();
    this.lastListStart = performance.now();
    this.listing = this.list()
      .catch((e: unknown) => this.fail(e))
      .finally(() => {
        this.listing = undefined;
      });
    return this.listing;
  }

  /** Bumped by every connection attempt: a failure reported by an older attempt (its event stream ending after
   *  its list failed, say) must not schedule a second retry loop beside the one already waiting. */
  private attemptId = 0;

  private connect(): Promise<void> {
    this.state = 'connecting';
    const attempt = ++this.attemptId;
    return this.connectOnce().catch((e: unknown) => this.fail(e, attempt));
  }

  private async connectOnce(): Promise<void> {
    const { socket, kind } = this.config;
    const attempt = this.attemptId;
    if (!fs.existsSync(socket)) throw new Error(`socket ${socket} does not exist`);
    if (kind === 'cri') {
      this.cri = new CriClient(socket, { deadlineMs: this.timing.deadlineMs });
      const v = await this.cri.version();
      if (!this.config.runtime) this.runtime = runtimeFromCriName(v.runtime_name);
    } else {
      this.docker = new DockerClient(socket, { timeoutMs: this.timing.deadlineMs });
      await this.docker.ping();
      // Follow events before listing, so nothing started in between is missed.
      this.events = this.docker.events((e) => this.onDockerEvent(e), (line) => this.countMalformed(`event ${line.slice(0, 80)}`),
        (err) => {
          if (this.state === 'connected' || this.state === 'connecting') this.fail(err ?? new Error('event stream ended'), attempt);
        });
    }
    if (this.state !== 'connecting') return; // stopped or failed meanwhile
    this.lastListStart = performance.now();
    await this.list();
    if (this.state !== 'connecting') return;
    this.state = 'connected';
    this.counters.connects++;
    this.backoff.reset();
    if (this.lastError) this.on.log(`identity: ${kind} runtime at ${socket} is back (${this.containers.size} containers)`);
    this.lastError = undefined;
    this.relistTimer = setInterval(() => void this.refresh(true), this.timing.relistIntervalMs);
    this.relistTimer.unref();
  }

  private fail(e: unknown, attempt = this.attemptId): void {
    if (this.state === 'stopped') return;
    // One retry per failed attempt: a second report of the same attempt, or one from an attempt already replaced.
    if (attempt !== this.attemptId || this.state === 'waiting') return;
    const message = e instanceof Error ? e.message : String(e);
    this.counters.failures++;
    // A socket that has never existed is the normal case on a node (one runtime installed, several watched): the
    // manager says so once, in one line; only real failures and lost connections are worth a line each.
    const neverThere = this.counters.connects === 0 && /does not exist/.test(message);
    if (message !== this.lastError && !neverThere) {
      this.on.log(`identity: ${this.config.kind} runtime at ${this.config.socket} unavailable: ${message}; ` +
        `using cgroup paths only for new containers, retrying in ${this.backoff.peek()} ms`);
    }
    this.lastError = message;
    this.state = 'waiting';
    clearInterval(this.relistTimer);
    this.disconnectClients();
    const delay = this.backoff.next();
    this.retryAt = Date.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private disconnectClients(): void {
    this.events?.close();
    this.events = undefined;
    this.cri?.close();
    this.cri = undefined;
    this.docker = undefined;
  }

  private countMalformed(what: string): void {
    this.counters.malformed++;
    this.on.malformed(what);
  }

  private list(): Promise<void> {
    return this.config.kind === 'cri' ? this.listCri() : this.listDocker();
  }

  private async listDocker(): Promise<void> {
    const docker = this.docker;
    if (!docker) return;
    const listedAfter = this.eventSeq;
    const answer = await docker.listContainers();
    if (!Array.isArray(answer)) {
      this.countMalformed('containers/json is not a list');
      return;
    }
    const fresh = new Map<string, ContainerInfo>();
    for (const item of answer) {
      const c = containerFromDockerSummary(item, this.runtime);
      if (!c) {
        this.countMalformed('container summary');
        continue;
      }
      // Keep what an inspect told us (pid) when the summary has nothing newer.
      const known = this.containers.get(c.id);
      fresh.set(c.id, known?.pid ? { ...c, pid: known.pid } : c);
    }
    // Events handled while the list was on its way are newer than the list: they win.
    for (const [id, news] of this.eventNews) {
      if (news.seq <= listedAfter) {
        this.eventNews.delete(id);
        continue;
      }
      const known = this.containers.get(id);
      if (!news.present) fresh.delete(id);
      else if (known) fresh.set(id, known);
    }
    this.replaceContainers(fresh);
  }

  private onDockerEvent(e: DockerEvent): void {
    const action = e.Action ?? e.status;
    const id = e.Actor?.ID ?? e.id;
    if (typeof action !== 'string' || typeof id !== 'string') {
      this.countMalformed('event without action or id');
      return;
    }
    if (action === 'start' || action === 'create' || action === 'rename') {
      void this.inspectDocker(id);
    } else if (action === 'destroy' || action === 'remove') {
      this.eventNews.set(id, { seq: ++this.eventSeq, present: false });
      if (this.containers.delete(id)) this.on.changed();
    }
  }

  private async inspectDocker(id: string): Promise<void> {
    const docker = this.docker;
    if (!docker) return;
    try {
      const c = containerFromDockerInspect(await docker.inspectContainer(id), this.runtime);
      if (!c) {
        this.countMalformed('container inspect');
        return;
      }
      this.eventNews.set(c.id, { seq: ++this.eventSeq, present: true });
      this.containers.set(c.id, c);
      this.on.changed();
    } catch {
      // Removed before we asked: the next list settles it.
    }
  }

  private async listCri(): Promise<void> {
    const cri = this.cri;
    if (!cri) return;
    const sandboxAnswer = await cri.listPodSandbox();
    const containerAnswer = await cri.listContainers();
    const sandboxes = new Map<string, SandboxInfo>();
    for (const item of Array.isArray(sandboxAnswer.items) ? sandboxAnswer.items : []) {
      const s = sandboxFromCri(item);
      if (s) sandboxes.set(s.id, s);
      else this.countMalformed('pod sandbox');
    }
    this.sandboxes.clear();
    for (const [k, v] of sandboxes) this.sandboxes.set(k, v);
    const items = Array.isArray(containerAnswer.containers) ? containerAnswer.containers : [];
    const fresh = new Map<string, ContainerInfo>();
    for (const item of items) {
      const id = (item as { id?: unknown }).id;
      const known = typeof id === 'string' ? this.containers.get(id) : undefined;
      let c: ContainerInfo | undefined;
      if (known) {
        c = known; // ids are immutable: what we learned once stays true
      } else {
        const sandboxId = (item as { pod_sandbox_id?: unknown }).pod_sandbox_id;
        const sandbox = typeof sandboxId === 'string' ? this.sandboxes.get(sandboxId) : undefined;
        let extras = {};
        if (typeof id === 'string') {
          try {
            const status = await cri.containerStatus(id, true);
            extras = extrasFromCriStatus(status);
            const cgroupsPath = (extras as { cgroupsPath?: string }).cgroupsPath;
            if (cgroupsPath?.startsWith('/')) this.byCgroupsPath.set(cgroupsPath, id);
          } catch {
            // Gone since the list, or verbose not supported: the list entry is still good.
          }
        }
        c = containerFromCri(item, this.runtime, sandbox, extras);
      }
      if (!c) {
        this.countMalformed('container');
        continue;
      }
      fresh.set(c.id, c);
    }
    this.replaceContainers(fresh);
  }

  private replaceContainers(fresh: Map<string, ContainerInfo>): void {
    let changed = fresh.size !== this.containers.size;
    for (const id of this.containers.keys()) {
      if (!fresh.has(id)) changed = true;
    }
    for (const [id, c] of fresh) {
      if (this.containers.get(id) !== c) changed = true;
    }
    this.containers.clear();
    for (const [id, c] of fresh) this.containers.set(id, c);
    for (const [p, id] of this.byCgroupsPath) if (!fresh.has(id)) this.byCgroupsPath.delete(p);
    if (changed) this.on.changed();
  }
}
