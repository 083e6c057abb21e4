// The ring buffer reader under real load (needs root): every record is delivered or counted as a kernel drop; a
// consumer stalled for a second makes the kernel count drops while memory stays bounded, and delivery recovers;
// stop under full load returns promptly and leaves no thread or fd behind.
import * as fs from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { loadSpine, processResources, setSpineTarget, spineKernelDrops, startGenerator } from '../helpers/spine';

function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* the JS thread is stalled on purpose */ }
}

/** Stalls the JS thread on purpose until done() or the deadline; the event loop (and child reaping) waits too. */
function busyWaitUntil(done: () => boolean, maxMs: number): void {
  const end = Date.now() + maxMs;
  while (!done() && Date.now() < end) { /* stalled on purpose */ }
}

/** True once the process has exited (a zombie counts: nobody reaps it while the JS thread is stalled). */
function processEnded(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return true;
  }
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
    let stalled = false;
    // JS stalls on the first batch until the generator has run to its end (however slow a loaded machine makes
    // it): the queue (1 batch) and the kernel ring fill up, and the reader is far behind when it is stopped.
    const reader = c.openRing('spine_events', (b) => {
      delivered += b.count;
      if (!stalled) { stalled = true; busyWaitUntil(() => processEnded(gen.pid), 60_000); }
    }, { queueBatches: 1, batchRecords: 1024 });
    const calls = await gen.run();
    c.detachAll();
    const before = delivered;
    reader.stop();
    const dropped = spineKernelDrops(c);
    assert.ok(delivered - before > 50_000, `the stop delivered what was still waiting (before ${before}, after ${delivered}, dropped ${dropped})`);
    assert.equal(delivered + dropped, calls * 100);
  } finally {
    gen.kill();
    await c.close();
  }
});
