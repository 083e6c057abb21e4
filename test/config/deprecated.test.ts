// Deprecated config keys keep working through their replacement, with a note that says what to write instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load';

test('collectors.process.forkSampleEvery becomes limits.sampling[process.fork], with a note', () => {
  const notes: string[] = [];
  const c = parseConfig('collectors:\n  process: { forkSampleEvery: 10, argvMaxCount: 8 }\n', 'tapio.yaml', (m) => notes.push(m));
  assert.equal(c.limits.sampling['process.fork'], 10);
  assert.equal(c.collectors.process.argvMaxCount, 8, 'the other process settings are kept');
  assert.equal('forkSampleEvery' in c.collectors.process, false);
  assert.equal(notes.length, 1);
  assert.match(notes[0], /^tapio\.yaml: collectors\.process\.forkSampleEvery is deprecated.*limits\.sampling\['process\.fork'\] = 10/);
});

test('an explicit limits.sampling entry wins over the deprecated key, and the note says it was ignored', () => {
  const notes: string[] = [];
  const c = parseConfig("limits:\n  sampling: { 'process.fork': 3 }\ncollectors:\n  process: { forkSampleEvery: 10 }\n", 'c', (m) => notes.push(m));
  assert.equal(c.limits.sampling['process.fork'], 3);
  assert.match(notes[0], /ignored/);
});

test('no note without the deprecated key, and a bad value is still refused', () => {
  const notes: string[] = [];
  assert.deepEqual(parseConfig('collectors:\n  process: { argvMaxCount: 8 }\n', 'c', (m) => notes.push(m)).limits.sampling, {});
  assert.deepEqual(notes, []);
  assert.throws(() => parseConfig('collectors:\n  process: { forkSampleEvery: 0 }\n', 'c', () => undefined), /limits\.sampling\.process\.fork/);
});
