// Load generators with a known ground truth, shared by the collector tests and bench/collectors-vs-peers.ts.
// A small C program (compiled once into a temp dir) paces fork+exec or TCP connects at a given rate: Node's own
// child_process would cost more CPU than the collectors being measured. It prints `done <n>`: how many execs
// really happened (children that exec'd the target and exited 0) or connections really established. A machine
// that cannot keep the pace (a slow hypervisor: fork+exec here has ranged 0.5-3.3 ms) gets twice the planned time,
// then the generator stops starting work and reports what it did, so the count stays the ground truth.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SOURCE = String.raw`
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static long reap(int block) {
  long ok = 0; int st; pid_t p;
  while ((p = waitpid(-1, &st, block ? 0 : WNOHANG)) > 0) if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
  return ok;
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: storm exec|connect RATE SECONDS [PATH]\n"); return 2; }
  long rate = atol(argv[2]); double secs = atof(argv[3]);
  long target = (long)(rate * secs), started = 0, ok = 0;
  double t0 = now(), deadline = t0 + 2 * secs;
  if (strcmp(argv[1], "exec") == 0) {
    char *path = argv[4];
    while (started < target && now() < deadline) {
      long due = (long)((now() - t0) * rate) + 1;
      if (due > target) due = target;
      for (; started < due && now() < deadline; started++) {
        pid_t p = fork();
        if (p == 0) { char *args[] = { path, "storm-arg", NULL }; execv(path, args); _exit(127); }
        if (p < 0) { ok += reap(1); started--; }
      }
      ok += reap(0);
      usleep(1000);
    }
    ok += reap(1);
  } else {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1024) || getsockname(l, (struct sockaddr *)&a, &al)) { perror("listen"); return 1; }
    while (started < target && now() < deadline) {
      long due = (long)((now() - t0) * rate) + 1;
      if (due > target) due = target;
      for (; started < due && now() < deadline; started++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0) {
          int s = accept(l, NULL, NULL);
          if (s >= 0) { ok++; close(s); }
        }
        close(c);
      }
      usleep(1000);
    }
  }
  printf("done %ld of %ld in %.1f s\n", ok, target, now() - t0);
  return 0;
}
`;

let compiled: { dir: string; storm: string; target: string } | undefined;

/** Compiles the generator (once per process) and copies /bin/true under a unique name to exec. */
export function stormTools(): { dir: string; storm: string; target: string } {
  if (compiled) return compiled;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tapio-storm-'));
  fs.writeFileSync(path.join(dir, 'storm.c'), SOURCE);
  const storm = path.join(dir, 'storm');
  execFileSync('cc', ['-O2', '-o', storm, path.join(dir, 'storm.c')], { stdio: 'pipe' });
  const target = path.join(dir, 'tapio-storm-true');
  fs.copyFileSync('/bin/true', target);
  fs.chmodSync(target, 0o755);
  compiled = { dir, storm, target };
  return compiled;
}

export function removeStormTools(): void {
  if (compiled) fs.rmSync(compiled.dir, { recursive: true, force: true });
  compiled = undefined;
}

export interface StormRun {
  pid: number;
  /** Resolves with the ground truth count; rejects if the generator fails or exceeds `timeoutMs`. */
  done: Promise<number>;
}

/**
 * Runs the storm generator. With `cgroupProcs` (a cgroup's cgroup.procs file) the generator joins that cgroup before
 * it starts, so everything it does is counted under that cgroup alone.
 */
export function runStorm(mode: 'exec' | 'connect', rate: number, seconds: number, timeoutMs = (seconds + 30) * 1000,
  cgroupProcs?: string): StormRun {
  const t = stormTools();
  const args = [mode, String(rate), String(seconds), t.target];
  const child = cgroupProcs
    ? spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', cgroupProcs, t.storm, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(t.storm, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`storm ${mode} did not finish in ${timeoutMs} ms`)); }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /done (\d+)/.exec(out);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`storm ${mode} failed (exit ${code}): ${err.trim()}`));
    });
  });
  return { pid: child.pid!, done };
}
