// Shared by the spine's tests and benchmarks: loads bpf/testing/spine_test.bpf.o and drives it. A generator child
// process calls setpriority() `triggers` times; each call makes the BPF program emit `burst` records, so the
// ground truth is exactly triggers * burst records, each either delivered or counted as a kernel drop.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { loadCollector, u32Key, type LoadedCollector } from '../../src/kernel';
import { TAPIO_DROP_RINGBUF_FULL, TAPIO_KIND_TEST } from '../../src/kernel/layouts.generated';

export const SPINE_RECORD_SIZE = 48;

/** spine_emit (bursts with bpf_loop, 5.17+), else spine_emit_bounded (at most 32 records a call) on older kernels. */
export const SPINE_EMIT_IMPLEMENTATIONS = [
  { kind: 'tracepoint' as const, program: 'spine_emit' },
  { kind: 'tracepoint' as const, program: 'spine_emit_bounded' },
];

export async function loadSpine(opts: { ringBytes?: number; transport?: 'ringbuf' | 'perf' } = {}): Promise<LoadedCollector> {
  return loadCollector({
    name: 'spine_test',
    object: 'testing/spine_test.bpf.o',
    hooks: [{ name: 'emit', implementations: SPINE_EMIT_IMPLEMENTATIONS }],
    mapMaxEntries: opts.ringBytes ? { spine_events: opts.ringBytes } : undefined,
  }, { transport: opts.transport });
}

/** Only setpriority() calls from `pid` emit, `burst` records each; with noWakeup, submitted without waking the
 *  reader even into an empty ring (two CPUs racing past the first-record wakeup, made to happen every time). */
export function setSpineTarget(c: LoadedCollector, pid: number, burst: number, opts: { noWakeup?: boolean } = {}): void {
  const v = Buffer.alloc(12);
  v.writeUInt32LE(pid, 0);
  v.writeUInt32LE(burst, 4);
  v.writeUInt32LE(opts.noWakeup ? 1 : 0, 8);
  c.map('spine_test_settings').update(u32Key(0), v);
}

/** Records the kernel could not reserve (ring full), from the object's drop counters. */
export function spineKernelDrops(c: LoadedCollector): number {
  return c.readDrops().filter((d) => d.kind === TAPIO_KIND_TEST && d.reason === TAPIO_DROP_RINGBUF_FULL).reduce((s, d) => s + d.count, 0);
}

export interface Generator {
  child: ChildProcess;
  pid: number;
  /** Starts generating; resolves with the number of setpriority() calls made when the child is done. */
  run(): Promise<number>;
  kill(): void;
}

/**
 * A child process that, once told to go, calls setpriority() `triggers` times, at most `perSecond` calls per
 * second when given (paced in 1 ms slices), else as fast as it can. Stops by itself.
 */
export async function startGenerator(triggers: number, perSecond?: number): Promise<Generator> {
  const script = `
    const os = require('os');
    const total = ${triggers}, rate = ${perSecond ?? 0};
    process.stdin.once('data', () => {
      let n = 0;
      const start = Date.now();
      if (!rate) { for (; n < total; n++) os.setPriority(0); process.stdout.write('done ' + n + '\\n'); process.exit(0); }
      const tick = () => {
        const due = Math.min(total, Math.floor((Date.now() - start) * rate / 1000) + 1);
        for (; n < due; n++) os.setPriority(0);
        if (n >= total) { process.stdout.write('done ' + n + '\\n'); process.exit(0); }
        setTimeout(tick, 1);
      };
      tick();
    });
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [first] = await once(child.stdout!, 'data');
  if (!String(first).includes('ready')) throw new Error(`generator said ${first}`);
  return {
    child,
    pid: child.pid!,
    async run() {
      let out = '';
      child.stdout!.on('data', (d) => { out += d; });
      const exited = once(child, 'exit');
      child.stdin!.write('go\n');
      await exited;
      const m = /done (\d+)/.exec(out);
      if (!m) throw new Error(`generator ended without a count: ${out}`);
      return Number(m[1]);
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}

/** Threads and kernel-object fds (anon inodes: BPF maps, programs, links, perf events, epoll) of this process,
 *  for leak checks. Pipes and sockets are left out: child processes come and go with theirs. */
export function processResources(): { threads: number; fds: number } {
  const fs = require('node:fs') as typeof import('node:fs');
  const anon = fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('anon_inode:');
    } catch {
      return false; // closed while we looked
    }
  });
  return { threads: fs.readdirSync('/proc/self/task').length, fds: anon.length };
}

/** Blocks the JS thread until process `pid` has exited (a zombie counts: libuv cannot reap it while we block). */
export function stallUntilExited(pid: number, limitMs = 30_000): void {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    let state = 'Z';
    try { state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]; } catch { /* gone */ }
    if (state === 'Z') return;
  }
  throw new Error(`process ${pid} still running after ${limitMs} ms`);
}
