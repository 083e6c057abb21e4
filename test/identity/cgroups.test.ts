// Cgroup id -> path on the real kernel: layout detection, real systemd-style cgroups made by hand (the kubelet's
// systemd driver cannot run here: no systemd), the creation/removal hooks, the /proc fallback, and host processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectCgroupLayout, detectHostCgroupLayout, pathFromProcCgroup } from '../../src/identity/cgroups/layout';
import { CgroupPathResolver } from '../../src/identity/cgroups/resolver';
import { LruMap } from '../../src/core/lru';
import { IdentityResolver } from '../../src/identity/index';
import { identityConfigSchema } from '../../src/config/identity';
import { needsRoot } from '../helpers/root';
import { cgroupOfPid } from '../harness/processes';

const V2_MOUNTINFO = '25 1 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
const V1_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
].join('\n');

test('layout: cgroup2 only, hybrid and v1 only are told apart from mountinfo', () => {
  assert.deepEqual(detectCgroupLayout(V2_MOUNTINFO), { mode: 'v2', ids: { mountPoint: '/sys/fs/cgroup', root: '/' } });
  const hybrid = detectCgroupLayout(V1_MOUNTINFO + '\n41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n');
  assert.equal(hybrid.mode, 'hybrid');
  assert.equal(hybrid.ids.mountPoint, '/sys/fs/cgroup/unified');
  const v1 = detectCgroupLayout(V1_MOUNTINFO);
  assert.equal(v1.mode, 'v1');
  assert.equal(v1.ids.mountPoint, '/sys/fs/cgroup/memory');
  assert.throws(() => detectCgroupLayout('garbage\n1 2 3\n'), /no cgroup/);
});

test('layout: /proc/<pid>/cgroup lines map to the id hierarchy on each layout', () => {
  const text = '9:name=systemd:/a\n4:memory:/kubepods/x\n0::/kubepods/y\n';
  assert.equal(pathFromProcCgroup(text, detectCgroupLayout(V2_MOUNTINFO)), '/kubepods/y');
  assert.equal(pathFromProcCgroup(text, detectCgroupLayout(V1_MOUNTINFO)), '/kubepods/x');
  assert.equal(pathFromProcCgroup('nonsense', detectCgroupLayout(V2_MOUNTINFO)), undefined);
});

test('lru: bounded, evicts the least recently used', () => {
  const lru = new LruMap<number, string>(2);
  lru.set(1, 'a');
  lru.set(2, 'b');
  lru.get(1);
  lru.set(3, 'c');
  assert.equal(lru.size, 2);
  assert.equal(lru.peek(2), undefined);
  assert.equal(lru.peek(1), 'a');
  assert.equal(lru.evictions, 1);
});

/** Make cgroup directories in the id hierarchy, put a `sleep` child in the leaf; cleans up in `done`. */
function makeCgroupWithProcess(relative: string[]): { leaf: string; child: ChildProcess; done: () => void } {
  const layout = detectHostCgroupLayout();
  const made: string[] = [];
  let dir = layout.ids.mountPoint;
  for (const seg of relative) {
    dir = path.join(dir, seg);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir);
      made.push(dir);
    }
  }
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  const done = (): void => {
    child.kill('SIGKILL');
    // The process must leave the cgroup before rmdir works: move it back to the root first.
    try {
      fs.writeFileSync(path.join(layout.ids.mountPoint, 'cgroup.procs'), String(child.pid));
    } catch {
      // already gone
    }
    for (const d of made.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // the kill lands asynchronously
        }
      }
    }
  };
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(child.pid));
  } catch (e) {
    done();
    throw e;
  }
  return { leaf: '/' + relative.join('/'), child, done };
}

