// The kernel matrix (needs root, qemu from Debian; scripts/kernel-matrix): Debian's 6.1 and 6.12 kernels boot under
// qemu with this machine's root filesystem, and there the preferred implementations this kernel refuses (fentry,
// fexit, kprobe, kretprobe) load and attach. On each: the probe sees them, every implementation of the network
// collector's accept hook gives the right event when forced, and the loader/process/network tests pass (on 6.12 also
// nginx over TLS with curl: the TLS uprobes load and capture there).
// Debian bullseye's 5.10 (the oldest kernel the archive serves): the probe reports bpf_loop and bpf_task_pt_regs
// unavailable with the verifier's reason, every collector starts and is available or says why per hook (no crash),
// and the loader/process/network tests pass there too. The kernels run one after another (TCG, 2 cores).
// A VM that cannot be had skips or fails as test/helpers/vm.ts says (CI=true or TAPIO_MATRIX=required: fails).
// A failing test inside the VM fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsRoot } from '../helpers/root';
import { inVm, noVm, VM_INFRA_CODES as INFRA } from '../helpers/vm';

for (const kernel of ['6.1', '6.12']) {
  test(`kernel ${kernel} under qemu: fentry/kprobe paths load, every accept implementation works, tests pass`, { ...needsRoot, timeout: 900_000 }, (t) => {
    const probe = inVm(kernel, ['node', 'bin/tapio.js', 'probe', '--json'], 300);
    if (INFRA.has(probe.code)) return noVm(t, kernel, probe.err.trim().split('\n').slice(-3).join(' | '));
    assert.equal(probe.code, 0, probe.err);
    const p = JSON.parse(probe.out);
    for (const kind of ['tracepoint', 'tp_btf', 'fentry', 'fexit', 'kprobe', 'kretprobe']) {
      assert.equal(p.programs[kind]?.available, true, `${kind} on ${kernel}: ${p.programs[kind]?.reason}`);
    }

    const fallback = inVm(kernel, ['node', 'scripts/kernel-matrix/fallback-paths.js'], 600);
    assert.equal(fallback.code, 0, fallback.err);
    const rows = fallback.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.implementation), ['fexit', 'kretprobe', 'tp_btf', 'tracepoint']);
    for (const r of rows) assert.equal(r.ok, true, `accept via ${r.implementation} on ${kernel}: ${JSON.stringify(r)}`);

    // 6.12 has request capture: TLS capture end to end there too (its verifier once refused the uretprobes).
    const tls = kernel === '6.12' ? ['dist/test/collectors/requests-tls-nginx.test.js'] : [];
    const tests = inVm(kernel, ['node', '--test', '--test-concurrency=1', '--test-reporter=tap', 'dist/test/kernel/loader.test.js',
      'dist/test/collectors/network.test.js', 'dist/test/collectors/process.test.js', ...tls], 1500);
    const failed = tests.out.split('\n').filter((l) => /^\s*not ok /.test(l));
    assert.deepEqual(failed, [], `tests failing on ${kernel}:\n${tests.out.slice(-4000)}`);
    assert.equal(tests.code, 0, tests.err.slice(-2000));
    assert.ok(tests.out.split('\n').filter((l) => /^ok /.test(l)).length >= 10, 'the tests ran');
  });
}

/** Lines of a VM's output that are JSON rows starting with `prefix` (the output may carry other text). */
function jsonRows(out: string, prefix: string): Record<string, any>[] {
  return out.split('\n').filter((l) => l.startsWith(prefix)).map((l) => JSON.parse(l));
}

test('kernel 5.10 under qemu: the probe reports the missing helpers, every collector loads or says why, tests pass', { ...needsRoot, timeout: 900_000 }, (t) => {
  const kernel = '5.10';
  // One boot for both: the probe's JSON, then one JSON row per collector started for real (load-collectors.js).
  const probe = inVm(kernel, ['sh', '-c', 'node bin/tapio.js probe --json > /km/probe.json; rc=$?; cat /km/probe.json | tr -d "\\n"; echo; '
    + 'node scripts/kernel-matrix/load-collectors.js; exit $((rc + $?))'], 400);
  if (INFRA.has(probe.code)) return noVm(t, kernel, probe.err.trim().split('\n').slice(-3).join(' | '));
  assert.equal(probe.code, 0, `${probe.err.slice(-2000)}\n${probe.out.slice(-2000)}`);
  const [p] = jsonRows(probe.out, '{  "kernelRelease"');
  assert.ok(p, `no probe JSON in:\n${probe.out.slice(0, 2000)}`);
  assert.match(p.kernelRelease, /^5\.10\./);
  for (const kind of ['tracepoint', 'tp_btf', 'fentry', 'kprobe', 'kretprobe', 'lsm']) {
    assert.equal(p.programs[kind]?.available, true, `${kind} on ${kernel}: ${p.programs[kind]?.reason}`);
  }
  for (const h of ['bpf_loop', 'bpf_task_pt_regs', 'bpf_get_current_task_btf', 'bpf_task_storage_get']) {
    assert.equal(p.helpers[h]?.available, false, `${h} is not in 5.10`);
    assert.ok((p.helpers[h].reason ?? '').length > 10, `${h} says why: ${p.helpers[h].reason}`);
  }
  assert.match(p.helpers.bpf_task_pt_regs.reason, /invalid func|unknown func/, 'the verifier\'s words');
  for (const h of ['bpf_ringbuf_reserve', 'bpf_ringbuf_output']) assert.equal(p.helpers[h]?.available, true, `${h}: ${p.helpers[h]?.reason}`);

  const rows = jsonRows(probe.out, '{"collector"');
  assert.deepEqual(rows.map((r) => r.collector), ['cgroup', 'process', 'network', 'security', 'security-signals', 'audit', 'requests']);
  for (const r of rows) {
    assert.equal(r.started, true, `${r.collector} started on ${kernel} (or said why): ${r.error}`);
    for (const h of r.hooks) {
      if (!h.chosen) assert.ok(h.attempts.length > 0 && h.attempts.every((a: { error: string }) => a.error.length > 0), `${r.collector}/${h.name} says why: ${JSON.stringify(h)}`);
    }
    if (!r.available) assert.ok(r.hooks.some((h: { optional: boolean; chosen?: string }) => !h.optional && !h.chosen), `${r.collector} unavailable names a required hook`);
  }
  for (const name of ['cgroup', 'process', 'network']) assert.equal(rows.find((r) => r.collector === name)!.available, true, `${name} works on ${kernel}`);

  const tests = inVm(kernel, ['node', '--test', '--test-concurrency=1', '--test-reporter=tap', 'dist/test/kernel/loader.test.js',
    'dist/test/collectors/network.test.js', 'dist/test/collectors/process.test.js'], 1500);
  const failed = tests.out.split('\n').filter((l) => /^\s*not ok /.test(l));
  assert.deepEqual(failed, [], `tests failing on ${kernel}:\n${tests.out.slice(-4000)}`);
  assert.equal(tests.code, 0, tests.err.slice(-2000));
  assert.ok(tests.out.split('\n').filter((l) => /^ok /.test(l)).length >= 10, 'the tests ran');
});
