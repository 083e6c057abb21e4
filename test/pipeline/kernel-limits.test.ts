// bpf/include/limits.h on the real kernel (needs root): a flood from one container (a process in a cgroup the test
// makes) is rate limited while a second container's events all arrive, and per cgroup the counts add up:
// delivered + rate_limited + sampled = generated. Sampling keeps 1 of N and counts the rest.
import { once } from 'node:events';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { needsRoot } from '../helpers/root';
import { startGenerator, type Generator } from '../helpers/spine';
import { KernelLimits } from '../../src/pipeline/limits';
import type { LoadedCollector } from '../../src/kernel';
import { addTarget, countByCgroup, loadLimitsTest, makeCgroup, testKindDrops, TEST_KIND, type TestCgroup } from './limits-helpers';

async function withCleanup(fn: (track: { gens: Generator[]; cgroups: TestCgroup[]; objects: LoadedCollector[] }) => Promise<void>): Promise<void> {
  const t = { gens: [] as Generator[], cgroups: [] as TestCgroup[], objects: [] as LoadedCollector[] };
  try {
    await fn(t);
  } finally {
    // Killed generators must be gone before their cgroups can be removed: wait for each exit, not a fixed time.
    await Promise.all(t.gens.map((g) => {
      const exited = g.child.exitCode !== null || g.child.signalCode !== null ? Promise.resolve() : once(g.child, 'exit');
      g.kill();
      return exited;
    }));
    for (const c of t.cgroups) await c.remove();
    for (const o of t.objects) await o.close();
  }
}

test('a flooding container is rate limited, a quiet one loses nothing, and per cgroup the counts add up', needsRoot, () =>
  withCleanup(async (t) => {
    const obj = await loadLimitsTest();
    t.objects.push(obj);
    const limits = KernelLimits.of(obj)!;
    assert.ok(limits, 'the test object includes limits.h');
    const rate = 1000, burst = 1000;
    limits.set(TEST_KIND, { sampleEvery: 1, ratePerSec: rate, burst });

    const noisyCg = makeCgroup('noisy');
    t.cgroups.push(noisyCg);
    const quietCg = makeCgroup('quiet');
    t.cgroups.push(quietCg);
    const noisy = await startGenerator(2000); // 2000 calls x 100 records, as fast as it can
    t.gens.push(noisy);
    const quiet = await startGenerator(100, 100); // 100 calls x 5 records over ~1 s: under its own burst
    t.gens.push(quiet);
    noisyCg.add(noisy.pid);
    quietCg.add(quiet.pid);
    addTarget(obj, noisy.pid, 100);
    addTarget(obj, quiet.pid, 5);

    const delivered = new Map<bigint, number>();
    const count = countByCgroup(delivered);
    const reader = obj.openRing('limits_events', (b) => b.forEach((v, off) => count(v, off)), { coalesceMs: 5 });
    const started = process.hrtime.bigint();
    const [noisyCalls, quietCalls] = await Promise.all([noisy.run(), quiet.run()]);
    const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9;
    reader.stop();

    const rows = limits.cgroups();
    const noisyRow = rows.find((r) => r.cgroupId === noisyCg.id);
    const quietRow = rows.find((r) => r.cgroupId === quietCg.id);
    assert.ok(noisyRow && quietRow, `per-cgroup rows for both cgroups (got ${rows.map((r) => r.cgroupId).join(', ')})`);
    const ringDrops = testKindDrops(obj).ringbufFull;
    assert.equal(ringDrops, 0, 'the ring never filled: every admitted record was delivered');

    // The quiet container: everything arrived.
    const quietGenerated = quietCalls * 5;
    assert.equal(delivered.get(quietCg.id), quietGenerated, 'every event of the quiet container arrived');
    assert.equal(quietRow.rateLimited, 0);

    // The noisy one: limited, and every event is either delivered or counted.
    const noisyGenerated = noisyCalls * 100;
    const noisyDelivered = delivered.get(noisyCg.id) ?? 0;
    assert.ok(noisyRow.rateLimited > 0, 'the flood was rate limited');
    assert.equal(noisyDelivered + noisyRow.rateLimited + noisyRow.sampled, noisyGenerated,
      `noisy: delivered ${noisyDelivered} + limited ${noisyRow.rateLimited} = generated ${noisyGenerated}`);
    assert.equal(noisyRow.admitted, noisyDelivered, 'the kernel admitted exactly what userspace received');
    // The bucket allows its burst plus the refill over the run; cross-CPU races may let a few more through.
    const allowed = burst + rate * elapsedSec;
    assert.ok(noisyDelivered <= allowed * 1.5, `noisy delivered ${noisyDelivered} <= ~${Math.round(allowed)}`);

    // The object-wide drop counter matches the per-cgroup ones.
    assert.equal(testKindDrops(obj).rateLimited, rows.reduce((s, r) => s + r.rateLimited, 0));
    const buckets = limits.bucketCounters();
    assert.ok(buckets.live >= 2 && buckets.created >= 2 && buckets.insertFailed === 0, JSON.stringify(buckets));
  }));

