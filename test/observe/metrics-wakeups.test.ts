// The agent's own metrics cost an idle agent no more than a wake-up a second: prom-client's event-loop delay
// histogram samples on a timer of the main thread (10 ms by default; the agent's used to be 100 ms, a quarter of an
// idle agent's wake-ups). Counted, not timed: the main thread's voluntary context switches over 3 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Registry } from 'prom-client';
import { createMetrics } from '../../src/observe/metrics';
import type { ObserveStatus } from '../../src/observe';

function mainThreadWakeups(): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

test('the metrics registry wakes an idle main thread about once a second', async (t) => {
  const registry = new Registry();
  createMetrics(registry, (): ObserveStatus => { throw new Error('not scraped here'); });
  await new Promise((r) => setTimeout(r, 200));
  const w0 = mainThreadWakeups();
  await new Promise((r) => setTimeout(r, 3000));
  const waits = mainThreadWakeups() - w0 - 1; // the test's own timer
  t.diagnostic(`${waits} main-thread wake-ups in 3 s`);
  assert.ok(waits <= 6, `${waits} main-thread wake-ups in 3 s of an idle metrics registry (30 at 100 ms)`);
});
