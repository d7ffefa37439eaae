/* rtpload — RTP/SRTP load generator and receiver for the side-by-side relay
 * benchmark (tests/bench/sbc-media/bench_rtpengine.py): the same load for
 * sbc-media and for rtpengine.
 *
 * The load and its accounting are rtpgen.h's, the same code bench_relay
 * drives: N streams at 50 packets/s each (one every 20 ms, spread over 1 ms
 * ticks), 160-byte payloads (G.711 at 20 ms), all from one UDP socket with
 * batched sendmmsg, to the relay's port of each stream; the relay sends them
 * on to our receiving socket, read with recvmmsg (polled every 100 us). Loss
 * is exact: the packets sent in the measuring window against those of them
 * that arrived (whenever they arrive).
 *
 * Modes:
 *   rtp       plain RTP in, plain RTP out; SSRC = stream + 1.
 *   srtp-rtp  SRTP in (AES_CM_128_HMAC_SHA1_80, --key), plain RTP out. All
 *             streams share the key, and the streams sending in the same
 *             1 ms slot share an SSRC (slot + 1), so one packet per
 *             sequence number and slot is encrypted ahead of time
 *             (libsrtp2) and sent on every stream of that slot (rtpgen's
 *             make() callback): the relay still authenticates and decrypts
 *             each one in each stream's own context, and the generator's
 *             CPU stays out of the way. The receiver checks the plaintext.
 *   rtp-srtp  plain RTP in, SRTP out; streams named with "check" have every
 *             64th packet decrypted at the receiver with the relay's key.
 *
 * stdin commands (one per line), answers on stdout as key=value lines:
 *   dst PORT             adds a stream sending to 127.0.0.1:PORT
 *   check IDX KEYHEX     rtp-srtp: verify stream IDX with this key (30 bytes)
 *   run N SECONDS        N streams (the first N dst lines), 0.7 s warm-up,
 *                        then a window of SECONDS: prints sent, received,
 *                        loss, pps (the window's packets that arrived, per
 *                        second), CPU us per received packet of --pid (all
 *                        its threads, schedstat), of this tool, of the
 *                        kernel's ksoftirqd threads, and of the whole
 *                        machine (/proc/stat busy time); p50/p99 latency
 *                        from the send of a packet's 1 ms slot to its
 *                        arrival
 *   quit
 * At start it prints "rx_port=P tx_port=Q". Options: --mode, --key HEX,
 * --pid PID (the relay whose CPU is measured), --cpu C (pin here).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <srtp2/srtp.h>

#include "rtpgen.h"
#include "taskcpu.h"

#define NPRE 8192 /* pre-encrypted sequence numbers: 2.7 minutes per stream */
#define MAXCHECK 16

enum { M_RTP, M_SRTP_RTP, M_RTP_SRTP };

static int g_mode = M_RTP;
static uint8_t g_key[30];
static int g_pid = -1;
static rtpgen *gen;
static unsigned ndst;
static uint8_t (*pre)[20][RTPGEN_HLEN + RTPGEN_PLEN + 16]; /* srtp-rtp: packet of sequence Q, slot S */
static int pre_len;
static _Atomic int gen_overrun;

static struct {
	uint32_t id;
	srtp_t ctx;
} checks[MAXCHECK];
static unsigned nchecks;

