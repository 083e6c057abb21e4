// Network, process, request and security activity as OTLP metrics, aggregated by the OpenTelemetry metrics SDK and attributed to
// pod and workload. Cardinality is bounded here, before the SDK: each metric keeps at most `maxSeries` attribute
// sets; events beyond that are still counted, under one `other` series, and the overflow is counted.
import type { Counter, Histogram, Attributes as OtelAttributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Attributes, TapioEvent } from '../core/event';
import { INSTRUMENTATION_SCOPE } from './records';

/** OTel's advised buckets for request durations in seconds (http.server.request.duration and friends). */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/** Request attributes a duration series keeps (semconv's for these metrics; paths only as route templates). */
const REQUEST_SERIES_KEYS = [
  'http.request.method', 'http.response.status_code', 'http.route', 'network.protocol.version', 'error.type',
  'rpc.system', 'rpc.service', 'rpc.method', 'rpc.grpc.status_code', 'tapio.network.peer.service',
  // the peer's namespace and workload (never its pod: one series per pod would defeat the caps)
  'tapio.network.peer.k8s.namespace.name', 'tapio.network.peer.k8s.workload.name', 'tapio.network.peer.k8s.workload.kind',
] as const;

/** The attribute keys metrics keep: enough to group by namespace, workload and container; never pod or pid. */
const SERIES_KEYS = [
  'k8s.namespace.name',
  'k8s.deployment.name',
  'k8s.statefulset.name',
  'k8s.daemonset.name',
  'k8s.cronjob.name',
  'k8s.job.name',
  'k8s.container.name',
] as const;

/** The single series events go to once a metric has `maxSeries` series. */
export const OVERFLOW_ATTRIBUTES: OtelAttributes = { 'k8s.namespace.name': 'other', 'otel.metric.overflow': true };

/** A pull reader: the exporter asks for a snapshot on its own timer and ships it through its own delivery. */
class SnapshotReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

class SeriesLimiter {
  private readonly seen = new Set<string>();
  overflowed = 0;
  constructor(private readonly maxSeries: number) {}

  /** The attributes to record under: the event's own, or the overflow series once the cap is reached. */
  admit(attrs: OtelAttributes): OtelAttributes {
    const key = JSON.stringify(attrs);
    if (this.seen.has(key)) return attrs;
    if (this.seen.size < this.maxSeries) {
      this.seen.add(key);
      return attrs;
    }
    this.overflowed++;
    return OVERFLOW_ATTRIBUTES;
  }
}

