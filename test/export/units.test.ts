// The pure pieces of export, without a network: settings resolution from config and OTEL_* variables, the W3C
// traceparent rules, spans without a caller's trace, and the metric series cap with its `other` bucket (checked on
// what the OpenTelemetry metrics SDK actually aggregated).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventMetrics, OVERFLOW_ATTRIBUTES } from '../../src/export/metrics';
import { parseTraceparent, requestToSpan } from '../../src/export/records';
import { tapioResource } from '../../src/export/resource';
import { ExportConfigError, parseKeyValueList, resolveTarget } from '../../src/export/settings';
import { config, event } from './helpers';

test('endpoints: a shared HTTP endpoint gets /v1/<signal>, a per-signal one is used as is, the file wins', () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9/custom' };
  assert.equal(resolveTarget(config({}), 'logs', env).url, 'http://collector:4318/v1/logs');
  assert.equal(resolveTarget(config({}), 'traces', env).url, 'http://t:9/custom');
  assert.equal(resolveTarget(config({ endpoint: 'http://file:1' }), 'metrics', env).url, 'http://file:1/v1/metrics');
  const grpc = resolveTarget(config({}), 'logs', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4317',
    OTEL_EXPORTER_OTLP_INSECURE: 'true' });
  assert.equal(grpc.protocol, 'grpc');
  assert.equal(grpc.url, 'http://c:4317/');
  assert.equal(resolveTarget(config({}), 'logs', {}).url, 'http://localhost:4318/v1/logs');
});

test('per-signal variables win over shared ones; config headers add to and override env headers', () => {
  const env = { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'none',
    OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=2', OTEL_EXPORTER_OTLP_TIMEOUT: '2500' };
  const logs = resolveTarget(config({ headers: { b: 'file' } }), 'logs', env);
  assert.equal(logs.compression, 'none');
  assert.deepEqual(logs.headers, { a: '1', b: 'file' });
  assert.equal(logs.timeoutMs, 2500);
  assert.equal(resolveTarget(config({}), 'metrics', env).compression, 'gzip');
});

test('bad settings give errors naming the setting', () => {
  assert.throws(() => resolveTarget(config({}), 'logs', { OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }),
    (e: Error) => e instanceof ExportConfigError && /PROTOCOL/.test(e.message) && /thrift/.test(e.message));
  assert.throws(() => resolveTarget(config({}), 'logs', { OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }),
    (e: Error) => e instanceof ExportConfigError && /HEADERS/.test(e.message));
  assert.throws(() => resolveTarget(config({}), 'logs', { OTEL_EXPORTER_OTLP_TIMEOUT: 'soon' }), ExportConfigError);
  assert.throws(() => resolveTarget(config({ tls: { caFile: '/nonexistent/ca.pem' } }), 'logs', {}),
    (e: Error) => /caFile/.test(e.message) && /nonexistent/.test(e.message));
  assert.deepEqual(parseKeyValueList('k%20x=v%2Cw, ,z=', 't'), { 'k x': 'v,w', z: '' });
});

test('traceparent: valid ones parse, malformed or all-zero ones are ignored', () => {
  assert.deepEqual(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
    { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 });
  for (const bad of ['', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra']) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
});

test('a request without a traceparent starts its own trace; a gRPC error is an error span', () => {
  const span = requestToSpan({ protocol: 'grpc', side: 'client', method: '/shop.Cart/Add', status: 14,
    startTimeUnixNano: 1_700_000_000_000_000_000n, durationNs: 5_000_000n, traceparent: 'nonsense', attributes: {} },
  tapioResource({ env: {} }));
  assert.match(span.spanContext().traceId, /^[0-9a-f]{32}$/);
  assert.equal(span.parentSpanContext, undefined);
  assert.equal(span.name, 'shop.Cart/Add');
  assert.equal(span.attributes['rpc.service'], 'shop.Cart');
  assert.equal(span.attributes['rpc.method'], 'Add');
  assert.equal(span.status.code, 2 /* ERROR */);
  assert.deepEqual(span.duration, [0, 5_000_000]);
});

test('metric series are capped per metric; the rest go to one "other" series and are counted', async (t) => {
  const metrics = new EventMetrics(tapioResource({ env: {} }), 2);
  t.after(() => metrics.shutdown());
  metrics.record(['a', 'b', 'c', 'd', 'a', 'e'].map((d, i) => event(i, 'process.exec', { 'k8s.deployment.name': d })));
  const rm = await metrics.snapshot();
  const execs = rm!.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'tapio.process.execs')!;
  const series = execs.dataPoints.map((p) => ({ d: p.attributes['k8s.deployment.name'] ?? p.attributes['k8s.namespace.name'], v: p.value }));
  assert.deepEqual(series.sort((x, y) => String(x.d).localeCompare(String(y.d))), [
    { d: 'a', v: 2 }, { d: 'b', v: 1 }, { d: OVERFLOW_ATTRIBUTES['k8s.namespace.name'], v: 3 },
  ]);
  assert.equal(metrics.overflowed, 3, 'c, d and e went to the other series');
});
