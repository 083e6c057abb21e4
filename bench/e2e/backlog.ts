// Part 1m of bench/agent-end-to-end.ts: memory at 100k events/s, with the collector answering and with a collector
// that stops answering for a few seconds (its process stopped with SIGSTOP: connections stay open, nothing is
// read or answered), so the export backlogs. Each case runs in a process of its own (pipeline-child.ts), this
// checkout's agent and BENCH_BASELINE's alternating, and reports its peak: RSS (PSS) by holder, V8's heap and the
// bytes in Buffers, next to what was delivered and what was counted as dropped.
import { fork } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildCase, PeakMemory } from './pipeline-child';
import type { PipelineRow } from './pipeline';
import { formatMemory } from './memory';

export interface BacklogRow {
  agent: string; protocol: string; stalledMs: number; row: PipelineRow; peak: PeakMemory; load: string;
}

const THIS_ROOT = path.join(__dirname, '..', '..', '..');

function runChild(root: string, c: ChildCase): Promise<{ row: PipelineRow; peak: PeakMemory; stalled: boolean }> {
  const child = fork(path.join(__dirname, 'pipeline-child.js'), [root], { execArgv: ['--max-semi-space-size=4'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m as never)));
    child.once('exit', (code) => reject(new Error(`pipeline child exited with ${code} before answering`)));
    child.send(c);
  });
}

export async function backlogRows(opts: { seconds: number; stallMs: number; rounds: number; baseline?: string }): Promise<BacklogRow[]> {
  const agents: [string, string][] = [['this branch', THIS_ROOT]];
  if (opts.baseline) agents.push([opts.baseline, opts.baseline]);
  const rows: BacklogRow[] = [];
  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    for (const stallMs of [0, opts.stallMs]) {
      for (let round = 0; round < opts.rounds; round++) {
        for (const [agent, root] of agents) {
          const c: ChildCase = { protocol, rate: 100_000, seconds: opts.seconds, opts: { profile: false }, stallAtMs: 2000, stallMs };
          const r = await runChild(root, c);
          if (stallMs && !r.stalled) throw new Error('the receiver was not found to stop');
          rows.push({ agent, protocol, stalledMs: stallMs, row: r.row, peak: r.peak, load: os.loadavg().map((l) => l.toFixed(1)).join(' ') });
        }
      }
    }
  }
  return rows;
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function printBacklog(rows: BacklogRow[]): void {
  console.log('| agent | protocol | receiver stopped | delivered / ground truth | drops by reason | CPU µs/event (main + reader + other threads) | ' +
    'peak RSS (PSS) MiB: BPF maps (PSS) + C heap + other anonymous + files | V8 heap / Buffers at that peak, MiB | load average at the end |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { agent, protocol, stalledMs, row: r, peak, load } of rows) {
    console.log(`| ${agent} | ${protocol} | ${stalledMs ? `${stalledMs / 1000} s` : 'no'} | ${r.delivered} / ${r.truth} | ${r.drops} | ` +
      `${f(r.usPerEvent, 2)} (${f(r.mainUs, 2)} + ${f(r.readerUs, 2)} + ${f(r.otherUs, 2)}) | ${formatMemory(peak.mem)} | ` +
      `${f(peak.v8HeapMiB, 0)} / ${f(peak.buffersMiB, 0)} | ${load} |`);
  }
}
