// The one backoff every retry loop uses: doubling up to the ceiling, reset after success, jitter within its band.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../src/core/backoff';

test('delays double up to the ceiling and start again after reset', () => {
  const b = new Backoff(100, 1000);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000]);
  assert.equal(b.peek(), 1000);
  b.reset();
  assert.equal(b.next(), 100);
});

test('jitter stays within its band: spread is ±20%, half is 50-100%', () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.equal(new Backoff(1000, 8000, 'spread', low).next(), 800);
  assert.ok(Math.abs(new Backoff(1000, 8000, 'spread', high).next() - 1200) < 0.01);
  assert.equal(new Backoff(1000, 8000, 'half', low).next(), 500);
  assert.ok(Math.abs(new Backoff(1000, 8000, 'half', high).next() - 1000) < 0.01);
  const b = new Backoff(1000, 8000, 'half', low);
  b.next();
  assert.equal(b.next(), 1000, 'jitter does not change the doubling underneath');
});
