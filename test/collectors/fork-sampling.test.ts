// Fork sampling has one mechanism: limits.sampling['process.fork'] (bpf/include/limits.h). A config that still says
// collectors.process.forkSampleEvery reaches that same sampler: some forks are delivered, the rest are counted as
// sampled out, and exec events are not sampled at all.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { needsRoot } from '../helpers/root';
import { ProcessCollector } from '../../src/collectors/process';
import { parseConfig } from '../../src/config/load';
import { createLimits } from '../../src/pipeline/limits';
import { runCollector, type Running } from './collect';

let run: Running | undefined;
after(async () => { await run?.stop(); });

test('the deprecated forkSampleEvery samples forks through limits.h; execs are all kept', needsRoot, async () => {
  const notes: string[] = [];
  const config = parseConfig('collectors:\n  process: { forkSampleEvery: 4 }\nlimits:\n  rateLimits: {}\n  adaptive: { enabled: false }\n',
    'test', (m) => notes.push(m));
  assert.equal(notes.length, 1);
  const collector = new ProcessCollector();
  run = await runCollector(collector, config);
  createLimits({ config: config.limits, objects: collector.kernelObjects() });

  const children = 40;
  const shell = spawnSync('/bin/sh', ['-c', `i=0; while [ $i -lt ${children} ]; do /bin/true; i=$((i+1)); done`], { stdio: 'ignore' });
  const ofShell = (name: string) => run!.events.filter((e) => e.name === name && e.attributes['process.parent_pid'] === shell.pid);
  assert.ok(await run.waitFor(() => ofShell('process.exec').length === children, 5000), `execs seen: ${ofShell('process.exec').length}`);
  collector.syncCounters();
  const sampled = run.drops.total({ stage: 'kernel', kind: 'process.fork', reason: 'sampled' });
  const forks = ofShell('process.fork').length;
  assert.ok(forks < children, `forks seen ${forks} of ${children}: sampling is on`);
  assert.ok(sampled >= children - forks, `sampled out ${sampled} covers the ${children - forks} forks not seen`);
});
