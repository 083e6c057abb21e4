// The TLS probes' duty cycle (src/collectors/tls/duty.ts), as a state machine driven by a clock and a hit count:
// under the bound the probes stay attached; above it they pause for as long as brings the cycle's average cost to the
// bound (capped), then measure again; the time paused and the calls missed meanwhile (an estimate) are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeDutyCycle } from '../../src/collectors/tls/duty';

const settings = { maxCostPercent: 2, costNsPerHit: 2000, cpus: 2, windowMs: 2000, maxPauseMs: 60_000 };

/** Hits per second that cost `pct` percent of the 2-core node at 2000 ns a hit. */
const rateFor = (pct: number) => pct / 100 * 2e9 / 2000;

test('under the bound the probes stay attached; windows are measured one after another', () => {
  const d = new ProbeDutyCycle(settings, 0, 0);
  const rate = rateFor(1.5);
  for (let t = 500; t <= 20_000; t += 500) assert.equal(d.tick(t, rate * t / 1000), undefined, `t=${t}`);
  assert.ok(d.isAttached);
  assert.ok(Math.abs(d.lastCostPercent - 1.5) < 1e-9, String(d.lastCostPercent));
  assert.equal(d.duty, 1);
  assert.equal(d.counters.pauses, 0);
});

test('above the bound: paused so that the cycle averages the bound, then attached again to measure', () => {
  const d = new ProbeDutyCycle(settings, 0, 0);
  const rate = rateFor(18); // 18% of the node, the bench's wrk -> node https
  let hits = 0;
  let t = 0;
  const step = (ms: number) => { t += ms; if (d.isAttached) hits += rate * ms / 1000; return d.tick(t, hits); };
  assert.equal(step(1000), undefined, 'the window is not over');
  assert.equal(step(1000), 'pause');
  assert.ok(!d.isAttached);
  assert.ok(Math.abs(d.lastPauseMs - 16_000) < 1e-6, `2 s at 18% + 16 s at 0% = 2% on average (${d.lastPauseMs})`);
  assert.ok(Math.abs(d.duty - 2 / 18) < 1e-9);
  assert.equal(step(15_000), undefined, 'still paused');
  assert.equal(d.pausedMs(t), 15_000);
  assert.equal(step(1000), 'resume');
  assert.equal(d.counters.paused_ms, 16_000);
  assert.equal(d.counters.paused_calls_estimated, Math.round(rate * 16), 'the calls the pause missed, at the measured rate');
  // The load fell meanwhile: the next window finds it under the bound and the probes stay.
  const low = rateFor(1);
  let baseHits = hits;
  for (let i = 1; i <= 10; i++) { t += 500; baseHits += low / 2; assert.equal(d.tick(t, baseHits), undefined); }
  assert.ok(d.isAttached);
  assert.equal(d.counters.pauses, 1);
});

test('a pause is never longer than maxPauseMs, and nothing breaks on a hit counter that went backwards', () => {
  const d = new ProbeDutyCycle({ ...settings, maxPauseMs: 5000 }, 0, 1_000_000);
  assert.equal(d.tick(2000, 1_000_000 + rateFor(90) * 2), 'pause');
  assert.equal(d.lastPauseMs, 5000);
  assert.equal(d.tick(7000, 0), 'resume');
  assert.equal(d.tick(9000, 0), undefined, 'no hits counted (a reloaded object): no cost, stay attached');
  assert.equal(d.lastCostPercent, 0);
});

test('the agent\'s own time decoding what the probes captured counts toward their cost', () => {
  const d = new ProbeDutyCycle(settings, 0, 0, 0);
  // Traps at 0.5% of the node (under the 2% bound), but the agent spent 120 ms of each second decoding (6% of 2 cores).
  assert.equal(d.tick(2000, rateFor(0.5) * 2, 240e6), 'pause');
  assert.ok(Math.abs(d.lastTrapPercent - 0.5) < 1e-9);
  assert.ok(Math.abs(d.lastCostPercent - 6.5) < 1e-9, String(d.lastCostPercent));
  assert.ok(Math.abs(d.lastPauseMs - 2000 * (6.5 / 2 - 1)) < 1e-6);
  // Decoding done while paused (records still in the ring) is the window's too: its pause grows by as long as
  // spreads it at the bound (60 ms over 2% of 2 cores: 1.5 s), and it is not charged to the next window.
  const base = d.lastPauseMs;
  assert.equal(d.tick(2000 + base, rateFor(0.5) * 2, 300e6), undefined, 'the backlog decoded meanwhile lengthened the pause');
  assert.ok(Math.abs(d.lastPauseMs - (base + 1500)) < 1e-6, String(d.lastPauseMs));
  assert.equal(d.tick(2000 + base + 1500, rateFor(0.5) * 2, 300e6), 'resume');
  const resumedAt = 2000 + base + 1500;
  assert.equal(d.tick(resumedAt + 2000, rateFor(0.5) * 4, 300e6), undefined, 'traps alone, under the bound');
  assert.ok(d.isAttached);
});

