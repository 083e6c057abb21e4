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
  // Decoding done while paused (records still in the ring) is not charged to the next window.
  assert.equal(d.tick(2000 + d.lastPauseMs, rateFor(0.5) * 2, 300e6), 'resume');
  assert.equal(d.tick(4000 + d.lastPauseMs, rateFor(0.5) * 4, 300e6), undefined, 'traps alone, under the bound');
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
