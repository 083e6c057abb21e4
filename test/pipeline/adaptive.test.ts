// The adaptive controller. First its rules, given usage samples directly (lower when over budget, in bounded steps;
// raise only after usage stayed low for a while; never past the configured bounds). Then for real (needs root): a
// flood through the limits test program makes this process busy decoding; the controller, measuring this process's
// real CPU, raises sampling until CPU is back under budget, and the kernel reports what it sampled out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { startGenerator, type Generator } from '../helpers/spine';
import { AdaptiveController, KernelLimits, ProcessResources, type ResourceSample } from '../../src/pipeline/limits';
import type { LoadedCollector } from '../../src/kernel';
import { addTarget, loadLimitsTest, testKindDrops, TEST_KIND } from './limits-helpers';

const MiB = 1048576;
const sample = (cpuFraction: number, rssBytes = 100 * MiB): ResourceSample => ({ cpuFraction, rssBytes, windowMs: 1000 });

function controller(applied: [string, number][], base: Record<string, number> = { 'process.fork': 1, 'network.tcp.close': 2 },
  log?: (m: string) => void) {
  return new AdaptiveController({
    cpuBudget: 0.02, memoryBudgetBytes: 500 * MiB, baseSampleEvery: base, maxSampleEvery: 16,
    raiseBelowRatio: 0.5, calmIntervals: 3,
  }, (kind, n) => { applied.push([kind, n]); }, new ProcessResources(), log);
}

test('over budget: rates go down in bounded steps up to the maximum, each decision visible', () => {
  const applied: [string, number][] = [];
  const logs: string[] = [];
  const c = controller(applied, undefined, (m) => logs.push(m));
  const d = c.tick(sample(0.05));
  assert.equal(d?.direction, 'lower');
  assert.deepEqual(c.sampleEvery(), { 'process.fork': 2, 'network.tcp.close': 4 });
  assert.match(d!.reason, /CPU 5\.00% of the node > budget 2\.00%/);
  for (let i = 0; i < 10; i++) c.tick(sample(0.05));
  assert.deepEqual(c.sampleEvery(), { 'process.fork': 16, 'network.tcp.close': 16 }, 'capped at maxSampleEvery');
  assert.equal(c.state().decisions.lower, 4, 'no decision once at the bound');
  assert.ok(c.state().overBudget.cpu);
  assert.ok(logs.some((l) => l.includes('lowering sampling rates')));
  assert.deepEqual(applied.at(-1), ['process.fork', 16], 'the last step took fork from 8 to 16');
});

test('memory over budget also lowers rates', () => {
  const c = controller([]);
  const d = c.tick(sample(0.001, 600 * MiB));
  assert.equal(d?.direction, 'lower');
  assert.match(d!.reason, /RSS 600 MiB > budget 500 MiB/);
});

test('rates come back only after calm intervals in a row, never past the configured base (hysteresis)', () => {
  const c = controller([]);
  c.tick(sample(0.05));
  c.tick(sample(0.05)); // fork 4, close 8
  assert.equal(c.tick(sample(0.015)), undefined, 'under budget but above the raise threshold: hold');
  assert.equal(c.tick(sample(0.005)), undefined);
  assert.equal(c.tick(sample(0.005)), undefined);
  const up = c.tick(sample(0.005));
  assert.equal(up?.direction, 'raise');
  assert.deepEqual(c.sampleEvery(), { 'process.fork': 2, 'network.tcp.close': 4 });
  c.tick(sample(0.005));
  assert.equal(c.tick(sample(0.03))?.direction, 'lower', 'an over-budget interval resets the calm count');
  for (let i = 0; i < 30; i++) c.tick(sample(0.001));
  assert.deepEqual(c.sampleEvery(), { 'process.fork': 1, 'network.tcp.close': 2 }, 'back to the configured base');
});

test('a failing apply is counted and logged, not thrown', () => {
  const logs: string[] = [];
  const c = new AdaptiveController({ cpuBudget: 0.02, memoryBudgetBytes: 500 * MiB, baseSampleEvery: { x: 1 },
    maxSampleEvery: 8, raiseBelowRatio: 0.5, calmIntervals: 1 }, () => { throw new Error('map gone'); },
  new ProcessResources(), (m) => logs.push(m));
  assert.equal(c.tick(sample(0.5)), undefined);
  assert.equal(c.applyErrors, 1);
  assert.match(logs[0], /cannot set sampling of x to 1\/2: map gone/);
});

test('under a real flood the controller brings this process back under its CPU budget', needsRoot, async () => {
  let obj: LoadedCollector | undefined;
  let gen: Generator | undefined;
  try {
    obj = await loadLimitsTest();
    const limits = KernelLimits.of(obj)!;
    // ~12 s at most: 3000 setpriority calls/s x 100 records = 300k records/s.
    gen = await startGenerator(36_000, 3000);
    addTarget(obj, gen.pid, 100);
    // The consumer does per-record work like a collector's decoder: read fields, build an event object.
    let delivered = 0;
    let sink: object[] = [];
    const reader = obj.openRing('limits_events', (b) => {
      b.forEach((v, off) => {
        sink.push({ name: 'test', pid: v.getUint32(off + 24, true), cgroupId: v.getBigUint64(off + 16, true),
          ts: v.getBigUint64(off + 8, true), seq: v.getBigUint64(off + 32, true), attributes: { 'tapio.kind': 'test' } });
        delivered++;
      });
      if (sink.length > 10_000) sink = [];
    }, { coalesceMs: 5 });
    const done = gen.run();
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const resources = new ProcessResources();
    // Baseline: one second of the flood with nothing sampled.
    resources.sample();
    await wait(1000);
    const before = resources.sample();
    const budget = before.cpuFraction / 3; // a budget this flood is clearly over
    const c = new AdaptiveController({ cpuBudget: budget, memoryBudgetBytes: 4096 * MiB, baseSampleEvery: { test: 1 },
      maxSampleEvery: 256, raiseBelowRatio: 0.3, calmIntervals: 3 },
    (_kind, n) => limits.setSampleEvery(TEST_KIND, n), resources);
    const seen: ResourceSample[] = [];
    let underBudget = false;
    for (let i = 0; i < 16 && !underBudget; i++) {
      await wait(500);
      const s = resources.sample();
      seen.push(s);
      c.tick(s);
      underBudget = s.cpuFraction <= budget && c.sampleEvery().test > 1;
    }
    const table = seen.map((s, i) => `${i}: cpu ${(s.cpuFraction * 100).toFixed(1)}%`).join(', ');
    assert.ok(before.cpuFraction > 0.01, `the flood made this process busy (${(before.cpuFraction * 100).toFixed(1)}% of the node)`);
    assert.ok(underBudget, `CPU back under budget ${(budget * 100).toFixed(1)}% (baseline ${(before.cpuFraction * 100).toFixed(1)}%; ${table})`);
    assert.ok(c.state().decisions.lower >= 1 && c.sampleEvery().test > 1);
    gen.kill();
    await done.catch(() => undefined);
    reader.stop();
    const drops = testKindDrops(obj);
    assert.ok(drops.sampled > 0, 'the kernel counted what it sampled out');
    assert.ok(delivered > 0);
  } finally {
    gen?.kill();
    await obj?.close();
  }
});
