// The identity gate gives up on a container no runtime knows (needs root, dockerd): its events are held once while
// a re-list is tried, and not again until the next periodic re-list, so they are not delayed over and over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IdentityResolver } from '../../src/identity/index';
import { identityConfigSchema } from '../../src/config/identity';
import { detectCgroupLayout } from '../../src/kernel/features';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import { DockerHarness, startOrSkip } from '../harness/runtimes';

test('a container no connected runtime can name is held once, then let through', { ...needsRoot, timeout: 120_000 }, async (t) => {
  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  const v2 = detectCgroupLayout().v2Mount!;
  const stranger = 'feed'.padEnd(64, '0'); // a docker-looking cgroup that dockerd knows nothing about
  const dir = path.join(v2, 'docker', stranger);
  const identity = new IdentityResolver({
    config: identityConfigSchema.parse({ runtimes: { endpoints: [{ kind: 'docker', socket: h.socket }] } }),
  });
  const parentExisted = fs.existsSync(path.dirname(dir));
  try {
    fs.mkdirSync(dir, { recursive: true });
    await identity.start();
    const id = BigInt(fs.statSync(dir).ino);
    const event = (): TapioEvent => ({ name: 'process.exec', timeUnixNano: 0n, cgroupId: id, attributes: {} });
    const e1 = event();
    identity.enrich(e1);
    assert.equal(e1.attributes['container.id'], stranger, 'the path names the container');
    assert.equal(identity.incomplete(e1), true, 'first time: worth waiting for a re-list');
    await identity.settle(id);
    const e2 = event();
    identity.enrich(e2);
    assert.equal(e2.attributes['container.name'], undefined, 'no runtime knows it');
    assert.equal(identity.incomplete(e2), false, 'after a re-list that did not help, its events are not held again');
    // A runtime change since the give-up (here: another container started) may be the one that names it (a
    // container's first exec is often seen while dockerd is still creating it): worth waiting again. Before, its
    // later execs went out unnamed for a whole re-list interval (test/deploy/image.test.ts saw it under load).
    const generation = identity.runtimes.generation;
    await h.run('hold-giveup-other', ['sleep', '30']);
    for (let i = 0; i < 100 && identity.runtimes.generation === generation; i++) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(identity.runtimes.generation, generation, 'dockerd told of the new container');
    const e3 = event();
    identity.enrich(e3);
    assert.equal(identity.incomplete(e3), true, 'after a runtime change its events are held for a re-list again');
  } finally {
    identity.stop();
    await h.teardown(); // first: its containers leave their cgroups under the same parent
    fs.rmdirSync(dir);
    try {
      if (!parentExisted) fs.rmdirSync(path.dirname(dir));
    } catch { /* the runtime's own cgroups may still be going away: harmless */ }
  }
});
