// The stream table (src/collectors/requests/streams.ts; no root): records become each connection's byte stream in
// order, and a jump in the stream offset becomes exactly one gap of the right size. The frame walker ends a syscall
// whose tail was passed over with a record that carries no bytes and only says where the syscall ended; that record
// handed on its gap but left the stream's position behind, so the next record repeated the gap (the parser then
// skipped real bytes and lost requests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamTable, type StreamChunk } from '../../src/collectors/requests/streams';
import type { DataRecord } from '../../src/collectors/requests/records';
import { FLAG_SYSCALL_END, FLAG_SYSCALL_START } from '../../src/collectors/requests/layout';

const tuple = { type: 'ipv4' as const, localAddress: '127.0.0.1', localPort: 1, peerAddress: '127.0.0.1', peerPort: 2 };
function rec(seq: number, data: string, syscallSeq: number, syscallLength: number, flags: number): DataRecord {
  return { kind: 'data', connection: 'c', timeNs: 1n, pid: 1, tid: 1, cgroupId: 0n, seq, syscallSeq, syscallLength,
    data: Buffer.from(data), direction: 'send', role: 'client', protocol: 2, flags, syscall: 'write', tuple };
}

test('a record that only ends its syscall after a skipped tail hands on the gap once', () => {
  const chunks: StreamChunk[] = [];
  const table = new StreamTable(16, () => ({ push: (c) => chunks.push(c), close: () => undefined }));
  // syscall 1: bytes 0-9 "0123456789", then 90 bytes passed over, then the end-only record at 100.
  table.data(rec(0, '0123456789', 0, 100, FLAG_SYSCALL_START));
  table.data(rec(100, '', 0, 100, FLAG_SYSCALL_END));
  // syscall 2: bytes 100-104, whole.
  table.data(rec(100, 'abcde', 100, 5, FLAG_SYSCALL_START | FLAG_SYSCALL_END));
  const shape = chunks.map((c) => (c.data.length ? Buffer.from(c.data).toString() : `gap ${c.length}`));
  assert.deepEqual(shape, ['0123456789', 'gap 90', 'abcde']);
  assert.equal(chunks.reduce((n, c) => n + c.length, 0), 105, 'the stream is exactly as long as what was sent');
  assert.equal(table.counters.gaps, 1);
  assert.equal(table.counters.gapBytes, 90);
});
