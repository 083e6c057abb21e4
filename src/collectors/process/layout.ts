// The process collector's names for its records (struct proc_*_record in bpf/include/process.h) and for the
// load-time settings of bpf/process.bpf.c. Every number comes from the generated layouts
// (src/kernel/layouts.generated.ts); nothing is typed here.
import * as L from '../../kernel/layouts.generated';

export const KIND_EXEC = L.TAPIO_KIND_PROC_EXEC;
export const KIND_EXIT = L.TAPIO_KIND_PROC_EXIT;
export const KIND_FORK = L.TAPIO_KIND_PROC_FORK;

export const COMM_LEN = L.PROC_COMM_LEN;
export const PATH_LEN = L.PROC_PATH_LEN;
export const ARGV_AREA = L.PROC_ARGV_AREA;

export const EXEC_PATH_TRUNCATED = L.PROC_EXEC_PATH_TRUNCATED;
export const EXEC_ARGV_READ_FAILED = L.PROC_EXEC_ARGV_READ_FAILED;

export const EXEC_RECORD = L.STRUCTS.proc_exec_record;
export const EXIT_RECORD = L.STRUCTS.proc_exit_record;
export const FORK_RECORD = L.STRUCTS.proc_fork_record;

/** The `const volatile` globals of bpf/process.bpf.c, set before load (argv_max_bytes is a __u32). */
export function processRodata(argvMaxBytes: number): Record<string, Buffer> {
  const argv = Buffer.alloc(4);
  argv.writeUInt32LE(Math.min(argvMaxBytes, ARGV_AREA));
  return { argv_max_bytes: argv };
}
