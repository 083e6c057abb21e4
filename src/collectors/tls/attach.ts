// Attaches TLS uprobes per file: once per (device, inode), whichever process or container maps it; detached when no
// process maps it any more. Bounded: at most `maxFiles` attached at once (more are counted, not attached), and the
// files found to export nothing are remembered (bounded) so they are read once. Each file's outcome is a HookStatus
// (status, /metrics): the probes that attached, or why not in the kernel's words.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HookAttempt, HookKind, HookStatus, LoadedCollector } from '../../kernel/loader';
import { u32Key } from '../../kernel/maps';
import { parseMapsLine, type MappedFile } from './discovery';
import { elfExports } from './elf';
import { sharedEntryPoint } from './entry-points';
import { TLS_PROBES, type TlsProbe } from './spec';

const NEGATIVE_CACHE = 4096;

export interface AttachedFile {
  file: MappedFile;
  /** bpf_get_attach_cookie() of this file's entry probes (tls_data_record.lib). */
  cookie: number;
  links: string[];
  /** Where its probes went, to attach them again after a pause (duty.ts). */
  sites: ProbeSite[];
  status: HookStatus;
}

interface ProbeSite {
  probe: TlsProbe;
  at: { functionName?: string; fileOffset?: number; cookie: number };
  site: string;
}

export interface AttachCounters {
  files_probed: number;
  files_attached: number;
  files_failed: number;
  files_detached: number;
  files_over_limit: number;
  files_without_ssl: number;
  /** Background detaches the addon reported failed (the links are gone from the agent either way). */
  detach_errors: number;
}

export class TlsAttacher {
  readonly attached = new Map<string, AttachedFile>();
  /** Files that could not be attached, with their status (kept while some process maps them). */
  readonly failed = new Map<string, HookStatus>();
  private readonly noSsl = new Set<string>();
  private readonly libraries = new Map<number, string | undefined>();
  readonly counters: AttachCounters = {
    files_probed: 0, files_attached: 0, files_failed: 0, files_detached: 0, files_over_limit: 0, files_without_ssl: 0, detach_errors: 0,
  };
  /** Files seen over the limit in the last scan (not attached). */
  overLimit = 0;
  /** Attach cookie -> the attached file's path: every call's record says which file's probe fired. */
  private readonly cookies = new Map<number, string>();
  private nextCookie = 1;
  /** The probes are paused (duty.ts): attached files keep their entries and cookies, without links; files that
   *  appear meanwhile are attached on resume. */
  private paused = false;
  /** tls_probes_live (bpf/include/tls_sockets.h) as last written: request capture's socket programs learn which
   *  socket an SSL object is on only while some probe is attached (the lookups cost every socket syscall). */
  private live = false;
  private lastFiles: ReadonlyMap<string, MappedFile> | undefined;

  constructor(private readonly loaded: LoadedCollector, private readonly maxFiles: number,
    private readonly sharedEntryPoints = true) {}

  /** Brings the attachments in line with what the processes map now. */
  sync(files: ReadonlyMap<string, MappedFile>): void {
    this.lastFiles = files;
    for (const [key, a] of this.attached) {
      const now = files.get(key);
      if (now) { a.file.pids = now.pids; continue; }
      this.drop(key, a, a.links);
    }
    for (const key of this.failed.keys()) if (!files.has(key)) this.failed.delete(key);
    this.overLimit = 0;
    if (!this.paused) {
      for (const [key, f] of files) {
        if (this.attached.has(key) || this.failed.has(key) || this.noSsl.has(key)) continue;
        if (this.attached.size >= this.maxFiles) {
          this.overLimit++;
          this.counters.files_over_limit++;
          continue;
        }
        this.attachFile(f);
      }
    }
    this.setLive(!this.paused && this.attached.size > 0);
  }

