// One pipeline case (bench/e2e/pipeline.ts) in a process of its own, run from the checkout given: part 1d of
// bench/agent-end-to-end.ts alternates this checkout and a baseline one, each case in a fresh process after a short
// warm-up case (so V8's compilation of the hot path is in neither's numbers), and compares them.
// Usage: node dist/bench/e2e/case-child.js ROOT PROTOCOL RATE SECONDS WARMUP_SECONDS OPTIONS_JSON; prints one JSON row.
import * as path from 'node:path';
import type { CaseOptions, PipelineRow } from './pipeline';

type PipelineCase = (protocol: 'grpc' | 'http/protobuf', rate: number | 'max', seconds: number, opts?: CaseOptions) => Promise<PipelineRow>;

async function main(): Promise<void> {
  const [root, protocol, rate, seconds, warmup, opts] = process.argv.slice(2);
  const pipeline = require(path.join(path.resolve(root!), 'dist', 'bench', 'e2e', 'pipeline.js')) as { pipelineCase: PipelineCase };
  const options = JSON.parse(opts ?? '{}') as CaseOptions;
  const r = rate === 'max' ? 'max' : Number(rate);
  const p = protocol as 'grpc' | 'http/protobuf';
  if (Number(warmup) > 0) await pipeline.pipelineCase(p, r, Number(warmup), { ...options, profile: false });
  const row = await pipeline.pipelineCase(p, r, Number(seconds), options);
  process.stdout.write(`${JSON.stringify(row)}\n`);
}

main().then(() => process.exit(0), (e: Error) => { console.error(e); process.exit(1); });
