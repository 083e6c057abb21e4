// The defaults are quiet on a normal node: a benign workload run for a while (a build, shells on the host, a web
// server, package-install-like writes below /etc on the host, reads of /etc/shadow by host root, containers started,
// serving and stopped) gives zero security events. Other work on this machine may make events: only those of this
// workload (its processes descend from this test, or run in its containers) count.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import type { TapioEvent } from '../../src/core/event';
import { DockerHarness, startOrSkip } from '../harness/runtimes';
import type { Running } from './collect';
import { buildTrigger, startSecurity } from './security/helpers';

let run: Running | undefined;
let dir = '';

before(async () => {
  if (needsRoot.skip) return;
  ({ dir } = buildTrigger());
  ({ run } = await startSecurity({}));
});

after(async () => {
  await run?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const mine = (cgroups: Set<bigint>) => (e: TapioEvent) => e.name.startsWith('security.') && (cgroups.has(e.cgroupId)
  || e.attributes['process.parent_pid'] === process.pid
  || (e.attributes['tapio.process.ancestors.pids'] as number[] | undefined)?.includes(process.pid) === true);

test('a benign workload on the host and in containers makes no security event', needsRoot, async (t) => {
  const cgroups = new Set<bigint>();
  // Host: a web server (its own process: the clients below block this one) and its clients.
  const server = spawn(process.execPath, ['-e',
    "require('http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1',function(){console.log(this.address().port)})"],
  { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((r) => server.stdout!.once('data', (d) => r(Number(String(d).trim()))));
  try {
    for (let round = 0; round < 3; round++) {
      // A build: compile and run the result from a temp dir, as test suites and configure scripts do.
      fs.writeFileSync(path.join(dir, 'hello.c'), 'int main(void){return 0;}\n');
      execFileSync('cc', ['-o', path.join(dir, 'hello'), path.join(dir, 'hello.c')]);
      execFileSync(path.join(dir, 'hello'));
      // An operator's shells, with and without a terminal; sudo-like reads and package-install-like writes.
      execFileSync('sh', ['-c', 'for i in 1 2 3; do ls /etc >/dev/null; done; cat /etc/shadow >/dev/null']);
      execFileSync('script', ['-qec', 'sh -c "echo hi"', '/dev/null'], { stdio: 'pipe', timeout: 10_000 });
      const conf = `/etc/tapio-quiet-${process.pid}.conf`;
      execFileSync('sh', ['-c', `echo a=1 > ${conf} && chmod 644 ${conf} && rm -f ${conf}`]);
      for (let i = 0; i < 5; i++) execFileSync('curl', ['-s', '-m', '5', `http://127.0.0.1:${port}/`]);
    }
    // Containers: start, serve, exec a command, stop.
    const h = await startOrSkip(t, () => DockerHarness.start());
    if (h) {
      try {
        for (let i = 0; i < 2; i++) {
          const c = await h.run(`quiet-${i}`, ['httpd', '-f', '-p', '127.0.0.1:8080', '-h', '/etc']);
          cgroups.add(c.cgroupId);
          h.exec(c.id, ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/passwd']);
          h.exec(c.id, ['ls', '/']);
          h.remove(c.id);
        }
      } finally {
        await h.teardown();
      }
    }
    await run!.waitFor(() => false, 1000); // let the last records arrive
    const noisy = run!.events.filter(mine(cgroups));
    assert.deepEqual(noisy.map((e) => `${e.name} ${e.attributes['process.executable.path']} ${e.attributes['tapio.security.path'] ?? ''}`), []);
    // Control: the same filter does see this workload's events (a process of it leaving the host namespaces).
    execFileSync('unshare', ['-m', 'true']);
    assert.ok(await run!.waitFor(() => run!.events.some(mine(cgroups))), 'an unshare -m by this workload is seen');
  } finally {
    server.kill();
  }
});
