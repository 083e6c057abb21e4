/* Record layouts of the security-signals collector (bpf/security_signals.bpf.c): seccomp violations (SIGSYS and
 * ERRNO denials of watched syscalls) and packets dropped by netfilter. Anchored in bpf/testing/layouts.bpf.c: their
 * TypeScript offsets are generated (npm run gen:layouts). */
#ifndef TAPIO_SECURITY_SIGNALS_H
#define TAPIO_SECURITY_SIGNALS_H

#include "tapio.h"
#include "exe_parts.h"

enum security_signals_sizes {
	TAPIO_COMM_LEN = 16,
};

/* Where a seccomp record came from. */
enum seccomp_source {
	SECCOMP_SRC_SIGSYS_BTF = 1, /* tp_btf/signal_generate: syscall number and arch from the siginfo */
	SECCOMP_SRC_SIGSYS_TP = 2,  /* tracepoint/signal/signal_generate: no syscall number (-1) */
	SECCOMP_SRC_NO_ENTER = 3,   /* a watched syscall's sys_exit without its sys_enter: seccomp skipped it (ERRNO) */
};

/* kinds TAPIO_KIND_SECCOMP_SIGNAL and TAPIO_KIND_SECCOMP_ERRNO. h.pid/tid/cgroup_id: the offending task. */
struct seccomp_record {
	struct tapio_header h;
	__s32 syscall_nr;   /* -1 when unknown (signal tracepoint fallback) */
	__u32 arch;	    /* AUDIT_ARCH_* (0xc000003e x86_64), 0 when unknown */
	__s32 value;	    /* SIGSYS: si_errno (the filter's data for TRAP); ERRNO: the syscall's return value */
	__s32 seccomp_mode; /* task->seccomp.mode at the time: 2 filter (TRAP), 3 dead (KILL); -1 unknown */
	__u32 uid;
	__u8 source;	/* enum seccomp_source */
	__u8 exe_parts; /* components in exe: the process may be gone (KILL) before /proc is read */
	__u8 exe_flags; /* enum tapio_exe_flags */
	__u8 ancestor_count;
	char comm[TAPIO_COMM_LEN];
	char exe[TAPIO_EXE_PARTS][TAPIO_EXE_PART_LEN]; /* leaf first (bpf/include/exe_parts.h) */
	struct tapio_ancestor ancestors[TAPIO_ANCESTORS];
};

enum netfilter_direction {
	NF_DIR_EGRESS = 1,  /* the skb had a socket: a local sender; h.cgroup_id is the socket's cgroup */
	NF_DIR_INGRESS = 2, /* no socket: arriving or forwarded; attribute by netns_ino + 5-tuple in userspace */
};

/* kind TAPIO_KIND_NETFILTER_DROP. h.pid/tid: whoever ran when the packet was freed (the sender in process context,
 * anyone in softirq); h.cgroup_id: the socket's cgroup (egress) or 0. */
struct netfilter_drop_record {
	struct tapio_header h;
	__u64 current_cgroup_id; /* cgroup of the task that ran (to tell a process-context sender from a softirq) */
	__u32 netns_ino;	 /* network namespace of the socket or device */
	__u32 reason;		 /* enum skb_drop_reason */
	__u32 ifindex;		 /* skb->dev, 0 when none yet (local output before routing) */
	__u16 family;		 /* AF_INET or AF_INET6 */
	__u16 src_port;		 /* host order; 0 for protocols without ports */
	__u16 dst_port;
	__u8 protocol;	/* IPPROTO_* of the L4 header */
	__u8 direction; /* enum netfilter_direction */
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char comm[TAPIO_COMM_LEN];
};

#endif
