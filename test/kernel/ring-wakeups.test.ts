// The reader's wake-up policy at low record rates (needs root): while a batch coalesces, the reader sleeps for the
// rest of the delay when the arrival rate cannot fill the ring meanwhile, so it wakes about once per batch beyond
// the first record (it used to nap twice per delay); records still reach JS within the coalescing bound, and every
// record is delivered or counted. With maxCoalesceMs, a batch short of coalesceRecords gathers longer, so a slow
// stream costs ~10x fewer batches (JS callbacks) and naps; a fast one still goes at coalesceMs.
// An idle reader (ring or audit) sleeps: a quiet ring backs off to one backstop wake-up a second, the audit reader
// waits for a datagram or stop().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AuditReader } from '../../src/kernel/audit-reader';
import { bootNowNs } from '../../src/kernel/clock';
import { STRUCTS } from '../../src/kernel/layouts.generated';
import type { RingReaderOptions } from '../../src/kernel/native';
import { needsRoot } from '../helpers/root';
import { loadSpine, setSpineTarget, spineKernelDrops, startGenerator } from '../helpers/spine';

const TS = STRUCTS.tapio_header.fields.ts_ns.offset;

/** Runs a spine stream of `calls` setpriority() calls at `perSecond`, `burst` records each, through a reader opened
 *  with `options`; returns what a user would check: delivered + dropped, batches, naps, and each batch's oldest
 *  record's wait (kernel timestamp to the JS callback). */
async function stream(calls: number, perSecond: number, burst: number, options: RingReaderOptions) {
  const c = await loadSpine();
  const gen = await startGenerator(calls, perSecond);
  try {
    setSpineTarget(c, gen.pid, burst);
    let delivered = 0;
    const waitsMs: number[] = [];
    const reader = c.openRing('spine_events', (b) => {
      delivered += b.count;
      const now = bootNowNs();
      let first = true;
      b.forEach((view, offset) => {
        if (!first) return;
        first = false; // the batch's oldest record waited longest
        waitsMs.push(Number(now - view.getBigUint64(offset + TS, true)) / 1e6);
      });
    }, options);
    const made = await gen.run();
    await new Promise((r) => setTimeout(r, 100));
    const stopStart = process.hrtime.bigint();
    const st = reader.stop();
    const stopMs = Number(process.hrtime.bigint() - stopStart) / 1e6;
    const drops = spineKernelDrops(c);
    waitsMs.sort((a, b) => a - b);
    return { generated: made * burst, delivered, drops, st, stopMs, median: waitsMs[Math.floor(waitsMs.length / 2)]!,
      p90: waitsMs[Math.floor(waitsMs.length * 0.9)]! };
  } finally {
    gen.kill();
    await c.close();
  }
}

test('a slow stream gathers up to maxCoalesceMs: ~10x fewer batches and naps, every record delivered or counted',
  needsRoot, async (t) => {
    // 2000 records/s (10 every 5 ms) for ~2 s: far below coalesceRecords (1024) per 50 ms.
    const base = await stream(400, 200, 10, { coalesceMs: 5 });
    const slow = await stream(400, 200, 10, { coalesceMs: 5, maxCoalesceMs: 50 });
    t.diagnostic(`coalesceMs 5: ${base.st.batches} batches, ${base.st.sleeps} naps, median wait ${base.median.toFixed(1)} ms; ` +
      `maxCoalesceMs 50: ${slow.st.batches} batches, ${slow.st.sleeps} naps, median ${slow.median.toFixed(1)} ms, ` +
      `p90 ${slow.p90.toFixed(1)} ms`);
    for (const r of [base, slow]) {
      assert.equal(r.delivered + r.drops, r.generated, `delivered ${r.delivered} + dropped ${r.drops} != ${r.generated}`);
    }
    assert.ok(slow.st.batches * 5 <= base.st.batches, `batches: ${slow.st.batches} with maxCoalesceMs 50, ${base.st.batches} without`);
    assert.ok(slow.st.batches <= 2000 / 50 * 1.5 + 5, `about one batch per 50 ms over ~2 s (${slow.st.batches})`);
    assert.ok(slow.st.sleeps * 4 <= base.st.sleeps, `naps: ${slow.st.sleeps} with maxCoalesceMs 50, ${base.st.sleeps} without`);
    // The oldest record of a batch waits about maxCoalesceMs, not more: slack for a loaded, shared 2-core machine.
    assert.ok(slow.median >= 45 && slow.median < 50 + 15, `median wait of a batch's oldest record ${slow.median.toFixed(1)} ms`);
  });

