// Watching the config file for changes (`tapio run --config FILE`). A Kubernetes ConfigMap volume changes through a
// symlink swap (FILE -> ..data/FILE, ..data -> ..2026_xx; a new timestamped dir, then ..data is renamed over), so the
// file's own inode never changes and watching it would miss the update: we watch its directory instead, debounce the
// burst of events a swap makes, re-read through the symlinks, and compare a hash of the content so a touch or an
// unrelated file in the directory is a no-op. What to do with a new config is the agent's business (src/agent/reload.ts).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseConfig } from './load';
import type { TapioConfig } from './schema';

/** One outcome of re-reading the file: a new valid config, the same content again, or why it was refused. */
export type ConfigChange =
  | { kind: 'config'; config: TapioConfig; hash: string; notes: string[] }
  | { kind: 'unchanged'; hash: string }
  | { kind: 'error'; error: string };

/** The last reload, as /status shows it and `tapio status` prints it. */
export interface ConfigReloadStatus {
  file: string;
  /** sha256 of the content in force (hex, first 16 characters). */
  hash: string;
  counts: { applied: number; rejected: number; unchanged: number };
  last?: {
    at: string;
    result: 'applied' | 'rejected' | 'unchanged';
    /** One line: why the file was refused (the old config stays in force). */
    error?: string;
    /** Keys that changed and took effect. */
    applied?: string[];
  };
  /** Keys that changed in the file but only take effect after a restart (the old value is still in use). */
  needsRestart: string[];
}

export const hashConfigText = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** A ConfigError's lines as one line (the log and /status want one). */
export function oneLine(message: string): string {
  return message.split('\n').map((l) => l.trim()).filter(Boolean).join('; ');
}

export interface ConfigWatcherOptions {
  file: string;
  /** Hash of the content already in force (so the first event after start is not a spurious reload). */
  initialHash: string;
  onChange: (change: ConfigChange) => void;
  /** Quiet time after the last directory event before the file is read, ms (a swap is several events). */
  debounceMs?: number;
  /** Also re-check this often, ms (0: never): a safety net for file systems whose events do not arrive. */
  pollMs?: number;
  log?: (message: string) => void;
}

export class ConfigWatcher {
  private watcher?: fs.FSWatcher;
  private debounce?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  private hash: string;
  private closed = false;

  constructor(private readonly o: ConfigWatcherOptions) {
    this.hash = o.initialHash;
  }

  start(): void {
    const dir = path.dirname(path.resolve(this.o.file));
    // The directory, not the file: the swap replaces the symlink target, and editors replace files by rename.
    this.watcher = fs.watch(dir, { persistent: false }, () => this.schedule());
    this.watcher.on('error', (e) => this.o.log?.(`config watch on ${dir} failed: ${e.message}; changes are only seen by polling`));
    if (this.o.pollMs) {
      this.poll = setInterval(() => this.check(), this.o.pollMs);
      this.poll.unref();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check(), this.o.debounceMs ?? 250);
    this.debounce.unref();
  }

  /** Re-reads the file now; emits what it found. Public so a signal (SIGHUP) can ask for it too. */
  check(): void {
    if (this.closed) return;
    this.o.onChange(this.read());
  }

  private read(): ConfigChange {
    let text: string;
    try {
      text = fs.readFileSync(this.o.file, 'utf8'); // follows FILE -> ..data/FILE -> ..2026_xx/FILE
    } catch (e) {
      return { kind: 'error', error: `cannot read config file ${this.o.file}: ${(e as Error).message}` };
    }
    const hash = hashConfigText(text);
    if (hash === this.hash) return { kind: 'unchanged', hash };
    const notes: string[] = [];
    try {
      const config = parseConfig(text, this.o.file, (m) => notes.push(m));
      this.hash = hash; // only a config that is taken becomes the one to compare against
      return { kind: 'config', config, hash, notes };
    } catch (e) {
      return { kind: 'error', error: oneLine(e instanceof ConfigError ? e.message : String(e)) };
    }
  }

  close(): void {
    this.closed = true;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.poll) clearInterval(this.poll);
    this.watcher?.close();
  }
}

/** Leaf keys (dotted paths) whose values differ between two configs; records and arrays compare as a whole. */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b) && !isRecordLike(prefix)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return stable(a) === stable(b) ? [] : [prefix || '(top level)'];
}

/** JSON with object keys sorted, so a map whose entries were only reordered is not a change. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'object' && x !== null && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) : x));
}

/** Maps keyed by user data (event kinds, header names) are one setting each: report `limits.sampling`, not each kind. */
const RECORD_KEYS = /(^|\.)(sampling|rateLimits|severity|headers|resourceAttributes)$/;
function isRecordLike(prefix: string): boolean {
  return RECORD_KEYS.test(prefix);
}
