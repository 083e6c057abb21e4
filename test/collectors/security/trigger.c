/* Security test triggers: one small static program that performs one suspicious action per sub-command, so tests
 * can run the same trigger on the host and inside containers (busybox images have no compiler). Exit code 0 means
 * the action was attempted (the kernel may still have refused it: that is an attempt too). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int ptrace_child(void)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	int rc = ptrace(PTRACE_ATTACH, child, 0, 0);
	printf("ptrace attach %d: %d %s\n", child, rc, rc ? strerror(errno) : "");
	if (rc == 0) {
		waitpid(child, NULL, 0);
		ptrace(PTRACE_DETACH, child, 0, 0);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}

/* memfd_create + a copy of `src` + fexecve: a program that never had a name on disk. */
static int memfd_exec(const char *src)
{
	int in = open(src, O_RDONLY);
	int fd = memfd_create("tapio-fileless", 0);
	if (in < 0 || fd < 0)
		return 2;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, n) != n)
			return 2;
	char *argv[] = { "true", NULL }, *envp[] = { NULL };
	fexecve(fd, argv, envp);
	return 3;
}

/* A shell with a socket on stdin and stdout, as a reverse shell has. */
static int socket_shell(const char *sh)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 2;
	dup2(sv[0], 0);
	dup2(sv[0], 1);
	execl(sh, "sh", "-c", "exit 0", (char *)NULL);
	return 3;
}

static int connect_unix(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	int rc = connect(s, (struct sockaddr *)&a, sizeof(a));
	printf("connect %s: %d %s\n", path, rc, rc ? strerror(errno) : "");
	return 0;
}

/* BPF_PROG_LOAD of a two-instruction socket filter (r0 = 0; exit). */
static int bpf_load(void)
{
	struct bpf_insn insns[] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 }, { .code = BPF_JMP | BPF_EXIT } };
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)insns;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	printf("bpf prog load: %ld %s\n", fd, fd < 0 ? strerror(errno) : "");
	return 0;
}

/* setuid(0) from a process whose effective uid is 0 but real uid is not (run as a set-uid binary). */
static int become_root(void)
{
	int rc = setuid(0);
	printf("setuid(0): %d uid=%d euid=%d\n", rc, getuid(), geteuid());
	return 0;
}

static int open_write(const char *path)
{
	int fd = open(path, O_WRONLY);
	printf("open %s for write: %d %s\n", path, fd, fd < 0 ? strerror(errno) : "");
	if (fd >= 0)
		close(fd); /* nothing written */
	return 0;
}

/* finit_module on a file that is not a module: the kernel reads it (the LSM kernel_read_file hook sees the attempt)
 * and refuses it (ENOEXEC), or says ENOSYS where modules are not built in. Loads nothing either way. */
static int finit_module_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("open %s: %s\n", path, strerror(errno));
		return 1;
	}
	long rc = syscall(SYS_finit_module, fd, "", 0);
	printf("finit_module %s: %ld %s\n", path, rc, rc ? strerror(errno) : "");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : "";
	if (!strcmp(cmd, "ptrace")) return ptrace_child();
	if (!strcmp(cmd, "memfd-exec")) return memfd_exec(arg);
	if (!strcmp(cmd, "socket-shell")) return socket_shell(arg);
	if (!strcmp(cmd, "connect")) return connect_unix(arg);
	if (!strcmp(cmd, "bpf")) return bpf_load();
	if (!strcmp(cmd, "become-root")) return become_root();
	if (!strcmp(cmd, "open-write")) return open_write(arg);
	if (!strcmp(cmd, "finit-module")) return finit_module_file(arg);
	fprintf(stderr, "usage: trigger ptrace|memfd-exec FILE|socket-shell SH|connect PATH|bpf|become-root|open-write PATH|"
			"finit-module FILE\n");
	return 64;
}
