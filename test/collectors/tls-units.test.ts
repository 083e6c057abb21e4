// TLS capture's pure parts (no root): the ELF reader on real files and on garbage (fuzzed: an error, never a
// throw), maps parsing, the record decoder against random and truncated bytes (counted, never thrown), the role
// from the first plaintext, and the hold that waits for an SSL object's socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { elfExports } from '../../src/collectors/tls/elf';
import { parseMapsLine } from '../../src/collectors/tls/discovery';
import { roleFromFirstBytes, TlsRecordDecoder, type TlsDataRecord } from '../../src/collectors/tls/records';
import { UnmappedHold } from '../../src/collectors/tls/hold';
import { DATA_HEADER_BYTES, KIND_TLS_DATA, TLS_DATA_RECORD } from '../../src/collectors/tls/layout';
import { DropCounters } from '../../src/core/drops';

const WANT = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex'];
const LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';

test('the ELF reader finds the SSL_* exports of libssl and node, none in libc', { skip: !fs.existsSync(LIBSSL) && 'no libssl.so.3' }, () => {
  const ssl = elfExports(LIBSSL, WANT);
  assert.ok(ssl.ok);
  assert.deepEqual([...ssl.found].sort(), [...WANT].sort());
  const node = elfExports(process.execPath, WANT);
  assert.ok(node.ok && node.found.has('SSL_write') && node.found.has('SSL_read'), 'node exports its OpenSSL');
  const libc = elfExports('/lib/x86_64-linux-gnu/libc.so.6', WANT);
  assert.ok(libc.ok && libc.found.size === 0);
});

