/* Record layout and settings of the security collector (bpf/security.bpf.c). One record layout for every detection;
 * `detection` says which one fired and which fields mean something. src/collectors/security/layout.ts mirrors these
 * structs; test/collectors/security-layout.test.ts checks them against the BTF of the compiled object. */
#ifndef TAPIO_SECURITY_H
#define TAPIO_SECURITY_H

#include "tapio.h"

enum sec_sizes {
	SEC_COMM_LEN = 16,
	SEC_PATH_LEN = 256,  /* resolved or user-given path in a record; longer ones are cut and flagged */
	SEC_ANCESTORS = 6,   /* parents reported, up to the container's first process */
	SEC_NS_COUNT = 7,    /* mnt, pid, net, uts, ipc, cgroup, user (enum sec_ns) */
	SEC_MAX_RULES = 64,  /* path rules in security_path_rules */
	SEC_RULE_LEN = 64,   /* bytes of one rule's pattern */
	SEC_WALK_DEPTH = 40, /* path components resolved (deeper paths are cut and flagged) */
	SEC_SCRATCH = 1024,  /* per-CPU path buffer: SEC_PATH_LEN plus room for the bounded writes */
};

/* What fired. Userspace turns these into event names (src/collectors/security/detections.ts). */
enum sec_detection {
	SEC_DET_NONE = 0,
	SEC_DET_SETNS = 1,   /* setns: ns_before/ns_after, arg0 = fd, arg1 = nstype */
	SEC_DET_UNSHARE = 2, /* unshare: arg0 = flags */
	SEC_DET_CLONE_NS =
		3, /* a new process with namespaces other than its parent's: arg0 = CLONE_NEW* of what changed */
	SEC_DET_MOUNT = 4,  /* op = syscall (mount, fsopen, fsmount, move_mount, mount_setattr, open_tree) */
	SEC_DET_CHROOT = 5, /* op = chroot or pivot_root */
	SEC_DET_MODULE_LOAD = 6,
	SEC_DET_BPF_LOAD = 7,	    /* arg0 = bpf cmd, arg1 = program type */
	SEC_DET_RUNTIME_SOCKET = 8, /* connect to a unix socket matching a rule: path = sun_path */
	SEC_DET_FILE_OPEN = 9,	    /* rule = the path rule hit; arg0 = open flags, arg1 = f_mode */
	SEC_DET_FILE_LINK = 10,	    /* op = symlink/link; path = target (rule hit), path2... exe */
	SEC_DET_SETUID_EXEC = 11,   /* exec of a set-id file that changed effective ids: arg0 = file mode */
	SEC_DET_CRED_CHANGE = 12,   /* op = setuid family or capset; old_* = before, uid.. = after */
	SEC_DET_PTRACE = 13,	    /* arg0 = request, target_pid */
	SEC_DET_SETUID_BIT = 14,    /* chmod family setting S_ISUID/S_ISGID: arg0 = mode */
	SEC_DET_EXEC_FILELESS = 15, /* the running file has no name (memfd, deleted): arg0 = nlink */
	SEC_DET_EXEC_DROPPED =
		16, /* file changed after the container started: arg0 = ctime (wall ns), arg1 = container start (wall ns) */
	SEC_DET_EXEC_PATH = 17,	   /* exec from a watched directory (/tmp, /dev/shm): rule */
	SEC_DET_SHELL_TTY = 18,	   /* a shell with a terminal on stdin: arg0 = rdev of fd 0 */
	SEC_DET_SHELL_SOCKET = 19, /* a shell whose stdin or stdout is a socket: arg0 = bit 0 stdin, bit 1 stdout */
	SEC_DET_USERNS = 20, /* a user namespace made by a process without euid 0 (unshare or clone): arg0 = flags */
	SEC_DET_MAX = 32,
};

