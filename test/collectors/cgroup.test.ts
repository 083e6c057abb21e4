// The cgroup collector on the real kernel (needs root): a cgroup made under the v2 hierarchy is reported at once
// with its id (the inode BPF reports for tasks inside it) and its path; v1 hierarchies are left out; removal is
// reported too. Identity fed by it knows a new container cgroup before any walk of the tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { CgroupCollector, CGROUP_RECORD, KIND_MKDIR, KIND_RMDIR, decodeCgroupRecord, type CgroupChange } from '../../src/collectors/cgroup';
import { detectCgroupLayout } from '../../src/kernel/features';
import { IdentityResolver } from '../../src/identity';
import { parseConfig } from '../../src/config/load';
import { DropCounters } from '../../src/core/drops';

async function withCollector(fn: (changes: CgroupChange[], wait: (pred: (c: CgroupChange) => boolean) => Promise<CgroupChange>) => Promise<void>,
  onChange?: (c: CgroupChange) => void): Promise<void> {
  const changes: CgroupChange[] = [];
  const collector = new CgroupCollector();
  await collector.start({
    config: parseConfig(''), emit: () => undefined, drops: new DropCounters(), log: () => undefined,
    cgroupChanged: (c) => { changes.push(c as CgroupChange); onChange?.(c as CgroupChange); },
  });
  assert.equal(collector.status().available, true, JSON.stringify(collector.status().hooks));
  const wait = async (pred: (c: CgroupChange) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const c = changes.find(pred);
      if (c) return c;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`not seen; changes: ${JSON.stringify(changes.map((c) => ({ ...c, id: String(c.id), timeUnixNano: undefined })))}`);
  };
  try {
    await fn(changes, wait);
  } finally {
    await collector.stop();
  }
}

test('cgroup mkdir and rmdir on the v2 hierarchy are reported with the id BPF sees; v1 ones are not', needsRoot, async () => {
  const v2 = detectCgroupLayout().v2Mount;
  assert.ok(v2, 'this machine has a cgroup v2 mount');
  const name = `tapio-cgtest-${process.pid}`;
  const dir = path.join(v2, name, 'child');
  const v1 = fs.existsSync('/sys/fs/cgroup/cpu/') ? path.join('/sys/fs/cgroup/cpu', name) : undefined;
  await withCollector(async (changes, wait) => {
    try {
      fs.mkdirSync(dir, { recursive: true });
      if (v1) fs.mkdirSync(v1);
      const inode = BigInt(fs.statSync(dir).ino);
      const made = await wait((c) => c.op === 'mkdir' && c.path === `/${name}/child`);
      assert.equal(made.id, inode, 'the id is the directory inode (what bpf_get_current_cgroup_id reports)');
      fs.rmdirSync(dir);
      const removed = await wait((c) => c.op === 'rmdir' && c.path === `/${name}/child`);
      assert.equal(removed.id, inode);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(changes.filter((c) => c.path === `/${name}` && c.op === 'mkdir').length, 1, 'the v1 directory of the same name is not reported');
    } finally {
      for (const d of [dir, path.join(v2, name), v1]) if (d && fs.existsSync(d)) fs.rmdirSync(d);
    }
  });
});

test('identity fed by the collector knows a new container cgroup at once, without walking the tree', needsRoot, async () => {
  const v2 = detectCgroupLayout().v2Mount!;
  const id64 = 'c0ffee'.padEnd(64, '0');
  const dir = path.join(v2, 'docker', id64);
  const config = parseConfig('');
  config.identity.runtimes.endpoints = []; // no runtime: the path alone names the container
  config.identity.cgroups.minScanIntervalMs = 600_000; // and no walk would happen in time
  const dockerParentExisted = fs.existsSync(path.join(v2, 'docker'));
  const identity = new IdentityResolver({ config: config.identity });
  await identity.start();
  const scansBefore = identity.stats().cgroups;
  await withCollector(async (_changes, wait) => {
    try {
      fs.mkdirSync(dir, { recursive: true });
      const made = await wait((c) => c.op === 'mkdir' && c.path === `/docker/${id64}`);
      const attrs = identity.attributesFor(made.id);
      assert.equal(attrs['container.id'], id64);
      assert.equal(attrs['container.runtime'], 'docker');
      assert.equal(identity.stats().cgroups.scans, scansBefore.scans, 'known without a walk of the tree');
    } finally {
      if (fs.existsSync(dir)) fs.rmdirSync(dir);
      if (!dockerParentExisted) fs.rmdirSync(path.join(v2, 'docker'));
      identity.stop();
    }
  }, (c) => identity.cgroupChanged(c));
});

test('the cgroup record decoder never throws on garbage and never returns a path it did not read whole', () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 5000; i++) {
    const size = Math.floor(rand() * 700);
    const buf = new Uint8Array(size);
    for (let j = 0; j < size; j++) buf[j] = Math.floor(rand() * 256);
    const view = new DataView(buf.buffer);
    if (size >= 8 && rand() < 0.5) { view.setUint32(0, rand() < 0.5 ? KIND_MKDIR : KIND_RMDIR, true); view.setUint32(4, CGROUP_RECORD.size, true); }
    if (size >= 44 && rand() < 0.5) view.setInt32(40, 0, true);
    const r = decodeCgroupRecord(view, 0, size);
    if (r && r !== 'other_hierarchy') {
      assert.ok(size >= CGROUP_RECORD.size);
      assert.ok(r.path.length < 512);
    }
  }
});
