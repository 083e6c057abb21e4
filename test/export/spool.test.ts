// The disk spool: batches written while the collector is down survive an agent restart and arrive afterwards in
// order; a tampered file or a spool written with another key is refused with a clear message, quarantined and
// counted, without stopping the rest; retention and size limits give records up and count them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { DropCounters } from '../../src/core/drops';
import { createOtlpExporter, type OtlpExporter } from '../../src/export/otlp';
import { ExportConfigError } from '../../src/export/settings';
import { SpoolKeyError } from '../../src/export/spool-file';
import { config, event, tempDir, waitFor, writeKey } from './helpers';
import { OtlpReceiver } from './receiver';

/** A receiver that is started once to own a port, then stopped: the collector is down. */
async function downReceiver(t: TestContext): Promise<OtlpReceiver> {
  const r = new OtlpReceiver({ protocol: 'http' });
  await r.start();
  await r.stop();
  t.after(() => r.stop());
  return r;
}

function spoolConfig(receiver: OtlpReceiver, dir: string, keyFile: string, spool: Record<string, unknown> = {}) {
  return config({
    endpoint: receiver.url, metrics: { enabled: false }, traces: { enabled: false },
    spool: { dir: path.join(dir, 'spool'), keyFile, fsync: false, ...spool },
  });
}

/** Run an exporter against a down collector until `count` events sit in the spool, then shut it down. */
async function fillSpool(t: TestContext, receiver: OtlpReceiver, dir: string, keyFile: string, count: number,
  spool: Record<string, unknown> = {}): Promise<DropCounters> {
  const drops = new DropCounters();
  const exporter = createOtlpExporter(spoolConfig(receiver, dir, keyFile, spool), { drops, env: {}, log: () => {} });
  t.after(() => exporter.shutdown());
  await exporter.ready;
  for (let i = 0; i < count; i += 50) exporter.export(Array.from({ length: 50 }, (_, j) => event(i + j)));
  await waitFor('everything spooled', () => exporter.stats().signals.logs.queuedRecords === 0 &&
    exporter.stats().spool.files > 0 && exporter.stats().signals.logs.failedAttempts > 0);
  await exporter.shutdown();
  return drops;
}

function spoolFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'spool', 'logs')).filter((f) => f.endsWith('.spool')).sort();
}

function seqs(receiver: OtlpReceiver): number[] {
  return receiver.logRecords().map((l) => l.attributes['tapio.seq'] as number);
}

async function restart(t: TestContext, receiver: OtlpReceiver, dir: string, keyFile: string,
  spool: Record<string, unknown> = {}, now?: () => number): Promise<{ exporter: OtlpExporter; drops: DropCounters; logs: string[] }> {
  const drops = new DropCounters();
  const logs: string[] = [];
  const exporter = createOtlpExporter(spoolConfig(receiver, dir, keyFile, spool), { drops, env: {}, log: (m) => logs.push(m), now });
  t.after(() => exporter.shutdown());
  await exporter.ready;
  return { exporter, drops, logs };
}

test('an agent restart with a non-empty spool delivers everything afterwards, in order', async (t) => {
  const dir = tempDir(t);
  const keyFile = writeKey(dir);
  const receiver = await downReceiver(t);
  const before = await fillSpool(t, receiver, dir, keyFile, 1000);
  assert.equal(before.total(), 0, 'nothing given up while spooling');
  assert.ok(spoolFiles(dir).length >= 10, 'the batches are on disk');
  const onDisk = fs.readFileSync(path.join(dir, 'spool', 'logs', spoolFiles(dir)[0]!));
  assert.equal(onDisk.includes(Buffer.from('web-5d9c-abcde')), false, 'pod names are not readable on disk');

  await receiver.start();
  const { exporter, drops } = await restart(t, receiver, dir, keyFile);
  await waitFor('1000 records', () => receiver.logRecords().length >= 1000);
  assert.deepEqual(seqs(receiver), Array.from({ length: 1000 }, (_, i) => i));
  await waitFor('the spool to empty', () => exporter.stats().spool.files === 0);
  assert.deepEqual(spoolFiles(dir), []);
  assert.equal(drops.total(), 0);
});

