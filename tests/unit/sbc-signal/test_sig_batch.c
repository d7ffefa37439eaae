/* Unit test of output batched per loop iteration (sig_batch.h), with a real
 * in-process server (one worker; UDP, TCP and TLS listeners):
 *  1. UDP: 150 replies sent from one handler call (more than the 64
 *     datagrams one flush takes) all arrive, in order, and msgs_out counts
 *     them.
 *  2. TCP and TLS: 150 replies from one handler call arrive in order on the
 *     connection (one batch, one write).
 *  3. TCP and TLS: replies queued and the connection closed in the same
 *     handler call: the replies still arrive before the close.
 *  4. UDP: 100 requests sent before reading (several recvmmsg batches of
 *     16, and the early stop of libuv's read loop when one returns fewer)
 *     all get their reply; then a lone request after a pause still does.
 *  5. UDP to an unroutable destination: the queued datagram fails at the
 *     flush, is counted as a send error, and the next one still goes out;
 *     five such in one iteration reach the send-failed hook as one loss
 *     (one scan of the transactions per peer and iteration).
 *  6. A flood of ICMP quotes in one iteration leaves room for a real loss.
 * Exit 77 when the openssl CLI (for the test certificate) is missing. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_batch.h"
#include "../../../sbc-signal/src/sig_worker.h"
#include "sig_testutil.h"

#define BURST 150

static sig_server g_srv;
static uint16_t g_udp_port, g_tcp_port, g_tls_port;
static char g_dir[] = "/tmp/sigbatchXXXXXX";
static _Atomic int g_handler_err; /* the handler runs on the worker: no cmocka asserts there */
static _Atomic int g_lost_calls, g_lost_icmp; /* the send-failed hook's calls */

static void lost_hook(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
		      uint64_t at_ns, const sig_icmp_quote *icmp)
{
	(void)w, (void)tp, (void)dst, (void)conn, (void)err, (void)at_ns;
	g_lost_calls++;
	if (icmp)
		g_lost_icmp++;
}

/* X-Burst: n [close] -> n numbered replies ("SIP/2.0 200 OK" with X-Seq),
 * then (stream) the connection closed. X-Unroutable: a datagram to a
 * destination the kernel refuses, then one reply. */
static void handler(const sig_rx *rx, void *arg)
{
	char v[64], out[256];
	(void)arg;
	if (stu_header_value(rx, "X-Icmp-Flood", v, sizeof(v))) {
		/* as if another worker handed on that many distinct ICMP quotes */
		sig_xmsg_icmp m = {.err = -ECONNREFUSED};
		sbc_addr_parse("127.0.0.1:9", -1, &m.dst);
		strcpy(m.q.method, "INVITE");
		for (int i = atoi(v); i > 0; i--) {
			snprintf(m.q.branch, sizeof(m.q.branch), "z9hG4bKflood%d", i);
			sig_batch_icmp(rx->worker, &m);
		}
		/* then a connection lost in the same iteration */
		sig_batch_lost(rx->worker, SIG_TP_TCP, &m.dst, 1, -ECONNRESET);
		int n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: flood\r\nContent-Length: 0\r\n\r\n");
		sig_reply(rx, out, (size_t)n);
		return;
	}
	if (stu_header_value(rx, "X-Unroutable", v, sizeof(v))) {
		sbc_addr bad;
		sbc_addr_parse("0.0.0.0:0", -1, &bad); /* port 0: EINVAL from sendmmsg */
		for (int i = atoi(v); i > 0; i--)
			sig_send_addr(rx->worker, SIG_TP_UDP, &bad, NULL, NULL, "x", 1);
		int n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: after\r\nContent-Length: 0\r\n\r\n");
		sig_reply(rx, out, (size_t)n);
		return;
	}
	if (!stu_header_value(rx, "X-Burst", v, sizeof(v)))
		return;
	int count = atoi(v);
	for (int i = 0; i < count; i++) {
		int n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: %d\r\nContent-Length: 0\r\n\r\n", i);
		if (sig_reply(rx, out, (size_t)n) != 0)
			g_handler_err++;
	}
	if (strstr(v, "close") && sig_close_conn(rx->worker, rx->conn) != 0)
		g_handler_err++;
}

