// What the security collector adds to each syscall (needs root): open+close, stat, getppid, connect and exec timed
// by a small C loop (bench/security/syscall-loop.c, best of 5 rounds), side by side in one run with no agent, with
// the security collector (defaults: host processes leave at the scope check; and every detection scoped to all
// processes: opens resolve their path), and with bpftrace attached to the same tracepoints with the same filter (the
// task's mount namespace is not the host's). Prints a table of ns per operation and ratios; never fails on a number.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SecurityCollector } from '../src/collectors/security';
import { DETECTIONS } from '../src/collectors/security/detections';
import { probeKernel, unavailableKinds } from '../src/kernel/features';
import { runCollector } from '../test/collectors/collect';

const OPS: [string, number][] = [['open', 50_000], ['stat', 50_000], ['getppid', 300_000], ['connect', 30_000], ['exec', 400]];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** The tracepoint each attached program of the collector sits on (tp_btf ones on their classic twin). */
function tracepointsOf(collector: SecurityCollector): string[] {
  const tps: string[] = [];
  for (const h of collector.status().hooks) {
    const p = h.chosen?.program;
    if (!p) continue;
    const m = /^(.*)_(enter|exit)$/.exec(p);
    if (m) tps.push(`tracepoint:syscalls:sys_${m[2]}_${m[1]}`);
    else if (p.startsWith('exec')) tps.push('tracepoint:sched:sched_process_exec');
    else if (p.startsWith('fork')) tps.push('tracepoint:sched:sched_process_fork');
  }
  return tps;
}

async function withBpftrace(tps: string[], bin: string): Promise<Record<string, number> | string> {
  const hostMnt = Number(/\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/mnt'))![1]);
  const script = `${tps.join(',\n')} /curtask->nsproxy->mnt_ns->ns.inum != ${hostMnt}/ { @n = count(); }`;
  const child: ChildProcess = spawn('bpftrace', ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += String(d); });
  child.stderr!.on('data', (d) => { out += String(d); });
  const deadline = Date.now() + 30_000;
  while (!/Attaching \d+ probe/.test(out) && child.exitCode === null && Date.now() < deadline) await sleep(100);
  if (child.exitCode !== null || !/Attaching/.test(out)) { child.kill('SIGKILL'); return `bpftrace did not start: ${out.slice(0, 300)}`; }
  await sleep(1500); // attaching many probes takes a moment after the banner
  try {
    return measure(bin);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
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

  const bt = await withBpftrace(tps, bin);
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
