// The security collector's userspace half without the kernel: config errors a person can act on, what the policy
// attaches, setns classification against the host's namespaces, allowlists, and a decoder that never throws on
// random or cut bytes (fuzz).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { configSchema } from '../../src/config/schema';
import { DropCounters } from '../../src/core/drops';
import { SecurityDecoder } from '../../src/collectors/security/decode';
import { DET, DETECTIONS, hooksFor } from '../../src/collectors/security/detections';
import { DETECTION_NAMES } from '../../src/config/security';
import { F_CONTAINER, NS_COUNT, SEC_RECORD, KIND_SEC_NAMESPACE, KIND_SEC_FILE } from '../../src/collectors/security/layout';
import { compilePolicy, globToRegExp, securityIdentityAllowRule } from '../../src/collectors/security/policy';
import { Pipeline } from '../../src/pipeline/pipeline';
import { InMemorySink } from '../../src/core/sink';
import type { TapioEvent } from '../../src/core/event';

const security = (s: unknown) => configSchema.parse({ collectors: { security: s } }).collectors.security;
const F = SEC_RECORD.fields;
const HOST = [100, 101, 102, 103, 104, 105, 106];

function record(det: number, kind: number, o: { flags?: number; before?: number[]; after?: number[]; exe?: string; path?: string; rule?: number; ret?: number } = {}): DataView {
  const b = Buffer.alloc(SEC_RECORD.size);
  b.writeUInt32LE(kind, 0);
  b.writeUInt32LE(SEC_RECORD.size, 4);
  b.writeUInt32LE(4242, F['h.pid'].offset);
  b.writeUInt16LE(det, F.detection.offset);
  b.writeUInt32LE(o.flags ?? 0, F.flags.offset);
  b.writeBigInt64LE(BigInt(o.ret ?? 0), F.ret.offset);
  b.writeUInt32LE(o.rule ?? 0, F.rule.offset);
  (o.before ?? HOST).forEach((v, i) => b.writeUInt32LE(v, F.ns_before.offset + 4 * i));
  (o.after ?? HOST).forEach((v, i) => b.writeUInt32LE(v, F.ns_after.offset + 4 * i));
  const exe = Buffer.from(o.exe ?? '/usr/bin/tool');
  exe.copy(b, F.exe.offset);
  b.writeUInt16LE(exe.length, F.exe_len.offset);
  if (o.path) {
    Buffer.from(o.path).copy(b, F.path.offset);
    b.writeUInt16LE(o.path.length, F.path_len.offset);
  }
  return new DataView(b.buffer, b.byteOffset, b.length);
}

function decoder(cfg: unknown = {}) {
  const drops = new DropCounters();
  const d = new SecurityDecoder({ policy: compilePolicy(security(cfg)), hostNs: HOST, drops, toUnixNano: (n) => n, procInfo: () => ({}) });
  return { d, drops };
}

test('config: defaults parse; bad entries are named with what is wrong', () => {
  const s = security({});
  assert.equal(s.enabled, true);
  assert.ok(s.paths.length > 20);
  const bad = (v: unknown) => configSchema.safeParse({ collectors: { security: v } });
  assert.match(JSON.stringify(bad({ detections: { 'no.such': { enabled: false } } }).error?.issues), /detections/);
  assert.match(JSON.stringify(bad({ extraPaths: [{ path: '/x', access: ['read'], detection: 'file.credential_read', technique: 'X1' }] }).error?.issues), /ATT&CK technique id/);
  assert.match(JSON.stringify(bad({ extraAllow: [{ where: 'host' }] }).error?.issues), /needs at least one of/);
  assert.match(JSON.stringify(bad({ paths: [{ path: 'x'.repeat(64), access: ['read'], detection: 'file.credential_read' }] }).error?.issues), /63/);
  assert.equal(bad({ unknownKey: 1 }).success, false, 'strict: unknown keys are errors');
});

test('the config knows every detection of the catalog, and no other', () => {
  assert.deepEqual([...DETECTION_NAMES].sort(), DETECTIONS.map((d) => d.name).sort());
});

test('policy: only enabled detections bring hooks; scope "all" reaches host processes', () => {
  const off = compilePolicy(security({ detections: { 'privilege.cred_change': { enabled: false } } }));
  assert.ok(!hooksFor(off.kernelDetections).some((h) => h.name === 'setuid-enter'), 'no credential hooks when off');
  const on = compilePolicy(security({}));
  assert.ok(hooksFor(on.kernelDetections).some((h) => h.name === 'setuid-enter'));
  assert.equal(on.hostScopeMask & (1 << DET.FILE_OPEN), 0, 'file detections watch containers only by default');
  const all = compilePolicy(security({ detections: { 'file.credential_read': { scope: 'all' } } }));
  assert.notEqual(all.hostScopeMask & (1 << DET.FILE_OPEN), 0);
  assert.ok(all.rules.filter((r) => r.detection === 'file.credential_read').every((r) => r.host));
  assert.ok(globToRegExp('containerd-shim*').test('containerd-shim-runc-v2'));
  assert.ok(!globToRegExp('runc').test('xrunc'));
});

