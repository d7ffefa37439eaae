/* sig-tlsload — a TLS connection load tool for sbc-signal benchmarks.
 *
 * One process, one epoll loop, non-blocking BoringSSL clients, source
 * addresses spread over 127.0.0.0/8 (127.S.x.y) so that per-source limits
 * and ephemeral ports are not the bottleneck.
 *
 * Modes:
 *   hold    open --conns connections (at most --concurrency handshakes in
 *           flight), send one OPTIONS on each and read the answer, print
 *           "ready N" and keep them idle until stdin closes or SIGTERM.
 *   full    for --seconds, keep --concurrency handshakes in flight; each
 *           finishes when the server's session ticket arrives (so the
 *           server's side is complete), then closes. Prints the count.
 *   resume  as full, offering a session obtained by a first handshake.
 *
 * --groups LIST (e.g. "P-256:X25519"): the client's key-exchange groups in
 * order of preference; the key share is for the first one.
 *
 * Output: one line "key=value ..." on stdout for the benchmark to parse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { M_HOLD, M_FULL, M_RESUME };
enum { S_CONNECT, S_HANDSHAKE, S_WAIT_TICKET, S_SIP, S_IDLE };

typedef struct lconn {
	int fd;
	int state;
	SSL *ssl;
	int got_ticket;
	size_t got;
} lconn;

static SSL_CTX *g_ctx;
static SSL_SESSION *g_sess;
static int g_ep;
static struct sockaddr_in g_dst;
static int g_source_base = 10; /* 127.<base>.x.y */
static int g_sources = 16;
static unsigned long g_next_src;
static volatile sig_atomic_t g_stop;
static int g_mode = M_HOLD;
static long g_started, g_done, g_failed, g_resumed;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *s)
{
	lconn *c = SSL_get_app_data(ssl);
	if (c)
		c->got_ticket = 1;
	if (!g_sess) {
		g_sess = s;
		return 1; /* we keep the reference */
	}
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void conn_free(lconn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0) {
		epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	free(c);
}

static int conn_start(void)
{
	lconn *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		free(c);
		return -1;
	}
	unsigned long i = g_next_src++ % (unsigned long)g_sources;
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl((127u << 24) | ((unsigned)g_source_base << 16) |
				    (unsigned)((i / 250) << 8) | (unsigned)(i % 250 + 1));
	int one = 1;
	setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    (connect(c->fd, (struct sockaddr *)&g_dst, sizeof(g_dst)) < 0 && errno != EINPROGRESS)) {
		close(c->fd);
		free(c);
		g_failed++;
		return -1;
	}
	c->ssl = SSL_new(g_ctx);
	SSL_set_app_data(c->ssl, c);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	if (g_mode == M_RESUME && g_sess)
		SSL_set_session(c->ssl, g_sess);
	c->state = S_CONNECT;
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
	epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
	g_started++;
	return 0;
}

static const char k_options[] = "OPTIONS sip:bench@127.0.0.1 SIP/2.0\r\n"
				"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-load\r\n"
				"From: <sip:load@127.0.0.1>;tag=l1\r\n"
				"To: <sip:bench@127.0.0.1>\r\n"
				"Call-ID: load\r\n"
				"CSeq: 1 OPTIONS\r\n"
				"Content-Length: 0\r\n\r\n";