static const char *req(const char *burst, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-b\r\n"
		 "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: batch\r\n"
		 "CSeq: 1 OPTIONS\r\n%s\r\nContent-Length: 0\r\n\r\n",
		 burst);
	return buf;
}

/* Checks that buf holds replies X-Seq 0..n-1 in order; returns how many. */
static int count_in_order(const char *buf, size_t len)
{
	int next = 0;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *s = memmem(p, (size_t)(end - p), "X-Seq: ", 7);
		if (!s)
			break;
		if (atoi(s + 7) != next)
			return -1;
		next++;
		p = s + 7;
	}
	return next;
}

static int stats_sum(unsigned tp, unsigned st)
{
	return (int)g_srv.stats[0]->v[tp][st];
}

static void test_udp_burst(void **st)
{
	(void)st;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int rcv = 1 << 20;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_udp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int before = stats_sum(SIG_TP_UDP, SIG_ST_msgs_out);
	char buf[1024], tag[32];
	snprintf(tag, sizeof(tag), "X-Burst: %d", BURST);
	req(tag, buf, sizeof(buf));
	assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
	int got = 0;
	for (;;) {
		struct pollfd pf = {.fd = s, .events = POLLIN};
		if (poll(&pf, 1, 3000) <= 0)
			break;
		ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
		assert_true(n > 0);
		char *q = memmem(buf, (size_t)n, "X-Seq: ", 7);
		assert_non_null(q);
		assert_int_equal(atoi(q + 7), got); /* in order, none lost */
		if (++got == BURST)
			break;
	}
	assert_int_equal(got, BURST);
	/* the worker counts a batch after sendmmsg returns: the datagrams may
	 * be here first */
	for (int i = 0; i < 200 && stats_sum(SIG_TP_UDP, SIG_ST_msgs_out) - before < BURST; i++)
		usleep(10000);
	assert_int_equal(stats_sum(SIG_TP_UDP, SIG_ST_msgs_out) - before, BURST);
	close(s);
}

static void test_udp_many_requests(void **st)
{
	(void)st;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int rcv = 1 << 20;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_udp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[1024];
	req("X-Burst: 1", buf, sizeof(buf));
	for (int round = 0; round < 2; round++) {
		int want = round == 0 ? 100 : 1, got = 0;
		for (int i = 0; i < want; i++)
			assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
		char in[512];
		for (;;) {
			struct pollfd pf = {.fd = s, .events = POLLIN};
			if (poll(&pf, 1, 3000) <= 0)
				break;
			ssize_t n = recv(s, in, sizeof(in), 0);
			assert_true(n > 0);
			assert_non_null(memmem(in, (size_t)n, "X-Seq: 0", 8));
			if (++got == want)
				break;
		}
		assert_int_equal(got, want);
		usleep(50000); /* the worker goes back to sleep in between */
	}
	close(s);
}

static void test_udp_send_error_counted(void **st)
{
	(void)st;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_udp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int errs = stats_sum(SIG_TP_UDP, SIG_ST_send_errors);
	int lost0 = g_lost_calls;
	char buf[1024];
	req("X-Unroutable: 5", buf, sizeof(buf));
	assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
	struct pollfd pf = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 3000), 1);
	ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	assert_non_null(memmem(buf, (size_t)n, "X-Seq: after", 12));
	for (int i = 0; i < 200 && (stats_sum(SIG_TP_UDP, SIG_ST_send_errors) - errs < 5 || g_lost_calls == lost0); i++)
		usleep(10000);
	assert_int_equal(stats_sum(SIG_TP_UDP, SIG_ST_send_errors) - errs, 5);
	usleep(50000); /* a second hook call would have come by now */
	assert_int_equal(g_lost_calls - lost0, 1);
	assert_int_equal(g_lost_icmp, 0);
	close(s);
}

/* A flood of distinct ICMP quotes in one iteration takes at most half of
 * the iteration's loss entries: a real loss noted after it still reaches
 * the send-failed hook. */
static void test_icmp_flood_leaves_room_for_real_losses(void **st)
{
	(void)st;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_udp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lost0 = g_lost_calls, icmp0 = g_lost_icmp;
	char buf[1024];
	req("X-Icmp-Flood: 200", buf, sizeof(buf));
	assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
	struct pollfd pf = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 3000), 1);
	for (int i = 0; i < 200 && (g_lost_calls - lost0) - (g_lost_icmp - icmp0) < 1; i++)
		usleep(10000);
	usleep(50000); /* the rest of the hook's calls would have come by now */
	assert_int_equal((g_lost_calls - lost0) - (g_lost_icmp - icmp0), 1); /* the real one */
	assert_true(g_lost_icmp - icmp0 > 0);
	assert_true(g_lost_icmp - icmp0 < 200);
	close(s);
}

