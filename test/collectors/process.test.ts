// The process collector on the real kernel: known commands give exec and exit events with the right ids, path,
// arguments and exit code; signals are reported; processes older than the agent still get their path on exit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { needsRoot } from '../helpers/root';
import { ProcessCollector } from '../../src/collectors/process';
import type { TapioEvent } from '../../src/core/event';
import { runCollector, type Running } from './collect';

let run: Running | undefined;
let collector: ProcessCollector;
// Started before the collector: its exit must still carry its path (the table is seeded from /proc).
let oldSleeper: ReturnType<typeof spawn> | undefined;

before(async () => {
  if (needsRoot.skip) return;
  oldSleeper = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
  collector = new ProcessCollector();
  run = await runCollector(collector, { collectors: { process: { argvMaxCount: 4 } } });
});

after(async () => {
  oldSleeper?.kill('SIGKILL');
  await run?.stop();
});

const byPid = (name: string, pid: number) => (e: TapioEvent) => e.name === name && e.attributes['process.pid'] === pid;

test('the collector attaches every hook on this kernel', needsRoot, () => {
  const s = collector.status();
  assert.equal(s.available, true, run!.logs.join('\n'));
  for (const h of s.hooks) assert.ok(h.chosen, `${h.name}: ${JSON.stringify(h.attempts)}`);
});

test('a known command gives exec and exit with pid, ppid, path, args and exit code', needsRoot, async () => {
  const child = spawnSync('/bin/sh', ['-c', 'exit 7', 'tapio-arg one', 'two'], { stdio: 'ignore' });
  assert.equal(child.status, 7);
  const pid = child.pid;
  assert.ok(await run!.waitFor(() => run!.events.some(byPid('process.exit', pid))), 'exit event arrives');
  const exec = run!.events.find(byPid('process.exec', pid))!;
  assert.ok(exec, 'exec event arrives');
  assert.equal(exec.attributes['process.parent_pid'], process.pid);
  assert.equal(exec.attributes['process.executable.path'], '/bin/sh');
  assert.deepEqual(exec.attributes['process.command_args'], ['/bin/sh', '-c', 'exit 7', 'tapio-arg one']);
  assert.equal(exec.attributes['tapio.argv.truncated'], true); // 5 args, argvMaxCount 4
  assert.equal(exec.attributes['process.user.id'], process.getuid!());
  assert.equal(exec.attributes['tapio.pid_ns.inode'], Number(/\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/pid'))![1]));
  assert.equal(exec.attributes['tapio.mnt_ns.inode'], Number(/\[(\d+)\]/.exec(fs.readlinkSync('/proc/self/ns/mnt'))![1]));
  const exit = run!.events.find(byPid('process.exit', pid))!;
  assert.equal(exit.attributes['process.exit.code'], 7);
  assert.equal(exit.attributes['process.executable.path'], '/bin/sh');
  assert.equal(exit.attributes['process.parent_pid'], process.pid);
  assert.ok((exit.attributes['tapio.process.lifetime_ns'] as number) > 0);
  assert.ok(exit.timeUnixNano >= exec.timeUnixNano);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  assert.ok(exit.timeUnixNano > nowNs - 60_000_000_000n && exit.timeUnixNano <= nowNs + 1_000_000_000n, 'wall-clock time');
});

test('a process killed by a signal reports the signal; one started before the agent keeps its path', needsRoot, async () => {
  const pid = oldSleeper!.pid!;
  oldSleeper!.kill('SIGKILL');
  assert.ok(await run!.waitFor(() => run!.events.some(byPid('process.exit', pid))), 'exit event arrives');
  const exit = run!.events.find(byPid('process.exit', pid))!;
  assert.equal(exit.attributes['tapio.process.signal'], 9);
  assert.equal(exit.attributes['process.exit.code'], undefined);
  assert.equal(exit.attributes['process.executable.name'], 'sleep');
  assert.match(String(exit.attributes['process.executable.path']), /\/sleep$/);
});

test('threads do not make process.exit or process.fork events; the process exit comes once', needsRoot, async () => {
  // A node child with two worker threads that exit before the process does.
  const script = "const {Worker}=require('worker_threads');let n=0;for(let i=0;i<2;i++)new Worker('1',{eval:true}).on('exit',()=>{if(++n===2)process.exit(3)})";
  const child = spawnSync(process.execPath, ['-e', script], { stdio: 'ignore' });
  assert.equal(child.status, 3);
  const pid = child.pid;
  assert.ok(await run!.waitFor(() => run!.events.some(byPid('process.exit', pid))));
  await new Promise((r) => setTimeout(r, 100)); // let any (wrong) extra records arrive before counting
  assert.equal(run!.events.filter(byPid('process.exit', pid)).length, 1);
  assert.equal(run!.events.find(byPid('process.exit', pid))!.attributes['process.exit.code'], 3);
  assert.equal(run!.events.filter((e) => e.name === 'process.fork' && e.attributes['process.parent_pid'] === pid).length, 0);
  assert.equal(run!.events.filter(byPid('process.fork', pid)).length, 1, 'the fork that made the child');
});

test('an exec through a relative path or /proc/self/exe reports the binary that really runs', needsRoot, async () => {
  // `cd /bin && exec ./sleep` hands execve a relative filename; the event names the real binary and keeps the
  // filename the caller used.
  const child = spawn('/bin/sh', ['-c', 'cd /bin && exec ./sleep 0.5'], { stdio: 'ignore' });
  const ok = await run!.waitFor(() => run!.events.some(byPid('process.exec', child.pid!) as (e: TapioEvent) => boolean)
    && run!.events.filter(byPid('process.exec', child.pid!)).length >= 2);
  assert.ok(ok, 'both execs of the child (sh, then sleep) were seen');
  const sleepExec = run!.events.filter(byPid('process.exec', child.pid!)).find((e) => e.attributes['process.command'] === './sleep')!;
  assert.equal(sleepExec.attributes['process.executable.path'], fs.realpathSync('/bin/sleep'));
  assert.equal(sleepExec.attributes['process.executable.name'], 'sleep');
  assert.equal(sleepExec.attributes['tapio.exec.filename'], './sleep');
  await new Promise((r) => child.once('exit', r));
});
