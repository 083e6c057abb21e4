// Config: an empty file is a working config; bad values are refused with the field and the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load';

test('an empty config gives safe defaults', () => {
  const c = parseConfig('');
  assert.equal(c.kernel.coalesceMs, 5);
  assert.ok(c.kernel.ringBufferBytes >= 4096);
  assert.equal(c.collectors.process.enabled, true);
});

test('bad values name the field and the reason', () => {
  assert.throws(() => parseConfig('kernel:\n  coalesceMs: 50\n  ringBufferBytes: 1000\n'), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /kernel\.coalesceMs: .*10/);
    assert.match(e.message, /kernel\.ringBufferBytes: /);
    return true;
  });
});

test('unknown keys and broken YAML are refused, not ignored', () => {
  assert.throws(() => parseConfig('kernal: {}\n'), /Unrecognized key.*kernal/);
  assert.throws(() => parseConfig('kernel: [unclosed\n'), /not valid YAML/);
});
