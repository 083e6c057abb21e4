// The spool under hostile conditions found by the reliability review: a disk smaller than maxBytes (drop_oldest must
// still apply, and the mismatch is warned about), a spool dir under /proc (an error, never a hang), a spool file
// whose unauthenticated header lies (999,999,999 records, a label with a newline), and a key file others can read.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { DiskSpool, ByteBudget, type GiveUpReason } from '../../src/export/spool';
import { capacityWarning, keyFileWarning, makeDirectory } from '../../src/export/spool-dir';
import { encodeSpoolFile, keyFromBytes, SPOOL_MAGIC, type Batch, type BatchHeader } from '../../src/export/spool-file';
import { formatSummary } from '../../src/cli/summary';
import type { AgentStatus } from '../../src/observe/sources';
import { DropCounters } from '../../src/core/drops';
import { needsRoot } from '../helpers/root';
import { tempDir, writeKey } from './helpers';

const KEY = keyFromBytes(Buffer.alloc(32, 7));

function batch(seq: number, bytes: number): Batch {
  return { signal: 'logs', encoding: 'protobuf', records: 10, kinds: { 'process.exec': 10 }, createdAtMs: Date.now() + seq,
    payload: Buffer.alloc(bytes, seq & 0xff) };
}

function recorder() {
  const gaveUp: { header: BatchHeader; reason: GiveUpReason; detail?: string }[] = [];
  return { gaveUp, onGiveUp: (header: BatchHeader, reason: GiveUpReason, detail?: string) => { gaveUp.push({ header, reason, detail }); } };
}

test('a full disk (ENOSPC below maxBytes) gives up the oldest batch, not the new one, and maxBytes is warned about', needsRoot, async (t) => {
  const mnt = fs.mkdtempSync('/tmp/tapio-small-disk-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tapio-test-tmpfs', mnt]);
  t.after(() => { execFileSync('umount', [mnt]); fs.rmdirSync(mnt); });
  const rec = recorder();
  const budget = new ByteBudget(256 << 20); // far more than the 256 KiB disk
  const spool = await DiskSpool.open(path.join(mnt, 'logs'), KEY, false,
    { budget, maxAgeMs: 3_600_000, whenFull: 'drop_oldest', onGiveUp: rec.onGiveUp });
  const warning = await capacityWarning(mnt, budget.maxBytes, budget.used);
  assert.match(warning ?? '', /spool\.maxBytes \(256\.0 MiB\) is larger than the room on the filesystem/);
  for (let i = 1; i <= 20; i++) await spool.append(batch(i, 40_000)); // 800 kB into 256 kB
  const reasons = rec.gaveUp.map((g) => g.reason);
  assert.ok(reasons.length > 0, 'the disk did fill');
  assert.deepEqual([...new Set(reasons)], ['spool_full'], `only the oldest are given up, as spool_full: ${reasons.join(',')}`);
  assert.ok(rec.gaveUp.every((g) => g.header.createdAtMs < Date.now() + 20), 'what was given up were older batches');
  // The newest batch is kept: it is the last one a peek-and-remove walk reaches.
  let last: Batch | undefined;
  let kept = 0;
  for (let head = await spool.peek(); head; head = await spool.peek()) {
    last = head.batch;
    kept++;
    await spool.remove(head.entry);
  }
  assert.equal(last?.payload[0], 20, 'the newest batch survived');
  assert.equal(kept + rec.gaveUp.length, 20, 'every batch is either kept or counted');
});

test('a spool dir under /proc is an error, quickly, never a hang', { timeout: 10_000 }, async () => {
  const rec = recorder();
  await assert.rejects(DiskSpool.open('/proc/tapio-spool-test/logs', KEY, false,
    { budget: new ByteBudget(1 << 20), maxAgeMs: 1000, whenFull: 'drop_oldest', onGiveUp: rec.onGiveUp }), /takes no new directories/);
  await assert.rejects(makeDirectory('/etc/hostname/logs'), /exists and is not a directory/);
});

test('a spool file header that lies is bounded by the file, and its labels cannot break lines', async (t) => {
  const dir = tempDir(t);
  const spoolDir = path.join(dir, 'logs');
  fs.mkdirSync(spoolDir);
  const good = encodeSpoolFile(batch(1, 500), 1n, KEY);
  // Rewrite the (unauthenticated) header: a huge count and a label with a newline in it.
  const headerLen = good.readUInt32LE(SPOOL_MAGIC.length);
  const header = JSON.parse(good.subarray(SPOOL_MAGIC.length + 4, SPOOL_MAGIC.length + 4 + headerLen).toString());
  header.records = 999_999_999;
  header.kinds = { 'evil"} 1\nfake_metric{a="b': 999_999_999 };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const edited = Buffer.concat([SPOOL_MAGIC, len, json, good.subarray(SPOOL_MAGIC.length + 4 + headerLen)]);
  fs.writeFileSync(path.join(spoolDir, `${'1'.padStart(20, '0')}.spool`), edited);

  const rec = recorder();
  const spool = await DiskSpool.open(spoolDir, KEY, false,
    { budget: new ByteBudget(1 << 20), maxAgeMs: 3_600_000, whenFull: 'drop_oldest', onGiveUp: rec.onGiveUp });
  assert.equal(await spool.peek(), undefined, 'the tampered file is not delivered');
  assert.equal(rec.gaveUp.length, 1);
  const given = rec.gaveUp[0]!;
  assert.equal(given.reason, 'spool_unreadable');
  assert.ok(given.header.records <= edited.length, `records bounded by the file size: ${given.header.records}`);
  assert.deepEqual(given.header.kinds, {}, 'no label taken from an unauthenticated header');
  assert.ok(fs.existsSync(path.join(spoolDir, 'quarantine')), 'moved aside for a human');

  // Whatever reaches the drop counters, the exit summary stays one line per drop.
  const drops = new DropCounters();
  drops.count('spool', 'evil"} 1\nfake_metric{a="b', 'spool_unreadable', 3);
  const status: AgentStatus = { node: 'n', startedAt: '', uptimeSeconds: 1, collectors: [], failed: [],
    pipeline: { received: {}, emitted: {}, filteredOut: 0 } as unknown as AgentStatus['pipeline'], drops: drops.rows() };
  const summary = formatSummary(status);
  assert.ok(!/^fake_metric/m.test(summary), summary);
  assert.match(summary, /spool "evil\\"} 1\\nfake_metric\{a=\\"b" spool_unreadable: 3/);
});

test('a spool key file readable by others is warned about', async (t) => {
  const dir = tempDir(t);
  const key = writeKey(dir);
  assert.equal(keyFileWarning(key), undefined, '0600 is fine');
  fs.chmodSync(key, 0o644);
  assert.match(keyFileWarning(key) ?? '', /readable by every user \(mode 644\).*chmod 600/);
});
