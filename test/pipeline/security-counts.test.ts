// Security counters for /metrics (src/pipeline/security-counts.ts): one series per detection, severity, namespace and
// workload (the workload named by its owner, Deployment first), capped so counters only go up and always sum to the
// events counted. The real-trigger end-to-end check is test/observe/security-metrics.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecurityCounts, workloadOf } from '../../src/pipeline/security-counts';
import type { TapioEvent } from '../../src/core/event';

const ev = (name: string, attributes: Record<string, string> = {}): TapioEvent =>
  ({ name, timeUnixNano: 0n, cgroupId: 0n, attributes: { 'tapio.security.severity': 'high', ...attributes } });

test('the workload is the first owner present: Deployment over its ReplicaSet, then StatefulSet, DaemonSet, CronJob, Job', () => {
  assert.deepEqual(workloadOf({ 'k8s.replicaset.name': 'web-5d9c', 'k8s.deployment.name': 'web' }), { kind: 'Deployment', name: 'web' });
  assert.deepEqual(workloadOf({ 'k8s.job.name': 'nightly-123', 'k8s.cronjob.name': 'nightly' }), { kind: 'CronJob', name: 'nightly' });
  assert.deepEqual(workloadOf({ 'k8s.daemonset.name': 'agent' }), { kind: 'DaemonSet', name: 'agent' });
  assert.deepEqual(workloadOf({}), { kind: '', name: '' });
});

test('only security events count, per detection, severity, namespace and workload', () => {
  const c = new SecurityCounts(100);
  c.record([
    ev('security.file.credential_read', { 'k8s.namespace.name': 'shop', 'k8s.deployment.name': 'web' }),
    ev('security.file.credential_read', { 'k8s.namespace.name': 'shop', 'k8s.deployment.name': 'web' }),
    ev('security.file.credential_read', { 'k8s.namespace.name': 'shop', 'k8s.deployment.name': 'db' }),
    ev('process.exec', { 'k8s.namespace.name': 'shop' }),
    ev('security.host.chroot'),
  ]);
  const rows = c.rows().sort((a, b) => b.count - a.count || a.workload.localeCompare(b.workload));
  assert.deepEqual(rows, [
    { detection: 'file.credential_read', severity: 'high', namespace: 'shop', workload: 'web', workloadKind: 'Deployment', count: 2 },
    { detection: 'host.chroot', severity: 'high', namespace: '', workload: '', workloadKind: '', count: 1 },
    { detection: 'file.credential_read', severity: 'high', namespace: 'shop', workload: 'db', workloadKind: 'Deployment', count: 1 },
  ].sort((a, b) => b.count - a.count || a.workload.localeCompare(b.workload)));
});

test('past the cap new workloads count under namespace and workload "other" (detection kept); counts never go down', () => {
  const c = new SecurityCounts(2);
  const batch = (n: number) => Array.from({ length: n }, (_, i) => ev('security.exec.fileless', { 'k8s.namespace.name': `ns${i}`, 'k8s.deployment.name': 'w' }));
  c.record(batch(5));
  const first = c.rows();
  assert.equal(first.length, 3);
  assert.deepEqual(first.find((r) => r.namespace === 'other'), { detection: 'exec.fileless', severity: 'high', namespace: 'other', workload: 'other', workloadKind: 'other', count: 3 });
  assert.equal(c.overflowed, 3);
  c.record(batch(5));
  const second = c.rows();
  assert.equal(second.reduce((s, r) => s + r.count, 0), 10, 'every event counted somewhere');
  for (const r of first) assert.ok(second.find((x) => x.namespace === r.namespace)!.count >= r.count, 'monotonic');
});
