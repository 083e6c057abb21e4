// A FAKE Kubernetes API server for tests and benches: no real API server can run on this machine, so this one
// serves the small part of the API Tapio uses, the way the real one does: list (with resourceVersion and
// fieldSelector), watch (chunked JSON lines ADDED/MODIFIED/DELETED/BOOKMARK, 410 Gone as an ERROR event for a
// resourceVersion older than its history), and GET of single objects. It listens on 127.0.0.1 only, can be stopped
// and restarted on the same port, and counts requests and bytes sent so benches can report what an agent costs.
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';

type Obj = Record<string, any>;

interface Resource { prefix: string; plural: string; kind: string; apiVersion: string; namespaced: boolean }

const RESOURCES: Resource[] = [
  { prefix: '/api/v1', plural: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true },
  { prefix: '/api/v1', plural: 'nodes', kind: 'Node', apiVersion: 'v1', namespaced: false },
  { prefix: '/api/v1', plural: 'namespaces', kind: 'Namespace', apiVersion: 'v1', namespaced: false },
  { prefix: '/api/v1', plural: 'services', kind: 'Service', apiVersion: 'v1', namespaced: true },
  { prefix: '/apis/discovery.k8s.io/v1', plural: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespaced: true },
  { prefix: '/apis/apps/v1', plural: 'replicasets', kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true },
  { prefix: '/apis/apps/v1', plural: 'deployments', kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true },
  { prefix: '/apis/batch/v1', plural: 'jobs', kind: 'Job', apiVersion: 'batch/v1', namespaced: true },
];

interface Watcher { res: http.ServerResponse; resource: Resource; selector: Array<[string, string]>; path: string }
interface HistoryEntry { rv: number; kind: string; type: string; object: Obj }

export interface RequestLogEntry { verb: 'list' | 'watch' | 'get'; path: string; query: string; bytes: number; items: number }

export class FakeApiServer {
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  /** kind -> "ns/name" -> object; survives stop/start like etcd would. */
  private readonly store = new Map<string, Map<string, Obj>>();
  private history: HistoryEntry[] = [];
  private historyStart = 1;
  private rv = 100;
  private port = 0;
  readonly requests: RequestLogEntry[] = [];
  bytesSent = 0;
  /** Requests refused with 401 for a missing or wrong token. */
  unauthorized = 0;
  /** When set, requests without `Authorization: Bearer <token>` get 401. */
  requireToken: string | undefined;
  /** Requests whose path matches get 403 Forbidden, as missing RBAC rules would cause. */
  forbidden: RegExp | undefined;
  /** Keep at most this many watch events for resuming watches (older resourceVersions get 410 Gone). */
  historyLimit = 100_000;

  /** With a key and certificate it serves HTTPS, as a real API server does (in-cluster tests). */
  constructor(private readonly tls?: { key: string | Buffer; cert: string | Buffer }) {}

