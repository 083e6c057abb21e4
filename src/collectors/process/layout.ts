// Byte layouts of the process collector's records (struct proc_*_record in bpf/include/process.h), as the decoder
// reads them. test/collectors/layout.test.ts checks each one against the BTF of bpf/.output/process.bpf.o.
import { HEADER_FIELDS } from '../record-header';

export const KIND_EXEC = 1;
export const KIND_EXIT = 2;
export const KIND_FORK = 3;

export const COMM_LEN = 16;
export const PATH_LEN = 256;
export const ARGV_AREA = 4096;

export const EXEC_PATH_TRUNCATED = 1;
export const EXEC_ARGV_READ_FAILED = 2;

export const EXEC_RECORD = {
  name: 'proc_exec_record',
  size: 4448,
  fields: {
    ...HEADER_FIELDS,
    ppid: { offset: 32, size: 4 },
    old_tid: { offset: 36, size: 4 },
    uid: { offset: 40, size: 4 },
    gid: { offset: 44, size: 4 },
    pid_ns_inode: { offset: 48, size: 4 },
    mnt_ns_inode: { offset: 52, size: 4 },
    start_boot_ns: { offset: 56, size: 8 },
    argv_total_bytes: { offset: 64, size: 4 },
    argv_bytes: { offset: 68, size: 2 },
    path_bytes: { offset: 70, size: 2 },
    flags: { offset: 72, size: 4 },
    comm: { offset: 76, size: COMM_LEN },
    path: { offset: 92, size: PATH_LEN },
    argv: { offset: 348, size: ARGV_AREA },
  },
} as const;

export const EXIT_RECORD = {
  name: 'proc_exit_record',
  size: 64,
  fields: {
    ...HEADER_FIELDS,
    ppid: { offset: 32, size: 4 },
    exit_code: { offset: 36, size: 4 },
    start_boot_ns: { offset: 40, size: 8 },
    comm: { offset: 48, size: COMM_LEN },
  },
} as const;

export const FORK_RECORD = {
  name: 'proc_fork_record',
  size: 56,
  fields: {
    ...HEADER_FIELDS,
    child_pid: { offset: 32, size: 4 },
    parent_tid: { offset: 36, size: 4 },
    comm: { offset: 40, size: COMM_LEN },
  },
} as const;

/** struct process_settings: written by userspace into the `process_settings` array map. */
export const SETTINGS = {
  name: 'process_settings',
  size: 8,
  fields: {
    fork_sample_every: { offset: 0, size: 4 },
    argv_max_bytes: { offset: 4, size: 4 },
  },
} as const;

export function encodeSettings(forkSampleEvery: number, argvMaxBytes: number): Buffer {
  const b = Buffer.alloc(SETTINGS.size);
  b.writeUInt32LE(forkSampleEvery, SETTINGS.fields.fork_sample_every.offset);
  b.writeUInt32LE(Math.min(argvMaxBytes, ARGV_AREA), SETTINGS.fields.argv_max_bytes.offset);
  return b;
}
