// The fallback loader against the real kernel (needs root): a real object loads, a tracepoint program attaches and
// a real event reaches JS; the fallback picks what works here and records, in the kernel's words, why the
// preferred implementations failed; a program the verifier rejects does not stop the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { failedProgramFromLog, loadCollector, programLogExcerpt, u32Key } from '../../src/kernel';
import { bootNsToUnixNano } from '../../src/kernel/clock';
import { needsRoot } from '../helpers/root';
import { loadSpine, setSpineTarget, SPINE_EMIT_IMPLEMENTATIONS } from '../helpers/spine';

const FALLBACK_HOOK = {
  name: 'fallback',
  implementations: [
    { kind: 'fentry' as const, program: 'spine_fallback_fentry' },
    { kind: 'kprobe' as const, program: 'spine_fallback_kprobe' },
    { kind: 'tracepoint' as const, program: 'spine_fallback_tracepoint' },
  ],
};

test('a tracepoint program attaches and a real event triggered here arrives in JS with the right fields', needsRoot, async () => {
  const c = await loadSpine();
  try {
    assert.equal(c.available, true, c.unavailableReasons().join('\n'));
    setSpineTarget(c, process.pid, 3);
    const records: { pid: number; tid: number; nice: number; index: number; unixNs: bigint }[] = [];
    c.openRing('spine_events', (batch) => batch.forEach((v, off) => {
      records.push({
        pid: v.getUint32(off + 24, true), tid: v.getUint32(off + 28, true),
        nice: v.getInt32(off + 44, true), index: v.getUint32(off + 40, true),
        unixNs: bootNsToUnixNano(v.getBigUint64(off + 8, true)),
      });
    }));
    const before = BigInt(Date.now()) * 1_000_000n;
    os.setPriority(process.pid, 0);
    const after = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < 200 && records.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(records.length, 3, 'one setpriority() with burst 3 gives exactly 3 records');
    assert.deepEqual(records.map((r) => r.index), [0, 1, 2]);
    for (const r of records) {
      assert.equal(r.pid, process.pid);
      assert.equal(r.nice, 0);
      // The kernel's boot-clock timestamp converts to the wall-clock moment of the call (1 ms slack each side).
      assert.ok(r.unixNs >= before - 1_000_000n && r.unixNs <= after + 2_000_000n, `time ${r.unixNs} not in [${before}, ${after}]`);
    }
  } finally {
    await c.close();
  }
});

test('the fallback loader picks the implementation that works here and says why the others failed', needsRoot, async () => {
  const c = await loadCollector({ name: 'spine_fallback', object: 'testing/spine_test.bpf.o', hooks: [FALLBACK_HOOK] });
  try {
    const hook = c.hooks[0];
    assert.ok(hook.chosen, `no implementation attached: ${JSON.stringify(hook.attempts)}`);
    // What should work here is decided independently of the loader: kprobes need kprobe_events in tracefs.
    const kprobesHere = fs.existsSync('/sys/kernel/tracing/kprobe_events') || fs.existsSync('/sys/kernel/debug/tracing/kprobe_events');
    const fentry = hook.attempts.find((a) => a.kind === 'fentry');
    if (hook.chosen.kind !== 'fentry') {
      assert.ok(fentry, 'a failed fentry is recorded');
      // Refused by the verifier (this host's 6.18), or loaded but not attachable: arm64 6.1 has no BPF trampoline
      // and says ENOTSUPP (524) at attach. Either way the reason is the kernel's, not a paraphrase.
      if (fentry.stage === 'load') assert.match(fentry.error, /BPF program load failed: \w+/);
      else assert.match(`${fentry.stage}: ${fentry.error}`, /^attach: .*\(errno \d+\)/);
    }
    if (!kprobesHere) {
      assert.equal(hook.chosen.kind, 'tracepoint');
      const kprobe = hook.attempts.find((a) => a.kind === 'kprobe');
      assert.ok(kprobe, 'a failed kprobe is recorded');
      assert.equal(kprobe.stage, 'attach');
      assert.match(kprobe.error, /No such file or directory|Operation not supported/);
    }
    // The chosen one really fires: count its own marker.
    const marker = { fentry: 1, kprobe: 2, tracepoint: 3 }[hook.chosen.kind as 'fentry' | 'kprobe' | 'tracepoint'];
    const before = c.map('spine_fired').sumU64(u32Key(marker));
    for (let i = 0; i < 5; i++) os.setPriority(process.pid, 0);
    assert.ok(c.map('spine_fired').sumU64(u32Key(marker)) - before >= 5n);
  } finally {
    await c.close();
  }
});

