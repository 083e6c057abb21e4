// One agent per node: a second `tapio run` with the same spool directory would rename its batches over the first
// one's (a shared spool lost half its records in the review), and one with the same observe address would run
// without /metrics or take over the first one's socket. The spool directory is claimed with a lock file naming the
// owner (pid and its start time, so a pid reused after a crash is not mistaken for a live agent); the observe
// address is claimed by listening on it (see observe/server.ts). Node has no flock(2); a lock file made with O_EXCL
// and checked against /proc does the job within one pid namespace (one agent per node runs with hostPID).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartupError } from './startup';

/** The start time of a process, in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface DirLock {
  release(): void;
}

/** Claim `dir` for this process; a StartupError naming the other agent when a live one holds it. */
export function lockDirectory(dir: string, what: string): DirLock {
  // One level at a time (a recursive mkdir spins for ever under /proc). A directory that cannot be made cannot be
  // shared either: the spool reports it and keeps batches in memory; nothing to lock.
  try {
    let at: string = path.sep;
    for (const part of path.resolve(dir).split(path.sep).filter(Boolean)) {
      at = path.join(at, part);
      if (!fs.existsSync(at)) fs.mkdirSync(at, { mode: 0o700 });
    }
  } catch {
    return { release: () => undefined };
  }
  const file = path.join(dir, '.tapio.lock');
  const me = `${process.pid} ${startTimeOf(process.pid) ?? '?'}\n`;
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(file, me, { flag: 'wx', mode: 0o600 });
      return {
        release: () => {
          try {
            if (fs.readFileSync(file, 'utf8') === me) fs.unlinkSync(file);
          } catch { /* already gone */ }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new StartupError(`cannot lock ${what} ${dir}: ${(e as Error).message}`);
    }
    let owner = '';
    try {
      owner = fs.readFileSync(file, 'utf8');
    } catch { continue; /* released meanwhile */ }
    const [pidText, started] = owner.trim().split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && started && startTimeOf(pid) === started) {
      throw new StartupError(`another Tapio agent (pid ${pid}) is using ${what} ${dir} (lock ${file}); ` +
        'run one agent per node, or give this one its own directory');
    }
    fs.rmSync(file, { force: true }); // left by an agent that is gone: take it over
  }
  throw new StartupError(`cannot lock ${what} ${dir}: the lock file ${file} keeps changing`);
}
