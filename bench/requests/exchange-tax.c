/* The kernel tax of an HTTP/1-shaped exchange over TCP loopback, from the workload's side: a client write, the
 * server's read and write, the client's read (what one keep-alive request costs both ends: four socket syscalls), in
 * thread CPU time, the minimum over rounds (the least disturbed by other load). Used by bench/requests-kernel-tax.ts.
 * Pinned to CPU 0, after one throwaway exchange on another connection: 1-in-N sampling keeps the first connection
 * seen on a CPU, and the measured one must be the one the setup says.
 * Usage: exchange-tax [iterations] [rounds]. Prints: ns per exchange */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REQUEST[] = "GET /items/42 HTTP/1.1\r\nHost: x\r\n\r\n";
static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A connected pair over the listener: *client and *server. */
static int connect_pair(int listener, struct sockaddr_in *addr, int *client, int *server)
{
	int one = 1;
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*client, (struct sockaddr *)addr, sizeof(*addr)) != 0)
		return -1;
	*server = accept(listener, NULL, NULL);
	if (*server < 0)
		return -1;
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static int exchange(int client, int server)
{
	char buf[256];
	if (write(client, REQUEST, sizeof(REQUEST) - 1) < 0 || read(server, buf, sizeof(buf)) <= 0)
		return -1;
	if (write(server, RESPONSE, sizeof(RESPONSE) - 1) < 0 || read(client, buf, sizeof(buf)) <= 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 100000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);

	int one = 1;
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 4) != 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
		perror("listen");
		return 1;
	}
	int client, server;
	if (connect_pair(listener, &addr, &client, &server) != 0 || exchange(client, server) != 0) {
		perror("throwaway exchange");
		return 1;
	}
	close(client);
	close(server);
	if (connect_pair(listener, &addr, &client, &server) != 0) {
		perror("connect");
		return 1;
	}
	double best = 1e18;
	for (int r = 0; r < rounds; r++) {
		double t0 = now_ns();
		for (int i = 0; i < iters; i++) {
			if (exchange(client, server) != 0) {
				perror("exchange");
				return 1;
			}
		}
		double v = (now_ns() - t0) / iters;
		if (v < best)
			best = v;
	}
	printf("%.1f\n", best);
	return 0;
}
