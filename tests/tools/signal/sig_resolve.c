/* sig-resolve — resolves a SIP host the way sbc-signal does (RFC 3263 via
 * sig_dns.c on a libuv loop) and prints the ordered targets, one a line:
 * "<transport> <address:port> <priority> <weight>". For tests and for
 * operators checking their DNS.
 *
 * usage: sig-resolve [--server ip:port] [--tp udp|tcp|tls] [--port N]
 *                    [--secure] [--repeat N] HOST
 * --repeat prints only the first target of each of N resolutions. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sig_dns.h"
#include "../../../sbc-signal/src/sig_transport.h"

static int g_rc = 0, g_left = 1, g_first_only = 0;

static void done(void *arg, int status, const sig_target *t, unsigned n)
{
	(void)arg;
	char a[SBC_ADDR_STRLEN];
	if (status < 0) {
		printf("error %s\n", sbc_strerror(status));
		g_rc = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		printf("%s %s %u %u\n", sig_tp_name(t[i].tp), sbc_addr_format(&t[i].addr, a, sizeof(a)),
		       t[i].priority, t[i].weight);
		if (g_first_only)
			break;
	}
	g_left--;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'}, {"tp", required_argument, NULL, 't'},
		{"port", required_argument, NULL, 'p'},   {"secure", no_argument, NULL, 'S'},
		{"repeat", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
	};
	const char *server = NULL;
	int tp = -1, port = 0, secure = 0, repeat = 1, o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': server = optarg; break;
		case 't': tp = sig_tp_parse(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 'S': secure = 1; break;
		case 'r': repeat = atoi(optarg); g_first_only = 1; break;
		default: return 2;
		}
	}
	if (optind >= argc)
		return 2;
	uv_loop_t loop;
	uv_loop_init(&loop);
	sig_dns *d;
	if (sig_dns_create(&loop, server, &d) < 0) {
		fprintf(stderr, "resolver init failed\n");
		return 2;
	}
	g_left = repeat;
	for (int i = 0; i < repeat; i++) {
		if (sig_dns_resolve(d, argv[optind], (uint16_t)port, tp, secure, done, NULL) < 0) {
			printf("error invalid\n");
			return 1;
		}
		while (g_left > repeat - i - 1)
			uv_run(&loop, UV_RUN_ONCE);
	}
	sig_dns_destroy(d);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return g_rc;
}
