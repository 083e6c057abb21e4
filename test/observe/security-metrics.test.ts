// Security counters end to end (needs root, containerd for the pod): the real agent with the security collector and
// identity from a real CRI pod; real triggers in the pod and on the host. /metrics must count them per detection,
// severity and namespace (tapio_security_events_total), the OTLP metrics must carry the same counts
// (tapio.security.events, to a real OTLP receiver), and the event's ancestry must reach the container's first process
// and stop there. Workload names need the Kubernetes API (none here): the workload label is checked with pod
// attributes in security-counts.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { needsRoot } from '../helpers/root';
import { parseConfig } from '../../src/config/load';
import { Agent } from '../../src/agent/agent';
import { enrichWith } from '../../src/agent/services';
import { IdentityResolver } from '../../src/identity';
import { createOtlpExporter, type OtlpExporter } from '../../src/export/otlp';
import { tapioResource } from '../../src/export/resource';
import { fetchText } from '../../src/cli/status';
import { startObserveServer, type ObserveServer } from '../../src/observe';
import { CollectingSink } from '../helpers/agent';
import { cameTrue } from '../helpers/wait';
import { ContainerdHarness, newPodSpec, startOrSkip, type RunningContainer } from '../harness/runtimes';
import { OtlpReceiver } from '../export/receiver';
import { config as otlpConfig } from '../export/helpers';
import type { TapioEvent } from '../../src/core/event';
import { DropCounters } from '../../src/core/drops';

let agent: Agent | undefined;
let identity: IdentityResolver | undefined;
let server: ObserveServer | undefined;
let exporter: OtlpExporter | undefined;
let receiver: OtlpReceiver | undefined;
const sink = new CollectingSink();

/** Sample value of a Prometheus text line whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function startAgent(h: ContainerdHarness | undefined): Promise<void> {
  // chroot is reported for every process here, so the host row can be checked too; the rest stay at their defaults.
  const config = parseConfig('collectors:\n  security:\n    detections:\n      host.chroot: { scope: all }\n');
  config.identity.runtimes.endpoints = h ? [{ kind: 'cri', socket: h.socket, runtime: 'containerd' }] : [];
  config.identity.kubernetes.enabled = false;
  identity = new IdentityResolver({ config: config.identity, log: () => undefined });
  await identity.start();
  receiver = new OtlpReceiver({ protocol: 'http' });
  await receiver.start();
  exporter = createOtlpExporter(otlpConfig({ endpoint: receiver.url, protocol: 'http/protobuf', logs: { enabled: false } }),
    { drops: new DropCounters(), resource: tapioResource({ env: {} }), env: {}, log: () => undefined });
  const otlp = exporter;
  agent = new Agent({ config, sinks: [sink, { name: 'otlp', write: (e) => otlp.export(e) }], only: ['cgroup', 'security'],
    enrich: enrichWith(identity, undefined), identityGate: identity, cgroupChanged: (c) => identity!.cgroupChanged(c), log: () => undefined });
  await agent.start();
  server = await startObserveServer({ address: '127.0.0.1:0', sources: { agent } });
}

let containerd: ContainerdHarness | undefined;
let skipReason = '';

before(async () => {
  if (needsRoot.skip) return;
  containerd = await startOrSkip({ skip: (m) => { skipReason = m ?? 'containerd did not start'; } }, () => ContainerdHarness.start());
  if (containerd) await startAgent(containerd);
});

after(async () => {
  await agent?.stop();
  await server?.close();
  await exporter?.shutdown();
  await receiver?.stop();
  identity?.stop();
  await containerd?.teardown().catch(() => undefined);
});

const count = (name: string, pred: (e: TapioEvent) => boolean) => sink.events.filter((e) => e.name === name && pred(e)).length;

test('a pod reads /etc/shadow and a host process chroots: /metrics and OTLP count them per detection and namespace; the ancestry ends at the container\'s first process', needsRoot, async (t) => {
  if (!containerd) return t.skip(skipReason);
  const spec = newPodSpec(`sec-metrics-${process.pid}`, `tapio-sec-${process.pid}`);
  const pod = await containerd.runPod(spec);
  // The container's first process waits for a go file, then runs a shell that runs cat: two ancestors inside.
  const c: RunningContainer = await containerd.runContainer(pod, 'sec-app',
    ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; sh -c "cat /etc/shadow; true"; sleep 1000000']);
  fs.writeFileSync(`/proc/${c.pid}/root/tmp/go`, '');
  const inPod = (e: TapioEvent) => e.cgroupId === c.cgroupId;
  const read = await sink.waitFor((e) => e.name === 'security.file.credential_read' && inPod(e), 15_000, 'the pod\'s cat /etc/shadow');
  assert.equal(read.attributes['k8s.namespace.name'], spec.namespace);
  const pids = read.attributes['tapio.process.ancestors.pids'] as number[];
  assert.equal(pids.length, 2, `cat's parents inside the container: the inner sh and the container's first process (${JSON.stringify(read.attributes['tapio.process.ancestors.executables'])})`);
  assert.equal(pids.at(-1), c.pid, 'the ancestry ends at the container\'s first process, not the shim above it');
  assert.equal(read.attributes['process.parent_pid'], pids[0]);

  const chroot = spawnSync('chroot', ['/', '/bin/true'], { timeout: 10_000 });
  assert.equal(chroot.status, 0);
  await sink.waitFor((e) => e.name === 'security.host.chroot' && e.attributes['process.pid'] === chroot.pid, 10_000, 'the host chroot');

  // /metrics: the counts equal the events the sinks got, per detection, severity and namespace.
  const reads = count('security.file.credential_read', (e) => e.attributes['k8s.namespace.name'] === spec.namespace);
  const chroots = count('security.host.chroot', (e) => e.attributes['k8s.namespace.name'] === undefined);
  const { body: text } = await fetchText(server!.url, '/metrics', 5000);
  assert.equal(sample(text, 'tapio_security_events_total', { detection: 'file.credential_read', severity: 'high', k8s_namespace: spec.namespace, workload: '' }), reads, text.split('\n').filter((l) => l.startsWith('tapio_security')).join('\n'));
  assert.equal(sample(text, 'tapio_security_events_total', { detection: 'host.chroot', severity: 'medium', k8s_namespace: '', workload: '' }), chroots);
  assert.match(text, /# TYPE tapio_security_events_total counter/);

  // OTLP: the same counts on tapio.security.events, with the OpenTelemetry attribute names.
  const otlpCount = (detection: string, ns: string | undefined) => (receiver!.latestMetrics().get('tapio.security.events') ?? [])
    .filter((p) => p.attributes['tapio.security.detection'] === detection && p.attributes['k8s.namespace.name'] === ns)
    .reduce((s, p) => s + (p.value ?? 0), 0);
  assert.ok(await cameTrue(() => otlpCount('file.credential_read', spec.namespace) === reads && otlpCount('host.chroot', undefined) === chroots, 10_000),
    `OTLP tapio.security.events: ${JSON.stringify(receiver!.latestMetrics().get('tapio.security.events'))}`);
  const point = receiver!.latestMetrics().get('tapio.security.events')!.find((p) => p.attributes['tapio.security.detection'] === 'file.credential_read')!;
  assert.equal(point.attributes['tapio.security.severity'], 'high');
  assert.equal(point.attributes['k8s.container.name'], 'sec-app');
});
