/* medtool — test driver for sbc-media, acting as sbc-control and sbc-signal
 * worker 0 at once, plus SRTP endpoints on both sides of the relay.
 *
 * It creates the shared segment (with the "media.sessions" region) as
 * sbc-control does, fork+execs sbc-media with --shm/--runtime (the doorbell
 * eventfds are inherited), and then reads one command per line on stdin and
 * answers one JSON line per command on stdout. The endpoints use libsrtp2
 * as Debian ships it (its own ciphers), independent of the relay's crypto
 * provider, so a packet decrypted here proves the relay's output is real SRTP.
 *
 * Commands (see tests/integration/test_media*.py for use):
 *   seg NAME SIGNAL_WORKERS MEDIA_WORKERS SLOTS  (we play every signal worker)
 *   spawn BIN RUNTIME_JSON          -> {"pid":N}
 *   kill9 | term                    -> {"status":...}
 *   create JSON | update JSON       -> MEDIA_REPLY as JSON
 *   delete ID [W] | query ID [W]    -> MEDIA_REPLY as JSON
 *   stats W | cmd W JSON            -> the text reply
 *   events MS                       -> events received so far (waits MS for one)
 *   peer NAME [v6|v4] [ns=NETNS] [addr=IP] -> {"port":N} (UDP socket on 127.0.0.1 or
 *                                      ::1, or on IP in network namespace NETNS)
 *   send NAME DST SUITE KEYHEX SSRC SEQ0 COUNT [rtcp] [gap_us]
 *   resend NAME DST                 -> the last packet sent again, byte for byte
 *   recv NAME SUITE KEYHEX COUNT MS -> what arrived, decrypted and checked
 *   flood NAME MS SSRC SEQ0 PORT... -> plain RTP from NAME to 127.0.0.1:PORT,
 *                                      round robin, as fast as sendmmsg goes, for MS
 *                                      (overload); stream i: SSRC + i, SEQ0, SEQ0 + 1, ...
 *                                      -> {"sent":N, "per_port":[...], "errors":E}
 *   drain NAME                      -> {"drained":N}: what waits in NAME's socket, discarded
 *   rekey NAME                      -> forget NAME's SRTP contexts
 *   ringraw W TYPE VERSION LEN      -> a raw (hostile) record to media worker W
 *   hello SIG PID                   -> a HELLO of signal worker SIG naming PID, to every
 *                                      media worker (a successor process; PID 0 too)
 *   bulk create|delete N ID0 [W]    -> N plain sessions ID0.. created (to 127.0.0.1:9/:7)
 *                                      or deleted on worker W, pipelined as the ring allows
 *                                      -> {"ok":N, "failed":N, "ms":wall ms}
 *   tstats W MS                     -> stats W, waiting up to MS; + "wait_ms": how long
 *   quit
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <srtp2/srtp.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/media-region.h"
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "sbc/sockaddr.h"

#define MAXW 8
#define MAXPEERS 40
#define MAXEV 256

static shm_seg *seg;
static char seg_name[64];
static unsigned nmedia;
#define MAXSIG 4
/* We act as signal workers 0..nsig-1 and as control. */
static shm_ring_prod sig_outs[MAXSIG][MAXW], ctl_out[MAXW];
static shm_ring_cons sig_ins[MAXSIG][MAXW], ctl_in[MAXW];
#define sig_out sig_outs[0]
static unsigned nsig;
static pid_t media_pid;
static uint64_t next_req = 1;
static sbc_msg_media_event events[MAXEV];
static int event_to[MAXEV]; /* signal worker index, -1: control */
static unsigned nevents;

typedef struct peer {
	char name[32];
	int fd;
	srtp_t tx, rx;
	unsigned tx_suite, rx_suite;
	uint8_t tx_key[64], rx_key[64];
	uint8_t last[2048];
	int last_len;
} peer;
static peer peers[MAXPEERS];

static void out(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	printf("%s\n", s ? s : "{\"error\":\"json\"}");
	fflush(stdout);
	free(s);
	json_decref(j);
}

static void fail(const char *fmt, const char *arg)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s%s%s", fmt, arg ? ": " : "", arg ? arg : "");
	out(json_pack("{s:s}", "error", buf));
}

static const char *fmt_addr(const sbc_addr *a, char *buf)
{
	if (!a->sa.sa_family)
		return "";
	return sbc_addr_format(a, buf, SBC_ADDR_STRLEN);
}

/* ---- rings ---- */

