// Finds the files TLS capture attaches to: every executable mapping of every process (/proc/<pid>/maps) that is an
// OpenSSL libssl (libssl.so.1.1, libssl.so.3, ...) or a process's main binary that exports SSL_read/SSL_write (node,
// statically linked builds). Files are identified by (device, inode) as the kernel reports them in maps (for
// overlayfs that is the real lower/upper file, which is also what a uprobe attaches to), so one copy shared by many
// processes or containers is attached once. A container's file is reached through /proc/<pid>/root/<path>.
// Scans are incremental: reading every process's maps costs ~50-90 µs a process on a VM (the kernel formats every
// mapping's path), so a process seen before whose executable is unchanged (no exec since) keeps what its maps gave,
// and every process is read afresh once every `fullEvery` scans (a libssl dlopen'd from outside the library
// directories, which are attached ahead anyway). A root's library directories are listed when the root is first
// seen, and again in full scans (a libssl installed into a running container).
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
  /** Processes whose maps were read in this scan (new ones, ones that exec'd, everyone in a full scan). */
  mapsRead: number;
}

/** What one process's maps and links gave, kept between scans. */
interface ProcessView {
  exe: string | undefined;
  /** A kernel thread (empty maps): nothing to read, ever. */
  kernel: boolean;
  /** The process's root (mount namespace @ root directory), if readable. */
  where: string | undefined;
  files: Omit<MappedFile, 'pids'>[];
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
  /** pid -> what its last read gave; only pids alive at the last scan. */
  private readonly views = new Map<number, ProcessView>();
  /** root (mount namespace @ root directory) -> the libssl paths in its library directories; roots alive at the last scan. */
  private readonly rootLibraries = new Map<string, string[]>();
  private scans = 0;

  constructor(private readonly procRoot = '/proc', private readonly libraryDirs = LIBRARY_DIRS, private readonly keyCacheMax = 8192,
    private readonly fullEvery = 15) {}

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
    let mapsRead = 0;
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(root);
    } catch {
      return { files, processes, unreadable, mapsRead };
    }
    const full = this.scans++ % this.fullEvery === 0;
    const add = (key: string, p: string, openPath: string, kind: MappedFile['kind'], pid: number) => {
      let f = files.get(key);
      if (!f) {
        f = { key, path: p, openPath, kind, pids: new Set() };
        files.set(key, f);
      }
      f.pids.add(pid);
    };
    const roots = new Map<string, number[]>();
    const alive = new Set<number>();
    for (const name of entries) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      if (skipPids.has(pid)) continue;
      alive.add(pid);
      let view = this.views.get(pid);
      // A kernel thread stays one (its pid is reused only after the pid space wraps; full scans look again), and
      // its exe link fails: a thrown error per kernel thread was most of an incremental scan's cost.
      if (!full && view?.kernel) continue;
      if (full || !view || view.exe !== readLink(`${root}/${pid}/exe`)) {
        mapsRead++;
        view = this.readProcess(pid);
        if (!view) {
          unreadable++;
          this.views.delete(pid);
          continue;
        }
        this.views.set(pid, view);
      }
      if (view.kernel) continue;
      processes++;
      if (view.where) {
        const list = roots.get(view.where);
        if (list) list.push(pid); else roots.set(view.where, [pid]);
      }
      for (const f of view.files) add(f.key, f.path, f.openPath, f.kind, pid);
    }
    for (const pid of this.views.keys()) if (!alive.has(pid)) this.views.delete(pid);
    // Each root once: its libssl files in the usual directories, used by every process there. A root's directories
    // are listed when it is first seen and in full scans (~1200 names each in a Debian /usr/lib/<arch>).
    for (const [where, pids] of roots) {
      const pid = pids[0];
      let libs = this.rootLibraries.get(where);
      if (full || !libs) {
        libs = this.listLibraries(pid);
        this.rootLibraries.set(where, libs);
      }
      for (const p of libs) {
        const openPath = `${root}/${pid}/root${p}`;
        const key = this.key(`${where}${p}`, openPath);
        if (key) for (const q of pids) add(key, p, openPath, 'library', q);
      }
    }
    for (const where of this.rootLibraries.keys()) if (!roots.has(where)) this.rootLibraries.delete(where);
    return { files, processes, unreadable, mapsRead };
  }

  /** The libssl files in a root's library directories (paths inside the root), seen through one of its processes. */
  private listLibraries(pid: number): string[] {
    const found: string[] = [];
    for (const dir of this.libraryDirs) {
      let names: string[];
      try {
        names = fs.readdirSync(`${this.procRoot}/${pid}/root${dir}`);
      } catch {
        continue;
      }
      for (const n of names) if (LIBSSL.test(n)) found.push(`${dir}/${n}`);
    }
    return found;
  }

  /** One process's maps and root, read now; undefined when its maps cannot be read (gone, or not permitted). */
  private readProcess(pid: number): ProcessView | undefined {
    const root = this.procRoot;
    let maps: string;
    try {
      maps = fs.readFileSync(`${root}/${pid}/maps`, 'latin1');
    } catch {
      return undefined;
    }
    if (maps === '') return { exe: undefined, kernel: true, where: undefined, files: [] };
    const exe = readLink(`${root}/${pid}/exe`);
    // A root is a mount namespace and the directory the process sees as / in it: a chroot shares its parent's
    // namespace but not its library directories.
    const ns = readLink(`${root}/${pid}/ns/mnt`);
    const top = ns ? rootDir(`${root}/${pid}/root`) : undefined;
    const view: ProcessView = { exe, kernel: false, where: ns && top ? `${ns}@${top}` : undefined, files: [] };
    for (const line of maps.split('\n')) {
      const m = parseMapsLine(line);
      if (!m) continue;
      const isLib = LIBSSL.test(path.basename(m.path));
      if (!isLib && m.path !== exe) continue;
      const openPath = `${root}/${pid}/root${m.path}`;
      const key = this.key(`${m.dev}:${m.inode}`, openPath);
      if (key && !view.files.some((f) => f.key === key)) view.files.push({ key, path: m.path, openPath, kind: isLib ? 'library' : 'executable' });
    }
    return view;
  }
}
