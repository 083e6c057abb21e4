// Where batches wait, oldest first, while the collector cannot take them: an encrypted directory that survives a
// restart (DiskSpool), or a bounded list in memory when no directory is configured (MemorySpool). Both are bounded
// by bytes and age; whatever they give up is reported through `onGiveUp` with a reason, for drop accounting.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeSpoolFile, encodeSpoolFile, readSpoolHeader, type SpoolFileError, type Batch, type BatchHeader,
  type SpoolKey } from './spool-file';
import { makeDirectory } from './spool-dir';

export type GiveUpReason = 'spool_full' | 'retention_expired' | 'spool_unreadable' | 'spool_write_failed' | 'shutdown';

/** Bytes used against one limit, shared by several holders: the disk spools of all signals, or everything the
 *  exporter holds in memory (the lanes and the memory spools). */
export class ByteBudget {
  used = 0;
  constructor(readonly maxBytes: number) {}
}

export interface SpoolOptions {
  budget: ByteBudget;
  maxAgeMs: number;
  whenFull: 'drop_oldest' | 'drop_newest';
  onGiveUp: (header: BatchHeader, reason: GiveUpReason, detail?: string) => void;
  /** Operational messages (a file that cannot be deleted). */
  log?: (message: string) => void;
  /** Frees a buffer's memory now (native releaseBuffer): the encrypted copy of a batch once written or decrypted. */
  release?: (buffer: Uint8Array) => void;
}

export interface SpoolEntry {
  header: BatchHeader;
  bytes: number;
}

export interface Spool {
  readonly files: number;
  readonly bytes: number;
  /** Add a batch behind all others (may give up the oldest, or this one, when full). */
  append(batch: Batch): Promise<void>;
  /** The oldest readable batch; unreadable ones met on the way are quarantined and given up. */
  peek(): Promise<{ entry: SpoolEntry; batch: Batch } | undefined>;
  /** Remove an entry returned by peek (no-op when it was already given up meanwhile). */
  remove(entry: SpoolEntry): Promise<void>;
  /** Give up every entry older than the retention limit. */
  expire(nowMs: number): Promise<void>;
  /** At shutdown: a disk spool keeps its files for the next start; a memory spool gives everything up. */
  close(): Promise<void>;
}

export class MemorySpool implements Spool {
  private readonly items: Array<{ entry: SpoolEntry; batch: Batch }> = [];
  bytes = 0;
  constructor(private readonly opts: SpoolOptions) {}
  get files(): number { return this.items.length; }

  async append(batch: Batch): Promise<void> {
    const size = batch.payload.length;
    const { budget } = this.opts;
    while (budget.used + size > budget.maxBytes && this.opts.whenFull === 'drop_oldest' && this.items.length > 0) {
      this.giveUp(this.items[0]!.entry, 'spool_full');
    }
    if (budget.used + size > budget.maxBytes) {
      this.opts.onGiveUp(headerOf(batch), 'spool_full');
      return;
    }
    const entry = { header: headerOf(batch), bytes: size };
    this.items.push({ entry, batch });
    this.bytes += size;
    budget.used += size;
  }

  async peek(): Promise<{ entry: SpoolEntry; batch: Batch } | undefined> {
    return this.items[0];
  }

  async remove(entry: SpoolEntry): Promise<void> {
    const i = this.items.findIndex((it) => it.entry === entry);
    if (i < 0) return;
    this.items.splice(i, 1);
    this.bytes -= entry.bytes;
    this.opts.budget.used -= entry.bytes;
  }

  async expire(nowMs: number): Promise<void> {
    while (this.items.length > 0 && nowMs - this.items[0]!.entry.header.createdAtMs > this.opts.maxAgeMs) {
      this.giveUp(this.items[0]!.entry, 'retention_expired');
    }
  }

  async close(): Promise<void> {
    while (this.items.length > 0) this.giveUp(this.items[0]!.entry, 'shutdown');
  }

  private giveUp(entry: SpoolEntry, reason: GiveUpReason): void {
    void this.remove(entry);
    this.opts.onGiveUp(entry.header, reason);
  }
}

function headerOf(b: Batch): BatchHeader {
  return { signal: b.signal, encoding: b.encoding, records: b.records, kinds: b.kinds, createdAtMs: b.createdAtMs };
}

const FILE_RE = /^(\d{20})\.spool$/;

interface DiskEntry extends SpoolEntry {
  seq: bigint;
  file: string;
  gone?: boolean;
}

/** One directory of `<20-digit sequence>.spool` files; files that fail to read move to `quarantine/`. */
export class DiskSpool implements Spool {
  private readonly entries: DiskEntry[] = [];
  private nextSeq = 1n;
  bytes = 0;

  private constructor(private readonly dir: string, private readonly key: SpoolKey,
    private readonly fsync: boolean, private readonly opts: SpoolOptions) {}

  get files(): number { return this.entries.length; }

  /** Files that were given up or delivered but could not be deleted (ignored until a restart indexes them). */
  unremovable = 0;

