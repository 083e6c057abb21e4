// Landlock denials, live (needs root): a program restricts itself with Landlock and tries to read a file; the kernel
// logs the denial (audit 1423, only while audit is enabled: the test turns audit on for itself and restores the
// previous state in `finally`) and the audit collector, listening read-only, reports it with the process and, in a
// Docker container, the container's identity.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load';
import { IdentityResolver } from '../../src/identity';
import { enrichWith } from '../../src/agent/services';
import { needsRoot } from '../helpers/root';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { DockerHarness, startOrSkip } from '../harness/runtimes';
import { copyIntoContainer, fixture, removeFixtures, runAsync, setAuditEnabled } from './security-fixtures';

let agent: TestAgent | undefined;
let identity: IdentityResolver | undefined;
let docker: DockerHarness | undefined;
let previousAudit: number | undefined;

before(() => {
  if (needsRoot.skip) return;
  fixture('landlock_deny');
  previousAudit = setAuditEnabled(1);
});

after(async () => {
  try {
    await agent?.stop();
    identity?.stop();
    await docker?.teardown().catch(() => undefined);
  } finally {
    if (previousAudit !== undefined) setAuditEnabled(previousAudit);
    removeFixtures();
  }
});

test('Landlock denials on the host and in a Docker container arrive with process and container identity', needsRoot, async (t) => {
  docker = await startOrSkip(t, () => DockerHarness.start());
  const config = parseConfig('');
  config.identity.runtimes.endpoints = docker ? [{ kind: 'docker', socket: docker.socket }] : [];
  config.identity.kubernetes.enabled = false;
  identity = new IdentityResolver({ config: config.identity, log: () => undefined });
  await identity.start();
  agent = await startTestAgent({ config, only: ['audit'], enrich: enrichWith(identity, undefined), identityGate: identity });

  const bin = fixture('landlock_deny');
  const r = await runAsync(bin, ['/etc/hostname', '1500']);
  assert.match(r.stdout, /open -1 errno 13/, 'Landlock refused the read');
  const e = await agent.sink.waitFor((x) => x.name === 'security.lsm.denied' && x.attributes['process.pid'] === r.pid, 8000, 'the host denial');
  assert.equal(e.attributes['tapio.security.lsm'], 'landlock');
  assert.equal(e.attributes['tapio.security.detection'], 'lsm');
  assert.equal(e.attributes['tapio.security.mitre.technique.id'], 'T1068');
  assert.match(String(e.attributes['tapio.security.lsm.operation']), /fs\.read_file/);
  assert.equal(e.attributes['tapio.security.lsm.object.name'], '/etc/hostname');
  assert.equal(e.attributes['process.executable.path'], bin);
  assert.equal(e.attributes['process.user.id'], 0);
  assert.equal(e.attributes['container.id'], undefined, 'a host process has no container');

  if (!docker) return;
  const c = await docker.run(`tapio-landlock-${process.pid}`);
  const inside = copyIntoContainer(c.pid, bin);
  // Asynchronously, so the agent reads the record (and the pid's cgroup) while the program still lingers.
  const out = (await runAsync('docker', ['-H', `unix://${docker.socket}`, 'exec', c.id, inside, '/etc/passwd', '1500'])).stdout;
  assert.match(out, /open -1 errno 13/);
  const d = await agent.sink.waitFor((x) => x.name === 'security.lsm.denied' && x.attributes['container.id'] === c.id, 8000, 'the container denial');
  assert.equal(d.attributes['tapio.security.lsm'], 'landlock');
  assert.equal(d.attributes['tapio.security.lsm.object.name'], '/etc/passwd');
  assert.equal(d.attributes['container.name'], c.name);
  assert.equal(d.attributes['process.executable.path'], inside, 'the path as the container sees it');
  assert.equal(d.cgroupId, c.cgroupId, 'attributed to the container by the pid\'s cgroup at arrival');
});