static void handle_rec(const shm_rec *r, json_t **reply, uint64_t want_req, unsigned want_type, int from)
{
	if (sbc_msg_check(r) != 0)
		return;
	if (r->type == SBC_MSG_MEDIA_EVENT) {
		if (nevents < MAXEV) {
			event_to[nevents] = from;
			memcpy(&events[nevents++], r->data, sizeof(events[0]));
		}
		return;
	}
	if (r->type == SBC_MSG_MEDIA_REPLY && want_type == SBC_MSG_MEDIA_REPLY) {
		const sbc_msg_media_reply *m = (const void *)r->data;
		char a[SBC_ADDR_STRLEN];
		if (m->request_id != want_req)
			return;
		json_t *legs = json_array();
		for (unsigned l = 0; l < 2; l++) {
			const sbc_media_leg_stats *s = &m->stats[l];
			json_array_append_new(
				legs, json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:s, s:b}", "port",
						sbc_addr_port(&m->local_rtp[l]), "packets_in", (json_int_t)s->packets_in,
						"bytes_in", (json_int_t)s->bytes_in, "packets_out",
						(json_int_t)s->packets_out, "bytes_out", (json_int_t)s->bytes_out, "drops",
						(json_int_t)s->drops, "lost", (int)s->lost, "jitter_us", (int)s->jitter_us,
						"peer", fmt_addr(&s->peer, a), "latched", s->latched));
		}
		*reply = json_pack("{s:I, s:i, s:s, s:o}", "id", (json_int_t)m->session_id, "status", m->status,
				   "error", m->status ? sbc_strerror(m->status) : "", "legs", legs);
		return;
	}
	if ((r->type == SBC_MSG_STATS_REPLY || r->type == SBC_MSG_COMMAND_REPLY) && r->type == want_type) {
		const sbc_msg_text *t = (const void *)r->data;
		json_error_t e;
		if (t->request_id != want_req)
			return;
		*reply = json_loadb(t->text, t->len, 0, &e);
		if (!*reply)
			*reply = json_pack("{s:s}", "error", "bad json from media");
	}
}

static void drain(json_t **reply, uint64_t want_req, unsigned want_type)
{
	for (unsigned j = 0; j < nmedia; j++) {
		for (unsigned k = 0; k <= nsig; k++) {
			shm_ring_cons *c = k < nsig ? &sig_ins[k][j] : &ctl_in[j];
			const shm_rec *r;
			unsigned n = 0;
			while ((r = shm_ring_peek(c)) != NULL) {
				handle_rec(r, reply, want_req, want_type, k < nsig ? (int)k : -1);
				shm_ring_next(c, r);
				n++;
			}
			if (n)
				shm_ring_release(c);
		}
	}
}

static json_t *wait_reply(uint64_t req, unsigned type, int ms)
{
	json_t *reply = NULL;
	uint64_t end = sbc_mono_ms() + (uint64_t)ms;
	while (!reply && sbc_mono_ms() < end) {
		drain(&reply, req, type);
		if (!reply)
			usleep(500);
	}
	return reply ? reply : json_pack("{s:s}", "error", "timeout waiting for sbc-media");
}

/* ---- commands ---- */

