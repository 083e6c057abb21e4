// Turns TCP records (bpf/include/network.h) into network.tcp.* TapioEvents with OpenTelemetry attribute names
// (network.transport, network.type, network.local.address, network.peer.port, ...) and Tapio's extras (bytes, RTT,
// retransmits, resets, lifetime). Never throws on bad bytes: such records are counted (stage 'decode') and skipped.
import * as os from 'node:os';
import type { DropCounters } from '../../core/drops';
import type { Attributes, TapioEvent } from '../../core/event';
import { HEADER_SIZE, cgroupAttribute, readHeader } from '../record-header';
import { formatAddress } from './address';
import {
  FLAG_OWNER_UNKNOWN, FLAG_RESET_RECEIVED, FLAG_RESET_SENT, KIND_ACCEPT, KIND_CLOSE, KIND_CONNECT,
  KIND_CONNECT_FAILED, ROLE_CLIENT, ROLE_SERVER, TCP_RECORD,
} from './layout';

export interface NetworkDecoderOptions {
  drops: DropCounters;
  toUnixNano: (bootNs: bigint) => bigint;
}

const T = TCP_RECORD.fields;
const KIND_NAMES: Record<number, string> = {
  [KIND_CONNECT]: 'network.tcp.connect',
  [KIND_ACCEPT]: 'network.tcp.accept',
  [KIND_CLOSE]: 'network.tcp.close',
  [KIND_CONNECT_FAILED]: 'network.tcp.connect_failed',
};

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** ECONNREFUSED for 111, and so on; `errno_<n>` for numbers this platform does not name. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno_${n}`;
}

export class NetworkDecoder {
  readonly counts: Record<string, number> = {};
  /** Events whose owning process was not known (connection older than the agent, or its state evicted). */
  ownerUnknown = 0;

  constructor(private readonly o: NetworkDecoderOptions) {}

  private bad(kind: string, reason: string): undefined {
    this.o.drops.count('decode', kind, reason);
    return undefined;
  }

  decode(view: DataView, at: number, size: number): TapioEvent | undefined {
    if (size < HEADER_SIZE || at + size > view.byteLength) return this.bad('network.unknown', 'short_record');
    const h = readHeader(view, at);
    const name = KIND_NAMES[h.kind];
    if (!name) return this.bad('network.unknown', 'unknown_kind');
    if (size < TCP_RECORD.size || h.size !== TCP_RECORD.size) return this.bad(name, 'size_mismatch');
    const family = view.getUint16(at + T.family.offset, true);
    const local = formatAddress(family, new Uint8Array(view.buffer, view.byteOffset + at + T.local_addr.offset, 16));
    const peer = formatAddress(family, new Uint8Array(view.buffer, view.byteOffset + at + T.peer_addr.offset, 16));
    if (!local || !peer) return this.bad(name, 'unknown_family');

    const role = view.getUint8(at + T.role.offset);
    const flags = view.getUint8(at + T.flags.offset);
    const a: Attributes = {
      'network.transport': 'tcp',
      'network.type': peer.type,
      'network.local.address': local.address,
      'network.local.port': view.getUint16(at + T.local_port.offset, true),
      'network.peer.address': peer.address,
      'network.peer.port': view.getUint16(at + T.peer_port.offset, true),
      'tapio.network.direction': role === ROLE_CLIENT ? 'outbound' : role === ROLE_SERVER ? 'inbound' : 'unknown',
      'tapio.cgroup.id': cgroupAttribute(h.cgroupId),
    };
    if (flags & FLAG_OWNER_UNKNOWN) {
      // The connection predates the agent or its state was evicted: the event stands (so it is not a drop), its
      // owner is lost; say so on the event and count it for status.
      a['tapio.process.unknown'] = true;
      this.ownerUnknown++;
    } else if (h.pid !== 0) {
      a['process.pid'] = h.pid;
    }
    const startNs = view.getBigUint64(at + T.start_ns.offset, true);
    const durationNs = startNs > 0n && h.tsNs >= startNs ? Number(h.tsNs - startNs) : undefined;
    const error = view.getInt32(at + T.error.offset, true);
    const srttUs = view.getUint32(at + T.srtt_us.offset, true);
    let severity: TapioEvent['severity'];

    if (h.kind === KIND_CONNECT) {
      if (durationNs !== undefined) a['tapio.duration_ns'] = durationNs; // the handshake
      a['tapio.tcp.srtt_us'] = srttUs;
    } else if (h.kind === KIND_CLOSE) {
      a['tapio.bytes.sent'] = Number(view.getBigUint64(at + T.bytes_sent.offset, true));
      a['tapio.bytes.received'] = Number(view.getBigUint64(at + T.bytes_received.offset, true));
      a['tapio.tcp.srtt_us'] = srttUs;
      a['tapio.tcp.retransmits'] = view.getUint32(at + T.retransmits.offset, true);
      if (durationNs !== undefined) a['tapio.duration_ns'] = durationNs; // the connection's lifetime
      if (flags & FLAG_RESET_RECEIVED) a['tapio.tcp.reset'] = 'received';
      else if (flags & FLAG_RESET_SENT) a['tapio.tcp.reset'] = 'sent';
      if (error > 0) a['error.type'] = errnoName(error);
    } else if (h.kind === KIND_CONNECT_FAILED) {
      // sk_err says why: ECONNREFUSED (reset in reply to the SYN), ETIMEDOUT (no answer), EHOSTUNREACH, ...
      // 0 means the application gave up first (closed a socket still connecting).
      a['error.type'] = error > 0 ? errnoName(error) : 'aborted';
      a['tapio.tcp.retransmits'] = view.getUint32(at + T.retransmits.offset, true);
      if (durationNs !== undefined) a['tapio.duration_ns'] = durationNs;
      severity = 'WARN';
    }
    this.counts[name] = (this.counts[name] ?? 0) + 1;
    const event: TapioEvent = { name, timeUnixNano: this.o.toUnixNano(h.tsNs), attributes: a, cgroupId: h.cgroupId };
    if (severity) event.severity = severity;
    return event;
  }
}
