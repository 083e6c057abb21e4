// The one event shape every collector emits and every exporter consumes.
// Attribute names follow the OpenTelemetry semantic conventions (process.pid, network.peer.address, container.id,
// k8s.pod.name, ...); Tapio's own extras live under `tapio.*`.
import type { RequestRecord } from './request';

import type { AttributeValue, Attributes } from './attributes';

export type { AttributeValue, Attributes } from './attributes';

export interface TapioEvent {
  /** `event.name`, e.g. `process.exec`, `network.tcp.close`. */
  name: string;
  /** Wall-clock time of the kernel event, nanoseconds since the Unix epoch. */
  timeUnixNano: bigint;
  /** Flat attributes; identity (container.*, k8s.*) is added by src/identity before export. */
  attributes: Attributes;
  /** Kernel cgroup id of the task that caused the event (0 when unknown); the key identity resolves. */
  cgroupId: bigint;
  /** Severity for log export: events are INFO unless a collector says otherwise (security events are WARN+). */
  severity?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** On `http.request` / `grpc.request` events: the request itself; the OTLP exporter sends it as a span (with
   *  these attributes, identity included) instead of a log record. */
  request?: RequestRecord;
}

/** RFC 3339 with nanoseconds, always UTC: 2026-11-23T12:00:00.123456789Z */
export function formatTime(unixNano: bigint): string {
  const ms = unixNano / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // ...SS.mmmZ
  const nanos = (unixNano % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${nanos}Z`;
}

/** The flat JSON a user greps: `event.name`, `time`, then the attributes, same names as in OTLP. */
export function toFlatRecord(e: TapioEvent): Record<string, AttributeValue> {
  return { 'event.name': e.name, time: formatTime(e.timeUnixNano), ...e.attributes };
}
