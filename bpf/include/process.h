/* Record layouts and settings of the process collector (bpf/process.bpf.c). The TypeScript decoders in
 * src/collectors/process/layout.ts mirror these structs; test/collectors/layout.test.ts checks them against the BTF of
 * the compiled object, so change both together. */
#ifndef TAPIO_PROCESS_H
#define TAPIO_PROCESS_H

#include "tapio.h"

#define PROC_COMM_LEN  16
#define PROC_PATH_LEN  256  /* executable path as given to exec; longer paths are cut and flagged */
#define PROC_ARGV_AREA 4096 /* the most argv bytes any config may ask for (collectors.process.argvMaxBytes) */

/* Flags on an exec record. */
#define PROC_EXEC_PATH_TRUNCATED   1 /* the path filled the whole buffer: it may have been cut */
#define PROC_EXEC_ARGV_READ_FAILED 2 /* argv could not be read (the record is still sent, without args) */

/* Written by userspace into the one-entry `process_settings` array before records flow. */
struct process_settings {
	__u32 fork_sample_every; /* keep 1 of N forks; 0 or 1 keeps all */
	__u32 argv_max_bytes;	 /* copy at most this many bytes of the argument block (<= PROC_ARGV_AREA) */
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

/* process.fork: a new process (not a new thread), sampled 1 in fork_sample_every. h.pid is the parent. */
struct proc_fork_record {
	struct tapio_header h;
	__u32 child_pid;
	__u32 parent_tid;
	char comm[PROC_COMM_LEN];
};

#endif