test('a libssl built for another architecture (e.g. arm64 under qemu-user) is refused with the reason', { skip: !fs.existsSync(LIBSSL) && 'no libssl.so.3' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-elf-'));
  try {
    const other = Buffer.from(fs.readFileSync(LIBSSL));
    other.writeUInt16LE(other.readUInt16LE(0x12) === 183 ? 62 : 183, 0x12); // EM_AARCH64 <-> EM_X86_64
    const f = path.join(dir, 'libssl.so.3');
    fs.writeFileSync(f, other);
    const r = elfExports(f, WANT);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', /another architecture \(ELF machine (183|62); this node's is (62|183)\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the ELF reader answers garbage, truncated and hostile files with an error, never a throw (fuzzed)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-elf-'));
  try {
    const real = fs.existsSync(LIBSSL) ? fs.readFileSync(LIBSSL) : Buffer.alloc(0);
    const f = path.join(dir, 'x');
    for (let i = 0; i < 300; i++) {
      let b: Buffer;
      if (i % 3 === 0 || real.length === 0) b = randomBytes(1 + (i * 37) % 4096);
      else if (i % 3 === 1) b = real.subarray(0, 64 + ((i * 7919) % Math.max(1, real.length - 64)));
      else {
        b = Buffer.from(real.subarray(0, 65536));
        for (let k = 0; k < 16; k++) b[(i * 131 + k * 977) % b.length] = (i * k) & 0xff; // flip header/section bytes
      }
      if (i % 5 === 0) b.write('\x7fELF', 0, 'latin1');
      fs.writeFileSync(f, b);
      const r = elfExports(f, WANT);
      assert.ok(r.ok || typeof r.error === 'string');
    }
    assert.equal(elfExports(path.join(dir, 'missing'), WANT).ok, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('maps lines: executable file mappings only', () => {
  assert.deepEqual(parseMapsLine('7f1c2a400000-7f1c2a49b000 r-xp 00022000 fe:00 5597606                    /usr/lib/x86_64-linux-gnu/libssl.so.3'),
    { dev: 'fe:00', inode: '5597606', path: '/usr/lib/x86_64-linux-gnu/libssl.so.3' });
  assert.equal(parseMapsLine('7f1c2a400000-7f1c2a49b000 r--p 00000000 fe:00 5597606 /usr/lib/x86_64-linux-gnu/libssl.so.3'), undefined, 'not executable');
  assert.equal(parseMapsLine('7ffd1000-7ffd2000 r-xp 00000000 00:00 0                          [vdso]'), undefined);
  assert.equal(parseMapsLine('55d0-55e0 r-xp 00000000 fe:00 12 /usr/bin/node (deleted)'), undefined, 'replaced on disk');
  assert.equal(parseMapsLine('garbage'), undefined);
});

test('the record decoder counts and skips random and truncated records, never throws (fuzzed)', () => {
  const drops = new DropCounters();
  const d = new TlsRecordDecoder(drops);
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(8 + (i % 300));
    if (i % 2 === 0) { b.writeUInt32LE(KIND_TLS_DATA, 0); b.writeUInt32LE(b.length, 4); }
    d.decode(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
  }
  assert.ok(drops.total({ stage: 'decode' }) > 1000);
  // A well-formed record decodes exactly.
  const F = TLS_DATA_RECORD.fields;
  const payload = Buffer.from('GET / HTTP/1.1\r\n');
  const b = Buffer.alloc(DATA_HEADER_BYTES + payload.length);
  b.writeUInt32LE(KIND_TLS_DATA, 0); b.writeUInt32LE(b.length, 4); b.writeUInt32LE(42, 24);
  b.writeBigUInt64LE(0xabcn, F.ssl.offset); b.writeBigUInt64LE(7n, F.start_ns.offset); b.writeBigUInt64LE(100n, F.seq.offset);
  b.writeUInt32LE(payload.length, F.copied.offset); b.writeUInt32LE(payload.length, F.call_len.offset);
  payload.copy(b, DATA_HEADER_BYTES);
  const r = d.decode(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length) as TlsDataRecord;
  assert.equal(r.kind, 'data');
  assert.equal(r.connection, 'tls:42:abc:7');
  assert.equal(r.seq, 100);
  assert.equal(r.sock, 0n);
  assert.equal(r.mapped, 'none');
  assert.equal(r.tuple.localAddress, '', 'unmapped: no tuple');
  assert.equal(Buffer.from(r.data).toString(), payload.toString());
});

test('the role comes from the first plaintext, whoever speaks first', () => {
  const b = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
  assert.equal(roleFromFirstBytes('send', b('GET / HTTP/1.1\r\n')), 'client');
  assert.equal(roleFromFirstBytes('recv', b('POST /x HTTP/1.1\r\n')), 'server');
  assert.equal(roleFromFirstBytes('send', b('HTTP/1.1 200 OK\r\n')), 'server');
  assert.equal(roleFromFirstBytes('recv', b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'server');
  assert.equal(roleFromFirstBytes('send', new Uint8Array([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100])), 'server', 'an HTTP/2 server\'s SETTINGS first');
  assert.equal(roleFromFirstBytes('send', b('\x16\x03\x01xyz')), 'unknown');
});

function rec(connection: string, sock: bigint, n: number): TlsDataRecord {
  return {
    kind: 'data', connection, timeNs: 0n, pid: 1, tid: 1, cgroupId: 1n, seq: n, syscallSeq: n, syscallLength: 1,
    data: new Uint8Array([n]), direction: 'send', role: 'client', protocol: 0, flags: 3, syscall: 'SSL_write',
    tuple: sock ? { type: 'ipv4', localAddress: '127.0.0.1', localPort: 5, peerAddress: '127.0.0.1', peerPort: 443 } : { type: 'ipv4', localAddress: '', localPort: 0, peerAddress: '', peerPort: 0 },
    ssl: 1n, sock, mapped: sock ? 'cached' : 'none', lib: 0,
  };
}

test('the hold releases an SSL stream\'s first records with the socket learnt later, else unmapped past its bounds', () => {
  const out: TlsDataRecord[] = [];
  const h = new UnmappedHold((r) => out.push(r), 3, 1 << 20, 1000);
  h.data(rec('a', 0n, 0), 0);
  assert.equal(out.length, 0, 'held');
  h.data(rec('a', 9n, 1), 10);
  assert.deepEqual(out.map((r) => [Number(r.seq), r.tuple.peerPort, r.sock]), [[0, 443, 9n], [1, 443, 9n]], 'in order, with the tuple');
  h.data(rec('a', 0n, 2), 20);
  assert.equal(out.length, 3, 'an open stream passes straight through');
  out.length = 0;
  for (let i = 0; i < 3; i++) h.data(rec('b', 0n, i), 0);
  assert.equal(out.length, 3, 'released unmapped at the record bound');
  assert.equal(out[0]!.tuple.localAddress, '');
  out.length = 0;
  h.data(rec('c', 0n, 0), 0);
  h.expire(500);
  assert.equal(out.length, 0);
  h.expire(1000);
  assert.equal(out.length, 1, 'released unmapped after maxAgeMs');
  assert.deepEqual(h.counters, { held_records: 5, released_mapped: 1, released_unmapped: 2 });
});