test('a fast stream still goes at coalesceMs; stop() does not wait out a long coalescing delay', needsRoot, async (t) => {
  // 10 records every 5 ms with coalesceRecords 8: each batch has enough records by coalesceMs.
  const fast = await stream(400, 200, 10, { coalesceMs: 5, maxCoalesceMs: 1000, coalesceRecords: 8 });
  t.diagnostic(`${fast.st.batches} batches, median wait ${fast.median.toFixed(1)} ms, stop() took ${fast.stopMs.toFixed(1)} ms`);
  assert.equal(fast.delivered + fast.drops, fast.generated);
  assert.ok(fast.median < 5 + 15, `median wait of a batch's oldest record ${fast.median.toFixed(1)} ms`);
  assert.ok(fast.st.batches >= 100, `records came in many batches over 2 s (${fast.st.batches})`);
  // A lone record coalescing for up to 1 s: stop() wakes the reader instead of waiting for the nap to end.
  const lone = await stream(1, 1, 1, { coalesceMs: 5, maxCoalesceMs: 1000 });
  t.diagnostic(`lone record: stop() took ${lone.stopMs.toFixed(1)} ms`);
  assert.equal(lone.delivered + lone.drops, lone.generated);
  assert.ok(lone.stopMs < 500, `stop() took ${lone.stopMs.toFixed(1)} ms with a 1 s coalescing delay`);
});

test('low rate: one nap per batch, records within the coalescing bound, delivered + drops = generated', needsRoot, async (t) => {
  const coalesceMs = 5;
  const r = await stream(600, 300, 2, { coalesceMs }); // ~2 s at 300 calls/s, 2 records each: a few records per 5 ms
  const { st, median } = r;
  assert.equal(r.delivered + r.drops, r.generated, `delivered ${r.delivered} + dropped ${r.drops} != ${r.generated}`);
  assert.ok(st.batches >= 50, `records came in many batches over 2 s (${st.batches})`);
  // Beyond the first batch (no rate known yet: it naps twice), one nap per batch, allowing for batches cut short
  // by stop() and the odd early drain; the old policy napped twice per batch.
  assert.ok(st.sleeps <= st.batches * 1.25 + 4, `${st.sleeps} naps for ${st.batches} batches`);
  t.diagnostic(`${st.batches} batches, ${st.sleeps} naps, median wait ${median.toFixed(1)} ms`);
  // The oldest record of a batch waits about coalesceMs; the slack is for a loaded, shared 2-core machine.
  assert.ok(median < coalesceMs + 15, `median wait of a batch's oldest record ${median.toFixed(1)} ms`);
  assert.ok(median >= coalesceMs - 1, `records coalesce for about ${coalesceMs} ms (median ${median.toFixed(1)} ms)`);
});

/** Voluntary context switches of this process's threads named `name` (the ring readers' tapio-ring by default):
 *  how often they went to sleep. */
function threadWakeups(name = 'tapio-ring'): number {
  let n = 0;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== name) continue;
      n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))?.[1] ?? 0);
    } catch { /* the thread ended */ }
  }
  return n;
}

test('a quiet ring backs off to about one wake-up a second; a record no CPU woke it for still arrives within ~1 s',
  needsRoot, async (t) => {
    const c = await loadSpine();
    try {
      const arrived: number[] = [];
      const reader = c.openRing('spine_events', (b) => { arrived.push(Date.now()); void b; });
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // Quiet from the start: waits of a fifth of the quiet time, 50 ms at first, 1 s from 5 s on.
      await sleep(6500);
      const w0 = threadWakeups();
      await sleep(3000);
      const waits = threadWakeups() - w0;
      t.diagnostic(`${waits} idle waits in 3 s after 6.5 s of quiet (${w0} before)`);
      assert.ok(waits <= 5, `${waits} idle wake-ups in 3 s of a quiet ring (it used to be 15: one per 200 ms)`);
      assert.ok(waits >= 2, `the backstop still runs (${waits} in 3 s)`);
      // A record submitted without a wakeup into the empty ring, as when two CPUs race past the first-record check:
      // epoll never hears of it, the backstop drains it.
      setSpineTarget(c, process.pid, 1, { noWakeup: true });
      const sent = Date.now();
      os.setPriority(process.pid, 0);
      for (let i = 0; i < 300 && arrived.length === 0; i++) await sleep(10);
      const st = reader.stop();
      assert.equal(st.records, 1, 'the record arrived');
      const ms = arrived[0]! - sent;
      t.diagnostic(`the unannounced record arrived after ${ms} ms`);
      assert.ok(ms <= 1000 + 300, `it waited ${ms} ms, past the 1 s backstop`);
    } finally {
      await c.close();
    }
  });

test('an idle audit reader sleeps until a datagram or stop(): no periodic wake-up', needsRoot, async (t) => {
  let reader: AuditReader;
  try {
    reader = new AuditReader(() => undefined);
  } catch (e) {
    t.skip(`no audit netlink here: ${(e as Error).message}`);
    return;
  }
  try {
    await new Promise((r) => setTimeout(r, 200));
    const w0 = threadWakeups('tapio-audit');
    await new Promise((r) => setTimeout(r, 3000));
    const waits = threadWakeups('tapio-audit') - w0;
    t.diagnostic(`${waits} wake-ups of the audit reader in 3 s (datagrams from the machine's own audit events count too)`);
    assert.ok(waits <= 1, `${waits} wake-ups in 3 s of an idle audit reader (it used to wake once a second)`);
  } finally {
    const started = Date.now();
    reader.stop();
    assert.ok(Date.now() - started < 500, 'stop() wakes it at once');
  }
});