static void set_events(lconn *c, unsigned ev)
{
	struct epoll_event e = {.events = ev, .data.ptr = c};
	epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Returns 1 when the connection finished its job (done or failed). */
static int conn_step(lconn *c)
{
	if (c->state == S_CONNECT)
		c->state = S_HANDSHAKE;
	if (c->state == S_HANDSHAKE) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				set_events(c, EPOLLIN);
				return 0;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				set_events(c, EPOLLIN | EPOLLOUT);
				return 0;
			}
			ERR_clear_error();
			g_failed++;
			return 1;
		}
		if (SSL_session_reused(c->ssl))
			g_resumed++;
		set_events(c, EPOLLIN);
		if (g_mode == M_HOLD) {
			SSL_write(c->ssl, k_options, sizeof(k_options) - 1);
			c->state = S_SIP;
		} else if (SSL_version(c->ssl) == TLS1_3_VERSION && !c->got_ticket) {
			c->state = S_WAIT_TICKET; /* the ticket may already be buffered: read on */
		} else {
			g_done++;
			return 1;
		}
	}
	char buf[4096];
	for (;;) {
		int r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0) {
			c->got += (size_t)r;
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_READ)
			break;
		g_failed++;
		return 1;
	}
	if (c->state == S_WAIT_TICKET && c->got_ticket) {
		g_done++;
		return 1;
	}
	if (c->state == S_SIP && c->got > 0 && memmem(buf, 16, "SIP/2.0 200", 11)) {
		c->state = S_IDLE;
		g_done++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"target", required_argument, NULL, 't'}, {"conns", required_argument, NULL, 'n'},
		{"concurrency", required_argument, NULL, 'c'}, {"mode", required_argument, NULL, 'm'},
		{"seconds", required_argument, NULL, 's'}, {"sources", required_argument, NULL, 'S'},
		{"source-base", required_argument, NULL, 'B'}, {"cert", required_argument, NULL, 'C'},
		{"key", required_argument, NULL, 'K'}, {"tls12", no_argument, NULL, '2'},
		{"groups", required_argument, NULL, 'G'}, {NULL, 0, NULL, 0},
	};
	const char *target = "127.0.0.1:5061", *cert = NULL, *key = NULL, *groups = NULL;
	long conns = 1000, conc = 64;
	double seconds = 5;
	int tls12 = 0, o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': target = optarg; break;
		case 'n': conns = atol(optarg); break;
		case 'c': conc = atol(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'S': g_sources = atoi(optarg); break;
		case 'B': g_source_base = atoi(optarg); break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case '2': tls12 = 1; break;
		case 'G': groups = optarg; break;
		case 'm':
			g_mode = strcmp(optarg, "full") == 0 ? M_FULL : strcmp(optarg, "resume") == 0 ? M_RESUME : M_HOLD;
			break;
		default:
			fprintf(stderr, "usage: sig-tlsload --target ip:port --mode hold|full|resume ...\n");
			return 2;
		}
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	char host[64];
	const char *colon = strrchr(target, ':');
	if (!colon || (size_t)(colon - target) >= sizeof(host))
		return 2;
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = 0;
	g_dst.sin_family = AF_INET;
	g_dst.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, host, &g_dst.sin_addr);

	g_ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(g_ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(g_ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
	/* --groups "P-256:X25519": the key share goes with the first group (a
	 * BoringSSL client sends one), the server follows the client's order */
	if (groups && !SSL_CTX_set1_curves_list(g_ctx, groups)) {
		fprintf(stderr, "bad --groups %s\n", groups);
		return 2;
	}
	SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(g_ctx, new_session_cb);
	if (cert && (!SSL_CTX_use_certificate_chain_file(g_ctx, cert) ||
		     !SSL_CTX_use_PrivateKey_file(g_ctx, key, SSL_FILETYPE_PEM))) {
		fprintf(stderr, "cannot load %s / %s\n", cert, key);
		return 2;
	}
	g_ep = epoll_create1(EPOLL_CLOEXEC);

	if (g_mode == M_RESUME) { /* one full handshake to get a session */
		int m = g_mode;
		g_mode = M_FULL;
		conn_start();
		double t0 = now_s();
		while (!g_sess && now_s() - t0 < 5) {
			struct epoll_event ev[4];
			int n = epoll_wait(g_ep, ev, 4, 100);
			for (int i = 0; i < n; i++) {
				lconn *c = ev[i].data.ptr;
				if (conn_step(c))
					conn_free(c);
			}
		}
		if (!g_sess) {
			fprintf(stderr, "no session ticket received\n");
			return 1;
		}
		g_mode = m;
		g_done = g_failed = g_started = g_resumed = 0;
	}

	long inflight = 0, ready_printed = 0;
	double t0 = now_s(), deadline = t0 + seconds;
	struct epoll_event ev[256];
	for (;;) {
		if (g_stop)
			break;
		if (g_mode == M_HOLD) {
			long pending = g_started - g_done - g_failed;
			while (g_started < conns && pending < conc && !g_stop) {
				if (conn_start() == 0)
					pending++;
				else if (g_failed > conns)
					break;
			}
			if (!ready_printed && g_done + g_failed >= conns) {
				printf("ready=%ld failed=%ld seconds=%.3f\n", g_done, g_failed, now_s() - t0);
				fflush(stdout);
				ready_printed = 1;
			}
			if (ready_printed) {
				struct pollfd p = {.fd = 0, .events = POLLIN};
				if (poll(&p, 1, 200) > 0) {
					char b[64];
					if (read(0, b, sizeof(b)) <= 0)
						break;
				}
				continue;
			}
		} else {
			if (now_s() >= deadline)
				break;
			while (inflight < conc) {
				if (conn_start() < 0)
					break;
				inflight++;
			}
		}
		int n = epoll_wait(g_ep, ev, 256, 50);
		for (int i = 0; i < n; i++) {
			lconn *c = ev[i].data.ptr;
			if (conn_step(c) && g_mode != M_HOLD) {
				conn_free(c);
				inflight--;
			}
		}
	}
	double el = now_s() - t0;
	if (g_mode != M_HOLD)
		printf("handshakes=%ld failed=%ld resumed=%ld seconds=%.3f rate=%.1f\n", g_done, g_failed,
		       g_resumed, el, g_done / el);
	fflush(stdout);
	/* the connections die with the process: no teardown of thousands of
	 * SSL objects (and no leak report from a sanitizer build about them) */
	_exit(0);
}
