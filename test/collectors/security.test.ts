// The security collector on the real kernel, host side: each detection fired by a real trigger run on this host
// (every detection scoped to all processes for this file), with its fields: process, ancestry, what was touched,
// severity and ATT&CK id. Container triggers are in security-containers.test.ts; the quiet defaults in
// security-quiet.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import type { SecurityCollector } from '../../src/collectors/security';
import type { TapioEvent } from '../../src/core/event';
import type { Running } from './collect';
import { ALL_SCOPES, buildTrigger, byExe, byPath, expectEvent, securityUnavailableKinds, startSecurity } from './security/helpers';

let run: Running | undefined;
let collector: SecurityCollector;
let dir = '';
let trigger = '';

before(async () => {
  if (needsRoot.skip) return;
  ({ dir, bin: trigger } = buildTrigger());
  fs.chmodSync(dir, 0o755);
  ({ run, collector } = await startSecurity(ALL_SCOPES));
});

after(async () => {
  await run?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function sh(cmd: string, args: string[]): ReturnType<typeof spawnSync> {
  return spawnSync(cmd, args, { stdio: 'pipe', timeout: 10_000 });
}

const ofPid = (pid: number) => (e: TapioEvent) => e.attributes['process.pid'] === pid;

test('hooks: the LSM forms where BPF LSM works (tracepoints and tp_btf otherwise); module loads seen or said why not', needsRoot, async () => {
  const s = collector.status();
  assert.equal(s.available, true, run!.logs.join('\n'));
  const hook = (n: string) => s.hooks.find((h) => h.name === n)!;
  const lsm = !(await securityUnavailableKinds()).lsm; // BPF LSM on this kernel, and not forced off
  if (hook('exec')) assert.equal(hook('exec').chosen?.kind, 'tp_btf'); // absent when the matrix limits the detections
  for (const [name, lsmProgram, tracepoint] of [['file-open', 'lsm_file_open', 'openat_exit'], ['mount', 'lsm_sb_mount', 'mount_exit'],
    ['ptrace', 'lsm_ptrace', 'ptrace_exit']]) {
    const h = hook(name);
    assert.equal(h.chosen?.program, lsm ? lsmProgram : tracepoint, `${name}: ${JSON.stringify(h.attempts)}`);
    if (!lsm) assert.ok(h.attempts.some((a) => a.kind === 'lsm' && a.error.length > 0), `${name}: the LSM form was tried first (or skipped) and says why`);
  }
  const module = hook('module-load');
  const finitTracepoint = fs.existsSync('/sys/kernel/tracing/events/syscalls/sys_exit_finit_module');
  if (lsm) assert.equal(module.chosen?.program, 'lsm_kernel_read_file');
  else if (finitTracepoint) assert.equal(module.chosen?.program, 'finit_module_exit');
  else {
    assert.equal(module.chosen, undefined);
    assert.ok(module.attempts.some((a) => a.kind === 'tracepoint' && /No such file/.test(a.error)), JSON.stringify(module.attempts));
    assert.ok(run!.logs.some((l) => /kernel module loads cannot be watched here/.test(l)));
  }
  assert.ok((s.counters?.syscall_tracepoints_attached ?? 0) > (process.env.TAPIO_SECURITY_DETECTIONS ? 3 : 10));
});

test('host.module_load: finit_module of a file that is not a module is reported as an attempt, with the file', needsRoot, async (t) => {
  if (!collector.status().hooks.find((h) => h.name === 'module-load')?.chosen) {
    t.skip('no BPF LSM and no finit_module tracepoint on this kernel (CONFIG_MODULES=n): the hooks test checks it says why');
    return;
  }
  const r = sh(trigger, ['finit-module', trigger]);
  assert.match(String(r.stdout), /finit_module .*: -1 /, 'the kernel refused it (not a module)');
  const e = await expectEvent(run!, 'host.module_load', ofPid(r.pid!), 'finit_module of the trigger binary');
  assert.equal(e.attributes['tapio.security.path'], trigger, 'the file the kernel was asked to load');
  assert.equal(e.attributes['tapio.security.path.resolved'], true);
  assert.equal(e.attributes['tapio.security.operation'], 'finit_module');
  assert.equal(e.attributes['tapio.security.severity'], 'high');
  assert.equal(e.attributes['tapio.security.technique.id'], 'T1547.006');
});

test('namespace.escape: a process in its own mount namespace joins the host one (unshare + nsenter)', needsRoot, async () => {
  const r = sh('unshare', ['-m', 'nsenter', `--mount=/proc/${process.pid}/ns/mnt`, '/bin/true']);
  assert.equal(r.status, 0, String(r.stderr));
  const e = await expectEvent(run!, 'namespace.escape', (x) => byExe('/nsenter')(x) && x.attributes['tapio.process.ancestors.pids'] !== undefined, 'nsenter back to the host');
  assert.deepEqual(e.attributes['tapio.security.namespaces.host_joined'], ['mnt']);
  assert.equal(e.attributes['tapio.security.severity'], 'high');
  assert.equal(e.attributes['tapio.security.technique.id'], 'T1611');
  assert.equal(e.severity, 'ERROR');
  assert.equal(e.attributes['tapio.security.operation'], 'setns');
  assert.equal(e.attributes['tapio.security.outcome'], 'succeeded');
});

test('namespace.change and host.mount: unshare -m, then mount a tmpfs (path as given)', needsRoot, async () => {
  fs.mkdirSync(path.join(dir, 'm'));
  const r = sh('unshare', ['-m', 'mount', '-t', 'tmpfs', 'tapio-sec', path.join(dir, 'm')]);
  assert.equal(r.status, 0, String(r.stderr));
  const change = await expectEvent(run!, 'namespace.change', (x) => x.attributes['tapio.security.operation'] === 'unshare' && byExe('/unshare')(x), 'unshare -m');
  assert.ok((change.attributes['tapio.security.namespaces.changed'] as string[]).includes('mnt'));
  const m = await expectEvent(run!, 'host.mount', byPath(path.join(dir, 'm')), 'mount -t tmpfs');
  assert.equal(m.attributes['tapio.security.in_container'], true, 'its own mount namespace counts as not the host');
});

test('privilege.userns: an unprivileged process makes a user namespace', needsRoot, async () => {
  const r = sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '-U', '/bin/true']);
  // In a chroot (the kernel-matrix VM runs in one) the kernel refuses user namespaces with EPERM: still an attempt.
  const refused = r.status !== 0;
  if (refused) assert.match(String(r.stderr), /Operation not permitted/);
  const e = await expectEvent(run!, 'privilege.userns', (x) => x.attributes['process.user.id'] === 65534, 'unshare -U as nobody');
  if (refused) {
    assert.equal(e.attributes['tapio.security.outcome'], 'failed');
    assert.equal(e.attributes['tapio.security.errno'], 1);
  } else {
    assert.ok((e.attributes['tapio.security.namespaces.changed'] as string[]).includes('user'));
  }
});

