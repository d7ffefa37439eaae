/* Unit test of how sbc-signal reads an unreachable error from a UDP send
 * (sig_udp.c udp_send_lost_err), with a real in-process server (one worker,
 * one UDP listener):
 *  1. With IP_RECVERR, every ICMP error (a forged one too) becomes the
 *     socket's pending error, returned by the next send instead of sending.
 *     A host unreachable flood can renew it between each of our tries:
 *     sendmmsg is interposed here to fail every send toward one port with
 *     EHOSTUNREACH, the worst case of such a flood. The route to that
 *     destination exists: no loss reaches the send-failed hook (no call
 *     fails over, no trunk is marked down), the send error is counted and
 *     the next datagram still goes.
 *  2. In a network namespace of its own with loopback only (root; skipped
 *     otherwise): a datagram to 192.0.2.1, for which the routing table has
 *     no route, is that destination's loss: the hook hears of it at once,
 *     with ENETUNREACH.
 *  3. In that namespace, with the local port range narrowed to two ports
 *     and both taken: the same "pending error" flood toward a live
 *     destination is still no loss. The route probe's connect cannot bind
 *     an ephemeral port and fails with EAGAIN before any route lookup:
 *     that is not the destination's failure either.
 * Each test that expects no hook call then sends a datagram whose send
 * fails with EPERM (a firewall's answer: a loss at once) and waits for
 * that hook call: the hook runs the losses in order, so a wrong one would
 * have come first, however slow the box.
 * The namespace is entered before the worker starts, so both run in it
 * when it can be made. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_worker.h"
#include "sig_testutil.h"

static sig_server g_srv;
static uint16_t g_udp_port;
static int g_netns; /* in a namespace of our own: 192.0.2.1 has no route */
static _Atomic int g_flood_port;      /* sendmmsg toward it fails (EHOSTUNREACH) */
static _Atomic int g_fake_fails;      /* how often it did */
static _Atomic int g_perm_port;       /* sendmmsg toward it fails (EPERM) */
static _Atomic int g_lost_calls, g_lost_err, g_lost_port;

/* Every sendmmsg of the program comes here first (the executable's symbol
 * comes before libc's): toward g_flood_port it fails as if an ICMP's
 * pending error had been renewed before each try. */
int sendmmsg(int fd, struct mmsghdr *mm, unsigned int n, int flags)
{
	static int (*real)(int, struct mmsghdr *, unsigned int, int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sendmmsg");
	int fp = g_flood_port, pp = g_perm_port;
	if ((fp || pp) && n && mm[0].msg_hdr.msg_name) {
		const struct sockaddr_in *a = mm[0].msg_hdr.msg_name;
		if (a->sin_family == AF_INET && fp && ntohs(a->sin_port) == fp) {
			g_fake_fails++;
			errno = EHOSTUNREACH;
			return -1;
		}
		if (a->sin_family == AF_INET && pp && ntohs(a->sin_port) == pp) {
			errno = EPERM;
			return -1;
		}
	}
	return real(fd, mm, n, flags);
}

static void lost_hook(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
		      uint64_t at_ns, const sig_icmp_quote *icmp)
{
	(void)w, (void)tp, (void)conn, (void)at_ns, (void)icmp;
	g_lost_err = err;
	g_lost_port = dst->sa.sa_family == AF_INET ? ntohs(dst->in4.sin_port) : 0;
	g_lost_calls++;
}

/* X-Send-To: ip:port -> a datagram there, then the reply "after". */
static void handler(const sig_rx *rx, void *arg)
{
	char v[64], out[128];
	(void)arg;
	if (!stu_header_value(rx, "X-Send-To", v, sizeof(v)))
		return;
	sbc_addr dst;
	if (sbc_addr_parse(v, -1, &dst) == 0)
		sig_send_addr(rx->worker, SIG_TP_UDP, &dst, NULL, NULL, "x", 1);
	int n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: after\r\nContent-Length: 0\r\n\r\n");
	sig_reply(rx, out, (size_t)n);
}

static int stats_sum(unsigned tp, unsigned st) { return (int)g_srv.stats[0]->v[tp][st]; }

/* Asks the worker to send one datagram to dst and waits for its reply,
 * from s (bound already) or a new socket when s < 0. */
static void send_via_worker_fd(int s0, const char *dst)
{
	int s = s0 >= 0 ? s0 : socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_udp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[512];
	snprintf(buf, sizeof(buf),
		 "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-u\r\n"
		 "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: unreach\r\n"
		 "CSeq: 1 OPTIONS\r\nX-Send-To: %s\r\nContent-Length: 0\r\n\r\n",
		 dst);
	assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
	struct pollfd pf = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 3000), 1);
	ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	assert_non_null(memmem(buf, (size_t)n, "X-Seq: after", 12));
	if (s0 < 0)
		close(s);
}

static void send_via_worker(const char *dst) { send_via_worker_fd(-1, dst); }

/* No loss was reported before now: a datagram whose send fails with EPERM
 * is one, reported after any earlier one (in order); wait for it. */
static void sentinel_loss(int s, int lost0)
{
	g_perm_port = 5099;
	send_via_worker_fd(s, "127.0.0.1:5099");
	for (int i = 0; i < 500 && g_lost_calls == lost0; i++)
		usleep(10000);
	g_perm_port = 0;
	assert_int_equal(g_lost_calls - lost0, 1); /* the sentinel alone */
	assert_int_equal(g_lost_err, -EPERM);
	assert_int_equal(g_lost_port, 5099);
}

