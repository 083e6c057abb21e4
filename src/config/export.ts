// Config of OTLP export and the disk spool (src/export). Owned by the export work.
// Keys left unset here fall back to the standard OTEL_* environment variables, then to the OTLP defaults
// (src/export/settings.ts does that resolution); a key set in the file wins over the environment.
import { z } from 'zod';

const protocolSchema = z.enum(['grpc', 'http/protobuf', 'http/json']);
const compressionSchema = z.enum(['gzip', 'none']);
/** batch.delayMs by default: a node agent's CPU comes first, so a quiet node sends ~5 requests a second per signal
 *  (each costs 0.3-1 ms of CPU here), as the OpenTelemetry Collector's batch processor does by default; 5 ms keeps
 *  p50 near 10-15 ms at twice the CPU at 10k/s (docs/export.md "Latency"). */
export const DEFAULT_BATCH_DELAY_MS = 200;

/** Where and how one signal (or all of them) is sent. Every key is optional: unset means "ask the environment". */
const targetSchema = z.object({
  /** gRPC: `http(s)://host:port`. HTTP: the base URL (`/v1/<signal>` is appended) or, per signal, the full URL. */
  endpoint: z.url().optional(),
  protocol: protocolSchema.optional(),
  /** Extra request headers (gRPC metadata), e.g. an API key. */
  headers: z.record(z.string(), z.string()).optional(),
  compression: compressionSchema.optional(),
  /** One export request's deadline, milliseconds. */
  timeoutMs: z.number().int().min(100).max(600_000).optional(),
  tls: z.object({
    /** PEM file of the CA that signed the collector's certificate (default: the system CAs). */
    caFile: z.string().min(1).optional(),
    /** PEM client certificate and key, for mutual TLS. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** gRPC only: plaintext even when the endpoint has no scheme (OTEL_EXPORTER_OTLP_INSECURE). */
    insecure: z.boolean().optional(),
  }).strict().optional(),
}).strict();

export const exportConfigSchema = z.object({
  otlp: z.object({
    enabled: z.boolean().default(false),
    ...targetSchema.shape,
    /** Extra resource attributes (OTEL_RESOURCE_ATTRIBUTES adds to and overrides these). */
    resourceAttributes: z.record(z.string(), z.string()).default({}),
    logs: targetSchema.extend({
      enabled: z.boolean().default(true),
      /** Event names (exact, or a prefix ending in `*`) not sent as log records; metrics still count them. */
      excludeEvents: z.array(z.string().min(1)).default([]),
    }).prefault({}),
    metrics: targetSchema.extend({
      enabled: z.boolean().default(true),
      /** How often the aggregated metrics are exported, milliseconds (OTEL_METRIC_EXPORT_INTERVAL). */
      intervalMs: z.number().int().min(100).max(3_600_000).optional(),
      /** Most attribute sets per metric; events past it are counted under an `other` series. */
      maxSeriesPerMetric: z.number().int().min(1).max(100_000).default(1000),
    }).prefault({}),
    traces: targetSchema.extend({
      enabled: z.boolean().default(true),
    }).prefault({}),
    batch: z.object({
      /** Most records in one export request. */
      maxRecords: z.number().int().min(1).max(100_000).default(2048),
      /** Longest a record waits for its batch to fill, milliseconds: the export's share of the latency from the
       *  kernel to the collector. Smaller costs more requests (and CPU) at low rates; docs/export.md has the trade-off. */
      delayMs: z.number().int().min(1).max(60_000).default(DEFAULT_BATCH_DELAY_MS),
    }).strict().prefault({}),
    /** Requests per signal sent without waiting for the answers to earlier ones (together at most
     *  batch.maxRecords records, so an interruption repeats at most one batch's worth). */
    maxInFlight: z.number().int().min(1).max(64).default(4),
    /** Most records in the requests in flight together (default batch.maxRecords): the most one interruption of
     *  the collector can make it receive twice. */
    maxInFlightRecords: z.number().int().min(1).max(10_000_000).optional(),
    /** Records held in memory (waiting to be batched or sent) per signal; past it they go to the spool or are
     *  dropped as `queue_full`. */
    queueMaxRecords: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Bytes of encoded batches held in memory, all signals together (waiting, in flight, and without spool.dir
     *  the batches waiting out an outage); past it records go to the disk spool or are dropped as `queue_full`. */
    queueMaxBytes: z.number().int().min(64 * 1024).max(2 ** 40).default(64 << 20),
    retry: z.object({
      initialBackoffMs: z.number().int().min(10).max(600_000).default(1000),
      maxBackoffMs: z.number().int().min(10).max(3_600_000).default(30_000),
    }).strict().prefault({}),
    /** Where batches wait while the collector is down. Without `dir`, they wait in memory (bounded by
     *  `queueMaxBytes` and `maxBytes`, whichever is smaller) and do not survive a restart. */
    spool: z.object({
      dir: z.string().min(1).optional(),
      /** 32-byte AES-256 key, raw or base64 or hex: typically a Kubernetes Secret mounted as a file.
       *  Required with `dir`. */
      keyFile: z.string().min(1).optional(),
      maxBytes: z.number().int().min(1024).max(2 ** 40).default(256 << 20),
      /** Batches older than this are given up (`retention_expired`), seconds. */
      maxAgeSeconds: z.number().int().min(1).max(30 * 86400).default(86400),
      /** When full: give up the oldest batch to make room, or the new one. */
      whenFull: z.enum(['drop_oldest', 'drop_newest']).default('drop_oldest'),
      /** fsync each spool file before counting it as written (survives power loss, not only a restart). */
      fsync: z.boolean().default(true),
    }).strict().prefault({}),
    /** How long shutdown may spend delivering what is queued before spooling the rest, milliseconds. */
    shutdownTimeoutMs: z.number().int().min(0).max(600_000).default(5000),
  }).strict().prefault({}),
}).strict().prefault({});

export type ExportConfig = z.infer<typeof exportConfigSchema>;
export type OtlpConfig = ExportConfig['otlp'];
