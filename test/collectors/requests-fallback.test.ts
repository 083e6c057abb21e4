// The request-capture collector's fallback plan (raw_tracepoint/sys_exit + fd walk), forced with
// collectors.requests.capture = 'syscalls': the same byte-for-byte checks as the socket-length plan.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { RequestsCollector } from '../../src/collectors/requests';
import { runCollector, type Running } from './collect';
import { Recorder } from './requests/recorder';
import { syscallShapes, truncatedBodies } from './requests/scenarios';

let run: Running | undefined;
let collector: RequestsCollector;
const recorder = new Recorder();

before(async () => {
  if (needsRoot.skip) return;
  collector = new RequestsCollector({ consumer: recorder.factory });
  run = await runCollector(collector, { collectors: { requests: { enabled: true, capture: 'syscalls' } } });
});

after(async () => {
  await run?.stop();
});

test('the syscall-exit plan is the one in use', needsRoot, () => {
  const st = collector.status();
  assert.equal(st.available, true, JSON.stringify(st.hooks));
  assert.equal(st.counters?.plan_syscall_exit, 1);
  assert.equal(st.hooks.find((h) => h.name === 'payload_syscalls')?.chosen?.kind, 'raw_tracepoint');
});

test('fallback: every syscall shape arrives byte for byte on both ends', needsRoot, async () => {
  await syscallShapes(run!, recorder);
});

test('fallback: copied + counted gaps = bytes on the wire', needsRoot, async () => {
  await truncatedBodies(run!, recorder);
});
