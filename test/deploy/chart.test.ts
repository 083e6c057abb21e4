// The Helm chart (deploy/helm/tapio) checked with real helm: lint, template with the defaults and several value
// sets, package; a wrong value fails with helm's message naming it; every rendered object is valid against the
// Kubernetes schemas; the rendered agent config is accepted by the agent's own parser. No API server can run here,
// so nothing is applied to a cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseConfig, ConfigError } from '../../src/config/load';
import { CHART_DIR, helm, renderChart } from './helm';
import { find, parseManifests, validateObject, type K8sObject } from './manifests';

const ROOT = path.join(__dirname, '..', '..', '..');

/** Value sets an operator would use; each must lint, render and validate. */
const VALUE_SETS: Record<string, string> = {
  defaults: '',
  'prometheus-operator, run stats, existing key, docker, no services': `
agent: { programRunStats: true, consoleOutput: json,
  runtimeSockets: [{ kind: cri, path: /run/containerd/containerd.sock }, { kind: docker, path: /var/run/docker.sock }],
  config: { export: { otlp: { enabled: true, endpoint: "http://otel-collector.observability:4317", protocol: grpc } },
            limits: { rateLimits: { process.exec: { perSecond: 500, burst: 2000 } } } } }
spool: { existingSecret: tapio-spool-key }
kubernetes: { services: false }
serviceMonitor: { enabled: true, labels: { release: prom } }
podMonitor: { enabled: true }
prometheusRule: { enabled: true }
updateStrategy: { maxUnavailable: "10%" }
resources: { requests: { cpu: 100m, memory: 256Mi }, limits: { cpu: "1", memory: 1Gi } }
`,
  'minimal: no spool, no policy, no dashboard, no service, no rbac': `
spool: { enabled: false }
networkPolicy: { enabled: false }
grafanaDashboard: { enabled: false }
service: { enabled: false }
rbac: { create: false }
serviceAccount: { create: false, name: existing-sa }
image: { repository: registry.example.com/tapio/agent, tag: "0.1.0-rc1", pullPolicy: Always }
imagePullSecrets: [{ name: regcred }]
`,
};

function render(valuesYaml: string, release = 'tapio'): K8sObject[] {
  return parseManifests(renderChart({ valuesYaml, release }));
}

function collectorContainer(objects: K8sObject[]): any {  
  return find(objects, 'DaemonSet').spec.template.spec.containers[0];
}

function agentConfigOf(objects: K8sObject[]): string {
  return find(objects, 'ConfigMap', 'tapio-collector').data['config.yaml'];
}

test('helm lint --strict passes with the defaults and every value set', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-lint-'));
    try {
      fs.writeFileSync(path.join(dir, 'v.yaml'), values);
      const r = helm(['lint', CHART_DIR, '--strict', '-f', path.join(dir, 'v.yaml')]);
      assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('the defaults give daemonset/tapio-collector in tapio-system, run as the DaemonSet of the docs', () => {
  const objects = render('');
  const ds = find(objects, 'DaemonSet');
  assert.equal(ds.metadata.name, 'tapio-collector');
  assert.equal(ds.metadata.namespace, 'tapio-system');
  assert.deepEqual(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostPID, true);
  assert.equal(pod.hostNetwork, undefined, 'pod network: the NetworkPolicy applies');
  assert.equal(pod.priorityClassName, 'system-node-critical');
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  const c = collectorContainer(objects);
  assert.equal(c.image, 'tapio/agent:0.1.0');
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
  assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['BPF', 'PERFMON'] });
  assert.equal(c.securityContext.privileged, false);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.resources, { requests: { cpu: '50m', memory: '192Mi' }, limits: { memory: '512Mi' } });
  // Host mounts are read-only except the spool.
  for (const m of c.volumeMounts) assert.equal(m.readOnly === true, m.name !== 'spool', `${m.name} read-only unless spool`);
  const env = Object.fromEntries(c.env.map((e: { name: string; valueFrom?: unknown }) => [e.name, e.valueFrom]));
  assert.deepEqual(env.NODE_NAME, { fieldRef: { fieldPath: 'spec.nodeName' } });
});