test('cheap probes are not paused for the agent\'s decoding (a slow machine, a first window\'s JIT warm-up): its budget governs that', () => {
  const d = new ProbeDutyCycle(settings, 0, 0, 0);
  // Traps at 0.1% of the node (under a quarter of the 2% bound), the agent decoding at 10%: no pause.
  assert.equal(d.tick(2000, rateFor(0.1) * 2, 400e6), undefined);
  assert.ok(d.isAttached);
  assert.ok(Math.abs(d.lastDecodePercent - 10) < 1e-9);
  assert.ok(Math.abs(d.lastCostPercent - 0.1) < 1e-9, String(d.lastCostPercent));
});

test('probe hits counted while paused (the kernel still detaching the probes) lengthen the pause they belong to', () => {
  const d = new ProbeDutyCycle(settings, 0, 0);
  const rate = rateFor(18);
  assert.equal(d.tick(2000, rate * 2), 'pause');
  assert.ok(Math.abs(d.lastPauseMs - 16_000) < 1e-6);
  assert.ok(Math.abs(d.duty - 2 / 18) < 1e-9);
  // The detach took 500 ms: half a second more at 18% came in after the window. 0.5 s at 18% = 4.5 s at 2%.
  const late = rate / 2;
  assert.equal(d.tick(1000 + 2000, rate * 2 + late), undefined);
  assert.ok(Math.abs(d.lastPauseMs - 20_500) < 1e-6, String(d.lastPauseMs));
  assert.ok(Math.abs(d.duty - 2000 / 22_500) < 1e-9, 'the duty reported is the window against the whole pause');
  assert.equal(d.tick(2000 + 16_000, rate * 2 + late), undefined, 'not yet: the late hits are paid for');
  assert.equal(d.tick(2000 + 20_500, rate * 2 + late), 'resume');
  assert.equal(d.counters.hits_after_pause, late);
  assert.equal(d.counters.paused_ms, 20_500);
  // Charged once: the next window starts from the hits at resume.
  assert.equal(d.tick(2000 + 20_500 + 2000, rate * 2 + late + rateFor(1) * 2), undefined);
  assert.ok(d.isAttached);
  // A pause is still capped whatever comes late.
  const capped = new ProbeDutyCycle({ ...settings, maxPauseMs: 5000 }, 0, 0);
  assert.equal(capped.tick(2000, rate * 2), 'pause');
  assert.equal(capped.tick(3000, rate * 20), undefined);
  assert.equal(capped.lastPauseMs, 5000);
});

test('a window that decoded too much makes the next one capture 1 of N streams, held to the decoding budget', () => {
  const d = new ProbeDutyCycle({ ...settings, decodeBudgetPercent: 1 }, 0, 0, 0, 0);
  assert.equal(d.windowEvery, 1);
  const rate = rateFor(10);
  // The window captured every stream: 200000 calls in 2 s (100000/s), and decoding them took 1.6 s all told, most of
  // it after the window (the ring's backlog): 8 µs a call, i.e. 80% of a core = 40% of the node at 1/1.
  assert.equal(d.tick(2000, rate * 2, 100e6, 200_000), 'pause');
  assert.equal(d.tick(3000, rate * 2, 1600e6, 200_000), undefined, 'still paused: the backlog lengthened it');
  assert.equal(d.tick(62_000, rate * 2, 1600e6, 200_000), 'resume');
  assert.equal(d.windowEvery, 4, 'at most 4x more sampling per window (a first window\'s JIT warm-up is slow)');
  // The next windows capture 1 of 4, 1 of 16: 50000 and 12500 calls in 2 s, the same 8 µs a call.
  let h = rate * 2;
  let decode = 1600e6;
  let captured = 200_000;
  let t = 62_000;
  for (const [every, got] of [[16, 50_000], [64, 12_500]] as const) {
    h += rate * 2; decode += got * 8000; captured += got; t += 2000;
    assert.equal(d.tick(t, h, decode, captured), 'pause');
    t += 60_000;
    assert.equal(d.tick(t, h, decode, captured), 'resume');
    assert.equal(d.windowEvery, every);
  }
  // Settled: 40% / 64 = 0.6% of the node, under the 1% budget (32 would be 1.25%).
  h += rate * 2; decode += 3125 * 8000; captured += 3125; t += 2000;
  assert.equal(d.tick(t, h, decode, captured), 'pause');
  t += 60_000;
  assert.equal(d.tick(t, h, decode, captured), 'resume');
  assert.equal(d.windowEvery, 64);
  // The load's decoding got 4x cheaper: back down by half a window, not at once.
  h += rate * 2; decode += 3125 * 2000; captured += 3125; t += 2000;
  assert.equal(d.tick(t, h, decode, captured), 'pause');
  t += 60_000;
  assert.equal(d.tick(t, h, decode, captured), 'resume');
  assert.equal(d.windowEvery, 32);
  // Too few captured to judge (a quiet window): capture more.
  h += rate * 2; decode += 50 * 2000; captured += 50; t += 2000;
  assert.equal(d.tick(t, h, decode, captured), 'pause');
  t += 60_000;
  assert.equal(d.tick(t, h, decode, captured), 'resume');
  assert.equal(d.windowEvery, 16);
  // A window under the bound goes back to capturing everything.
  assert.equal(d.tick(t + 2000, h + rateFor(0.5) * 2, decode, captured + 5), undefined);
  assert.equal(d.windowEvery, 1);
});

