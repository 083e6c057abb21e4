// Map access from userspace against real kernel maps (needs root): arrays, per-CPU arrays and hashes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { u32Key } from '../../src/kernel';
import { needsRoot } from '../helpers/root';
import { loadSpine } from '../helpers/spine';

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

test('hash map: update, lookup, iterate, delete, and a full map refuses with the kernel\'s reason', needsRoot, async () => {
  const c = await loadSpine();
  try {
    const m = c.map('spine_hash');
    assert.equal(m.type, 'hash');
    assert.equal(m.maxEntries, 8);
    for (let i = 1; i <= 8; i++) m.update(u32Key(i * 10), u64(BigInt(i * 100)));
    assert.equal(m.lookup(u32Key(30))!.readBigUInt64LE(0), 300n);
    assert.equal(m.lookup(u32Key(31)), undefined);
    const keys = [...m.keys()].map((k) => k.readUInt32LE(0)).sort((a, b) => a - b);
    assert.deepEqual(keys, [10, 20, 30, 40, 50, 60, 70, 80]);
    assert.throws(() => m.update(u32Key(99), u64(1n)), /map update: Argument list too long \(errno 7\)/);
    assert.equal(m.delete(u32Key(30)), true);
    assert.equal(m.delete(u32Key(30)), false);
    assert.equal(m.count(), 7);
    assert.throws(() => m.lookup(Buffer.alloc(2)), /key is 2 bytes, the map wants 4/);
  } finally {
    await c.close();
  }
});

test('array and per-CPU array: values per CPU are summed; the BPF side sees what userspace wrote', needsRoot, async () => {
  const c = await loadSpine();
  try {
    const fired = c.map('spine_fired');
    assert.equal(fired.perCpu, true);
    const perCpu = fired.perCpuValues(u32Key(3))!;
    assert.equal(perCpu.length >= os.cpus().length, true, 'one value per possible CPU');
    fired.update(u32Key(2), u64(5n)); // the same value written to every CPU's slot
    assert.equal(fired.sumU64(u32Key(2)), 5n * BigInt(perCpu.length));

    const settings = c.map('spine_test_settings');
    assert.equal(settings.type, 'array');
    const v = Buffer.alloc(8);
    v.writeUInt32LE(process.pid, 0);
    v.writeUInt32LE(7, 4);
    settings.update(u32Key(0), v);
    assert.deepEqual(settings.lookup(u32Key(0)), v);
    let n = 0;
    c.openRing('spine_events', (b) => { n += b.count; });
    os.setPriority(process.pid, 0);
    for (let i = 0; i < 200 && n < 7; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(n, 7, 'the program used the burst size userspace wrote');
  } finally {
    await c.close();
  }
});

test('lookupAll reads a whole map in one call and agrees with entry-by-entry reads', needsRoot, async () => {
  const c = await loadSpine();
  try {
    const h = c.map('spine_hash');
    for (let i = 1; i <= 5; i++) h.update(u32Key(i), u64(BigInt(i * 7)));
    const all = h.lookupAll().map(({ key, value }) => [key.readUInt32LE(0), value.readBigUInt64LE(0)] as const).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(all, [[1, 7n], [2, 14n], [3, 21n], [4, 28n], [5, 35n]]);
    const fired = c.map('spine_fired');
    fired.update(u32Key(1), u64(3n));
    const rows = fired.lookupAll();
    assert.equal(rows.length, fired.maxEntries, 'an array has every slot');
    const slot1 = rows.find((r) => r.key.readUInt32LE(0) === 1)!;
    assert.equal(fired.sumPerCpuU64(slot1.value), fired.sumU64(u32Key(1)));
  } finally {
    await c.close();
  }
});
