// The kernel probe's verdicts, from recorded failures (pure: no kernel needed): a failed probe of one target does
// not rule out its kind; a refused program type does. And the cgroup layout the probe reports comes from the one
// mountinfo reader (escaped paths, `xattr` and `release_agent=` are not controllers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectCgroupLayout, plannedModes, probeVerdict, unavailableKinds, type KernelFeatures } from '../../src/kernel/features';

test('a refused program type is conclusive; a missing target function is not', () => {
  assert.equal(probeVerdict('fentry', { stage: 'load', error: "prog 'probe_fentry': BPF program load failed: Operation not permitted" }), 'unavailable');
  assert.equal(probeVerdict('fentry', { stage: 'load', error: "prog 'probe_fentry': failed to find kernel BTF type ID of 'do_sys_openat2': -3" }), 'inconclusive');
  assert.equal(probeVerdict('kprobe', { stage: 'attach', error: "failed to create kprobe 'do_sys_openat2+0x0' perf event: No such file or directory" }, '/nonexistent-tracefs'), 'unavailable');
  assert.equal(probeVerdict('tp_btf', { stage: 'attach', error: 'Device or resource busy' }), 'inconclusive');
});

test('only conclusive answers make the loader skip a kind; an inconclusive one is still planned and tried', () => {
  const f = {
    programs: {
      fentry: { available: false, state: 'inconclusive', reason: 'load failed: target missing' },
      lsm: { available: false, state: 'unavailable', reason: 'load failed: Operation not permitted' },
      tracepoint: { available: true, state: 'available' },
    },
  } as unknown as KernelFeatures;
  assert.deepEqual(Object.keys(unavailableKinds(f)), ['lsm']);
  const [plan] = plannedModes(f, [{ name: 'open', implementations: [
    { kind: 'lsm', program: 'a' }, { kind: 'fentry', program: 'b' }, { kind: 'tracepoint', program: 'c' }] }]);
  assert.equal(plan!.mode, 'fentry');
  assert.deepEqual(plan!.skipped, ['lsm']);
});

test('the probe reads cgroup mounts with the one mountinfo reader', () => {
  const mountinfo = [
    '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    '31 25 0:27 / /sys/fs/cgroup/cpu\\040set rw - cgroup cgroup rw,xattr,release_agent=/sbin/agent,cpuset',
    '32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
  ].join('\n');
  assert.deepEqual(detectCgroupLayout(mountinfo), { layout: 'hybrid', v2Mount: '/sys/fs/cgroup/unified', v1Controllers: ['cpuset', 'memory'] });
});
