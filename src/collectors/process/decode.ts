// Turns process records (bpf/include/process.h) into TapioEvents named and attributed with OpenTelemetry semantic
// conventions. Never throws on bad bytes: a record that does not fit its layout is counted (stage 'decode') and
// skipped. Keeps the process table up to date so exit events can name the program that ended.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DropCounters } from '../../core/drops';
import type { Attributes, TapioEvent } from '../../core/event';
import { LruMap } from '../../core/lru';
import { HEADER_SIZE, batchBytes, cgroupAttribute, readCString, readHeader } from '../record-header';
import {
  ARGV_AREA, COMM_LEN, EXEC_ARGV_READ_FAILED, EXEC_PATH_TRUNCATED, EXEC_RECORD, EXIT_RECORD, FORK_RECORD,
  KIND_EXEC, KIND_EXIT, KIND_FORK, PATH_LEN,
} from './layout';
import type { ProcessTable } from './table';
import { redactArgs } from '../../protocols/scrub';

export interface ProcessDecoderOptions {
  argvMaxCount: number;
  /** The running binary of a pid, for exec filenames that do not name it (relative, /proc/self/exe, /dev/fd/N).
   *  Default: readlink /proc/<pid>/exe. */
  resolveExecutable?: (pid: number) => string | undefined;
  table: ProcessTable;
  drops: DropCounters;
  /** Boot-clock ns -> Unix ns (src/kernel/clock.ts in production; tests may pass their own). */
  toUnixNano: (bootNs: bigint) => bigint;
}

const E = EXEC_RECORD.fields;
const X = EXIT_RECORD.fields;
const F = FORK_RECORD.fields;
const KIND_NAMES: Record<number, string> = { [KIND_EXEC]: 'process.exec', [KIND_EXIT]: 'process.exit', [KIND_FORK]: 'process.fork' };
const RECORD_SIZES: Record<number, number> = { [KIND_EXEC]: EXEC_RECORD.size, [KIND_EXIT]: EXIT_RECORD.size, [KIND_FORK]: FORK_RECORD.size };

/** Splits the NUL-separated argument block and applies the count limit. */
export function splitArgs(bytes: Uint8Array, totalBytes: number, maxCount: number): { args: string[]; truncated: boolean } {
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  const complete = bytes.length >= totalBytes;
  if (text.endsWith('\0')) text = text.slice(0, -1);
  let args = text.length ? text.split('\0') : [];
  let truncated = !complete;
  if (args.length > maxCount) {
    args = args.slice(0, maxCount);
    truncated = true;
  }
  return { args, truncated };
}

/** The kernel's wait status: exit code, or terminating signal (and whether it dumped core). */
export function decodeWaitStatus(status: number): { exitCode?: number; signal?: number; coreDumped?: boolean } {
  const signal = status & 0x7f;
  if (signal === 0) return { exitCode: (status >> 8) & 0xff };
  return { signal, coreDumped: (status & 0x80) !== 0 };
}

/** Distinct command lines whose redacted arguments are kept: an exec storm, a health probe or a cron job runs the same
 *  command line over and over, and splitting and redacting it was the largest part of decoding an exec. */
const ARGS_CACHE_SIZE = 512;
/** Longest argument block cached (longer ones are rare and decoded every time). */
const ARGS_CACHE_MAX_BYTES = 512;

export class ProcessDecoder {
  /** Events decoded, by event name. */
  readonly counts: Record<string, number> = {};

  /** Raw argument block (complete, not truncated) -> its redacted arguments. The arrays are shared by the events
   *  that carry them and must not be changed (no sink changes attribute values). */
  private readonly argsCache = new LruMap<string, { args: string[]; truncated: boolean }>(ARGS_CACHE_SIZE);

  /** Exec events whose running binary could not be read from /proc (the process was already gone). */
  unresolvedExecutables = 0;

  constructor(private readonly o: ProcessDecoderOptions) {}

  private bad(kind: string, reason: string): undefined {
    this.o.drops.count('decode', kind, reason);
    return undefined;
  }

  /** One record -> one event, or undefined (counted) when the bytes are not a valid record. */
  decode(view: DataView, offset: number, size: number): TapioEvent | undefined {
    if (size < HEADER_SIZE || offset + size > view.byteLength) return this.bad('process.unknown', 'short_record');
    const h = readHeader(view, offset);
    const name = KIND_NAMES[h.kind];
    if (!name) return this.bad('process.unknown', 'unknown_kind');
    const want = RECORD_SIZES[h.kind];
    if (size < want || h.size !== want) return this.bad(name, 'size_mismatch');
    let event: TapioEvent | undefined;
    if (h.kind === KIND_EXEC) event = this.exec(view, offset, h);
    else if (h.kind === KIND_EXIT) event = this.exit(view, offset, h);
    else event = this.fork(view, offset, h);
    if (event) this.counts[name] = (this.counts[name] ?? 0) + 1;
    return event;
  }

  private base(name: string, h: ReturnType<typeof readHeader>, attributes: Attributes): TapioEvent {
    attributes['tapio.cgroup.id'] = cgroupAttribute(h.cgroupId);
    return { name, timeUnixNano: this.o.toUnixNano(h.tsNs), attributes, cgroupId: h.cgroupId };
  }