test('setns: container -> host namespace is an escape, host -> container an nsenter, container -> container a change', () => {
  const { d } = decoder();
  const container = [200, 201, 102, 203, 204, 205, 106];
  const escape = d.decode(record(DET.SETNS, KIND_SEC_NAMESPACE, { flags: F_CONTAINER, before: container, after: [100, 201, 102, 203, 204, 205, 106] }), 0, SEC_RECORD.size)!;
  assert.equal(escape.name, 'security.namespace.escape');
  assert.deepEqual(escape.attributes['tapio.security.namespaces.host_joined'], ['mnt']);
  assert.equal(escape.severity, 'ERROR');
  const enter = d.decode(record(DET.SETNS, KIND_SEC_NAMESPACE, { before: HOST, after: [200, 100, 102, 103, 104, 105, 106] }), 0, SEC_RECORD.size)!;
  assert.equal(enter.name, 'security.namespace.enter');
  assert.equal(enter.attributes['tapio.security.severity'], 'low');
  const change = d.decode(record(DET.SETNS, KIND_SEC_NAMESPACE, { flags: F_CONTAINER, before: container, after: [300, ...container.slice(1)] }), 0, SEC_RECORD.size)!;
  assert.equal(change.name, 'security.namespace.change');
  assert.equal(d.decode(record(DET.SETNS, KIND_SEC_NAMESPACE), 0, SEC_RECORD.size), undefined, 'host -> host: nothing crossed');
  assert.equal(NS_COUNT, 7);
});

test('allowlists by executable and severity overrides; file rules name their detection and technique', () => {
  const { d } = decoder({ extraAllow: [{ executables: ['/opt/ok/*'] }], detections: { 'file.credential_read': { severity: 'critical' } } });
  const policy = compilePolicy(security({}));
  const token = policy.rules.findIndex((r) => r.path.startsWith('/run/secrets/kubernetes.io'));
  const e = d.decode(record(DET.FILE_OPEN, KIND_SEC_FILE, { flags: F_CONTAINER, rule: token, path: '/run/secrets/kubernetes.io/serviceaccount/..data/token' }), 0, SEC_RECORD.size)!;
  assert.equal(e.name, 'security.file.credential_read');
  assert.equal(e.attributes['tapio.security.technique.id'], 'T1528');
  assert.equal(e.attributes['tapio.security.severity'], 'critical');
  assert.equal(d.decode(record(DET.FILE_OPEN, KIND_SEC_FILE, { flags: F_CONTAINER, rule: token, exe: '/opt/ok/agent', path: '/x' }), 0, SEC_RECORD.size), undefined);
  assert.equal(d.allowlisted, 1);
  // A host process with a container-scoped detection: out of scope, counted, not an event.
  assert.equal(d.decode(record(DET.FILE_OPEN, KIND_SEC_FILE, { rule: token, path: '/x' }), 0, SEC_RECORD.size), undefined);
  assert.equal(d.outOfScope, 1);
});

test('fuzz: random and cut records never throw; each bad one is counted', () => {
  const { d, drops } = decoder();
  let events = 0;
  for (let i = 0; i < 3000; i++) {
    const size = i % 3 === 0 ? SEC_RECORD.size : Math.floor(Math.random() * SEC_RECORD.size * 1.2);
    const b = randomBytes(size);
    if (i % 2 === 0 && size >= 8) { b.writeUInt32LE(20 + (i % 5), 0); b.writeUInt32LE(SEC_RECORD.size, 4); }
    const v = new DataView(b.buffer, b.byteOffset, b.length);
    if (d.decode(v, 0, size)) events++;
  }
  const counted = drops.rows().reduce((n, r) => n + r.count, 0);
  assert.ok(counted > 0);
  assert.equal(events + counted + d.allowlisted + d.outOfScope, 3000, 'every record is an event, a counted drop, allowlisted or out of scope');
});

test('allow entries that name a namespace, workload or image are judged after identity enrichment, and counted', () => {
  const policy = compilePolicy(security({ allow: [{ namespaces: ['kube-system'] }, { images: ['*/debug-tools:*'] }] }));
  const ev = (name: string, cgroupId: bigint): TapioEvent => ({ name, timeUnixNano: 1n, cgroupId, attributes: { 'tapio.security.in_container': true } });
  // As decoded, the event has no identity yet: the collector cannot allow it.
  assert.equal(policy.allowed(ev('security.exec', 1n)), false);
  // The pipeline enriches (here: two pods' identities by cgroup), then the rule judges.
  const identity: Record<string, Record<string, string>> = {
    '1': { 'k8s.namespace.name': 'kube-system', 'container.image.name': 'registry/coredns:1.11' },
    '2': { 'k8s.namespace.name': 'shop', 'container.image.name': 'registry/debug-tools:latest' },
    '3': { 'k8s.namespace.name': 'shop', 'container.image.name': 'registry/web:2' },
  };
  const drops = new DropCounters();
  const sink = new InMemorySink();
  const p = new Pipeline(drops, [sink], {}, (e) => Object.assign(e.attributes, identity[String(e.cgroupId)]));
  p.addRule(securityIdentityAllowRule(policy, drops));
  p.push([ev('security.exec', 1n), ev('security.exec', 2n), ev('security.file', 3n), ev('process.exec', 1n)]);
  assert.deepEqual(sink.events.map((e) => [e.name, String(e.cgroupId)]), [['security.file', '3'], ['process.exec', '1']]);
  assert.equal(drops.total({ stage: 'pipeline', reason: 'allowlisted' }), 2);
});
