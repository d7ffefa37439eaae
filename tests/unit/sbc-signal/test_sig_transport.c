/* Unit test of the transport API the B2BUA builds on (sig_transport.h),
 * with a real in-process server: two workers, TCP and TLS listeners.
 *  1. sig_send_conn() to a connection owned by the other worker crosses the
 *     in-process ring and arrives on the right socket.
 *  2. A stale handle (closed connection) is refused with SBC_E_CLOSED.
 *  3. sig_send_addr() opens an outbound TCP and TLS connection (client
 *     role, here to our own listeners), reuses it for the next request, and
 *     the answer comes back on it.
 * Exit 77 when the openssl CLI (for the test certificate) is missing. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "../../../sbc-signal/src/sig_dns.h"
#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_worker.h"
#include "sig_testutil.h"

#define NCLI 16

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sig_conn_id g_conn[NCLI];
static int g_worker[NCLI];
static int g_relay_ret = 1;
static int g_out_ret = 1;
static int g_out_responses[SIG_TP_MAX_];
static sig_server g_srv;
static uint16_t g_tcp_port, g_tls_port;
static char g_dir[] = "/tmp/sigtpXXXXXX";

static char g_peer_subject[256];
static int g_peer_verified = -1;
static char g_peer_profile[64];
static int g_peer_fp_nonzero;
static int g_fo_status = 1;
static _Atomic int g_started_hooks, g_stopped_hooks;

static void start_hook(sig_worker *w, void *arg)
{
	(void)arg;
	/* runs on the worker's own thread, with its loop */
	assert_non_null(sig_worker_loop(w));
	*sig_worker_user(w) = (void *)(uintptr_t)(sig_worker_index(w) + 1);
	atomic_fetch_add(&g_started_hooks, 1);
}

static void stop_hook(sig_worker *w, void *arg)
{
	(void)arg;
	if (*sig_worker_user(w) == (void *)(uintptr_t)(sig_worker_index(w) + 1))
		atomic_fetch_add(&g_stopped_hooks, 1);
}
static uint16_t g_fo_port;
static uint16_t g_dead_port;

static void fo_cb(void *arg, int status, enum sig_tp tp, const sbc_addr *addr, sig_conn_id conn)
{
	(void)arg;
	(void)tp;
	(void)conn;
	pthread_mutex_lock(&g_mu);
	g_fo_status = status;
	g_fo_port = addr ? sbc_addr_port(addr) : 0;
	pthread_mutex_unlock(&g_mu);
}

