// Config of limits and observe: safe defaults from an empty file, and errors that name the field and the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load';
import { kindLimitsFromConfig, kindNumber } from '../../src/pipeline/limits';

test('an empty config gives the documented defaults', () => {
  const c = parseConfig('');
  assert.equal(c.limits.budget.cpuPercent, 2);
  assert.equal(c.limits.budget.memoryMiB, 500);
  assert.equal(c.limits.adaptive.enabled, true);
  assert.equal(c.observe.address, '127.0.0.1:9464');
  const kinds = kindLimitsFromConfig(c.limits);
  assert.deepEqual(kinds.get(kindNumber('process.exec')!), { sampleEvery: 1, ratePerSec: 2000, burst: 10_000 });
});

test('rate limits and sampling become one kernel setting per kind', () => {
  const c = parseConfig('limits:\n  rateLimits:\n    process.fork: { perSecond: 50 }\n  sampling:\n    process.fork: 8\n    network.tcp.close: 2\n');
  const k = kindLimitsFromConfig(c.limits);
  assert.deepEqual(k.get(kindNumber('process.fork')!), { sampleEvery: 8, ratePerSec: 50, burst: 50 });
  assert.deepEqual(k.get(kindNumber('network.tcp.close')!), { sampleEvery: 2, ratePerSec: 0, burst: 0 });
  assert.equal(k.has(kindNumber('process.exec')!), false, 'a rateLimits map replaces the defaults');
});

test('bad values are refused with the field and the reason', () => {
  const bad: [string, RegExp][] = [
    ['limits:\n  sampling:\n    process.exe: 2\n', /limits\.sampling\.process\.exe: unknown event kind 'process\.exe' \(known: process\.exec/],
    ['limits:\n  budget:\n    cpuPercent: 0\n', /limits\.budget\.cpuPercent/],
    ['limits:\n  rateLimits:\n    process.exec: { perSecond: -1 }\n', /limits\.rateLimits\.process\.exec\.perSecond/],
    ['observe:\n  address: "9464"\n', /observe\.address: must be host:port, \[ipv6\]:port or an absolute unix socket path/],
    ['limits:\n  adaptive:\n    raiseBelowRatio: 1.5\n', /limits\.adaptive\.raiseBelowRatio/],
  ];
  for (const [text, msg] of bad) assert.throws(() => parseConfig(text), (e: unknown) => e instanceof ConfigError && msg.test(e.message), text);
  assert.equal(parseConfig('observe:\n  address: "[::1]:9464"\n').observe.address, '[::1]:9464');
  assert.equal(parseConfig('observe:\n  address: /run/tapio/observe.sock\n').observe.address, '/run/tapio/observe.sock');
});

test('exec and exit are never sampled by default: the adaptive controller may not touch them unless configured', () => {
  const c = parseConfig('').limits;
  assert.ok(!c.adaptive.kinds.includes('process.exec'));
  assert.ok(!c.adaptive.kinds.includes('process.exit'));
  assert.ok(c.adaptive.kinds.includes('process.fork'));
  assert.deepEqual(c.sampling, {});
});
