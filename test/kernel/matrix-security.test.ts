// The security collector in the kernel matrix (needs root, qemu; scripts/kernel-matrix/security-paths.sh). On Debian's
// 6.1 and 6.12, where BPF LSM works, the host's own security tests (real triggers: nsenter, mount, chroot, ptrace,
// setuid, finit_module, opens of credentials, memfd exec, ...) run twice in one VM: with the LSM forms the collector
// prefers there, and with them forced off (tracepoints and tp_btf, as on this host). Checked: both runs pass; the
// events of the hooks that have LSM forms came from the LSM form in the first and from tracepoints in the second;
// both runs reported the same detections with the same fields; and those equal what the same tests saw on this host.
// Known differences, each by design and named below, are left out of the comparison. No container runtimes run in
// the VM: host-process triggers only (containers are covered on this host by security-containers.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { inVm, noVm, ROOT, VM_INFRA_CODES as INFRA } from '../helpers/vm';
import { PER_MACHINE, byKey, differences, type DumpRow } from './security-paths';

/** Tests whose events come from hooks with an LSM form (file-open, mount, ptrace, module-load). */
const LSM_EVENTS = ['host.module_load | finit_module of the trigger binary', 'host.mount | mount -t tmpfs',
  'host.escape_lever | core_pattern opened for write', 'privilege.ptrace | PTRACE_ATTACH',
  'file.credential_read | cat of a symlink to /etc/shadow', 'file.system_write | write below /etc'];
/** Fields where the LSM form says something else on purpose. */
const PATH_BY_DESIGN: Record<string, string[]> = {
  // kernel_read_file runs at the security check, before the module's contents are parsed: the attempt was permitted
  // there; the tracepoint form sees the syscall's result (ENOEXEC for a file that is not a module).
  'host.module_load | finit_module of the trigger binary': ['tapio.security.outcome', 'tapio.security.errno'],
  // sb_mount gets the resolved mount point; the tracepoint form has the string the caller passed.
  'host.mount | mount -t tmpfs': ['tapio.security.path.resolved'],
};
/** Tests whose outcome depends on where they run, not on the path. */
const HOST_DIFFERS: Record<string, string> = {
  'privilege.userns | unshare -U as nobody': 'the VM runs in a chroot, where the kernel refuses user namespaces (EPERM)',
};

/** This process's environment without the test runner's own marker (with it, a nested `node --test` runs nothing). */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

let dir = '';
let trigger = '';
let host: Map<string, DumpRow> | undefined;

before(() => {
  if (needsRoot.skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-secmatrix-'));
  fs.chmodSync(dir, 0o755);
  trigger = path.join(dir, 'trigger');
  execFileSync('cc', ['-static', '-O1', '-o', trigger, path.join(ROOT, 'test', 'collectors', 'security', 'trigger.c')]);
  // The same tests on this host, for the reference events.
  const dump = path.join(dir, 'host.jsonl');
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', path.join(ROOT, 'dist', 'test', 'collectors', 'security.test.js')],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...childEnv(), TAPIO_SECURITY_DUMP: dump, TAPIO_SECURITY_TRIGGER: trigger } });
  assert.equal(r.status, 0, `the host's security tests: ${r.stdout.slice(-3000)}`);
  host = byKey(fs.readFileSync(dump, 'utf8').split('\n').filter(Boolean).map((l) => ({ path: 'host', ...JSON.parse(l) })));
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

for (const kernel of ['6.1', '6.12']) {
  test(`kernel ${kernel} under qemu: the security collector prefers the LSM forms; LSM and tracepoint forms give the same detections as this host`, { ...needsRoot, timeout: 1_800_000 }, (t) => {
    const vm = inVm(kernel, ['bash', 'scripts/kernel-matrix/security-paths.sh', trigger], 1200);
    if (INFRA.has(vm.code)) return noVm(t, kernel, vm.err.trim().split('\n').slice(-3).join(' | '));
    const lines = vm.out.split('\n');
    const failed = lines.filter((l) => /^TAP \w+ not ok /.test(l));
    assert.deepEqual(failed, [], `security tests failing on ${kernel}:\n${lines.filter((l) => l.startsWith('TAPLOG')).join('\n').slice(-4000)}`);
    assert.equal(vm.code, 0, vm.err.slice(-2000));
    const rows: DumpRow[] = lines.filter((l) => l.startsWith('{"path"')).map((l) => JSON.parse(l));
    const preferred = byKey(rows.filter((r) => r.path === 'preferred'));
    const fallback = byKey(rows.filter((r) => r.path === 'fallback'));
    assert.ok(preferred.size >= 20 && fallback.size >= 9, `events dumped: ${preferred.size} preferred, ${fallback.size} fallback`);

    for (const k of LSM_EVENTS) {
      assert.equal(preferred.get(k)?.attributes['tapio.security.hook'], 'lsm', `${k}: from the LSM form on ${kernel}`);
      assert.equal(fallback.get(k)?.attributes['tapio.security.hook'], 'tracepoint', `${k}: from the tracepoint form when LSM is forced off`);
    }
    const problems: string[] = [];
    for (const [k, f] of fallback) {
      const p = preferred.get(k);
      if (!p) { problems.push(`${k}: only on the tracepoint path`); continue; }
      for (const d of differences(p, f, new Set(PATH_BY_DESIGN[k] ?? []))) problems.push(`${k}: ${d}`);
    }
    for (const [k, h] of host!) {
      if (HOST_DIFFERS[k]) continue;
      const p = preferred.get(k);
      if (!p) { problems.push(`${k}: seen on this host, not on ${kernel}`); continue; }
      for (const d of differences(p, h, new Set([...PER_MACHINE, ...(PATH_BY_DESIGN[k] ?? [])]))) problems.push(`${k}: ${d}`);
    }
    const extra = [...preferred.keys()].filter((k) => !host!.has(k));
    assert.deepEqual(extra, ['host.module_load | finit_module of the trigger binary'], 'only module loads are seen there and not here (CONFIG_MODULES=n here)');
    assert.deepEqual(problems, [], `${kernel}: the paths disagree`);
    const times = lines.filter((l) => l.startsWith('TIME ')).join(', ');
    process.stderr.write(`security matrix ${kernel}: ${times}\n`);
  });
}
