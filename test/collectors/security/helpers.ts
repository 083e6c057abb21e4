// Shared by the security tests: compiles the trigger program (static, so it runs in busybox containers too), starts
// the real security collector with the kernel probe's verdicts (LSM programs are skipped up front where they cannot
// load), and finds events by detection and process.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SecurityCollector } from '../../../src/collectors/security';
import { DETECTIONS } from '../../../src/collectors/security/detections';
import { probeKernel, unavailableKinds } from '../../../src/kernel/features';
import type { TapioEvent } from '../../../src/core/event';
import { runCollector, type Running } from '../collect';

const SOURCE = path.join(__dirname, '..', '..', '..', '..', 'test', 'collectors', 'security', 'trigger.c');

/** Builds trigger.c into a fresh temp dir; returns the dir and the binary's path. */
export function buildTrigger(): { dir: string; bin: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-sec-'));
  const bin = path.join(dir, 'trigger');
  execFileSync('cc', ['-static', '-O1', '-o', bin, SOURCE], { stdio: 'pipe' });
  return { dir, bin };
}

/** Every detection on for every process: host triggers must be seen too. */
export const ALL_SCOPES = { detections: Object.fromEntries(DETECTIONS.map((d) => [d.name, { scope: 'all' }])) };

export async function startSecurity(security: unknown = {}): Promise<{ run: Running; collector: SecurityCollector }> {
  const features = await probeKernel();
  const collector = new SecurityCollector({ unavailableKinds: unavailableKinds(features) });
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
  return find(run, name, pred)[0];
}

export const byExe = (suffix: string) => (e: TapioEvent) => String(e.attributes['process.executable.path'] ?? '').endsWith(suffix);
export const byPath = (p: string) => (e: TapioEvent) => e.attributes['tapio.security.path'] === p;
export const inCgroup = (id: bigint) => (e: TapioEvent) => e.cgroupId === id;
