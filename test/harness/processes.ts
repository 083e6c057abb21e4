// Process, mount and cgroup plumbing for the runtime harness: start a daemon with its log in a temp dir and wait for
// its socket, stop it, kill what it left behind (shims, conmon: found by our unique temp path in their command line
// and ended by pid), lazily unmount everything below a temp dir, and remove leftover cgroups in every hierarchy.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectHostCgroupLayout, directoryOf, pathFromProcCgroup } from '../../src/identity/cgroups/layout';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { waitFor } from '../helpers/wait';
import { waitFor } from '../helpers/wait';

/** Which of these executables are missing from PATH (and /usr/sbin, /sbin, which root's PATH may lack). */
export function missingBinaries(names: string[]): string[] {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/bin'];
  return names.filter((n) => !dirs.some((d) => d && fs.existsSync(path.join(d, n))));
}

export class Daemon {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(readonly name: string, private readonly command: string, private readonly args: string[],
    private readonly logFile: string, private readonly env: NodeJS.ProcessEnv = process.env) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Start and wait until `socket` accepts files (exists); throws with the log tail on failure. */
  async start(socket: string, timeoutMs = 20_000): Promise<void> {
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(this.command, this.args, { stdio: ['ignore', log, log], env: this.env });
    fs.closeSync(log);
    this.child = child;
    let exitInfo: string | undefined;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      exitInfo = `exited with ${code ?? signal}`;
      resolve();
    }));
    child.once('error', (e) => {
      exitInfo = e.message;
    });
    try {
      await waitFor(`${this.name} socket ${socket}`, () => {
        if (exitInfo) throw new Error(exitInfo);
        return fs.existsSync(socket);
      }, timeoutMs);
    } catch (e) {
      await this.stop();
      throw new Error(`${this.name} did not start (${exitInfo ?? (e as Error).message}); log:\n${this.logTail()}`);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  logTail(bytes = 3000): string {
    try {
      const text = fs.readFileSync(this.logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '(no log)';
    }
  }
}

/** Run a command; throw with its stderr when it fails. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', env, timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** SIGKILL every process whose command line contains `marker` (a unique temp path); returns how many. */
export function killProcessesMentioning(marker: string): number {
  let killed = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(marker)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      } catch {
        // already gone
      }
    }
  }
  return killed;
}

/** Lazily unmount every mount at or below `dir`, deepest first. */
export function unmountBelow(dir: string): void {
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(dir + '/')))
    .map((p) => p.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    try {
      execFileSync('umount', ['-l', p], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** Every mounted cgroup hierarchy's mount point (v1 controllers and cgroup2). */
export function cgroupMountPoints(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').flatMap((l) => {
    const dash = l.indexOf(' - ');
    if (dash < 0) return [];
    const fstype = l.slice(dash + 3).split(' ')[0];
    return fstype === 'cgroup' || fstype === 'cgroup2' ? [l.split(' ')[4]!] : [];
  });
}

/** Remove these cgroup paths (and their empty descendants) in every hierarchy; non-empty ones are left alone. */
export function removeCgroups(cgroupPaths: string[]): void {
  for (const mount of cgroupMountPoints()) {
    for (const p of cgroupPaths) {
      const dir = path.join(mount, p);
      if (dir === mount) continue;
      if (fs.existsSync(dir)) removeTree(dir);
      // Then empty ancestors (/kubepods/besteffort, /kubepods): rmdir refuses any still in use.
      for (let up = path.dirname(dir); up !== mount && up.startsWith(mount + '/'); up = path.dirname(up)) {
        try {
          fs.rmdirSync(up);
        } catch {
          break;
        }
      }
    }
  }
}

function removeTree(dir: string): void {
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeTree(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    // busy (processes left) or shared with someone else: not ours to force
  }
}

export interface CgroupOfPid {
  /** Path in the id hierarchy, e.g. /kubepods/besteffort/pod<uid>/<id>. */
  path: string;
  /** Kernel cgroup id: the inode of that directory (what BPF reports). */
  id: bigint;
}

/** Where `pid` sits in the id hierarchy, read like the agent would. */
export function cgroupOfPid(pid: number): CgroupOfPid {
  const layout = detectHostCgroupLayout();
  const p = pathFromProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), layout);
  if (!p) throw new Error(`pid ${pid} has no cgroup in the id hierarchy`);
  const dir = directoryOf(p, layout.ids);
  if (!dir) throw new Error(`cgroup ${p} is outside the mounted hierarchy`);
  return { path: p, id: fs.statSync(dir, { bigint: true }).ino };
}