test('every rendered object of every value set is valid against the Kubernetes schemas', async () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const objects = render(values);
    assert.ok(objects.length >= 2, `${name} renders objects`);
    for (const o of objects) await validateObject(o);
  }
  // The validation itself catches a wrong object.
  const ds = structuredClone(find(render(''), 'DaemonSet'));
  ds.spec.template.spec.containers[0].ports[0].containerPort = 'metrics';
  await assert.rejects(validateObject(ds), /containerPort must be integer/);
});

test('the rendered agent config is accepted by the agent, and says what the chart promises', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const objects = render(values);
    const config = parseConfig(agentConfigOf(objects), `${name}: config.yaml`);
    const port = collectorContainer(objects).ports[0].containerPort;
    assert.equal(config.observe.address, `0.0.0.0:${port}`);
    // Scraped from the pod IP: the agent refuses a non-loopback address unless told (the NetworkPolicy limits who).
    assert.equal(config.observe.allowRemote, true, `${name}: observe.allowRemote`);
    const mounts = collectorContainer(objects).volumeMounts.map((m: { mountPath: string }) => m.mountPath);
    for (const e of config.identity.runtimes.endpoints ?? []) {
      assert.ok(mounts.includes(path.dirname(e.socket)), `${name}: ${e.socket} is inside a mounted folder`);
    }
    if (config.export.otlp.spool.dir) {
      assert.ok(mounts.includes(config.export.otlp.spool.dir), `${name}: spool dir mounted`);
      assert.ok(mounts.includes(path.dirname(config.export.otlp.spool.keyFile!)), `${name}: key mounted`);
    }
  }
  // A mistake in agent.config renders (helm cannot know the agent's schema) but the agent refuses it by name, as
  // `tapio run --check-config` does before a rollout.
  const bad = render('agent: { config: { kernel: { ringBufferBytes: 1000 } } }');
  assert.throws(() => parseConfig(agentConfigOf(bad)), (e: Error) => e instanceof ConfigError && /kernel\.ringBufferBytes/.test(e.message));
});

test('the spool key: generated as 32 random bytes, or an existing Secret named in values', () => {
  const objects = render('');
  const secret = find(objects, 'Secret');
  const fileText = Buffer.from(secret.data.key, 'base64').toString('utf8');
  assert.equal(Buffer.from(fileText, 'base64').length, 32, 'the key file holds base64 of 32 bytes');
  assert.notEqual(find(render(''), 'Secret').data.key, secret.data.key, 'a fresh key per install');
  const withExisting = render('spool: { existingSecret: my-key }');
  assert.ok(!withExisting.some((o) => o.kind === 'Secret'), 'no Secret generated');
  const vol = find(withExisting, 'DaemonSet').spec.template.spec.volumes.find((v: { name: string }) => v.name === 'spool-key');
  assert.equal(vol.secret.secretName, 'my-key');
});

