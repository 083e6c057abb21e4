// Finds the files TLS capture attaches to: every executable mapping of every process (/proc/<pid>/maps) that is an
// OpenSSL libssl (libssl.so.1.1, libssl.so.3, ...) or a process's main binary that exports SSL_read/SSL_write (node,
// statically linked builds). Files are identified by (device, inode) as the kernel reports them in maps (for
// overlayfs that is the real lower/upper file, which is also what a uprobe attaches to), so one copy shared by many
// processes or containers is attached once. A container's file is reached through /proc/<pid>/root/<path>.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MappedFile {
  /** `<inode>:<size>:<mtime>` from stat of openPath: the same file reached from any process or container (overlayfs
   *  reports the real file's inode number) is one key, so it is attached once. */
  key: string;
  /** The path inside the process's mount namespace. */
  path: string;
  /** How the agent opens it: /proc/<pid>/root/<path> of one process that maps it. */
  openPath: string;
  /** libssl (mapped, or found in a library directory of a process's root), or a process's own binary. */
  kind: 'library' | 'executable';
  /** Processes that map it, or (for a library found in a library directory) that live in that root. */
  pids: Set<number>;
}

export interface ScanResult {
  files: Map<string, MappedFile>;
  processes: number;
  /** Processes whose maps could not be read (gone meanwhile, or not permitted). */
  unreadable: number;
}

const LIBSSL = /^libssl\.so(\.|$)/;

/** Where a root's libssl lives when no process maps it yet: attached ahead, so short-lived processes (curl) and
 *  processes that load libssl later (Python's `import ssl`) are covered from their first call. */
export const LIBRARY_DIRS = ['/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/local/lib64',
  '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];

/** One line of /proc/<pid>/maps: an executable file mapping, or undefined. */
export function parseMapsLine(line: string): { dev: string; inode: string; path: string } | undefined {
  // start-end perms offset dev inode path
  const m = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) [0-9a-f]+ ([0-9a-f]+:[0-9a-f]+) (\d+)\s+(\/.*)$/.exec(line);
  if (!m || m[1][2] !== 'x' || m[3] === '0') return undefined;
  const p = m[4];
  if (p.endsWith(' (deleted)')) return undefined;
  return { dev: m[2], inode: m[3], path: p };
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** The root directory a process sees, as device:inode (readlink would give its path, not which one it is). */
function rootDir(p: string): string | undefined {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function fileKey(openPath: string): string | undefined {
  try {
    const st = fs.statSync(openPath);
    return st.isFile() ? `${st.ino}:${st.size}:${Math.floor(st.mtimeMs)}` : undefined;
  } catch {
    return undefined;
  }
}

export class Discovery {
  /** maps' `<dev>:<inode>` (and lib-dir paths per root) -> stat key, so a scan stats each file once. */
  private readonly keys = new Map<string, string | undefined>();

  constructor(private readonly procRoot = '/proc', private readonly libraryDirs = LIBRARY_DIRS, private readonly keyCacheMax = 8192) {}

  private key(cacheKey: string, openPath: string): string | undefined {
    if (this.keys.has(cacheKey)) return this.keys.get(cacheKey);
    if (this.keys.size >= this.keyCacheMax) this.keys.clear();
    const k = fileKey(openPath);
    if (k) this.keys.set(cacheKey, k); // a miss (process gone) is retried next time
    return k;
  }

  /** Every candidate file of the running processes (but `skipPids`), with the pids that use it. */
  scan(skipPids: ReadonlySet<number> = new Set()): ScanResult {
    const root = this.procRoot;
    const files = new Map<string, MappedFile>();
    let processes = 0;
    let unreadable = 0;
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(root);
    } catch {
      return { files, processes, unreadable };
    }
    const add = (key: string, p: string, openPath: string, kind: MappedFile['kind'], pid: number) => {
      let f = files.get(key);
      if (!f) {
        f = { key, path: p, openPath, kind, pids: new Set() };
        files.set(key, f);
      }
      f.pids.add(pid);
    };
    const roots = new Map<string, number[]>();
    for (const name of entries) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (skipPids.has(pid)) continue;
      let maps: string;
      try {
        maps = fs.readFileSync(`${root}/${pid}/maps`, 'latin1');
      } catch {
        unreadable++;
        continue;
      }
      if (maps === '') continue; // a kernel thread
      processes++;
      // A root is a mount namespace and the directory the process sees as / in it: a chroot shares its parent's
      // namespace but not its library directories.
      const ns = readLink(`${root}/${pid}/ns/mnt`);
      const top = ns ? rootDir(`${root}/${pid}/root`) : undefined;
      if (ns && top) {
        const where = `${ns}@${top}`;
        const list = roots.get(where);
        if (list) list.push(pid); else roots.set(where, [pid]);
      }
      const exe = readLink(`${root}/${pid}/exe`);
      for (const line of maps.split('\n')) {
        const m = parseMapsLine(line);
        if (!m) continue;
        const isLib = LIBSSL.test(path.basename(m.path));
        if (!isLib && m.path !== exe) continue;
        const openPath = `${root}/${pid}/root${m.path}`;
        const key = this.key(`${m.dev}:${m.inode}`, openPath);
        if (key) add(key, m.path, openPath, isLib ? 'library' : 'executable', pid);
      }
    }
    // Each root once: its libssl files in the usual directories, used by every process there.
    for (const [where, pids] of roots) {
      const pid = pids[0];
      for (const dir of this.libraryDirs) {
        let names: string[];
        try {
          names = fs.readdirSync(`${root}/${pid}/root${dir}`);
        } catch {
          continue;
        }
        for (const n of names) {
          if (!LIBSSL.test(n)) continue;
          const p = `${dir}/${n}`;
          const openPath = `${root}/${pid}/root${p}`;
          const key = this.key(`${where}${p}`, openPath);
          if (key) for (const q of pids) add(key, p, openPath, 'library', q);
        }
      }
    }
    return { files, processes, unreadable };
  }
}