static void handler(const sig_rx *rx, void *arg)
{
	char v[128];
	(void)arg;
	if (rx->msg[0] == 'S') { /* a response: came back on an outbound connection */
		pthread_mutex_lock(&g_mu);
		if (rx->tp == SIG_TP_TLS && rx->peer) {
			snprintf(g_peer_subject, sizeof(g_peer_subject), "%s", rx->peer->subject);
			g_peer_verified = rx->peer->verified;
			for (int i = 0; i < SIG_FP_LEN; i++)
				g_peer_fp_nonzero |= rx->peer->sha256[i];
			snprintf(g_peer_profile, sizeof(g_peer_profile), "%s", rx->profile ? rx->profile : "");
		}
		g_out_responses[rx->tp]++;
		pthread_mutex_unlock(&g_mu);
		return;
	}
	if (stu_header_value(rx, "X-Close-Self", v, sizeof(v))) {
		/* the far side of an outbound connection goes away */
		sig_close_conn(rx->worker, rx->conn);
		return;
	}
	if (stu_header_value(rx, "X-Client", v, sizeof(v))) {
		int i = atoi(v);
		if (i >= 0 && i < NCLI) {
			pthread_mutex_lock(&g_mu);
			g_conn[i] = rx->conn;
			g_worker[i] = (int)rx->worker_idx;
			pthread_mutex_unlock(&g_mu);
		}
	}
	if (stu_header_value(rx, "X-Relay", v, sizeof(v))) {
		sig_conn_id to = strtoull(v, NULL, 16);
		int r = sig_send_conn(rx->worker, to, rx->msg + rx->hdr_len, rx->body_len);
		pthread_mutex_lock(&g_mu);
		g_relay_ret = r;
		pthread_mutex_unlock(&g_mu);
		return;
	}
	if (stu_header_value(rx, "X-Failover", v, sizeof(v))) {
		/* "tcp|tls dead-first|all-dead|uri" */
		static const char req[] = "OPTIONS sip:self@127.0.0.1 SIP/2.0\r\n"
					  "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-fo\r\n"
					  "From: <sip:t@127.0.0.1>;tag=o\r\nTo: <sip:self@127.0.0.1>\r\n"
					  "Call-ID: fo\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
		int tls = strncmp(v, "tls", 3) == 0;
		sig_target t[3];
		memset(t, 0, sizeof(t));
		char a[64];
		for (int i = 0; i < 3; i++) {
			t[i].tp = tls ? SIG_TP_TLS : SIG_TP_TCP;
			snprintf(a, sizeof(a), "127.0.0.1:%u", i < 2 ? g_dead_port : (tls ? g_tls_port : g_tcp_port));
			sbc_addr_parse(a, -1, &t[i].addr);
		}
		if (strstr(v, "uri")) {
			sig_dest d = {.host = "127.0.0.1", .port = tls ? g_tls_port : g_tcp_port,
				      .tp = tls ? SIG_TP_TLS : SIG_TP_TCP, .server_name = "sbc.example"};
			sig_send_uri(rx->worker, &d, req, sizeof(req) - 1, fo_cb, NULL);
		} else {
			sig_send_targets(rx->worker, t, strstr(v, "all-dead") ? 2 : 3, "default",
					 "sbc.example", req, sizeof(req) - 1, fo_cb, NULL);
		}
		return;
	}
	if (stu_header_value(rx, "X-Out", v, sizeof(v))) {
		static const char req[] = "OPTIONS sip:self@127.0.0.1 SIP/2.0\r\n"
					  "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-out\r\n"
					  "From: <sip:t@127.0.0.1>;tag=o\r\nTo: <sip:self@127.0.0.1>\r\n"
					  "Call-ID: out\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
		static const char kill[] = "OPTIONS sip:self@127.0.0.1 SIP/2.0\r\n"
					   "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-kill\r\n"
					   "From: <sip:t@127.0.0.1>;tag=o\r\nTo: <sip:self@127.0.0.1>\r\n"
					   "Call-ID: kill\r\nCSeq: 1 OPTIONS\r\nX-Close-Self: 1\r\n"
					   "Content-Length: 0\r\n\r\n";
		int tls = strcmp(v, "tls") == 0;
		int killer = strcmp(v, "tcp-kill") == 0;
		sbc_addr dst;
		char a[64];
		snprintf(a, sizeof(a), "127.0.0.1:%u", tls ? g_tls_port : g_tcp_port);
		sbc_addr_parse(a, -1, &dst);
		int r = sig_send_addr(rx->worker, tls ? SIG_TP_TLS : SIG_TP_TCP, &dst, "default",
				      "sbc.example", killer ? kill : req,
				      killer ? sizeof(kill) - 1 : sizeof(req) - 1);
		pthread_mutex_lock(&g_mu);
		g_out_ret = r;
		pthread_mutex_unlock(&g_mu);
		return;
	}
	sig_local_handle(rx, NULL);
}

static int connect_to(uint16_t port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {3, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	return s;
}

static void send_req(int s, const char *extra_hdrs, const char *body)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-t\r\n"
			 "From: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: t\r\nCSeq: 1 MESSAGE\r\n"
			 "%sContent-Length: %zu\r\n\r\n%s",
			 extra_hdrs, strlen(body), body);
	assert_int_equal(send(s, buf, (size_t)n, 0), n);
}

static int wait_until(int (*pred)(void), int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (pred())
			return 1;
		usleep(10000);
	}
	return pred();
}

static int all_registered(void)
{
	pthread_mutex_lock(&g_mu);
	int ok = 1;
	for (int i = 0; i < NCLI; i++)
		ok &= g_conn[i] != 0;
	pthread_mutex_unlock(&g_mu);
	return ok;
}

static int relay_done(void)
{
	pthread_mutex_lock(&g_mu);
	int r = g_relay_ret != 1;
	pthread_mutex_unlock(&g_mu);
	return r;
}

static int tcp_answered(void)
{
	pthread_mutex_lock(&g_mu);
	int r = g_out_responses[SIG_TP_TCP];
	pthread_mutex_unlock(&g_mu);
	return r;
}

