// Under an exec storm (~2k execs/s for 10 s from a paced generator that knows how many execs really happened),
// every exec is either seen by the process collector or counted as dropped; in practice none is dropped.
// Forks are sampled 1 in 4 here (limits.sampling): seen forks plus forks counted as sampled out cover every fork.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { ProcessCollector } from '../../src/collectors/process';
import { runCollector, type Running } from './collect';
import { configSchema } from '../../src/config/schema';
import { createLimits } from '../../src/pipeline/limits';
import { removeStormTools, runStorm, stormTools } from './storm';

let run: Running | undefined;

after(async () => {
  await run?.stop();
  removeStormTools();
});

test('exec storm: seen + dropped = ground truth, and nothing is dropped', needsRoot, async () => {
  const { target } = stormTools();
  const collector = new ProcessCollector();
  run = await runCollector(collector);
  // Fork sampling is limits.sampling (bpf/include/limits.h), written into the object as the agent does; no rate
  // limits, so only the sampling decides.
  const limits = configSchema.parse({ limits: { sampling: { 'process.fork': 4 }, rateLimits: {}, adaptive: { enabled: false } } }).limits;
  createLimits({ config: limits, objects: collector.kernelObjects?.() ?? [] });
  const storm = runStorm('exec', 2000, 10);
  const truth = await storm.done;
  const execs = () => run!.events.filter((e) => e.name === 'process.exec' && e.attributes['process.executable.path'] === target);
  const kernelExecDrops = () => { collector.syncCounters(); return run!.drops.total({ kind: 'process.exec' }); };
  await run.waitFor(() => execs().length + kernelExecDrops() >= truth, 10_000);
  const seen = execs().length;
  const dropped = kernelExecDrops();
  console.log(`exec storm: ground truth ${truth}, seen ${seen}, dropped ${dropped}`);
  assert.ok(truth >= 19_000, `the generator made ${truth} execs`);
  assert.ok(seen <= truth);
  assert.ok(seen + dropped >= truth, `seen ${seen} + dropped ${dropped} < truth ${truth}`);
  assert.equal(dropped, 0);
  for (const e of execs().slice(0, 50)) {
    assert.equal(e.attributes['process.parent_pid'], storm.pid);
    assert.deepEqual(e.attributes['process.command_args'], [target, 'storm-arg']);
  }
  // Forks: every storm fork was either delivered or sampled out (the sampled count also includes other forks).
  const forks = run.events.filter((e) => e.name === 'process.fork' && e.attributes['process.parent_pid'] === storm.pid).length;
  const sampled = run.drops.total({ stage: 'kernel', kind: 'process.fork', reason: 'sampled' });
  console.log(`forks from the storm: seen ${forks}, sampled out (all processes) ${sampled}`);
  assert.ok(forks + sampled >= truth);
  assert.ok(forks < truth / 2, 'forks are sampled');
  // Exits: one per exec'd child.
  const exits = () => run!.events.filter((e) => e.name === 'process.exit' && e.attributes['process.executable.path'] === target).length;
  await run.waitFor(() => exits() >= seen, 5000);
  assert.equal(exits(), seen);
});
