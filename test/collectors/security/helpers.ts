// Shared by the security tests: compiles the trigger program (static, so it runs in busybox containers too), starts
// the real security collector with the kernel probe's verdicts (LSM programs are skipped up front where they cannot
// load), and finds events by detection and process.
// Two switches for the kernel matrix (scripts/kernel-matrix/security-paths.sh runs the host tests twice per kernel):
// TAPIO_SECURITY_FORCE_FALLBACK=1 marks the kinds preferred over tracepoints (lsm, fentry, kprobe) unavailable, the
// same loader option `tapio run` passes from the probe, so the tracepoint/tp_btf forms run on a kernel with BPF LSM;
// TAPIO_SECURITY_DUMP=FILE appends every event a test asserted on (one JSON line: detection, what, attributes) so
// the matrix can compare what each path reported; TAPIO_SECURITY_DETECTIONS=a,b,... switches every other detection off
// (fewer programs to verify: under emulation the verifier dominates); TAPIO_SECURITY_TRIGGER=FILE is a trigger built
// already (the VM's compiler is slow).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SecurityCollector } from '../../../src/collectors/security';
import { DETECTIONS } from '../../../src/collectors/security/detections';
import { probeKernel, unavailableKinds } from '../../../src/kernel/features';
import type { HookKind } from '../../../src/kernel/loader';
import type { TapioEvent } from '../../../src/core/event';
import { runCollector, type Running } from '../collect';

const SOURCE = path.join(__dirname, '..', '..', '..', '..', 'test', 'collectors', 'security', 'trigger.c');

/** Builds trigger.c into a fresh temp dir; returns the dir and the binary's path. */
export function buildTrigger(): { dir: string; bin: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-sec-'));
  const bin = path.join(dir, 'trigger');
  const built = process.env.TAPIO_SECURITY_TRIGGER;
  if (built) fs.copyFileSync(built, bin);
  else execFileSync('cc', ['-static', '-O1', '-o', bin, SOURCE], { stdio: 'pipe' });
  fs.chmodSync(bin, 0o755);
  return { dir, bin };
}

const only = process.env.TAPIO_SECURITY_DETECTIONS?.split(',').filter(Boolean);

/** Every detection on for every process: host triggers must be seen too (only the listed ones, when limited). */
export const ALL_SCOPES = { detections: Object.fromEntries(DETECTIONS.map((d) => [d.name, !only || only.includes(d.name) ? { scope: 'all' } : { enabled: false }])) };

/** Kinds the matrix's forced run turns off, so the tracepoint and tp_btf forms run where LSM and fentry would win. */
export const PREFERRED_KINDS: HookKind[] = ['lsm', 'fentry', 'fexit', 'kprobe', 'kretprobe'];
export const forcedFallback = process.env.TAPIO_SECURITY_FORCE_FALLBACK === '1';

/** The kinds this kernel cannot run (from the probe), plus the preferred kinds when the fallback is forced. */
export async function securityUnavailableKinds(): Promise<Partial<Record<HookKind, string>>> {
  const skip = unavailableKinds(await probeKernel());
  if (forcedFallback) for (const k of PREFERRED_KINDS) skip[k] ??= 'forced off (TAPIO_SECURITY_FORCE_FALLBACK=1)';
  return skip;
}

export async function startSecurity(security: unknown = {}): Promise<{ run: Running; collector: SecurityCollector }> {
  const collector = new SecurityCollector({ unavailableKinds: await securityUnavailableKinds() });
  const run = await runCollector(collector, { collectors: { security } });
  return { run, collector };
}

/** Events of `name` (without the `security.` prefix) matching `pred`. */
export function find(run: Running, name: string, pred: (e: TapioEvent) => boolean = () => true): TapioEvent[] {
  return run.events.filter((e) => e.name === `security.${name}` && pred(e));
}

export async function expectEvent(run: Running, name: string, pred: (e: TapioEvent) => boolean, what: string, timeoutMs = 5000): Promise<TapioEvent> {
  const ok = await run.waitFor(() => find(run, name, pred).length > 0, timeoutMs);
  if (!ok) {
    const seen = run.events.filter((e) => e.name.startsWith('security.')).slice(-15)
      .map((e) => `${e.name} pid=${e.attributes['process.pid']} exe=${e.attributes['process.executable.path']} path=${e.attributes['tapio.security.path'] ?? ''}`);
    throw new Error(`no security.${name} for ${what}; last events:\n${seen.join('\n')}`);
  }
  const e = find(run, name, pred)[0];
  const dump = process.env.TAPIO_SECURITY_DUMP;
  if (dump) fs.appendFileSync(dump, JSON.stringify({ detection: name, what, attributes: e.attributes }) + '\n');
  return e;
}

export const byExe = (suffix: string) => (e: TapioEvent) => String(e.attributes['process.executable.path'] ?? '').endsWith(suffix);
export const byPath = (p: string) => (e: TapioEvent) => e.attributes['tapio.security.path'] === p;
export const inCgroup = (id: bigint) => (e: TapioEvent) => e.cgroupId === id;
