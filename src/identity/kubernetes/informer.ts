// One watched resource kept in memory (pods on this node, this node, services, endpoint slices), built on
// @kubernetes/client-node's ListWatch: it lists, watches from the list's resourceVersion, relists on 410 Gone and
// reports adds, updates and deletes (also the ones a relist discovers). What we add around it:
//  - every object is checked and projected on arrival (objects.ts); malformed ones are counted and skipped;
//  - lists are served from the API server's watch cache (resourceVersion=0) and watches ask for bookmarks and end
//    after a server-side timeout, which keeps a fleet of agents cheap for the API server (docs/kubernetes-scale.md);
//  - ListWatch gives up after an error; we restart it with exponential backoff and jitter, keeping the last known
//    objects meanwhile;
//  - counters for status: connected, last error, objects cached, lists, watches, events.
import type { ListWatch as ListWatchType, Watch } from '@kubernetes/client-node';
import { type ApiClient, ApiError, message } from './connection';
import { kubernetesLibrary } from './library';
import type { Projection } from './objects';
import { Backoff } from '../../core/backoff';

export interface InformerOptions<T> {
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  fieldSelector?: string;
  projection: Projection<T>;
  watchTimeoutSeconds: number;
  backoff: { initialMs: number; maxMs: number };
  /** Called for each object that failed the check (already counted here). */
  onMalformed: (kind: string, error: string) => void;
}

export interface InformerStatus {
  kind: string;
  path: string;
  synced: boolean;
  connected: boolean;
  objects: number;
  lists: number;
  watchEvents: number;
  malformed: number;
  restarts: number;
  lastError?: string;
  lastErrorAt?: string;
}

type Handler<T> = (obj: T) => void;

/** Watches stop at least this long apart, so a server that ends every watch at once cannot cause a hot loop. */
const MIN_WATCH_SPACING_MS = 1000;

/** What ListWatch needs of an object: a name, maybe a namespace, and a resourceVersion. */
export interface WatchedObject {
  metadata: { name: string; namespace?: string | null; resourceVersion?: string | null };
}

export class Informer<T extends WatchedObject> {
  // ListWatch is typed for the library's full objects; ours are checked projections with the same metadata keys.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the library's object type, see above
  private readonly lw: ListWatchType<any>;
  private stopped = true;
  private hasSynced = false;
  private connected = false;
  private readonly backoff: Backoff;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly counts = { lists: 0, watchEvents: 0, malformed: 0, restarts: 0 };
  private lastError: string | undefined;
  private lastErrorAt: Date | undefined;
  private readonly handlers = { add: [] as Handler<T>[], update: [] as Handler<T>[], delete: [] as Handler<T>[] };
  private readonly syncWaiters: Array<() => void> = [];

  constructor(private readonly api: ApiClient, private readonly opts: InformerOptions<T>) {
    this.backoff = new Backoff(opts.backoff.initialMs, opts.backoff.maxMs, 'spread');
    const { ListWatch } = kubernetesLibrary();
    // ListWatch only calls watch(path, query, callback, done) on its Watch: hand it ours, which checks objects.
    const watchAdapter = { watch: this.startWatch.bind(this) } as unknown as Watch;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the library's object type, see above
    this.lw = new ListWatch<any>(opts.path, watchAdapter, () => this.fetchList(), false, undefined, opts.fieldSelector);
    this.lw.on('add', (o) => this.emit('add', o as T));
    this.lw.on('update', (o) => this.emit('update', o as T));
    this.lw.on('delete', (o) => this.emit('delete', o as T));
    this.lw.on('error', (err) => this.failed(err));
  }

  get kind(): string { return this.opts.projection.kind; }