/* Reads the stream until EOF or timeout (ms); TLS when ssl. */
static size_t read_stream(int fd, SSL *ssl, char *buf, size_t cap, int want_eof, int *eof)
{
	size_t len = 0;
	*eof = 0;
	while (len < cap) {
		if (!ssl || !SSL_pending(ssl)) {
			struct pollfd pf = {.fd = fd, .events = POLLIN};
			if (poll(&pf, 1, 3000) <= 0)
				break;
		}
		int n = ssl ? SSL_read(ssl, buf + len, (int)(cap - len)) : (int)recv(fd, buf + len, cap - len, 0);
		if (n <= 0) {
			*eof = 1;
			break;
		}
		len += (size_t)n;
		if (!want_eof && count_in_order(buf, len) == BURST)
			break;
	}
	return len;
}

static void stream_burst(int tls, int close_after)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(tls ? g_tls_port : g_tcp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	if (tls) {
		ctx = SSL_CTX_new(TLS_method());
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, s);
		assert_int_equal(SSL_connect(ssl), 1); /* no verification: not what is tested */
	}
	char buf[1024], tag[32];
	snprintf(tag, sizeof(tag), "X-Burst: %d%s", BURST, close_after ? " close" : "");
	req(tag, buf, sizeof(buf));
	if (tls)
		assert_int_equal(SSL_write(ssl, buf, (int)strlen(buf)), (int)strlen(buf));
	else
		assert_int_equal(send(s, buf, strlen(buf), 0), (ssize_t)strlen(buf));
	static char in[BURST * 128];
	int eof;
	size_t len = read_stream(s, ssl, in, sizeof(in), close_after, &eof);
	assert_int_equal(count_in_order(in, len), BURST);
	if (close_after)
		assert_true(eof); /* and the close came after them */
	if (tls) {
		SSL_free(ssl);
		SSL_CTX_free(ctx);
	}
	close(s);
	assert_int_equal(g_handler_err, 0);
}

static void test_tcp_burst(void **st)
{
	(void)st;
	stream_burst(0, 0);
}

static void test_tls_burst(void **st)
{
	(void)st;
	stream_burst(1, 0);
}

static void test_tcp_burst_then_close(void **st)
{
	(void)st;
	stream_burst(0, 1);
}

static void test_tls_burst_then_close(void **st)
{
	(void)st;
	stream_burst(1, 1);
}

static int setup(void **st)
{
	(void)st;
	if (stu_make_cert(g_dir) != 0)
		return -1;
	sbc_log_init("test", SBC_LOG_ERROR, false);
	sig_config cfg;
	sig_config_defaults(&cfg);
	cfg.workers = 1;
	g_udp_port = stu_free_port(SOCK_DGRAM);
	g_tcp_port = stu_free_port(SOCK_STREAM);
	g_tls_port = stu_free_port(SOCK_STREAM);
	stu_listen(&cfg, SIG_TP_UDP, g_udp_port);
	stu_listen(&cfg, SIG_TP_TCP, g_tcp_port);
	stu_listen(&cfg, SIG_TP_TLS, g_tls_port);
	stu_default_profile(&cfg, g_dir, 0);
	sig_set_send_failed_hook(lost_hook);
	return stu_start_server(&g_srv, &cfg, handler);
}

static int teardown(void **st)
{
	(void)st;
	sig_server_stop(&g_srv);
	return stu_destroy_server(&g_srv, g_dir);
}

int main(void)
{
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		printf("skip: openssl CLI not installed (test certificate)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_burst),
		cmocka_unit_test(test_udp_many_requests),
		cmocka_unit_test(test_udp_send_error_counted),
		cmocka_unit_test(test_icmp_flood_leaves_room_for_real_losses),
		cmocka_unit_test(test_tcp_burst),
		cmocka_unit_test(test_tls_burst),
		cmocka_unit_test(test_tcp_burst_then_close),
		cmocka_unit_test(test_tls_burst_then_close),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
