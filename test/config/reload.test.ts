// Config hot reload in-process: the ConfigWatcher over a ConfigMap-style directory (the kubelet's symlink swap), and
// the ConfigReloader handing a new config to real parts: a real BPF object's limit map (needs root), the adaptive
// controller, and the security rules in a real Agent's pipeline. A bad file is refused and the old config stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigWatcher, changedKeys, hashConfigText, type ConfigChange } from '../../src/config/watch';
import { parseConfig } from '../../src/config/load';
import { ConfigReloader, isLiveKey } from '../../src/agent/reload';
import { Agent } from '../../src/agent/agent';
import { InMemorySink } from '../../src/core/sink';
import { securityEvent } from '../../src/collectors/security-signals/event';
import { createLimits, kindNumber } from '../../src/pipeline/limits';
import { waitFor } from '../helpers/wait';
import { needsRoot } from '../helpers/root';
import { loadLimitsTest } from '../pipeline/limits-helpers';
import { ConfigMapDir } from '../helpers/configmap';

test('the watcher sees a ConfigMap symlink swap, ignores the same content again, and refuses bad YAML in one line', async () => {
  const first = 'limits:\n  sampling:\n    process.exec: 1\n';
  const cm = new ConfigMapDir(first);
  const seen: ConfigChange[] = [];
  const w = new ConfigWatcher({ file: cm.file, initialHash: hashConfigText(first), debounceMs: 50, onChange: (c) => seen.push(c) });
  try {
    w.start();
    cm.publish('limits:\n  sampling:\n    process.exec: 8\n');
    await waitFor('the new config', () => seen.some((c) => c.kind === 'config'));
    const got = seen.find((c) => c.kind === 'config');
    assert.equal(got?.kind === 'config' && got.config.limits.sampling['process.exec'], 8);

    const before = seen.length;
    cm.publish('limits:\n  sampling:\n    process.exec: 8\n'); // same bytes, new directory: a no-op
    await waitFor('the re-read of unchanged content', () => seen.length > before);
    assert.ok(seen.slice(before).every((c) => c.kind === 'unchanged'), JSON.stringify(seen.slice(before)));

    const n = seen.length;
    cm.publish('limits: [unclosed\n');
    await waitFor('the refusal', () => seen.slice(n).some((c) => c.kind === 'error'));
    const err = seen.slice(n).find((c) => c.kind === 'error');
    assert.ok(err?.kind === 'error');
    assert.match(err.error, /not valid YAML/);
    assert.ok(!err.error.includes('\n'), 'one line');
  } finally {
    w.close();
    cm.remove();
  }
});

test('changedKeys names leaf keys, treats per-kind maps as one setting and ignores reordering', () => {
  const a = parseConfig('limits: { sampling: { process.exec: 2, process.fork: 4 } }');
  const b = parseConfig('limits: { sampling: { process.fork: 4, process.exec: 2 } }\nkernel: { ringBufferBytes: 4096 }');
  assert.deepEqual(changedKeys(a, b), ['kernel.ringBufferBytes']);
  const c = parseConfig('limits: { sampling: { process.exec: 3 } }\nexport: { otlp: { endpoint: "http://127.0.0.1:4317" } }');
  assert.deepEqual(changedKeys(a, c), ['export.otlp.endpoint', 'limits.sampling']);
  assert.equal(isLiveKey('limits.sampling'), true);
  assert.equal(isLiveKey('securitySignals.allow.namespaces'), true);
  assert.equal(isLiveKey('export.otlp.endpoint'), false);
  assert.equal(isLiveKey('limits.bucketTableSize'), false);
});

