// Turns Tapio's own shapes into the SDK shapes the official OTLP serializers take: a TapioEvent into a log record,
// a captured request into a span (joining the caller's trace when the request carried a W3C traceparent).
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags, type HrTime, type SpanContext } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { TraceState } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { Attributes, TapioEvent } from '../core/event';
import type { RequestRecord } from '../core/request';
import { isRequestError, requestAttributes, requestSpanName } from '../core/request-attributes';

export type { RequestRecord } from '../core/request';

/** The span shape ProtobufTraceSerializer takes (sdk-trace's ReadableSpan, named without importing that package). */
export type SpanRecord = Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0][number];

export const INSTRUMENTATION_SCOPE = { name: 'tapio', version: undefined as string | undefined };

const SEVERITY: Record<NonNullable<TapioEvent['severity']>, SeverityNumber> = {
  DEBUG: SeverityNumber.DEBUG,
  INFO: SeverityNumber.INFO,
  WARN: SeverityNumber.WARN,
  ERROR: SeverityNumber.ERROR,
};

export function hrTimeFromNanos(unixNano: bigint): HrTime {
  return [Number(unixNano / 1_000_000_000n), Number(unixNano % 1_000_000_000n)];
}

function nowHrTime(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

/** One event as one OTLP log record: `event_name` set, severity mapped, attributes as they are. */
export function eventToLogRecord(e: TapioEvent, resource: Resource): ReadableLogRecord {
  const severity = e.severity ?? 'INFO';
  return {
    hrTime: hrTimeFromNanos(e.timeUnixNano),
    hrTimeObserved: nowHrTime(),
    severityNumber: SEVERITY[severity] ?? SeverityNumber.INFO,
    severityText: severity,
    eventName: e.name,
    // event.name also as an attribute: backends that predate the LogRecord.event_name field still see it.
    attributes: { ...e.attributes, 'event.name': e.name },
    droppedAttributesCount: 0,
    resource,
    instrumentationScope: INSTRUMENTATION_SCOPE,
  };
}

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: number;
}

/** Parse a W3C traceparent (version 00 and future versions); undefined when malformed or all-zero. */
export function parseTraceparent(header: string | undefined): TraceParent | undefined {
  if (!header) return undefined;
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(header.trim().toLowerCase());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, flags: parseInt(flags!, 16) };
}

/** One request as one span. With a valid traceparent the span is a child of the caller's span, in its trace. */
export function requestToSpan(req: RequestRecord, resource: Resource): SpanRecord {
  const parent = parseTraceparent(req.traceparent);
  const traceState = parent && req.tracestate ? new TraceState(req.tracestate) : undefined;
  const context: SpanContext = {
    traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
    spanId: randomBytes(8).toString('hex'),
    traceFlags: parent ? parent.flags & TraceFlags.SAMPLED : TraceFlags.SAMPLED,
    traceState,
  };
  const parentContext: SpanContext | undefined = parent
    ? { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags, isRemote: true, traceState }
    : undefined;

  // The request's own semconv attributes, then what the pipeline added (identity, endpoints) on top.
  const attributes: Attributes = { ...requestAttributes(req), ...req.attributes };
  const name = requestSpanName(req);
  const isError = isRequestError(req);

  const start = hrTimeFromNanos(req.startTimeUnixNano);
  const end = hrTimeFromNanos(req.startTimeUnixNano + req.durationNs);
  return {
    name,
    kind: req.side === 'server' ? SpanKind.SERVER : SpanKind.CLIENT,
    spanContext: () => context,
    parentSpanContext: parentContext,
    startTime: start,
    endTime: end,
    duration: hrTimeFromNanos(req.durationNs),
    status: isError ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: INSTRUMENTATION_SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
