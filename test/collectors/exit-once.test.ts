// A multi-threaded process killed by exit_group reports exactly one process.exit (needs root). Several of its
// threads can reach the exit tracepoint after the last one left, and each sees "no threads live"; the kernel side
// must let only the first report. A small C program (built here with cc) makes 200 such processes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { needsRoot } from '../helpers/root';
import { ProcessCollector } from '../../src/collectors/process';
import { runCollector, type Running } from './collect';

const SOURCE = `
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
static void *block(void *a) { pause(); return 0; }
int main(int argc, char **argv) {
  int threads = atoi(argv[1]), procs = atoi(argv[2]);
  for (int p = 0; p < procs; p++) {
    pid_t c = fork();
    if (c == 0) { pthread_t t; for (int i = 0; i < threads; i++) pthread_create(&t, 0, block, 0); usleep(1000); exit(0); }
    waitpid(c, 0, 0);
  }
  return 0;
}`;

let run: Running | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-exit-once-'));
after(async () => {
  await run?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a process whose threads die together reports one exit, not one per thread', needsRoot, async () => {
  fs.writeFileSync(path.join(dir, 'threads.c'), SOURCE);
  execFileSync('cc', ['-O2', '-pthread', '-o', path.join(dir, 'threads'), path.join(dir, 'threads.c')]);
  run = await runCollector(new ProcessCollector());
  const procs = 200;
  const parent = spawn(path.join(dir, 'threads'), ['2', String(procs)], { stdio: 'ignore' });
  await new Promise((r) => parent.once('exit', r));
  const children = () => run!.events.filter((e) => e.name === 'process.exit' && e.attributes['process.parent_pid'] === parent.pid);
  await run.waitFor(() => new Set(children().map((e) => e.attributes['process.pid'])).size >= procs, 10_000);
  const perPid = new Map<unknown, number>();
  for (const e of children()) perPid.set(e.attributes['process.pid'], (perPid.get(e.attributes['process.pid']) ?? 0) + 1);
  assert.equal(perPid.size, procs, 'every child exited and was seen');
  const twice = [...perPid.values()].filter((n) => n > 1).length;
  assert.equal(twice, 0, `${twice} processes reported more than one exit`);
});
