// Test helpers for the security-signals tests: the small C fixtures in ./fixtures compiled (static, so they run in
// the busybox test image too), copied into a running container through /proc/<pid>/root, and audit switched on for
// the duration of one test only (restored in `finally`; the agent itself never changes audit settings).
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SOURCES = path.join(__dirname, '..', '..', '..', 'test', 'collectors', 'fixtures');
let outDir: string | undefined;

/** Compiles fixtures/<name>.c once per process; returns the binary's path. */
export function fixture(name: 'seccomp_trigger' | 'landlock_deny' | 'audit_enable'): string {
  outDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-secfix-'));
  const out = path.join(outDir, name);
  if (!fs.existsSync(out)) {
    execFileSync('gcc', ['-static', '-O1', '-Wall', '-o', out, path.join(SOURCES, `${name}.c`)], { stdio: 'pipe' });
  }
  return out;
}

export function removeFixtures(): void {
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
  outDir = undefined;
}

/** Copies a binary into a running container's /tmp (via its root as the host sees it); returns the in-container path. */
export function copyIntoContainer(containerPid: number, file: string): string {
  const inside = `/tmp/${path.basename(file)}`;
  fs.copyFileSync(file, `/proc/${containerPid}/root${inside}`);
  fs.chmodSync(`/proc/${containerPid}/root${inside}`, 0o755);
  return inside;
}

/** Runs a command asynchronously (the agent's event loop keeps running), resolving with its exit and output. */
export function runAsync(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; signal: string | null; stdout: string; pid: number }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs }, (err, stdout) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout: String(stdout), pid: child.pid ?? 0 });
    });
  });
}

/** Sets audit's enabled flag; returns the previous value (to restore). */
export function setAuditEnabled(on: number): number {
  const out = execFileSync(fixture('audit_enable'), [String(on)], { encoding: 'utf8' });
  const m = /previous (\d+)/.exec(out);
  if (!m) throw new Error(`audit_enable said: ${out}`);
  return Number(m[1]);
}