static void test_icmp_pending_error_is_no_loss(void **st)
{
	(void)st;
	/* a live destination: a bound socket (the datagram may arrive) */
	int sink = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_int_equal(bind(sink, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(sink, (struct sockaddr *)&a, &al), 0);
	char dst[64];
	snprintf(dst, sizeof(dst), "127.0.0.1:%u", ntohs(a.sin_port));
	int errs = stats_sum(SIG_TP_UDP, SIG_ST_send_errors), lost0 = g_lost_calls, fails0 = g_fake_fails;
	g_flood_port = ntohs(a.sin_port);
	send_via_worker(dst);
	for (int i = 0; i < 200 && stats_sum(SIG_TP_UDP, SIG_ST_send_errors) == errs; i++)
		usleep(10000);
	g_flood_port = 0;
	assert_true(g_fake_fails - fails0 >= 4); /* every try met the "pending error" */
	assert_int_equal(stats_sum(SIG_TP_UDP, SIG_ST_send_errors) - errs, 1);
	sentinel_loss(-1, lost0); /* not the destination's loss */
	/* the flood over, the next datagram goes */
	send_via_worker(dst);
	struct pollfd pf = {.fd = sink, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 3000), 1);
	char x[8];
	assert_int_equal(recv(sink, x, sizeof(x), 0), 1);
	close(sink);
}

static void test_no_route_is_a_loss(void **st)
{
	(void)st;
	if (!g_netns)
		skip(); /* the reason was printed by main */
	int errs = stats_sum(SIG_TP_UDP, SIG_ST_send_errors), lost0 = g_lost_calls;
	send_via_worker("192.0.2.1:5062");
	for (int i = 0; i < 300 && g_lost_calls == lost0; i++)
		usleep(10000);
	assert_int_equal(g_lost_calls - lost0, 1);
	assert_int_equal(g_lost_err, -ENETUNREACH);
	assert_int_equal(g_lost_port, 5062);
	assert_int_equal(stats_sum(SIG_TP_UDP, SIG_ST_send_errors) - errs, 1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void test_port_shortage_is_no_loss(void **st)
{
	(void)st;
	if (!g_netns)
		skip(); /* the reason was printed by main */
	/* bound before the shortage: the live destination and our client */
	int sink = socket(AF_INET, SOCK_DGRAM, 0), cli = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_int_equal(bind(sink, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(sink, (struct sockaddr *)&a, &al), 0);
	struct sockaddr_in c = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(cli, (struct sockaddr *)&c, sizeof(c)), 0);
	char dst[64], range[32], old[64] = "";
	snprintf(dst, sizeof(dst), "127.0.0.1:%u", ntohs(a.sin_port));
	/* the namespace's own range: two ports, both held (any address) */
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	assert_non_null(f);
	assert_non_null(fgets(old, sizeof(old), f));
	fclose(f);
	int hold[2] = {-1, -1};
	for (int base = 40000; base < 41000 && hold[1] < 0; base += 2) {
		for (int k = 0; k < 2; k++) {
			hold[k] = socket(AF_INET, SOCK_DGRAM, 0);
			struct sockaddr_in h = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + k))};
			if (bind(hold[k], (struct sockaddr *)&h, sizeof(h)) != 0) {
				for (int j = 0; j <= k; j++)
					close(hold[j]), hold[j] = -1;
				break;
			}
		}
		if (hold[1] >= 0) {
			snprintf(range, sizeof(range), "%d %d", base, base + 1);
			write_file("/proc/sys/net/ipv4/ip_local_port_range", range);
		}
	}
	assert_true(hold[1] >= 0);
	/* the shortage is real: an unbound socket's connect cannot bind */
	int p = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(connect(p, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EAGAIN);
	close(p);

	int errs = stats_sum(SIG_TP_UDP, SIG_ST_send_errors), lost0 = g_lost_calls, fails0 = g_fake_fails;
	g_flood_port = ntohs(a.sin_port);
	send_via_worker_fd(cli, dst);
	for (int i = 0; i < 200 && stats_sum(SIG_TP_UDP, SIG_ST_send_errors) == errs; i++)
		usleep(10000);
	g_flood_port = 0;
	assert_true(g_fake_fails - fails0 >= 4);
	assert_int_equal(stats_sum(SIG_TP_UDP, SIG_ST_send_errors) - errs, 1);
	sentinel_loss(cli, lost0); /* the EAGAIN was no loss */
	write_file("/proc/sys/net/ipv4/ip_local_port_range", old);
	close(hold[0]), close(hold[1]), close(cli), close(sink);
}

/* A network namespace with loopback up and nothing else (no route out). */
static int enter_netns(void)
{
	if (unshare(CLONE_NEWNET) != 0) {
		printf("skip (no route test): no network namespace of our own (%s; needs root)\n", strerror(errno));
		return 0;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	int ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	if (s >= 0)
		close(s);
	if (!ok) {
		fprintf(stderr, "loopback up in the new namespace: %s\n", strerror(errno));
		exit(1);
	}
	return 1;
}

static int setup(void **st)
{
	(void)st;
	sig_set_send_failed_hook(lost_hook);
	return stu_start_plain(&g_srv, 1, handler, &g_udp_port, NULL);
}

static int teardown(void **st)
{
	(void)st;
	return stu_stop_server(&g_srv);
}

int main(void)
{
	g_netns = enter_netns();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_icmp_pending_error_is_no_loss),
		cmocka_unit_test(test_no_route_is_a_loss),
		cmocka_unit_test(test_port_shortage_is_no_loss),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