static int tls_answered(void)
{
	pthread_mutex_lock(&g_mu);
	int r = g_out_responses[SIG_TP_TLS];
	pthread_mutex_unlock(&g_mu);
	return r;
}

static int setup(void **st)
{
	(void)st;
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		return -1;
	if (stu_make_cert(g_dir) != 0)
		return -1;
	sbc_log_init("test", SBC_LOG_WARN, false);
	sig_config cfg;
	sig_config_defaults(&cfg);
	cfg.workers = 2;
	g_tcp_port = stu_free_port(SOCK_STREAM);
	g_tls_port = stu_free_port(SOCK_STREAM);
	stu_listen(&cfg, SIG_TP_TCP, g_tcp_port);
	stu_listen(&cfg, SIG_TP_TLS, g_tls_port);
	stu_default_profile(&cfg, g_dir, 1); /* the client role verifies the server with it */
	sig_set_worker_hooks(start_hook, stop_hook, NULL);
	return stu_start_server(&g_srv, &cfg, handler);
}

static int teardown(void **st)
{
	(void)st;
	sig_server_stop(&g_srv);
	if (g_started_hooks != 2 || g_stopped_hooks != 2) {
		fprintf(stderr, "worker hooks: started %d stopped %d\n", g_started_hooks, g_stopped_hooks);
		return -1;
	}
	return stu_destroy_server(&g_srv, g_dir);
}

static void test_cross_worker_send(void **st)
{
	assert_int_equal(sig_worker_count(), 2);
	assert_null(sig_segment());
	for (int i = 0; i < 100 && g_started_hooks < 2; i++)
		usleep(10000);
	assert_int_equal(g_started_hooks, 2);
	int s[NCLI];
	char hdr[64], buf[4096];
	(void)st;
	for (int i = 0; i < NCLI; i++) {
		s[i] = connect_to(g_tcp_port);
		snprintf(hdr, sizeof(hdr), "X-Client: %d\r\n", i);
		send_req(s[i], hdr, "");
		assert_true(recv(s[i], buf, sizeof(buf), 0) > 0); /* the 501 */
	}
	assert_true(wait_until(all_registered, 3000));
	int a = -1, b = -1;
	for (int i = 1; i < NCLI && b < 0; i++)
		if (g_worker[i] != g_worker[0]) {
			a = 0;
			b = i;
		}
	if (b < 0) {
		skip(); /* all on one worker: the kernel's hash, 2^-15 */
	}
	uint64_t x0 = 0;
	for (unsigned w = 0; w < 2; w++)
		x0 += g_srv.stats[w]->v[SIG_TP_TCP][SIG_ST_xworker_sends];
	snprintf(hdr, sizeof(hdr), "X-Relay: %llx\r\n", (unsigned long long)g_conn[b]);
	send_req(s[a], hdr, "hello-across-workers");
	ssize_t n = recv(s[b], buf, sizeof(buf) - 1, 0);
	assert_int_equal(n, 20);
	buf[n] = 0;
	assert_string_equal(buf, "hello-across-workers");
	assert_true(wait_until(relay_done, 2000));
	assert_int_equal(g_relay_ret, 0);
	uint64_t x1 = 0;
	for (unsigned w = 0; w < 2; w++)
		x1 += g_srv.stats[w]->v[SIG_TP_TCP][SIG_ST_xworker_sends];
	assert_true(x1 == x0 + 1);

	/* stale handle: close b, relay again */
	close(s[b]);
	usleep(200000);
	g_relay_ret = 1;
	send_req(s[a], hdr, "nobody");
	assert_true(wait_until(relay_done, 2000));
	/* same worker: refused at once; other worker: accepted by the ring and
	 * dropped (counted) by the owner */
	assert_true(g_relay_ret == SBC_E_CLOSED || g_relay_ret == 0);
	sig_conn_id bogus = g_conn[a] ^ 0x5555;
	snprintf(hdr, sizeof(hdr), "X-Relay: %llx\r\n", (unsigned long long)bogus);
	g_relay_ret = 1;
	send_req(s[a], hdr, "nobody");
	assert_true(wait_until(relay_done, 2000));
	assert_int_equal(g_relay_ret, SBC_E_CLOSED);
	for (int i = 0; i < NCLI; i++)
		if (i != b)
			close(s[i]);
}

