// Older-kernel paths, forced on this kernel (needs root): every collector on perf buffers instead of the ring
// buffer, with CO-RE relocations from an external BTF file (a copy of this kernel's, as a BTFHub file would be),
// loads, attaches and reports a real event. A file that is not BTF makes the load fail with libbpf's reason, which
// shows the option really reaches libbpf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CgroupCollector } from '../../src/collectors/cgroup';
import { NetworkCollector } from '../../src/collectors/network';
import { ProcessCollector } from '../../src/collectors/process';
import type { Collector } from '../../src/collectors/types';
import { loadCollector } from '../../src/kernel/loader';
import { btfFeature, detectCgroupLayout } from '../../src/kernel/features';
import { parseConfig } from '../../src/config/load';
import { needsRoot } from '../helpers/root';
import { runCollector } from '../collectors/collect';

test('kernel.transport and kernel.btfPath in the config: defaults, values, and a clear error for a bad one', () => {
  const d = parseConfig('');
  assert.equal(d.kernel.transport, 'auto');
  assert.equal(d.kernel.btfPath, undefined);
  const c = parseConfig('kernel:\n  transport: perf\n  btfPath: /var/lib/tapio/vmlinux.btf\n');
  assert.equal(c.kernel.transport, 'perf');
  assert.equal(c.kernel.btfPath, '/var/lib/tapio/vmlinux.btf');
  assert.throws(() => parseConfig('kernel:\n  transport: ring\n'), /kernel\.transport: .*"auto"\|"ringbuf"\|"perf"|kernel\.transport: Invalid/);
});

