/* The syscall tax, measured from the workload's side: ns per getppid, stat and open+close, each the minimum over
 * several rounds of a tight loop, in thread CPU time (the minimum is the least disturbed by other load). Used by
 * bench/agent-end-to-end.ts, which compiles it and runs it with no tracer, with Tapio, and with bpftrace.
 * Prints one line: getppid_ns stat_ns openclose_ns */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: time lost to other tasks on this shared box does not count */
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 200000;
	int rounds = argc > 2 ? atoi(argv[2]) : 9;
	double best[3] = {1e18, 1e18, 1e18};
	struct stat st;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (int i = 0; i < iters; i++)
			syscall(SYS_getppid); /* not glibc's getppid(): never cached */
		double t1 = now_ns();
		for (int i = 0; i < iters; i++)
			stat("/etc/hostname", &st);
		double t2 = now_ns();
		for (int i = 0; i < iters / 4; i++)
			close(open("/etc/hostname", O_RDONLY));
		double t3 = now_ns();
		double v[3] = {(t1 - t0) / iters, (t2 - t1) / iters, (t3 - t2) / (iters / 4)};
		for (int k = 0; k < 3; k++)
			if (v[k] < best[k])
				best[k] = v[k];
	}
	printf("%.1f %.1f %.1f\n", best[0], best[1], best[2]);
	return 0;
}
