// Seccomp violations on the real kernel (needs root): a program installing its own filter with KILL_PROCESS,
// KILL_THREAD, TRAP, LOG and ERRNO on the host, and programs inside Docker and podman containers under their
// runtimes' DEFAULT seccomp profiles (`unshare -U` is refused with EPERM: reported as an ERRNO attempt; a
// self-installed KILL filter in a container), each with the action, syscall, process and container identity.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load';
import { IdentityResolver } from '../../src/identity';
import { enrichWith } from '../../src/agent/services';
import type { TapioEvent } from '../../src/core/event';
import { needsRoot } from '../helpers/root';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { DockerHarness, PodmanHarness, startOrSkip } from '../harness/runtimes';
import { copyIntoContainer, fixture, removeFixtures, runAsync } from './security-fixtures';

let agent: TestAgent | undefined;
let identity: IdentityResolver | undefined;
const harnesses: { docker?: DockerHarness; podman?: PodmanHarness } = {};

before(async () => {
  if (needsRoot.skip) return;
  fixture('seccomp_trigger');
});

after(async () => {
  await agent?.stop();
  identity?.stop();
  for (const h of [harnesses.podman, harnesses.docker]) await h?.teardown().catch(() => undefined);
  removeFixtures();
});

async function startAgent(endpoints: { kind: 'docker' | 'podman'; socket: string }[]): Promise<TestAgent> {
  const config = parseConfig('');
  config.identity.runtimes.endpoints = endpoints;
  config.identity.kubernetes.enabled = false;
  identity = new IdentityResolver({ config: config.identity, log: () => undefined });
  await identity.start();
  return startTestAgent({ config, only: ['security-signals', 'audit'], enrich: enrichWith(identity, undefined),
    identityGate: identity });
}

const byPid = (pid: number, action?: string) => (e: TapioEvent) => e.name === 'security.seccomp.violation' &&
  e.attributes['process.pid'] === pid && (action === undefined || e.attributes['tapio.security.seccomp.action'] === action);

function commonFields(e: TapioEvent): void {
  assert.equal(e.attributes['tapio.security.detection'], 'seccomp');
  assert.equal(e.attributes['tapio.security.mitre.technique.id'], 'T1611');
  assert.ok(['WARN', 'ERROR'].includes(e.severity!), 'security events are WARN or ERROR');
  assert.equal(e.attributes['process.user.id'], 0);
}

test('host: KILL_PROCESS, KILL_THREAD, TRAP, LOG and ERRNO filters each give one violation with action and syscall', needsRoot, async () => {
  agent = await startAgent([]);
  const bin = fixture('seccomp_trigger');
  const cases: { action: string; syscall: string; expect: string[] }[] = [
    { action: 'kill_process', syscall: 'uname', expect: ['KILL', 'KILL_PROCESS'] },
    { action: 'kill_thread', syscall: 'uname', expect: ['KILL', 'KILL_THREAD'] },
    { action: 'trap', syscall: 'uname', expect: ['TRAP'] },
    { action: 'log', syscall: 'uname', expect: ['LOG'] },
    { action: 'errno', syscall: 'unshare', expect: ['ERRNO'] },
  ];
  for (const c of cases) {
    const r = await runAsync(bin, [c.action, c.syscall, '1500']);
    if (c.action.startsWith('kill')) assert.equal(r.signal, 'SIGSYS', `${c.action}: killed by SIGSYS`);
    else assert.equal(r.code, 0, `${c.action}: ran to the end: ${r.stdout}`);
    const e = await agent.sink.waitFor(byPid(r.pid), 5000, `seccomp ${c.action} of pid ${r.pid}`);
    commonFields(e);
    assert.ok(c.expect.includes(e.attributes['tapio.security.seccomp.action'] as string), `${c.action}: action ${e.attributes['tapio.security.seccomp.action']}`);
    assert.equal(e.attributes['tapio.security.seccomp.syscall'], c.syscall);
    assert.equal(e.attributes['tapio.security.seccomp.arch'], 'x86_64');
    assert.equal(e.attributes['tapio.process.comm'], 'seccomp_trigger'.slice(0, 15));
    // A live process is read from /proc; a killed one is gone by then, and the kernel record names its executable.
    assert.equal(e.attributes['process.executable.path'], bin, `${c.action}: the executable`);
    // Its parents, from the kernel record (the killed one's too): this test process first.
    assert.equal((e.attributes['tapio.process.ancestors.pids'] as number[])[0], process.pid, `${c.action}: ancestry starts at the parent`);
    assert.equal(e.attributes['process.parent_pid'], process.pid);
    if (c.action === 'errno') {
      assert.equal(e.attributes['error.type'], 'EPERM');
      assert.equal(e.attributes['tapio.security.attempt'], true);
    }
    if (c.action.startsWith('kill')) assert.equal(e.attributes['tapio.security.severity'], 'high');
    // One violation, one event: the BPF signal and the audit record of the same KILL are merged.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(agent.sink.events.filter(byPid(r.pid)).length, 1, `${c.action}: exactly one event`);
  }
  await agent.stop();
  agent = undefined;
  identity?.stop();
  identity = undefined;
});

