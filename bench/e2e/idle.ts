// The idle part of bench/agent-end-to-end.ts: `tapio run` (default collectors, --output none) with nothing of its own
// to do, after it settled (the first half minute after start has V8's post-startup collections and compilations in
// it), for a minute: CPU by thread group, wake-ups (voluntary context switches) and memory as an operator sees it.
// It still traces whatever else runs on the machine: read it on a quiet one (the load average is printed).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { cpuByThread, type Tracer } from './peers';
import { memoryOf, type MemoryRow } from './memory';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CORES = os.availableParallelism();

/** Voluntary context switches of every thread of a process: how often its threads went to sleep (and woke). */
function wakeups(pid: number): number {
  let n = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      n += Number(m?.[1] ?? 0);
    } catch { /* the thread ended */ }
  }
  return n;
}

export interface IdleRow {
  agent: string; seconds: number; nodePct: number;
  /** ms of CPU per second by thread group. */
  main: number; reader: number; other: number; wakeupsPerSec: number; mem?: MemoryRow; load: string;
}

export async function idleRow(make: () => Promise<Tracer>, settleS: number, seconds: number): Promise<IdleRow> {
  const t = await make();
  try {
    await sleep(settleS * 1000);
    const pid = t.pid!;
    const c0 = cpuByThread(pid);
    const w0 = wakeups(pid);
    await sleep(seconds * 1000);
    const c1 = cpuByThread(pid);
    const w1 = wakeups(pid);
    const ms = (k: 'main' | 'reader' | 'other') => ((c1[k] - c0[k]) * 1000) / seconds;
    const total = ms('main') + ms('reader') + ms('other');
    return { agent: t.name, seconds, nodePct: total / 10 / CORES, main: ms('main'), reader: ms('reader'), other: ms('other'),
      wakeupsPerSec: (w1 - w0) / seconds, mem: memoryOf(pid), load: os.loadavg().map((l) => l.toFixed(2)).join(' ') };
  } finally {
    await t.stop();
  }
}
