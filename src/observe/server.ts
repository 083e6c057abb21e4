// The observe server: /metrics (Prometheus), /healthz (the process is alive and its event loop turns), /readyz
// (programs attached and every readiness input satisfied; 503 with the reasons otherwise) and /status (the whole
// state as JSON, read by `tapio status`). Loopback by default; a unix socket path works too.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { Registry } from 'prom-client';
import { ProcessResources, type ResourceSample } from '../core/resources';
import { KernelStats } from './kernel-stats';
import { createMetrics } from './metrics';
import { buildStatus, type ObserveStatus } from './snapshot';
import type { ObserveSources } from './sources';

export interface ObserveServerOptions {
  /** host:port, [v6]:port (port 0: any free port) or an absolute unix socket path. */
  address: string;
  sources: ObserveSources;
  /** Switch on the kernel's per-program run statistics while the server runs (default true). */
  programRunStats?: boolean;
  mapFillIntervalMs?: number;
  /** How often the server measures CPU/RSS itself when no shared ProcessResources is given, ms. */
  resourceIntervalMs?: number;
  log?: (message: string) => void;
}

export interface ObserveServer {
  /** Base URL, e.g. http://127.0.0.1:9464 (unix sockets: unix:/path). */
  url: string;
  registry: Registry;
  status(): ObserveStatus;
  close(): Promise<void>;
}

export function parseListenAddress(address: string): { path: string } | { host: string; port: number } {
  if (address.startsWith('/')) return { path: address };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`observe address '${address}' must be host:port, [ipv6]:port or an absolute unix socket path`);
  return { host: m[1] ?? m[2], port };
}

export async function startObserveServer(o: ObserveServerOptions): Promise<ObserveServer> {
  const listen = parseListenAddress(o.address);
  const kernel = new KernelStats(o.mapFillIntervalMs);
  if (o.programRunStats !== false && !kernel.enableRunStats()) {
    o.log?.(`observe: per-program run statistics unavailable: ${kernel.runStats.error}`);
  }
  // CPU is a rate: measured over fixed windows, not per request, so a scrape never changes what it reports.
  const shared = o.sources.resources;
  const own = shared ? undefined : new ProcessResources();
  let sample: ResourceSample = own?.sample() ?? shared!.latest();
  const resourceTimer = own ? setInterval(() => { sample = own.sample(); }, o.resourceIntervalMs ?? 5000) : undefined;
  resourceTimer?.unref();
  const latest = () => (shared ? shared.latest() : sample);

  // One status document per scrape: every metric's collect() reads the same snapshot.
  let cached: { at: number; status: ObserveStatus } | undefined;
  const status = (): ObserveStatus => {
    const now = Date.now();
    if (!cached || now - cached.at > 250) cached = { at: now, status: buildStatus(o.sources, kernel, latest()) };
    return cached.status;
  };
  const registry = new Registry();
  createMetrics(registry, status);

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error: ${(e as Error).message}\n`);
    });
  });
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://observe');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (url.pathname) {
      case '/metrics': {
        cached = undefined; // fresh numbers for every scrape
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(body);
        return;
      }
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const r = status().ready;
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      case '/status':
        cached = undefined;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status(), null, 2) + '\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz, /status\n');
    }
  }

  if ('path' in listen) {
    try { fs.unlinkSync(listen.path); } catch { /* not there */ }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('path' in listen) server.listen(listen.path, resolve);
    else server.listen(listen.port, listen.host, resolve);
  }).catch((e) => {
    kernel.close();
    if (resourceTimer) clearInterval(resourceTimer);
    throw new Error(`observe: cannot listen on ${o.address}: ${(e as Error).message}`);
  });
  server.on('error', (e) => o.log?.(`observe: server error: ${e.message}`));
  const addr = server.address();
  const url = typeof addr === 'string' ? `unix:${addr}`
    : `http://${addr!.family === 'IPv6' ? `[${addr!.address}]` : addr!.address}:${addr!.port}`;
  return {
    url,
    registry,
    status,
    async close() {
      if (resourceTimer) clearInterval(resourceTimer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      kernel.close();
      if ('path' in listen) {
        try { fs.unlinkSync(listen.path); } catch { /* gone */ }
      }
    },
  };
}
