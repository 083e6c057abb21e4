// Decodes the request-capture records (bpf/include/l7.h) into plain objects: a piece of one syscall's payload, or
// the close of a connection. Never throws on bad bytes: such records are counted (stage 'decode') and skipped.
import type { DropCounters } from '../../core/drops';
import { HEADER_SIZE, readHeader } from '../record-header';
import { formatAddress } from '../network/address';
import {
  DATA_HEADER_BYTES, KIND_L7_CLOSE, KIND_L7_DATA, L7_CLOSE_RECORD, L7_DATA_RECORD, RECORD_DATA_MAX, SYSCALL_NAMES,
} from './layout';

const D = L7_DATA_RECORD.fields;
const C = L7_CLOSE_RECORD.fields;

export interface ConnectionTuple {
  type: 'ipv4' | 'ipv6';
  localAddress: string;
  localPort: number;
  peerAddress: string;
  peerPort: number;
}

export interface DataRecord {
  kind: 'data';
  /** (struct sock pointer, first-seen time): unique per connection while the agent runs. */
  connection: string;
  timeNs: bigint;
  pid: number;
  tid: number;
  cgroupId: bigint;
  seq: bigint;
  syscallSeq: bigint;
  syscallLength: number;
  /** A copy of the bytes (the batch buffer is reused once the handler returns). */
  data: Uint8Array;
  direction: 'send' | 'recv';
  role: 'unknown' | 'client' | 'server';
  protocol: number;
  flags: number;
  syscall: string;
  tuple: ConnectionTuple;
}

export interface CloseRecord {
  kind: 'close';
  connection: string;
  timeNs: bigint;
  sent: bigint;
  received: bigint;
}

const ROLES = ['unknown', 'client', 'server'] as const;

export function connectionKey(sock: bigint, startNs: bigint): string {
  return `${sock.toString(16)}:${startNs}`;
}

export class RecordDecoder {
  constructor(private readonly drops: DropCounters) {}

  private bad(reason: string): undefined {
    this.drops.count('decode', 'requests.record', reason);
    return undefined;
  }

  decode(view: DataView, at: number, size: number): DataRecord | CloseRecord | undefined {
    if (size < HEADER_SIZE || at + size > view.byteLength) return this.bad('short_record');
    const h = readHeader(view, at);
    if (h.size !== size) return this.bad('size_mismatch');
    const sock = view.getBigUint64(at + 32, true);
    const start = view.getBigUint64(at + 40, true);
    if (h.kind === KIND_L7_CLOSE) {
      if (size !== L7_CLOSE_RECORD.size) return this.bad('size_mismatch');
      return {
        kind: 'close', connection: connectionKey(sock, start), timeNs: h.tsNs,
        sent: view.getBigUint64(at + C.sent.offset, true), received: view.getBigUint64(at + C.received.offset, true),
      };
    }
    if (h.kind !== KIND_L7_DATA) return this.bad('unknown_kind');
    if (size < DATA_HEADER_BYTES) return this.bad('short_record');
    const copied = view.getUint32(at + D.copied.offset, true);
    if (copied > RECORD_DATA_MAX || DATA_HEADER_BYTES + copied !== size) return this.bad('size_mismatch');
    const family = view.getUint16(at + D.family.offset, true);
    const base = view.byteOffset + at;
    const local = formatAddress(family, new Uint8Array(view.buffer, base + D.local_addr.offset, 16));
    const peer = formatAddress(family, new Uint8Array(view.buffer, base + D.peer_addr.offset, 16));
    if (!local || !peer) return this.bad('unknown_family');
    const roleN = view.getUint8(at + D.role.offset);
    return {
      kind: 'data',
      connection: connectionKey(sock, start),
      timeNs: h.tsNs,
      pid: h.pid,
      tid: h.tid,
      cgroupId: h.cgroupId,
      seq: view.getBigUint64(at + D.seq.offset, true),
      syscallSeq: view.getBigUint64(at + D.syscall_seq.offset, true),
      syscallLength: view.getUint32(at + D.syscall_len.offset, true),
      data: new Uint8Array(view.buffer.slice(base + DATA_HEADER_BYTES, base + DATA_HEADER_BYTES + copied)),
      direction: view.getUint8(at + D.direction.offset) === 0 ? 'send' : 'recv',
      role: ROLES[roleN] ?? 'unknown',
      protocol: view.getUint8(at + D.protocol.offset),
      flags: view.getUint8(at + D.flags.offset),
      syscall: SYSCALL_NAMES[view.getUint8(at + D.syscall.offset)] ?? 'other',
      tuple: {
        type: peer.type, localAddress: local.address, localPort: view.getUint16(at + D.local_port.offset, true),
        peerAddress: peer.address, peerPort: view.getUint16(at + D.peer_port.offset, true),
      },
    };
  }
}
