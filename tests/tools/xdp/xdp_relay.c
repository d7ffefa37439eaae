/* xdp_relay — test tool: relays UDP between hosts through the sbc-media
 * AF_XDP backend (sbc-media/src/xdp_backend.h) with a static session table.
 *
 *   xdp_relay --if NAME=ADDR[,ADDR...] [--if ...] --ports MIN-MAX
 *             --session LPORT,DEST,SPORT[,protect|unprotect,SUITE,KEYHEX] ...
 *             [--generic] [--copy] [--queue N] [--port-filter] [--spin]
 *             [--neigh-refresh-ms N] [--workers N]
 *
 * --workers N: N threads, worker k on RX queue (--queue) + k of every
 * interface, each with its own UMEM and sockets.
 *
 * A packet to local port LPORT (on any media address) is sent from SPORT
 * (the egress interface's media address of DEST's family) to DEST
 * ("ip:port" or "[v6]:port"), payload untouched, or SRTP-protected
 * (RTP->SRTP) or unprotected (SRTP->RTP) in the UMEM frame through the
 * media relay's SRTP seam (xcrypt.h) with SUITE (SDES name) and KEYHEX
 * (master key || salt). Prints
 * "READY attach=<native|generic> mode=<...>" once the next hops are
 * resolved; on SIGTERM/SIGINT prints one JSON line of counters and exits 0,
 * detaching everything. Exit 77 when XDP cannot be used (reason on stderr).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "xcrypt.h"
#include "xdp_backend.h"

typedef struct session {
	int used;
	sbc_addr dst;
	uint16_t sport;
	uint64_t packets;
	med_xc *xc; /* NULL: plain relay */
	med_xc_state xs;
	uint64_t srtp_fail;
} session;

static session sessions[65536];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int relay_cb(void *arg, med_xdp_pkt *p)
{
	(void)arg;
	session *s = &sessions[sbc_addr_port(&p->dst)];

	if (!s->used)
		return MED_XDP_DROP;
	__atomic_fetch_add(&s->packets, 1, __ATOMIC_RELAXED);
	p->out_dst = s->dst;
	p->out_src_port = s->sport;
	p->out_len = p->len;
	if (s->xc) {
		int len = (int)p->len;
		if (med_xc_rtp(s->xc, p->payload, &len, (int)p->cap) != 0) {
			s->srtp_fail++;
			return MED_XDP_DROP;
		}
		p->out_len = (uint32_t)len;
	}
	return MED_XDP_FORWARD;
}

#define MAX_WORKERS 8
static int poll_timeout = 100;

/* One worker thread: its own UMEM and sockets (one RX queue). */
static void *worker_main(void *arg)
{
	med_xdp_worker *w = arg;

	while (!stop)
		med_xdp_worker_poll(w, relay_cb, NULL, poll_timeout);
	/* Let what is queued on the TX rings go out. */
	for (int i = 0; i < 20; i++)
		med_xdp_worker_poll(w, relay_cb, NULL, 0);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: xdp_relay --if NAME=ADDR[,ADDR] ... --ports MIN-MAX "
			"--session LPORT,DEST,SPORT ... [--generic] [--copy] [--queue N] "
			"[--port-filter]\n");
	return 2;
}

static int parse_if(const char *arg, med_xdp_if_config *ic)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", arg);
	char *eq = strchr(buf, '=');
	if (!eq)
		return -1;
	*eq = 0;
	if (strlen(buf) >= sizeof(ic->name))
		return -1;
	memcpy(ic->name, buf, strlen(buf) + 1);
	for (char *tok = strtok(eq + 1, ","); tok; tok = strtok(NULL, ",")) {
		if (ic->naddrs >= MED_XDP_MAX_ADDRS * 2 || sbc_addr_parse(tok, 0, &ic->addrs[ic->naddrs]))
			return -1;
		ic->naddrs++;
	}
	return ic->naddrs ? 0 : -1;
}

