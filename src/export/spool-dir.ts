// Making the spool directory, and checking it before trusting it: created one level at a time (Node's recursive
// mkdir spins forever on a path under /proc, where mkdir answers ENOENT for ever), and compared with the filesystem
// that holds it (a maxBytes larger than the disk means `drop_oldest` is never reached before ENOSPC).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Create `dir` and its missing parents with `mode`; a clear error (never a hang) when that is impossible. */
export async function makeDirectory(dir: string, mode = 0o700): Promise<void> {
  const full = path.resolve(dir);
  const parts = full.split(path.sep).filter(Boolean);
  let at: string = path.sep;
  for (const part of parts) {
    at = path.join(at, part);
    try {
      await fs.promises.mkdir(at, { mode });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const st = await fs.promises.stat(at);
        if (!st.isDirectory()) throw new Error(`cannot create ${full}: ${at} exists and is not a directory`);
        continue;
      }
      // The parent exists (made or checked just before) and still mkdir says ENOENT: a pseudo filesystem such as
      // procfs or sysfs, which takes no new directories.
      if (code === 'ENOENT') throw new Error(`cannot create ${full}: ${path.dirname(at)} takes no new directories (ENOENT; is it /proc or /sys?)`);
      throw new Error(`cannot create ${full}: ${code ?? ''} ${(e as Error).message}`.trim());
    }
  }
}

/** Bytes the filesystem holding `dir` can take in all (size) and now (available to us). */
export async function filesystemSpace(dir: string): Promise<{ totalBytes: number; availableBytes: number } | undefined> {
  try {
    const st = await fs.promises.statfs(dir);
    return { totalBytes: st.blocks * st.bsize, availableBytes: st.bavail * st.bsize };
  } catch {
    return undefined;
  }
}

/** A warning when maxBytes cannot be reached on this filesystem (the disk fills first), else undefined. */
export async function capacityWarning(dir: string, maxBytes: number, alreadyUsed: number): Promise<string | undefined> {
  const space = await filesystemSpace(dir);
  if (!space) return undefined;
  const reachable = space.availableBytes + alreadyUsed;
  if (maxBytes <= reachable) return undefined;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  return `spool.maxBytes (${mib(maxBytes)}) is larger than the room on the filesystem of ${dir} ` +
    `(${mib(space.availableBytes)} free of ${mib(space.totalBytes)}): the disk fills first; then the oldest ` +
    'batches are given up to make room (whenFull: drop_oldest) or new ones are (drop_newest). Lower maxBytes.';
}

/** A warning when the spool key file can be read by other users (the key decrypts every spooled batch). */
export function keyFileWarning(keyFile: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(keyFile);
  } catch {
    return undefined; // loadSpoolKey reports a missing file
  }
  if ((st.mode & 0o044) === 0) return undefined;
  return `spool key file ${keyFile} is readable by ${st.mode & 0o004 ? 'every user' : 'its group'} ` +
    `(mode ${(st.mode & 0o777).toString(8)}): anyone who reads it can decrypt the spool; chmod 600 it ` +
    '(a Kubernetes Secret volume: defaultMode: 0400)';
}
