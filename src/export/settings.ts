// Resolves what the OTLP exporter needs for each signal from the config file and the standard OTEL_* environment
// variables (https://opentelemetry.io/docs/specs/otel/protocol/exporter/). Precedence, highest first:
// per-signal config key, shared config key, per-signal env var, shared env var, OTLP default.
import * as fs from 'node:fs';
import type { OtlpConfig } from '../config/export';

export type Signal = 'logs' | 'metrics' | 'traces';
export type Protocol = 'grpc' | 'http/protobuf' | 'http/json';
export const SIGNALS: readonly Signal[] = ['logs', 'metrics', 'traces'];

import { redactUrl, redactUrlsIn } from './redact';

export class ExportConfigError extends Error {}

/** Everything a transport needs to reach the collector for one signal. */
export interface SignalTarget {
  signal: Signal;
  protocol: Protocol;
  /** HTTP: the full URL to POST to. gRPC: `http(s)://host:port` (the path is the service method). */
  url: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  timeoutMs: number;
  /** PEM contents, read once at startup. */
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; insecure: boolean };
}

type Env = Record<string, string | undefined>;

/** `k1=v1,k2=v2` with percent-encoded values: the format of OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES. */
export function parseKeyValueList(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ExportConfigError(`${what}: "${part.trim()}" is not key=value`);
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new ExportConfigError(`${what}: "${part.trim()}" has a bad percent-encoding`);
    }
  }
  return out;
}

function envFor(env: Env, signal: Signal, name: string): string | undefined {
  const specific = env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${name}`];
  if (specific !== undefined && specific !== '') return specific;
  const shared = env[`OTEL_EXPORTER_OTLP_${name}`];
  return shared !== undefined && shared !== '' ? shared : undefined;
}

/** The name of the variable envFor() took its value from, for messages that name what the user set. */
function envNameFor(env: Env, signal: Signal, name: string): string {
  const specific = `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${name}`;
  return env[specific] ? specific : `OTEL_EXPORTER_OTLP_${name}`;
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return fs.readFileSync(path);
  } catch (e) {
    throw new ExportConfigError(`${what}: cannot read ${path}: ${(e as Error).message}`);
  }
}

function parseProtocol(value: string, what: string): Protocol {
  if (value === 'grpc' || value === 'http/protobuf' || value === 'http/json') return value;
  throw new ExportConfigError(`${what}: unknown protocol "${value}" (use grpc, http/protobuf or http/json)`);
}

/** Resolve the target of one signal. Throws ExportConfigError with the offending setting named. */
export function resolveTarget(config: OtlpConfig, signal: Signal, env: Env = process.env): SignalTarget {
  const own = config[signal];
  const upper = signal.toUpperCase();

  const protocolText = own.protocol ?? config.protocol ?? envFor(env, signal, 'PROTOCOL') ?? 'http/protobuf';
  const protocol = parseProtocol(protocolText, own.protocol ?? config.protocol ? `export.otlp.${signal}.protocol`
    : envNameFor(env, signal, 'PROTOCOL'));

  // Endpoint: a per-signal HTTP endpoint is used as-is; a shared one gets /v1/<signal> appended (OTLP spec).
  let url: string;
  const perSignal = own.endpoint ?? env[`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`];
  const shared = config.endpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (protocol === 'grpc') {
    url = perSignal || shared || 'http://localhost:4317';
    if (!/^[a-z]+:\/\//i.test(url)) {
      const insecure = own.tls?.insecure ?? config.tls?.insecure ?? /^true$/i.test(envFor(env, signal, 'INSECURE') ?? '');
      url = `${insecure ? 'http' : 'https'}://${url}`;
    }
  } else if (perSignal) {
    url = perSignal;
  } else {
    url = `${(shared || 'http://localhost:4318').replace(/\/+$/, '')}/v1/${signal}`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ExportConfigError(`export.otlp.${signal}: endpoint "${redactUrlsIn(url)}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ExportConfigError(`export.otlp.${signal}: endpoint "${redactUrl(url)}" must be http:// or https://`);
  }

  const envHeaders = envFor(env, signal, 'HEADERS');
  const headers = {
    ...(envHeaders ? parseKeyValueList(envHeaders, `OTEL_EXPORTER_OTLP_${upper}_HEADERS`) : {}),
    ...config.headers,
    ...own.headers,
  };

  const compressionText = own.compression ?? config.compression ?? envFor(env, signal, 'COMPRESSION') ?? 'none';
  if (compressionText !== 'gzip' && compressionText !== 'none') {
    const what = own.compression ?? config.compression ? `export.otlp.${signal}.compression` : envNameFor(env, signal, 'COMPRESSION');
    throw new ExportConfigError(`${what}: "${compressionText}" (use gzip or none)`);
  }

  const timeoutText = envFor(env, signal, 'TIMEOUT');
  const timeoutMs = own.timeoutMs ?? config.timeoutMs ?? (timeoutText ? Number(timeoutText) : 10_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new ExportConfigError(`${envNameFor(env, signal, 'TIMEOUT')}: "${timeoutText}" is not a positive number of ms`);
  }

  const tlsWhat = `export.otlp.${signal}.tls`;
  const tls = {
    ca: readPem(own.tls?.caFile ?? config.tls?.caFile ?? envFor(env, signal, 'CERTIFICATE'), `${tlsWhat}.caFile`),
    cert: readPem(own.tls?.certFile ?? config.tls?.certFile ?? envFor(env, signal, 'CLIENT_CERTIFICATE'),
      `${tlsWhat}.certFile`),
    key: readPem(own.tls?.keyFile ?? config.tls?.keyFile ?? envFor(env, signal, 'CLIENT_KEY'), `${tlsWhat}.keyFile`),
    insecure: parsed.protocol === 'http:',
  };
  if (!!tls.cert !== !!tls.key) {
    throw new ExportConfigError(`${tlsWhat}: a client certificate needs its key and the other way round`);
  }
  return { signal, protocol, url: parsed.toString(), headers, compression: compressionText, timeoutMs, tls };
}

/** How often metrics are exported: config, then OTEL_METRIC_EXPORT_INTERVAL, then 60 s (the OTel default). */
export function metricIntervalMs(config: OtlpConfig, env: Env = process.env): number {
  if (config.metrics.intervalMs !== undefined) return config.metrics.intervalMs;
  const text = env.OTEL_METRIC_EXPORT_INTERVAL;
  if (text === undefined || text === '') return 60_000;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 100) {
    throw new ExportConfigError(`OTEL_METRIC_EXPORT_INTERVAL: "${text}" is not a number of milliseconds >= 100`);
  }
  return n;
}
