// Decodes the request-capture records (bpf/include/l7.h) into plain objects: a piece of one syscall's payload, or
// the close of a connection. Never throws on bad bytes: such records are counted (stage 'decode') and skipped.
// Hot path (one call per record): stream offsets are plain numbers (exact below 2^53 bytes per direction), and the
// addresses are formatted only for a connection not seen before (the caller says which).
import type { DropCounters } from '../../core/drops';
import type { SessionEnd } from '../../protocols/types';
import { HEADER_SIZE } from '../record-header';
import { STRUCTS } from '../../kernel/layouts.generated';
import { formatAddress } from '../network/address';
import {
  CLOSE_RING_FULL, CLOSE_SHED, DATA_HEADER_BYTES, KIND_L7_CLOSE, KIND_L7_DATA, L7_CLOSE_RECORD, L7_DATA_RECORD, RECORD_DATA_MAX, SYSCALL_NAMES,
} from './layout';

const D = L7_DATA_RECORD.fields;
const C = L7_CLOSE_RECORD.fields;
const H = STRUCTS.tapio_header.fields;

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
  /** Like the tuple, only read for a connection the caller does not know yet (0 otherwise). */
  cgroupId: bigint;
  seq: number;
  syscallSeq: number;
  syscallLength: number;
  /** A view into the batch's buffer, not a copy: each batch arrives in a buffer of its own that lives as long as
   *  a view of it does (copying every record's bytes made half the agent's CPU go to garbage collection under
   *  h2load). The parsers copy what they keep past the chunk (unfinished heads, frames and header blocks). */
  data: Uint8Array;
  direction: 'send' | 'recv';
  role: 'unknown' | 'client' | 'server';
  protocol: number;
  flags: number;
  syscall: string;
  /** Only decoded for a connection the caller does not know yet (see decode's `known`). */
  tuple: ConnectionTuple | undefined;
}

export interface CloseRecord {
  kind: 'close';
  connection: string;
  timeNs: bigint;
  sent: bigint;
  received: bigint;
  /** closed; or the kernel let the still-open connection go: sampling rose (l7_shed, `sampled`), or one of its
   *  records did not fit the ring (`ring_full`); it is not captured from then on. */
  reason: SessionEnd;
}

/** A close record's reason (enum l7_close_reason, tls_close_reason: the same values). */
export function closeReason(n: number): SessionEnd {
  return n === CLOSE_SHED ? 'sampled' : n === CLOSE_RING_FULL ? 'ring_full' : 'closed';
}

const ROLES = ['unknown', 'client', 'server'] as const;

export function connectionKey(sock: bigint, startNs: bigint): string {
  return `${sock.toString(16)}:${startNs}`;
}

/** connectionKey from the record bytes, without BigInt arithmetic on the hot path; cached for the last key. */
class KeyCache {
  private sockLo = -1;
  private sockHi = -1;
  private startLo = -1;
  private startHi = -1;
  private key = '';
  get(view: DataView, at: number): string {
    const sl = view.getUint32(at, true), sh = view.getUint32(at + 4, true);
    const tl = view.getUint32(at + 8, true), th = view.getUint32(at + 12, true);
    if (sl !== this.sockLo || sh !== this.sockHi || tl !== this.startLo || th !== this.startHi) {
      this.sockLo = sl; this.sockHi = sh; this.startLo = tl; this.startHi = th;
      this.key = connectionKey(view.getBigUint64(at, true), view.getBigUint64(at + 8, true));
    }
    return this.key;
  }
}

/** The offsets of a record's socket tuple (the same field names in l7 and tls records: bpf/include/sock_tuple.h). */
interface TupleFields {
  family: { offset: number }; local_addr: { offset: number }; peer_addr: { offset: number };
  local_port: { offset: number }; peer_port: { offset: number };
}

/** The record's tuple at `at`, or undefined for an address family we do not know. */
export function readTuple(view: DataView, at: number, f: TupleFields): ConnectionTuple | undefined {
  const base = view.byteOffset + at;
  const family = view.getUint16(at + f.family.offset, true);
  const local = formatAddress(family, new Uint8Array(view.buffer, base + f.local_addr.offset, 16));
  const peer = formatAddress(family, new Uint8Array(view.buffer, base + f.peer_addr.offset, 16));
  if (!local || !peer) return undefined;
  return {
    type: peer.type, localAddress: local.address, localPort: view.getUint16(at + f.local_port.offset, true),
    peerAddress: peer.address, peerPort: view.getUint16(at + f.peer_port.offset, true),
  };
}

const u64 = (view: DataView, at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;

export class RecordDecoder {
  private readonly keys = new KeyCache();
  constructor(private readonly drops: DropCounters) {}

  private bad(reason: string): undefined {
    this.drops.count('decode', 'requests.record', reason);
    return undefined;
  }

  /** `known(connection)`: whether the caller already has the connection (then its tuple is not decoded again). */
  decode(view: DataView, at: number, size: number, known?: (connection: string) => boolean): DataRecord | CloseRecord | undefined {
    if (size < HEADER_SIZE || at + size > view.byteLength) return this.bad('short_record');
    const kind = view.getUint32(at + H.kind.offset, true);
    if (view.getUint32(at + H.size.offset, true) !== size) return this.bad('size_mismatch');
    const connection = this.keys.get(view, at + 32);
    const timeNs = view.getBigUint64(at + H.ts_ns.offset, true);
    if (kind === KIND_L7_CLOSE) {
      if (size !== L7_CLOSE_RECORD.size) return this.bad('size_mismatch');
      return {
        kind: 'close', connection, timeNs,
        sent: view.getBigUint64(at + C.sent.offset, true), received: view.getBigUint64(at + C.received.offset, true),
        reason: closeReason(view.getUint8(at + C.reason.offset)),
      };
    }
    if (kind !== KIND_L7_DATA) return this.bad('unknown_kind');
    if (size < DATA_HEADER_BYTES) return this.bad('short_record');
    const copied = view.getUint32(at + D.copied.offset, true);
    if (copied > RECORD_DATA_MAX || DATA_HEADER_BYTES + copied !== size) return this.bad('size_mismatch');
    const base = view.byteOffset + at;
    let tuple: ConnectionTuple | undefined;
    let cgroupId = 0n;
    if (!known?.(connection)) {
      cgroupId = view.getBigUint64(at + H.cgroup_id.offset, true);
      tuple = readTuple(view, at, D);
      if (!tuple) return this.bad('unknown_family');
    }
    const roleN = view.getUint8(at + D.role.offset);
    return {
      kind: 'data',
      connection,
      timeNs,
      pid: view.getUint32(at + H.pid.offset, true),
      tid: view.getUint32(at + H.tid.offset, true),
      cgroupId,
      seq: u64(view, at + D.seq.offset),
      syscallSeq: u64(view, at + D.syscall_seq.offset),
      syscallLength: view.getUint32(at + D.syscall_len.offset, true),
      data: new Uint8Array(view.buffer, base + DATA_HEADER_BYTES, copied),
      direction: view.getUint8(at + D.direction.offset) === 0 ? 'send' : 'recv',
      role: ROLES[roleN] ?? 'unknown',
      protocol: view.getUint8(at + D.protocol.offset),
      flags: view.getUint8(at + D.flags.offset),
      syscall: SYSCALL_NAMES[view.getUint8(at + D.syscall.offset)] ?? 'other',
      tuple,
    };
  }
}