  private exec(view: DataView, at: number, h: ReturnType<typeof readHeader>): TapioEvent | undefined {
    const argvBytes = view.getUint16(at + E.argv_bytes.offset, true);
    const pathBytes = view.getUint16(at + E.path_bytes.offset, true);
    if (argvBytes > ARGV_AREA || pathBytes >= PATH_LEN) return this.bad('process.exec', 'bad_length');
    const flags = view.getUint32(at + E.flags.offset, true);
    const execFilename = readCString(view, at + E.path.offset, pathBytes + 1);
    const exePath = this.executablePath(h.pid, execFilename);
    const argvTotal = view.getUint32(at + E.argv_total_bytes.offset, true);
    const { args, truncated } = this.commandArgs(view, at + E.argv.offset, argvBytes, argvTotal);
    const startBootNs = view.getBigUint64(at + E.start_boot_ns.offset, true);
    this.o.table.set(h.pid, { path: exePath, args, startBootNs });
    const a: Attributes = {
      'process.pid': h.pid,
      'process.parent_pid': view.getUint32(at + E.ppid.offset, true),
      'process.executable.path': exePath,
      'process.executable.name': path.posix.basename(exePath),
      'process.command_args': args,
      'process.user.id': view.getUint32(at + E.uid.offset, true),
      'process.group.id': view.getUint32(at + E.gid.offset, true),
      'thread.id': h.tid,
      'tapio.process.comm': readCString(view, at + E.comm.offset, COMM_LEN),
      'tapio.argv.truncated': truncated || (flags & EXEC_ARGV_READ_FAILED) !== 0,
      'tapio.pid_ns.inode': view.getUint32(at + E.pid_ns_inode.offset, true),
      'tapio.mnt_ns.inode': view.getUint32(at + E.mnt_ns_inode.offset, true),
    };
    if (args.length > 0) a['process.command'] = args[0];
    if (exePath !== execFilename) a['tapio.exec.filename'] = execFilename;
    if (flags & EXEC_PATH_TRUNCATED) a['tapio.executable.path_truncated'] = true;
    if (flags & EXEC_ARGV_READ_FAILED) a['tapio.argv.read_failed'] = true;
    return this.base('process.exec', h, a);
  }

  /** The redacted arguments (secrets in command lines, curl -H 'Authorization: ...', never leave the agent), from
   *  the cache when this exact argument block was seen before. */
  private commandArgs(view: DataView, offset: number, bytes: number, total: number): { args: string[]; truncated: boolean } {
    const start = view.byteOffset + offset;
    const buf = batchBytes(view);
    const cacheable = bytes <= ARGS_CACHE_MAX_BYTES && bytes >= total;
    const key = cacheable ? buf.toString('latin1', start, start + bytes) : '';
    const cached = cacheable ? this.argsCache.get(key) : undefined;
    if (cached) return cached;
    const split = splitArgs(buf.subarray(start, start + bytes), total, this.o.argvMaxCount);
    const result = { args: redactArgs(split.args), truncated: split.truncated };
    if (cacheable) this.argsCache.set(key, result);
    return result;
  }

  /**
   * The exec filename is what the caller passed to execve: usually the binary's absolute path, but it can be
   * relative, or /proc/self/exe (busybox re-executing itself), or /dev/fd/N (runc, fexecve). Then ask /proc for the
   * running binary (records reach us within milliseconds, so the process is nearly always still there); when it is
   * gone, keep the filename and count it.
   */
  private executablePath(pid: number, filename: string): string {
    if (filename.startsWith('/') && !filename.startsWith('/proc/') && !filename.startsWith('/dev/fd/')) return filename;
    const resolved = (this.o.resolveExecutable ?? readExeLink)(pid);
    if (resolved) return resolved;
    this.unresolvedExecutables++; // not a loss: the event goes out with the filename the caller used
    return filename;
  }

  private exit(view: DataView, at: number, h: ReturnType<typeof readHeader>): TapioEvent {
    const startBootNs = view.getBigUint64(at + X.start_boot_ns.offset, true);
    const status = decodeWaitStatus(view.getInt32(at + X.exit_code.offset, true));
    const comm = readCString(view, at + X.comm.offset, COMM_LEN);
    const a: Attributes = {
      'process.pid': h.pid,
      'process.parent_pid': view.getUint32(at + X.ppid.offset, true),
      'tapio.process.comm': comm,
    };
    if (status.exitCode !== undefined) a['process.exit.code'] = status.exitCode;
    if (status.signal !== undefined) {
      a['tapio.process.signal'] = status.signal;
      a['tapio.process.core_dumped'] = status.coreDumped ?? false;
    }
    if (startBootNs > 0n && h.tsNs >= startBootNs) a['tapio.process.lifetime_ns'] = Number(h.tsNs - startBootNs);
    // The table entry belongs to this process only if it started when this one did (pids are reused); entries
    // seeded from /proc have 10 ms resolution.
    const info = this.o.table.take(h.pid);
    const diff = info ? info.startBootNs - startBootNs : 0n;
    if (info && diff < 20_000_000n && diff > -20_000_000n) {
      a['process.executable.path'] = info.path;
      a['process.executable.name'] = path.posix.basename(info.path);
      if (info.args) a['process.command_args'] = info.args;
    } else {
      a['process.executable.name'] = comm;
    }
    return this.base('process.exit', h, a);
  }

  private fork(view: DataView, at: number, h: ReturnType<typeof readHeader>): TapioEvent {
    const child = view.getUint32(at + F.child_pid.offset, true);
    // Until it execs, the child runs its parent's program.
    const parent = this.o.table.get(h.pid);
    if (parent) this.o.table.set(child, { ...parent, startBootNs: h.tsNs });
    const a: Attributes = {
      'process.pid': child,
      'process.parent_pid': h.pid,
      'tapio.process.comm': readCString(view, at + F.comm.offset, COMM_LEN),
    };
    if (parent) {
      a['process.executable.path'] = parent.path;
      a['process.executable.name'] = path.posix.basename(parent.path);
    }
    return this.base('process.fork', h, a);
  }
}

function readExeLink(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}
