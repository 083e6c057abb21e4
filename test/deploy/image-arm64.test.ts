// The agent image for arm64 (`npm run image -- --arch arm64`): built on this x86 machine, it says linux/arm64, and
// (1) under Docker with qemu-user (binfmt_misc), its Node, native addon and libbpf load and `tapio probe` runs to
// the end, reporting what qemu-user cannot do (it has no bpf(2): "Function not implemented"); (2) its filesystem,
// booted as the root of Debian's arm64 kernel under qemu-system-aarch64, runs `tapio probe` with real BPF: the
// image's own objects and addon load there. Builds the image first (cached); a machine that cannot build or run
// it skips with the reason (fails where the matrix is expected: test/helpers/vm.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DockerHarness, startOrSkip } from '../harness/runtimes';
import { run } from '../harness/processes';
import { needsRoot } from '../helpers/root';
import { noVm, VM_INFRA_CODES } from '../helpers/vm';

const ROOT = path.join(__dirname, '..', '..', '..');
const skip = needsRoot.skip || (process.arch !== 'x64' ? 'cross-builds from x86_64 only' : false);

interface BuiltImage { image: string; architecture: string; archive: string; sizeBytes: number; buildSeconds: number }

test('the arm64 image builds, runs its arm64 Node and addon under qemu-user, and probes real BPF on an arm64 kernel', { skip, timeout: 30 * 60_000 }, async (t) => {
  const b = spawnSync('bash', [path.join(ROOT, 'scripts', 'image', 'build.sh'), '--arch', 'arm64'], { encoding: 'utf8', timeout: 20 * 60_000 });
  if (b.status === 3 || b.signal) return noVm(t, 'the arm64 image', `cannot be built here: ${(b.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`);
  assert.equal(b.status, 0, `image build failed:\n${b.stderr}`);
  const built = JSON.parse(fs.readFileSync(path.join(ROOT, '.cache', 'image', 'tapio-agent-arm64.json'), 'utf8')) as BuiltImage;
  t.diagnostic(`image ${built.image}: ${(built.sizeBytes / 1e6).toFixed(0)} MB, built in ${built.buildSeconds} s`);
  assert.equal(built.architecture, 'arm64');
  assert.ok(built.sizeBytes <= 220e6, `image is ${built.sizeBytes} bytes, goal <= 220 MB`);
  if (!fs.existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64')) return noVm(t, 'the arm64 image', 'qemu-aarch64 is not registered with binfmt_misc (scripts/arm64/setup.sh does it)');

  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  const docker = (args: string[], timeoutMs = 180_000): string => run('docker', ['-H', `unix://${h.socket}`, ...args], process.env, timeoutMs);
  const rootDir = fs.mkdtempSync('/var/tmp/tapio-arm64-image-');
  try {
    docker(['load', '-i', built.archive], 300_000);
    const script = "const c=require('crypto'),fs=require('fs');const n=require('/opt/tapio/native/build/Release/tapio_native.node');" +
      "const o='/opt/tapio/bpf/.output/process.bpf.o';console.log(JSON.stringify({arch:process.arch,machine:require('os').machine()," +
      "libbpf:n.libbpfVersion(),objects:fs.readdirSync('/opt/tapio/bpf/.output').length,process:c.createHash('sha256').update(fs.readFileSync(o)).digest('hex')}))";
    const seen = JSON.parse(docker(['run', '--rm', '--network', 'none', '--platform', 'linux/arm64', '--entrypoint', '/usr/local/bin/node', built.image, '-e', script]));
    // The image ships the objects without DWARF (scripts/image/build.sh strips them): compare with the same strip.
    const stripped = path.join(rootDir, 'process.bpf.o');
    fs.copyFileSync(path.join(ROOT, 'bpf', '.output-arm64', 'process.bpf.o'), stripped);
    run('llvm-strip', ['-g', stripped], process.env, 60_000);
    const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
    assert.deepEqual(seen, {
      arch: 'arm64', machine: 'aarch64', libbpf: seen.libbpf, objects: fs.readdirSync(path.join(ROOT, 'bpf', '.output-arm64')).filter((f) => f.endsWith('.bpf.o')).length,
      process: sha(stripped),
    }, 'the image holds build:arm64\'s objects');
    assert.match(seen.libbpf, /^v1\./);

    const probe = spawnSync('docker', ['-H', `unix://${h.socket}`, 'run', '--rm', '--network', 'none', '--platform', 'linux/arm64', built.image, 'probe'], { encoding: 'utf8', timeout: 180_000 });
    assert.match(probe.stdout, /^Kernel \S+ \(aarch64\), libbpf v1\./, probe.stderr);
    assert.match(probe.stdout, /load BPF object: Function not implemented/, 'qemu-user has no bpf(2), and the probe says so');
    assert.doesNotMatch(`${probe.stdout}${probe.stderr}`, /\n\s+at /, 'a report, not a stack trace');

    // The image's filesystem as the root of an arm64 VM: real BPF with the image's own build.
    const id = docker(['create', '--platform', 'linux/arm64', built.image]).trim();
    const tar = path.join(rootDir, 'fs.tar');
    docker(['export', '-o', tar, id]);
    docker(['rm', id]);
    fs.mkdirSync(path.join(rootDir, 'root'));
    run('tar', ['-xf', tar, '-C', path.join(rootDir, 'root')], process.env, 120_000);
    fs.rmSync(tar);
    const vm = spawnSync('bash', [path.join(ROOT, 'scripts', 'kernel-matrix', 'run.sh'), '6.1', 'node', 'bin/tapio.js', 'probe', '--json'], {
      encoding: 'utf8', timeout: 900_000,
      env: { ...process.env, KM_ARCH: 'arm64', KM_GUEST_ROOT: path.join(rootDir, 'root'), KM_CWD: '/opt/tapio', KM_TIMEOUT: '600' },
    });
    if (VM_INFRA_CODES.has(vm.status ?? 125)) return noVm(t, 'arm64', vm.stderr.trim().split('\n').slice(-3).join(' | '));
    assert.equal(vm.status, 0, vm.stderr.slice(-2000));
    const p = JSON.parse(vm.stdout);
    assert.equal(p.machine, 'aarch64');
    assert.match(p.kernelRelease, /-arm64$/);
    for (const kind of ['tracepoint', 'tp_btf', 'kprobe', 'uprobe']) assert.equal(p.programs[kind]?.available, true, `${kind} from the image: ${p.programs[kind]?.reason}`);
  } finally {
    fs.rmSync(rootDir, { recursive: true, force: true });
    await h.teardown();
  }
});