  /** Writes tls_probes_live when it changes. Turned on before probes attach, so that a thread's socket read just
   *  before its first SSL call (Node reads the ciphertext first) is already learnt. */
  private setLive(on: boolean): void {
    if (on === this.live) return;
    const value = Buffer.alloc(4);
    value.writeUInt32LE(on ? 1 : 0);
    try {
      this.loaded.map('tls_probes_live').update(u32Key(0), value);
      this.live = on;
    } catch { /* closed meanwhile */ }
  }

  /** The attached file whose probe made a call (the record's cookie); undefined for a file detached since. */
  fileOfCookie(cookie: number): string | undefined {
    return this.cookies.get(cookie);
  }

  /** Which attached TLS file a process uses (for the span's tapio.tls.library): from the last scan, else (a process
   *  newer than the scan, like a short curl) from its maps now; remembered per pid (bounded). */
  libraryOf(pid: number): string | undefined {
    const known = this.libraries.get(pid);
    if (known !== undefined || this.libraries.has(pid)) return known;
    let lib: string | undefined;
    for (const a of this.attached.values()) if (a.file.pids.has(pid)) { lib = a.file.path; break; }
    if (!lib) {
      const paths = new Set([...this.attached.values()].map((a) => a.file.path));
      try {
        for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
          const m = parseMapsLine(line);
          if (m && paths.has(m.path)) { lib = m.path; break; }
        }
      } catch { /* gone already */ }
    }
    if (this.libraries.size >= 4096) this.libraries.clear();
    this.libraries.set(pid, lib);
    return lib;
  }

  hookStatuses(): HookStatus[] {
    const attached = [...this.attached.values()].map((a) => !this.paused || !a.status.chosen ? a.status
      : { ...a.status, chosen: { ...a.status.chosen, program: `${a.status.chosen.program} (paused: their cost is above tls.maxProbeCostPercent)` } });
    return [...attached, ...this.failed.values()];
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Detaches every file's probes, keeping the files (and their cookies) to attach again on resume. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.setLive(false);
    for (const a of this.attached.values()) {
      void this.release(a.links);
      a.links = [];
    }
  }

  /** Attaches the paused files' probes again (a file that no longer takes them is dropped, to be found again by the
   *  next scan), then whatever the last scan found meanwhile. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.attached.size > 0) this.setLive(true);
    for (const [key, a] of this.attached) {
      const links: string[] = [];
      let failed = false;
      for (const s of a.sites) {
        const made = this.attachProbe(a.file, s.probe, s.at, s.site);
        links.push(...made.links);
        if (made.failed.length) failed = true;
      }
      if (failed) {
        this.drop(key, a, links);
        continue;
      }
      a.links = links;
    }
    if (this.lastFiles) this.sync(this.lastFiles);
  }

  /** Detaches every file's probes (resolves once the kernel let go of them). */
  async detachAll(): Promise<void> {
    const links = [...this.attached.values()].flatMap((a) => a.links);
    this.attached.clear();
    this.setLive(false);
    await this.release(links);
  }

  /** A file is detached (no process maps it, or it no longer takes the probes): its links go, and so does its cookie. */
  private drop(key: string, a: AttachedFile, links: string[]): void {
    void this.release(links);
    this.attached.delete(key);
    this.cookies.delete(a.cookie);
    this.counters.files_detached++;
  }

  /** Detaches links off the JS thread: each uprobe's detach waits ~100 ms for the kernel (RCU grace periods). */
  private release(links: string[]): Promise<void> {
    if (links.length === 0) return Promise.resolve();
    return this.loaded.detachTargetsInBackground(links).then(() => undefined, () => { this.counters.detach_errors++; });
  }

  private attachFile(f: MappedFile): void {
    this.counters.files_probed++;
    const name = `tls ${f.path} (${f.key})`;
    const exports = elfExports(f.openPath, TLS_PROBES.map((p) => p.symbol));
    if (!exports.ok) {
      if (/ENOENT/.test(exports.error)) return; // the process went away: another one's path may work next scan
      this.fail(f, name, [{ kind: 'uprobe', program: 'elf', stage: 'load', error: `${f.openPath}: ${exports.error}` }]);
      return;
    }
    if (!exports.found.has('SSL_write') || !exports.found.has('SSL_read')) {
      if (f.kind === 'executable') {
        if (this.noSsl.size >= NEGATIVE_CACHE) this.noSsl.clear();
        this.noSsl.add(f.key);
        this.counters.files_without_ssl++;
        return;
      }
      this.fail(f, name, [{ kind: 'uprobe', program: 'elf', stage: 'load', error: `${path.basename(f.path)} exports no SSL_read/SSL_write (stripped, or not OpenSSL)` }]);
      return;
    }
    this.setLive(true);
    const links: string[] = [];
    const attempts: HookAttempt[] = [];
    const sites: string[] = [];
    const plan: ProbeSite[] = [];
    const cookie = this.nextCookie;
    this.nextCookie = this.nextCookie >= 0xffff_ffff ? 1 : this.nextCookie + 1;
    let requiredFailed = false;
    // Probe a pair's shared internal function where that is cheaper (entry-points.ts); if it does not attach, the
    // exported names are probed instead, as everywhere else.
    const covered = new Set<string>();
    for (const [plain, ex] of [['SSL_write', 'SSL_write_ex'], ['SSL_read', 'SSL_read_ex']] as const) {
      const shared = this.sharedEntryPoints ? sharedEntryPoint(f.openPath, exports, plain, ex) : undefined;
      const probe = TLS_PROBES.find((p) => p.symbol === ex);
      if (!shared || !probe) continue;
      const at = { fileOffset: shared.fileOffset, cookie };
      const offsetSite = `+0x${shared.fileOffset.toString(16)}`;
      const made = this.attachProbe(f, probe, at, offsetSite);
      if (made.failed.length) {
        void this.release(made.links);
        attempts.push(...made.failed);
        continue;
      }
      links.push(...made.links);
      plan.push({ probe, at, site: offsetSite });
      sites.push(`${plain}/${ex} via ${offsetSite}`);
      covered.add(plain).add(ex);
    }
    for (const p of TLS_PROBES) {
      if (!exports.found.has(p.symbol) || covered.has(p.symbol)) continue;
      const at = { functionName: p.symbol, cookie };
      const made = this.attachProbe(f, p, at, p.symbol);
      links.push(...made.links);
      attempts.push(...made.failed);
      if (made.failed.length && p.required) requiredFailed = true;
      if (made.links.length) sites.push(p.symbol);
      if (made.failed.length === 0) plan.push({ probe: p, at, site: p.symbol });
    }
    if (requiredFailed) {
      void this.release(links);
      this.fail(f, name, attempts);
      return;
    }
    this.counters.files_attached++;
    this.cookies.set(cookie, f.path);
    this.attached.set(f.key, {
      file: f, cookie, links, sites: plan,
      status: { name, optional: true, chosen: { kind: 'uprobe', program: `${links.length} probes on ${sites.join(', ')}` }, attempts },
    });
  }

  /** A probe's entry and return programs at one site (an exported name or a file offset), as links of this file. */
  private attachProbe(f: MappedFile, p: TlsProbe, at: { functionName?: string; fileOffset?: number; cookie: number }, site: string):
    { links: string[]; failed: HookAttempt[] } {
    const links: string[] = [];
    const failed: HookAttempt[] = [];
    // The return probe first: a call that begins between the two attaches is then not entered without its return.
    const pairs: [HookKind, string][] = [...(p.exit ? [['uretprobe', p.exit] as [HookKind, string]] : []), ['uprobe', p.entry]];
    for (const [kind, program] of pairs) {
      const linkKey = `${f.key}/${site}/${kind}`;
      const out = this.loaded.attachTarget({ kind, program, target: { binaryPath: f.openPath, ...at } }, linkKey);
      if (out.ok) links.push(linkKey);
      else failed.push({ kind, program: `${program}@${site}`, stage: 'attach', error: out.error ?? 'attach failed' });
    }
    return { links, failed };
  }

  private fail(f: MappedFile, name: string, attempts: HookAttempt[]): void {
    this.counters.files_failed++;
    this.failed.set(f.key, { name, optional: true, attempts });
  }
}
