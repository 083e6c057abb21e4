// What the security collector adds to each syscall (needs root): open+close, stat, getppid, connect and exec timed
// by a small C loop (bench/security/syscall-loop.c, best of 5 rounds), side by side in one run with no agent, with
// the security collector (defaults: host processes leave at the scope check; and every detection scoped to all
// processes: opens resolve their path), and with bpftrace attached to the same tracepoints with the same filter (the
// task's mount namespace is not the host's). Prints a table of ns per operation and ratios; never fails on a number.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SecurityCollector } from '../src/collectors/security';
import { DETECTIONS } from '../src/collectors/security/detections';
import { probeKernel, unavailableKinds } from '../src/kernel/features';
import { runCollector } from '../test/collectors/collect';
import { tracepointsOf, withBpftrace } from './security/bpftrace';

const OPS: [string, number][] = [['open', 50_000], ['stat', 50_000], ['getppid', 300_000], ['connect', 30_000], ['exec', 400]];

function buildLoop(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-secbench-'));
  const bin = path.join(dir, 'loop');
  execFileSync('cc', ['-O2', '-o', bin, path.join(__dirname, '..', '..', 'bench', 'security', 'syscall-loop.c')]);
  return bin;
}

/** Best of two passes (each itself best of 5 rounds): other work on a shared 2-core box only ever adds time. */
function measure(bin: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (let pass = 0; pass < 2; pass++) {
    for (const [op, n] of OPS) {
      const v = Number(execFileSync(bin, [op, String(n)], { encoding: 'utf8' }).trim());
      out[op] = Math.min(out[op] ?? Infinity, v);
    }
  }
  return out;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('security-syscall-cost: needs root; skipped'); return; }
  const bin = buildLoop();
  const features = await probeKernel();
  const base = measure(bin);

  const c1 = new SecurityCollector({ unavailableKinds: unavailableKinds(features) });
  const r1 = await runCollector(c1, {});
  const tapio = measure(bin);
  const tps = tracepointsOf(c1);
  await r1.stop();

  const all = { detections: Object.fromEntries(DETECTIONS.map((d) => [d.name, { scope: 'all' }])) };
  const c2 = new SecurityCollector({ unavailableKinds: unavailableKinds(features) });
  const r2 = await runCollector(c2, { collectors: { security: all } });
  const tapioAll = measure(bin);
  await r2.stop();

  const bt = await withBpftrace(tps, () => measure(bin));
  const base2 = measure(bin); // the baseline again, to show the run's own noise
  for (const [op] of OPS) base[op] = Math.min(base[op], base2[op]); // ratios against the better of the two

  console.log(`security collector: ${tps.length} tracepoints; bpftrace on the same ${tps.length} with the same mount-namespace filter`);
  console.log('op        none(ns)  none again  tapio default      tapio all scopes   bpftrace');
  const cell = (v: number, b: number) => `${v.toFixed(0).padStart(7)} (${(v / b).toFixed(2)}x)`;
  for (const [op] of OPS) {
    const b = base[op];
    const btCell = typeof bt === 'string' ? 'n/a' : cell(bt[op], b);
    console.log(`${op.padEnd(9)} ${b.toFixed(0).padStart(8)}  ${base2[op].toFixed(0).padStart(10)}  ${cell(tapio[op], b)}  ${cell(tapioAll[op], b)}  ${btCell}`);
  }
  if (typeof bt === 'string') console.log(bt);
}

main().catch((e) => { console.error(e); process.exit(1); });