test('real systemd-style cgroups made by hand resolve to their container id and pod UID', needsRoot, async () => {
  const containerId = randomBytes(32).toString('hex');
  const uid = randomUUID();
  const u = uid.replace(/-/g, '_');
  const tag = randomBytes(3).toString('hex');
  // A private top-level slice keeps parallel runs apart; the parser only needs kubepods below it.
  const segs = [`tapio${tag}.slice`, 'kubepods.slice', 'kubepods-burstable.slice', `kubepods-burstable-pod${u}.slice`,
    `cri-containerd-${containerId}.scope`];
  const made = makeCgroupWithProcess(segs);
  const identity = new IdentityResolver({ config: identityConfigSchema.parse({ runtimes: { endpoints: [] } }) });
  try {
    await identity.start();
    const { id, path: p } = cgroupOfPid(made.child.pid!);
    assert.equal(p, made.leaf);
    const attrs = await identity.resolve(id);
    assert.equal(attrs['container.id'], containerId);
    assert.equal(attrs['container.runtime'], 'containerd');
    assert.equal(attrs['k8s.pod.uid'], uid);
    // Without any runtime or API server, names are unknown rather than guessed.
    assert.equal(attrs['container.name'], undefined);
    assert.equal(attrs['k8s.pod.name'], undefined);

    // The same id is answered from the cache afterwards, as the same object.
    assert.equal(identity.attributesFor(id), identity.attributesFor(id));
  } finally {
    identity.stop();
    made.done();
  }
});

test('a new cgroup is learned by a rescan on a miss, and a removed one is forgotten', needsRoot, async () => {
  const containerId = randomBytes(32).toString('hex');
  const resolver = new CgroupPathResolver({ minScanIntervalMs: 10 });
  await resolver.scan();
  const made = makeCgroupWithProcess([`tapio${randomBytes(3).toString('hex')}`, 'docker', containerId]);
  let id: bigint | undefined;
  try {
    id = cgroupOfPid(made.child.pid!).id;
    assert.equal(await resolver.resolve(id), made.leaf);
    assert.ok(resolver.stats().misses >= 1);
  } finally {
    made.done();
  }
  await new Promise((r) => setTimeout(r, 20));
  await resolver.scan();
  assert.equal(resolver.pathOf(id), undefined, 'removed cgroup must be forgotten');
  resolver.stop();
});

test('hooks: cgroup_mkdir/rmdir events feed the cache directly', () => {
  const resolver = new CgroupPathResolver({ minScanIntervalMs: 60_000 });
  const removed: bigint[] = [];
  resolver.onRemoved((id) => removed.push(id));
  const fakeId = 0x7fff_ffff_0000n + BigInt(Math.floor(Math.random() * 1000));
  resolver.onCgroupCreated(fakeId, '/docker/' + 'a'.repeat(64));
  assert.equal(resolver.pathOf(fakeId), '/docker/' + 'a'.repeat(64));
  resolver.onCgroupRemoved(fakeId);
  assert.deepEqual(removed, [fakeId]);
  resolver.onCgroupCreated(fakeId, 'not-absolute');
  assert.equal(resolver.pathOf(fakeId), undefined);
  resolver.stop();
});

test('the /proc fallback resolves a pid whose cgroup was never scanned', needsRoot, () => {
  const containerId = randomBytes(32).toString('hex');
  const made = makeCgroupWithProcess([`tapio${randomBytes(3).toString('hex')}`, 'docker', containerId]);
  const resolver = new CgroupPathResolver({ minScanIntervalMs: 60_000 });
  try {
    const { id } = cgroupOfPid(made.child.pid!);
    assert.equal(resolver.pathOfPid(made.child.pid!, id), made.leaf);
    assert.equal(resolver.pathOf(id), made.leaf);
    // A pid that does not exist is a counted failure, not an exception.
    assert.equal(resolver.pathOfPid(2 ** 22 + 1), undefined);
    assert.ok(resolver.stats().procLookupFailures >= 1);
  } finally {
    resolver.stop();
    made.done();
  }
});

test('host processes get no identity attributes', needsRoot, async () => {
  const identity = new IdentityResolver({ config: identityConfigSchema.parse({ runtimes: { endpoints: [] } }) });
  try {
    await identity.start();
    assert.deepEqual(identity.attributesFor(1n), {});
    const own = cgroupOfPid(process.pid);
    assert.deepEqual(await identity.resolve(own.id, process.pid), {});
    assert.deepEqual(identity.attributesFor(0n, process.pid), {});
    // Never throws, whatever it is given.
    assert.deepEqual(identity.attributesFor(-5n), {});
    const event = { name: 'process.exec', timeUnixNano: 0n, cgroupId: 1n, attributes: { 'process.pid': process.pid } };
    identity.enrich(event);
    assert.deepEqual(event.attributes, { 'process.pid': process.pid });
  } finally {
    identity.stop();
  }
});
