// One pipeline case (bench/e2e/pipeline.ts) in a process of its own, run from the checkout given: part 1d of
// bench/agent-end-to-end.ts alternates this checkout and a baseline one, each case in a fresh process measured after
// a warm-up of the same load (so V8's compilation of the hot path is in neither's numbers), and compares them.
// Usage: node dist/bench/e2e/case-child.js ROOT PROTOCOL RATE SECONDS WARMUP_SECONDS OPTIONS_JSON; prints one JSON row.
import * as path from 'node:path';
import type { CaseOptions, PipelineRow } from './pipeline';

type PipelineCase = (protocol: 'grpc' | 'http/protobuf', rate: number | 'max', seconds: number, opts?: CaseOptions) => Promise<PipelineRow>;

async function main(): Promise<void> {
  const [root, protocol, rate, seconds, warmup, opts] = process.argv.slice(2);
  const pipeline = require(path.join(path.resolve(root!), 'dist', 'bench', 'e2e', 'pipeline.js')) as
    { pipelineCase: PipelineCase; IN_CASE_WARMUP?: boolean };
  const options = JSON.parse(opts ?? '{}') as CaseOptions;
  const r = rate === 'max' ? 'max' : Number(rate);
  const p = protocol as 'grpc' | 'http/protobuf';
  // The warm-up is the same agent's first seconds of load where the checkout knows how (after a warm-up case of its
  // own, V8's helper threads still worked on what that case left behind during the measured one: 0.4-0.7 µs per
  // event at 10k/s against 0.1, ~0.3 points of the node; no difference at 1k/s); an older checkout runs a warm-up
  // case first, as it always did.
  let row: PipelineRow;
  if (pipeline.IN_CASE_WARMUP) {
    row = await pipeline.pipelineCase(p, r, Number(seconds), { ...options, warmupSeconds: Number(warmup) });
  } else {
    if (Number(warmup) > 0) await pipeline.pipelineCase(p, r, Number(warmup), { ...options, profile: false });
    row = await pipeline.pipelineCase(p, r, Number(seconds), options);
  }
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

main().then(() => process.exit(0), (e: Error) => { console.error(e); process.exit(1); });
