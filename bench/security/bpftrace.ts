// The peer the security benchmarks compare against: bpftrace attached to the same tracepoints the security collector
// chose, with the same cheap filter (the task's mount namespace is not the host's), counting only.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { SecurityCollector } from '../../src/collectors/security';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tracepoint each attached program of the collector sits on (tp_btf ones on their classic twin). */
export function tracepointsOf(collector: SecurityCollector): string[] {
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

/** Runs `fn` while bpftrace is attached to `tps`; a string says why bpftrace could not start. */
export async function withBpftrace<T>(tps: string[], fn: () => T | Promise<T>): Promise<T | string> {
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
    return await fn();
  } finally {
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000); // a bpftrace that ignores SIGINT still ends
    await new Promise((r) => child.once('exit', r));
    clearTimeout(killer);
  }
}
