/* rtpload — RTP/SRTP load generator and receiver for the side-by-side relay
 * benchmark (tests/bench/sbc-media/bench_rtpengine.py): the same load for
 * sbc-media and for rtpengine.
 *
 * N streams at 50 packets/s each (one every 20 ms, spread over 1 ms ticks),
 * 160-byte payloads (G.711 at 20 ms), all from one UDP socket with batched
 * sendmmsg, to the relay's port of each stream; the relay sends them on to
 * our receiving socket, read with recvmmsg (polled every 100 us, as
 * bench_relay does, so the relay's sends never pay for waking a sleeper).
 *
 * Every stream sends sequence number P in 20 ms period P, so a measuring
 * window is a range of periods and loss is exact: the packets of those
 * periods that were sent against those that arrived (whenever they arrive).
 *
 * Modes:
 *   rtp       plain RTP in, plain RTP out; SSRC = stream + 1.
 *   srtp-rtp  SRTP in (AES_CM_128_HMAC_SHA1_80, --key), plain RTP out. All
 *             streams share the key, and the streams sending in the same
 *             1 ms slot share an SSRC (slot + 1), so one packet per
 *             sequence number and slot is encrypted ahead of time
 *             (libsrtp2) and sent on every stream of that slot: the relay still authenticates and decrypts
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
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <srtp2/srtp.h>

#define MAXN 5000
#define PLEN 160
#define HLEN 12
#define NPRE 8192 /* pre-encrypted periods: 2.7 minutes */
#define NTICK (1024 * 20) /* send times of the last 1024 periods, per 1 ms slot */
#define HIST 20000	  /* latency histogram: 10 us buckets up to 200 ms */
#define MAXCHECK 16

enum { M_RTP, M_SRTP_RTP, M_RTP_SRTP };

static int g_mode = M_RTP;
static uint8_t g_key[30];
static int g_pid = -1;
static int tx_fd, rx_fd;
static struct sockaddr_in dst[MAXN];
static unsigned ndst;
static uint8_t (*pre)[20][HLEN + PLEN + 16]; /* srtp-rtp: packet of period P, slot S */
static int pre_len;
static uint64_t t_start_ns;

static _Atomic unsigned gen_n;
static _Atomic int gen_run = 1, rx_run = 1;
static _Atomic uint32_t win_lo = UINT32_MAX, win_hi = UINT32_MAX;
static _Atomic uint64_t tx_win, rx_win, rx_total, rx_bad, rx_checked, tx_err;
static _Atomic int gen_overrun;
static _Atomic uint64_t tick_ns[NTICK]; /* when each 1 ms slot's first batch left */
static _Atomic uint64_t hist[HIST + 1];

static struct {
	uint32_t ssrc;
	srtp_t ctx;
} checks[MAXCHECK];
static unsigned nchecks;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void rtp_packet(uint8_t *p, uint32_t period, uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = 0; /* PCMU */
	p[2] = (uint8_t)(period >> 8);
	p[3] = (uint8_t)period;
	put32(p + 4, period * 160);
	put32(p + 8, ssrc);
	memset(p + HLEN, 0xd5, PLEN);
}

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

