// The observe server with the real agent and real BPF programs (needs root): /healthz, /readyz, /metrics, /status
// and `tapio status` all report the program the verifier rejected, with the kernel's reason; events, rate-limited
// drops, per-program run counts, ring and map figures come from real kernel activity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { startGenerator } from '../helpers/spine';
import { parseConfig } from '../../src/config/load';
import { Agent } from '../../src/agent/agent';
import { fetchText } from '../../src/cli/status';
import { createLimits, type LimitsHandle } from '../../src/pipeline/limits';
import { startObserveServer, type ObserveServer, type ObserveStatus } from '../../src/observe';
import { addTarget, testKindDrops } from '../pipeline/limits-helpers';
import { testCollectors } from './test-collectors';
import { COLLECTORS } from '../../src/collectors';

const TAPIO = path.join(__dirname, '..', '..', '..', 'bin', 'tapio.js');
/** Runs `tapio status` in a child without blocking this process, which serves the agent's endpoints. */
function tapioStatus(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TAPIO, 'status', ...args], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const VERIFIER_SAYS = /invalid unbounded variable-offset read from stack/;

/** Value of one sample line of the Prometheus text format whose labels include all of `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function withAgent(only: string[], fn: (a: { agent: Agent; server: ObserveServer; limits: LimitsHandle }) => Promise<void>): Promise<void> {
  const config = parseConfig('limits:\n  rateLimits:\n    test: { perSecond: 100, burst: 100 }\n  adaptive:\n    kinds: [test]\n');
  const agent = new Agent({ config, sinks: [], only, collectors: [...COLLECTORS, ...testCollectors()], log: () => undefined });
  let server: ObserveServer | undefined;
  let limits: LimitsHandle | undefined;
  try {
    await agent.start();
    limits = createLimits({ config: config.limits, objects: agent.collectors.flatMap((c) => c.kernelObjects?.() ?? []), startTimer: false });
    server = await startObserveServer({ address: '127.0.0.1:0', sources: { agent, limits, budget: { cpuFraction: 0.02, memoryBytes: 500 << 20 } } });
    await fn({ agent, server, limits });
  } finally {
    limits?.stop();
    await server?.close();
    await agent.stop();
  }
}

test('a healthy and a broken collector: ready, and every endpoint names the rejected program and why', needsRoot, () =>
  withAgent(['observe_broken', 'observe_limits'], async ({ agent, server, limits }) => {
    // Real activity: 200 setpriority() calls x 10 records from a child; the 100/s bucket limits most of them.
    const gen = await startGenerator(200);
    try {
      const obj = agent.collectors.find((c) => c.name === 'observe_limits')!.kernelObjects!()[0];
      addTarget(obj, gen.pid, 10);
      const calls = await gen.run();
      const generated = calls * 10;
      const kernelDrops = testKindDrops(obj);
      for (let i = 0; i < 100 && (agent.pipeline.stats().received.test ?? 0) < generated - kernelDrops.rateLimited; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      agent.syncCounters();
      assert.equal(limits.kernels.length, 1, 'limits configured in the one object that has them');

      const health = await fetchText(server.url, '/healthz', 5000);
      assert.equal(health.status, 200);

      const ready = await fetchText(server.url, '/readyz', 5000);
      assert.equal(ready.status, 200, ready.body);
      const readyDoc = JSON.parse(ready.body) as ObserveStatus['ready'];
      assert.match(readyDoc.checks[0].detail!, /observe_limits attached; unavailable: observe_broken: getppid: tracepoint load: /);

      const m = (await fetchText(server.url, '/metrics', 5000)).body;
      assert.equal(metric(m, 'tapio_collector_up', { collector: 'observe_limits' }), 1);
      assert.equal(metric(m, 'tapio_collector_up', { collector: 'observe_broken' }), 0);
      assert.equal(metric(m, 'tapio_hook_attached', { collector: 'observe_broken', hook: 'getppid', implementation: 'none' }), 0);
      assert.equal(metric(m, 'tapio_hook_attached', { collector: 'observe_broken', hook: 'emit', implementation: 'tracepoint' }), 1);
      assert.equal(metric(m, 'tapio_hook_attempt_failed', { collector: 'observe_broken', program: 'spine_broken', stage: 'load' }), 1);
      const received = metric(m, 'tapio_events_received_total', { kind: 'test' }) ?? 0;
      const limited = metric(m, 'tapio_events_dropped_total', { stage: 'kernel', kind: 'test', reason: 'rate_limited' }) ?? 0;
      assert.ok(limited > 0, 'rate-limited events are counted');
      assert.equal(received + limited, generated, `received ${received} + rate limited ${limited} = generated ${generated}`);
      assert.ok((metric(m, 'tapio_bpf_program_runs_total', { program: 'limits_emit' }) ?? 0) >= calls, 'kernel run count of the program');
      assert.ok((metric(m, 'tapio_bpf_program_run_seconds_total', { program: 'limits_emit' }) ?? 0) > 0);
      assert.equal(metric(m, 'tapio_ring_records_total', { collector: 'observe_limits', ring: 'limits_events' }), received);
      assert.equal(metric(m, 'tapio_bpf_map_entries', { collector: 'observe_limits', map: 'tapio_limits_state' }), 1);
      assert.equal(metric(m, 'tapio_limits_buckets'), 1);
      assert.equal(metric(m, 'tapio_sampling_keep_one_in', { kind: 'test' }), 1);
      assert.ok((metric(m, 'process_resident_memory_bytes') ?? 0) > 0);

      const st = JSON.parse((await fetchText(server.url, '/status', 5000)).body) as ObserveStatus;
      const brokenHook = st.collectors.find((c) => c.name === 'observe_broken')!.hooks.find((h) => h.name === 'getppid')!;
      assert.match(brokenHook.attempts[0].error, VERIFIER_SAYS, 'the verifier\'s own words in /status');
      const cg = st.limits.topCgroups[0];
      assert.equal(cg.rateLimited, limited, 'the per-cgroup count in status matches the metric');

      const cli = await tapioStatus(['--url', server.url]);
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /ready: yes/);
      assert.match(cli.stdout, /observe_broken: DOWN/);
      assert.match(cli.stdout, /getppid: UNAVAILABLE/);
      assert.match(cli.stdout, VERIFIER_SAYS);
      assert.match(cli.stdout, /observe_limits: up/);
      assert.match(cli.stdout, /kernel test rate_limited: \d+/);
    } finally {
      gen.kill();
    }
  }));

test('only a broken collector: /readyz answers 503 with the reason and `tapio status` exits non-zero', needsRoot, () =>
  withAgent(['observe_broken'], async ({ server }) => {
    // Although one of its hooks attached, the collector as a whole is down: not ready.
    const ready = await fetchText(server.url, '/readyz', 5000);
    assert.equal(ready.status, 503);
    assert.match(ready.body, /no collector has its programs attached: observe_broken: getppid: tracepoint load: /);
    const m = (await fetchText(server.url, '/metrics', 5000)).body;
    assert.equal(metric(m, 'tapio_ready'), 0);
    const cli = await tapioStatus(['--url', server.url]);
    assert.equal(cli.status, 3, 'not ready: exit code 3');
    assert.match(cli.stdout, /ready: NO/);
    assert.match(cli.stdout, VERIFIER_SAYS);
  }));

test('`tapio status` says what to do when no agent answers, and the server refuses bad addresses', async () => {
  const cli = await tapioStatus(['--url', 'http://127.0.0.1:1', '--timeout', '2']);
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:1: .*\nIs `tapio run` running/);
  await assert.rejects(startObserveServer({ address: 'not-an-address', sources: { agent: { status: () => { throw new Error('unused'); }, collectors: [], drops: undefined as never } } }),
    /must be host:port/);
});
