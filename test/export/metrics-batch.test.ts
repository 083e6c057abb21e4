// Metrics summed per series over a batch before they reach the SDK (src/export/metrics.ts) must aggregate to the
// same values as one call per event: counts, bytes per direction, and histogram counts and sums, across series and
// across batches, checked on what the OpenTelemetry metrics SDK reports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventMetrics } from '../../src/export/metrics';
import { tapioResource } from '../../src/export/resource';
import { event } from './helpers';

test('per-batch sums give the SDK the same totals as per-event calls', async (t) => {
  const metrics = new EventMetrics(tapioResource({ env: {} }), 100);
  t.after(() => metrics.shutdown());
  const close = (i: number, deployment: string) => event(i, 'network.tcp.close', { 'k8s.deployment.name': deployment,
    'tapio.bytes.sent': 100 + i, 'tapio.bytes.received': 1000 + i, 'tapio.tcp.srtt_us': 200, 'tapio.duration_ns': 2e9 });
  const expected = { web: { n: 0, sent: 0, received: 0 }, api: { n: 0, sent: 0, received: 0 } };
  for (let batch = 0; batch < 3; batch++) {
    const events = Array.from({ length: 50 }, (_, j) => {
      const i = batch * 50 + j;
      const d = i % 3 === 0 ? 'api' : 'web';
      expected[d].n++;
      expected[d].sent += 100 + i;
      expected[d].received += 1000 + i;
      return close(i, d);
    });
    events.push(event(9000 + batch, 'network.tcp.connect', { 'k8s.deployment.name': 'web' }));
    metrics.record(events);
  }
  const rm = await metrics.snapshot();
  const all = rm!.scopeMetrics.flatMap((s) => s.metrics);
  const points = (name: string) => all.find((m) => m.descriptor.name === name)!.dataPoints;
  for (const d of ['web', 'api'] as const) {
    const closed = points('tapio.tcp.connections.closed').find((p) => p.attributes['k8s.deployment.name'] === d)!;
    assert.equal(closed.value, expected[d].n);
    const bytes = (dir: string) => points('tapio.tcp.bytes')
      .find((p) => p.attributes['k8s.deployment.name'] === d && p.attributes['network.io.direction'] === dir)!.value;
    assert.equal(bytes('transmit'), expected[d].sent);
    assert.equal(bytes('receive'), expected[d].received);
    const rtt = points('tapio.tcp.rtt').find((p) => p.attributes['k8s.deployment.name'] === d)!.value as { count: number; sum: number };
    assert.equal(rtt.count, expected[d].n);
    assert.ok(Math.abs(rtt.sum - expected[d].n * 0.0002) < 1e-9);
  }
  const opened = points('tapio.tcp.connections.opened');
  assert.equal(opened.length, 1);
  assert.equal(opened[0]!.value, 3);
  assert.equal(opened[0]!.attributes['network.connection.direction'], 'connect');
  assert.equal(metrics.overflowed, 0);
});
