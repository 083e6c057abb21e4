// A cgroup v1-only host (needs root, dockerd): there the kernel's cgroup id is the same for every task, so identity
// must come from the pid. This machine is hybrid, so its v1 hierarchies are real: the resolver is given the layout a
// v1-only host has (this machine's mount table without its cgroup2 mount), and a real Docker container's process is
// resolved through its real /proc/<pid>/cgroup memory line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { IdentityResolver } from '../../src/identity/index';
import { identityConfigSchema } from '../../src/config/identity';
import { detectCgroupLayout } from '../../src/identity/cgroups/layout';
import { needsRoot } from '../helpers/root';
import { DockerHarness, startOrSkip } from '../harness/runtimes';

const mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
const hasV1 = mountinfo.split('\n').some((l) => / - cgroup /.test(l));

test('v1-only layout: events resolve by pid, whatever cgroup id the kernel reports', { ...needsRoot, skip: needsRoot.skip || (!hasV1 && 'no cgroup v1 hierarchy mounted here'), timeout: 120_000 }, async (t) => {
  const v1Only = detectCgroupLayout(mountinfo.split('\n').filter((l) => !/ - cgroup2 /.test(l)).join('\n'));
  assert.equal(v1Only.mode, 'v1');
  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  const identity = new IdentityResolver({
    layout: v1Only,
    config: identityConfigSchema.parse({ runtimes: { endpoints: [{ kind: 'docker', socket: h.socket }] } }),
  });
  try {
    const c = await h.run('tapio-v1');
    await identity.start();
    await identity.runtimes.refresh(true);
    // What a v1-only kernel reports for every task: the root of the unused v2 hierarchy.
    const attrs = identity.attributesFor(1n, c.pid);
    assert.equal(attrs['container.id'], c.id);
    assert.equal(attrs['container.name'], 'tapio-v1');
    assert.equal(attrs['container.runtime'], 'docker');
    assert.deepEqual(identity.attributesFor(1n, process.pid), {}, 'a host process is still a host process');
    assert.deepEqual(identity.attributesFor(1n), {}, 'without a pid there is nothing to go on');
  } finally {
    identity.stop();
    await h.teardown();
  }
});
