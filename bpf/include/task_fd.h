/* The open file behind a task's file descriptor: one fdtable walk for every program that starts from an fd (accept's
 * fallback, request capture's syscall-exit fallback, the security collector's path resolution). */
#ifndef TAPIO_TASK_FD_H
#define TAPIO_TASK_FD_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* The file behind fd `fd` of task t, or NULL (negative, past the table, or not open). `&fds[fd]` is read with
 * bpf_probe_read_kernel: the verifier cannot bound a pointer taken from the table. */
static __always_inline struct file *tapio_fd_file(struct task_struct *t, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max_fds)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

#endif