static int hexkey(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static srtp_t srtp_ctx(const uint8_t *key, int outbound)
{
	srtp_policy_t pol;
	srtp_t s = NULL;
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	pol.key = (unsigned char *)key;
	pol.window_size = 1024;
	return srtp_create(&s, &pol) == srtp_err_status_ok ? s : NULL;
}

/* srtp-rtp: stream s sends in slot s % 20 (50 pps), the slot's packet. */
static const uint8_t *make_pre(void *arg, unsigned s, uint16_t seq, uint8_t *buf, int *len)
{
	(void)arg;
	(void)buf;
	if (seq >= NPRE) {
		atomic_store(&gen_overrun, 1);
		return NULL;
	}
	*len = pre_len;
	return pre[seq][s % 20];
}

static int check_rx(void *arg, unsigned id, uint16_t seq, uint8_t *p, int len)
{
	(void)arg;
	if (g_mode != M_RTP_SRTP)
		return len == RTPGEN_HLEN + RTPGEN_PLEN && p[RTPGEN_HLEN] == 0xd5 &&
				       p[RTPGEN_HLEN + RTPGEN_PLEN - 1] == 0xd5
			       ? 0
			       : -1;
	if (len != RTPGEN_HLEN + RTPGEN_PLEN + 10)
		return -1;
	if (seq % 64)
		return 0;
	for (unsigned c = 0; c < nchecks; c++) {
		if (checks[c].id != id)
			continue;
		int l = len;
		if (srtp_unprotect(checks[c].ctx, p, &l) != srtp_err_status_ok || l != RTPGEN_HLEN + RTPGEN_PLEN ||
		    p[RTPGEN_HLEN] != 0xd5 || p[RTPGEN_HLEN + RTPGEN_PLEN - 1] != 0xd5)
			return -1;
		return 1;
	}
	return 0;
}

static taskcpu_ksoftirqd g_ksoft; /* found once at start */

/* Busy jiffies of the whole machine (all CPUs). */
static uint64_t machine_busy(void)
{
	unsigned long long v[8] = {0};
	uint64_t total = 0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		   &v[7]) == 8)
		for (int i = 0; i < 8; i++)
			if (i != 3 && i != 4) /* idle, iowait */
				total += v[i];
	fclose(f);
	return total;
}

