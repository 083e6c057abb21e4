// The security collector with its default config (containerised processes only) against real containers: Docker with
// its default seccomp profile (denied attempts still reported), a Docker container given host-level powers (the
// escape), containerd through CRI and podman. Every event must carry the container's own cgroup id, which is what
// identity enrichment turns into container and pod names.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { needsRoot } from '../helpers/root';
import type { TapioEvent } from '../../src/core/event';
import { ContainerdHarness, DockerHarness, PodmanHarness, newPodSpec, startOrSkip, type RunningContainer } from '../harness/runtimes';
import type { Running } from './collect';
import { buildTrigger, expectEvent, find, startSecurity } from './security/helpers';

let run: Running | undefined;
let dir = '';

before(async () => {
  if (needsRoot.skip) return;
  ({ dir } = buildTrigger());
  fs.chmodSync(dir, 0o755);
  ({ run } = await startSecurity({})); // the defaults: what a user gets
});

after(async () => {
  await run?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const inC = (c: RunningContainer, more: (e: TapioEvent) => boolean = () => true) => (e: TapioEvent) =>
  e.cgroupId === c.cgroupId && e.attributes['tapio.security.in_container'] === true && more(e);
const attr = (k: string, v: unknown) => (e: TapioEvent) => e.attributes[k] === v;

function tryExec(f: () => unknown): void {
  try { f(); } catch { /* a refused attempt exits non-zero: the event is what we check */ }
}

test('docker, default seccomp: files, exec, ptrace, shells, and refused attempts, each with the container cgroup', needsRoot, async (t) => {
  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  try {
    const c = await h.run('tapio-sec', ['sleep', '1000000'], ['-v', `${dir}:/t:ro`]);
    h.exec(c.id, ['sh', '-c', 'echo root:x:1:: > /etc/shadow && cat /etc/shadow']);
    const w = await expectEvent(run!, 'file.system_write', inC(c, attr('tapio.security.path', '/etc/shadow')), 'write below /etc in docker');
    assert.equal(w.attributes['tapio.security.severity'], 'medium');
    const r = await expectEvent(run!, 'file.credential_read', inC(c, attr('process.executable.name', 'busybox')), 'cat /etc/shadow in docker');
    assert.equal(r.attributes['tapio.security.path'], '/etc/shadow');
    assert.equal(r.attributes['tapio.security.path.resolved'], true);
    assert.deepEqual(r.attributes['process.command_args'] ?? ['cat', '/etc/shadow'], ['cat', '/etc/shadow']);

    h.exec(c.id, ['sh', '-c', 'cp /bin/busybox /tmp/true && /tmp/true']);
    const d = await expectEvent(run!, 'exec.dropped_binary', inC(c, attr('process.executable.path', '/tmp/true')), 'a binary copied in after start');
    assert.ok(BigInt(String(d.attributes['tapio.security.file.changed_time_unix_nano'])) > BigInt(String(d.attributes['tapio.security.container.started_time_unix_nano'])));
    await expectEvent(run!, 'exec.temp_dir', inC(c, attr('tapio.security.path', '/tmp/true')), 'exec from /tmp in docker');

    h.exec(c.id, ['/t/trigger', 'ptrace']);
    const p = await expectEvent(run!, 'privilege.ptrace', inC(c), 'ptrace attach in docker');
    assert.ok(Number(p.attributes['tapio.security.target_pid']) > 0);
    h.exec(c.id, ['/t/trigger', 'memfd-exec', '/bin/busybox']);
    await expectEvent(run!, 'exec.fileless', inC(c), 'memfd exec in docker');
    h.exec(c.id, ['/t/trigger', 'socket-shell', '/bin/sh']);
    await expectEvent(run!, 'exec.reverse_shell', inC(c), 'shell on a socket in docker');
    h.exec(c.id, ['sh', '-c', 'true'], ['-t']);
    await expectEvent(run!, 'exec.interactive_shell', inC(c), 'docker exec -t sh');

    // Refused by Docker's seccomp profile before the syscall ran: still reported, as an attempt.
    tryExec(() => h.exec(c.id, ['unshare', '-U', 'true']));
    const u = await expectEvent(run!, 'namespace.change', inC(c, attr('tapio.security.operation', 'unshare')), 'unshare -U in docker');
    assert.equal(u.attributes['tapio.security.outcome'], 'refused_before_entry');
    assert.equal(u.attributes['tapio.security.errno'], 1); // EPERM
    tryExec(() => h.exec(c.id, ['mount', '-t', 'tmpfs', 'none', '/tmp']));
    // mount passes Docker's profile and is refused by the kernel (no CAP_SYS_ADMIN): an attempt all the same.
    const m = await expectEvent(run!, 'host.mount', inC(c), 'mount in docker');
    assert.equal(m.attributes['tapio.security.outcome'], 'failed');
    assert.equal(m.attributes['tapio.security.errno'], 1);
    h.exec(c.id, ['/t/trigger', 'open-write', '/proc/sysrq-trigger']);
    const lever = await expectEvent(run!, 'host.escape_lever', inC(c), 'sysrq-trigger opened for write in docker');
    assert.equal(lever.attributes['tapio.security.path'], '/proc/sysrq-trigger');
    h.exec(c.id, ['/t/trigger', 'connect', '/var/run/docker.sock']);
    await expectEvent(run!, 'host.runtime_socket', inC(c, attr('tapio.security.path', '/var/run/docker.sock')), 'docker.sock connect');

    // nsenter from the host into the container: reported, low severity, on the host's side.
    const ns = spawnSync('nsenter', ['-t', String(c.pid), '-m', '-u', '/bin/true'], { stdio: 'pipe' });
    assert.equal(ns.status, 0, String(ns.stderr));
    const enter = await expectEvent(run!, 'namespace.enter', attr('process.pid', ns.pid), 'nsenter into the docker container');
    assert.equal(enter.attributes['tapio.security.severity'], 'low');
    // One setns per namespace: together they entered the container's mount and UTS namespaces.
    await run!.waitFor(() => find(run!, 'namespace.enter', attr('process.pid', ns.pid)).length >= 2);
    const entered = find(run!, 'namespace.enter', attr('process.pid', ns.pid)).flatMap((e) => e.attributes['tapio.security.namespaces.entered'] as string[]);
    assert.ok(entered.includes('mnt') && entered.includes('uts'), entered.join(','));
  } finally {
    await h.teardown();
  }
});

test('docker with SYS_ADMIN, SYS_PTRACE, no seccomp and the host pid namespace: nsenter into the host is an escape', needsRoot, async (t) => {
  const h = await startOrSkip(t, () => DockerHarness.start());
  if (!h) return;
  try {
    const c = await h.run('tapio-sec-priv', ['sleep', '1000000'], ['--cap-add', 'SYS_ADMIN', '--cap-add', 'SYS_PTRACE',
      '--security-opt', 'seccomp=unconfined', '--pid', 'host']);
    h.exec(c.id, ['nsenter', '-t', String(process.pid), '-m', '/bin/true']);
    const e = await expectEvent(run!, 'namespace.escape', inC(c), 'nsenter -t <host pid> -m from the container');
    assert.deepEqual(e.attributes['tapio.security.namespaces.host_joined'], ['mnt']);
    assert.equal(e.severity, 'ERROR');
    h.exec(c.id, ['sh', '-c', 'mkdir -p /m && mount -t tmpfs none /m']);
    const m = await expectEvent(run!, 'host.mount', inC(c, attr('tapio.security.path', '/m')), 'mount with SYS_ADMIN');
    assert.equal(m.attributes['tapio.security.outcome'], 'succeeded');
  } finally {
    await h.teardown();
  }
});

test('containerd (CRI pod) and podman: credential read and a dropped binary carry their container cgroup', needsRoot, async (t) => {
  const ctrd = await startOrSkip(t, () => ContainerdHarness.start());
  if (ctrd) {
    try {
      const pod = await ctrd.runPod(newPodSpec('sec-pod'));
      const c = await ctrd.runContainer(pod, 'app');
      await ctrd.exec(c.id, ['sh', '-c', 'echo x > /etc/shadow; cat /etc/shadow; cp /bin/busybox /tmp/true && /tmp/true']);
      await expectEvent(run!, 'file.credential_read', inC(c, attr('tapio.security.path', '/etc/shadow')), 'cat /etc/shadow in a CRI container');
      await expectEvent(run!, 'exec.dropped_binary', inC(c), 'dropped binary in a CRI container');
    } finally {
      await ctrd.teardown();
    }
  }
  const pm = await startOrSkip(t, () => PodmanHarness.start());
  if (pm) {
    try {
      const c = await pm.run('tapio-sec-pm');
      pm.exec(c.id, ['sh', '-c', 'echo x > /etc/shadow; cat /etc/shadow; cp /bin/busybox /tmp/true && /tmp/true']);
      await expectEvent(run!, 'file.credential_read', inC(c, attr('tapio.security.path', '/etc/shadow')), 'cat /etc/shadow in podman');
      await expectEvent(run!, 'exec.dropped_binary', inC(c), 'dropped binary in podman');
    } finally {
      await pm.teardown();
    }
  }
  assert.ok(find(run!, 'file.credential_read').length > 0);
});
