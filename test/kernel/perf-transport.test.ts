// The perf buffer transport, forced on this kernel (which has ring buffers): the same spine program, its ring map
// turned into a perf event array before load, read by the same native batching reader. Every record is delivered
// or counted as a kernel drop, also with a stalled consumer; stop leaves no thread or fd behind (needs root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTransport, perfPagesPerCpu } from '../../src/kernel/transport';
import { needsRoot } from '../helpers/root';
import { loadSpine, processResources, setSpineTarget, spineKernelDrops, stallUntilExited, startGenerator } from '../helpers/spine';

function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* the JS thread is stalled on purpose */ }
}

test('transport choice: auto takes the ring buffer here; config can force either', needsRoot, () => {
  assert.equal(chooseTransport('auto').transport, 'ringbuf', 'this kernel has ring buffers');
  assert.deepEqual(chooseTransport('perf'), { transport: 'perf', reason: 'kernel.transport: perf' });
  assert.equal(chooseTransport('ringbuf').transport, 'ringbuf');
  assert.equal(perfPagesPerCpu(8 << 20, 2), 1024, '8 MiB over 2 CPUs: 4 MiB each');
  assert.equal(perfPagesPerCpu(4096, 64), 16, 'never below 64 KiB per CPU');
  assert.equal(perfPagesPerCpu(3 << 20, 1), 512, 'rounded down to a power of two');
});

test('perf: every record is delivered or counted: delivered + kernel drops = generated', needsRoot, async () => {
  const c = await loadSpine({ transport: 'perf' });
  const gen = await startGenerator(2000);
  try {
    assert.equal(c.transport, 'perf');
    const burst = 100;
    setSpineTarget(c, gen.pid, burst);
    let delivered = 0;
    let badRecords = 0;
    const reader = c.openRing('spine_events', (b) => {
      delivered += b.count;
      // Each record is the program's own 48 bytes, kind 31 (perf pads the raw sample to 52).
      b.forEach((v, off, size) => { if (size < 48 || v.getUint32(off, true) !== 31 || v.getUint32(off + 4, true) !== 48) badRecords++; });
    }, { coalesceMs: 5 });
    const calls = await gen.run();
    const st = reader.stop();
    const drops = spineKernelDrops(c);
    assert.equal(st.transport, 'perf');
    assert.equal(calls, 2000);
    assert.equal(badRecords, 0, 'every record arrived whole');
    assert.equal(delivered + drops, calls * burst, `delivered ${delivered} + dropped ${drops} != ${calls * burst}`);
    // perf reports each lost sample too; the programs counted every one of them already (by kind), so the reader's
    // lost count is a cross-check, not more drops. Losses still unreported when the reader stopped are missing.
    assert.ok(st.lostSamples <= drops, `perf lost ${st.lostSamples} <= counted ${drops}`);
    assert.ok(st.batches < delivered, 'records arrive in batches, not one callback each');
  } finally {
    gen.kill();
    await c.close();
  }
});

test('perf: a consumer stalled for a second: drops are counted, memory stays bounded, delivery recovers', needsRoot, async () => {
  const c = await loadSpine({ ringBytes: 1 << 20, transport: 'perf' });
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
    const st = reader.stop();
    const drops = spineKernelDrops(c);
    assert.ok(stalled, 'the consumer was stalled');
    assert.ok(drops > 0, 'the stall made the perf buffers fill and the programs count drops');
    assert.equal(delivered + drops, calls * burst, 'every record delivered or counted');
    assert.ok(st.lostSamples > 0 && st.lostSamples <= drops, `perf saw losses too (${st.lostSamples} <= ${drops})`);
    assert.ok(deliveredAfterStall > 10_000, `delivery recovered after the stall (${deliveredAfterStall} records)`);
    assert.ok(st.queueHighWater <= queueBatches, `queue stayed bounded (${st.queueHighWater} <= ${queueBatches})`);
    assert.ok(st.stalledMs > 0, 'the reader thread waited for JS instead of buffering');
    assert.ok(rssPeak - rssBefore < 64 << 20, `RSS grew by ${((rssPeak - rssBefore) / 1048576).toFixed(1)} MiB`);
  } finally {
    gen.kill();
    await c.close();
  }
});

test('perf: stop under full load returns promptly and leaves no threads or fds behind', needsRoot, async () => {
  // Warm up once so lazily created runtime threads (libuv pool) do not count as leaks.
  await (await loadSpine({ transport: 'perf' })).close();
  const gen = await startGenerator(10_000_000);
  const baseline = processResources();
  const c = await loadSpine({ transport: 'perf' });
  try {
    setSpineTarget(c, gen.pid, 100);
    let delivered = 0;
    const reader = c.openRing('spine_events', (b) => { delivered += b.count; });
    const during = processResources();
    assert.equal(during.threads, baseline.threads + 1, 'one reader thread while running');
    assert.ok(during.fds > baseline.fds, 'perf event and epoll fds while running');
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
    assert.equal(after.fds, baseline.fds, 'no fd left open (maps, programs, links, perf events, epoll)');
  } finally {
    gen.kill();
    await c.close();
  }
});

test('perf: stopping a reader that is behind still delivers everything the buffers hold', needsRoot, async () => {
  const c = await loadSpine({ ringBytes: 8 << 20, transport: 'perf' });
  const gen = await startGenerator(3000);
  try {
    setSpineTarget(c, gen.pid, 100);
    let delivered = 0;
    let waitingInKernel = -1;
    // JS stalls on the first batch until the generator has finished: the queue (1 batch) and the perf buffers fill
    // up, and the reader is far behind when it is stopped.
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
    assert.ok(waitingInKernel > 50_000, `the reader was behind: ${waitingInKernel} records still in the perf buffers`);
    assert.equal(delivered, st.records, 'everything the reader took reached JS');
    assert.equal(delivered + dropped, calls * 100, `delivered ${delivered} + dropped ${dropped}`);
  } finally {
    gen.kill();
    await c.close();
  }
});