/* Syscall-level operation that produced a record (for detections with several entry points). */
enum sec_op {
	SEC_OP_NONE = 0,
	SEC_OP_MOUNT = 1,
	SEC_OP_FSOPEN = 2,
	SEC_OP_FSMOUNT = 3,
	SEC_OP_MOVE_MOUNT = 4,
	SEC_OP_MOUNT_SETATTR = 5,
	SEC_OP_OPEN_TREE = 6,
	SEC_OP_CHROOT = 7,
	SEC_OP_PIVOT_ROOT = 8,
	SEC_OP_SETUID = 9,
	SEC_OP_SETREUID = 10,
	SEC_OP_SETRESUID = 11,
	SEC_OP_SETGID = 12,
	SEC_OP_SETREGID = 13,
	SEC_OP_SETRESGID = 14,
	SEC_OP_CAPSET = 15,
	SEC_OP_SYMLINK = 16,
	SEC_OP_LINK = 17,
	SEC_OP_OPEN = 18,
	SEC_OP_EXEC = 19,
	SEC_OP_CONNECT = 20,
	SEC_OP_PTRACE = 21,
	SEC_OP_CHMOD = 22,
	SEC_OP_BPF = 23,
	SEC_OP_SETNS = 24,
	SEC_OP_UNSHARE = 25,
	SEC_OP_CLONE = 26,
	SEC_OP_FINIT_MODULE = 27,
	SEC_OP_INIT_MODULE = 28,
	SEC_OP_LSM = 0x80, /* or'ed in when an LSM hook (not a syscall tracepoint) saw it */
};

enum sec_ns {
	SEC_NS_MNT = 0,
	SEC_NS_PID = 1,
	SEC_NS_NET = 2,
	SEC_NS_UTS = 3,
	SEC_NS_IPC = 4,
	SEC_NS_CGROUP = 5,
	SEC_NS_USER = 6
};

/* Record flags (struct sec_record.flags). */
enum sec_flag {
	SEC_F_CONTAINER = 1,	 /* the task's mnt or pid namespace is not the host's (settings.host_ns) */
	SEC_F_NO_ENTER = 2,	 /* sys_exit without sys_enter: refused before the syscall ran (seccomp) */
	SEC_F_PATH_RESOLVED = 4, /* path is the kernel's resolved path (fd -> dentry walk), not the caller's string */
	SEC_F_PATH_TRUNCATED = 8,
	SEC_F_EXE_TRUNCATED = 16,
	SEC_F_LSM = 32, /* seen by an LSM hook (the kernel's decision point) */
};

/* Path rule flags (struct sec_path_rule.flags). */
enum sec_rule_flag {
	SEC_RULE_PREFIX = 1,
	SEC_RULE_SUFFIX = 2,
	SEC_RULE_READ = 4,     /* matches opens for reading (and link targets) */
	SEC_RULE_WRITE = 8,    /* matches opens for writing, creating or truncating */
	SEC_RULE_EXEC = 16,    /* matches the executable at exec */
	SEC_RULE_CONNECT = 32, /* matches unix socket paths at connect */
	SEC_RULE_HOST = 64,    /* applies to processes in the host namespaces too (else only containers) */
};

struct sec_path_rule {
	__u32 len;   /* pattern bytes in use; 0 ends the list */
	__u32 flags; /* SEC_RULE_* */
	char pattern[SEC_RULE_LEN];
};

/* Written by userspace into the one-entry `security_settings` array before records flow. */
struct sec_settings {
	__u32 enabled_mask;	     /* bit per enum sec_detection */
	__u32 host_scope_mask;	     /* bit per detection: also report processes in the host namespaces */
	__u32 agent_tgid;	     /* the agent itself: never reported */
	__u32 lsm_mask;		     /* bit per detection whose LSM form is attached: its tracepoint forms stand down */
	__u32 host_ns[SEC_NS_COUNT]; /* namespace inodes of the host (the agent's own, or a configured pid's) */
	__u32 _pad;
	__s64 boot_to_wall_ns; /* wall clock = boot clock + this (for inode ctime vs container start) */
};

struct sec_ancestor {
	__u32 pid;
	__u32 _pad;
	char comm[SEC_COMM_LEN];
};

struct sec_record {
	struct tapio_header h;
	__u16 detection; /* enum sec_detection */
	__u16 op;	 /* enum sec_op */
	__u32 flags;	 /* SEC_F_* */
	__s64 ret;	 /* syscall return value (negative errno), 0 where there is none */
	__u64 arg0;
	__u64 arg1;
	__u32 rule;	  /* index into the path rules, when a rule matched */
	__u32 target_pid; /* ptrace target */
	__u32 ppid;
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 old_uid;
	__u32 old_euid;
	__u32 old_gid;
	__u32 old_egid;
	__u32 ancestor_count;
	__u64 cap_effective;
	__u64 old_cap_effective;
	__u64 start_boot_ns; /* process start, boot clock */
	__u32 ns_before[SEC_NS_COUNT];
	__u32 ns_after[SEC_NS_COUNT];
	__u16 path_len;
	__u16 exe_len;
	char comm[SEC_COMM_LEN];
	struct sec_ancestor ancestors[SEC_ANCESTORS];
	char path[SEC_PATH_LEN];
	char exe[SEC_PATH_LEN];
};

#endif
