/* Unit test of a send across the workers' ring that finds its connection
 * gone (sig_worker.c SIG_XMSG_SEND, SIG_XMSG_LOST), with a real in-process
 * server (two workers; UDP and TCP listeners):
 *  1. A TCP connection (a trunk's, as reuse_inbound uses it) lands on one
 *     worker and closes. A request arriving on the other worker sends on
 *     it with sig_send_conn: the bytes cross the ring and the call returns
 *     0 (the sender cannot know yet). The connection's worker finds it
 *     gone and tells the sender: the send-failed hook runs on the sending
 *     worker with that connection's id (before, only a send error was
 *     counted over there, and the transaction waited for its timer).
 *     Just before, the same worker sends a response across the ring to a
 *     gone connection (the noted one's id with another generation): no
 *     loss comes back for it (a response is no transaction's request;
 *     only requests bounce). Its bounce would have come first (the rings
 *     are in order), so the request's arrival proves it did not.
 *  2. sig_forward_lost refuses its own worker and one out of range. */
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
#include "../../../sbc-signal/src/sig_batch.h"
#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_worker.h"
#include "sig_testutil.h"

static sig_server g_srv;
static uint16_t g_udp_port, g_tcp_port;
static _Atomic uint64_t g_conn;       /* the TCP connection noted (X-Note) */
static _Atomic int g_conn_worker = -1; /* its worker */
static _Atomic int g_lost_worker = -1, g_lost_err;
static _Atomic uint64_t g_lost_conn;
static _Atomic int g_lost_calls;
static _Atomic uint64_t g_fake_conn;  /* a gone connection a response is sent to */
static _Atomic int g_fake_lost;       /* losses reported for it */

static void lost_hook(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
		      uint64_t at_ns, const sig_icmp_quote *icmp)
{
	(void)tp, (void)dst, (void)at_ns, (void)icmp;
	if (!conn)
		return;
	if (conn == g_fake_conn) {
		g_fake_lost++;
		return;
	}
	g_lost_conn = conn;
	g_lost_err = err;
	g_lost_worker = (int)sig_worker_index(w);
	g_lost_calls++;
}

/* X-Note (TCP): remember this connection. X-Send-Conn (UDP): "same" when
 * this is the connection's worker, else send on it across the ring and
 * answer "sent <worker>". */
static void handler(const sig_rx *rx, void *arg)
{
	char v[64], out[160];
	int n = 0;
	(void)arg;
	if (stu_header_value(rx, "X-Note", v, sizeof(v))) {
		g_conn = rx->conn;
		g_conn_worker = (int)rx->worker_idx;
		n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: noted\r\nContent-Length: 0\r\n\r\n");
	} else if (stu_header_value(rx, "X-Send-Conn", v, sizeof(v))) {
		if ((int)rx->worker_idx == g_conn_worker) {
			n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: same\r\nContent-Length: 0\r\n\r\n");
		} else {
			/* the noted id with another generation: no such connection */
			g_fake_conn = g_conn ^ 0x80000000u;
			int rr = sig_send_conn(rx->worker, g_fake_conn, "SIP/2.0 200 OK\r\n\r\n", 19);
			int r = sig_send_conn(rx->worker, g_conn, "INVITE x\r\n\r\n", 13);
			r = r ? r : rr;
			n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: sent %d %u\r\nContent-Length: 0\r\n\r\n", r,
				     rx->worker_idx);
		}
	} else {
		return;
	}
	sig_reply(rx, out, (size_t)n);
}

static const char *req(const char *extra, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-x\r\n"
		 "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: xlost\r\n"
		 "CSeq: 1 OPTIONS\r\n%s\r\nContent-Length: 0\r\n\r\n",
		 extra);
	return buf;
}

static int recv_reply(int s, char *buf, size_t cap)
{
	struct pollfd pf = {.fd = s, .events = POLLIN};
	if (poll(&pf, 1, 3000) != 1)
		return -1;
	ssize_t n = recv(s, buf, cap - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

static unsigned tcp_open_conns(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g_srv.n_workers; i++)
		n += (unsigned)g_srv.stats[i]->v[SIG_TP_TCP][SIG_ST_conns_open];
	return n;
}

static void test_send_to_gone_connection_reaches_sender(void **st)
{
	(void)st;
	char buf[1024];
	/* the trunk's connection: noted, then closed */
	int t = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_tcp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(t, (struct sockaddr *)&a, sizeof(a)), 0);
	req("X-Note: 1", buf, sizeof(buf));
	assert_int_equal(send(t, buf, strlen(buf), 0), (ssize_t)strlen(buf));
	assert_true(recv_reply(t, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "X-Seq: noted"));
	close(t);
	for (int i = 0; i < 300 && tcp_open_conns() > 0; i++)
		usleep(10000);
	assert_int_equal(tcp_open_conns(), 0);
	/* a request on the other worker sends on it: SO_REUSEPORT picks the
	 * worker by the source port, so new sockets until one lands there */
	int sent = 0, sender = -1;
	for (int tries = 0; tries < 64 && !sent; tries++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		a.sin_port = htons(g_udp_port);
		req("X-Send-Conn: 1", buf, sizeof(buf));
		assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
		assert_true(recv_reply(s, buf, sizeof(buf)) > 0);
		const char *p = strstr(buf, "X-Seq: sent ");
		if (p) {
			int r = -1;
			assert_int_equal(sscanf(p, "X-Seq: sent %d %d", &r, &sender), 2);
			assert_int_equal(r, 0); /* across the ring: 0, the loss comes later */
			sent = 1;
		}
		close(s);
	}
	assert_true(sent);
	assert_int_not_equal(sender, g_conn_worker);
	for (int i = 0; i < 300 && g_lost_calls == 0; i++)
		usleep(10000);
	assert_int_equal(g_lost_calls, 1);
	assert_int_equal(g_lost_worker, sender); /* where the transaction would wait */
	assert_true(g_lost_conn == g_conn);
	assert_int_equal(g_lost_err, SBC_E_CLOSED);
	assert_int_equal(g_fake_lost, 0); /* the response did not bounce */
}

static void test_forward_lost_bounds(void **st)
{
	(void)st;
	sig_worker *w = &g_srv.w[0];
	assert_int_equal(sig_forward_lost(w, 0, SIG_TP_TCP, 1, SBC_E_CLOSED), SBC_E_INVAL);
	assert_int_equal(sig_forward_lost(w, g_srv.n_workers, SIG_TP_TCP, 1, SBC_E_CLOSED), SBC_E_INVAL);
}

static int setup(void **st)
{
	(void)st;
	sig_set_send_failed_hook(lost_hook);
	return stu_start_plain(&g_srv, 2, handler, &g_udp_port, &g_tcp_port);
}

static int teardown(void **st)
{
	(void)st;
	return stu_stop_server(&g_srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_to_gone_connection_reaches_sender),
		cmocka_unit_test(test_forward_lost_bounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
