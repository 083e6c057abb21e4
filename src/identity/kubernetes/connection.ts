// How Tapio reaches the Kubernetes API: finding credentials (service account in a pod, a kubeconfig outside one, or
// nothing: host mode), and the two HTTP calls everything else is built on, a JSON GET and a streaming watch.
// Credentials, TLS and auth plugins come from @kubernetes/client-node's KubeConfig. The HTTP itself is ours (a few
// lines over node:http) because the library's Watch ignores lines it cannot parse without counting them and cannot
// tell us how many bytes the API server sent, and both are things the agent must report.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubernetesLibrary } from './library';

export type ConnectionMode = 'in-cluster' | 'kubeconfig' | 'host';

export interface Discovery {
  mode: ConnectionMode;
  /** Where the credentials came from, or why there are none, in words for `tapio status`. */
  source: string;
  kubeConfig?: KubeConfig;
  /** Set when configuration exists but cannot be used (unreadable kubeconfig, missing token file). */
  error?: string;
}

export interface DiscoveryOptions {
  enabled: 'auto' | boolean;
  kubeconfig?: string;
  env?: NodeJS.ProcessEnv;
  /** Prefix for the service account directory (tests); the real one is /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountPrefix?: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Decides in-cluster, kubeconfig or host mode. Never throws: problems come back as `error` with host mode. */
export function discoverApiServer(opts: DiscoveryOptions): Discovery {
  const env = opts.env ?? process.env;
  if (opts.enabled === false) return { mode: 'host', source: 'Kubernetes metadata disabled in config (identity.kubernetes.enabled: false)' };

  const saDir = `${opts.serviceAccountPrefix ?? ''}${SERVICE_ACCOUNT_DIR}`;
  if (!opts.kubeconfig && env.KUBERNETES_SERVICE_HOST) {
    const tokenFile = path.join(saDir, 'token');
    if (!fs.existsSync(tokenFile)) {
      return notFound(opts, `KUBERNETES_SERVICE_HOST is set but ${tokenFile} does not exist: mount a service account token (automountServiceAccountToken: true)`);
    }
    const kc = newKubeConfig();
    withEnv(env, () => kc.loadFromCluster(opts.serviceAccountPrefix ?? ''));
    return { mode: 'in-cluster', source: `service account at ${saDir}, API server ${kc.getCurrentCluster()?.server}`, kubeConfig: kc };
  }

  const file = opts.kubeconfig ?? firstKubeconfigFromEnv(env) ?? defaultKubeconfig(env);
  if (file) {
    const kc = newKubeConfig();
    try {
      kc.loadFromFile(file);
    } catch (err) {
      return { mode: 'host', source: `kubeconfig ${file}`, error: `kubeconfig ${file} could not be read: ${message(err)}; fix or remove it, or set identity.kubernetes.enabled: false` };
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) return { mode: 'host', source: `kubeconfig ${file}`, error: `kubeconfig ${file} has no current context with a cluster; set current-context` };
    return { mode: 'kubeconfig', source: `kubeconfig ${file}, context ${kc.getCurrentContext()}, API server ${cluster.server}`, kubeConfig: kc };
  }
  return notFound(opts, 'no Kubernetes API found (not in a pod with a service account, no kubeconfig, $KUBECONFIG unset)');
}

/** Loaded only once there is an API server to talk to: the library's source stays in the V8 heap, which host mode
 *  should not carry (library.ts). */
function newKubeConfig(): KubeConfig {
  const { KubeConfig: KubeConfigClass } = kubernetesLibrary();
  return new KubeConfigClass();
}

function notFound(opts: DiscoveryOptions, why: string): Discovery {
  const source = `host mode: ${why}; pod and workload attributes are off`;
  // Asked for explicitly: say so as an error, but keep the agent running.
  return opts.enabled === true ? { mode: 'host', source, error: `identity.kubernetes.enabled is true but ${why}` } : { mode: 'host', source };
}

function firstKubeconfigFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const list = env.KUBECONFIG?.split(path.delimiter).filter(Boolean);
  return list && list.length > 0 ? list[0] : undefined;
}

function defaultKubeconfig(env: NodeJS.ProcessEnv): string | undefined {
  const home = env.HOME ?? os.homedir();
  const file = home ? path.join(home, '.kube', 'config') : '';
  return file && fs.existsSync(file) ? file : undefined;
}

