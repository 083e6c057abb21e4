// Bounded aggregation (Space-Saving top-K): memory stays fixed however many keys arrive, heavy hitters are kept with
// counts never under their true weight, and kept + "other" always adds up to everything that went in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedAggregator, TopK } from '../../src/pipeline/limits';

/** A deterministic pseudo-random stream: a few heavy keys in a long tail of distinct ones. */
function* stream(n: number, heavy: string[], heavyShare: number): Generator<string> {
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    yield (x % 1000) / 1000 < heavyShare ? heavy[x % heavy.length] : `flow-${i}`;
  }
}

test('a million distinct keys: size stays at capacity, heavy hitters are found, totals add up', () => {
  const heavy = ['10.0.0.1:443', '10.0.0.2:53', '10.0.0.3:8080'];
  const truth = new Map<string, number>();
  const k = new TopK(100);
  let tailKeys = 0;
  for (const key of stream(1_000_000, heavy, 0.3)) {
    k.add(key);
    if (heavy.includes(key)) truth.set(key, (truth.get(key) ?? 0) + 1);
    else tailKeys++;
  }
  assert.equal(k.size, 100);
  assert.deepEqual(k.top(3).map((e) => e.key).sort(), [...heavy].sort());
  for (const e of k.top(3)) {
    assert.ok(e.count >= truth.get(e.key)!, 'never under the true count');
    assert.ok(e.count - e.error <= truth.get(e.key)!, 'count - error is a lower bound');
  }
  const kept = k.top().reduce((s, e) => s + e.count - e.error, 0);
  assert.equal(kept + k.other.count, 1_000_000, 'kept + other = everything');
  assert.ok(k.replaced >= tailKeys - 100, 'every tail key beyond capacity replaced another');
});

test('aggregates of replaced keys move into "other" so sums are preserved', () => {
  const agg = new BoundedAggregator<{ bytes: number }>({
    capacity: 10, create: () => ({ bytes: 0 }), merge: (into, from) => { into.bytes += from.bytes; },
  });
  let bytes = 0;
  for (let i = 0; i < 5000; i++) {
    const b = i % 7 + 1;
    bytes += b;
    agg.add(i % 3 === 0 ? 'big' : `k${i}`, 1, (a) => { a.bytes += b; });
  }
  const keptBytes = agg.top().reduce((s, e) => s + e.aggregate.bytes, 0);
  assert.equal(keptBytes + agg.other.aggregate.bytes, bytes);
  assert.equal(agg.top(1)[0].key, 'big');
});

test('bad weights count as zero; bad capacity is refused', () => {
  const k = new TopK(2);
  k.add('a', Number.NaN);
  k.add('a', -3);
  assert.equal(k.get('a')!.count, 0);
  assert.throws(() => new TopK(0), /capacity must be a positive integer/);
});