  get url(): string { return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`; }
  get listenPort(): number { return this.port; }

  async start(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    const server = this.tls ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler) : http.createServer(handler);
    server.on(this.tls ? 'secureConnection' : 'connection', (s: Socket) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and cut every connection, as a crashed API server would. Objects are kept. */
  async stop(opts: { forgetHistory?: boolean } = {}): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    // A restarted API server has an empty watch cache: resuming from an old resourceVersion gets 410 Gone.
    if (opts.forgetHistory ?? true) { this.history = []; this.historyStart = this.rv + 1; }
  }

  /** Create or replace an object (stamped with uid, resourceVersion); watchers see ADDED or MODIFIED. */
  upsert(obj: Obj): Obj {
    const r = this.resourceOfKind(obj.kind);
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const objects = this.objectsOf(r.kind);
    const old = objects.get(key);
    obj.metadata.uid ??= old?.metadata.uid ?? randomUUID();
    obj.metadata.resourceVersion = String(++this.rv);
    obj.apiVersion ??= r.apiVersion;
    objects.set(key, obj);
    this.publish(r, old ? 'MODIFIED' : 'ADDED', obj);
    return obj;
  }

  remove(kind: string, namespace: string | undefined, name: string): void {
    const r = this.resourceOfKind(kind);
    const objects = this.objectsOf(r.kind);
    const key = `${namespace ?? ''}/${name}`;
    const old = objects.get(key);
    if (!old) return;
    objects.delete(key);
    old.metadata.resourceVersion = String(++this.rv);
    this.publish(r, 'DELETED', old);
  }

  get(kind: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.objectsOf(kind).get(`${namespace ?? ''}/${name}`);
  }

  /** Put an object into lists as-is, however broken (no validation, no stamping). */
  insertRaw(kind: string, key: string, obj: unknown): void {
    this.objectsOf(kind).set(key, obj as Obj);
  }

  /** Send a raw line to every watcher of `kind`, however broken. */
  sendRawToWatchers(kind: string, line: string): void {
    for (const w of this.watchers) if (w.resource.kind === kind) this.write(w.res, line + '\n');
  }

  bookmark(): void {
    for (const w of this.watchers) this.writeEvent(w.res, 'BOOKMARK', { kind: w.resource.kind, apiVersion: w.resource.apiVersion, metadata: { resourceVersion: String(this.rv) } });
  }

  watcherCount(kind?: string): number {
    return [...this.watchers].filter((w) => !kind || w.resource.kind === kind).length;
  }

  resetStats(): void { this.requests.length = 0; this.bytesSent = 0; }

  private objectsOf(kind: string): Map<string, Obj> {
    let m = this.store.get(kind);
    if (!m) this.store.set(kind, m = new Map());
    return m;
  }

  private resourceOfKind(kind: string): Resource {
    const r = RESOURCES.find((x) => x.kind === kind);
    if (!r) throw new Error(`fake API server does not serve kind ${kind}`);
    return r;
  }

  private publish(r: Resource, type: string, obj: Obj): void {
    this.history.push({ rv: this.rv, kind: r.kind, type, object: obj });
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.historyStart = dropped[dropped.length - 1]!.rv + 1;
    }
    for (const w of this.watchers) {
      if (w.resource.kind === r.kind && matches(obj, w.selector)) this.writeEvent(w.res, type, { kind: r.kind, ...obj });
    }
  }

  private write(res: http.ServerResponse, text: string): void {
    const n = Buffer.byteLength(text);
    this.bytesSent += n;
    const entry = (res as any).__log as RequestLogEntry | undefined;
    if (entry) entry.bytes += n;
    res.write(text);
  }

  private writeEvent(res: http.ServerResponse, type: string, object: Obj): void {
    const entry = (res as any).__log as RequestLogEntry | undefined;
    if (entry && type !== 'BOOKMARK') entry.items++;
    this.write(res, JSON.stringify({ type, object }) + '\n');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (this.requireToken && req.headers.authorization !== `Bearer ${this.requireToken}`) {
      this.unauthorized++;
      return this.status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    if (this.forbidden?.test(url.pathname)) return this.status(res, 403, 'Forbidden', `forbidden: cannot get ${url.pathname}`);
    const route = this.route(url.pathname);
    if (!route) return this.status(res, 404, 'NotFound', `no route ${url.pathname}`);
    const { resource, namespace, name } = route;
    const selector = parseSelector(url.searchParams.get('fieldSelector'));
    const log: RequestLogEntry = { verb: name ? 'get' : url.searchParams.get('watch') === 'true' ? 'watch' : 'list', path: url.pathname, query: url.search, bytes: 0, items: 0 };
    this.requests.push(log);
    (res as any).__log = log;
    if (name) {
      const obj = this.objectsOf(resource.kind).get(`${namespace ?? ''}/${name}`);
      if (!obj) return this.status(res, 404, 'NotFound', `${resource.plural} "${name}" not found`);
      res.writeHead(200, { 'content-type': 'application/json' });
      this.write(res, JSON.stringify({ kind: resource.kind, ...obj }));
      return void res.end();
    }
    const items = [...this.objectsOf(resource.kind).values()].filter((o) => (!namespace || o?.metadata?.namespace === namespace) && matches(o, selector));
    if (log.verb === 'list') {
      res.writeHead(200, { 'content-type': 'application/json' });
      log.items = items.length;
      this.write(res, JSON.stringify({ kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata: { resourceVersion: String(this.rv) }, items }));
      return void res.end();
    }
    this.watch(res, resource, selector, url, items);
  }

  private watch(res: http.ServerResponse, resource: Resource, selector: Array<[string, string]>, url: URL, current: Obj[]): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // the real API server answers a watch at once, before any event
    const from = url.searchParams.get('resourceVersion');
    if (from && from !== '0' && Number(from) < this.historyStart - 1) {
      this.writeEvent(res, 'ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410,
        message: `too old resource version: ${from} (${this.historyStart - 1})` });
      return void res.end();
    }
    if (!from || from === '0') {
      for (const o of current) this.writeEvent(res, 'ADDED', { kind: resource.kind, ...o });
    } else {
      for (const h of this.history) {
        if (h.rv > Number(from) && h.kind === resource.kind && matches(h.object, selector)) this.writeEvent(res, h.type, { kind: resource.kind, ...h.object });
      }
    }
    const watcher: Watcher = { res, resource, selector, path: url.pathname };
    this.watchers.add(watcher);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => { clearTimeout(timer); this.watchers.delete(watcher); });
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    this.write(res, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
    res.end();
  }

  private route(pathname: string): { resource: Resource; namespace?: string; name?: string } | undefined {
    for (const r of RESOURCES) {
      if (!pathname.startsWith(r.prefix + '/')) continue;
      const parts = pathname.slice(r.prefix.length + 1).split('/').map(decodeURIComponent);
      if (parts.length === 1 && parts[0] === r.plural) return { resource: r };
      if (parts.length === 2 && parts[0] === r.plural && !r.namespaced) return { resource: r, name: parts[1] };
      if (parts[0] === 'namespaces' && r.namespaced && parts[2] === r.plural) {
        if (parts.length === 3) return { resource: r, namespace: parts[1] };
        if (parts.length === 4) return { resource: r, namespace: parts[1], name: parts[3] };
      }
    }
    return undefined;
  }
}

function parseSelector(s: string | null): Array<[string, string]> {
  if (!s) return [];
  return s.split(',').map((term) => { const i = term.indexOf('='); return [term.slice(0, i), term.slice(i + 1)] as [string, string]; });
}

function matches(obj: Obj, selector: Array<[string, string]>): boolean {
  for (const [field, want] of selector) {
    let v: any = obj;
    for (const p of field.split('.')) v = v?.[p];
    if (String(v ?? '') !== want) return false;
  }
  return true;
}

// ---- Real-shaped objects (fields as a real API server returns them, including the bulky ones we drop) ----

export interface PodSpecInput {
  name: string; namespace: string; node: string; uid?: string;
  labels?: Record<string, string>; annotations?: Record<string, string>;
  owner?: { kind: string; name: string; apiVersion?: string };
  containers?: Array<{ name: string; id?: string }>;
  podIP?: string;
  hostNetwork?: boolean;
}

export function makePod(p: PodSpecInput): Obj {
  const containers = p.containers ?? [{ name: 'app', id: `containerd://${randomHex(64)}` }];
  const ownerApi = p.owner?.apiVersion ?? (p.owner?.kind === 'Job' ? 'batch/v1' : 'apps/v1');
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: {
      name: p.name, namespace: p.namespace, ...(p.uid ? { uid: p.uid } : {}),
      creationTimestamp: '2026-11-23T10:00:00Z', generateName: p.owner ? `${p.owner.name}-` : undefined,
      labels: p.labels ?? {}, annotations: p.annotations ?? {},
      ...(p.owner ? { ownerReferences: [{ apiVersion: ownerApi, kind: p.owner.kind, name: p.owner.name, uid: randomUUID(), controller: true, blockOwnerDeletion: true }] } : {}),
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-23T10:00:00Z',
        fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {} } },
          'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:resources': {} } } } } }],
    },
    spec: {
      nodeName: p.node, ...(p.hostNetwork ? { hostNetwork: true } : {}), restartPolicy: 'Always', serviceAccountName: 'default', dnsPolicy: 'ClusterFirst',
      containers: containers.map((c) => ({ name: c.name, image: `registry.example.com/${c.name}:1.2.3`, imagePullPolicy: 'IfNotPresent',
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] })),
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
    status: {
      phase: 'Running', hostIP: '10.0.0.1', podIP: p.podIP ?? '10.244.0.10', podIPs: [{ ip: p.podIP ?? '10.244.0.10' }],
      startTime: '2026-11-23T10:00:00Z', qosClass: 'Burstable',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-11-23T10:00:01Z' })),
      containerStatuses: containers.map((c) => ({ name: c.name, ready: true, restartCount: 0, started: true,
        image: `registry.example.com/${c.name}:1.2.3`, imageID: `registry.example.com/${c.name}@sha256:${randomHex(64)}`,
        ...(c.id ? { containerID: c.id } : {}), state: { running: { startedAt: '2026-11-23T10:00:01Z' } } })),
    },
  };
}

