// The clocks from the addon: the boot-to-wall offset from a back-to-back CLOCK_REALTIME / CLOCK_BOOTTIME pair, and
// the clock tick rate from sysconf. Checked against what the system itself says (Date.now, /proc/uptime, getconf).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { bootNowNs, bootNsToUnixNano, clockTicksPerSecond } from '../../src/kernel/clock';
import { native } from '../../src/kernel/native';

test('the clock pair is read back to back and its offset turns boot time into wall time', () => {
  const p = native().clockPair();
  assert.equal(typeof p.realtimeNs, 'bigint');
  // The best of five tries: a gap of a millisecond would mean every read was preempted.
  assert.ok(p.gapNs >= 0 && p.gapNs < 1_000_000, `gap between the boot clock reads: ${p.gapNs} ns`);
  const before = BigInt(Date.now()) * 1_000_000n;
  const wall = bootNsToUnixNano(bootNowNs());
  const after = BigInt(Date.now()) * 1_000_000n;
  // Date.now() has millisecond resolution: allow one millisecond each side.
  assert.ok(wall >= before - 1_000_000n && wall <= after + 1_000_000n, `${wall} within [${before}, ${after}]`);
});

test('bootNowNs is CLOCK_BOOTTIME: it agrees with /proc/uptime and never goes back', () => {
  const a = bootNowNs();
  const uptimeNs = BigInt(Math.round(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1e9));
  const b = bootNowNs();
  assert.ok(b >= a);
  // /proc/uptime has 10 ms resolution and is the boot clock too (it counts suspend).
  const diff = uptimeNs > a ? uptimeNs - a : a - uptimeNs;
  assert.ok(diff < 50_000_000n, `boot clock ${a} vs /proc/uptime ${uptimeNs}`);
});

test('the clock tick rate is what getconf CLK_TCK says', () => {
  const getconf = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  assert.equal(clockTicksPerSecond(), getconf);
});

test('converting a record reads no clock; a record a minute past the last measurement measures the offset again', (t) => {
  const pair = t.mock.method(native(), 'clockPair');
  const now = t.mock.method(Date, 'now');
  const boot = bootNowNs();
  bootNsToUnixNano(boot + 61_000_000_000n); // past any earlier measurement's minute: measured now
  assert.equal(pair.mock.callCount(), 1);
  for (let i = 0; i < 1000; i++) bootNsToUnixNano(boot + BigInt(i) * 1_000_000n);
  assert.equal(pair.mock.callCount(), 1, 'records within the minute reuse the offset');
  assert.equal(now.mock.callCount(), 0, 'and read no clock');
  bootNsToUnixNano(boot + 2n * 61_000_000_000n + 1n); // a minute after that measurement's boot time
  assert.equal(pair.mock.callCount(), 2);
});