static void *gen_main(void *arg)
{
	enum { B = 64 };
	static uint8_t bufs[B][HLEN + PLEN + 16];
	struct mmsghdr mm[B];
	struct iovec iov[B];
	int cpu = *(int *)arg;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	uint64_t tick = t_start_ns;
	for (uint64_t ms = 0; atomic_load(&gen_run); ms++) {
		tick += 1000000;
		struct timespec ts = {.tv_sec = (time_t)(tick / 1000000000u), .tv_nsec = (long)(tick % 1000000000u)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		uint32_t period = (uint32_t)(ms / 20), slot = (uint32_t)(ms % 20);
		if (g_mode == M_SRTP_RTP && period >= NPRE) {
			atomic_store(&gen_overrun, 1);
			continue;
		}
		unsigned n = atomic_load(&gen_n), k = 0;
		atomic_store_explicit(&tick_ns[(period % 1024) * 20 + slot], mono_ns(), memory_order_relaxed);
		uint32_t lo = atomic_load(&win_lo), hi = atomic_load(&win_hi);
		int in_win = period >= lo && period < hi;
		for (unsigned s = slot; s < n; s += 20) {
			if (g_mode == M_SRTP_RTP) {
				iov[k] = (struct iovec){pre[period][slot], (size_t)pre_len};
			} else {
				rtp_packet(bufs[k], period, s + 1);
				iov[k] = (struct iovec){bufs[k], HLEN + PLEN};
			}
			mm[k].msg_hdr = (struct msghdr){.msg_name = &dst[s], .msg_namelen = sizeof(dst[s]),
							.msg_iov = &iov[k], .msg_iovlen = 1};
			if (++k == B || s + 20 >= n) {
				int r = sendmmsg(tx_fd, mm, k, 0);
				if (r < (int)k)
					atomic_fetch_add(&tx_err, k - (unsigned)(r > 0 ? r : 0));
				if (in_win && r > 0)
					atomic_fetch_add(&tx_win, (unsigned)r);
				k = 0;
			}
		}
	}
	return NULL;
}

static void *rx_main(void *arg)
{
	enum { B = 64 };
	static uint8_t bufs[B][2048];
	struct mmsghdr mm[B];
	struct iovec iov[B];
	int cpu = *(int *)arg;
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	while (atomic_load(&rx_run)) {
		for (unsigned i = 0; i < B; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
		}
		int n = recvmmsg(rx_fd, mm, B, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
			continue;
		}
		uint32_t lo = atomic_load(&win_lo), hi = atomic_load(&win_hi);
		for (int i = 0; i < n; i++) {
			uint8_t *p = bufs[i];
			int len = (int)mm[i].msg_len;
			if (len < HLEN) {
				atomic_fetch_add(&rx_bad, 1);
				continue;
			}
			uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
			uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
			/* the period this packet was sent in: the latest one with
			 * these low 16 bits (runs are far shorter than 65536 periods) */
			if (lo != UINT32_MAX && (uint32_t)(uint16_t)(seq - (uint16_t)lo) < hi - lo) {
				/* latency: from the send of this packet's 1 ms slot (SSRC - 1
				 * is the stream, or the slot in srtp-rtp) to now; the
				 * receiver polls every 100 us, as bench_relay's does */
				uint32_t slot = (ssrc - 1) % 20;
				uint64_t t0 = atomic_load_explicit(&tick_ns[(seq % 1024) * 20 + slot], memory_order_relaxed);
				uint64_t now = mono_ns(), b = now > t0 ? (now - t0) / 10000 : 0;
				atomic_fetch_add_explicit(&hist[b < HIST ? b : HIST], 1, memory_order_relaxed);
				atomic_fetch_add(&rx_win, 1);
			}
			if (g_mode == M_RTP_SRTP) {
				if (len != HLEN + PLEN + 10) {
					atomic_fetch_add(&rx_bad, 1);
					continue;
				}
				if (seq % 64)
					continue;
				for (unsigned c = 0; c < nchecks; c++) {
					if (checks[c].ssrc != ssrc)
						continue;
					int l = len;
					if (srtp_unprotect(checks[c].ctx, p, &l) != srtp_err_status_ok || l != HLEN + PLEN ||
					    p[HLEN] != 0xd5 || p[HLEN + PLEN - 1] != 0xd5)
						atomic_fetch_add(&rx_bad, 1);
					else
						atomic_fetch_add(&rx_checked, 1);
				}
			} else if (len != HLEN + PLEN || p[HLEN] != 0xd5 || p[HLEN + PLEN - 1] != 0xd5) {
				atomic_fetch_add(&rx_bad, 1);
			}
		}
		atomic_fetch_add(&rx_total, (unsigned)n);
	}
	return NULL;
}

static uint64_t task_cpu_ns(int pid)
{
	char path[64];
	uint64_t total = 0;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char p2[400];
		unsigned long long run = 0;
		snprintf(p2, sizeof(p2), "%s/%s/schedstat", path, e->d_name);
		FILE *f = fopen(p2, "r");
		if (f) {
			if (fscanf(f, "%llu", &run) == 1)
				total += run;
			fclose(f);
		}
	}
	closedir(d);
	return total;
}

/* CPU of the kernel's softirq threads (ksoftirqd/N): packet work the
 * kernel defers there under load is nobody's process time otherwise. */
static int ksoft_pid[64];
static unsigned nksoft;

static void find_ksoftirqd(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL && nksoft < 64) {
		char path[300], comm[64] = "";
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "ksoftirqd/", 10) == 0)
			ksoft_pid[nksoft++] = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
}

static uint64_t ksoft_cpu_ns(void)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < nksoft; i++)
		total += task_cpu_ns(ksoft_pid[i]);
	return total;
}

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

static unsigned pct_us(double q)
{
	uint64_t total = 0, acc = 0;
	for (unsigned i = 0; i <= HIST; i++)
		total += atomic_load(&hist[i]);
	for (unsigned i = 0; i <= HIST; i++) {
		acc += atomic_load(&hist[i]);
		if (total && acc >= (uint64_t)(q * (double)total))
			return i * 10;
	}
	return 0;
}