static int hexkey(const char *hex, uint8_t *key, size_t max)
{
	size_t n = strlen(hex);
	if (strcmp(hex, "-") == 0)
		return 0;
	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		key[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static int parse_srtp(json_t *o, sbc_srtp_params *p)
{
	memset(p, 0, sizeof(*p));
	if (!o)
		return 0;
	p->suite = (uint8_t)json_integer_value(json_object_get(o, "suite"));
	const char *k = json_string_value(json_object_get(o, "key"));
	if (k) {
		int n = hexkey(k, p->key, sizeof(p->key));
		if (n < 0)
			return -1;
		p->key_len = (uint8_t)n;
	}
	return 0;
}

static int parse_media(json_t *j, sbc_msg_media *m, unsigned *w)
{
	memset(m, 0, sizeof(*m));
	m->session_id = (uint64_t)json_integer_value(json_object_get(j, "id"));
	m->flags = (uint32_t)json_integer_value(json_object_get(j, "flags"));
	m->timeout_ms = (uint32_t)json_integer_value(json_object_get(j, "timeout_ms"));
	*w = (unsigned)json_integer_value(json_object_get(j, "worker"));
	json_t *legs = json_object_get(j, "legs");
	for (unsigned l = 0; l < 2; l++) {
		json_t *g = json_array_get(legs, l);
		const char *a;
		if (!g)
			return -1;
		if ((a = json_string_value(json_object_get(g, "remote"))) && *a &&
		    sbc_addr_parse(a, -1, &m->leg[l].remote_rtp))
			return -1;
		if ((a = json_string_value(json_object_get(g, "remote_rtcp"))) && *a &&
		    sbc_addr_parse(a, -1, &m->leg[l].remote_rtcp))
			return -1;
		if (parse_srtp(json_object_get(g, "rx"), &m->leg[l].rx) ||
		    parse_srtp(json_object_get(g, "tx"), &m->leg[l].tx))
			return -1;
		m->leg[l].latch = (uint8_t)json_integer_value(json_object_get(g, "latch"));
	}
	return 0;
}

static void cmd_media(unsigned type, const char *arg)
{
	json_error_t e;
	json_t *j = json_loads(arg, 0, &e);
	sbc_msg_media m;
	unsigned w;
	if (!j || parse_media(j, &m, &w) || w >= nmedia) {
		json_decref(j);
		fail("bad media json:", arg);
		return;
	}
	int via_ctl = json_is_true(json_object_get(j, "via_control"));
	unsigned sig = (unsigned)json_integer_value(json_object_get(j, "signal"));
	json_decref(j);
	if (sig >= nsig) {
		fail("no such signal worker", NULL);
		return;
	}
	m.request_id = next_req++;
	int ret = shm_ring_push(via_ctl ? &ctl_out[w] : &sig_outs[sig][w], (uint16_t)type, SBC_MSG_V_MEDIA, &m,
				sizeof(m));
	if (ret) {
		fail("push", sbc_strerror(ret));
		return;
	}
	out(wait_reply(m.request_id, SBC_MSG_MEDIA_REPLY, 3000));
}

static void cmd_ref(unsigned type, const char *arg)
{
	sbc_msg_media_delete m = {0};
	unsigned long long id = 0;
	unsigned w = 0;
	if (sscanf(arg, "%llu %u", &id, &w) < 1 || w >= nmedia) {
		fail("usage: delete|query ID [WORKER]", NULL);
		return;
	}
	m.session_id = id;
	m.request_id = next_req++;
	if (shm_ring_push(&sig_out[w], (uint16_t)type, SBC_MSG_V_MEDIA, &m, sizeof(m))) {
		fail("ring full", NULL);
		return;
	}
	out(wait_reply(m.request_id, SBC_MSG_MEDIA_REPLY, 3000));
}

static void cmd_text(unsigned type, unsigned w, const char *text)
{
	uint64_t req = next_req++;
	if (w >= nmedia || sbc_msg_push_text(&ctl_out[w], type, req, text, (uint32_t)strlen(text))) {
		fail("cannot send to worker", NULL);
		return;
	}
	out(wait_reply(req, type == SBC_MSG_STATS_REQUEST ? SBC_MSG_STATS_REPLY : SBC_MSG_COMMAND_REPLY, 3000));
}

static void cmd_seg(const char *arg)
{
	unsigned sw, mw, slots;
	char err[256];
	char name[64];
	if (sscanf(arg, "%63s %u %u %u", name, &sw, &mw, &slots) != 4 || mw > MAXW || mw < 1 || sw < 1 ||
	    sw > MAXSIG) {
		fail("usage: seg NAME SIGNAL_WORKERS MEDIA_WORKERS SLOTS", NULL);
		return;
	}
	shm_seg_config cfg = {.signal_workers = sw, .media_workers = mw, .ring_bytes = 1 << 17,
			      .ctl_ring_bytes = 1 << 16};
	cfg.regions[0].name = MED_REGION_NAME;
	cfg.regions[0].bytes = MED_SESSION_REGION_BYTES(slots);
	if (shm_seg_create(name, &cfg, &seg, err, sizeof(err))) {
		fail("shm_seg_create", err);
		return;
	}
	snprintf(seg_name, sizeof(seg_name), "%s", name);
	nmedia = mw;
	nsig = sw;
	for (unsigned j = 0; j < mw; j++) {
		sbc_msg_hello h;
		for (unsigned i = 0; i < sw; i++) {
			shm_seg_producer(seg, &sig_outs[i][j], SHM_ROLE_SIGNAL, i, SHM_ROLE_MEDIA, j);
			shm_seg_consumer(seg, &sig_ins[i][j], SHM_ROLE_MEDIA, j, SHM_ROLE_SIGNAL, i);
			sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, i);
			shm_ring_push(&sig_outs[i][j], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h));
		}
		shm_seg_producer(seg, &ctl_out[j], SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, j);
		shm_seg_consumer(seg, &ctl_in[j], SHM_ROLE_MEDIA, j, SHM_ROLE_CONTROL, 0);
		sbc_msg_hello_fill(&h, SHM_ROLE_CONTROL, 0);
		shm_ring_push(&ctl_out[j], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h));
	}
	out(json_pack("{s:s}", "seg", name));
}

static void cmd_spawn(const char *arg)
{
	char bin[512], rt[512];
	if (!seg || sscanf(arg, "%511s %511s", bin, rt) != 2) {
		fail("usage: spawn BIN RUNTIME (after seg)", NULL);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(2, 1); /* its log goes to our stderr */
		execl(bin, bin, "--shm", seg_name, "--runtime", rt, (char *)NULL);
		_exit(127);
	}
	media_pid = pid;
	out(json_pack("{s:i}", "pid", (int)pid));
}

static void cmd_stop(int sig)
{
	int st = 0;
	if (media_pid <= 0) {
		fail("not running", NULL);
		return;
	}
	kill(media_pid, sig);
	waitpid(media_pid, &st, 0);
	media_pid = 0;
	out(json_pack("{s:i, s:i}", "exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1, "signal",
		      WIFSIGNALED(st) ? WTERMSIG(st) : 0));
}