static void test_outbound_tcp_and_tls(void **st)
{
	char buf[4096];
	(void)st;
	int s = connect_to(g_tcp_port);
	uint64_t opened0 = 0;
	for (unsigned w = 0; w < 2; w++)
		opened0 += g_srv.stats[w]->v[SIG_TP_TCP][SIG_ST_conns_opened];
	for (int round = 1; round <= 2; round++) {
		send_req(s, "X-Out: tcp\r\n", "");
		assert_true(wait_until(tcp_answered, 3000));
		assert_int_equal(g_out_ret, 0);
		send_req(s, "X-Out: tls\r\n", "");
		assert_true(wait_until(tls_answered, 5000));
		assert_int_equal(g_out_ret, 0);
		g_out_responses[SIG_TP_TCP] = g_out_responses[SIG_TP_TLS] = 0;
	}
	/* both requests went through one connection per transport (reuse) */
	uint64_t opened = 0, tls_opened = 0, hs = 0;
	for (unsigned w = 0; w < 2; w++) {
		opened += g_srv.stats[w]->v[SIG_TP_TCP][SIG_ST_conns_opened];
		tls_opened += g_srv.stats[w]->v[SIG_TP_TLS][SIG_ST_conns_opened];
		hs += g_srv.stats[w]->v[SIG_TP_TLS][SIG_ST_handshakes];
	}
	assert_true(opened - opened0 == 1);
	assert_true(tls_opened == 1);
	assert_true(hs == 2); /* the client role and our own server role */
	/* the server's verified identity came with the response (trunk matching) */
	assert_string_equal(g_peer_subject, "CN=sbc.example");
	assert_int_equal(g_peer_verified, 1);
	assert_true(g_peer_fp_nonzero);
	assert_string_equal(g_peer_profile, "default");

	/* the peer drops the outbound connection: the next send opens a new one */
	g_out_ret = 1;
	send_req(s, "X-Out: tcp-kill\r\n", "");
	usleep(300000); /* the far side closes, our side sees EOF */
	g_out_responses[SIG_TP_TCP] = 0;
	send_req(s, "X-Out: tcp\r\n", "");
	assert_true(wait_until(tcp_answered, 3000));
	assert_int_equal(g_out_ret, 0);
	uint64_t opened2 = 0;
	for (unsigned w = 0; w < 2; w++)
		opened2 += g_srv.stats[w]->v[SIG_TP_TCP][SIG_ST_conns_opened];
	assert_true(opened2 - opened0 == 2);
	(void)buf;
	close(s);
}

static int fo_done(void)
{
	pthread_mutex_lock(&g_mu);
	int r = g_fo_status != 1;
	pthread_mutex_unlock(&g_mu);
	return r;
}

static void test_failover(void **st)
{
	(void)st;
	g_dead_port = stu_free_port(SOCK_STREAM); /* nothing listens there: connection refused */
	int s = connect_to(g_tcp_port);
	static const char *cases[] = {"tcp dead-first", "tls dead-first", "tcp uri", "tls uri"};
	for (unsigned i = 0; i < 4; i++) {
		g_fo_status = 1;
		g_out_responses[SIG_TP_TCP] = g_out_responses[SIG_TP_TLS] = 0;
		char hdr[64];
		snprintf(hdr, sizeof(hdr), "X-Failover: %s\r\n", cases[i]);
		send_req(s, hdr, "");
		assert_true(wait_until(fo_done, 5000));
		assert_int_equal(g_fo_status, 0);
		int tls = strncmp(cases[i], "tls", 3) == 0;
		assert_int_equal(g_fo_port, tls ? g_tls_port : g_tcp_port);
		assert_true(wait_until(tls ? tls_answered : tcp_answered, 5000));
	}
	g_fo_status = 1;
	send_req(s, "X-Failover: tcp all-dead\r\n", "");
	assert_true(wait_until(fo_done, 5000));
	assert_true(g_fo_status < 0);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cross_worker_send),
		cmocka_unit_test(test_outbound_tcp_and_tls),
		cmocka_unit_test(test_failover),
	};
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		printf("skip: openssl CLI not found\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