test('sampling keeps 1 of N per kind and counts the rest as sampled', needsRoot, () =>
  withCleanup(async (t) => {
    const obj = await loadLimitsTest();
    t.objects.push(obj);
    const limits = KernelLimits.of(obj)!;
    const every = 4;
    limits.set(TEST_KIND, { sampleEvery: every, ratePerSec: 0, burst: 0 });
    const cg = makeCgroup('sampled');
    t.cgroups.push(cg);
    const gen = await startGenerator(1000);
    t.gens.push(gen);
    cg.add(gen.pid);
    addTarget(obj, gen.pid, 20);
    let delivered = 0;
    const reader = obj.openRing('limits_events', (b) => { delivered += b.count; }, { coalesceMs: 5 });
    const generated = (await gen.run()) * 20;
    reader.stop();
    const drops = testKindDrops(obj);
    const row = limits.cgroups().find((r) => r.cgroupId === cg.id)!;
    assert.equal(delivered + drops.sampled + drops.ringbufFull, generated, 'delivered + sampled = generated');
    assert.equal(row.sampled, drops.sampled, 'per-cgroup sampled count matches the kind total');
    assert.equal(row.rateLimited, 0);
    // Each CPU keeps every 4th event of its own running count: off from generated/4 by at most one per CPU.
    const cpus = os.cpus().length;
    assert.ok(Math.abs(delivered - generated / every) <= cpus, `delivered ${delivered} ~ ${generated}/${every}`);
  }));

test('with no limits configured every event passes untouched (fast path) and nothing is counted', needsRoot, () =>
  withCleanup(async (t) => {
    const obj = await loadLimitsTest();
    t.objects.push(obj);
    const gen = await startGenerator(200);
    t.gens.push(gen);
    addTarget(obj, gen.pid, 10);
    let delivered = 0;
    const reader = obj.openRing('limits_events', (b) => { delivered += b.count; });
    const generated = (await gen.run()) * 10;
    reader.stop();
    assert.equal(delivered, generated);
    assert.deepEqual(testKindDrops(obj), { ringbufFull: 0, sampled: 0, rateLimited: 0 });
    assert.equal(KernelLimits.of(obj)!.cgroups().length, 0, 'no bucket made when nothing is limited');
  }));

test('bad limit values are refused with a clear error, not written', needsRoot, () =>
  withCleanup(async (t) => {
    const obj = await loadLimitsTest();
    t.objects.push(obj);
    const limits = KernelLimits.of(obj)!;
    assert.throws(() => limits.set(TEST_KIND, { sampleEvery: 1, ratePerSec: -5, burst: 0 }), /ratePerSec must be an integer/);
    assert.throws(() => limits.set(TEST_KIND, { sampleEvery: 1.5, ratePerSec: 0, burst: 0 }), /sampleEvery/);
    assert.deepEqual(limits.get(TEST_KIND), { sampleEvery: 1, ratePerSec: 0, burst: 0 });
  }));