static void cmd_events(const char *arg)
{
	int ms = atoi(arg);
	json_t *reply = NULL;
	uint64_t end = sbc_mono_ms() + (uint64_t)ms;
	do {
		drain(&reply, 0, 0);
		if (nevents)
			break;
		usleep(1000);
	} while (sbc_mono_ms() < end);
	json_t *arr = json_array();
	char a[SBC_ADDR_STRLEN];
	for (unsigned i = 0; i < nevents; i++)
		json_array_append_new(arr, json_pack("{s:I, s:s, s:i, s:s, s:i}", "id", (json_int_t)events[i].session_id,
						     "kind", events[i].kind == SBC_MEDIA_EV_TIMEOUT ? "timeout" : "latched",
						     "leg", (int)events[i].leg, "addr", fmt_addr(&events[i].addr, a), "to",
						     event_to[i]));
	nevents = 0;
	out(json_pack("{s:o}", "events", arr));
}

static peer *find_peer(const char *name)
{
	for (unsigned i = 0; i < MAXPEERS; i++)
		if (peers[i].fd > 0 && strcmp(peers[i].name, name) == 0)
			return &peers[i];
	return NULL;
}

/* A UDP socket in the network namespace /run/netns/ns (the process goes
 * there for the socket() call only: a socket stays in the namespace it was
 * made in). Returns the fd or -1. */
static int socket_in_netns(const char *ns, int family)
{
	char path[300];
	int self, target, fd = -1;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if ((target = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
		close(target);
		return -1;
	}
	if (setns(target, CLONE_NEWNET) == 0) {
		fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (setns(self, CLONE_NEWNET) != 0) {
			fprintf(stderr, "medtool: cannot return to own network namespace: %s\n", strerror(errno));
			exit(1);
		}
	}
	close(self);
	close(target);
	return fd;
}

static void cmd_peer(const char *arg)
{
	char name[32], fam[8] = "", w2[160] = "", w3[160] = "", ns[128] = "", ip[64] = "";
	peer *p = NULL;
	if (sscanf(arg, "%31s %7s %159s %159s", name, fam, w2, w3) < 1 || find_peer(name)) {
		fail("usage: peer NAME [v6|v4] [ns=NETNS] [addr=IP] (new)", NULL);
		return;
	}
	/* netns peers: "peer a v4 ns=sbcXa addr=10.1.1.2" (hosts behind the
	 * AF_XDP relay, tests/integration/test_xdp_media.py) */
	const char *words[2] = {w2, w3};
	for (unsigned i = 0; i < 2; i++) {
		if (!strncmp(words[i], "ns=", 3))
			snprintf(ns, sizeof(ns), "%s", words[i] + 3);
		else if (!strncmp(words[i], "addr=", 5))
			snprintf(ip, sizeof(ip), "%s", words[i] + 5);
	}
	bool v6 = strcmp(fam, "v6") == 0;
	for (unsigned i = 0; i < MAXPEERS && !p; i++)
		if (peers[i].fd <= 0)
			p = &peers[i];
	if (!p) {
		fail("too many peers", NULL);
		return;
	}
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->fd = ns[0] ? socket_in_netns(ns, v6 ? AF_INET6 : AF_INET)
		      : socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sbc_addr a;
	if (p->fd < 0) {
		p->fd = 0;
		fail("socket failed (network namespace?)", NULL);
		return;
	}
	if (!ip[0] || sbc_addr_parse(ip, 0, &a) != 0)
		sbc_addr_parse(v6 ? "[::1]:0" : "127.0.0.1:0", -1, &a);
	socklen_t al = sizeof(a);
	if (bind(p->fd, &a.sa, sbc_addr_len(&a)) < 0) {
		close(p->fd);
		p->fd = 0;
		fail("bind failed (no IPv6 loopback?)", NULL);
		return;
	}
	getsockname(p->fd, &a.sa, &al);
	int rcv = 4 << 20;
	setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	out(json_pack("{s:i}", "port", sbc_addr_port(&a)));
}

static int policy_for(srtp_crypto_policy_t *p, unsigned suite, int rtcp)
{
	switch (suite) {
	case 1: srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p); return 0;
	case 2: if (rtcp) srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p); else srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p); return 0;
	case 3: srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p); return 0;
	case 4: if (rtcp) srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p); else srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p); return 0;
	case 5: srtp_crypto_policy_set_aes_gcm_128_16_auth(p); return 0;
	case 6: srtp_crypto_policy_set_aes_gcm_256_16_auth(p); return 0;
	case 7: srtp_crypto_policy_set_null_cipher_hmac_sha1_80(p); return 0;
	default: return -1;
	}
}

static srtp_t make_srtp(unsigned suite, uint8_t *key, int outbound)
{
	srtp_policy_t pol;
	srtp_t s;
	memset(&pol, 0, sizeof(pol));
	if (policy_for(&pol.rtp, suite, 0) || policy_for(&pol.rtcp, suite, 1))
		return NULL;
	pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	pol.key = key;
	pol.window_size = 1024;
	return srtp_create(&s, &pol) == srtp_err_status_ok ? s : NULL;
}

