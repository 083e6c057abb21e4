// Config hot reload end to end (needs root): a real `tapio run --config` process over a ConfigMap-style directory.
// A new sampling rate takes effect in the kernel (process.exec events are sampled, counted as such) without a
// restart (same pid); a bad file is refused, counted in /metrics, shown in /status and by `tapio status`, and the
// old config keeps applying; a restart-only change is reported as such and the old value stays in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { waitFor } from '../helpers/wait';
import { ConfigMapDir } from '../helpers/configmap';
import { fetchText } from '../../src/cli/status';
import type { ObserveStatus } from '../../src/observe/snapshot';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');

test('tapio run applies a ConfigMap update live, refuses a bad one, and says what needs a restart', needsRoot, async () => {
  const base = 'observe:\n  address: "127.0.0.1:0"\ncollectors:\n  network: { enabled: false }\n';
  const cm = new ConfigMapDir(base);
  const child = spawn(process.execPath, [TAPIO, 'run', '--config', cm.file, '--output', 'none'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const pid = child.pid;
  try {
    await waitFor('the observe server', () => /metrics and health on (http:\S+)/.test(stderr), 30_000);
    const url = /metrics and health on (http:\S+)/.exec(stderr)![1]!;
    const status = async () => JSON.parse((await fetchText(url, '/status', 5000)).body) as ObserveStatus;
    const execSampled = (s: ObserveStatus) => s.drops.find((d) => d.stage === 'kernel' && d.kind === 'process.exec' && d.reason === 'sampled')?.count ?? 0;
    const execs = () => { for (let i = 0; i < 20; i++) execFileSync('/bin/true'); };

    // Before: every exec is kept.
    execs();
    await waitFor('execs counted', async () => ((await status()).pipeline.received['process.exec'] ?? 0) >= 20);
    assert.equal(execSampled(await status()), 0, 'no exec is sampled before the reload');
    assert.equal((await status()).config?.counts.applied, 0);

    // A ConfigMap update: keep 1 of 4 execs. Applied live, by the same process.
    cm.publish(`${base}limits:\n  sampling: { process.exec: 4 }\n`);
    await waitFor('the reload applied', async () => (await status()).config?.counts.applied === 1);
    assert.deepEqual((await status()).config?.last?.applied, ['limits.sampling']);
    await waitFor('execs sampled in the kernel', async () => { execs(); return execSampled(await status()) > 0; });
    assert.equal(child.exitCode, null, 'still running');
    assert.equal(child.pid, pid);
    assert.match(stderr, /config reloaded from .*: applied limits\.sampling/);

    // A bad file: refused in one line, counted, shown; the sampling stays.
    cm.publish(`${base}limits:\n  sampling: { process.exec: 4 }\n  bogus: 1\n`);
    await waitFor('the rejection', async () => (await status()).config?.counts.rejected === 1);
    const st = await status();
    assert.equal(st.config?.last?.result, 'rejected');
    assert.match(st.config?.last?.error ?? '', /limits: Unrecognized key: "bogus"/);
    assert.match(stderr, /config reload rejected, still using the previous config \([0-9a-f]{16}\): .*bogus/);
    const metrics = (await fetchText(url, '/metrics', 5000)).body;
    assert.match(metrics, /tapio_config_reloads_total\{result="rejected"\} 1/);
    assert.match(metrics, /tapio_config_reloads_total\{result="applied"\} 1/);
    const sampledBefore = execSampled(st);
    await waitFor('the old sampling still applies', async () => { execs(); return execSampled(await status()) > sampledBefore; });
    const printed = execFileSync(process.execPath, [TAPIO, 'status', '--url', url], { encoding: 'utf8' });
    assert.match(printed, /last reload .*: REJECTED \(old config still in force\): .*bogus/);

    // A restart-only change: reported, the old value still in use (the observe server still answers where it was).
    cm.publish(`observe:\n  address: "127.0.0.1:1"\ncollectors:\n  network: { enabled: false }\nlimits:\n  sampling: { process.exec: 4 }\n`);
    await waitFor('the restart-only change reported', async () => (await status()).config?.needsRestart.includes('observe.address') === true);
    assert.match(stderr, /config: observe\.address changed: needs a restart; still using the old value/);
    assert.match((await fetchText(url, '/metrics', 5000)).body, /tapio_config_needs_restart 1/);
    assert.match(execFileSync(process.execPath, [TAPIO, 'status', '--url', url], { encoding: 'utf8' }),
      /changed, needs a restart \(old value in use\): observe\.address/);
    assert.equal(child.exitCode, null, 'never restarted');
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    cm.remove();
  }
});
