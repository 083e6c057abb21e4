// The in-kernel HTTP/2 frame walker (bpf/include/l7_copy.h walk_step): with the per-syscall bound set far below
// the writes of a real peer (16 KiB against Node http2's 150 KiB writev calls), the header blocks behind the bound
// are still copied whole and DATA payload passed over, so every request on both ends keeps its own path, status and
// exact body length. The same load with the walker off loses what lay past the bound (counted, never decoded
// wrongly), which is what shows the walker at work. Needs root (real kernel capture, real Node http2 peers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { startRequestsAgent } from './requests/agent';
import { BIG, bigAnswers, triple } from './requests/h2-big';

const BOUND = 16 * 1024;

async function withAgent(walk: boolean) {
  const ra = await startRequestsAgent({ receiverDown: true, configure: (c) => {
    c.collectors.requests.http2BytesPerSyscall = BOUND;
    c.collectors.requests.http2FrameWalk = walk;
  } });
  try {
    const out = await bigAnswers(ra);
    const counters = (ra.agent.collectors.find((c) => c.name === 'requests') as unknown as { counters(): Record<string, number> }).counters();
    return { ...out, counters };
  } finally {
    await ra.stop();
  }
}

test('past a 16 KiB bound the walker keeps every header block: all requests exact on both ends', needsRoot, async () => {
  const r = await withAgent(true);
  assert.equal(r.counters.plan_socket_length, 1, 'the preferred capture plan runs (the walker lives in it and in the fallback)');
  assert.ok((r.counters.kernel_h2_data_skipped ?? 0) > BIG, `DATA payload past the bound was passed over (${r.counters.kernel_h2_data_skipped})`);
  assert.equal(r.counters.kernel_h2_walk_lost ?? 0, 0, 'the frame layout was never lost');
  assert.deepEqual(r.server.map(triple).sort(), [...r.made].sort(), 'server side');
  assert.deepEqual(r.client.map(triple).sort(), [...r.made].sort(), `client side (lost ${r.lost}; ${JSON.stringify(Object.fromEntries(Object.entries(r.counters).filter(([k]) => /gap|h2|trunc|lost|desync|ring/.test(k))))})`);
  for (const e of [...r.server, ...r.client]) assert.notEqual(e.attributes['tapio.request.partial'], true, 'every header known');
  for (const e of r.server.filter((x) => x.request!.target!.startsWith('/big/'))) {
    assert.equal(e.request!.responseBodyBytes, BIG, `${e.request!.target}: the body length is exact though most of it was not copied`);
  }
  assert.equal(r.lost, 0);
});

test('the same with the walker off: what lay past the bound is lost and counted, nothing decoded wrongly', needsRoot, async () => {
  const r = await withAgent(false);
  assert.equal(r.counters.kernel_h2_data_skipped ?? 0, 0);
  const wrong = [...r.server, ...r.client].filter((e) => !r.made.includes(triple(e)) && e.attributes['tapio.request.partial'] !== true);
  assert.deepEqual(wrong.map(triple), [], 'no request reported with a path or status it did not have');
  const complete = (side: typeof r.server) => side.filter((e) => e.attributes['tapio.request.partial'] !== true).length;
  assert.ok(complete(r.server) < r.made.length || complete(r.client) < r.made.length || r.lost > 0,
    `without the walker some requests are lost or partial (server ${complete(r.server)}, client ${complete(r.client)} of ${r.made.length}, lost ${r.lost})`);
});