/* Context for (peer, direction), rebuilt when the suite or key changes. */
static srtp_t ctx(peer *p, int outbound, unsigned suite, const uint8_t *key, int klen)
{
	srtp_t *s = outbound ? &p->tx : &p->rx;
	unsigned *su = outbound ? &p->tx_suite : &p->rx_suite;
	uint8_t *k = outbound ? p->tx_key : p->rx_key;
	if (*s && *su == suite && memcmp(k, key, (size_t)klen) == 0)
		return *s;
	if (*s)
		srtp_dealloc(*s);
	memset(k, 0, 64);
	memcpy(k, key, (size_t)klen);
	*su = suite;
	*s = make_srtp(suite, k, outbound);
	return *s;
}

static void fill_payload(uint8_t *p, unsigned n, uint16_t seq)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(seq + i);
}

static void cmd_send(const char *arg)
{
	char name[32], dst[64], keyhex[200], rtcp_s[16] = "";
	unsigned suite, count, gap_us = 0;
	unsigned long ssrc, seq0;
	uint8_t key[64];
	peer *p;
	sbc_addr to;
	int n = sscanf(arg, "%31s %63s %u %199s %lu %lu %u %15s %u", name, dst, &suite, keyhex, &ssrc, &seq0,
		       &count, rtcp_s, &gap_us);
	if (n < 7 || !(p = find_peer(name)) || sbc_addr_parse(dst, -1, &to)) {
		fail("usage: send NAME DST SUITE KEYHEX SSRC SEQ0 COUNT [rtp|rtcp] [GAP_US]", NULL);
		return;
	}
	int klen = hexkey(keyhex, key, sizeof(key));
	srtp_t s = NULL;
	if (suite && (klen <= 0 || !(s = ctx(p, 1, suite, key, klen)))) {
		fail("bad suite/key", NULL);
		return;
	}
	int rtcp = strcmp(rtcp_s, "rtcp") == 0;
	unsigned sent = 0, errs = 0;
	for (unsigned i = 0; i < count; i++) {
		uint8_t pkt[2048];
		int len;
		uint16_t seq = (uint16_t)(seq0 + i);
		uint32_t ts = (uint32_t)(seq0 + i) * 160;
		if (rtcp) {
			/* SR: header, SSRC, NTP, RTP ts, counts; then a pattern */
			memset(pkt, 0, 28);
			pkt[0] = 0x80;
			pkt[1] = 200;
			pkt[3] = 6;
			len = 28;
			fill_payload(pkt + 8, 20, seq);
		} else {
			pkt[0] = 0x80;
			pkt[1] = 0; /* PCMU */
			pkt[2] = (uint8_t)(seq >> 8);
			pkt[3] = (uint8_t)seq;
			pkt[4] = (uint8_t)(ts >> 24);
			pkt[5] = (uint8_t)(ts >> 16);
			pkt[6] = (uint8_t)(ts >> 8);
			pkt[7] = (uint8_t)ts;
			len = 12 + 160;
			fill_payload(pkt + 12, 160, seq);
		}
		pkt[rtcp ? 4 : 8] = (uint8_t)(ssrc >> 24);
		pkt[rtcp ? 5 : 9] = (uint8_t)(ssrc >> 16);
		pkt[rtcp ? 6 : 10] = (uint8_t)(ssrc >> 8);
		pkt[rtcp ? 7 : 11] = (uint8_t)ssrc;
		if (s) {
			srtp_err_status_t e = rtcp ? srtp_protect_rtcp(s, pkt, &len) : srtp_protect(s, pkt, &len);
			if (e) {
				errs++;
				continue;
			}
		}
		memcpy(p->last, pkt, (size_t)len);
		p->last_len = len;
		if (sendto(p->fd, pkt, (size_t)len, 0, &to.sa, sbc_addr_len(&to)) == len)
			sent++;
		else
			errs++;
		if (gap_us)
			usleep(gap_us);
	}
	out(json_pack("{s:i, s:i}", "sent", sent, "errors", errs));
}

static void cmd_resend(const char *arg)
{
	char name[32], dst[64];
	peer *p;
	sbc_addr to;
	if (sscanf(arg, "%31s %63s", name, dst) != 2 || !(p = find_peer(name)) || sbc_addr_parse(dst, -1, &to) ||
	    !p->last_len) {
		fail("usage: resend NAME DST (after a send)", NULL);
		return;
	}
	ssize_t n = sendto(p->fd, p->last, (size_t)p->last_len, 0, &to.sa, sbc_addr_len(&to));
	out(json_pack("{s:i}", "sent", n == p->last_len));
}

#define FLOOD_MAX 64

/* Load beyond what one relay worker carries: plain RTP round robin over the
 * ports, batches of 64 per sendmmsg, until MS have passed. */
