/* Per-syscall cost loop for bench/security-syscall-cost.ts: runs one operation N times and prints ns per operation
 * (best of R rounds, to keep scheduler noise out). Operations: open+close, stat, getppid, connect (a unix socket path
 * that does not exist), exec (fork + exec /bin/true + wait). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void one(const char *op)
{
	if (!strcmp(op, "open")) {
		int fd = open("/etc/hostname", O_RDONLY);
		close(fd);
	} else if (!strcmp(op, "stat")) {
		struct stat st;
		stat("/etc/hostname", &st);
	} else if (!strcmp(op, "getppid")) {
		getppid();
	} else if (!strcmp(op, "connect")) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "/nonexistent/tapio-bench.sock" };
		connect(s, (struct sockaddr *)&a, sizeof(a));
		close(s);
	} else if (!strcmp(op, "exec")) {
		pid_t p = fork();
		if (p == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	const char *op = argv[1];
	long n = atol(argv[2]);
	int rounds = argc > 3 ? atoi(argv[3]) : 5;
	double best = 1e18;
	for (int r = 0; r < rounds; r++) {
		long long t0 = now_ns();
		for (long i = 0; i < n; i++)
			one(op);
		double per = (double)(now_ns() - t0) / n;
		if (per < best)
			best = per;
	}
	printf("%.1f\n", best);
	return 0;
}
