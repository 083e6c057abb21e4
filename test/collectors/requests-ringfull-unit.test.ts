// The userspace side of a connection let go because its record did not fit the ring (no root): kernel records, as
// bytes in the generated layouts, through the record decoder, the stream table and the protocol sessions. What
// userspace got is reported or counted lost under `ring_full` (requests in flight, a request whose head or HEADERS
// frame header it got but not the rest); what it did not get is the kernel's to count (bpf/include/l7_ringfull.h), so
// it is not counted here; nothing is reported after the hole, and a record still on its way when the close record
// came (another thread's syscall) opens no session in the middle of a stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DropCounters } from '../../src/core/drops';
import type { TapioEvent } from '../../src/core/event';
import { RecordDecoder } from '../../src/collectors/requests/records';
import { RequestSessions } from '../../src/collectors/requests/sessions';
import { StreamTable } from '../../src/collectors/requests/streams';
import { CLOSE_RING_FULL, FLAG_SYSCALL_END, FLAG_SYSCALL_START, KIND_L7_CLOSE, KIND_L7_DATA, L7_CLOSE_RECORD, L7_DATA_RECORD } from '../../src/collectors/requests/layout';
import { TlsRecordDecoder } from '../../src/collectors/tls/records';
import { KIND_TLS_CLOSE, TLS_CLOSE_RECORD } from '../../src/collectors/tls/layout';
import { ProtocolSession } from '../../src/protocols/session';
import { F, frame, getRequest, block, hp, PREFACE, T } from '../protocols/h2-build';

const D = L7_DATA_RECORD.fields;
const C = L7_CLOSE_RECORD.fields;
const SOCK = 0xffff8880_12345678n;
const START = 1_000n;

/** One syscall's bytes as an l7_data_record of a server end on 127.0.0.1:8080 (direction: 0 send, 1 recv). */
function dataRecord(direction: 0 | 1, seq: number, bytes: Uint8Array, timeNs: bigint): DataView {
  const b = Buffer.alloc(D.data.offset + bytes.length);
  b.writeUInt32LE(KIND_L7_DATA, D['h.kind'].offset);
  b.writeUInt32LE(b.length, D['h.size'].offset);
  b.writeBigUInt64LE(timeNs, D['h.ts_ns'].offset);
  b.writeBigUInt64LE(SOCK, D.sock.offset);
  b.writeBigUInt64LE(START, D.conn_start_ns.offset);
  b.writeBigUInt64LE(BigInt(seq), D.seq.offset);
  b.writeBigUInt64LE(BigInt(seq), D.syscall_seq.offset);
  b.writeUInt32LE(bytes.length, D.syscall_len.offset);
  b.writeUInt32LE(bytes.length, D.copied.offset);
  b.writeUInt16LE(2, D.family.offset);
  b.writeUInt16LE(8080, D.local_port.offset);
  b.writeUInt16LE(40000, D.peer_port.offset);
  b.writeUInt8(direction, D.direction.offset);
  b.writeUInt8(2, D.role.offset); // server
  b.writeUInt8(FLAG_SYSCALL_START | FLAG_SYSCALL_END, D.flags.offset);
  b.set([127, 0, 0, 1], D.local_addr.offset);
  b.set([127, 0, 0, 1], D.peer_addr.offset);
  Buffer.from(bytes).copy(b, D.data.offset);
  return new DataView(b.buffer, b.byteOffset, b.length);
}

function closeRecord(reason: number, timeNs: bigint): DataView {
  const b = Buffer.alloc(L7_CLOSE_RECORD.size);
  b.writeUInt32LE(KIND_L7_CLOSE, C['h.kind'].offset);
  b.writeUInt32LE(b.length, C['h.size'].offset);
  b.writeBigUInt64LE(timeNs, C['h.ts_ns'].offset);
  b.writeBigUInt64LE(SOCK, C.sock.offset);
  b.writeBigUInt64LE(START, C.conn_start_ns.offset);
  b.writeUInt8(reason, C.reason.offset);
  return new DataView(b.buffer, b.byteOffset, b.length);
}

/** The request collector's userspace path, as index.ts wires it: decoder, stream table, protocol sessions. */
function pipeline() {
  const drops = new DropCounters();
  const sessions = new RequestSessions(drops);
  const events: TapioEvent[] = [];
  const table = new StreamTable(16, (info) => sessions.consumer(info, (e) => events.push(e)));
  const decoder = new RecordDecoder(drops);
  const seq = [0, 0];
  let t = 10n;
  const feed = (v: DataView) => {
    const r = decoder.decode(v, 0, v.byteLength, (c) => table.has(c));
    if (r?.kind === 'data') table.data(r); else if (r?.kind === 'close') table.close(r);
  };
  return {
    drops, sessions, events, table,
    /** One syscall of the server end: 'recv' from the client, 'send' to it. */
    syscall(dir: 'send' | 'recv', ...parts: Uint8Array[]) {
      const d = dir === 'send' ? 0 : 1;
      const bytes = Buffer.concat(parts);
      feed(dataRecord(d, seq[d]!, bytes, t++));
      seq[d]! += bytes.length;
    },
    close(reason: number) { feed(closeRecord(reason, t++)); },
    lost: (reason: string) => drops.rows().filter((r) => r.stage === 'protocol' && r.reason === reason).reduce((n, r) => n + r.count, 0),
  };
}

