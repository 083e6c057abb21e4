// The OTLP exporter the agent calls: events become log records (and feed metrics), captured requests become
// spans; each signal is batched by size and time, serialized with the official OpenTelemetry serializers, and
// handed to its delivery lane (delivery.ts), which sends, retries and spools. export() and exportSpan() never wait
// for I/O; when a signal's in-memory queue is full (queueMaxRecords records, or queueMaxBytes bytes for every signal
// together) they count a drop (`queue_full`) and return.
import * as path from 'node:path';
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer, ProtobufLogsSerializer,
  ProtobufMetricsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { Resource } from '@opentelemetry/resources';
import type { OtlpConfig } from '../config/export';
import type { DropCounters } from '../core/drops';
import type { Attributes, TapioEvent } from '../core/event';
import { DeliveryLane, type LaneDropReason, type LaneStats } from './delivery';
import { LogsEncoder } from './encode/logs';
import { countDataPoints, EventMetrics } from './metrics';
import { eventToLogRecord, INSTRUMENTATION_SCOPE, requestToSpan, type RequestRecord } from './records';
import { tapioResource } from './resource';
import { ExportConfigError, metricIntervalMs, resolveTarget, SIGNALS, type Signal, type SignalTarget } from './settings';
import { ByteBudget, DiskSpool, MemorySpool, type Spool } from './spool';
import { loadSpoolKey, type Batch, type BatchHeader } from './spool-file';
import { capacityWarning, keyFileWarning } from './spool-dir';
import { createTransport } from './transport';
import { EncodingLogsBatcher, kindsOf, RecordBatcher, type Batcher } from './batcher';

export interface OtlpExporterDeps {
  drops: DropCounters;
  /** The agent's resource (see resource.ts tapioResource); defaults to one built from the environment. */
  resource?: Resource;
  env?: Record<string, string | undefined>;
  /** Where operational messages go (collector down/up, spool files quarantined); default stderr. */
  log?: (message: string) => void;
  /** The wall clock the delivery lanes age spooled batches by (tests move it instead of sleeping). */
  now?: () => number;
  /** Frees a sent batch's memory at once (the agent passes the native releaseBuffer); without it, V8's collections do. */
  releaseBuffer?: (buffer: Uint8Array) => unknown;
}

export interface OtlpExporterStats {
  signals: Record<Signal, LaneStats & { enabled: boolean; queuedRecords: number; droppedQueueFull: number }>;
  spool: { bytes: number; files: number; maxBytes: number; onDisk: boolean };
  /** Bytes of encoded batches held in memory, all signals together (waiting, in flight, in a memory spool). */
  memory: { bytes: number; maxBytes: number };
  /** Events whose metric attributes were folded into the `other` series (cardinality cap). */
  metricSeriesOverflow: number;
  /** Events not sent as log records because of logs.excludeEvents (they still count in metrics). */
  logsExcluded: number;
}

export interface OtlpExporter {
  /** Queue events for export; never waits. */
  export(events: readonly TapioEvent[]): void;
  /** Queue one captured request as a span; never waits. */
  exportSpan(request: RequestRecord): void;
  stats(): OtlpExporterStats;
  /** Resolves once the spool directory is open and indexed (export() can be called before). */
  readonly ready: Promise<void>;
  /** Flush, deliver within shutdownTimeoutMs, spool the rest, close connections. */
  shutdown(): Promise<void>;
}

/** Per signal: the records waiting for their batch (batcher.ts), and the lane their batches go to. */
interface SignalState<T> {
  enabled: boolean;
  target?: SignalTarget;
  lane?: DeliveryLane;
  spool?: Spool;
  batcher?: Batcher<T>;
  flushScheduled: boolean;
  droppedQueueFull: number;
}