test('the BTF verdict: the kernel\'s own, kernel.btfPath, or what to do when neither is there', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-btf-'));
  try {
    const missing = btfFeature(undefined, path.join(dir, 'vmlinux'), '5.4.0-42-generic');
    assert.equal(missing.available, false);
    assert.match(missing.reason!, /vmlinux does not exist .*set kernel\.btfPath to a BTF file for exactly this kernel \(5\.4\.0-42-generic\), e\.g\. BTFHub's .*5\.4\.0-42-generic\.btf/);
    const btf = path.join(dir, 'ok.btf');
    fs.writeFileSync(btf, Buffer.from([0x9f, 0xeb, 1, 0]));
    assert.deepEqual(btfFeature(btf, path.join(dir, 'vmlinux')), { available: true, detail: `${btf} (kernel.btfPath)` });
    const packed = path.join(dir, 'packed.btf.tar.xz');
    fs.writeFileSync(packed, Buffer.from([0xfd, 0x37, 0x7a, 0x58]));
    assert.match(btfFeature(packed).reason!, /is not a BTF file .*unpack/);
    assert.match(btfFeature(path.join(dir, 'absent.btf')).reason!, /kernel\.btfPath .*absent\.btf: ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function withBtfCopy(): { btfPath: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-btf-'));
  const btfPath = path.join(dir, `vmlinux-${os.release()}.btf`);
  fs.copyFileSync('/sys/kernel/btf/vmlinux', btfPath);
  return { btfPath, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function assertOnPerf(c: Collector): void {
  const st = c.status();
  assert.equal(st.available, true, JSON.stringify(st.hooks));
  assert.deepEqual((c.kernelObjects?.() ?? []).map((o) => o.transport), ['perf']);
}

test('process collector on perf buffers with an external BTF: exec and exit arrive', needsRoot, async () => {
  const btf = withBtfCopy();
  const collector = new ProcessCollector();
  const run = await runCollector(collector, { kernel: { transport: 'perf', btfPath: btf.btfPath } });
  try {
    assertOnPerf(collector);
    const pid = spawnSync('/bin/sh', ['-c', 'exit 3'], { stdio: 'ignore' }).pid;
    const by = (name: string) => run.events.find((e) => e.name === name && e.attributes['process.pid'] === pid);
    assert.ok(await run.waitFor(() => !!by('process.exec') && !!by('process.exit')), 'exec and exit arrive');
    assert.equal(by('process.exec')!.attributes['process.executable.path'], '/bin/sh');
    assert.equal(by('process.exit')!.attributes['process.exit.code'], 3);
  } finally {
    await run.stop();
    btf.cleanup();
  }
});

test('network collector on perf buffers with an external BTF: a loopback connect arrives', needsRoot, async () => {
  const btf = withBtfCopy();
  const collector = new NetworkCollector();
  const run = await runCollector(collector, { kernel: { transport: 'perf', btfPath: btf.btfPath } });
  const server = net.createServer((s) => s.end());
  try {
    assertOnPerf(collector);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    let localPort = 0;
    await new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => { localPort = c.localPort!; c.end(); });
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    const connect = () => run.events.find((e) => e.name === 'network.tcp.connect' &&
      e.attributes['network.local.port'] === localPort && e.attributes['network.peer.port'] === port);
    assert.ok(await run.waitFor(() => !!connect()), 'the connect arrives');
    assert.equal(connect()!.attributes['process.pid'], process.pid);
  } finally {
    server.close();
    await run.stop();
    btf.cleanup();
  }
});

test('cgroup collector on perf buffers with an external BTF: a new cgroup is reported', needsRoot, async (t) => {
  const v2 = detectCgroupLayout().v2Mount;
  if (!v2) return t.skip('no cgroup2 mount here');
  const btf = withBtfCopy();
  const collector = new CgroupCollector();
  const run = await runCollector(collector, { kernel: { transport: 'perf', btfPath: btf.btfPath } });
  const dir = path.join(v2, `tapio-perf-btf-${process.pid}`);
  try {
    assertOnPerf(collector);
    fs.mkdirSync(dir);
    assert.ok(await run.waitFor(() => (collector.status().events['tapio.cgroup.mkdir'] ?? 0) > 0), JSON.stringify(collector.status().events));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await run.stop();
    btf.cleanup();
  }
});

test('a btfPath that is not BTF fails the load with libbpf\'s reason (the option reaches libbpf)', needsRoot, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-btf-'));
  const notBtf = path.join(dir, 'not.btf');
  fs.writeFileSync(notBtf, 'this is not BTF\n');
  try {
    const loaded = await loadCollector({
      name: 'spine_test', object: 'testing/spine_test.bpf.o',
      hooks: [{ name: 'emit', implementations: [{ kind: 'tracepoint', program: 'spine_emit' }] }],
    }, { btfPath: notBtf });
    assert.equal(loaded.available, false);
    const reason = loaded.unavailableReasons().join('\n') + JSON.stringify(loaded.hooks);
    assert.match(reason, /not\.btf|BTF/i, reason);
    await loaded.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The real case: a kernel without /sys/kernel/btf/vmlinux. A private mount namespace hides it (a tmpfs over
// /sys/kernel/btf; this machine has no /boot/vmlinux-* or /lib/modules copy for libbpf to fall back on), and a
// child process probes and loads every collector there, without and with kernel.btfPath.
test('with the kernel\'s BTF hidden: the probe says what to do, and kernel.btfPath makes every collector load', needsRoot, (t) => {
  if (fs.existsSync(`/boot/vmlinux-${os.release()}`) || fs.existsSync(`/lib/modules/${os.release()}/vmlinux`)) {
    return t.skip('libbpf would find this kernel\'s BTF in /boot or /lib/modules even with /sys/kernel/btf hidden');
  }
  const btf = withBtfCopy();
  const dist = path.join(__dirname, '..', '..');
  const child = `
    const { probeKernel } = require(${JSON.stringify(path.join(dist, 'src/kernel/features'))});
    const { loadCollector } = require(${JSON.stringify(path.join(dist, 'src/kernel/loader'))});
    const { processCollectorSpec } = require(${JSON.stringify(path.join(dist, 'src/collectors/process'))});
    const { networkCollectorSpec } = require(${JSON.stringify(path.join(dist, 'src/collectors/network'))});
    const { cgroupCollectorSpec } = require(${JSON.stringify(path.join(dist, 'src/collectors/cgroup'))});
    const btfPath = ${JSON.stringify(btf.btfPath)};
    const specs = [processCollectorSpec({ ringBufferBytes: 1 << 20 }),
      networkCollectorSpec({ ringBufferBytes: 1 << 20, connectionTableSize: 1024 }), cgroupCollectorSpec()];
    (async () => {
      const out = { hidden: !require('fs').existsSync('/sys/kernel/btf/vmlinux'), probe: (await probeKernel()).btf,
        probeWith: (await probeKernel({ btfPath })).btf, without: {}, with: {} };
      for (const spec of specs) {
        for (const [key, opts] of [['without', {}], ['with', { btfPath }]]) {
          const c = await loadCollector(spec, opts);
          out[key][spec.name] = { available: c.available, chosen: c.hooks.map((h) => h.chosen && h.chosen.kind),
            reasons: c.unavailableReasons().join(' | ').slice(0, 300) };
          await c.close();
        }
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((e) => { process.stderr.write(String(e.stack)); process.exit(1); });`;
  const script = 'mount -t tmpfs none /sys/kernel/btf && exec "$0" -e "$1"';
  try {
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, child],
      { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.hidden, true, 'the child does not see /sys/kernel/btf/vmlinux');
    assert.equal(out.probe.available, false);
    assert.match(out.probe.reason, /does not exist .* set kernel\.btfPath to a BTF file for exactly this kernel/);
    assert.equal(out.probeWith.available, true);
    for (const name of ['process', 'network', 'cgroup']) {
      assert.equal(out.without[name].available, false, `${name} cannot relocate without BTF: ${JSON.stringify(out.without[name])}`);
      assert.equal(out.with[name].available, true, `${name} loads with kernel.btfPath: ${JSON.stringify(out.with[name])}`);
      // tp_btf needs the kernel's own BTF to find its attach point: the tracepoint forms are used.
      assert.ok(!out.with[name].chosen.includes('tp_btf'), JSON.stringify(out.with[name].chosen));
    }
  } finally {
    btf.cleanup();
  }
});