function seriesAttributes(attrs: Attributes, extra?: OtelAttributes): OtelAttributes {
  const out: OtelAttributes = {};
  for (const k of SERIES_KEYS) {
    const v = attrs[k];
    if (typeof v === 'string' && v !== '') out[k] = v;
  }
  return extra ? { ...out, ...extra } : out;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

interface Instrument<T> {
  instrument: T;
  limiter: SeriesLimiter;
  /** Series key -> the attributes object admitted for it, reused for every event of the series (no object, no
   *  JSON per event); overflowed keys are not kept, so this holds at most the limiter's maxSeries entries. */
  admitted: Map<string, OtelAttributes>;
  /** Counters: per-batch sums by admitted attributes, handed to the SDK once per series per batch. */
  pending: Map<OtelAttributes, number>;
}

/** The values of SERIES_KEYS joined: one string per series, cheap to make and to look up. */
function seriesKey(attrs: Attributes): string {
  let key = '';
  for (const k of SERIES_KEYS) {
    const v = attrs[k];
    key += typeof v === 'string' ? `${v}\u0001` : '\u0001';
  }
  return key;
}

export class EventMetrics {
  private readonly provider: MeterProvider;
  private readonly reader = new SnapshotReader();
  private readonly opened: Instrument<Counter>;
  private readonly closed: Instrument<Counter>;
  private readonly bytes: Instrument<Counter>;
  private readonly rtt: Instrument<Histogram>;
  private readonly duration: Instrument<Histogram>;
  private readonly execs: Instrument<Counter>;
  /** Security events by detection and severity (the same series /metrics has as tapio_security_events_total). */
  private readonly security: Instrument<Counter>;
  /** Request durations by protocol and side: http.server, http.client, rpc.server, rpc.client. */
  private readonly requests: Record<string, Instrument<Histogram>> = {};
  /** Events that changed at least one metric, since start. */
  recorded = 0;

  constructor(resource: Resource, maxSeries: number) {
    this.provider = new MeterProvider({ resource, readers: [this.reader] });
    const meter = this.provider.getMeter(INSTRUMENTATION_SCOPE.name);
    const wrap = <T>(instrument: T): Instrument<T> => ({ instrument, limiter: new SeriesLimiter(maxSeries),
      admitted: new Map(), pending: new Map() });
    this.opened = wrap(meter.createCounter('tapio.tcp.connections.opened', {
      description: 'TCP connections opened, by direction (connect = outbound, accept = inbound)',
      unit: '{connection}',
    }));
    this.closed = wrap(meter.createCounter('tapio.tcp.connections.closed', {
      description: 'TCP connections closed', unit: '{connection}',
    }));
    this.bytes = wrap(meter.createCounter('tapio.tcp.bytes', {
      description: 'Bytes carried by closed TCP connections, by network.io.direction', unit: 'By',
    }));
    this.rtt = wrap(meter.createHistogram('tapio.tcp.rtt', {
      description: 'Smoothed round-trip time of closed TCP connections', unit: 's',
      advice: { explicitBucketBoundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
    }));
    this.duration = wrap(meter.createHistogram('tapio.tcp.connection.duration', {
      description: 'Lifetime of closed TCP connections', unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600] },
    }));
    this.execs = wrap(meter.createCounter('tapio.process.execs', {
      description: 'Programs executed (execve)', unit: '{exec}',
    }));
    this.security = wrap(meter.createCounter('tapio.security.events', {
      description: 'Security events sent, by tapio.security.detection and tapio.security.severity', unit: '{event}',
    }));
    const advice = { explicitBucketBoundaries: REQUEST_DURATION_BUCKETS };
    for (const [key, name, what] of [
      ['http.server', 'http.server.request.duration', 'HTTP requests this workload answered'],
      ['http.client', 'http.client.request.duration', 'HTTP requests this workload sent'],
      ['rpc.server', 'rpc.server.call.duration', 'gRPC calls this workload answered'],
      ['rpc.client', 'rpc.client.call.duration', 'gRPC calls this workload made'],
    ] as const) {
      this.requests[key] = wrap(meter.createHistogram(name, { description: `Duration of ${what}, seen on the wire`, unit: 's', advice }));
    }
  }

  /** Series folded into the overflow series, summed over all metrics. */
  get overflowed(): number {
    return [this.opened, this.closed, this.bytes, this.rtt, this.duration, this.execs, this.security, ...Object.values(this.requests)]
      .reduce((sum, i) => sum + i.limiter.overflowed, 0);
  }

  /** The attributes an event records under in `i`: its series' (admitted once), or the overflow series. */
  private series<T>(i: Instrument<T>, key: string, attrs: Attributes, extra?: OtelAttributes): OtelAttributes {
    const hit = i.admitted.get(key);
    if (hit) return hit;
    const admitted = i.limiter.admit(seriesAttributes(attrs, extra));
    if (admitted !== OVERFLOW_ATTRIBUTES) i.admitted.set(key, admitted);
    return admitted;
  }

  private add(i: Instrument<Counter>, value: number, attrs: OtelAttributes): void {
    i.pending.set(attrs, (i.pending.get(attrs) ?? 0) + value);
  }

  private observe(i: Instrument<Histogram>, value: number, attrs: OtelAttributes): void {
    i.instrument.record(value, attrs);
  }

  /** Fold the events that feed metrics into the aggregates; other events are ignored here. Counters are summed per
   *  series over the batch first (the SDK hashes the attributes on every call, which dominated the cost). */
  record(events: readonly TapioEvent[]): void {
    for (const e of events) {
      const a = e.attributes;
      switch (e.name) {
        case 'network.tcp.connect':
        case 'network.tcp.accept': {
          const connect = e.name === 'network.tcp.connect';
          const key = seriesKey(a) + (connect ? 'connect' : 'accept');
          this.add(this.opened, 1, this.series(this.opened, key, a, { 'network.connection.direction': connect ? 'connect' : 'accept' }));
          break;
        }
        case 'network.tcp.close': {
          const key = seriesKey(a);
          this.add(this.closed, 1, this.series(this.closed, key, a));
          const sent = num(a['tapio.bytes.sent']);
          const received = num(a['tapio.bytes.received']);
          if (sent !== undefined) this.add(this.bytes, sent, this.series(this.bytes, `${key}transmit`, a, { 'network.io.direction': 'transmit' }));
          if (received !== undefined) this.add(this.bytes, received, this.series(this.bytes, `${key}receive`, a, { 'network.io.direction': 'receive' }));
          const srttUs = num(a['tapio.tcp.srtt_us']);
          if (srttUs !== undefined) this.observe(this.rtt, srttUs / 1e6, this.series(this.rtt, key, a));
          const durationNs = num(a['tapio.duration_ns']);
          if (durationNs !== undefined) this.observe(this.duration, durationNs / 1e9, this.series(this.duration, key, a));
          break;
        }
        case 'process.exec':
          this.add(this.execs, 1, this.series(this.execs, seriesKey(a), a));
          break;
        case 'http.request':
        case 'grpc.request': {
          if (!e.request) continue;
          const i = this.requests[`${e.name === 'http.request' ? 'http' : 'rpc'}.${e.request.side}`]!;
          const extra: OtelAttributes = {};
          for (const k of REQUEST_SERIES_KEYS) {
            const v = e.attributes[k];
            if (typeof v === 'string' || typeof v === 'number') extra[k] = v;
          }
          // A client's server name is low-cardinality (a Service or host name); a server's own name is the pod.
          if (e.request.side === 'client' && typeof e.attributes['server.address'] === 'string') extra['server.address'] = e.attributes['server.address'];
          this.observe(i, Number(e.request.durationNs) / 1e9, seriesAttributes(e.attributes, extra));
          break;
        }
        default: {
          if (!e.name.startsWith('security.')) continue;
          const detection = e.name.slice('security.'.length);
          const severity = typeof a['tapio.security.severity'] === 'string' ? a['tapio.security.severity'] : '';
          this.add(this.security, 1, this.series(this.security, `${seriesKey(a)}${detection}\u0001${severity}`, a,
            { 'tapio.security.detection': detection, 'tapio.security.severity': severity }));
        }
      }
      this.recorded++;
    }
    for (const i of [this.opened, this.closed, this.bytes, this.execs, this.security]) {
      if (i.pending.size === 0) continue;
      for (const [attrs, sum] of i.pending) i.instrument.add(sum, attrs);
      i.pending.clear();
    }
  }

  /** The current cumulative aggregates, or undefined when nothing was ever recorded. */
  async snapshot(): Promise<ResourceMetrics | undefined> {
    if (this.recorded === 0) return undefined;
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metrics collection failed');
    return resourceMetrics;
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}

/** Data points in a snapshot: what "records" means for a metrics batch. */
export function countDataPoints(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) for (const m of sm.metrics) n += m.dataPoints.length;
  return n;
}
