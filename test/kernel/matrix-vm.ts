// Running one command in a kernel-matrix VM from a test (scripts/kernel-matrix/run.sh), and the rule for a VM that
// cannot be had: a failure where the matrix is expected to run (CI=true or TAPIO_MATRIX=required), otherwise a skip
// with a banner nobody can miss. The same rules as test/kernel/matrix.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..', '..');
const RUN = path.join(ROOT, 'scripts', 'kernel-matrix', 'run.sh');
/** run.sh: no kernel package / qemu timed out / the VM gave no result. */
export const INFRA = new Set([2, 124, 125]);
const EXPECTED = process.env.TAPIO_MATRIX !== 'optional' && (process.env.CI === 'true' || process.env.TAPIO_MATRIX === 'required');

export function noVm(t: { skip(message: string): void }, kernel: string, why: string): void {
  const message = `no VM for ${kernel}: ${why}`;
  if (EXPECTED) assert.fail(`${message} (the kernel matrix is expected to run here: CI=true or TAPIO_MATRIX=required; TAPIO_MATRIX=optional allows skipping)`);
  process.stderr.write(`\n*** KERNEL MATRIX NOT RUN: ${message}\n\n`);
  t.skip(message);
}

/** Runs `args` in the VM of `kernel`; one more try when the VM itself failed (emulation under load can miss a deadline). */
export function inVm(kernel: string, args: string[], timeoutS: number): { code: number; out: string; err: string } {
  const once = () => spawnSync('bash', [RUN, kernel, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KM_TIMEOUT: String(timeoutS) }, timeout: (timeoutS + 120) * 1000 });
  let r = once();
  if (INFRA.has(r.status ?? 125)) r = once();
  return { code: r.status ?? 125, out: r.stdout ?? '', err: r.stderr ?? '' };
}