test('a program the verifier rejects does not stop the others in the same object', needsRoot, async () => {
  const c = await loadCollector({
    name: 'spine_broken',
    object: 'testing/spine_test.bpf.o',
    hooks: [
      { name: 'broken', optional: true, implementations: [{ kind: 'tracepoint', program: 'spine_broken' }] },
      { name: 'emit', implementations: SPINE_EMIT_IMPLEMENTATIONS },
      FALLBACK_HOOK,
    ],
  });
  try {
    const broken = c.hooks.find((h) => h.name === 'broken')!;
    assert.equal(broken.chosen, undefined);
    assert.equal(broken.attempts[0].stage, 'load');
    assert.match(broken.attempts[0].error, /invalid unbounded variable-offset read from stack/, 'the verifier\'s own message');
    assert.ok(c.hooks.find((h) => h.name === 'emit')!.chosen, 'the healthy program in the same object attached');
    assert.equal(c.available, true, 'an optional hook failing keeps the collector available');

    setSpineTarget(c, process.pid, 1);
    let n = 0;
    c.openRing('spine_events', (b) => { n += b.count; });
    os.setPriority(process.pid, 0);
    for (let i = 0; i < 200 && n < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(n, 1);
  } finally {
    await c.close();
  }
});

test('a required hook with no working implementation makes the collector unavailable, with reasons, not an exception', needsRoot, async () => {
  const c = await loadCollector({
    name: 'spine_unavailable',
    object: 'testing/spine_test.bpf.o',
    hooks: [
      { name: 'emit', implementations: SPINE_EMIT_IMPLEMENTATIONS },
      { name: 'impossible', implementations: [{ kind: 'tracepoint', program: 'spine_broken' }] },
    ],
  });
  try {
    assert.equal(c.available, false);
    const reasons = c.unavailableReasons();
    assert.equal(reasons.length, 1);
    assert.match(reasons[0], /^impossible: tracepoint \(spine_broken\) load: /);
    assert.ok(c.hooks[0].chosen, 'the working hook still attached (partial functionality)');
  } finally {
    await c.close();
  }
});

test('a missing object file is reported as unavailable with a hint, never thrown', async () => {
  const c = await loadCollector({ name: 'missing', object: 'does-not-exist.bpf.o', hooks: [{ name: 'x', implementations: [{ kind: 'tracepoint', program: 'x' }] }] });
  assert.equal(c.available, false);
  assert.match(c.unavailableReasons()[0], /cannot read BPF object .*does-not-exist\.bpf\.o.*npm run setup/);
  await c.close();
});

test('the loader reads which program failed, and its own lines, out of libbpf\'s log', () => {
  const log = [
    "libbpf: prog 'good': something harmless",
    "libbpf: prog 'bad_one': BPF program load failed: Permission denied",
    "libbpf: prog 'bad_one': -- BEGIN PROG LOAD LOG --",
    '0: R1=ctx() R10=fp0',
    'invalid unbounded variable-offset read from stack R1',
    "libbpf: prog 'bad_one': -- END PROG LOAD LOG --",
    "libbpf: prog 'bad_one': failed to load: -13",
    "libbpf: failed to load object 'x'",
  ].join('\n');
  assert.equal(failedProgramFromLog(log), 'bad_one');
  const excerpt = programLogExcerpt(log, 'bad_one');
  assert.match(excerpt, /^prog 'bad_one': BPF program load failed: Permission denied/);
  assert.match(excerpt, /invalid unbounded variable-offset read from stack R1/);
  assert.doesNotMatch(excerpt, /good|failed to load object/);
  assert.equal(failedProgramFromLog('libbpf: map \'m\': failed to create: Invalid argument'), undefined, 'a map failure is not a program\'s');
});