function excluder(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

export function createOtlpExporter(config: OtlpConfig, deps: OtlpExporterDeps): OtlpExporter {
  const env = deps.env ?? process.env;
  const log = deps.log ?? ((m: string) => process.stderr.write(`tapio export: ${m}\n`));
  const resource = deps.resource ?? tapioResource({ env, configured: config.resourceAttributes });
  const { drops } = deps;
  const release = deps.releaseBuffer;

  // Configuration problems are found now, synchronously, with the setting named.
  const targets: Partial<Record<Signal, SignalTarget>> = {};
  for (const s of SIGNALS) if (config[s].enabled) targets[s] = resolveTarget(config, s, env);
  const intervalMs = metricIntervalMs(config, env);
  const spoolDir = config.spool.dir;
  if (spoolDir && !config.spool.keyFile) {
    throw new ExportConfigError('export.otlp.spool.keyFile is required with spool.dir: the spool is encrypted at ' +
      'rest; mount a Kubernetes Secret holding 32 random bytes (head -c 32 /dev/urandom | base64) and point keyFile at it');
  }
  const key = spoolDir ? loadSpoolKey(config.spool.keyFile!) : undefined;
  const keyWarning = spoolDir ? keyFileWarning(config.spool.keyFile!) : undefined;
  if (keyWarning) log(keyWarning);
  const budget = new ByteBudget(config.spool.maxBytes);
  // Everything the exporter holds in memory, all signals together: batches waiting for the collector, in flight, on
  // their way to the disk spool, and, without one, the batches waiting out an outage in a memory spool (which
  // spool.maxBytes bounds as well). Records are admitted against it (admit), a disk spool takes over at half of it.
  const memory = new ByteBudget(spoolDir ? config.queueMaxBytes : Math.min(config.queueMaxBytes, config.spool.maxBytes));

  const countDrop = (header: BatchHeader, n: number, reason: LaneDropReason, detail?: string): void => {
    const stage = reason === 'rejected' || reason === 'rejected_partial' || reason === 'shutdown' ? 'export' : 'spool';
    const kinds = Object.entries(header.kinds);
    if (n === header.records && kinds.length > 0) {
      for (const [kind, count] of kinds) drops.count(stage, kind, reason, count);
    } else {
      drops.count(stage, `otlp.${header.signal}`, reason, n); // which records within the batch is not known
    }
    if (detail && reason !== 'shutdown') log(`OTLP ${header.signal}: gave up ${n} record(s) (${reason}): ${detail}`);
  };

  const readyParts: Promise<void>[] = [];
  const states = {} as Record<Signal, SignalState<unknown>>;
  for (const s of SIGNALS) {
    const state: SignalState<unknown> = { enabled: !!targets[s], flushScheduled: false, droppedQueueFull: 0 };
    states[s] = state;
    const target = targets[s];
    if (!target) continue;
    state.target = target;
    const spoolOpts = {
      budget: memory, maxAgeMs: config.spool.maxAgeSeconds * 1000, whenFull: config.spool.whenFull,
      // A lane's spool holds only its own signal (an unreadable file's header may not say so).
      onGiveUp: (h: BatchHeader, reason: LaneDropReason, detail?: string) =>
        countDrop({ ...h, signal: s }, h.records, reason, detail),
      log, release,
    };
    let ready: Promise<void> = Promise.resolve();
    if (spoolDir && key) {
      // The lane starts once its directory is indexed; until then batches wait in the lane's memory.
      const proxy = new MemorySpool(spoolOpts);
      state.spool = proxy;
      ready = DiskSpool.open(path.join(spoolDir, s), key, config.spool.fsync, { ...spoolOpts, budget }).then(
        (disk) => { state.spool = disk; },
        (e: Error) => log(`spool directory ${path.join(spoolDir, s)} unusable (${e.message}); spooling in memory, ` +
          'which does not survive a restart'));
      readyParts.push(ready);
    } else {
      state.spool = new MemorySpool(spoolOpts);
    }
    const spoolView: Spool = { // the lane always talks to whichever spool is current
      get files() { return state.spool!.files; },
      get bytes() { return state.spool!.bytes; },
      append: (b) => state.spool!.append(b),
      peek: () => state.spool!.peek(),
      remove: (e) => state.spool!.remove(e),
      expire: (now) => state.spool!.expire(now),
      close: () => state.spool!.close(),
    };
    state.lane = new DeliveryLane(createTransport(target), spoolView, {
      initialBackoffMs: config.retry.initialBackoffMs,
      maxBackoffMs: config.retry.maxBackoffMs,
      spillOverRecords: spoolDir ? Math.floor(config.queueMaxRecords / 2) : undefined,
      memory,
      spillOverBytes: spoolDir ? Math.floor(memory.maxBytes / 2) : undefined,
      // Several requests at once, holding at most one full batch of records together: what one interruption can
      // make the collector see twice stays one batch's worth (docs/export.md, delivery guarantees).
      maxInFlight: config.maxInFlight,
      maxInFlightRecords: config.maxInFlightRecords ?? config.batch.maxRecords,
      mergeUpToRecords: config.batch.maxRecords,
      release,
      onDrop: countDrop,
      log,
      now: deps.now,
    }, ready);
  }

  const encoding = (s: Signal): Batch['encoding'] => (targets[s]?.protocol === 'http/json' ? 'json' : 'protobuf');
  /** Encoded bytes per record of each signal's last batch: what records not yet sent are admitted as. */
  const bytesPerRecord: Record<Signal, number> = { logs: 512, metrics: 512, traces: 512 };
  const learnSize = (batch: Batch): void => {
    if (batch.records > 0) bytesPerRecord[batch.signal] = Math.max(1, batch.payload.byteLength / batch.records);
  };
  const batchOf = (signal: Signal, records: number, kinds: Record<string, number>, payload: Uint8Array | undefined): Batch | undefined => {
    if (!payload) return undefined;
    const batch: Batch = { signal, encoding: encoding(signal), records, kinds, createdAtMs: Date.now(), payload };
    learnSize(batch);
    return batch;
  };
  const serializeFailed = (signal: Signal) => {
    let saidAt = -Infinity; // say it at most once a minute: a bad event may come again and again
    return (kind: string, records: number, e: Error): void => {
      drops.count('export', kind, 'serialize_failed', records);
      if (Date.now() - saidAt < 60_000) return;
      saidAt = Date.now();
      log(`OTLP ${signal}: cannot serialize ${records} record(s) of ${kind} (counted as serialize_failed): ${e.message}`);
    };
  };

  // Logs as protobuf (gRPC, HTTP/protobuf) are written straight from the events as they arrive (encode/logs.ts);
  // JSON keeps the SDK path.
  const logsEncoder = new LogsEncoder(resource.attributes as Attributes, INSTRUMENTATION_SCOPE, resource.schemaUrl);
  (states.logs as SignalState<TapioEvent>).batcher = encoding('logs') === 'protobuf'
    ? new EncodingLogsBatcher(logsEncoder, config.batch.maxRecords, serializeFailed('logs'))
    : new RecordBatcher<TapioEvent>('logs', encoding('logs'), config.batch.maxRecords, (e) => e.name,
      (events) => (encoding('logs') === 'json' ? JsonLogsSerializer : ProtobufLogsSerializer)
        .serializeRequest(events.map((e) => eventToLogRecord(e, resource))), serializeFailed('logs'));
  (states.traces as SignalState<RequestRecord>).batcher = new RecordBatcher<RequestRecord>('traces', encoding('traces'),
    config.batch.maxRecords, (r) => `${r.protocol}.request`, (reqs) => (encoding('traces') === 'json' ? JsonTraceSerializer
      : ProtobufTraceSerializer).serializeRequest(reqs.map((r) => requestToSpan(r, resource))), serializeFailed('traces'));

  // One timer for every signal: it fires when the oldest record of an open batch (of any signal) is batch.delayMs
  // old, and then sends every signal's waiting batches, so a quiet agent wakes once per delay, not once per signal.
  let flushTimer: NodeJS.Timeout | undefined;
  let flushAt = Infinity;
  const stopFlushTimer = (): void => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    flushAt = Infinity;
  };
  /** Sets the timer for the oldest open batch, if it is not set for then already. */
  const armFlushTimer = (): void => {
    const at = Math.min(states.logs.batcher?.openSince ?? Infinity, states.traces.batcher?.openSince ?? Infinity) + config.batch.delayMs;
    if (at === flushAt) return;
    stopFlushTimer();
    if (at === Infinity) return;
    flushAt = at;
    flushTimer = setTimeout(flushAll, Math.max(0, at - Date.now()));
  };
  const flushAll = (): void => {
    stopFlushTimer();
    flush('logs', true);
    flush('traces', true);
  };
  /** Hands a signal's full batches (with `all`, also its open one) to its lane. */
  const flush = (signal: 'logs' | 'traces', all: boolean): void => {
    const state = states[signal];
    if (!all) state.flushScheduled = false;
    if (state.lane && state.batcher) {
      for (const batch of state.batcher.drain(all)) {
        learnSize(batch);
        state.lane.enqueue(batch);
      }
    }
    armFlushTimer();
  };

  /** Bytes held in memory that new records cannot make room in: everything, less what a memory spool gives up to
   *  take newer batches (drop_oldest), plus the records in batches not yet handed to a lane, at their signal's
   *  last size. */
  const heldBytes = (): number => {
    let held = memory.used;
    for (const s of SIGNALS) {
      const st = states[s];
      if (config.spool.whenFull === 'drop_oldest' && st.spool instanceof MemorySpool) held -= st.spool.bytes;
      held += (st.batcher?.records ?? 0) * bytesPerRecord[s];
    }
    return held;
  };

  /** Admit records to a signal's batches, or count them as queue_full; schedule the flush. */
  const admit = <T>(signal: 'logs' | 'traces', items: readonly T[], kindOf: (t: T) => string): void => {
    const state = states[signal] as SignalState<T>;
    const batcher = state.batcher!;
    const room = Math.min(config.queueMaxRecords - batcher.records - state.lane!.pendingRecords,
      Math.floor((memory.maxBytes - heldBytes()) / bytesPerRecord[signal]));
    const taken = Math.min(items.length, Math.max(0, room));
    batcher.add(items, 0, taken);
    if (taken < items.length) {
      state.droppedQueueFull += items.length - taken;
      for (const [kind, n] of Object.entries(kindsOf(items, kindOf, taken))) drops.count('export', kind, 'queue_full', n);
    }
    // Full batches go out on the next turn of the event loop (not inside the caller); the open one once its
    // oldest record is batch.delayMs old.
    if (batcher.hasFull && !state.flushScheduled) {
      state.flushScheduled = true;
      setImmediate(() => flush(signal, false));
    }
    if (batcher.openSince + config.batch.delayMs < flushAt) armFlushTimer();
  };

  const metrics = targets.metrics ? new EventMetrics(resource, config.metrics.maxSeriesPerMetric) : undefined;
  const collectMetrics = async (): Promise<void> => {
    const rm = await metrics!.snapshot();
    if (!rm) return;
    const ser = encoding('metrics') === 'json' ? JsonMetricsSerializer : ProtobufMetricsSerializer;
    const points = countDataPoints(rm);
    const batch = batchOf('metrics', points, { 'metric.datapoint': points }, ser.serializeRequest(rm));
    if (batch) states.metrics.lane!.enqueue(batch);
  };
  const metricsTimer = metrics
    ? setInterval(() => { collectMetrics().catch((e: Error) => log(`OTLP metrics: ${e.message}`)); }, intervalMs)
    : undefined;
  metricsTimer?.unref();

  const isExcluded = excluder(config.logs.excludeEvents);
  let logsExcluded = 0;
  let shutDown = false;

  const ready = Promise.all(readyParts).then(async () => {
    const warning = spoolDir ? await capacityWarning(spoolDir, budget.maxBytes, budget.used) : undefined;
    if (warning) log(warning);
  });

  const exportSpan = (request: RequestRecord): void => {
    if (shutDown) {
      drops.count('export', `${request.protocol}.request`, 'shutdown');
      return;
    }
    if (states.traces.enabled) admit('traces', [request], (r) => `${r.protocol}.request`);
  };

  return {
    ready,

    export(events) {
      if (events.length === 0) return;
      if (shutDown) {
        for (const [k, n] of Object.entries(kindsOf(events, (e) => e.name))) drops.count('export', k, 'shutdown', n);
        return;
      }
      metrics?.record(events);
      // Captured requests go out as spans, with the attributes the pipeline gave their event (identity included).
      let toLog = events;
      if (events.some((e) => e.request)) {
        const rest: TapioEvent[] = [];
        for (const e of events) {
          if (e.request) exportSpan({ ...e.request, attributes: e.attributes });
          else rest.push(e);
        }
        toLog = rest;
      }
      if (!states.logs.enabled) return;
      if (config.logs.excludeEvents.length > 0) {
        const before = toLog.length;
        toLog = toLog.filter((e) => !isExcluded(e.name));
        logsExcluded += before - toLog.length;
      }
      admit('logs', toLog, (e) => e.name);
    },

    exportSpan,

    stats() {
      const signals = {} as OtlpExporterStats['signals'];
      let bytes = 0;
      let files = 0;
      for (const s of SIGNALS) {
        const st = states[s];
        const lane = st.lane?.stats() ?? { memoryBatches: 0, memoryRecords: 0, memoryBytes: 0, inFlight: 0, mergedBatches: 0, sentBatches: 0, sentRecords: 0, failedAttempts: 0 };
        signals[s] = { ...lane, enabled: st.enabled, queuedRecords: (st.batcher?.records ?? 0) + lane.memoryRecords,
          droppedQueueFull: st.droppedQueueFull };
        bytes += st.spool?.bytes ?? 0;
        files += st.spool?.files ?? 0;
      }
      return {
        signals,
        spool: { bytes, files, maxBytes: spoolDir ? budget.maxBytes : memory.maxBytes, onDisk: !!spoolDir },
        memory: { bytes: memory.used, maxBytes: memory.maxBytes },
        metricSeriesOverflow: metrics?.overflowed ?? 0,
        logsExcluded,
      };
    },

    async shutdown() {
      if (shutDown) return;
      shutDown = true;
      clearInterval(metricsTimer);
      // A spool directory that never finishes opening must not hold shutdown: its lane counts what it cannot keep.
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([ready, new Promise<void>((r) => { waited = setTimeout(r, config.shutdownTimeoutMs); })]);
      clearTimeout(waited);
      flushAll();
      if (metrics) {
        await collectMetrics().catch((e: Error) => log(`OTLP metrics: ${e.message}`));
        await metrics.shutdown();
      }
      await Promise.all(SIGNALS.map(async (s) => { await states[s].lane?.shutdown(config.shutdownTimeoutMs); }));
    },
  };
}
