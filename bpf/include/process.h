/* Record layouts of the process collector (bpf/process.bpf.c). The TypeScript offsets, sizes and flags are generated
 * from BTF into src/kernel/layouts.generated.ts (declare new shared types in bpf/testing/layouts.bpf.c and run
 * `npm run gen:layouts`); test/kernel/layouts.test.ts fails when that file is stale. */
#ifndef TAPIO_PROCESS_H
#define TAPIO_PROCESS_H

#include "tapio.h"

/* Buffer sizes (enum constants, not #defines, so they are in BTF and reach TypeScript). */
enum proc_sizes {
	PROC_COMM_LEN = 16,
	PROC_PATH_LEN = 256,   /* executable path as given to exec; longer paths are cut and flagged */
	PROC_ARGV_AREA = 4096, /* the most argv bytes any config may ask for (collectors.process.argvMaxBytes) */
};

/* Flags on an exec record. */
enum proc_exec_flag {
	PROC_EXEC_PATH_TRUNCATED = 1,	/* the path filled the whole buffer: it may have been cut */
	PROC_EXEC_ARGV_READ_FAILED = 2, /* argv could not be read (the record is still sent, without args) */
};

/* process.exec: sent from sched_process_exec, in the context of the new program. */
struct proc_exec_record {
	struct tapio_header h;
	__u32 ppid;
	__u32 old_tid; /* the thread that called exec (differs from pid when a non-leader thread exec'd) */
	__u32 uid;
	__u32 gid;
	__u32 pid_ns_inode;
	__u32 mnt_ns_inode;
	__u64 start_boot_ns;	/* when the process (thread group) started, boot clock */
	__u32 argv_total_bytes; /* size of the whole argument block in the process */
	__u16 argv_bytes;	/* bytes copied into argv[] (NUL-separated) */
	__u16 path_bytes;	/* bytes of path[] in use, without the terminating NUL */
	__u32 flags;		/* PROC_EXEC_* */
	char comm[PROC_COMM_LEN];
	char path[PROC_PATH_LEN];
	char argv[PROC_ARGV_AREA];
};

/* process.exit: sent when the last thread of a process exits (the thread group is dead). */
struct proc_exit_record {
	struct tapio_header h;
	__u32 ppid;
	__s32 exit_code;     /* the kernel's wait status: (code << 8) | signal | 0x80 if core dumped */
	__u64 start_boot_ns; /* when the process started, boot clock: lifetime = h.ts_ns - start_boot_ns */
	char comm[PROC_COMM_LEN];
};

/* process.fork: a new process (not a new thread); sampled only through limits.h (limits.sampling). h.pid is the
 * parent. */
struct proc_fork_record {
	struct tapio_header h;
	__u32 child_pid;
	__u32 parent_tid;
	char comm[PROC_COMM_LEN];
};

#endif
