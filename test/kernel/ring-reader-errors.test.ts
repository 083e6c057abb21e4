// The native reader when things go wrong (needs root): a constructor that fails part-way leaves nothing behind (no
// thread, no fd), bad options are refused with a clear error, and a callback that throws while stop() delivers the
// last batches still gets everything released, the undelivered records counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/kernel/native';
import { needsRoot } from '../helpers/root';
import { loadSpine, processResources, setSpineTarget, stallUntilExited, startGenerator } from '../helpers/spine';

test('a reader that cannot open its buffer throws and leaves no thread or fd behind', needsRoot, async () => {
  const c = await loadSpine();
  try {
    const hashFd = c.map('spine_hash').fd; // a hash map: neither a ring buffer nor a perf event array
    const before = processResources();
    assert.throws(() => new (native().RingReader)(hashFd, { transport: 'ringbuf' }, () => undefined), /open ring buffer: .*\(errno \d+\)/);
    assert.throws(() => new (native().RingReader)(hashFd, { transport: 'perf' }, () => undefined), /open perf buffers: .*\(errno \d+\)/);
    assert.throws(() => new (native().RingReader)(hashFd, { transport: 'nope' as 'perf' }, () => undefined),
      /transport must be 'ringbuf' or 'perf', not 'nope'/);
    assert.throws(() => new (native().RingReader)(hashFd, { transport: 'perf', perfPagesPerCpu: 3 }, () => undefined),
      /perfPagesPerCpu must be a power of two, not 3/);
    const after = processResources();
    assert.deepEqual(after, before, 'no thread, epoll or perf fd left by the failed constructors');
  } finally {
    await c.close();
  }
});

for (const transport of ['ringbuf', 'perf'] as const) {
  test(`${transport}: a callback that throws during stop(): the error reaches the caller, everything is released, the rest is counted`, needsRoot, async () => {
    await (await loadSpine({ transport })).close(); // warm up lazily created runtime threads
    const c = await loadSpine({ transport });
    const gen = await startGenerator(2000);
    try {
      const baseline = processResources();
      setSpineTarget(c, gen.pid, 100);
      let delivered = 0;
      let stopping = false;
      let stopError: Error | undefined;
      let linkFds = 0;
      let statsAfterStop: ReturnType<typeof reader.stats> | undefined;
      // The first batch stalls JS until the generator is done (batches pile up in the queue and the kernel), then
      // stops the reader from inside the callback, so batches are certainly still waiting when stop() delivers them.
      const reader = new (native().RingReader)(c.map('spine_events').fd, { transport, queueBatches: 4, batchRecords: 1024 }, (_b, count) => {
        if (stopping) throw new Error('handler failed during stop');
        delivered += count;
        stallUntilExited(gen.pid);
        const attached = processResources().fds;
        c.detachAll();
        linkFds = attached - processResources().fds; // the program's link and perf event, closed by the detach
        stopping = true;
        try { reader.stop(); } catch (e) { stopError = e as Error; }
        statsAfterStop = reader.stats();
      });
      assert.equal(processResources().threads, baseline.threads + 1);
      await gen.run();
      for (let i = 0; i < 200 && !statsAfterStop; i++) await new Promise((r) => setTimeout(r, 10));
      assert.match(stopError?.message ?? 'stop did not throw', /handler failed during stop/);
      const st = statsAfterStop!;
      assert.equal(st.running, false);
      assert.ok(st.abandoned > 0, 'the records still queued were counted, not silently lost');
      const thrown = st.records - delivered - st.abandoned;
      assert.ok(thrown >= 1 && thrown <= 1024, `records = delivered + abandoned + the one batch whose callback threw (${thrown})`);
      const after = processResources();
      assert.equal(after.threads, baseline.threads, 'reader thread joined');
      assert.equal(after.fds, baseline.fds - linkFds, `${transport} fds closed although delivery threw`);
      assert.doesNotThrow(() => reader.stop(), 'stop() again is a no-op');
    } finally {
      gen.kill();
      await c.close();
    }
  });
}
