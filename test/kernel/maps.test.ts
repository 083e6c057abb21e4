// Map access from userspace against real kernel maps (needs root): arrays, per-CPU arrays and hashes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { u32Key } from '../../src/kernel';
import { DROP_REASON_SLOTS } from '../../src/kernel/drops';
import { TAPIO_KIND_TEST } from '../../src/kernel/layouts.generated';
import { native } from '../../src/kernel/native';
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
    const v = Buffer.alloc(12);
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

test('drop slots read every second make no garbage: sums agree, 2000 reads cost no young-generation collections nor Buffers',
  needsRoot, async (t) => {
    const c = await loadSpine();
    try {
      const drops = c.map('tapio_drops');
      // Above 2^32 on every CPU: the high half of each u64 counts too.
      drops.update(u32Key(TAPIO_KIND_TEST * DROP_REASON_SLOTS + 1), u64(5n + (1n << 32n)));
      const sums = new Map<number, number>();
      drops.forEachU64((k, sum) => { if (sum > 0) sums.set(k, sum); });
      assert.deepEqual([...sums], [[TAPIO_KIND_TEST * DROP_REASON_SLOTS + 1, Number(drops.sumU64(u32Key(TAPIO_KIND_TEST * DROP_REASON_SLOTS + 1)))]]);
      assert.deepEqual(c.readDrops(), [{ kind: TAPIO_KIND_TEST, reason: 1, count: sums.get(TAPIO_KIND_TEST * DROP_REASON_SLOTS + 1) }]);
      // 2000 reads are the agent's ~33 minutes of one object; each used to leave an object, two Buffer views and a
      // BigInt per slot (512 slots: ~150 KB a read, ~300 MB here). Counted, not timed: young-generation collections.
      const external0 = process.memoryUsage().arrayBuffers;
      let minor = 0;
      const obs = new PerformanceObserver((l) => {
        for (const e of l.getEntries()) if (((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
      });
      obs.observe({ entryTypes: ['gc'] });
      for (let i = 0; i < 2000; i++) c.readDrops();
      // Nor memory outside V8's heap: the batch lookup writes into the same Buffers each time (new ones were ~10 KB a
      // read, ~20 MB here, held until a collection).
      const grew = process.memoryUsage().arrayBuffers - external0;
      t.diagnostic(`Buffer memory grew by ${grew} bytes in 2000 reads`);
      assert.ok(grew < 1 << 20, `Buffer memory grew by ${grew} bytes in 2000 reads of the drop slots`);
      await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
      obs.disconnect();
      t.diagnostic(`${minor} young-generation collections in 2000 reads`);
      assert.ok(minor <= 10, `${minor} young-generation collections in 2000 reads of the drop slots`);
    } finally {
      await c.close();
    }
  });

// The addon takes key and value sizes from the map itself: a Buffer of any other size is refused with an error that
// names the call, the map and both sizes, before the kernel could write past it or read past it.
test('native map calls refuse a wrong-sized key or value, naming the map and both sizes', needsRoot, async (t) => {
  const c = await loadSpine();
  try {
    const n = native();
    const hash = c.map('spine_hash'); // key u32, value u64
    const fired = c.map('spine_fired'); // per-CPU array: value u64 per possible CPU
    const cpus = n.numPossibleCpus();
    const refused = (call: string, what: string, given: number, want: number) =>
      (e: unknown) => e instanceof RangeError &&
        e.message === `${call} on map 'spine_hash': ${what} is ${given} bytes, the map's ${what} size is ${want}`;

    await t.test('lookup', () => {
      assert.throws(() => n.mapLookup(hash.fd, Buffer.alloc(2)), refused('mapLookup', 'key', 2, 4));
      assert.throws(() => n.mapLookup(hash.fd, Buffer.alloc(64)), refused('mapLookup', 'key', 64, 4));
      hash.update(u32Key(5), u64(55n));
      assert.equal(n.mapLookup(hash.fd, u32Key(5))!.length, 8, 'the value is the map\'s size, whatever JS thinks');
      assert.equal(n.mapLookup(fired.fd, u32Key(0))!.length, 8 * cpus, 'per-CPU: one 8-byte slot per possible CPU');
    });
    await t.test('update', () => {
      assert.throws(() => n.mapUpdate(hash.fd, Buffer.alloc(3), u64(1n)), refused('mapUpdate', 'key', 3, 4));
      assert.throws(() => n.mapUpdate(hash.fd, u32Key(1), Buffer.alloc(4)), refused('mapUpdate', 'value', 4, 8));
      assert.throws(() => n.mapUpdate(hash.fd, u32Key(1), Buffer.alloc(4096)), refused('mapUpdate', 'value', 4096, 8));
      assert.throws(() => n.mapUpdate(fired.fd, u32Key(1), u64(1n)),
        (e: unknown) => e instanceof RangeError && (e as Error).message.includes(`value is 8 bytes, the map's value size is ${8 * cpus}`));
      assert.equal(hash.lookup(u32Key(1)), undefined, 'nothing was written by the refused calls');
    });
    await t.test('delete', () => {
      assert.throws(() => n.mapDelete(hash.fd, Buffer.alloc(8)), refused('mapDelete', 'key', 8, 4));
      assert.equal(hash.lookup(u32Key(5))!.readBigUInt64LE(0), 55n, 'the entry is still there');
    });
    await t.test('next key', () => {
      assert.throws(() => n.mapNextKey(hash.fd, Buffer.alloc(1)), refused('mapNextKey', 'key', 1, 4));
      assert.equal(n.mapNextKey(hash.fd, null)!.length, 4, 'the first key is the map\'s key size');
    });
    await t.test('batch lookup', () => {
      assert.throws(() => n.mapLookupBatch(hash.fd, 9),
        (e: unknown) => e instanceof RangeError && (e as Error).message === "mapLookupBatch on map 'spine_hash': maxEntries is 9, the map holds 1 to 8");
      assert.throws(() => n.mapLookupBatch(hash.fd, 0), RangeError);
      const r = n.mapLookupBatch(fired.fd)!;
      assert.equal(r.keySize, 4);
      assert.equal(r.valueBytes, 8 * cpus);
      assert.equal(r.values.length, fired.maxEntries * 8 * cpus, 'buffers sized from the map, not from JS');
      // Buffers handed in to be written into must hold the whole map.
      assert.equal(n.mapLookupBatch(fired.fd, undefined, { keys: r.keys, values: r.values })!.values, r.values);
      assert.throws(() => n.mapLookupBatch(fired.fd, undefined, { keys: r.keys, values: r.values.subarray(8) }),
        (e: unknown) => e instanceof RangeError && /mapLookupBatch on map 'spine_fired': into holds 16 key and \d+ value bytes, the map needs 16 and \d+/.test((e as Error).message));
    });
    await t.test('an fd that is not a map the addon handed out', () => {
      const stats = n.enableRunStats();
      try {
        assert.throws(() => n.mapLookup(stats, u32Key(0)), /mapLookup: fd \d+ is not a map fd handed out by BpfObject.mapFd/);
      } finally {
        n.closeFd(stats);
      }
      assert.throws(() => n.mapLookup(0, u32Key(0)), TypeError, 'stdin is no map');
    });
    await t.test('BpfMap.update checks the value length too', () => {
      assert.throws(() => hash.update(u32Key(2), Buffer.alloc(4)), /map spine_hash: value is 4 bytes, the map wants 8/);
      assert.throws(() => fired.update(u32Key(2), Buffer.alloc(12)), /map spine_fired: value is 12 bytes, the map wants 8 \(or \d+: one 8-byte slot per possible CPU\)/);
      const all = Buffer.alloc(8 * cpus);
      for (let i = 0; i < cpus; i++) all.writeBigUInt64LE(BigInt(i + 1), i * 8);
      fired.update(u32Key(2), all); // every CPU's slot given
      assert.equal(fired.sumU64(u32Key(2)), BigInt((cpus * (cpus + 1)) / 2));
    });
  } finally {
    await c.close();
  }
});

test('closeFd closes only fds the addon handed out to be closed; a closed object\'s maps are forgotten', needsRoot, async () => {
  const n = native();
  const c = await loadSpine();
  const mapFd = c.map('spine_hash').fd;
  try {
    assert.throws(() => n.closeFd(mapFd), /closeFd: fd \d+ was not handed out by the addon to be closed/);
    assert.throws(() => n.closeFd(1), /closeFd: fd 1 was not handed out/, 'not even stdout');
    assert.equal(n.mapLookup(mapFd, u32Key(1)), null, 'the map fd still works: closeFd left it alone');
    const stats = n.enableRunStats();
    n.closeFd(stats);
    assert.throws(() => n.closeFd(stats), /was not handed out/, 'an fd is closed once');
  } finally {
    await c.close();
  }
  assert.throws(() => n.mapLookup(mapFd, u32Key(1)), /is not a map fd handed out/, 'the fd number of a closed map is no longer trusted');
});
