// How much the security collector slows syscall-heavy work (needs root): a small C build (make + gcc on generated
// files: exec, header-path opens, stat, mmap) and a file walk (find over /usr and /etc: openat on every directory,
// newfstatat, getdents), each timed with no agent, with the security collector at its defaults, and with bpftrace
// attached to the same tracepoints with the same filter. The three conditions are interleaved round by round (the
// order rotates), so load from the neighbours falls on all of them; the table shows the median and the best round of
// each, ratios against no agent, the load average, and where Tapio's programs spent their time (kernel run stats).
// Goal (issue 10): under 5% slower. Never fails on a number.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SecurityCollector } from '../src/collectors/security';
import { probeKernel, unavailableKinds } from '../src/kernel/features';
import { enableRunStats, programRunInfo } from '../src/kernel/run-stats';
import { runCollector, type Running } from '../test/collectors/collect';
import { tracepointsOf, withBpftrace } from './security/bpftrace';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const FILES = 16;

/** A project of FILES C files that include the usual headers, and a Makefile that builds them one at a time. */
function makeProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-buildbench-'));
  const objs: string[] = [];
  for (let i = 0; i < FILES; i++) {
    fs.writeFileSync(path.join(dir, `f${i}.c`), `#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n`
      + `#include <sys/stat.h>\n#include <unistd.h>\n`
      + `int f${i}(int n) { char b[64]; int s = 0; for (int k = 0; k < n; k++) { snprintf(b, sizeof b, "%d", k * ${i + 1}); s += (int)strlen(b) + (int)sqrt(k); } return s; }\n`);
    objs.push(`f${i}.o`);
  }
  fs.writeFileSync(path.join(dir, 'main.c'), `${objs.map((_, i) => `int f${i}(int);`).join('\n')}\nint main(void) { return (${objs.map((_, i) => `f${i}(3)`).join(' + ')}) == 0; }\n`);
  fs.writeFileSync(path.join(dir, 'Makefile'), `prog: main.o ${objs.join(' ')}\n\tcc -o $@ $^ -lm\n%.o: %.c\n\tcc -O1 -c $< -o $@\n`);
  return dir;
}

/** Shell commands; each runs under bash, whose `times` reports the CPU its children used (user + system). */
const WORKLOADS: Record<string, (project: string) => string> = {
  build: (project) => `rm -f ${project}/*.o ${project}/prog; make -s -j1 -C ${project} >/dev/null 2>&1`,
  walk: () => 'find /usr /etc -xdev > /dev/null 2>&1',
};

/** Wall and CPU milliseconds of one run of `cmd`. CPU time is what the work itself cost; wall time on a shared
 *  machine also holds the neighbours' load. */
