/* Unit test of the loss an INBOUND connection reports as it closes with
 * output still queued (sig_conn.c sig_conn_close -> the send-failed hook),
 * with a real in-process server (one worker, UDP and TCP listeners).
 * A peer connects over TCP and never reads; each of its requests makes
 * the server send it 256 KB until the queue passes SIG_OUTBUF_MAX and the
 * server closes the connection with output queued. The loss must name the
 * connection only (its id, no address): the peer's address is a carrier's
 * listening ip:port when it connects from there, and a loss by address
 * would also fail the requests sent by address on our own, healthy,
 * outbound connection to that ip:port (b2b_engine.c ctx_lost_match), as
 * inbound_closed's comment says. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_transport.h"
#include "../../../sbc-signal/src/sig_worker.h"
#include "sig_testutil.h"

#define FILL_CHUNK (256u * 1024u)

static sig_server g_srv;
static uint16_t g_udp_port, g_tcp_port;
static _Atomic uint64_t g_conn;     /* the peer's connection (first X-Fill) */
static _Atomic int g_lost_calls;    /* losses reported for it */
static _Atomic int g_lost_family = -1, g_lost_port = -1, g_lost_tp = -1;
static _Atomic int g_fills, g_send_errors;
static char g_chunk[FILL_CHUNK];

static void lost_hook(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
		      uint64_t at_ns, const sig_icmp_quote *icmp)
{
	(void)w, (void)err, (void)at_ns, (void)icmp;
	if (!conn || conn != g_conn)
		return;
	g_lost_family = dst->sa.sa_family;
	g_lost_port = dst->sa.sa_family == AF_INET ? ntohs(dst->in4.sin_port) : 0;
	g_lost_tp = (int)tp;
	g_lost_calls++;
}

/* X-Fill (TCP): 256 KB more toward the peer on its own connection. */
static void handler(const sig_rx *rx, void *arg)
{
	char v[16];
	(void)arg;
	if (!stu_header_value(rx, "X-Fill", v, sizeof(v)))
		return;
	g_conn = rx->conn;
	g_fills++;
	if (sig_send_conn(rx->worker, rx->conn, g_chunk, sizeof(g_chunk)) < 0)
		g_send_errors++; /* the queue's limit: closed with output queued */
}

static unsigned tcp_open_conns(void)
{
	return (unsigned)g_srv.stats[0]->v[SIG_TP_TCP][SIG_ST_conns_open];
}

static void test_inbound_close_with_output_queued_reports_by_id(void **st)
{
	(void)st;
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-fill\r\n"
			 "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: inbound-lost\r\n"
			 "CSeq: 1 OPTIONS\r\nX-Fill: 1\r\nContent-Length: 0\r\n\r\n");
	/* a small receive window, never read: the server's output piles up */
	int t = socket(AF_INET, SOCK_STREAM, 0);
	int rcv = 4096;
	assert_int_equal(setsockopt(t, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_tcp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(t, (struct sockaddr *)&a, sizeof(a)), 0);
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	assert_int_equal(getsockname(t, (struct sockaddr *)&me, &ml), 0);
	/* each request 256 KB more; the kernel's buffers are bounded, so the
	 * server's queue passes its 1 MB limit within a few dozen requests */
	for (int i = 0; i < 200 && g_lost_calls == 0 && g_send_errors == 0; i++) {
		if (send(t, req, (size_t)n, MSG_NOSIGNAL) != n)
			break; /* closed by the server */
		usleep(10000);
	}
	for (int i = 0; i < 300 && (g_lost_calls == 0 || tcp_open_conns() > 0); i++)
		usleep(10000);
	close(t);
	assert_true(g_fills > 0);
	assert_int_equal(g_send_errors, 1);
	assert_int_equal(tcp_open_conns(), 0);
	assert_int_equal(g_lost_calls, 1);
	assert_int_equal(g_lost_tp, SIG_TP_TCP);
	/* by id only: no address (before, the peer's own ip:port) */
	assert_int_not_equal(g_lost_port, ntohs(me.sin_port));
	assert_int_equal(g_lost_family, AF_UNSPEC);
}

static int setup(void **st)
{
	(void)st;
	memset(g_chunk, 'x', sizeof(g_chunk));
	sig_set_send_failed_hook(lost_hook);
	return stu_start_plain(&g_srv, 1, handler, &g_udp_port, &g_tcp_port);
}

static int teardown(void **st)
{
	(void)st;
	return stu_stop_server(&g_srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inbound_close_with_output_queued_reports_by_id),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