test('host.chroot, host.escape_lever, host.bpf_load, host.runtime_socket from real syscalls', needsRoot, async () => {
  assert.equal(sh('chroot', ['/', '/bin/true']).status, 0);
  await expectEvent(run!, 'host.chroot', (x) => byExe('/chroot')(x) && x.attributes['tapio.security.path'] === '/', 'chroot /');

  const lever = sh(trigger, ['open-write', '/proc/sys/kernel/core_pattern']);
  const e = await expectEvent(run!, 'host.escape_lever', ofPid(lever.pid!), 'core_pattern opened for write');
  assert.equal(e.attributes['tapio.security.path'], '/proc/sys/kernel/core_pattern');
  assert.equal(e.attributes['tapio.security.path.resolved'], true);
  assert.equal(e.attributes['tapio.security.severity'], 'critical');

  const bpf = sh(trigger, ['bpf']);
  const b = await expectEvent(run!, 'host.bpf_load', ofPid(bpf.pid!), 'BPF_PROG_LOAD');
  assert.equal(b.attributes['tapio.security.bpf.prog_type'], 1); // BPF_PROG_TYPE_SOCKET_FILTER

  const sock = path.join(dir, 'docker.sock');
  const c = sh(trigger, ['connect', sock]);
  const ce = await expectEvent(run!, 'host.runtime_socket', ofPid(c.pid!), 'connect to docker.sock');
  assert.equal(ce.attributes['tapio.security.path'], sock);
  assert.equal(ce.attributes['tapio.security.outcome'], 'failed');
  assert.equal(ce.attributes['tapio.security.errno'], 2); // ENOENT: an attempt is reported too
});

