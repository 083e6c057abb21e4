// OTLP over gRPC, HTTP/protobuf and HTTP/JSON, with and without gzip and TLS, against a real receiver that decodes
// with the official OpenTelemetry protos: log records, spans and metrics arrive with their attributes and the
// agent's resource.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter } from '../../src/export/otlp';
import { tapioResource } from '../../src/export/resource';
import { config, event, tempDir, waitFor } from './helpers';
import { makeCertificate, OtlpReceiver } from './receiver';

const cases = [
  { protocol: 'grpc', compression: 'none' },
  { protocol: 'grpc', compression: 'gzip' },
  { protocol: 'http/protobuf', compression: 'none' },
  { protocol: 'http/protobuf', compression: 'gzip' },
  { protocol: 'http/json', compression: 'none' },
  { protocol: 'http/json', compression: 'gzip' },
] as const;

for (const c of cases) {
  test(`events, spans and metrics over ${c.protocol} (compression ${c.compression})`, async (t) => {
    const receiver = new OtlpReceiver({ protocol: c.protocol === 'grpc' ? 'grpc' : 'http' });
    await receiver.start();
    const drops = new DropCounters();
    const resource = tapioResource({ nodeName: 'node-a', clusterName: 'prod', env: {} });
    const exporter = createOtlpExporter(config({
      endpoint: receiver.url, protocol: c.protocol, compression: c.compression, headers: { 'x-api-key': 'secret-1' },
    }), { drops, resource, env: {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });

    const events = [
      event(1, 'process.exec'),
      { ...event(2, 'network.tcp.close', { 'tapio.bytes.sent': 1500, 'tapio.bytes.received': 300,
        'tapio.tcp.srtt_us': 250, 'tapio.duration_ns': 2_000_000 }), severity: 'WARN' as const },
      event(3, 'network.tcp.connect'),
    ];
    exporter.export(events);
    exporter.exportSpan({ protocol: 'http', side: 'server', method: 'GET', route: '/users/{id}', target: '/users/7?x=1',
      status: 200, startTimeUnixNano: BigInt(Date.now()) * 1_000_000n, durationNs: 1_500_000n,
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      attributes: { 'k8s.pod.name': 'web-5d9c-abcde' } });

    await waitFor('3 log records, 1 span and the close metrics', () =>
      receiver.logRecords().length >= 3 && receiver.spans().length >= 1 && receiver.latestMetrics().has('tapio.tcp.bytes'));

    const logs = receiver.logRecords();
    assert.deepEqual(logs.map((l) => l.eventName), ['process.exec', 'network.tcp.close', 'network.tcp.connect']);
    assert.equal(logs[0]!.attributes['k8s.pod.name'], 'web-5d9c-abcde');
    assert.equal(logs[0]!.attributes['k8s.deployment.name'], 'web');
    assert.equal(logs[0]!.attributes['event.name'], 'process.exec');
    assert.equal(logs[0]!.severityText, 'INFO');
    assert.equal(logs[1]!.severityText, 'WARN');
    assert.ok(logs[1]!.severityNumber > logs[0]!.severityNumber, 'WARN ranks above INFO');
    assert.equal(logs[1]!.attributes['tapio.bytes.sent'], 1500);
    assert.equal(logs[0]!.timeUnixNano, events[0]!.timeUnixNano.toString(), 'kernel timestamp kept to the nanosecond');
    for (const l of logs) {
      assert.equal(l.resource['service.name'], 'tapio');
      assert.equal(l.resource['k8s.node.name'], 'node-a');
      assert.equal(l.resource['k8s.cluster.name'], 'prod');
      assert.equal(typeof l.resource['host.name'], 'string');
      assert.equal(l.resource['service.version'], '0.1.0');
    }

    const [span] = receiver.spans();
    assert.equal(span!.name, 'GET /users/{id}');
    assert.equal(span!.traceId, '0af7651916cd43dd8448eb211c80319c', 'the span joins the caller\'s trace');
    assert.equal(span!.parentSpanId, 'b7ad6b7169203331');
    assert.notEqual(span!.spanId, 'b7ad6b7169203331');
    assert.equal(span!.attributes['http.response.status_code'], 200);
    assert.equal(span!.attributes['url.path'], '/users/7');
    assert.equal(span!.resource['k8s.node.name'], 'node-a');

    const metrics = receiver.latestMetrics();
    const bytes = metrics.get('tapio.tcp.bytes')!;
    const sent = bytes.find((p) => p.attributes['network.io.direction'] === 'transmit');
    assert.equal(sent?.value, 1500);
    assert.equal(sent?.attributes['k8s.deployment.name'], 'web');
    assert.equal(sent?.attributes['k8s.namespace.name'], 'shop');
    assert.equal(sent?.attributes['k8s.pod.name'], undefined, 'no per-pod series');
    assert.equal(metrics.get('tapio.process.execs')?.[0]?.value, 1);
    assert.equal(metrics.get('tapio.tcp.rtt')?.[0]?.count, 1);
    assert.equal(metrics.get('tapio.tcp.connections.opened')?.[0]?.attributes['network.connection.direction'], 'connect');

    for (const r of receiver.received) {
      assert.equal(r.headers['x-api-key'], 'secret-1');
      if (c.protocol !== 'grpc') assert.equal(r.gzip, c.compression === 'gzip');
    }
    assert.equal(drops.total(), 0);
  });
}

for (const protocol of ['grpc', 'http/protobuf'] as const) {
  test(`TLS with a custom CA over ${protocol}`, async (t) => {
    const dir = tempDir(t);
    const cert = makeCertificate(dir);
    if (!cert) return t.skip('openssl is not installed');
    const receiver = new OtlpReceiver({ protocol: protocol === 'grpc' ? 'grpc' : 'http', tls: cert });
    await receiver.start();
    const exporter = createOtlpExporter(config({
      endpoint: receiver.url, protocol, tls: { caFile: cert.certFile }, metrics: { enabled: false },
    }), { drops: new DropCounters(), env: {} });
    t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
    exporter.export([event(1)]);
    await waitFor('the record over TLS', () => receiver.logRecords().length === 1);
  });
}

test('environment variables configure endpoint, protocol, headers and resource', async (t) => {
  const receiver = new OtlpReceiver({ protocol: 'http' });
  await receiver.start();
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', // wrong on purpose: the per-signal one wins
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `${receiver.url}/v1/logs`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=t1',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging,k8s.cluster.name=from-env',
    OTEL_SERVICE_NAME: 'tapio-edge',
  };
  const exporter = createOtlpExporter(config({ enabled: true, metrics: { enabled: false }, traces: { enabled: false } }),
    { drops: new DropCounters(), env });
  t.after(async () => { await exporter.shutdown(); await receiver.stop(); });
  exporter.export([event(1)]);
  await waitFor('the record', () => receiver.logRecords().length === 1);
  const [r] = receiver.received;
  assert.equal(r!.encoding, 'json');
  assert.equal(r!.headers.authorization, 'Bearer abc');
  assert.equal(r!.headers['x-tenant'], 't1');
  const [log] = receiver.logRecords();
  assert.equal(log!.resource['service.name'], 'tapio-edge');
  assert.equal(log!.resource['deployment.environment.name'], 'staging');
  assert.equal(log!.resource['k8s.cluster.name'], 'from-env');
});