  on(event: 'add' | 'update' | 'delete', handler: Handler<T>): void { this.handlers[event].push(handler); }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.lw.start().catch((err) => this.failed(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.connected = false;
    await this.lw.stop();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  /** The objects as last seen; kept while the API server is unreachable. */
  objects(): ReadonlyArray<T> { return this.lw.list() as T[]; }
  get(name: string, namespace?: string): T | undefined { return this.lw.get(name, namespace) as T | undefined; }
  synced(): boolean { return this.hasSynced; }

  /** Resolves once the first list is in memory, or the informer stops. */
  whenSynced(): Promise<void> {
    if (this.hasSynced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  status(): InformerStatus {
    return {
      kind: this.kind, path: this.opts.path + (this.opts.fieldSelector ? `?fieldSelector=${this.opts.fieldSelector}` : ''),
      synced: this.hasSynced, connected: this.connected, objects: this.lw.list().length, ...this.counts,
      ...(this.lastError ? { lastError: this.lastError, lastErrorAt: this.lastErrorAt?.toISOString() } : {}),
    };
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    return `${this.opts.path}?${q.toString()}`;
  }

  /** The list ListWatch asks for: from the watch cache (resourceVersion=0), items checked one by one. */
  private async fetchList(): Promise<{ metadata: { resourceVersion: string }; items: T[] }> {
    const body = await this.api.getJson(this.query({ resourceVersion: '0' })) as { metadata?: { resourceVersion?: unknown }; items?: unknown };
    if (!body || typeof body !== 'object' || !Array.isArray(body.items)) {
      throw new ApiError(`list ${this.opts.path}: answer has no items array`);
    }
    const items: T[] = [];
    for (const raw of body.items) {
      const parsed = this.opts.projection.parse(raw);
      if (parsed.ok) items.push(parsed.value as unknown as T);
      else this.malformed(parsed.error);
    }
    this.counts.lists++;
    const rv = body.metadata?.resourceVersion;
    return { metadata: { resourceVersion: typeof rv === 'string' ? rv : '' }, items };
  }

  /** Called by ListWatch after each list (and to re-watch): so a call here means the list is applied. */
  private async startWatch(path: string, query: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, obj: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    this.markSynced();
    const q: Record<string, string> = { watch: 'true', allowWatchBookmarks: 'true' };
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q[k] = String(v);
    // Spread the fleet's reconnects: each watch lasts timeoutSeconds plus up to 10% more.
    const timeoutSeconds = Math.round(this.opts.watchTimeoutSeconds * (1 + Math.random() * 0.1));
    q.timeoutSeconds = String(timeoutSeconds);
    const started = Date.now();
    const onEvent = (type: string, raw: unknown): void => {
      if (type === 'ERROR') {
        // A Status; 410 means our resourceVersion is too old: ListWatch then relists when the stream ends.
        const status = raw as { code?: unknown; message?: unknown } | null;
        this.noteError(`watch ${path}: ${typeof status?.message === 'string' ? status.message : 'error event'}`);
        callback(type, { code: typeof status?.code === 'number' ? status.code : 500 });
        return;
      }
      if (type === 'BOOKMARK') {
        const rv = (raw as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
        if (typeof rv === 'string') callback(type, { metadata: { resourceVersion: rv } });
        else this.malformed('bookmark without metadata.resourceVersion');
        return;
      }
      if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') { this.malformed(`unknown watch event type ${type}`); return; }
      const parsed = this.opts.projection.parse(raw);
      if (!parsed.ok) { this.malformed(parsed.error); return; }
      this.counts.watchEvents++;
      callback(type, parsed.value);
    };
    let ended = false;
    const whenDone = (err: unknown): void => {
      ended = true;
      if (err) { done(err); return; }
      this.connected = false;
      const wait = Math.max(0, started + MIN_WATCH_SPACING_MS - Date.now());
      setTimeout(() => done(null), wait).unref();
    };
    const controller = await this.api.watch(`${path}?${new URLSearchParams(q).toString()}`,
      (timeoutSeconds + 30) * 1000, { event: onEvent, badLine: (why) => this.malformed(why) }, whenDone);
    if (!ended) {
      this.connected = true;
      this.backoff.reset();
    }
    return controller;
  }

  private markSynced(): void {
    if (this.hasSynced) return;
    this.hasSynced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private emit(event: 'add' | 'update' | 'delete', obj: T): void {
    for (const h of this.handlers[event]) {
      try { h(obj); } catch (err) { this.noteError(`${this.kind} ${event} handler failed: ${message(err)}`); }
    }
  }

  private malformed(error: string): void {
    this.counts.malformed++;
    this.opts.onMalformed(this.kind, error);
  }

  private noteError(msg: string): void {
    this.lastError = msg;
    this.lastErrorAt = new Date();
  }

  /** ListWatch stopped after an error: remember it and try again later, keeping the cached objects. */
  private failed(err: unknown): void {
    this.connected = false;
    this.noteError(`${this.kind}: ${message(err)}`);
    if (this.stopped || this.restartTimer) return;
    const wait = this.backoff.next();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.counts.restarts++;
      void this.lw.start().catch((e) => this.failed(e));
    }, wait);
    this.restartTimer.unref();
  }
}
