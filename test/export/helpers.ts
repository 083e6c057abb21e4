// Shared bits of the export tests: events that look like the collectors' output, a config with test-friendly
// timings, a temp dir that is always removed, and a bounded wait.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportConfigSchema, type OtlpConfig } from '../../src/config/export';
import type { TapioEvent } from '../../src/core/event';

export function config(otlp: Record<string, unknown>): OtlpConfig {
  return exportConfigSchema.parse({
    otlp: {
      enabled: true,
      batch: { maxRecords: 100, delayMs: 20 },
      retry: { initialBackoffMs: 50, maxBackoffMs: 500 },
      metrics: { intervalMs: 100 },
      shutdownTimeoutMs: 5000,
      ...otlp,
    },
  }).otlp;
}

/** A pod-attributed event; `seq` is a unique, increasing number the tests use to check order and loss. */
export function event(seq: number, name = 'process.exec', extra: Record<string, string | number> = {}): TapioEvent {
  return {
    name,
    timeUnixNano: BigInt(Date.now()) * 1_000_000n + BigInt(seq % 1_000_000),
    cgroupId: 1234n,
    attributes: {
      'tapio.seq': seq,
      'process.pid': 4242,
      'container.id': 'c0ffee',
      'k8s.pod.name': 'web-5d9c-abcde',
      'k8s.namespace.name': 'shop',
      'k8s.deployment.name': 'web',
      'k8s.container.name': 'nginx',
      ...extra,
    },
  };
}

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'tapio-export-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Poll `check` until it is true; fail after `limitMs` (a bound on the test, not a timing assertion). */
export async function waitFor(what: string, check: () => boolean, limitMs = 15_000, pollMs = 20): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what} after ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function writeKey(dir: string, name = 'spool.key', bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7))): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes.toString('base64') + '\n', { mode: 0o600 });
  return file;
}