/** loadFromCluster reads process.env; let tests hand in their own environment. */
function withEnv(env: NodeJS.ProcessEnv, fn: () => void): void {
  if (env === process.env) return fn();
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
  process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT ?? '443';
  try { fn(); } finally {
    if (saved.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST; else process.env.KUBERNETES_SERVICE_HOST = saved.host;
    if (saved.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT; else process.env.KUBERNETES_SERVICE_PORT = saved.port;
  }
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An HTTP error from the API server; `statusCode` is what client-node's ListWatch looks at (410 = relist). */
export class ApiError extends Error {
  constructor(msg: string, readonly statusCode?: number) { super(msg); }
}

export interface TransferStats {
  requests: number;
  watches: number;
  bytesReceived: number;
  /** Watch lines that were not JSON (or too long); counted here and in the drop counters by the caller. */
  badLines: number;
}

export interface WatchLineHandler {
  event(type: string, object: unknown): void;
  /** A line that is not a JSON watch event (or is too long); the caller counts it. */
  badLine(reason: string): void;
}

const MAX_BODY_BYTES = 256 * 1024 * 1024;
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** JSON GET and streaming watch against one API server. */
export class ApiClient {
  readonly stats: TransferStats = { requests: 0, watches: 0, bytesReceived: 0, badLines: 0 };
  private readonly server: string;

  constructor(private readonly kc: KubeConfig, private readonly requestTimeoutMs: number) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
  }

  get serverUrl(): string { return this.server; }

  private async open(pathAndQuery: string, timeoutMs: number | undefined): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
    const url = new URL(this.server + pathAndQuery);
    const opts: https.RequestOptions = { method: 'GET', headers: {} };
    // Auth header, CA, client cert. A service account token file is re-read by the library every 60 s (as client-go
    // does), which follows the kubelet's token rotation: old tokens stay valid well past that.
    await this.kc.applyToHTTPSOptions(opts);
    (opts.headers as Record<string, string>).Accept = 'application/json';
    const send = url.protocol === 'http:' ? http.request : https.request;
    return new Promise((resolve, reject) => {
      const req = send(url, opts, (res) => resolve({ req, res }));
      req.on('error', reject);
      if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new ApiError(`GET ${url.pathname}: no answer in ${timeoutMs} ms`)));
      req.end();
    });
  }

  /** GET a JSON document. Throws ApiError (with the HTTP status) on failure. */
  async getJson(pathAndQuery: string): Promise<unknown> {
    this.stats.requests++;
    const { req, res } = await this.open(pathAndQuery, this.requestTimeoutMs);
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve, reject) => {
      res.on('data', (c: Buffer) => {
        size += c.length;
        this.stats.bytesReceived += c.length;
        if (size > MAX_BODY_BYTES) req.destroy(new ApiError(`GET ${pathAndQuery}: answer larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', resolve);
      res.on('error', reject);
      req.on('error', reject);
    });
    const text = Buffer.concat(chunks).toString('utf8');
    if (res.statusCode !== 200) {
      throw new ApiError(`GET ${pathAndQuery}: HTTP ${res.statusCode} ${statusMessage(text) ?? res.statusMessage ?? ''}`.trim(), res.statusCode);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(`GET ${pathAndQuery}: answer is not JSON (${text.slice(0, 80)})`);
    }
  }

  /**
   * Start a watch; `onLine` gets each event's type and object, `done` is called once when the stream ends (null) or
   * fails (an error). Matches the shape client-node's ListWatch expects of its Watch. Aborting does not call `done`.
   */
  async watch(pathAndQuery: string, maxLifetimeMs: number, onLine: WatchLineHandler,
    done: (err: unknown) => void): Promise<AbortController> {
    const controller = new AbortController();
    this.stats.watches++;
    let finished = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      if (!controller.signal.aborted) done(err);
    };
    let deadline: NodeJS.Timeout | undefined;
    try {
      const { req, res } = await this.open(pathAndQuery, undefined);
      controller.signal.addEventListener('abort', () => { finished = true; clearTimeout(deadline); req.destroy(); });
      // The server ends a watch after timeoutSeconds; a stream that outlives that by far is a dead connection.
      deadline = setTimeout(() => { req.destroy(); finish(new ApiError(`watch ${pathAndQuery}: no end after ${maxLifetimeMs} ms, reconnecting`)); }, maxLifetimeMs);
      deadline.unref();
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (c: Buffer) => { this.stats.bytesReceived += c.length; if (text.length < 4096) text += c.toString('utf8'); });
        res.on('end', () => finish(new ApiError(`watch ${pathAndQuery}: HTTP ${res.statusCode} ${statusMessage(text) ?? ''}`.trim(), res.statusCode)));
        res.on('error', finish);
        return controller;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        this.stats.bytesReceived += Buffer.byteLength(chunk);
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim()) this.dispatch(line, onLine);
        }
        if (pending.length > MAX_LINE_BYTES) { this.stats.badLines++; pending = ''; onLine.badLine(`watch line longer than ${MAX_LINE_BYTES} bytes`); }
      });
      res.on('end', () => { if (pending.trim()) this.dispatch(pending, onLine); finish(null); });
      res.on('error', finish);
      res.on('aborted', () => finish(new ApiError(`watch ${pathAndQuery}: connection lost`)));
    } catch (err) {
      finish(err);
    }
    return controller;
  }

  private dispatch(line: string, onLine: WatchLineHandler): void {
    let event: unknown;
    try { event = JSON.parse(line); } catch {
      this.stats.badLines++;
      onLine.badLine(`watch line is not JSON: ${line.slice(0, 60)}`);
      return;
    }
    if (event === null || typeof event !== 'object' || typeof (event as { type?: unknown }).type !== 'string') {
      this.stats.badLines++;
      onLine.badLine('watch line is not an event (no type)');
      return;
    }
    const e = event as { type: string; object?: unknown };
    onLine.event(e.type, e.object);
  }
}

/** The `message` of a Kubernetes Status body, when the answer is one. */
function statusMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { kind?: string; message?: string };
    return body && body.kind === 'Status' && typeof body.message === 'string' ? body.message : undefined;
  } catch { return undefined; }
}