test('HTTP/2: let go with the ring full, the streams in flight and a cut-off header block are lost as ring_full, once', () => {
  const p = pipeline();
  const ok = frame(T.HEADERS, F.END_HEADERS, 1, block(hp.indexed(8)));
  p.syscall('recv', PREFACE, frame(T.SETTINGS, 0, 0), frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, getRequest('/whole')));
  p.syscall('send', frame(T.SETTINGS, 0, 0), ok, frame(T.DATA, F.END_STREAM, 1, Buffer.from('hi')));
  // Stream 3 whole (in flight: no answer yet), stream 5's HEADERS frame header and part of its block; the rest of
  // that syscall was in the record that did not fit.
  const five = frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 5, getRequest('/cut'));
  p.syscall('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 3, getRequest('/in-flight')), five.subarray(0, 12));
  p.close(CLOSE_RING_FULL);
  // A record of the same connection still on its way (another thread's syscall): no session from the middle.
  p.syscall('recv', frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 7, getRequest('/after')));
  p.sessions.settle();
  assert.deepEqual(p.events.map((e) => e.request!.target), ['/whole'], 'only what completed before the hole is reported');
  assert.equal(p.lost('ring_full'), 2, 'stream 3 in flight and stream 5 whose frame header userspace got');
  assert.equal(p.sessions.totals.lost.ring_full, 2);
  assert.equal(p.drops.total({ stage: 'protocol' }), 2, 'no other reason: nothing counted twice');
  assert.equal(p.table.counters.ringFull, 1);
  assert.equal(p.table.counters.recordsAfterEnd, 1);
  assert.equal(p.table.size, 0);
});

test('HTTP/1: let go with the ring full, the request waiting for its answer and a head cut off are lost as ring_full', () => {
  const p = pipeline();
  const get = (path: string) => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  p.syscall('recv', get('/whole'));
  p.syscall('send', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
  p.syscall('recv', get('/waiting'));
  p.syscall('recv', get('/cut').subarray(0, 20)); // the rest of this request's head was in the record that did not fit
  p.close(CLOSE_RING_FULL);
  p.sessions.settle();
  assert.deepEqual(p.events.map((e) => e.request!.target), ['/whole']);
  assert.equal(p.lost('ring_full'), 2);
  assert.equal(p.drops.total({ stage: 'protocol' }), 2);
});

test('a head cut off by the end of capture is lost only where capture stopped, not where the peer closed', () => {
  for (const [end, lost] of [['ring_full', 1], ['sampled', 1], ['closed', 0]] as const) {
    const s = new ProtocolSession('server');
    const part = Buffer.from('POST /upload HTTP/1.1\r\nHost: x\r\nContent-');
    s.push({ direction: 'recv', data: part, length: part.length, timeNs: 1n });
    s.close(2n, end);
    assert.equal(s.counters.lost[end], lost, end);
  }
});

test('close records: reason ring_full decoded for plaintext and TLS streams alike', () => {
  const drops = new DropCounters();
  const plain = new RecordDecoder(drops).decode(closeRecord(CLOSE_RING_FULL, 5n), 0, L7_CLOSE_RECORD.size);
  assert.equal(plain?.kind === 'close' && plain.reason, 'ring_full');
  assert.equal(((r) => r?.kind === 'close' && r.reason)(new RecordDecoder(drops).decode(closeRecord(0, 5n), 0, L7_CLOSE_RECORD.size)), 'closed');
  const b = Buffer.alloc(TLS_CLOSE_RECORD.size);
  b.writeUInt32LE(KIND_TLS_CLOSE, TLS_CLOSE_RECORD.fields['h.kind'].offset);
  b.writeUInt32LE(b.length, TLS_CLOSE_RECORD.fields['h.size'].offset);
  b.writeUInt8(CLOSE_RING_FULL, TLS_CLOSE_RECORD.fields.reason.offset);
  const tls = new TlsRecordDecoder(drops).decode(new DataView(b.buffer, b.byteOffset, b.length), 0, b.length);
  assert.equal(tls?.kind === 'close' && tls.reason, 'ring_full');
  assert.equal(drops.total({}), 0, 'nothing refused');
});
