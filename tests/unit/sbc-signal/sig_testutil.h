/* Helpers for the sbc-signal transport unit tests (test_sig_batch,
 * test_sig_transport): a header's value from a received message, a free
 * loopback port, a throw-away self-signed certificate and the "default"
 * TLS profile that uses it. Header-only (static functions), like
 * tests/unit/shared/store_testutil.h: each test is one binary and the
 * Makefile links nothing else into it. */
#ifndef SBC_TEST_SIG_UTIL_H
#define SBC_TEST_SIG_UTIL_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_worker.h"

/* Copies the value of header `name` (first occurrence, case-insensitive,
 * leading blanks skipped, CR/LF line ends) of rx into out (truncated to
 * cap - 1); returns 1 when found, 0 otherwise. Only the header part
 * (rx->hdr_len) is searched. */
static inline int stu_header_value(const sig_rx *rx, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = rx->msg, *end = rx->msg + rx->hdr_len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = (size_t)(eol - v);
			if (n && v[n - 1] == '\r')
				n--;
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return 1;
		}
		p = eol + 1;
	}
	return 0;
}

/* A loopback port the kernel just handed out for `type` (SOCK_DGRAM or
 * SOCK_STREAM): free now, and ephemeral, so parallel runs do not collide. */
static inline uint16_t stu_free_port(int type)
{
	int s = socket(AF_INET, type, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &l);
	close(s);
	return ntohs(a.sin_port);
}

/* Adds a listener on 127.0.0.1:port over tp to cfg; a TLS one serves the
 * profile "default" (stu_default_profile). */
static inline void stu_listen(sig_config *cfg, enum sig_tp tp, uint16_t port)
{
	char a[64];
	sig_listen_cfg *l = &cfg->listen[cfg->n_listen++];
	snprintf(a, sizeof(a), "127.0.0.1:%u", port);
	sbc_addr_parse(a, -1, &l->addr);
	l->tp = tp;
	if (tp == SIG_TP_TLS)
		snprintf(l->profile, sizeof(l->profile), "default");
}

/* Makes the directory from template dir (mkdtemp) and a P-256 self-signed
 * certificate for CN sbc.example in it (c.pem, key k.pem) with the openssl
 * CLI, a separate process (the test binary links BoringSSL only). Returns
 * 0, or -1 when either step fails. */
static inline int stu_make_cert(char *dir)
{
	char cmd[1024];
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout k.pem -out c.pem -subj /CN=sbc.example -days 2 >/dev/null 2>&1",
		 dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Adds the TLS profile "default" to cfg with dir's c.pem and k.pem
 * (stu_make_cert); with_ca: c.pem is also its CA, for the client role to
 * verify our own server. */
static inline void stu_default_profile(sig_config *cfg, const char *dir, int with_ca)
{
	char path[512];
	sig_profile_cfg *p = &cfg->profiles[cfg->n_profiles++];
	snprintf(p->name, sizeof(p->name), "default");
	snprintf(path, sizeof(path), "%s/c.pem", dir);
	p->cert[0] = strdup(path);
	if (with_ca)
		p->ca = strdup(path);
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	p->key[0] = strdup(path);
	p->n_certs = 1;
	p->verify_depth = 4;
}

/* Publishes cfg's TLS profiles, installs handler and starts srv on cfg
 * (which srv then owns); worker hooks, if any, are set before. Returns
 * sig_server_start's result, or -1 with the reason on stderr. */
static inline int stu_start_server(sig_server *srv, sig_config *cfg, sig_rx_cb handler)
{
	char err[512] = "";
	sig_tls_init();
	sig_tls_set *set = NULL;
	if (sig_tls_set_build(cfg, 1, &set, err, sizeof(err)) < 0) {
		fprintf(stderr, "tls: %s\n", err);
		return -1;
	}
	sig_tls_publish(set);
	sig_set_rx_handler(handler, NULL);
	if (sig_server_init(srv, cfg, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	return sig_server_start(srv);
}

/* A server of `workers` workers listening on UDP (and on TCP when tcp is
 * not NULL) on free ports, written to *udp and *tcp, logging errors only:
 * the set-up of the tests that drive the transport itself. Hooks are set
 * before. */
static inline int stu_start_plain(sig_server *srv, unsigned workers, sig_rx_cb handler, uint16_t *udp, uint16_t *tcp)
{
	sbc_log_init("test", SBC_LOG_ERROR, false);
	sig_config cfg;
	sig_config_defaults(&cfg);
	cfg.workers = workers;
	*udp = stu_free_port(SOCK_DGRAM);
	stu_listen(&cfg, SIG_TP_UDP, *udp);
	if (tcp) {
		*tcp = stu_free_port(SOCK_STREAM);
		stu_listen(&cfg, SIG_TP_TCP, *tcp);
	}
	return stu_start_server(srv, &cfg, handler);
}

/* Frees what stu_start_server set up (srv already stopped) and removes the
 * certificate directory, if any (dir NULL: none); returns 0, or -1 when the
 * directory stays. */
static inline int stu_destroy_server(sig_server *srv, const char *dir)
{
	char cmd[256];
	sig_config_free(&srv->cfg);
	sig_server_destroy(srv);
	sig_tls_set_unref(sig_tls_publish(NULL));
	if (!dir)
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Stops srv and frees it, with no certificate directory. */
static inline int stu_stop_server(sig_server *srv)
{
	sig_server_stop(srv);
	return stu_destroy_server(srv, NULL);
}

#endif
