// The pipeline's identity hold: events of a container no runtime has named yet wait (in order, bounded) until
// identity settles; nothing is ever dropped by the hold. The gate here is a test double standing in for the
// IdentityResolver, which the end-to-end identity test exercises with real runtimes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DropCounters } from '../../src/core/drops';
import { Pipeline, type IdentityGate } from '../../src/pipeline/pipeline';
import type { TapioEvent } from '../../src/core/event';

function ev(cgroupId: bigint, seq: number): TapioEvent {
  return { name: 'process.exec', timeUnixNano: 0n, cgroupId, attributes: { seq } };
}

class Sink {
  readonly name = 'test';
  got: TapioEvent[] = [];
  write(e: TapioEvent[]) { this.got.push(...e); }
}

test('held events go out in order once identity settles, enriched with what was learned', async () => {
  const names = new Map<bigint, string>();
  let release!: () => void;
  const settled = new Promise<void>((r) => { release = r; });
  const gate: IdentityGate = { incomplete: (e) => e.cgroupId === 7n && !names.has(7n), settle: () => settled };
  const sink = new Sink();
  const p = new Pipeline(new DropCounters(), [sink], {}, (e) => {
    e.attributes['container.id'] = `c${e.cgroupId}`;
    const n = names.get(e.cgroupId);
    if (n) e.attributes['container.name'] = n;
  }, gate);
  p.push([ev(7n, 1), ev(1n, 2), ev(7n, 3)]);
  assert.deepEqual(sink.got.map((e) => e.attributes.seq), [2], 'the other cgroup is not held up');
  names.set(7n, 'web');
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sink.got.map((e) => e.attributes.seq), [2, 1, 3]);
  assert.deepEqual(sink.got.filter((e) => e.cgroupId === 7n).map((e) => e.attributes['container.name']), ['web', 'web']);
  assert.equal(p.stats().identityHold.releasedResolved, 1);
  assert.deepEqual(p.stats().emitted, { 'process.exec': 3 });
});

test('a hold that never settles ends after maxHoldMs, and overflow releases the oldest at once; nothing is dropped', async () => {
  const gate: IdentityGate = { incomplete: () => true, settle: () => new Promise(() => undefined) };
  const sink = new Sink();
  const drops = new DropCounters();
  const p = new Pipeline(drops, [sink], {}, undefined, gate, { maxHoldMs: 50, maxHeldEvents: 3 });
  p.push([ev(1n, 1), ev(1n, 2), ev(2n, 3), ev(3n, 4)]);
  assert.deepEqual(sink.got.map((e) => e.attributes.seq), [1, 2], 'over the bound: the oldest cgroup went out');
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(sink.got.map((e) => e.attributes.seq).sort(), [1, 2, 3, 4]);
  const h = p.stats().identityHold;
  assert.equal(h.releasedOverflow, 1);
  assert.equal(h.releasedTimeout, 2);
  assert.equal(h.held, 0);
  assert.equal(drops.total(), 0);
});

test('flush releases everything still held', async () => {
  const gate: IdentityGate = { incomplete: () => true, settle: () => new Promise(() => undefined) };
  const sink = new Sink();
  const p = new Pipeline(new DropCounters(), [sink], {}, undefined, gate, { maxHoldMs: 60_000, maxHeldEvents: 100 });
  p.push([ev(1n, 1), ev(2n, 2)]);
  assert.equal(sink.got.length, 0);
  await p.flush();
  assert.equal(sink.got.length, 2);
});