test('privilege.setuid_exec and privilege.cred_change: a set-uid binary run by nobody calls setuid(0)', needsRoot, async () => {
  const suid = path.join(dir, 'suid-trigger');
  fs.copyFileSync(trigger, suid);
  fs.chmodSync(suid, 0o4755);
  const r = sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', suid, 'become-root']);
  assert.match(String(r.stdout), /setuid\(0\): 0 uid=0 euid=0/);
  const ex = await expectEvent(run!, 'privilege.setuid_exec', ofPid(r.pid!), 'exec of the set-uid copy');
  assert.equal(ex.attributes['process.real_user.id'], 65534);
  assert.equal(ex.attributes['process.user.id'], 0);
  assert.equal(ex.attributes['tapio.security.file.mode'], '04755');
  // setpriv itself (same pid, before its exec) may report a capset gain; the setuid(0) is the one asserted here.
  const cr = await expectEvent(run!, 'privilege.cred_change', (x) => ofPid(r.pid!)(x) && x.attributes['tapio.security.operation'] === 'setuid', 'setuid(0)');
  assert.equal(cr.attributes['tapio.security.old.real_user.id'], 65534);
  assert.equal(cr.attributes['process.real_user.id'], 0);
  assert.equal(cr.attributes['tapio.security.operation'], 'setuid');
  const bit = sh('chmod', ['u+s', path.join(dir, 'm')]);
  assert.equal(bit.status, 0);
  await expectEvent(run!, 'privilege.setuid_bit', ofPid(bit.pid!), 'chmod u+s');
});

test('privilege.ptrace: attach to another process names the target', needsRoot, async () => {
  const r = sh(trigger, ['ptrace']);
  const target = Number(/ptrace attach (\d+): 0/.exec(String(r.stdout))?.[1]);
  assert.ok(target > 0, String(r.stdout));
  const e = await expectEvent(run!, 'privilege.ptrace', ofPid(r.pid!), 'PTRACE_ATTACH');
  assert.equal(e.attributes['tapio.security.target_pid'], target);
  assert.equal(e.attributes['tapio.security.ptrace.request'], 16);
});

test('file.credential_read resolves the real path behind a symlink; file.link and file.system_write', needsRoot, async () => {
  const link = path.join(dir, 'not-shadow');
  const ln = sh('ln', ['-s', '/etc/shadow', link]);
  const l = await expectEvent(run!, 'file.link', ofPid(ln.pid!), 'symlink to /etc/shadow');
  assert.equal(l.attributes['tapio.security.path'], '/etc/shadow');
  const cat = sh('cat', [link]);
  const e = await expectEvent(run!, 'file.credential_read', ofPid(cat.pid!), 'cat of a symlink to /etc/shadow');
  assert.equal(e.attributes['tapio.security.path'], '/etc/shadow', 'the resolved path, not the name cat was given');
  assert.equal(e.attributes['tapio.security.path.resolved'], true);
  assert.equal(e.attributes['tapio.security.technique.id'], 'T1552.001');
  assert.equal(e.attributes['process.parent_pid'], process.pid);
  assert.equal((e.attributes['tapio.process.ancestors.pids'] as number[])[0], process.pid, 'ancestry starts at the parent');
  assert.deepEqual(e.attributes['process.command_args'] ?? ['cat', link], ['cat', link]);

  const target = `/etc/tapio-sec-test-${process.pid}`;
  try {
    const w = sh('sh', ['-c', `echo x > ${target}`]);
    await expectEvent(run!, 'file.system_write', (x) => ofPid(w.pid!)(x) && byPath(target)(x), 'write below /etc');
  } finally {
    fs.rmSync(target, { force: true });
  }
});

test('exec.fileless, exec.temp_dir, exec.reverse_shell and exec.interactive_shell', needsRoot, async () => {
  const m = sh(trigger, ['memfd-exec', '/bin/true']);
  assert.equal(m.status, 0);
  const f = await expectEvent(run!, 'exec.fileless', ofPid(m.pid!), 'memfd + fexecve');
  assert.match(String(f.attributes['process.executable.path']), /memfd:tapio-fileless/);

  const t = await expectEvent(run!, 'exec.temp_dir', ofPid(m.pid!), 'the trigger itself runs from /tmp');
  assert.equal(t.attributes['tapio.security.path'], trigger);

  const s = sh(trigger, ['socket-shell', '/bin/sh']);
  const rs = await expectEvent(run!, 'exec.reverse_shell', ofPid(s.pid!), 'sh with a socket on stdin/stdout');
  assert.deepEqual(rs.attributes['tapio.security.socket_fds'], ['stdin', 'stdout']);
  assert.equal(rs.attributes['tapio.security.technique.id'], 'T1059.004');

  // script(1) runs its command with $SHELL: set it, so every machine starts the same shell.
  const tty = spawnSync('script', ['-qec', 'sh -c true', '/dev/null'], { stdio: 'pipe', timeout: 10_000, env: { ...process.env, SHELL: '/bin/sh' } });
  assert.equal(tty.status, 0, String(tty.stderr));
  const i = await expectEvent(run!, 'exec.interactive_shell', (x) => byExe('sh')(x) || x.attributes['tapio.process.comm'] === 'sh', 'sh on a pty');
  assert.match(String(i.attributes['tapio.security.stdin.tty']), /^13[6-9]:|^14[0-3]:/);
});