for (const runtime of ['docker', 'podman'] as const) {
  const what = runtime === 'docker' ? 'the default profile refusing unshare -U' : 'a self-installed ERRNO filter on unshare (podman\'s default profile allows user namespaces)';
  test(`${runtime}: ${what} is an ERRNO attempt, a self-installed KILL filter a KILL, with container identity`, needsRoot, async (t) => {
    const h: DockerHarness | PodmanHarness | undefined = runtime === 'docker'
      ? await startOrSkip(t, () => DockerHarness.start()) : await startOrSkip(t, () => PodmanHarness.start());
    if (!h) return;
    harnesses[runtime] = h as never;
    agent = await startAgent([{ kind: runtime, socket: h.socket }]);
    try {
      const c = await h.run(`tapio-seccomp-${process.pid}`);
      // Refused by seccomp (SCMP_ACT_ERRNO) before the syscall runs: Docker's default profile refuses unshare; podman's
      // allows user namespaces (the kernel's capability checks refuse what it lets through), so there the fixture
      // installs the ERRNO filter itself.
      const inside = copyIntoContainer(c.pid, fixture('seccomp_trigger'));
      const syscall = 'unshare';
      const cmd = runtime === 'docker' ? 'unshare -U true' : `${inside} errno unshare 1000 | grep -q 'errno 1'`;
      const denied = h.exec(c.id, ['sh', '-c', `${cmd}; echo rc=$?`]);
      assert.match(denied.stdout, runtime === 'docker' ? /rc=[1-9]/ : /rc=0/, `seccomp refused ${syscall}`);
      const e = await agent.sink.waitFor((x) => x.name === 'security.seccomp.violation' && x.attributes['container.id'] === c.id &&
        x.attributes['tapio.security.seccomp.syscall'] === syscall, 8000, `the ${syscall} denial`);
      commonFields(e);
      assert.equal(e.attributes['tapio.security.seccomp.action'], 'ERRNO');
      assert.equal(e.attributes['error.type'], 'EPERM');
      assert.equal(e.attributes['container.name'], c.name);
      assert.equal(e.cgroupId, c.cgroupId);

      h.exec(c.id, ['sh', '-c', `${inside} kill_process uname; echo rc=$?`]);
      const k = await agent.sink.waitFor((x) => x.name === 'security.seccomp.violation' && x.attributes['container.id'] === c.id &&
        x.attributes['tapio.security.seccomp.syscall'] === 'uname', 8000, 'the KILL in the container');
      assert.ok(['KILL', 'KILL_PROCESS'].includes(k.attributes['tapio.security.seccomp.action'] as string));
      assert.equal(k.attributes['tapio.security.severity'], 'high');
      assert.equal(k.cgroupId, c.cgroupId);
      // Ancestry stops at the container's first process of this chain: the exec'd shell, not the runtime above it.
      assert.equal((k.attributes['tapio.process.ancestors.pids'] as number[]).length, 1, JSON.stringify(k.attributes['tapio.process.ancestors.executables']));
      assert.match(String((k.attributes['tapio.process.ancestors.executables'] as string[])[0]), /busybox$|sh$/);
    } finally {
      await agent.stop();
      agent = undefined;
      identity?.stop();
      identity = undefined;
    }
  });
}
