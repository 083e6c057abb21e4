// Two objects sharing a map (CollectorSpec.reuseMaps, native reuseMap): TLS capture's per-thread and per-SSL maps are
// created with request capture's l7 object and reused by the TLS object, whose uprobes write what l7's socket
// programs read (bpf/include/tls_sockets.h). Needs root: real objects are loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { loadCollector } from '../../src/kernel/loader';
import { native } from '../../src/kernel/native';
import { socketLengthSpec, TLS_SHARED_MAPS } from '../../src/collectors/requests/spec';
import { tlsSpec } from '../../src/collectors/tls/spec';

const mapId = (fd: number): number => (native().mapInfo(fd) as { id: number }).id;

test('the TLS object uses the l7 object\'s maps, not copies of its own', needsRoot, async () => {
  const l7 = await loadCollector(socketLengthSpec({ ringBufferBytes: 1 << 16, connectionTableSize: 1024, cpus: 2, sslTableSize: 512 }), { transport: 'ringbuf' });
  try {
    assert.ok(l7.available, l7.unavailableReasons().join('; '));
    const shared = Object.fromEntries(TLS_SHARED_MAPS.map((m) => [m, l7.map(m).fd]));
    const tls = await loadCollector(tlsSpec({ ringBufferBytes: 1 << 16, cpus: 2, sharedMaps: shared }), { transport: 'ringbuf' });
    try {
      assert.ok(tls.available, tls.unavailableReasons().join('; '));
      for (const m of TLS_SHARED_MAPS) assert.equal(mapId(tls.map(m).fd), mapId(l7.map(m).fd), `${m} is one map`);
      assert.equal(tls.map('tls_ssl').maxEntries, 512, 'its size comes with it');
      assert.notEqual(mapId(tls.map('tls_events').fd), mapId(l7.map('l7_events').fd));
      // A write through one object is read through the other.
      const key = Buffer.alloc(8);
      key.writeBigUInt64LE(0xabcn);
      const value = Buffer.alloc(tls.map('tls_socks').valueSize, 7);
      tls.map('tls_socks').update(key, value);
      assert.deepEqual(l7.map('tls_socks').lookup(key), value);
    } finally {
      await tls.close();
    }
  } finally {
    await l7.close();
  }
});

test('a map to reuse that the object does not have is refused by name', needsRoot, async () => {
  const l7 = await loadCollector(socketLengthSpec({ ringBufferBytes: 1 << 16, connectionTableSize: 1024, cpus: 2, sslTableSize: 16 }), { transport: 'ringbuf' });
  try {
    await assert.rejects(loadCollector(tlsSpec({ ringBufferBytes: 1 << 16, cpus: 2, sharedMaps: { no_such_map: l7.map('tls_ssl').fd } }), { transport: 'ringbuf' }),
      /no BPF map named 'no_such_map'/);
  } finally {
    await l7.close();
  }
});