function timeRun(cmd: string): { wall: number; cpu: number } {
  const t = process.hrtime.bigint();
  const out = execFileSync('bash', ['-c', `${cmd}; times`], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t) / 1e6;
  const children = out.trim().split('\n').at(-1)!.match(/(\d+)m([\d.]+)s/g)!;
  const cpu = children.reduce((sum, x) => { const m = /(\d+)m([\d.]+)s/.exec(x)!; return sum + (Number(m[1]) * 60 + Number(m[2])) * 1000; }, 0);
  return { wall, cpu };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

type Condition = 'none' | 'tapio' | 'bpftrace';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) { console.log('security-build-cost: needs root; skipped'); return; }
  const project = makeProject();
  const skip = unavailableKinds(await probeKernel());
  // The tracepoints the defaults attach, for bpftrace.
  const probe = new SecurityCollector({ unavailableKinds: skip });
  const probeRun = await runCollector(probe, {});
  const tps = tracepointsOf(probe);
  await probeRun.stop();

  const times: Record<Condition, Record<string, number[]>> = { none: {}, tapio: {}, bpftrace: {} };
  const cpu: Record<Condition, Record<string, number[]>> = { none: {}, tapio: {}, bpftrace: {} };
  const prog = new Map<string, { runs: number; ns: number }>();
  let bpftraceError = '';
  const stats = enableRunStats();
  const loads: number[] = [];
  const measureAll = (c: Condition) => {
    for (const [w, cmd] of Object.entries(WORKLOADS)) {
      const r = timeRun(cmd(project));
      (times[c][w] ??= []).push(r.wall);
      (cpu[c][w] ??= []).push(r.cpu);
    }
  };
  process.stderr.write('warming up\n');
  for (const w of Object.values(WORKLOADS)) timeRun(w(project)); // warm the page cache and the compiler once
  try {
    const order: Condition[] = ['none', 'tapio', 'bpftrace'];
    for (let round = 0; round < ROUNDS; round++) {
      loads.push(os.loadavg()[0]);
      process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
      for (let k = 0; k < order.length; k++) {
        const c = order[(round + k) % order.length];
        process.stderr.write(`  ${c}\n`);
        if (c === 'none') measureAll(c);
        if (c === 'tapio') {
          const col = new SecurityCollector({ unavailableKinds: skip });
          const run: Running = await runCollector(col, {});
          const before = runInfo(col);
          measureAll(c);
          for (const [p, v] of runInfo(col)) {
            const b = before.get(p) ?? { runs: 0, ns: 0 };
            const acc = prog.get(p) ?? { runs: 0, ns: 0 };
            prog.set(p, { runs: acc.runs + v.runs - b.runs, ns: acc.ns + v.ns - b.ns });
          }
          await run.stop();
        }
        if (c === 'bpftrace') {
          const r = await withBpftrace(tps, () => measureAll(c));
          if (typeof r === 'string') bpftraceError = r;
        }
      }
    }
  } finally {
    stats.close();
    fs.rmSync(project, { recursive: true, force: true });
  }

  console.log(`security collector defaults: ${tps.length} tracepoints; bpftrace on the same with the same mount-namespace filter; ${ROUNDS} interleaved rounds`);
  console.log(`load average (1 min) during the rounds: ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${os.cpus().length} CPUs (shared machine: absolute times are pessimistic)`);
  for (const [what, table] of [['wall time', times], ['CPU time (user + system of the workload)', cpu]] as const) {
    console.log(`${what}: median ms (best)`);
    console.log('workload  none                 tapio                ratio    bpftrace             ratio');
    for (const w of Object.keys(WORKLOADS)) {
      const cell = (c: Condition) => table[c][w]?.length ? `${median(table[c][w]).toFixed(0).padStart(6)} (${Math.min(...table[c][w]).toFixed(0).padStart(6)})      ` : '        n/a         ';
      const ratio = (c: Condition) => table[c][w]?.length ? `${(median(table[c][w]) / median(table.none[w])).toFixed(3)}x` : 'n/a';
      console.log(`${w.padEnd(9)} ${cell('none')} ${cell('tapio')} ${ratio('tapio').padEnd(7)}  ${cell('bpftrace')} ${ratio('bpftrace')}`);
    }
  }
  if (bpftraceError) console.log(bpftraceError);
  const total = [...prog.values()].reduce((s, v) => s + v.ns, 0);
  const tapioMs = Object.keys(WORKLOADS).reduce((s, w) => s + (times.tapio[w] ?? []).reduce((a, b) => a + b, 0), 0);
  console.log(`Tapio's programs ran ${(total / 1e6).toFixed(1)} ms in the kernel (for every process on the machine) over ${tapioMs.toFixed(0)} ms of workload wall time (${(100 * total / 1e6 / tapioMs).toFixed(2)}%); top programs:`);
  for (const [p, v] of [...prog].sort((a, b) => b[1].ns - a[1].ns).slice(0, 8)) {
    console.log(`  ${p.padEnd(22)} ${String(v.runs).padStart(9)} runs  ${(v.ns / Math.max(1, v.runs)).toFixed(0).padStart(6)} ns/run  ${(v.ns / 1e6).toFixed(1).padStart(7)} ms`);
  }
}

/** Run count and time per attached program of the collector, from the kernel's statistics. */
function runInfo(col: SecurityCollector): Map<string, { runs: number; ns: number }> {
  const out = new Map<string, { runs: number; ns: number }>();
  for (const obj of col.kernelObjects?.() ?? []) {
    for (const p of obj.attachedPrograms()) {
      const i = programRunInfo(p.fd);
      out.set(p.program, { runs: i.runCount, ns: i.runTimeNs });
    }
  }
  return out;
}

main().catch((e) => { console.error(e); process.exit(1); });