export function makeNode(name: string, labels: Record<string, string> = {}): Obj {
  return { kind: 'Node', apiVersion: 'v1', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels },
    annotations: { 'node.alpha.kubernetes.io/ttl': '0' } },
  spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }], capacity: { cpu: '2', pods: '110' } } };
}

export function makeNamespace(name: string, uid?: string): Obj {
  return { kind: 'Namespace', apiVersion: 'v1', metadata: { name, ...(uid ? { uid } : {}), labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] } };
}

export function makeService(name: string, namespace: string, clusterIP: string): Obj {
  return { kind: 'Service', apiVersion: 'v1', metadata: { name, namespace, labels: { app: name } },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ipFamilies: ['IPv4'], selector: { app: name },
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }], sessionAffinity: 'None' } };
}

/** `pods[i]` (optional) names the pod behind `ips[i]`, as the endpoint's targetRef does in a real slice. */
export function makeEndpointSlice(name: string, namespace: string, service: string, ips: string[], pods?: string[]): Obj {
  return { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', addressType: 'IPv4',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    endpoints: ips.map((ip, i) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-1',
      ...(pods?.[i] ? { targetRef: { kind: 'Pod', namespace, name: pods[i], uid: randomUUID() } } : {}) })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] };
}

/** A ReplicaSet or Job that is itself owned by `owner` (a Deployment or CronJob), or by nobody. */
export function makeOwned(kind: 'ReplicaSet' | 'Job', name: string, namespace: string, owner?: { kind: string; name: string }): Obj {
  return { kind, metadata: { name, namespace,
    ...(owner ? { ownerReferences: [{ apiVersion: owner.kind === 'CronJob' ? 'batch/v1' : 'apps/v1', kind: owner.kind, name: owner.name, uid: randomUUID(), controller: true }] } : {}) },
  spec: {}, status: {} };
}

function randomHex(n: number): string {
  let s = '';
  while (s.length < n) s += randomUUID().replace(/-/g, '');
  return s.slice(0, n);
}
