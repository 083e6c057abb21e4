// The ring buffer reader under real load (needs root): every record is delivered or counted as a kernel drop; a
// consumer stalled for a second makes the kernel count drops while memory stays bounded, and delivery recovers;
// stop under full load returns promptly and leaves no thread or fd behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { loadSpine, processResources, setSpineTarget, spineKernelDrops, stallUntilExited, startGenerator } from '../helpers/spine';

function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* the JS thread is stalled on purpose */ }
}

test('every record is delivered or counted: delivered + kernel drops = generated', needsRoot, async () => {
  const c = await loadSpine();
  const gen = await startGenerator(2000);
  try {
    const burst = 100;
    setSpineTarget(c, gen.pid, burst);
    let delivered = 0;
    const reader = c.openRing('spine_events', (b) => { delivered += b.count; }, { coalesceMs: 5 });
    const calls = await gen.run();
    reader.stop();
    const drops = spineKernelDrops(c);
    assert.equal(calls, 2000);
    assert.equal(delivered + drops, calls * burst, `delivered ${delivered} + dropped ${drops} != ${calls * burst}`);
    assert.ok(reader.stats().batches < delivered, 'records arrive in batches, not one callback each');
  } finally {
    gen.kill();
    await c.close();
  }
});

test('a consumer stalled for a second: drops are counted, memory stays bounded, delivery recovers', needsRoot, async () => {
  const c = await loadSpine({ ringBytes: 1 << 20 });
  const gen = await startGenerator(60_000, 20_000); // ~3 s of 20k calls/s x 20 records = 400k records/s
  try {
    const burst = 20;
    setSpineTarget(c, gen.pid, burst);
    const queueBatches = 4, batchRecords = 4096;
    let delivered = 0;
    let deliveredAfterStall = 0;
    let stalled = false;
    let stallDone = false;
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const reader = c.openRing('spine_events', (b) => {
      delivered += b.count;
      if (stallDone) deliveredAfterStall += b.count;
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      if (!stalled && delivered > 10_000) {
        stalled = true;
        busyWait(1000);
        stallDone = true;
      }
    }, { coalesceMs: 5, queueBatches, batchRecords });
    const calls = await gen.run();
    for (let i = 0; i < 100 && reader.stats().queueDepth > 0; i++) await new Promise((r) => setTimeout(r, 10));
    reader.stop();
    const drops = spineKernelDrops(c);
    assert.ok(stalled, 'the consumer was stalled');
    assert.ok(drops > 0, 'the stall made the kernel ring fill and count drops');
    assert.equal(delivered + drops, calls * burst, 'every record delivered or counted');
    assert.ok(deliveredAfterStall > 10_000, `delivery recovered after the stall (${deliveredAfterStall} records)`);
    const st = reader.stats();
    assert.ok(st.queueHighWater <= queueBatches, `queue stayed bounded (${st.queueHighWater} <= ${queueBatches})`);
    assert.ok(st.stalledMs > 0, 'the reader thread waited for JS instead of buffering');
    // Bounded: the queue holds at most queueBatches x batchRecords x 56 bytes (~1 MiB here); allow generous slack
    // for V8, far below what buffering the ~400k records of the stall would take.
    assert.ok(rssPeak - rssBefore < 64 << 20, `RSS grew by ${((rssPeak - rssBefore) / 1048576).toFixed(1)} MiB`);
  } finally {
    gen.kill();
    await c.close();
  }
});

test('stop under full load returns promptly and leaves no threads or fds behind', needsRoot, async () => {
  // Warm up once so lazily created runtime threads (libuv pool) do not count as leaks.
  await (await loadSpine()).close();
  const gen = await startGenerator(10_000_000);
  const baseline = processResources();
  const c = await loadSpine();
  try {
    setSpineTarget(c, gen.pid, 100);
    let delivered = 0;
    const reader = c.openRing('spine_events', (b) => { delivered += b.count; });
    const during = processResources();
    assert.equal(during.threads, baseline.threads + 1, 'one reader thread while running');
    const running = gen.run();
    for (let i = 0; i < 500 && delivered < 200_000; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(delivered >= 200_000, 'load is flowing before the stop');
    const t0 = process.hrtime.bigint();
    reader.stop();
    await c.close();
    const stopMs = Number(process.hrtime.bigint() - t0) / 1e6;
    // Not a performance assertion: a deadlock or a wait for the generator would take seconds or forever.
    assert.ok(stopMs < 2000, `stop took ${stopMs.toFixed(1)} ms`);
    gen.kill();
    await running.catch(() => undefined);
    const after = processResources();
    assert.equal(after.threads, baseline.threads, 'reader thread joined');
    assert.equal(after.fds, baseline.fds, 'no fd left open (maps, programs, links, ring, epoll)');
  } finally {
    gen.kill();
    await c.close();
  }
});

test('stopping a reader that is behind still delivers everything the ring holds', needsRoot, async () => {
  const c = await loadSpine({ ringBytes: 8 << 20 });
  const gen = await startGenerator(3000);
  try {
    setSpineTarget(c, gen.pid, 100);
    let delivered = 0;
    let waitingInKernel = -1;
    // JS stalls on the first batch until the generator has finished (not for a fixed time: on a loaded machine the
    // generator may take longer): the queue (1 batch) and the kernel ring fill up, and the reader is far behind
    // when it is stopped.
    const reader = c.openRing('spine_events', (b) => {
      delivered += b.count;
      if (waitingInKernel < 0) {
        stallUntilExited(gen.pid);
        waitingInKernel = 3000 * 100 - spineKernelDrops(c) - reader.stats().records;
      }
    }, { queueBatches: 1, batchRecords: 1024 });
    const calls = await gen.run();
    c.detachAll();
    const st = reader.stop();
    const dropped = spineKernelDrops(c);
    assert.equal(calls, 3000);
    assert.ok(waitingInKernel > 50_000, `the reader was behind: ${waitingInKernel} records still in the ring`);
    assert.equal(delivered, st.records, 'everything the reader took reached JS');
    assert.equal(delivered + dropped, calls * 100);
  } finally {
    gen.kill();
    await c.close();
  }
});

test('a consumer slower than the ring still lets timers run (the event loop gets a turn between deliveries)', needsRoot, async () => {
  // Under request-capture load the agent's JS is the bottleneck: the reader always has a batch queued. If each
  // delivery queued the next one straight away, Node-API would run them back to back (up to 1000 per loop turn)
  // and timers (the adaptive controller, export flushes, counter reads) would not run for seconds.
  const c = await loadSpine({ ringBytes: 1 << 20 });
  const gen = await startGenerator(2_000_000); // as fast as it goes, for as long as the test needs
  try {
    setSpineTarget(c, gen.pid, 20);
    let deliveries = 0;
    let ticks = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => { done = r; });
    // Ends from inside the consumer (a starved loop would starve a timer that ends it too).
    const reader = c.openRing('spine_events', () => {
      deliveries++;
      busyWait(2);
      if (deliveries >= 300 || ticks >= 40) done();
    }, { coalesceMs: 1, queueBatches: 8, batchRecords: 256 });
    void gen.run().catch(() => undefined);
    const timer = setInterval(() => { ticks++; }, 50);
    await finished;
    clearInterval(timer);
    reader.stop();
    // 300 deliveries of 2 ms are >= 0.6 s of JS: a 50 ms timer that gets its turn ticks ~12 times; starved, 0-1.
    assert.ok(ticks >= 4, `a 50 ms timer ran ${ticks} times during ${deliveries} deliveries of 2 ms each`);
  } finally {
    gen.kill();
    await c.close();
  }
});