static void cmd_flood(const char *arg)
{
	char name[32];
	unsigned ms, ports[FLOOD_MAX], np = 0;
	unsigned long ssrc0, seq0;
	int used = 0;
	peer *p;
	if (sscanf(arg, "%31s %u %lu %lu%n", name, &ms, &ssrc0, &seq0, &used) != 4 || !(p = find_peer(name)) ||
	    ms > 10000) {
		fail("usage: flood NAME MS SSRC SEQ0 PORT...", NULL);
		return;
	}
	for (const char *a = arg + used; np < FLOOD_MAX;) {
		char *e;
		unsigned long v = strtoul(a, &e, 10);
		if (e == a)
			break;
		if (v == 0 || v > 65535) {
			fail("bad port", NULL);
			return;
		}
		ports[np++] = (unsigned)v;
		a = e;
	}
	if (np == 0) {
		fail("usage: flood NAME MS SSRC SEQ0 PORT...", NULL);
		return;
	}
	enum { B = 64 };
	static uint8_t pkts[B][172];
	static sbc_addr to[FLOOD_MAX];
	static unsigned long sent_to[FLOOD_MAX], built[FLOOD_MAX];
	struct mmsghdr mm[B];
	struct iovec iov[B];
	for (unsigned i = 0; i < np; i++) {
		sbc_addr_parse("127.0.0.1:0", -1, &to[i]);
		sbc_addr_set_port(&to[i], (uint16_t)ports[i]);
		sent_to[i] = built[i] = 0;
	}
	unsigned long sent = 0, errs = 0, turn = 0;
	uint64_t end = sbc_mono_ms() + ms;
	while (sbc_mono_ms() < end) {
		for (unsigned k = 0; k < B; k++) {
			unsigned i = (unsigned)((turn + k) % np);
			uint16_t seq = (uint16_t)(seq0 + built[i]++); /* unsent ones leave a gap */
			uint8_t *q = pkts[k];
			uint32_t ts = (uint32_t)seq * 160, ssrc = (uint32_t)(ssrc0 + i);
			q[0] = 0x80;
			q[1] = 0;
			q[2] = (uint8_t)(seq >> 8);
			q[3] = (uint8_t)seq;
			q[4] = (uint8_t)(ts >> 24);
			q[5] = (uint8_t)(ts >> 16);
			q[6] = (uint8_t)(ts >> 8);
			q[7] = (uint8_t)ts;
			q[8] = (uint8_t)(ssrc >> 24);
			q[9] = (uint8_t)(ssrc >> 16);
			q[10] = (uint8_t)(ssrc >> 8);
			q[11] = (uint8_t)ssrc;
			fill_payload(q + 12, 160, seq);
			iov[k] = (struct iovec){q, sizeof(pkts[k])};
			mm[k].msg_hdr = (struct msghdr){.msg_name = &to[i], .msg_namelen = sbc_addr_len(&to[i]),
							.msg_iov = &iov[k], .msg_iovlen = 1};
		}
		int r = sendmmsg(p->fd, mm, B, 0);
		if (r < 0)
			errs++;
		for (int k = 0; k < r; k++)
			sent_to[(turn + (unsigned)k) % np]++;
		sent += r > 0 ? (unsigned)r : 0;
		turn += B;
	}
	json_t *per = json_array();
	for (unsigned i = 0; i < np; i++)
		json_array_append_new(per, json_integer((json_int_t)sent_to[i]));
	out(json_pack("{s:I, s:o, s:I}", "sent", (json_int_t)sent, "per_port", per, "errors", (json_int_t)errs));
}

/* Discards what waits in a peer's socket. */
static void cmd_drain(const char *arg)
{
	char name[32];
	peer *p;
	if (sscanf(arg, "%31s", name) != 1 || !(p = find_peer(name))) {
		fail("usage: drain NAME", NULL);
		return;
	}
	uint8_t pkt[2048];
	long n = 0;
	while (recv(p->fd, pkt, sizeof(pkt), MSG_DONTWAIT) >= 0)
		n++;
	out(json_pack("{s:I}", "drained", (json_int_t)n));
}

