// One pipeline case (bench/e2e/pipeline.ts) of any checkout, alone in a process of its own: `node pipeline-child.js
// <checkout root>`; the case arrives as a message, the row goes back. So each case's memory is its own (not what
// earlier cases left in the bench's process), and another checkout's agent (BENCH_BASELINE) runs the very same case
// with its own code. The process runs with the image's Node flags (--max-semi-space-size=4, scripts/image/Dockerfile).
// Optionally the receiver is stopped (SIGSTOP) for a while during the load: a collector that stops answering, so
// the export backlogs. Memory is sampled every 200 ms; the row carries the sample with the highest RSS.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CaseOptions, PipelineRow } from './pipeline';
import { memoryOf, type MemoryRow } from './memory';

export interface ChildCase {
  protocol: 'grpc' | 'http/protobuf';
  rate: number;
  seconds: number;
  opts: CaseOptions;
  /** Stop the receiver `stallAtMs` after the case starts (the agent loads first), for `stallMs`. */
  stallAtMs?: number;
  stallMs?: number;
}

export interface PeakMemory {
  mem?: MemoryRow;
  /** V8's heap in use and the bytes of live ArrayBuffers (Buffers: encoded batches), MiB, at that sample. */
  v8HeapMiB: number;
  buffersMiB: number;
}

/** The receiver child of this process: the bench's receiver is `export-throughput.js --receiver`. */
function receiverPid(): number | undefined {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('--receiver')) return Number(d);
    } catch { /* gone */ }
  }
  return undefined;
}

async function run(root: string, c: ChildCase): Promise<{ row: PipelineRow; peak: PeakMemory; stalled: boolean }> {
  const { pipelineCase } = require(path.join(root, 'dist', 'bench', 'e2e', 'pipeline.js')) as typeof import('./pipeline');
  const peak: PeakMemory = { v8HeapMiB: 0, buffersMiB: 0 };
  const sampler = setInterval(() => {
    const m = memoryOf('self');
    if (!m || m.rssMiB <= (peak.mem?.rssMiB ?? 0)) return;
    const u = process.memoryUsage();
    Object.assign(peak, { mem: m, v8HeapMiB: u.heapUsed / 2 ** 20, buffersMiB: u.arrayBuffers / 2 ** 20 });
  }, 200);
  let stalled = false;
  const timers: NodeJS.Timeout[] = [];
  if (c.stallMs) {
    let pid: number | undefined;
    timers.push(setTimeout(() => {
      pid = receiverPid();
      if (pid) { process.kill(pid, 'SIGSTOP'); stalled = true; }
    }, c.stallAtMs ?? 2000));
    timers.push(setTimeout(() => { if (pid) process.kill(pid, 'SIGCONT'); }, (c.stallAtMs ?? 2000) + c.stallMs));
  }
  try {
    const row = await pipelineCase(c.protocol, c.rate, c.seconds, c.opts);
    return { row, peak, stalled };
  } finally {
    clearInterval(sampler);
    for (const t of timers) clearTimeout(t);
  }
}

if (require.main === module) {
  const root = process.argv[2]!;
  process.once('message', (c: ChildCase) => {
    run(root, c).then((r) => process.send!(r, () => process.exit(0)),
      (e: Error) => process.send!({ error: e.stack ?? e.message }, () => process.exit(1)));
  });
}