static void sleep_until_period(uint32_t period)
{
	uint64_t at = t_start_ns + (uint64_t)period * 20000000u;
	struct timespec ts = {.tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u)};
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void run(unsigned n, double seconds)
{
	if (n > ndst) {
		printf("error=only_%u_destinations\n", ndst);
		return;
	}
	atomic_store(&gen_n, n);
	usleep(700000); /* warm up at this load */
	uint32_t now = (uint32_t)((mono_ns() - t_start_ns) / 20000000u);
	uint32_t lo = now + 2, hi = lo + (uint32_t)(seconds * 50);
	atomic_store(&tx_win, 0);
	atomic_store(&rx_win, 0);
	for (unsigned i = 0; i <= HIST; i++)
		atomic_store(&hist[i], 0);
	atomic_store(&win_hi, hi);
	atomic_store(&win_lo, lo);
	uint64_t bad0 = atomic_load(&rx_bad);
	sleep_until_period(lo);
	uint64_t c0 = task_cpu_ns(g_pid), m0 = machine_busy(), t0 = task_cpu_ns(getpid()), k0 = ksoft_cpu_ns();
	sleep_until_period(hi);
	uint64_t c1 = task_cpu_ns(g_pid), m1 = machine_busy(), t1 = task_cpu_ns(getpid()), k1 = ksoft_cpu_ns();
	usleep(300000); /* the window's last packets */
	uint64_t txw = atomic_load(&tx_win), rxw = atomic_load(&rx_win);
	atomic_store(&win_lo, UINT32_MAX);
	/* the packets of the window's periods that arrived, per second of
	 * those periods (a receiver catching up on a backlog cannot inflate it) */
	double wall = (double)(hi - lo) * 0.02, got = (double)rxw;
	double loss = txw ? 1.0 - (double)rxw / (double)txw : 1.0;
	long hz = sysconf(_SC_CLK_TCK);
	printf("n=%u sent=%" PRIu64 " received=%" PRIu64 " loss=%.5f pps=%.0f relay_us=%.3f machine_us=%.3f tool_us=%.3f "
	       "ksoftirq_us=%.3f p50_us=%u p99_us=%u "
	       "checked=%" PRIu64 " bad=%" PRIu64 " send_errors=%" PRIu64 " overrun=%d\n",
	       n, txw, rxw, loss < 0 ? 0 : loss, got / wall, got > 0 ? (double)(c1 - c0) / 1e3 / got : 0,
	       got > 0 ? (double)(m1 - m0) * 1e6 / (double)hz / got : 0, got > 0 ? (double)(t1 - t0) / 1e3 / got : 0,
	       got > 0 ? (double)(k1 - k0) / 1e3 / got : 0, pct_us(0.50), pct_us(0.99),
	       atomic_load(&rx_checked),
	       atomic_load(&rx_bad) - bad0, atomic_load(&tx_err), atomic_load(&gen_overrun));
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
	find_ksoftirqd();
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
				int len = HLEN + PLEN;
				rtp_packet(pre[p][sl], p, sl + 1); /* SSRC = slot + 1 */
				if (srtp_protect(s, pre[p][sl], &len) != srtp_err_status_ok) {
					fprintf(stderr, "rtpload: srtp_protect failed\n");
					return 1;
				}
				pre_len = len;
			}
		}
		srtp_dealloc(s);
	}
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
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

	char line[512];
	pthread_t gt = 0, rt = 0;
	int started = 0;
	while (fgets(line, sizeof(line), stdin)) {
		unsigned port, idx, n;
		double secs;
		char keyhex[128];
		if (sscanf(line, "dst %u", &port) == 1) {
			if (ndst < MAXN && port > 0 && port < 65536 && !started) {
				dst[ndst] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
				inet_pton(AF_INET, "127.0.0.1", &dst[ndst].sin_addr);
				ndst++;
			} else {
				printf("error=dst_refused\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "check %u %127s", &idx, keyhex) == 2) {
			uint8_t k[30];
			if (nchecks < MAXCHECK && !started && hexkey(keyhex, k, sizeof(k)) == 0 &&
			    (checks[nchecks].ctx = srtp_ctx(k, 0)) != NULL) {
				checks[nchecks++].ssrc = idx + 1;
			} else {
				printf("error=check_refused\n");
				fflush(stdout);
			}
		} else if (sscanf(line, "run %u %lf", &n, &secs) == 2 && secs > 0 && secs < 600) {
			if (!started) {
				static int c1;
				c1 = cpu;
				t_start_ns = mono_ns();
				pthread_create(&gt, NULL, gen_main, &c1);
				pthread_create(&rt, NULL, rx_main, &c1);
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
	atomic_store(&gen_run, 0);
	atomic_store(&rx_run, 0);
	if (started) {
		pthread_join(gt, NULL);
		pthread_join(rt, NULL);
	}
	for (unsigned c = 0; c < nchecks; c++)
		srtp_dealloc(checks[c].ctx);
	return 0;
}
