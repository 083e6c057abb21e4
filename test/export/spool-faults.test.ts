// A spool on a volume that turns read-only (needs root for the bind mount): files that cannot be deleted after
// their records were given up must not stop delivery, and must never crash the agent.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter } from '../../src/export/otlp';
import { needsRoot } from '../helpers/root';
import { config, event, tempDir, waitFor, writeKey } from './helpers';
import { OtlpReceiver } from './receiver';

test('a read-only spool volume: expired records are counted, the files stay, fresh records still arrive', needsRoot, async (t) => {
  const dir = tempDir(t);
  const keyFile = writeKey(dir);
  const receiver = new OtlpReceiver({ protocol: 'http' });
  await receiver.start();
  await receiver.stop(); // the collector is down while the spool fills
  t.after(() => receiver.stop());
  const spoolDir = path.join(dir, 'spool');
  const cfg = config({ endpoint: receiver.url, metrics: { enabled: false }, traces: { enabled: false },
    spool: { dir: spoolDir, keyFile, fsync: false, maxAgeSeconds: 1 } });

  const first = createOtlpExporter(cfg, { drops: new DropCounters(), env: {}, log: () => {} });
  await first.ready;
  first.export(Array.from({ length: 100 }, (_, i) => event(i)));
  await waitFor('spooled', () => first.stats().spool.files > 0 && first.stats().signals.logs.queuedRecords === 0);
  await first.shutdown();

  // The volume turns read-only (a bind mount of the spool directory onto itself, remounted ro).
  const logsDir = path.join(spoolDir, 'logs');
  execFileSync('mount', ['--bind', logsDir, logsDir]);
  execFileSync('mount', ['-o', 'remount,ro,bind', logsDir]);
  const unmount = () => { try { execFileSync('umount', [logsDir]); } catch { /* already gone */ } };
  try {
    await receiver.start();
    const drops = new DropCounters();
    const logs: string[] = [];
    // The agent comes back two seconds later by its clock: past the 1 s retention.
    const second = createOtlpExporter(cfg, { drops, env: {}, log: (m) => logs.push(m), now: () => Date.now() + 2000 });
    t.after(() => second.shutdown());
    await second.ready;
    second.export([event(5000)]);
    await waitFor('the fresh record', () => receiver.logRecords().some((l) => l.attributes['tapio.seq'] === 5000));
    assert.equal(drops.total({ reason: 'retention_expired' }), 100, 'the expired records are counted');
    assert.ok(logs.some((m) => /cannot delete .*read-only/i.test(m)), `the undeletable file is reported: ${logs.join(' | ')}`);
    await second.shutdown();
  } finally {
    unmount(); // before the temp dir is removed
  }
});
