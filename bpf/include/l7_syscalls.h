/* Where a syscall's bytes are: the syscall numbers per architecture and the reading of a thread's saved syscall
 * registers into a buffer (or iovec array) and length, for bpf/l7.bpf.c. */
#ifndef TAPIO_L7_SYSCALLS_H
#define TAPIO_L7_SYSCALLS_H

#include "l7.h"

#if defined(__TARGET_ARCH_x86)
#define NR_READ		       0
#define NR_WRITE	       1
#define NR_READV	       19
#define NR_WRITEV	       20
#define NR_SENDTO	       44
#define NR_RECVFROM	       45
#define NR_SENDMSG	       46
#define NR_RECVMSG	       47
#define SYSCALL_NR(regs)       BPF_CORE_READ(regs, orig_ax)
#define SYSCALL_NR_TYPED(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_READ		       63
#define NR_WRITE	       64
#define NR_READV	       65
#define NR_WRITEV	       66
#define NR_SENDTO	       206
#define NR_RECVFROM	       207
#define NR_SENDMSG	       211
#define NR_RECVMSG	       212
#define SYSCALL_NR(regs)       BPF_CORE_READ(regs, syscallno)
#define SYSCALL_NR_TYPED(regs) ((regs)->syscallno)
#else
#error "l7.bpf.c: syscall numbers for this architecture are missing"
#endif

/* Where a syscall's bytes are, from its saved registers. */
struct syscall_buf {
	__u8 sys; /* enum l7_syscall */
	__u8 vector;
	__u64 buf;   /* buffer, or user iovec array */
	__u64 count; /* iovec count for vectors */
};

/* Where the bytes are, from the syscall number and its saved argument registers. `typed`: regs is a typed pointer
 * (bpf_task_pt_regs), read with plain loads; otherwise a bare address, read through the probe-read helper. Callers
 * pass a constant, so each program keeps one form. */
static __always_inline void syscall_buffer(struct pt_regs *regs, __u8 dir, struct syscall_buf *sb, bool typed)
{
	long nr = typed ? SYSCALL_NR_TYPED(regs) : SYSCALL_NR(regs);
	__u64 a2 = typed ? PT_REGS_PARM2_SYSCALL(regs) : PT_REGS_PARM2_CORE_SYSCALL(regs);
	sb->sys = L7_SYS_OTHER;
	sb->vector = 0;
	sb->buf = a2;
	sb->count = 0;
	if (dir == L7_DIR_SEND) {
		if (nr == NR_WRITE)
			sb->sys = L7_SYS_WRITE;
		else if (nr == NR_SENDTO)
			sb->sys = L7_SYS_SENDTO;
		else if (nr == NR_WRITEV)
			sb->sys = L7_SYS_WRITEV;
		else if (nr == NR_SENDMSG)
			sb->sys = L7_SYS_SENDMSG;
	} else {
		if (nr == NR_READ)
			sb->sys = L7_SYS_READ;
		else if (nr == NR_RECVFROM)
			sb->sys = L7_SYS_RECVFROM;
		else if (nr == NR_READV)
			sb->sys = L7_SYS_READV;
		else if (nr == NR_RECVMSG)
			sb->sys = L7_SYS_RECVMSG;
	}
	if (sb->sys == L7_SYS_WRITEV || sb->sys == L7_SYS_READV) {
		sb->vector = 1;
		sb->count = typed ? PT_REGS_PARM3_SYSCALL(regs) : PT_REGS_PARM3_CORE_SYSCALL(regs);
	} else if (sb->sys == L7_SYS_SENDMSG || sb->sys == L7_SYS_RECVMSG) {
		struct user_msghdr m;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)a2) != 0) {
			sb->sys = L7_SYS_OTHER;
			return;
		}
		sb->vector = 1;
		sb->buf = (__u64)m.msg_iov;
		sb->count = m.msg_iovlen;
	}
}

/* The thread's saved syscall registers: given (the syscall-exit plan), or, for a typed socket (tp_btf), found from
 * the current task only when a syscall's buffer is really needed (most calls need only the state lookup). */
static __always_inline struct pt_regs *syscall_regs(struct pt_regs *regs, bool typed)
{
	if (typed)
		return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	return regs;
}

#endif
