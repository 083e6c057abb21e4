// Console output: `--output json` writes one JSON object per line (the same flat attribute names the OTLP exporter
// sends); `--output pretty` writes one aligned, readable line per event. Writes are batched per pipeline batch and
// respect stdout backpressure: when the terminal or pipe cannot keep up, lines wait in a bounded buffer and the
// excess is counted as dropped, never buffered without bound.
import type { Writable } from 'node:stream';
import type { DropCounters } from '../core/drops';
import { formatTime, toFlatRecord, type Attributes, type TapioEvent } from '../core/event';
import type { EventSink } from '../core/sink';

export type ConsoleFormat = 'json' | 'pretty';

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/** One JSON line; `resource` (the node and cluster every event shares) is printed after the event's own attributes. */
export function formatJson(e: TapioEvent, resource?: Attributes): string {
  const flat = toFlatRecord(e);
  return JSON.stringify(resource ? { ...flat, ...withoutKeysOf(resource, flat) } : flat, jsonReplacer);
}

function withoutKeysOf(resource: Attributes, flat: Record<string, unknown>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(resource)) if (!(k in flat)) out[k] = v;
  return out;
}

// Shown in the fixed columns, or too low-level for a line a person reads (the JSON output keeps everything).
const PRETTY_SKIP = new Set(['process.pid', 'process.executable.name', 'tapio.cgroup.id', 'thread.id', 'process.command',
  'tapio.process.comm', 'tapio.pid_ns.inode', 'tapio.mnt_ns.inode', 'k8s.node.name', 'network.transport']);

function addr(a: unknown, p: unknown): string {
  const s = String(a ?? '?');
  return s.includes(':') ? `[${s}]:${p}` : `${s}:${p}`;
}

// What the request summary shows (method, path, status, duration, peer); the rest follows as key=value.
const REQUEST_SHOWN = ['http.request.method', 'http.request.method_original', 'url.path', 'url.query', 'http.response.status_code', 'tapio.duration_ns',
  'rpc.system', 'rpc.service', 'rpc.method', 'rpc.grpc.status_code', 'network.peer.address', 'network.peer.port',
  'client.address', 'client.port', 'server.port', 'http.route', 'url.full'];

/** `server GET /users/42?page=2 200 3.2ms <- 10.0.0.7:51234` or `client pkg.Svc/Method grpc 0 1.1ms -> ...`. */
function requestSummary(a: TapioEvent['attributes']): string {
  const ms = typeof a['tapio.duration_ns'] === 'number' ? `${(a['tapio.duration_ns'] / 1e6).toFixed(1)}ms` : '?';
  const side = a['client.address'] !== undefined ? 'server' : 'client';
  const peer = `${side === 'server' ? '<-' : '->'} ${addr(a['network.peer.address'], a['network.peer.port'])}`;
  if (a['rpc.system'] === 'grpc') return `${side} ${a['rpc.service']}/${a['rpc.method']} grpc-status ${a['rpc.grpc.status_code']} ${ms} ${peer}`;
  const method = a['http.request.method'] === '_OTHER' ? a['http.request.method_original'] : a['http.request.method'];
  const query = a['url.query'] !== undefined ? `?${a['url.query']}` : '';
  return `${side} ${method} ${a['url.path'] ?? ''}${query} ${a['http.response.status_code']} ${ms} ${peer}`;
}

/** A readable line: time, event name, pid/comm, a summary, then the remaining attributes as key=value. */
export function formatPretty(e: TapioEvent): string {
  const a = e.attributes;
  const time = formatTime(e.timeUnixNano).slice(11, 26);
  const who = `${a['process.pid'] ?? '-'}/${a['process.executable.name'] ?? a['process.command'] ?? '?'}`;
  let summary = '';
  const shown = new Set<string>(PRETTY_SKIP);
  if (e.name.startsWith('network.')) {
    summary = `${addr(a['network.local.address'], a['network.local.port'])} -> ${addr(a['network.peer.address'], a['network.peer.port'])}`;
    ['network.local.address', 'network.local.port', 'network.peer.address', 'network.peer.port'].forEach((k) => shown.add(k));
  } else if (e.name === 'process.exec') {
    const args = a['process.command_args'];
    summary = Array.isArray(args) ? args.join(' ') : String(a['process.executable.path'] ?? '');
    shown.add('process.command_args');
  } else if (e.name === 'http.request' || e.name === 'grpc.request') {
    summary = requestSummary(a);
    REQUEST_SHOWN.forEach((k) => shown.add(k));
  } else if (e.name === 'process.exit') {
    summary = a['tapio.process.signal'] !== undefined ? `signal ${a['tapio.process.signal']}` : `code ${a['process.exit.code'] ?? '?'}`;
    shown.add('process.exit.code');
    shown.add('tapio.process.signal');
  }
  const rest = Object.entries(a).filter(([k, v]) => !shown.has(k) && v !== false)
    .map(([k, v]) => `${k.replace(/^tapio\./, '')}=${Array.isArray(v) ? JSON.stringify(v) : v}`).join(' ');
  return `${time} ${e.name.padEnd(26)} ${who.padEnd(24)} ${summary}${rest ? `  ${rest}` : ''}`;
}

/**
 * Events on a terminal or a pipe. The node and cluster are the resource (as in OTLP), not per-event attributes: the
 * JSON format adds them to every line so a line read alone still says where it happened.
 */
export class ConsoleSink implements EventSink {
  readonly name = 'console';
  private pending: string[] = [];
  private pendingBytes = 0;
  private blocked = false;
  written = 0;

  constructor(
    private readonly out: Writable,
    private readonly format: ConsoleFormat,
    private readonly drops: DropCounters,
    /** Most bytes waiting for a slow stdout before lines are dropped (and counted). */
    private readonly maxPendingBytes = 16 << 20,
    /** Resource attributes (k8s.node.name, k8s.cluster.*) for the JSON lines. */
    private readonly resource?: Attributes,
  ) {
    out.on('drain', () => this.flushPending());
    out.on('error', () => { /* a closed pipe (e.g. `| head`) must not crash the agent */ });
  }

  write(events: TapioEvent[]): void {
    if (events.length === 0) return;
    const fmt = this.format === 'json' ? (e: TapioEvent) => formatJson(e, this.resource) : formatPretty;
    let chunk = '';
    let kept = 0;
    for (const e of events) {
      const line = fmt(e) + '\n';
      if (this.blocked && this.pendingBytes + line.length > this.maxPendingBytes) {
        this.drops.count('export', e.name, 'console_backpressure');
        continue;
      }
      chunk += line;
      kept++;
    }
    if (chunk === '') return;
    this.written += kept;
    if (this.blocked) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      return;
    }
    if (!this.out.write(chunk)) this.blocked = true;
  }

  private flushPending(): void {
    this.blocked = false;
    while (this.pending.length && !this.blocked) {
      const chunk = this.pending.shift()!;
      this.pendingBytes -= chunk.length;
      if (!this.out.write(chunk)) this.blocked = true;
    }
  }

  /** Resolves when everything accepted has been handed to the stream. */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000 && (this.blocked || this.pending.length); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
