/* Unit test of the closed hook's carried_requests (sig_worker.c,
 * sig_conn.carries_req), which the B2BUA's inbound_closed uses to report a
 * trunk's connection as lost to every worker (its B-leg requests on it fail
 * over at once) without a pass over the transactions for a connection that
 * never carried one (a reconnect storm is not amplified). A real in-process
 * server, two workers, UDP and TCP listeners:
 *  1. A peer's TCP connection that only brought a request in and took its
 *     response out closes: the hook says it carried none.
 *  2. A request of ours is sent on a peer's connection by its own worker
 *     (sig_send_conn, locally), and 3. by the other worker (across the
 *     ring, SIG_XMSG_SEND): the peer reads it, closes, and the hook says it
 *     carried one, whichever worker sent it. */
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
#include "../../../sbc-signal/src/sig_worker.h"
#include "sig_testutil.h"

static sig_server g_srv;
static uint16_t g_udp_port, g_tcp_port;
static _Atomic uint64_t g_conn;        /* the TCP connection noted (X-Note) */
static _Atomic int g_conn_worker = -1; /* its worker */
static _Atomic int g_closes;           /* closed hook calls */
static _Atomic uint64_t g_closed_conn;
static _Atomic int g_closed_carried = -1;
static _Atomic int g_closed_tp = -1;

static void closed_hook(sig_worker *w, sig_conn_id id, enum sig_tp tp, int carried_requests)
{
	(void)w;
	g_closed_conn = id;
	g_closed_carried = carried_requests;
	g_closed_tp = (int)tp;
	g_closes++;
}

/* X-Note (TCP): remember this connection, answer 200. X-Send (UDP, value
 * "same" or "other"): when this worker is (same) or is not (other) the
 * noted connection's, send a request of ours on it and answer "sent <r>",
 * else answer "miss" (the caller tries another source port). */
static void handler(const sig_rx *rx, void *arg)
{
	char v[64], out[160];
	int n;
	(void)arg;
	if (stu_header_value(rx, "X-Note", v, sizeof(v))) {
		g_conn = rx->conn;
		g_conn_worker = (int)rx->worker_idx;
		n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: noted\r\nContent-Length: 0\r\n\r\n");
	} else if (stu_header_value(rx, "X-Send", v, sizeof(v))) {
		int same = (int)rx->worker_idx == g_conn_worker;
		if (same != (strcmp(v, "same") == 0)) {
			n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: miss\r\nContent-Length: 0\r\n\r\n");
		} else {
			static const char ours[] = "BYE sip:x SIP/2.0\r\n\r\n";
			int r = sig_send_conn(rx->worker, g_conn, ours, sizeof(ours) - 1);
			n = snprintf(out, sizeof(out), "SIP/2.0 200 OK\r\nX-Seq: sent %d\r\nContent-Length: 0\r\n\r\n", r);
		}
	} else {
		return;
	}
	sig_reply(rx, out, (size_t)n);
}

static const char *req(const char *extra, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK-c\r\n"
		 "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: closed\r\n"
		 "CSeq: 1 OPTIONS\r\n%s\r\nContent-Length: 0\r\n\r\n",
		 extra);
	return buf;
}

/* Reads until `want` is in buf (a stream may split it); 0 when found. */
static int recv_until(int s, char *buf, size_t cap, const char *want)
{
	size_t got = 0;
	buf[0] = 0;
	while (!strstr(buf, want)) {
		struct pollfd pf = {.fd = s, .events = POLLIN};
		if (got + 1 >= cap || poll(&pf, 1, 3000) != 1)
			return -1;
		ssize_t n = recv(s, buf + got, cap - 1 - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = 0;
	}
	return 0;
}

/* A peer's TCP connection, noted by the handler; returns its socket. */
static int peer_connects(void)
{
	char buf[1024];
	int t = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_tcp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(connect(t, (struct sockaddr *)&a, sizeof(a)), 0);
	req("X-Note: 1", buf, sizeof(buf));
	assert_int_equal(send(t, buf, strlen(buf), 0), (ssize_t)strlen(buf));
	assert_int_equal(recv_until(t, buf, sizeof(buf), "X-Seq: noted"), 0);
	return t;
}

/* Closes the peer's socket; returns what the hook said of it. */
static int close_and_hook(int t)
{
	uint64_t conn = g_conn;
	int before = g_closes;
	close(t);
	for (int i = 0; i < 300 && g_closes == before; i++)
		usleep(10000);
	assert_int_equal(g_closes, before + 1);
	assert_true(g_closed_conn == conn);
	assert_int_equal(g_closed_tp, SIG_TP_TCP);
	return g_closed_carried;
}

static void test_no_request_sent_none_carried(void **st)
{
	(void)st;
	assert_int_equal(close_and_hook(peer_connects()), 0);
}

/* A request of ours on the noted connection, sent by its own worker
 * (where "same") or by the other one (where "other"): UDP sources until
 * SO_REUSEPORT hashes one onto the wanted worker; the peer reads it. */
static void request_on_it(int t, const char *where)
{
	char buf[1024], hdr[32];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_udp_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int sent = 0;
	snprintf(hdr, sizeof(hdr), "X-Send: %s", where);
	for (int tries = 0; tries < 64 && !sent; tries++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		req(hdr, buf, sizeof(buf));
		assert_true(sendto(s, buf, strlen(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
		assert_int_equal(recv_until(s, buf, sizeof(buf), "X-Seq: "), 0);
		const char *p = strstr(buf, "X-Seq: sent ");
		if (p) {
			int r = -1;
			assert_int_equal(sscanf(p, "X-Seq: sent %d", &r), 1);
			assert_int_equal(r, 0);
			sent = 1;
		}
		close(s);
	}
	assert_true(sent);
	assert_int_equal(recv_until(t, buf, sizeof(buf), "BYE sip:x SIP/2.0"), 0);
}

static void test_request_by_its_worker_carried(void **st)
{
	(void)st;
	int t = peer_connects();
	request_on_it(t, "same");
	assert_int_equal(close_and_hook(t), 1);
}

static void test_request_across_the_ring_carried(void **st)
{
	(void)st;
	int t = peer_connects();
	request_on_it(t, "other");
	assert_int_equal(close_and_hook(t), 1);
}

static int setup(void **st)
{
	(void)st;
	sig_set_conn_closed_hook(closed_hook);
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
		cmocka_unit_test(test_no_request_sent_none_carried),
		cmocka_unit_test(test_request_by_its_worker_carried),
		cmocka_unit_test(test_request_across_the_ring_carried),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
