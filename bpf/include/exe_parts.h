/* A task's executable as path components, and its parents up to the container's first process, for records whose
 * process may be gone before userspace reads /proc (a seccomp KILL). Leaf first, each NUL-terminated and cut to TAPIO_EXE_PART_LEN - 1; mounts are crossed up to the
 * task's root. An unrolled walk with CO-RE reads only: no bpf_loop and no typed task, so it loads on 5.10 too. */
#ifndef TAPIO_EXE_PARTS_H
#define TAPIO_EXE_PARTS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

enum tapio_exe_sizes {
	TAPIO_EXE_PARTS = 8,
	TAPIO_EXE_PART_LEN = 32,
};

enum tapio_ancestor_sizes {
	TAPIO_ANCESTORS = 6, /* parents reported, up to the container's first process */
	TAPIO_ANCESTOR_COMM_LEN = 16,
};

struct tapio_ancestor {
	__u32 pid;
	__u32 _pad;
	char comm[TAPIO_ANCESTOR_COMM_LEN];
};

enum tapio_exe_flags {
	TAPIO_EXE_DEEPER = 1,	/* more directories than TAPIO_EXE_PARTS: the first ones are missing */
	TAPIO_EXE_NAME_CUT = 2, /* a component was longer than TAPIO_EXE_PART_LEN - 1 */
};

/* Fills parts[0..n) with the names from the executable up to the root; returns n, sets *flags. */
static __always_inline __u8 tapio_exe_parts(struct task_struct *t, char parts[TAPIO_EXE_PARTS][TAPIO_EXE_PART_LEN],
					    __u8 *flags)
{
	*flags = 0;
	struct file *f = BPF_CORE_READ(t, mm, exe_file);
	if (!f)
		return 0;
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *mnt = BPF_CORE_READ(f, f_path.mnt);
	struct dentry *root = BPF_CORE_READ(t, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(t, fs, root.mnt);
	__u8 n = 0;
#pragma unroll
	for (int i = 0; i < TAPIO_EXE_PARTS + 4; i++) { /* + mount crossings */
		if (!d ||
		    (d == root && (mnt == root_mnt || BPF_CORE_READ(mnt, mnt_sb) == BPF_CORE_READ(root_mnt, mnt_sb))))
			return n; /* the root, also through another copy of its mount (after unshare -m) */
		if (d == BPF_CORE_READ(mnt, mnt_root)) {
			struct mount *m = (void *)mnt - bpf_core_field_offset(struct mount, mnt);
			struct mount *pm = BPF_CORE_READ(m, mnt_parent);
			if (pm == m || !pm)
				return n;
			d = BPF_CORE_READ(m, mnt_mountpoint);
			mnt = (void *)pm + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		if (n >= TAPIO_EXE_PARTS) {
			*flags |= TAPIO_EXE_DEEPER;
			return n;
		}
		bpf_probe_read_kernel_str(parts[n], TAPIO_EXE_PART_LEN, BPF_CORE_READ(d, d_name.name));
		if (BPF_CORE_READ(d, d_name.len) >= TAPIO_EXE_PART_LEN)
			*flags |= TAPIO_EXE_NAME_CUT;
		n++;
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (parent == d) /* a pseudo file (memfd): its name is all there is */
			return n;
		d = parent;
	}
	*flags |= TAPIO_EXE_DEEPER;
	return n;
}

/* The pid namespace a task lives in (not the one its children get). */
static __always_inline void *tapio_active_pid_ns(struct task_struct *t)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[level & 31]);
	return up.ns;
}

/* Parents of t while they share its pid namespace (so up to a container's first process); returns how many. */
static __always_inline __u8 tapio_ancestors(struct task_struct *t, struct tapio_ancestor out[TAPIO_ANCESTORS])
{
	void *own = tapio_active_pid_ns(t);
	struct task_struct *p = BPF_CORE_READ(t, real_parent);
	__u8 n = 0;
#pragma unroll
	for (int i = 0; i < TAPIO_ANCESTORS; i++) {
		__u32 tgid = BPF_CORE_READ(p, tgid);
		if (!p || tgid == 0 || tapio_active_pid_ns(p) != own)
			break;
		out[i].pid = tgid;
		out[i]._pad = 0;
		BPF_CORE_READ_STR_INTO(&out[i].comm, p, comm);
		n = i + 1;
		struct task_struct *next = BPF_CORE_READ(p, real_parent);
		if (next == p)
			break;
		p = next;
	}
	return n;
}

#endif
