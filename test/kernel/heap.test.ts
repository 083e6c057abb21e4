// releaseBuffer (native/src/memory.cc) frees a typed array's memory at once, and only when the view is all of its
// ArrayBuffer: a Buffer cut from Node's shared pool, or a slice of a larger buffer, shares memory with others and is
// left alone. What was freed is gone from the process (ArrayBuffer bytes) and reads as empty.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { releaseBuffer } from '../../src/kernel/heap';

test('releaseBuffer frees a whole buffer at once and leaves shared memory alone', () => {
  const before = process.memoryUsage().arrayBuffers;
  const whole = Buffer.alloc(32 << 20, 1); // its own ArrayBuffer
  assert.ok(process.memoryUsage().arrayBuffers - before >= 32 << 20);
  assert.equal(releaseBuffer(whole), true);
  assert.equal(whole.length, 0, 'a released buffer reads as empty');
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'its memory is gone without a collection');
  assert.equal(releaseBuffer(whole), false, 'twice is harmless');

  const pooled = Buffer.from('a short string'); // a slice of Node's 8 KiB pool
  const neighbour = Buffer.from('its neighbour');
  assert.equal(releaseBuffer(pooled), false);
  const part = Buffer.alloc(1 << 20, 2).subarray(16);
  assert.equal(releaseBuffer(part), false);
  assert.equal(pooled.toString(), 'a short string');
  assert.equal(neighbour.toString(), 'its neighbour');
  assert.equal(part.length, (1 << 20) - 16);
});
