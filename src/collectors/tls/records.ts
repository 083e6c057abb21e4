// Decodes TLS plaintext records (bpf/include/tls.h) into the request collector's DataRecord/CloseRecord shapes, so
// the same stream table and protocol sessions take them. A stream is one SSL object of one process: key
// `tls:<pid>:<ssl>:<first seen>`. Bad bytes are counted (stage 'decode', kind 'tls.record') and skipped, never thrown.
import type { DropCounters } from '../../core/drops';
import { HEADER_SIZE, readHeader } from '../record-header';
import { closeReason, readTuple, type CloseRecord, type ConnectionTuple, type DataRecord } from '../requests/records';
import { FLAG_SYSCALL_END, FLAG_SYSCALL_START } from '../requests/layout';
import {
  DATA_HEADER_BYTES, FLAG_CALL_END, FLAG_CALL_START, FUNC_NAMES, KIND_TLS_CLOSE, KIND_TLS_DATA, MAP_HOW_NAMES,
  RECORD_DATA_MAX, TLS_CLOSE_RECORD, TLS_DATA_RECORD,
} from './layout';

const D = TLS_DATA_RECORD.fields;
const C = TLS_CLOSE_RECORD.fields;

export interface TlsDataRecord extends DataRecord {
  ssl: bigint;
  /** struct sock pointer, 0n when the SSL object's socket is not known. */
  sock: bigint;
  /** How the socket was learnt: none, inside, cached, adjacent, next. */
  mapped: string;
  /** Which attached file's probe made the call (its attach cookie; TlsAttacher.fileOfCookie). */
  lib: number;
  /** Always set: the empty placeholder while the socket is unknown. */
  tuple: ConnectionTuple;
}

export interface TlsCloseRecord extends CloseRecord {
  sock: bigint;
}

export function tlsStreamKey(pid: number, ssl: bigint, startNs: bigint): string {
  return `tls:${pid}:${ssl.toString(16)}:${startNs}`;
}

const UNMAPPED = { type: 'ipv4' as const, localAddress: '', localPort: 0, peerAddress: '', peerPort: 0 };

export class TlsRecordDecoder {
  constructor(private readonly drops: DropCounters) {}

  private bad(reason: string): undefined {
    this.drops.count('decode', 'tls.record', reason);
    return undefined;
  }

  decode(view: DataView, at: number, size: number): TlsDataRecord | TlsCloseRecord | undefined {
    if (size < HEADER_SIZE || at + size > view.byteLength) return this.bad('short_record');
    const h = readHeader(view, at);
    if (h.size !== size) return this.bad('size_mismatch');
    if (h.kind === KIND_TLS_CLOSE) {
      if (size !== TLS_CLOSE_RECORD.size) return this.bad('size_mismatch');
      const ssl = view.getBigUint64(at + C.ssl.offset, true);
      return {
        kind: 'close', connection: tlsStreamKey(h.pid, ssl, view.getBigUint64(at + C.start_ns.offset, true)), timeNs: h.tsNs,
        sock: view.getBigUint64(at + C.sock.offset, true),
        sent: view.getBigUint64(at + C.sent.offset, true), received: view.getBigUint64(at + C.received.offset, true),
        reason: closeReason(view.getUint8(at + C.reason.offset)),
      };
    }
    if (h.kind !== KIND_TLS_DATA) return this.bad('unknown_kind');
    if (size < DATA_HEADER_BYTES) return this.bad('short_record');
    const ssl = view.getBigUint64(at + D.ssl.offset, true);
    const copied = view.getUint32(at + D.copied.offset, true);
    if (copied > RECORD_DATA_MAX || DATA_HEADER_BYTES + copied !== size) return this.bad('size_mismatch');
    const sock = view.getBigUint64(at + D.sock.offset, true);
    const base = view.byteOffset + at;
    let tuple: DataRecord['tuple'] = UNMAPPED;
    if (sock !== 0n) {
      const read = readTuple(view, at, D);
      if (!read) return this.bad('unknown_family');
      tuple = read;
    }
    const f = view.getUint8(at + D.flags.offset);
    const data = new Uint8Array(view.buffer.slice(base + DATA_HEADER_BYTES, base + DATA_HEADER_BYTES + copied));
    const direction = view.getUint8(at + D.direction.offset) === 0 ? 'send' : 'recv';
    return {
      kind: 'data',
      connection: tlsStreamKey(h.pid, ssl, view.getBigUint64(at + D.start_ns.offset, true)),
      timeNs: h.tsNs, pid: h.pid, tid: h.tid, cgroupId: h.cgroupId,
      seq: Number(view.getBigUint64(at + D.seq.offset, true)),
      syscallSeq: Number(view.getBigUint64(at + D.call_seq.offset, true)),
      syscallLength: view.getUint32(at + D.call_len.offset, true),
      data, direction,
      role: 'unknown',
      protocol: 0,
      flags: (f & FLAG_CALL_START ? FLAG_SYSCALL_START : 0) | (f & FLAG_CALL_END ? FLAG_SYSCALL_END : 0),
      syscall: FUNC_NAMES[view.getUint8(at + D.func.offset)] ?? 'SSL_other',
      tuple, ssl, sock,
      mapped: MAP_HOW_NAMES[view.getUint8(at + D.mapped.offset)] ?? 'none',
      lib: view.getUint32(at + D.lib.offset, true),
    };
  }
}

const PREFACE = 'PRI * HTTP/2.0';
const METHOD = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE) /;

/** Who this process is on the stream, from the first plaintext bytes: TLS gives no SYN to learn it from, and an
 *  HTTP/2 server may speak first (its SETTINGS), so "who spoke first" would be wrong. */
export function roleFromFirstBytes(direction: 'send' | 'recv', data: Uint8Array): 'client' | 'server' | 'unknown' {
  if (data.length === 0) return 'unknown';
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(16, data.length)).toString('latin1');
  const sent = direction === 'send';
  if (head.startsWith(PREFACE) || METHOD.test(head)) return sent ? 'client' : 'server';
  if (head.startsWith('HTTP/1.')) return sent ? 'server' : 'client';
  // A bare HTTP/2 frame first: a server's SETTINGS sent before the client's preface was read, or (received) a
  // client that missed its own preface: neither happens mid-stream with a known start, so guess by direction.
  if (data.length >= 9 && data[3] === 0x04) return sent ? 'server' : 'client';
  return 'unknown';
}
