// Tracepoint attach needs tracefs (or debugfs) mounted to look up tracepoint ids. Mount it when it is missing and
// we are allowed to, once per process.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

export const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export function tracefsMountPoint(): string | undefined {
  return TRACEFS_PATHS.find((p) => fs.existsSync(`${p}/events`));
}

let mountTried: { ok: boolean; error?: string } | undefined;

/** Returns where tracefs is, mounting it at /sys/kernel/tracing if needed; the error says why it could not. */
export function ensureTracefs(): { ok: boolean; path?: string; error?: string; mountedByUs?: boolean } {
  const existing = tracefsMountPoint();
  if (existing) return { ok: true, path: existing };
  if (!mountTried) {
    try {
      execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: ['ignore', 'ignore', 'pipe'] });
      mountTried = { ok: true };
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      mountTried = { ok: false, error: `mount -t tracefs nodev /sys/kernel/tracing failed: ${(err.stderr?.toString() || err.message).trim()}` };
    }
  }
  const after = tracefsMountPoint();
  if (after) return { ok: true, path: after, mountedByUs: mountTried.ok };
  return { ok: false, error: mountTried.error ?? 'tracefs is not mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing' };
}