static void cmd_recv(const char *arg)
{
	char name[32], keyhex[200];
	unsigned suite, count, ms;
	uint8_t key[64];
	peer *p;
	if (sscanf(arg, "%31s %u %199s %u %u", name, &suite, keyhex, &count, &ms) != 5 || !(p = find_peer(name))) {
		fail("usage: recv NAME SUITE KEYHEX COUNT MS", NULL);
		return;
	}
	int klen = hexkey(keyhex, key, sizeof(key));
	srtp_t s = NULL;
	if (suite && (klen <= 0 || !(s = ctx(p, 0, suite, key, klen)))) {
		fail("bad suite/key", NULL);
		return;
	}
	unsigned got = 0, ok = 0, auth = 0, replay = 0, other = 0, bad_payload = 0, rtcp_n = 0, bad_len = 0;
	long first_seq = -1, last_seq = -1;
	uint32_t ssrc = 0;
	char from[SBC_ADDR_STRLEN] = "";
	uint64_t end = sbc_mono_ms() + ms;
	while (got < count) {
		uint64_t now = sbc_mono_ms();
		if (now >= end)
			break;
		struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)((end - now) * 1000)};
		if (end - now >= 1000) {
			tv.tv_sec = (time_t)((end - now) / 1000);
			tv.tv_usec = (suseconds_t)(((end - now) % 1000) * 1000);
		}
		setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		uint8_t pkt[2048];
		sbc_addr src;
		socklen_t sl = sizeof(src);
		ssize_t n = recvfrom(p->fd, pkt, sizeof(pkt), 0, &src.sa, &sl);
		if (n < 0)
			break;
		got++;
		sbc_addr_format(&src, from, sizeof(from));
		int len = (int)n;
		int is_rtcp = len >= 2 && pkt[1] >= 192 && pkt[1] <= 223;
		if (s) {
			srtp_err_status_t e = is_rtcp ? srtp_unprotect_rtcp(s, pkt, &len) : srtp_unprotect(s, pkt, &len);
			if (e == srtp_err_status_auth_fail) {
				auth++;
				continue;
			}
			if (e == srtp_err_status_replay_fail || e == srtp_err_status_replay_old) {
				replay++;
				continue;
			}
			if (e) {
				other++;
				continue;
			}
		}
		if (is_rtcp) {
			uint8_t want[20];
			rtcp_n++;
			/* the pattern's seed is not in an SR: accept any consistent run */
			fill_payload(want, 20, pkt[8]);
			if (len != 28 || memcmp(pkt + 8, want, 20) != 0)
				bad_payload++;
			else
				ok++;
			continue;
		}
		if (len != 172) {
			bad_len++;
			continue;
		}
		uint16_t seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
		uint8_t want[160];
		fill_payload(want, 160, seq);
		if (memcmp(pkt + 12, want, 160) != 0) {
			bad_payload++;
			continue;
		}
		ssrc = (uint32_t)pkt[8] << 24 | (uint32_t)pkt[9] << 16 | (uint32_t)pkt[10] << 8 | pkt[11];
		if (first_seq < 0)
			first_seq = seq;
		last_seq = seq;
		ok++;
	}
	out(json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:s}", "got", got, "ok", ok, "auth_fail",
		      auth, "replay", replay, "srtp_error", other, "bad_payload", bad_payload, "bad_len", bad_len,
		      "rtcp", rtcp_n, "first_seq", (int)first_seq, "last_seq", (int)last_seq, "ssrc",
		      (json_int_t)ssrc, "from", from));
}

/* A raw record on the signal ring: hostile input for the relay. */
static void cmd_ringraw(const char *arg)
{
	unsigned w, type, version, len;
	uint8_t zero[8192] = {0};
	if (sscanf(arg, "%u %u %u %u", &w, &type, &version, &len) != 4 || w >= nmedia || len > sizeof(zero)) {
		fail("usage: ringraw W TYPE VERSION LEN", NULL);
		return;
	}
	memset(zero, 0xa5, len);
	int ret = shm_ring_push(&sig_out[w], (uint16_t)type, (uint16_t)version, zero, len);
	out(json_pack("{s:i}", "pushed", ret == 0));
}

static void cmd_hello(const char *arg)
{
	unsigned sig, pid;
	if (sscanf(arg, "%u %u", &sig, &pid) != 2 || sig >= nsig) {
		fail("usage: hello SIG PID", NULL);
		return;
	}
	int pushed = 0;
	for (unsigned j = 0; j < nmedia; j++) {
		sbc_msg_hello h;
		sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, sig);
		h.pid = pid;
		pushed += shm_ring_push(&sig_outs[sig][j], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)) == 0;
	}
	out(json_pack("{s:i}", "pushed", pushed));
}

/* Replies to requests [req0, req0 + n) on signal worker 0's ring from w
 * counted; anything else handled as drain() would. */
static void bulk_drain(unsigned w, uint64_t req0, unsigned n, unsigned *ok, unsigned *failed)
{
	shm_ring_cons *c = &sig_ins[0][w];
	const shm_rec *r;
	unsigned k = 0;
	json_t *none = NULL;
	while ((r = shm_ring_peek(c)) != NULL) {
		const sbc_msg_media_reply *m = (const void *)r->data;
		if (sbc_msg_check(r) == 0 && r->type == SBC_MSG_MEDIA_REPLY && m->request_id >= req0 &&
		    m->request_id < req0 + n)
			(*(m->status ? failed : ok))++;
		else
			handle_rec(r, &none, 0, 0, 0);
		shm_ring_next(c, r);
		k++;
	}
	if (k)
		shm_ring_release(c);
}

