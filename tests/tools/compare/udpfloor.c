/* udpfloor — the kernel floor as a process of its own, for the side-by-side
 * relay benchmark (tests/bench/sbc-media/bench_rtpengine.py): N UDP sockets
 * on 127.0.0.1 and rtpgen_floor_loop() over them (epoll, one recvmmsg and
 * one sendmmsg per ready socket, nothing else), so that rtpload can measure
 * it with --pid like any relay and the kernel's cost per relayed packet is
 * printed beside sbc-media's and rtpengine's. bench_relay runs the same
 * loop in a thread.
 *
 * udpfloor --ports N [--cpu C]
 *   prints "ports=P1,P2,..." (the N bound ports), then reads stdin:
 *   to PORT    starts relaying everything to 127.0.0.1:PORT (once)
 *   quit       (or end of input) stops
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtpgen.h"

static int fds[RTPGEN_MAXN];
static unsigned nfds;
static struct sockaddr_in to;
static _Atomic int run = 1;
static int cpu = -1;

static void *loop_main(void *arg)
{
	(void)arg;
	rtpgen_pin(cpu);
	rtpgen_floor_loop(fds, nfds, &to, &run);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ports", required_argument, NULL, 'n'},
		{"cpu", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	int o;
	long n = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'c': cpu = atoi(optarg); break;
		default: n = -1;
		}
	}
	if (n <= 0 || n > RTPGEN_MAXN) {
		fprintf(stderr, "usage: udpfloor --ports N (1..%d) [--cpu C]\n", RTPGEN_MAXN);
		return 2;
	}
	fputs("ports=", stdout);
	for (nfds = 0; nfds < (unsigned)n; nfds++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		socklen_t al = sizeof(a);
		int rcv = 65536; /* sbc-media's default media.rcvbuf */
		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		fds[nfds] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[nfds] < 0 || bind(fds[nfds], (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fds[nfds], (struct sockaddr *)&a, &al) != 0) {
			perror("udpfloor: socket");
			return 1;
		}
		setsockopt(fds[nfds], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		printf("%s%u", nfds ? "," : "", ntohs(a.sin_port));
	}
	printf("\n");
	fflush(stdout);

	char line[128];
	pthread_t t;
	int started = 0;
	while (fgets(line, sizeof(line), stdin)) {
		unsigned port;
		if (sscanf(line, "to %u", &port) == 1 && port > 0 && port < 65536 && !started) {
			to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
			inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
			if (pthread_create(&t, NULL, loop_main, NULL) != 0) {
				perror("udpfloor: thread");
				return 1;
			}
			started = 1;
			printf("ok\n");
		} else if (strncmp(line, "quit", 4) == 0) {
			break;
		} else {
			printf("error=unknown_command\n");
		}
		fflush(stdout);
	}
	atomic_store(&run, 0);
	if (started)
		pthread_join(t, NULL);
	return 0;
}