static int parse_session(const char *arg, int *srtp_ready)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", arg);
	char *a = strtok(buf, ","), *b = strtok(NULL, ","), *c = strtok(NULL, ",");
	char *mode = strtok(NULL, ","), *suite = strtok(NULL, ","), *key = strtok(NULL, ",");
	sbc_addr dst;
	if (!a || !b || !c)
		return -1;
	long lp = strtol(a, NULL, 10), sp = strtol(c, NULL, 10);
	if (lp <= 0 || lp > 65535 || sp <= 0 || sp > 65535 || sbc_addr_parse(b, -1, &dst))
		return -1;
	session *s = &sessions[lp];
	s->used = 1;
	s->dst = dst;
	s->sport = (uint16_t)sp;
	if (!mode)
		return 0;
	if (!suite || !key || (strcmp(mode, "protect") && strcmp(mode, "unprotect")))
		return -1;
	if (!*srtp_ready) {
		char err[256];
		if (med_xc_global_init(err, sizeof(err))) {
			fprintf(stderr, "xdp_relay: SRTP init: %s\n", err);
			return -1;
		}
		*srtp_ready = 1;
	}
	sbc_srtp_params sp_;
	memset(&sp_, 0, sizeof(sp_));
	unsigned k;
	for (k = 1; k < SBC_SRTP_SUITE_MAX_; k++)
		if (med_xc_suite_name(k) && !strcmp(med_xc_suite_name(k), suite))
			break;
	size_t klen = strlen(key) / 2;
	if (k == SBC_SRTP_SUITE_MAX_ || strlen(key) % 2 || klen > sizeof(sp_.key) ||
	    (int)klen != med_xc_key_len(k))
		return -1;
	for (size_t i = 0; i < klen; i++) {
		unsigned v;
		if (sscanf(key + 2 * i, "%2x", &v) != 1)
			return -1;
		sp_.key[i] = (uint8_t)v;
	}
	sp_.suite = (uint8_t)k;
	sp_.key_len = (uint8_t)klen;
	if (med_xc_create(&s->xc, &sp_, !strcmp(mode, "protect"), &s->xs))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	med_xdp_config cfg;
	med_xdp *x = NULL;
	med_xdp_worker *w;
	char why[256] = "";
	unsigned queue = 0, nworkers = 1;
	int ret, spin = 0, srtp_ready = 0;

	sbc_log_init("xdp_relay", SBC_LOG_NOTICE, false);
	memset(&cfg, 0, sizeof(cfg));
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(o, "--if") && v) {
			if (cfg.nifs >= MED_XDP_MAX_IFS || parse_if(v, &cfg.ifs[cfg.nifs++]))
				return usage();
			i++;
		} else if (!strcmp(o, "--ports") && v) {
			unsigned lo, hi;
			if (sscanf(v, "%u-%u", &lo, &hi) != 2 || !lo || lo > hi || hi > 65535)
				return usage();
			cfg.port_min = (uint16_t)lo;
			cfg.port_max = (uint16_t)hi;
			i++;
		} else if (!strcmp(o, "--session") && v) {
			if (parse_session(v, &srtp_ready))
				return usage();
			i++;
		} else if (!strcmp(o, "--neigh-refresh-ms") && v) {
			cfg.neigh_refresh_ms = (unsigned)atoi(v);
			i++;
		} else if (!strcmp(o, "--workers") && v) {
			nworkers = (unsigned)atoi(v);
			if (!nworkers || nworkers > MAX_WORKERS)
				return usage();
			i++;
		} else if (!strcmp(o, "--queue") && v) {
			queue = (unsigned)atoi(v);
			i++;
		} else if (!strcmp(o, "--generic")) {
			cfg.attach = MED_XDP_ATTACH_GENERIC;
		} else if (!strcmp(o, "--native")) {
			cfg.attach = MED_XDP_ATTACH_NATIVE;
		} else if (!strcmp(o, "--copy")) {
			cfg.force_copy = true;
		} else if (!strcmp(o, "--port-filter")) {
			cfg.port_filter = true;
		} else if (!strcmp(o, "--spin")) {
			spin = 1;
		} else {
			return usage();
		}
	}
	if (!cfg.nifs || !cfg.port_min)
		return usage();

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);

	ret = med_xdp_open_or_log(&x, &cfg);
	if (ret) {
		return ret == -EPERM || ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EAFNOSUPPORT ? 77 : 1;
	}
	med_xdp_worker *ws[MAX_WORKERS] = { 0 };
	pthread_t th[MAX_WORKERS];
	for (unsigned k = 0; k < nworkers; k++) {
		ret = med_xdp_worker_create(x, queue + k, &ws[k], why, sizeof(why));
		if (ret) {
			fprintf(stderr, "xdp_relay: AF_XDP unavailable: %s\n", why);
			for (unsigned j = 0; j < k; j++)
				med_xdp_worker_destroy(ws[j]);
			med_xdp_close(x);
			return ret == -EPERM || ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EAFNOSUPPORT ? 77 : 1;
		}
	}
	w = ws[0];
	for (unsigned p = 0; p < 65536; p++) {
		if (!sessions[p].used)
			continue;
		if (cfg.port_filter && med_xdp_port_set(x, (uint16_t)p, true))
			fprintf(stderr, "xdp_relay: port map update failed for %u\n", p);
		char a[SBC_ADDR_STRLEN];
		for (unsigned k = 0; k < nworkers; k++)
			if (med_xdp_worker_resolve(ws[k], &sessions[p].dst, 3000))
				fprintf(stderr, "xdp_relay: next hop to %s not resolved yet\n",
					sbc_addr_format(&sessions[p].dst, a, sizeof(a)));
	}
	printf("READY attach=%s mode=%s workers=%u\n", med_xdp_attach_mode(x),
	       med_xdp_worker_mode(w), nworkers);
	fflush(stdout);

	poll_timeout = spin ? 0 : 100;
	for (unsigned k = 1; k < nworkers; k++)
		pthread_create(&th[k], NULL, worker_main, ws[k]);
	worker_main(w);
	for (unsigned k = 1; k < nworkers; k++)
		pthread_join(th[k], NULL);

	med_xdp_worker_stats st, one;
	uint64_t ps[MED_XDP_STAT_MAX];
	char per[256] = "";
	memset(&st, 0, sizeof(st));
	for (unsigned k = 0; k < nworkers; k++) {
		med_xdp_worker_stats_get(ws[k], &one);
		st.rx_packets += one.rx_packets;
		st.tx_packets += one.tx_packets;
		st.tx_completed += one.tx_completed;
		st.tx_kicks += one.tx_kicks;
		st.polls += one.polls;
		st.batches += one.batches;
		for (int i = 0; i < MED_XDP_DROP_MAX_; i++)
			st.drops[i] += one.drops[i];
		size_t at = strlen(per);
		snprintf(per + at, sizeof(per) - at, "%s%llu", k ? "," : "",
			 (unsigned long long)one.rx_packets);
	}
	med_xdp_prog_stats(x, ps);
	printf("{\"attach\":\"%s\",\"mode\":\"%s\",\"rx\":%llu,\"tx\":%llu,\"tx_completed\":%llu,"
	       "\"tx_kicks\":%llu,\"polls\":%llu,\"batches\":%llu,\"prog_matched\":%llu,"
	       "\"prog_port_idle\":%llu,\"prog_too_long\":%llu,\"workers_rx\":[%s],\"drops\":{",
	       med_xdp_attach_mode(x), med_xdp_worker_mode(w), (unsigned long long)st.rx_packets,
	       (unsigned long long)st.tx_packets, (unsigned long long)st.tx_completed,
	       (unsigned long long)st.tx_kicks, (unsigned long long)st.polls,
	       (unsigned long long)st.batches, (unsigned long long)ps[MED_XDP_STAT_MATCHED],
	       (unsigned long long)ps[MED_XDP_STAT_PORT_IDLE],
	       (unsigned long long)ps[MED_XDP_STAT_TOO_LONG], per);
	for (int i = 0; i < MED_XDP_DROP_MAX_; i++)
		printf("%s\"%s\":%llu", i ? "," : "", med_xdp_drop_name(i),
		       (unsigned long long)st.drops[i]);
	uint64_t srtp_fail = 0;
	for (unsigned p = 0; p < 65536; p++) {
		srtp_fail += sessions[p].srtp_fail;
		med_xc_destroy(sessions[p].xc);
	}
	char js[1024];
	if (med_xdp_worker_stats_json(w, js, sizeof(js)) < 0)
		snprintf(js, sizeof(js), "null");
	printf("},\"srtp_fail\":%llu,\"stats\":%s}\n", (unsigned long long)srtp_fail, js);
	fflush(stdout);
	for (unsigned k = 0; k < nworkers; k++)
		med_xdp_worker_destroy(ws[k]);
	med_xdp_close(x);
	return 0;
}