static void cmd_bulk(const char *arg)
{
	char what[16];
	unsigned n, w = 0, ok = 0, failed = 0, sent = 0;
	unsigned long long id0;
	if (sscanf(arg, "%15s %u %llu %u", what, &n, &id0, &w) < 3 || w >= nmedia ||
	    (strcmp(what, "create") && strcmp(what, "delete"))) {
		fail("usage: bulk create|delete N ID0 [W]", NULL);
		return;
	}
	bool create = what[0] == 'c';
	/* gives up 10 s after the last reply (a reply can be dropped: counted
	 * in media.stats replies_dropped) */
	uint64_t req0 = next_req, t0 = sbc_mono_ms(), end = t0 + 10000;
	next_req += n;
	while (ok + failed < n && sbc_mono_ms() < end) {
		while (sent < n) {
			int ret;
			if (create) {
				sbc_msg_media m;
				memset(&m, 0, sizeof(m));
				m.session_id = id0 + sent;
				m.request_id = req0 + sent;
				sbc_addr_parse("127.0.0.1:9", -1, &m.leg[0].remote_rtp);
				sbc_addr_parse("127.0.0.1:7", -1, &m.leg[1].remote_rtp);
				ret = shm_ring_push(&sig_outs[0][w], SBC_MSG_MEDIA_CREATE, SBC_MSG_V_MEDIA, &m, sizeof(m));
			} else {
				sbc_msg_media_delete d = {.session_id = id0 + sent, .request_id = req0 + sent};
				ret = shm_ring_push(&sig_outs[0][w], SBC_MSG_MEDIA_DELETE, SBC_MSG_V_MEDIA, &d, sizeof(d));
			}
			if (ret)
				break; /* ring full: replies first */
			sent++;
		}
		unsigned before = ok + failed;
		bulk_drain(w, req0, n, &ok, &failed);
		if (ok + failed == before)
			usleep(200);
		else
			end = sbc_mono_ms() + 10000;
	}
	out(json_pack("{s:i, s:i, s:I}", "ok", ok, "failed", failed, "ms", (json_int_t)(sbc_mono_ms() - t0)));
}

static void cmd_tstats(const char *arg)
{
	unsigned w;
	int ms;
	uint64_t req = next_req++, t0 = sbc_mono_ns();
	if (sscanf(arg, "%u %d", &w, &ms) != 2 || w >= nmedia ||
	    sbc_msg_push_text(&ctl_out[w], SBC_MSG_STATS_REQUEST, req, "{}", 2)) {
		fail("usage: tstats W MS", NULL);
		return;
	}
	json_t *j = wait_reply(req, SBC_MSG_STATS_REPLY, ms);
	json_object_set_new(j, "wait_ms", json_real((double)(sbc_mono_ns() - t0) / 1e6));
	out(j);
}

static void cmd_rekey(const char *arg)
{
	peer *p = find_peer(arg);
	if (!p) {
		fail("no peer", arg);
		return;
	}
	if (p->tx)
		srtp_dealloc(p->tx);
	if (p->rx)
		srtp_dealloc(p->rx);
	p->tx = p->rx = NULL;
	out(json_pack("{s:b}", "ok", 1));
}

int main(void)
{
	char line[8192];
	signal(SIGPIPE, SIG_IGN);
	if (srtp_init() != srtp_err_status_ok) {
		fprintf(stderr, "medtool: srtp_init failed\n");
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = line + strlen(line);
		if (!strcmp(line, "seg")) cmd_seg(arg);
		else if (!strcmp(line, "spawn")) cmd_spawn(arg);
		else if (!strcmp(line, "kill9")) cmd_stop(SIGKILL);
		else if (!strcmp(line, "term")) cmd_stop(SIGTERM);
		else if (!strcmp(line, "create")) cmd_media(SBC_MSG_MEDIA_CREATE, arg);
		else if (!strcmp(line, "update")) cmd_media(SBC_MSG_MEDIA_UPDATE, arg);
		else if (!strcmp(line, "delete")) cmd_ref(SBC_MSG_MEDIA_DELETE, arg);
		else if (!strcmp(line, "query")) cmd_ref(SBC_MSG_MEDIA_QUERY, arg);
		else if (!strcmp(line, "stats")) cmd_text(SBC_MSG_STATS_REQUEST, (unsigned)atoi(arg), "{}");
		else if (!strcmp(line, "cmd")) {
			char *j = strchr(arg, ' ');
			cmd_text(SBC_MSG_COMMAND, (unsigned)atoi(arg), j ? j + 1 : "{}");
		}
		else if (!strcmp(line, "events")) cmd_events(arg);
		else if (!strcmp(line, "peer")) cmd_peer(arg);
		else if (!strcmp(line, "send")) cmd_send(arg);
		else if (!strcmp(line, "resend")) cmd_resend(arg);
		else if (!strcmp(line, "recv")) cmd_recv(arg);
		else if (!strcmp(line, "flood")) cmd_flood(arg);
		else if (!strcmp(line, "drain")) cmd_drain(arg);
		else if (!strcmp(line, "rekey")) cmd_rekey(arg);
		else if (!strcmp(line, "ringraw")) cmd_ringraw(arg);
		else if (!strcmp(line, "hello")) cmd_hello(arg);
		else if (!strcmp(line, "bulk")) cmd_bulk(arg);
		else if (!strcmp(line, "tstats")) cmd_tstats(arg);
		else if (!strcmp(line, "quit")) break;
		else fail("unknown command", line);
	}
	if (media_pid > 0) {
		kill(media_pid, SIGTERM);
		waitpid(media_pid, NULL, 0);
	}
	if (seg) {
		shm_seg_detach(seg);
		shm_seg_unlink(seg_name);
	}
	return 0;
}