  /** Open (creating) the directory and index what an earlier run left, oldest first. */
  static async open(dir: string, key: SpoolKey, fsync: boolean, opts: SpoolOptions): Promise<DiskSpool> {
    const s = new DiskSpool(dir, key, fsync, opts);
    await makeDirectory(dir, 0o700);
    const names = (await fs.promises.readdir(dir)).sort();
    for (const name of names) {
      const full = path.join(dir, name);
      if (name.endsWith('.tmp')) { // a write cut short by a crash: never acknowledged, so never counted as kept
        await fs.promises.rm(full, { force: true });
        continue;
      }
      const m = FILE_RE.exec(name);
      if (!m) continue;
      const seq = BigInt(m[1]!);
      if (seq >= s.nextSeq) s.nextSeq = seq + 1n;
      let data: Buffer;
      try {
        data = await fs.promises.readFile(full);
        const { header } = readSpoolHeader(data);
        s.entries.push({ seq, file: full, header, bytes: data.length });
        s.bytes += data.length;
        opts.budget.used += data.length;
      } catch (e) {
        await s.quarantine(full, e as Error, (e as SpoolFileError).header);
      }
    }
    return s;
  }

  async append(batch: Batch): Promise<void> {
    const seq = this.nextSeq++;
    const data = encodeSpoolFile(batch, seq, this.key);
    const { budget } = this.opts;
    while (budget.used + data.length > budget.maxBytes && this.opts.whenFull === 'drop_oldest' && this.entries.length > 0) {
      await this.giveUp(this.entries[0]!, 'spool_full');
    }
    if (budget.used + data.length > budget.maxBytes) {
      this.opts.onGiveUp(headerOf(batch), 'spool_full');
      return;
    }
    const file = path.join(this.dir, `${seq.toString().padStart(20, '0')}.spool`);
    for (;;) {
      const error = await this.write(file, data);
      if (!error) break;
      // The disk filled before maxBytes did: the same rule as a full budget applies (give up the oldest batch of
      // this signal to make room and try again), not "drop whatever comes next".
      const diskFull = error.code === 'ENOSPC' || error.code === 'EDQUOT';
      if (diskFull && this.opts.whenFull === 'drop_oldest' && this.entries.length > 0) {
        await this.giveUp(this.entries[0]!, 'spool_full');
        continue;
      }
      this.opts.onGiveUp(headerOf(batch), diskFull ? 'spool_full' : 'spool_write_failed', error.message);
      return;
    }
    this.entries.push({ seq, file, header: headerOf(batch), bytes: data.length });
    this.bytes += data.length;
    budget.used += data.length;
    this.opts.release?.(data); // written (the write has completed): the file holds it now
  }

  /** Write then rename: a crash mid-write leaves a .tmp (removed at the next start), never a half file. */
  private async write(file: string, data: Buffer): Promise<NodeJS.ErrnoException | undefined> {
    const tmp = `${file}.tmp`;
    try {
      const fh = await fs.promises.open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(data);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, file);
      return undefined;
    } catch (e) {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      return e as NodeJS.ErrnoException;
    }
  }

  async peek(): Promise<{ entry: SpoolEntry; batch: Batch } | undefined> {
    while (this.entries.length > 0) {
      const entry = this.entries[0]!;
      try {
        const data = await fs.promises.readFile(entry.file);
        const batch = decodeSpoolFile(data, entry.seq, this.key);
        this.opts.release?.(data); // decrypted into the batch's own buffer
        return { entry, batch };
      } catch (e) {
        if (entry.gone) continue; // given up while we were reading it
        this.forget(entry);
        await this.quarantine(entry.file, e as Error, (e as SpoolFileError).header ?? entry.header);
      }
    }
    return undefined;
  }

  async remove(entry: SpoolEntry): Promise<void> {
    const e = entry as DiskEntry;
    if (e.gone) return;
    this.forget(e);
    await this.unlink(e.file);
  }

  async expire(nowMs: number): Promise<void> {
    while (this.entries.length > 0 && nowMs - this.entries[0]!.header.createdAtMs > this.opts.maxAgeMs) {
      await this.giveUp(this.entries[0]!, 'retention_expired');
    }
  }

  async close(): Promise<void> {}

  private forget(e: DiskEntry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    if (!e.gone) {
      e.gone = true;
      this.bytes -= e.bytes;
      this.opts.budget.used -= e.bytes;
    }
  }

  private async giveUp(e: DiskEntry, reason: GiveUpReason): Promise<void> {
    this.forget(e);
    this.opts.onGiveUp(e.header, reason);
    await this.unlink(e.file);
  }

  /** The entry is already forgotten (and counted when given up): a file we cannot delete (read-only volume, EIO)
   *  must not stop delivery. It is ignored from now on; a restart indexes it again. */
  private async unlink(file: string): Promise<void> {
    try {
      await fs.promises.rm(file, { force: true });
    } catch (err) {
      this.unremovable++;
      this.opts.log?.(`spool: cannot delete ${file}: ${(err as Error).message}`);
    }
  }

  /** Move an unreadable file aside (kept for a human to inspect), count it, say why. */
  private async quarantine(file: string, err: Error, header: BatchHeader | undefined): Promise<void> {
    const qdir = path.join(this.dir, 'quarantine');
    const detail = `spool file ${file}: ${err.message}; moved to ${qdir}`;
    try {
      await fs.promises.mkdir(qdir, { recursive: true, mode: 0o700 });
      await fs.promises.rename(file, path.join(qdir, path.basename(file)));
    } catch {
      await fs.promises.rm(file, { force: true }).catch(() => undefined);
    }
    const fallback: BatchHeader = { signal: 'logs', encoding: 'protobuf', records: 1, kinds: {}, createdAtMs: 0 };
    this.opts.onGiveUp(header ?? fallback, 'spool_unreadable', detail);
  }
}
