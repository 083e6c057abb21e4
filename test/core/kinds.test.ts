// The event-kind vocabulary config validates against (src/core/kinds.ts) and the kernel's kind table
// (src/kernel/drops.ts, checked against BTF elsewhere) must name the same kinds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KERNEL_EVENT_KINDS } from '../../src/core/kinds';
import { KIND_NAMES } from '../../src/kernel/drops';

test('every kernel kind number has a name in the core vocabulary, and every name a number', () => {
  assert.deepEqual([...new Set(Object.values(KIND_NAMES))].sort(), [...KERNEL_EVENT_KINDS].sort());
});