test('a reload rewrites the kernel limit map and the controller budget; a bad file is refused and the old one stays; a restart-only change says so',
  needsRoot, async () => {
    const exec = kindNumber('process.exec')!;
    const text1 = 'limits:\n  sampling: { process.exec: 2 }\n  budget: { cpuPercent: 2 }\n';
    const config = parseConfig(text1);
    const cm = new ConfigMapDir(text1);
    const obj = await loadLimitsTest();
    const limits = createLimits({ config: config.limits, objects: [obj], startTimer: false });
    const kernel = limits.kernels[0]!;
    const logs: string[] = [];
    const agent = new Agent({ config, sinks: [] });
    const reloader = new ConfigReloader({ file: cm.file, config, text: text1, targets: { agent, limits }, debounceMs: 50,
      log: (m) => logs.push(m) }).start();
    try {
      assert.equal(kernel.get(exec).sampleEvery, 2, 'the start config is in the map');

      cm.publish('limits:\n  sampling: { process.exec: 16 }\n  budget: { cpuPercent: 5 }\n');
      await waitFor('sampling 1/16 in the kernel map', () => kernel.get(exec).sampleEvery === 16);
      assert.equal(limits.controller?.state().cpuBudget, 0.05, 'the controller has the new budget');
      assert.deepEqual(reloader.status().counts, { applied: 1, rejected: 0, unchanged: 0 });
      assert.deepEqual(reloader.status().last?.applied, ['limits.budget.cpuPercent', 'limits.sampling']);
      assert.equal(kernel.get(exec).ratePerSec, 2000, 'the default rate limit of the kind is still written');

      cm.publish('limits:\n  sampling: { process.exec: 0 }\n'); // schema error: sampling is at least 1
      await waitFor('the rejection', () => reloader.status().counts.rejected === 1);
      const st = reloader.status();
      assert.equal(st.last?.result, 'rejected');
      assert.match(st.last?.error ?? '', /limits\.sampling\.process\.exec: .*>=1/);
      assert.ok(logs.some((l) => l.startsWith('config reload rejected, still using the previous config')), logs.join('\n'));
      assert.equal(kernel.get(exec).sampleEvery, 16, 'the old config still applies');

      cm.publish('limits:\n  sampling: { process.exec: 4 }\n  budget: { cpuPercent: 5 }\nkernel:\n  ringBufferBytes: 65536\n');
      await waitFor('the next reload', () => reloader.status().counts.applied === 2);
      assert.equal(kernel.get(exec).sampleEvery, 4, 'the live part of a mixed change applies');
      assert.deepEqual(reloader.status().needsRestart, ['kernel.ringBufferBytes']);
      assert.ok(logs.includes('config: kernel.ringBufferBytes changed: needs a restart; still using the old value'), logs.join('\n'));

      cm.publish('limits:\n  sampling: {}\n  budget: { cpuPercent: 5 }\nkernel:\n  ringBufferBytes: 65536\n');
      await waitFor('sampling back to the kernel default', () => kernel.get(exec).sampleEvery === 1);

      // The controller, over budget, samples retransmits 1/2; it keeps that across a reload, and a kind taken away from it
      // gets its configured sampling back instead of keeping the controller's last N.
      const retransmit = kindNumber('network.tcp.retransmit')!; // no rate limit configured: only the controller writes it
      limits.controller!.tick({ cpuFraction: 1, rssBytes: 0, windowMs: 1000 });
      assert.equal(kernel.get(retransmit).sampleEvery, 2);
      cm.publish('limits:\n  sampling: { process.exec: 3 }\n  budget: { cpuPercent: 5 }\nkernel:\n  ringBufferBytes: 65536\n');
      await waitFor('sampling 1/3', () => kernel.get(exec).sampleEvery === 3);
      assert.equal(kernel.get(retransmit).sampleEvery, 2, 'the controller keeps where it stands');
      cm.publish('limits:\n  sampling: { process.exec: 3 }\n  budget: { cpuPercent: 5 }\n  adaptive: { kinds: [network.tcp.connect] }\n' +
        'kernel:\n  ringBufferBytes: 65536\n');
      await waitFor('retransmits no longer sampled', () => kernel.get(retransmit).sampleEvery === 1);
      assert.deepEqual(limits.controller!.sampleEvery(), { 'network.tcp.connect': 2 });
    } finally {
      reloader.close();
      limits.stop();
      await obj.close();
      cm.remove();
    }
  });

test('a reload changes the security allowlist and severity overrides for the events that follow', async () => {
  const text1 = 'securitySignals:\n  severity: { seccomp: low }\n';
  const config = parseConfig(text1);
  const cm = new ConfigMapDir(text1);
  const sink = new InMemorySink();
  const agent = new Agent({ config, sinks: [sink] });
  const reloader = new ConfigReloader({ file: cm.file, config, text: text1, targets: { agent }, debounceMs: 50, log: () => undefined }).start();
  const denial = () => securityEvent('security.seccomp.violation', 'seccomp', 'high', 1n, 7n,
    { 'k8s.namespace.name': 'batch', 'process.executable.path': '/usr/bin/unshare' });
  try {
    agent.pipeline.push([denial()]);
    assert.equal(sink.events.at(-1)?.attributes['tapio.security.severity'], 'low', 'the start override');

    cm.publish('securitySignals:\n  severity: { seccomp: critical }\n  allow: { namespaces: [ci] }\n');
    await waitFor('the reload', () => reloader.status().counts.applied === 1);
    agent.pipeline.push([denial()]);
    assert.equal(sink.events.at(-1)?.attributes['tapio.security.severity'], 'critical', 'the new override');

    cm.publish('securitySignals:\n  severity: { seccomp: critical }\n  allow: { namespaces: [batch] }\n');
    await waitFor('the second reload', () => reloader.status().counts.applied === 2);
    const before = sink.events.length;
    agent.pipeline.push([denial()]);
    assert.equal(sink.events.length, before, 'allowlisted now');
    assert.ok(agent.drops.rows().some((d) => d.reason === 'allowlisted' && d.count === 1), 'and counted, not silently lost');
  } finally {
    reloader.close();
    cm.remove();
  }
});