static void run(unsigned n, double seconds)
{
	if (n > ndst) {
		printf("error=only_%u_destinations\n", ndst);
		return;
	}
	atomic_store(&gen->streams, n);
	usleep(700000); /* warm up at this load */
	uint64_t bad0 = atomic_load(&gen->rx_bad);
	uint64_t c0 = taskcpu_ns(g_pid), m0 = machine_busy(), t0 = taskcpu_ns(getpid()), k0 = taskcpu_ksoftirqd_ns(&g_ksoft);
	rtpgen_window_begin(gen);
	usleep((useconds_t)(seconds * 1e6));
	rtpgen_window_end(gen);
	uint64_t c1 = taskcpu_ns(g_pid), m1 = machine_busy(), t1 = taskcpu_ns(getpid()), k1 = taskcpu_ksoftirqd_ns(&g_ksoft);
	usleep(300000); /* the window's last packets */
	rtpgen_result r = rtpgen_window_result(gen);
	double got = (double)r.received;
	long hz = sysconf(_SC_CLK_TCK);
	printf("n=%u sent=%" PRIu64 " received=%" PRIu64 " loss=%.5f pps=%.0f relay_us=%.3f machine_us=%.3f tool_us=%.3f "
	       "ksoftirq_us=%.3f p50_us=%u p99_us=%u "
	       "checked=%" PRIu64 " bad=%" PRIu64 " send_errors=%" PRIu64 " overrun=%d\n",
	       n, r.sent, r.received, r.loss, r.pps, got > 0 ? (double)(c1 - c0) / 1e3 / got : 0,
	       got > 0 ? (double)(m1 - m0) * 1e6 / (double)hz / got : 0, got > 0 ? (double)(t1 - t0) / 1e3 / got : 0,
	       got > 0 ? (double)(k1 - k0) / 1e3 / got : 0, r.p50_us, r.p99_us, atomic_load(&gen->rx_checked),
	       atomic_load(&gen->rx_bad) - bad0, atomic_load(&gen->tx_err), atomic_load(&gen_overrun));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"mode", required_argument, NULL, 'm'}, {"key", required_argument, NULL, 'k'},
		{"pid", required_argument, NULL, 'p'},	{"cpu", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	int o, cpu = -1;
	memset(g_key, 0x11, sizeof(g_key));
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			g_mode = strcmp(optarg, "srtp-rtp") == 0 ? M_SRTP_RTP
				 : strcmp(optarg, "rtp-srtp") == 0 ? M_RTP_SRTP
				 : strcmp(optarg, "rtp") == 0	   ? M_RTP
								   : -1;
			break;
		case 'k':
			if (hexkey(optarg, g_key, sizeof(g_key))) {
				fprintf(stderr, "rtpload: --key wants 60 hex digits\n");
				return 2;
			}
			break;
		case 'p': g_pid = atoi(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		default: g_mode = -1;
		}
	}
	if (g_mode < 0) {
		fprintf(stderr, "usage: rtpload --mode rtp|srtp-rtp|rtp-srtp [--key HEX] [--pid PID] [--cpu C]\n");
		return 2;
	}
	taskcpu_ksoftirqd_find(&g_ksoft);
	if (srtp_init() != srtp_err_status_ok) {
		fprintf(stderr, "rtpload: srtp_init failed\n");
		return 1;
	}
	if (g_mode == M_SRTP_RTP) {
		srtp_t s = srtp_ctx(g_key, 1);
		pre = calloc(NPRE, sizeof(*pre));
		if (!s || !pre) {
			fprintf(stderr, "rtpload: cannot set up SRTP\n");
			return 1;
		}
		for (uint32_t p = 0; p < NPRE; p++) {
			for (uint32_t sl = 0; sl < 20; sl++) {
				int len = RTPGEN_HLEN + RTPGEN_PLEN;
				rtpgen_rtp(pre[p][sl], (uint16_t)p, sl + 1); /* SSRC = slot + 1 (run tag 0) */
				if (srtp_protect(s, pre[p][sl], &len) != srtp_err_status_ok) {
					fprintf(stderr, "rtpload: srtp_protect failed\n");
					return 1;
				}
				pre_len = len;
			}
		}
		srtp_dealloc(s);
	}
	gen = rtpgen_new();
	if (!gen) {
		fprintf(stderr, "rtpload: out of memory\n");
		return 1;
	}
	gen->cpu = cpu;
	gen->make = g_mode == M_SRTP_RTP ? make_pre : NULL;
	gen->check = check_rx;
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int tx_fd, rx_fd;
	tx_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	rx_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 8 << 20;
	setsockopt(tx_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (bind(tx_fd, (struct sockaddr *)&a, sizeof(a)) || bind(rx_fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("rtpload: bind");
		return 1;
	}
	uint16_t txp, rxp;
	getsockname(tx_fd, (struct sockaddr *)&a, &al);
	txp = ntohs(a.sin_port);
	al = sizeof(a);
	getsockname(rx_fd, (struct sockaddr *)&a, &al);
	rxp = ntohs(a.sin_port);
	printf("rx_port=%u tx_port=%u\n", rxp, txp);
	fflush(stdout);
	gen->tx_fd = tx_fd;
	gen->rx_fd = rx_fd;

	char line[512];
	int started = 0;
	while (fgets(line, sizeof(line), stdin)) {
		unsigned port, idx, n;
		double secs;
		char keyhex[128];
		if (sscanf(line, "dst %u", &port) == 1) {
			if (ndst < RTPGEN_MAXN && port > 0 && port < 65536 && !started) {
				gen->dst[ndst] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
				inet_pton(AF_INET, "127.0.0.1", &gen->dst[ndst].sin_addr);
				ndst++;
			} else {
				printf("error=dst_refused\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "check %u %127s", &idx, keyhex) == 2) {
			uint8_t k[30];
			if (nchecks < MAXCHECK && !started && hexkey(keyhex, k, sizeof(k)) == 0 &&
			    (checks[nchecks].ctx = srtp_ctx(k, 0)) != NULL) {
				checks[nchecks++].id = idx;
			} else {
				printf("error=check_refused\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "run %u %lf", &n, &secs) == 2 && secs > 0 && secs < 600) {
			if (!started) {
				if (rtpgen_start(gen) != 0) {
					fprintf(stderr, "rtpload: cannot start threads\n");
					return 1;
				}
				started = 1;
			}
			run(n, secs);
		} else if (strncmp(line, "quit", 4) == 0) {
			break;
		} else {
			printf("error=unknown_command\n");
			fflush(stdout);
		}
	}
	rtpgen_stop(gen, 0);
	rtpgen_free(gen);
	for (unsigned c = 0; c < nchecks; c++)
		srtp_dealloc(checks[c].ctx);
	return 0;
}