test('RBAC is read-only and only what the agent asks the API server for', () => {
  const role = find(render(''), 'ClusterRole');
  const verbs = new Set(role.rules.flatMap((r: { verbs: string[] }) => r.verbs));
  assert.deepEqual([...verbs].sort(), ['get', 'list', 'watch']);
  const grants = role.rules.flatMap((r: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
    r.resources.map((res) => `${r.apiGroups[0] || 'core'}/${res}:${[...r.verbs].sort().join(',')}`)).sort();
  assert.deepEqual(grants, ['apps/replicasets:get', 'batch/jobs:get', 'core/namespaces:get', 'core/nodes:list,watch',
    'core/pods:list,watch', 'core/services:list,watch', 'discovery.k8s.io/endpointslices:list,watch']);
  assert.deepEqual(role.rules.find((r: { resources: string[] }) => r.resources.includes('namespaces')).resourceNames, ['kube-system']);
  const noServices = find(render('kubernetes: { services: false }'), 'ClusterRole');
  assert.ok(!JSON.stringify(noServices.rules).includes('services'), 'services off: no list/watch of Services');
  assert.ok(!JSON.stringify(noServices.rules).includes('endpointslices'));
});

test('optional objects: monitors, rules, network policy, dashboard; run stats add CAP_SYS_ADMIN', () => {
  const full = render(VALUE_SETS['prometheus-operator, run stats, existing key, docker, no services']);
  for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'NetworkPolicy']) find(full, kind);
  assert.deepEqual(collectorContainer(full).securityContext.capabilities.add, ['BPF', 'PERFMON', 'SYS_ADMIN']);
  assert.equal(find(full, 'ServiceMonitor').metadata.labels?.release, 'prom');
  const rules = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy', 'alerts', 'tapio-rules.yaml'), 'utf8'));
  assert.deepEqual(find(full, 'PrometheusRule').spec, rules, 'the chart ships the rules of deploy/alerts');
  const policy = find(render(''), 'NetworkPolicy');
  assert.deepEqual(policy.spec.ingress[0].from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
  assert.deepEqual(policy.spec.ingress[0].ports, [{ port: 9464, protocol: 'TCP' }]);
  const minimal = render(VALUE_SETS['minimal: no spool, no policy, no dashboard, no service, no rbac']);
  const kinds = minimal.map((o) => o.kind).sort();
  assert.deepEqual(kinds, ['ConfigMap', 'DaemonSet']);
  assert.equal(find(minimal, 'DaemonSet').spec.template.spec.serviceAccountName, 'existing-sa');
  const dash = JSON.parse(find(render(''), 'ConfigMap', 'tapio-collector-dashboard').data['tapio.json']);
  assert.equal(dash.uid, 'tapio-agent');
});

test('another release name and namespace name everything after the release', () => {
  const objects = parseManifests(renderChart({ release: 'canary', namespace: 'tapio-canary' }));
  assert.equal(find(objects, 'DaemonSet').metadata.name, 'canary-collector');
  for (const o of objects) if (o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding') assert.equal(o.metadata.namespace, 'tapio-canary');
});

test('a wrong value fails helm lint and helm template with a message naming it', () => {
  const wrong: Array<[string, RegExp]> = [
    ['agent.metricsPort=80', /agent\.metricsPort.*(minimum|greater)/is],
    ['image.pullPolicy=Sometimes', /image\.pullPolicy.*(must be one of|enum)/is],
    ['updateStrategy.maxUnavailable=0', /updateStrategy\.maxUnavailable/],
    ['agent.consoleOutput=pretty', /agent\.consoleOutput/],
    ['spool.maxBytes=10', /spool\.maxBytes/],
    ['agent.runtimeSockets[0].path=relative.sock', /agent\.runtimeSockets\.0\.path|runtimeSockets/],
    ['colector.enabled=true', /additional properties 'colector' not allowed|colector/i],
  ];
  for (const [set, message] of wrong) {
    const t = helm(['template', 'tapio', CHART_DIR, '--set', set]);
    assert.notEqual(t.code, 0, `${set} must fail`);
    assert.match(t.stderr, /values don't meet the specifications of the schema/);
    assert.match(t.stderr, message, `${set}: ${t.stderr}`);
    const l = helm(['lint', CHART_DIR, '--set', set]);
    assert.notEqual(l.code, 0, `lint ${set} must fail`);
  }
});

test('helm package makes the chart archive', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-pkg-'));
  try {
    const r = helm(['package', CHART_DIR, '--destination', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(dir, 'tapio-0.1.0.tgz')), r.stdout);
    const fromArchive = helm(['template', 'tapio', path.join(dir, 'tapio-0.1.0.tgz'), '-n', 'tapio-system']);
    assert.equal(fromArchive.code, 0, fromArchive.stderr);
    assert.match(fromArchive.stdout, /kind: DaemonSet/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