test('a tampered spool file is refused, quarantined and counted; the others still arrive', async (t) => {
  const dir = tempDir(t);
  const keyFile = writeKey(dir);
  const receiver = await downReceiver(t);
  await fillSpool(t, receiver, dir, keyFile, 500);
  const files = spoolFiles(dir);
  const victim = path.join(dir, 'spool', 'logs', files[2]!);
  const data = fs.readFileSync(victim);
  data[data.length - 10] ^= 0xff; // one flipped bit in the ciphertext
  fs.writeFileSync(victim, data);

  await receiver.start();
  const { drops, logs } = await restart(t, receiver, dir, keyFile);
  await waitFor('the other 400 records', () => receiver.logRecords().length >= 400);
  const got = seqs(receiver);
  assert.equal(got.length, 400);
  assert.deepEqual(got.filter((s) => s >= 200 && s < 300), [], 'the tampered batch (third of five) is not sent');
  assert.equal(drops.total({ reason: 'spool_unreadable' }), 100, 'its 100 records are counted');
  assert.equal(drops.total({ stage: 'spool', kind: 'process.exec' }), 100, 'counted under their event kind');
  assert.ok(logs.some((m) => m.includes(files[2]!) && m.includes('failed authentication')), logs.join('\n'));
  assert.ok(fs.existsSync(path.join(dir, 'spool', 'logs', 'quarantine', files[2]!)), 'kept aside for inspection');
});

test('a spool written with another key is refused with a clear error, and new events still flow', async (t) => {
  const dir = tempDir(t);
  const receiver = await downReceiver(t);
  await fillSpool(t, receiver, dir, writeKey(dir, 'old.key'), 300);
  const otherKey = writeKey(dir, 'new.key', Buffer.alloc(32, 9));

  await receiver.start();
  const { exporter, drops, logs } = await restart(t, receiver, dir, otherKey);
  await waitFor('the old files to be refused', () => drops.total({ reason: 'spool_unreadable' }) === 300);
  assert.ok(logs.some((m) => m.includes('written with a different spool key')), logs.join('\n'));
  exporter.export([event(9999)]);
  await waitFor('a new record', () => receiver.logRecords().length === 1);
  assert.deepEqual(seqs(receiver), [9999]);
});

test('records older than the retention limit are given up and counted', async (t) => {
  const dir = tempDir(t);
  const keyFile = writeKey(dir);
  const receiver = await downReceiver(t);
  await fillSpool(t, receiver, dir, keyFile, 200, { maxAgeSeconds: 1 });
  await receiver.start();
  // The agent comes back two seconds later by its clock: the spooled batches are past the 1 s limit.
  const later = () => Date.now() + 2000;
  const { exporter, drops } = await restart(t, receiver, dir, keyFile, { maxAgeSeconds: 1 }, later);
  exporter.export([event(5000)]);
  await waitFor('the fresh record', () => receiver.logRecords().length >= 1);
  assert.deepEqual(seqs(receiver), [5000], 'only the fresh record is sent');
  assert.equal(drops.total({ reason: 'retention_expired' }), 200);
});

test('a full spool gives up the oldest batches and counts them; sent + dropped = produced', async (t) => {
  const dir = tempDir(t);
  const keyFile = writeKey(dir);
  const receiver = await downReceiver(t);
  const first = await fillSpool(t, receiver, dir, keyFile, 1000, { maxBytes: 100 * 1024 });
  const full = first.total({ reason: 'spool_full' });
  assert.ok(full > 0, 'some batches did not fit');

  await receiver.start();
  const { exporter } = await restart(t, receiver, dir, keyFile, { maxBytes: 100 * 1024 });
  await waitFor('the spool to empty', () => exporter.stats().spool.files === 0 && receiver.logRecords().length > 0);
  const got = seqs(receiver);
  assert.equal(got.length + full, 1000);
  assert.deepEqual(got, [...got].sort((a, b) => a - b), 'what is left arrives in order');
  assert.equal(got[got.length - 1], 999, 'the newest batches were kept');
});

test('bad key files and a spool without a key are refused at start with a message naming the fix', (t) => {
  const dir = tempDir(t);
  const short = path.join(dir, 'short.key');
  fs.writeFileSync(short, 'abc');
  const base = { endpoint: 'http://127.0.0.1:1', metrics: { enabled: false } };
  assert.throws(() => createOtlpExporter(config({ ...base, spool: { dir, keyFile: short } }), { drops: new DropCounters(), env: {} }),
    (e: Error) => e instanceof SpoolKeyError && /32-byte key/.test(e.message) && /urandom/.test(e.message));
  assert.throws(() => createOtlpExporter(config({ ...base, spool: { dir, keyFile: path.join(dir, 'missing') } }),
    { drops: new DropCounters(), env: {} }), (e: Error) => e instanceof SpoolKeyError && /cannot read/.test(e.message));
  assert.throws(() => createOtlpExporter(config({ ...base, spool: { dir } }), { drops: new DropCounters(), env: {} }),
    (e: Error) => e instanceof ExportConfigError && /keyFile is required/.test(e.message));
  const hex = path.join(dir, 'hex.key');
  fs.writeFileSync(hex, 'ab'.repeat(32) + '\n');
  const ok = createOtlpExporter(config({ ...base, spool: { dir: path.join(dir, 's'), keyFile: hex } }),
    { drops: new DropCounters(), env: {}, log: () => {} });
  return ok.shutdown();
});
