// Shared by the tests that boot other kernels under qemu (test/kernel/matrix.test.ts: x86 kernels;
// test/kernel/arm64.test.ts: Debian's arm64 kernel). A VM that cannot be had (no kernel package, qemu cannot be
// installed, no result from the VM) skips with the reason on a developer's machine, with a banner on stderr; where
// the matrix is expected to run (CI=true, or TAPIO_MATRIX=required) it fails instead, so a green run never means
// "not tested". TAPIO_MATRIX=optional turns that off.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** The checkout's root (tests run from dist/test/...). */
export const ROOT = path.join(__dirname, '..', '..', '..');
const RUN = path.join(ROOT, 'scripts', 'kernel-matrix', 'run.sh');

/** Exit codes of scripts/kernel-matrix/run.sh that mean "no VM", not a test result: no kernel package / qemu timed
 *  out / the VM gave no result. */
export const VM_INFRA_CODES = new Set([2, 124, 125]);

export const VM_EXPECTED = process.env.TAPIO_MATRIX !== 'optional'
  && (process.env.CI === 'true' || process.env.TAPIO_MATRIX === 'required');

/** The VM could not be had: a failure where the matrix is expected, otherwise a skip nobody can miss. */
export function noVm(t: { skip(message: string): void }, kernel: string, why: string): void {
  const message = `no VM for ${kernel}: ${why}`;
  if (VM_EXPECTED) assert.fail(`${message} (the kernel matrix is expected to run here: CI=true or TAPIO_MATRIX=required; TAPIO_MATRIX=optional allows skipping)`);
  process.stderr.write(`\n*** KERNEL MATRIX NOT RUN: ${message}\n\n`);
  t.skip(message);
}

/** Runs `args` in the VM of `kernel` (scripts/kernel-matrix/run.sh); one more try when the VM itself failed
 *  (emulation under load can miss a deadline). */
export function inVm(kernel: string, args: string[], timeoutS: number): { code: number; out: string; err: string } {
  const once = () => spawnSync('bash', [RUN, kernel, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KM_TIMEOUT: String(timeoutS) }, timeout: (timeoutS + 120) * 1000 });
  let r = once();
  if (VM_INFRA_CODES.has(r.status ?? 125)) r = once();
  return { code: r.status ?? 125, out: r.stdout ?? '', err: r.stderr ?? '' };
}
