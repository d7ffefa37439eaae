/* bench_xdp — the AF_XDP relay (sbc-media/src/xdp_backend.c) against a plain
 * recvmmsg/sendmmsg UDP relay of the same packets, in network namespaces
 * made here: host A (load generator) -- relay R -- host B (sink), veth
 * pairs, plus a direct A--B veth for the baseline (generator and sink
 * without any relay).
 *
 * For each relay and offered load: packets/s reaching the sink and CPU per
 * relayed packet for the WHOLE machine (/proc/stat: softirq work lands on
 * whatever runs, not only on the relay). "relay us/pkt" subtracts the
 * direct A->B baseline at the same rate, leaving what relaying costs.
 * "ours" counts only the bench's processes (all threads, schedstat) plus
 * the kernel's ksoftirqd threads (no IRQ time accounting here: softirq run
 * in a task's context is in its schedstat), which keeps other work on a
 * shared machine out; "all" is every busy tick of the machine.
 * Figures are the better of two runs (other work on the machine only adds).
 * Rows: plain RTP relay at 50k and 100k pps and at saturation (native XDP,
 * forced generic XDP, native with busy polling + NAPI deferral), then SRTP->RTP
 * (AES_CM_128_HMAC_SHA1_80 unprotected in place through the srtp module,
 * xcrypt.h) at 50k and 100k pps, the generator sending packets protected
 * before the runs.
 * Then the real sbc-media (driven by tests/tools/media/medtool in R: shared
 * segment, one session per stream) on both backends, media.backend
 * "socket" and "xdp", against rtpengine (Debian's rtpengine-daemon in
 * userspace, driven over its ng protocol), same namespaces, same generator
 * and sink: RTP->RTP, SRTP->RTP and RTP->SRTP at 50k and 100k pps, with an
 * idle baseline, the ratios and the targets (compare_rows()).
 *
 * BENCH_XDP_ONLY=compare runs only that last part, BENCH_XDP_ONLY=compare:MODE:PPS
 * one row of it; BENCH_XDP_ONLY=R:PPS[:MODE] one run of one relay (see main()).
 * BENCH_XDP_RUNS: rounds of the comparison (default 3; medians and ranges).
 * Needs root; prints the reason and exits 0 when it cannot run.
 *
 *   bench_xdp [seconds-per-run]     (default 1.5)
 */
#include <errno.h>
#include <stdarg.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "sbc/base64.h"
#include "sbc/log.h"
#include "../../../sbc-media/src/xcrypt.h"
#include "../../../sbc-media/src/xdp_backend.h"
#include "../../tools/compare/taskcpu.h"

#define STREAMS 64        /* sessions: A sends to R port 40000 + 2k */
#define PORT_R 40000
#define PORT_B 5000       /* R sends to B port 5000 + 2k */
#define PAYLOAD 172       /* RTP header + 160 bytes of G.711 */
#define BATCH 64

typedef struct shared {
	_Atomic uint64_t sent, received, relayed;
	_Atomic int stop;
	_Atomic int ready;
	char mode[64];
	uint64_t kicks, polls, batches, rx; /* XDP relay, at exit */
	_Atomic int media_pid; /* sbc-media under medtool, or rtpengine: its CPU counts as ours */
	uint16_t dst_port[STREAMS]; /* set by a relay that picks its own ports (rtpengine) */
	uint64_t k_ring_full, k_fill_empty; /* sbc-media xdp: kernel drops, at exit */
	uint64_t m_rx, m_kicks, m_fill_wakeups, m_batches; /* sbc-media xdp, at exit */
} shared;

static shared *sh;

/* SRTP -> RTP mode: the generator sends pre-protected SRTP (packets made
 * before the run, so its cost does not change), the relays unprotect with
 * one inbound context per stream (the srtp module through xcrypt.h).
 * RTP -> SRTP mode: the generator sends plain RTP, the relays protect with
 * one outbound context per stream (the sink only counts). */
#define SRTP_PKTS 4096 /* per stream: enough for the run at the SRTP rates */
enum { MODE_RTP = 0, MODE_SRTP_RTP = 1, MODE_RTP_SRTP = 2 };
static int srtp_mode; /* MODE_* */
static sbc_srtp_params srtp_key;
static med_xc *rx_ctx[STREAMS];
static med_xc_state rx_state[STREAMS];

static uint8_t *pre;      /* STREAMS * SRTP_PKTS packets of 256 bytes */
static uint16_t *pre_len;

/* Made once before the runs (children inherit them): packet j is stream
 * j % STREAMS, its (j / STREAMS)-th packet. */
static int srtp_prepare(void)
{
	size_t n = (size_t)STREAMS * SRTP_PKTS;
	pre = malloc(n * 256);
	pre_len = malloc(n * sizeof(*pre_len));
	med_xc *tx[STREAMS];
	med_xc_state st[STREAMS];
	memset(st, 0, sizeof(st));
	for (int k = 0; k < STREAMS; k++)
		if (!pre || !pre_len || med_xc_create(&tx[k], &srtp_key, true, &st[k]))
			return -1;
	for (size_t j = 0; j < n; j++) {
		uint8_t *p = pre + j * 256;
		uint32_t i = (uint32_t)(j / STREAMS), ssrc = htonl(0x5bc00000u + (uint32_t)(j % STREAMS));
		uint16_t sq = htons((uint16_t)i);
		uint32_t ts = htonl(160u * i);
		memset(p, 0x55, PAYLOAD);
		p[0] = 0x80;
		p[1] = 0;
		memcpy(p + 2, &sq, 2);
		memcpy(p + 4, &ts, 4);
		memcpy(p + 8, &ssrc, 4);
		int len = PAYLOAD;
		if (med_xc_rtp(tx[j % STREAMS], p, &len, 256))
			return -1;
		pre_len[j] = (uint16_t)len;
	}
	for (int k = 0; k < STREAMS; k++)
		med_xc_destroy(tx[k]);
	return 0;
}

static void srtp_contexts(void)
{
	for (int k = 0; k < STREAMS; k++)
		if (med_xc_create(&rx_ctx[k], &srtp_key, srtp_mode == MODE_RTP_SRTP, &rx_state[k]))
			_exit(3);
}
static char ns_a[32], ns_r[32], ns_b[32], pfx[10];
static int net_n;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sh_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh_run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return rc == 0 ? 0 : -1;
}

static void topo_down(void)
{
	sh_run("ip netns del %s 2>/dev/null", ns_a);
	sh_run("ip netns del %s 2>/dev/null", ns_r);
	sh_run("ip netns del %s 2>/dev/null", ns_b);
}

/* NAPI deferral on R's veths (their NAPI runs when native XDP is attached):
 * NAPI is then driven by a timer (gro_flush_timeout) or by the relay's busy
 * polling (SO_PREFER_BUSY_POLL) instead of by every packet the peer sends.
 * BENCH_XDP_NAPI=<defer>:<gro_flush_timeout ns> sets it for every run; the
 * busy-poll rows set 2:200000 for their own runs (BENCH_XDP_BUSY_NAPI
 * instead when set). */
static void napi_set(int defer, long gft)
{
	for (int i = 0; i < 2; i++)
		if (sh_run("ip netns exec %s sh -c 'echo %d > /sys/class/net/%sr%c/napi_defer_hard_irqs"
			   " && echo %ld > /sys/class/net/%sr%c/gro_flush_timeout'", ns_r, defer, pfx,
			   "ab"[i], gft, pfx, "ab"[i]))
			printf("bench_xdp: NAPI deferral %d:%ld refused on %sr%c\n", defer, gft, pfx,
			       "ab"[i]);
}

static int topo_up(void)
{
	int n = net_n;
	const char *p = pfx;
	if (sh_run("ip netns add %s && ip netns add %s && ip netns add %s", ns_a, ns_r, ns_b))
		return -1;
	const char *nss[3] = { ns_a, ns_r, ns_b };
	for (int i = 0; i < 3; i++)
		sh_run("ip -n %s link set lo up", nss[i]);
	if (sh_run("ip link add %sva netns %s type veth peer name %sra netns %s", p, ns_a, p, ns_r) ||
	    sh_run("ip link add %svb netns %s type veth peer name %srb netns %s", p, ns_b, p, ns_r) ||
	    sh_run("ip link add %sda netns %s type veth peer name %sdb netns %s", p, ns_a, p, ns_b))
		return -1;
	sh_run("ip -n %s addr add 10.%d.1.2/24 dev %sva && ip -n %s link set %sva up", ns_a, n, p, ns_a, p);
	sh_run("ip -n %s addr add 10.%d.1.1/24 dev %sra && ip -n %s link set %sra up", ns_r, n, p, ns_r, p);
	sh_run("ip -n %s addr add 10.%d.2.1/24 dev %srb && ip -n %s link set %srb up", ns_r, n, p, ns_r, p);
	sh_run("ip -n %s addr add 10.%d.2.2/24 dev %svb && ip -n %s link set %svb up", ns_b, n, p, ns_b, p);
	sh_run("ip -n %s addr add 10.%d.3.1/24 dev %sda && ip -n %s link set %sda up", ns_a, n, p, ns_a, p);
	sh_run("ip -n %s addr add 10.%d.3.2/24 dev %sdb && ip -n %s link set %sdb up", ns_b, n, p, ns_b, p);
	const char *napi = getenv("BENCH_XDP_NAPI");
	if (napi && strchr(napi, ':'))
		napi_set(atoi(napi), atol(strchr(napi, ':') + 1));
	/* Hosts know the relay's MAC (and each other's on the direct link). */
	sh_run("ip -n %s neigh replace 10.%d.1.1 lladdr $(ip -n %s -br link show %sra | awk '{print $3}') dev %sva nud permanent",
	       ns_a, n, ns_r, p, p);
	sh_run("ip -n %s neigh replace 10.%d.3.2 lladdr $(ip -n %s -br link show %sdb | awk '{print $3}') dev %sda nud permanent",
	       ns_a, n, ns_b, p, p);
	return 0;
}

static int enter_ns(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		return -1;
	close(fd);
	return 0;
}

static void addr4(struct sockaddr_in *a, const char *ip, int port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &a->sin_addr);
}

static int udp_bound(const char *ip, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int big = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	addr4(&a, ip, port);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* --- roles (each in its own process and namespace) ------------------------- */

/* Sends to dst_ip ports base+2k round-robin at rate pps (0: as fast as it can). */
static int gen_stride = 2; /* sbc-media: 4 ports per session, leg 0 RTP first */

static void role_gen(const char *dst_ip, int base, double rate)
{
	struct sockaddr_in dst[STREAMS];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	static uint8_t buf[BATCH][PAYLOAD];
	char src[32];
	int fd;

	snprintf(src, sizeof(src), "%s", dst_ip);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 8 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	for (int k = 0; k < STREAMS; k++)
		addr4(&dst[k], dst_ip, sh->dst_port[k] ? sh->dst_port[k] :
			   base + (base == PORT_R ? gen_stride : 2) * k);
	memset(mm, 0, sizeof(mm));
	uint64_t seq = 0;
	double t0 = now_s();
	while (!atomic_load(&sh->stop)) {
		if (srtp_mode == MODE_SRTP_RTP && seq + BATCH > (uint64_t)STREAMS * SRTP_PKTS)
			break; /* out of fresh packets (a replay would be dropped) */
		if (rate > 0) {
			/* Paced in 1 ms steps: what is due goes out in batches. */
			double due = (now_s() - t0) * rate;
			if ((double)seq + BATCH > due) {
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
				continue;
			}
		}
		for (int i = 0; i < BATCH; i++) {
			uint64_t j = seq + (uint64_t)i;
			if (srtp_mode == MODE_SRTP_RTP) {
				iov[i].iov_base = pre + j * 256;
				iov[i].iov_len = pre_len[j];
			} else {
				/* A valid RTP header per stream (sequence, timestamp,
				 * SSRC): relays that protect or parse RTP take it. */
				uint16_t sq = htons((uint16_t)(j / STREAMS));
				uint32_t ts = htonl((uint32_t)(160u * (j / STREAMS)));
				uint32_t ssrc = htonl(0x5bc00000u + (uint32_t)(j % STREAMS));
				buf[i][0] = 0x80;
				buf[i][1] = 0;
				memcpy(buf[i] + 2, &sq, 2);
				memcpy(buf[i] + 4, &ts, 4);
				memcpy(buf[i] + 8, &ssrc, 4);
				iov[i].iov_base = buf[i];
				iov[i].iov_len = PAYLOAD;
			}
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &dst[(seq + (uint64_t)i) % STREAMS];
			mm[i].msg_hdr.msg_namelen = sizeof(dst[0]);
		}
		int n = sendmmsg(fd, mm, BATCH, 0);
		if (n > 0) {
			seq += (uint64_t)n;
			atomic_fetch_add(&sh->sent, (uint64_t)n);
		}
	}
	while (!atomic_load(&sh->stop))
		usleep(10000);
	_exit(0);
}

/* Counts what arrives on ports PORT_B + 2k (any address). */
static void role_sink(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	static uint8_t buf[BATCH][2048];

	for (int k = 0; k < STREAMS; k++) {
		int fd = udp_bound("0.0.0.0", PORT_B + 2 * k);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			_exit(1);
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->stop)) {
		struct epoll_event evs[STREAMS];
		int n = epoll_wait(ep, evs, STREAMS, 50);
		for (int e = 0; e < n; e++) {
			int got;
			while ((got = recvmmsg(evs[e].data.fd, mm, BATCH, MSG_DONTWAIT, NULL)) > 0)
				atomic_fetch_add(&sh->received, (uint64_t)got);
		}
	}
	_exit(0);
}

/* The plain socket relay: RTP in on R port 40000+2k, out from 40001+2k to B. */
static void role_sock_relay(void)
{
	char ra[32], rb[32], b[32];
	int in[STREAMS], out[STREAMS];
	struct sockaddr_in to[STREAMS];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	static uint8_t buf[BATCH][2048];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	snprintf(ra, sizeof(ra), "10.%d.1.1", net_n);
	snprintf(rb, sizeof(rb), "10.%d.2.1", net_n);
	snprintf(b, sizeof(b), "10.%d.2.2", net_n);
	for (int k = 0; k < STREAMS; k++) {
		in[k] = udp_bound(ra, PORT_R + 2 * k);
		out[k] = udp_bound(rb, PORT_R + 2 * k + 1);
		addr4(&to[k], b, PORT_B + 2 * k);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)k };
		if (in[k] < 0 || out[k] < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, in[k], &ev))
			_exit(1);
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	if (srtp_mode)
		srtp_contexts();
	snprintf(sh->mode, sizeof(sh->mode), "recvmmsg/sendmmsg");
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->stop)) {
		struct epoll_event evs[STREAMS];
		int n = epoll_wait(ep, evs, STREAMS, 50);
		for (int e = 0; e < n; e++) {
			int k = (int)evs[e].data.u32, got;
			for (;;) {
				for (int i = 0; i < BATCH; i++) {
					iov[i].iov_len = sizeof(buf[i]);
					mm[i].msg_hdr.msg_name = NULL;
					mm[i].msg_hdr.msg_namelen = 0;
				}
				got = recvmmsg(in[k], mm, BATCH, MSG_DONTWAIT, NULL);
				if (got <= 0)
					break;
				int keep = 0;
				for (int i = 0; i < got; i++) {
					int len = (int)mm[i].msg_len;
					if (srtp_mode && med_xc_rtp(rx_ctx[k], buf[i], &len, 2048))
						continue; /* dropped (counted by not arriving) */
					if (keep != i) {
						memcpy(buf[keep], buf[i], (size_t)len);
					}
					iov[keep].iov_len = (size_t)len;
					mm[keep].msg_hdr.msg_name = &to[k];
					mm[keep].msg_hdr.msg_namelen = sizeof(to[k]);
					keep++;
				}
				if (!keep)
					continue;
				int sent = sendmmsg(out[k], mm, (unsigned)keep, 0);
				if (sent > 0)
					atomic_fetch_add(&sh->relayed, (uint64_t)sent);
			}
		}
	}
	_exit(0);
}

static sbc_addr xdp_dst[STREAMS];

static int xdp_cb(void *arg, med_xdp_pkt *p)
{
	(void)arg;
	unsigned port = sbc_addr_port(&p->dst);
	unsigned k = (port - PORT_R) / 2;
	if (port < PORT_R || k >= STREAMS || (port & 1))
		return MED_XDP_DROP;
	p->out_dst = xdp_dst[k];
	p->out_src_port = (uint16_t)(port + 1);
	p->out_len = p->len;
	if (srtp_mode) {
		int len = (int)p->len;
		if (med_xc_rtp(rx_ctx[k], p->payload, &len, (int)p->cap))
			return MED_XDP_DROP;
		p->out_len = (uint32_t)len;
	}
	return MED_XDP_FORWARD;
}

static void role_xdp_relay(int generic)
{
	med_xdp_config cfg;
	med_xdp *x;
	med_xdp_worker *w;
	char why[256], ip[32];

	memset(&cfg, 0, sizeof(cfg));
	cfg.nifs = 2;
	snprintf(cfg.ifs[0].name, sizeof(cfg.ifs[0].name), "%.9sra", pfx);
	snprintf(cfg.ifs[1].name, sizeof(cfg.ifs[1].name), "%.9srb", pfx);
	snprintf(ip, sizeof(ip), "10.%d.1.1", net_n);
	sbc_addr_parse(ip, 0, &cfg.ifs[0].addrs[0]);
	cfg.ifs[0].naddrs = 1;
	snprintf(ip, sizeof(ip), "10.%d.2.1", net_n);
	sbc_addr_parse(ip, 0, &cfg.ifs[1].addrs[0]);
	cfg.ifs[1].naddrs = 1;
	cfg.port_min = PORT_R;
	cfg.port_max = PORT_R + 2 * STREAMS;
	cfg.attach = generic == 1 ? MED_XDP_ATTACH_GENERIC : MED_XDP_ATTACH_AUTO;
	cfg.busy_poll_us = generic == 2 ? 50 : 0;
	snprintf(ip, sizeof(ip), "10.%d.2.2", net_n);
	for (int k = 0; k < STREAMS; k++) {
		sbc_addr_parse(ip, 0, &xdp_dst[k]);
		sbc_addr_set_port(&xdp_dst[k], (uint16_t)(PORT_B + 2 * k));
	}
	if (med_xdp_open(&x, &cfg, why, sizeof(why)) ||
	    med_xdp_worker_create(x, 0, &w, why, sizeof(why))) {
		snprintf(sh->mode, sizeof(sh->mode), "unavailable: %.40s", why);
		atomic_fetch_add(&sh->ready, 1);
		_exit(77);
	}
	med_xdp_worker_resolve(w, &xdp_dst[0], 3000);
	if (srtp_mode)
		srtp_contexts();
	snprintf(sh->mode, sizeof(sh->mode), "%s", med_xdp_worker_mode(w));
	atomic_fetch_add(&sh->ready, 1);
	/* Only the loop: the worker's counters are read once at the end
	 * (med_xdp_worker_stats_get asks the kernel for XDP_STATISTICS, two
	 * system calls, which this loop used to pay on every round). */
	while (!atomic_load(&sh->stop))
		med_xdp_worker_poll(w, xdp_cb, NULL, 50);
	med_xdp_worker_stats st;
	med_xdp_worker_stats_get(w, &st);
	sh->kicks = st.tx_kicks;
	sh->polls = st.polls;
	sh->batches = st.batches;
	sh->rx = st.rx_packets;
	med_xdp_worker_destroy(w);
	med_xdp_close(x);
	_exit(0);
}

/* --- the real sbc-media, under medtool ----------------------------------- */

static char build_dir[512]; /* <build>: this binary is <build>/bench/bench_xdp */

static int mt_cmd(FILE *to, FILE *from, char *reply, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int mt_cmd(FILE *to, FILE *from, char *reply, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(to, fmt, ap);
	va_end(ap);
	fputc('\n', to);
	fflush(to);
	if (!fgets(reply, (int)len, from))
		return -1;
	return 0;
}

/* In R: medtool plays sbc-control + sbc-signal, starts sbc-media with
 * media.backend `backend` and one session per stream (leg 0 from A on port
 * PORT_R + 4k, leg 1 to B port PORT_B + 2k): plain, SRTP->RTP or RTP->SRTP. */
static void role_media(int xdp)
{
	char rt[128], reply[4096], line[1024], key[61];
	int in[2], out[2];
	snprintf(sh->mode, sizeof(sh->mode), "unavailable: sbc-media did not start");
	snprintf(rt, sizeof(rt), "/tmp/bench_xdp.%d.runtime.json", (int)getpid());
	FILE *f = fopen(rt, "w");
	if (!f)
		_exit(1);
	fprintf(f, "{\"log_level\":\"warn\",\"media\":{\"workers\":1,\"address\":\"10.%d.1.1\","
		   "\"port_min\":%d,\"port_max\":%d,\"backend\":\"%s\","
		   "\"xdp_interfaces\":[\"%sra\",\"%srb\"]}}\n",
		net_n, PORT_R, PORT_R + 4 * STREAMS - 1, xdp ? "xdp" : "socket", pfx, pfx);
	fclose(f);
	if (pipe(in) || pipe(out))
		_exit(1);
	pid_t mt = fork();
	if (mt == 0) {
		char bin[600];
		dup2(in[0], 0);
		dup2(out[1], 1);
		int nul = open("/dev/null", O_WRONLY);
		if (!getenv("BENCH_XDP_VERBOSE") && nul >= 0)
			dup2(nul, 2);
		snprintf(bin, sizeof(bin), "%s/tools/medtool", build_dir);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	FILE *to = fdopen(in[1], "w"), *from = fdopen(out[0], "r");
	for (int i = 0; i < 30; i++)
		snprintf(key + 2 * i, 3, "%02x", srtp_key.key[i]);
	if (mt_cmd(to, from, reply, sizeof(reply), "seg /sbc-bx%d 1 1 %d", (int)getpid(), STREAMS) ||
	    mt_cmd(to, from, reply, sizeof(reply), "spawn %s/sbc-media %s", build_dir, rt))
		goto Out;
	int pid = strstr(reply, "\"pid\"") ? atoi(strchr(reply, ':') + 1) : 0;
	if (pid <= 0)
		goto Out;
	if (mt_cmd(to, from, reply, sizeof(reply), "stats 0"))
		goto Out;
	/* leg 0 takes SRTP in (SRTP->RTP), leg 1 gives SRTP out (RTP->SRTP) */
	char in_p[100] = "{\"suite\":0}", out_p[100] = "{\"suite\":0}";
	if (srtp_mode == MODE_SRTP_RTP)
		snprintf(in_p, sizeof(in_p), "{\"suite\":1,\"key\":\"%s\"}", key);
	if (srtp_mode == MODE_RTP_SRTP)
		snprintf(out_p, sizeof(out_p), "{\"suite\":1,\"key\":\"%s\"}", key);
	for (int k = 0; k < STREAMS; k++) {
		snprintf(line, sizeof(line),
			 "create {\"id\":%d,\"worker\":0,\"legs\":["
			 "{\"remote\":\"10.%d.1.2:9\",\"latch\":0,\"rx\":%s,\"tx\":{\"suite\":0}},"
			 "{\"remote\":\"10.%d.2.2:%d\",\"latch\":0,\"rx\":{\"suite\":0},\"tx\":%s}]}",
			 k + 1, net_n, in_p, net_n, PORT_B + 2 * k, out_p);
		if (mt_cmd(to, from, reply, sizeof(reply), "%s", line) || !strstr(reply, "\"status\":0")) {
			snprintf(sh->mode, sizeof(sh->mode), "unavailable: session not created");
			goto Out;
		}
	}
	if (mt_cmd(to, from, reply, sizeof(reply), "stats 0"))
		goto Out;
	{
		char *b = strstr(reply, "\"backend\":\""), *m = strstr(reply, "\"xdp_mode\":\"");
		char bk[16] = "?", md[32] = "";
		if (b)
			sscanf(b + 11, "%15[^\"]", bk);
		if (m)
			sscanf(m + 12, "%31[^\"]", md);
		if (xdp && strcmp(bk, "xdp") != 0) {
			snprintf(sh->mode, sizeof(sh->mode), "unavailable: sbc-media fell back to sockets");
			goto Out;
		}
		snprintf(sh->mode, sizeof(sh->mode), "sbc-media %s%s%s", bk, md[0] ? " " : "", md);
	}
	atomic_store(&sh->media_pid, pid);
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->stop))
		usleep(10000);
	/* What the kernel dropped before the AF_XDP RX ring (media.stats
	 * "xdp"."kernel"): says whether a loss was the worker falling behind. */
	if (xdp && mt_cmd(to, from, reply, sizeof(reply), "stats 0") == 0) {
		char *k = strstr(reply, "\"rx_ring_full\":"), *kf = strstr(reply, "\"kernel\":{");
		sh->k_ring_full = k ? strtoull(k + 15, NULL, 10) : 0;
		kf = kf ? strstr(kf, "\"fill_empty\":") : NULL;
		sh->k_fill_empty = kf ? strtoull(kf + 13, NULL, 10) : 0;
		/* the worker loop's own figures (whole run, warm-up included) */
		static const char *const keys[4] = { "\"rx\":", "\"tx_kicks\":",
						     "\"fill_wakeups\":", "\"batches\":" };
		uint64_t *vals[4] = { &sh->m_rx, &sh->m_kicks, &sh->m_fill_wakeups, &sh->m_batches };
		for (int i = 0; i < 4; i++) {
			char *v = strstr(reply, keys[i]);
			*vals[i] = v ? strtoull(v + strlen(keys[i]), NULL, 10) : 0;
		}
	}
Out:
	atomic_store(&sh->media_pid, 0);
	mt_cmd(to, from, reply, sizeof(reply), "term");
	fprintf(to, "quit\n");
	fflush(to);
	waitpid(mt, NULL, 0);
	unlink(rt);
	if (strncmp(sh->mode, "unavailable", 11) == 0)
		atomic_fetch_add(&sh->ready, 1); /* do not keep the runner waiting */
	_exit(0);
}

/* --- rtpengine in userspace, driven over its ng protocol ------------------ */

/* rtpengine (Debian's rtpengine-daemon) in R with the kernel module off
 * (--table=-1: every packet goes through its userspace worker), one thread,
 * bound to R's address on the A side; it sends to B through R's routing, as
 * the socket backend does. Sessions come from its ng protocol (bencoded
 * dictionaries over UDP on R's loopback): "offer" from the caller (A, SRTP
 * with a=crypto in SRTP->RTP mode) and "answer" from the callee (B, SRTP in
 * RTP->SRTP mode), transport-protocol set so that rtpengine transcrypts. The
 * port it answers for the caller is where the generator sends (dst_port). */
#define RTPENGINE "/usr/bin/rtpengine"
#define NG_MAX 8192

/* Appends "<len>:<s>" for each string given (keys and values alike). */
static void benc(char *b, size_t *n, size_t cap, int count, ...)
{
	va_list ap;
	va_start(ap, count);
	for (int i = 0; i < count; i++) {
		const char *s = va_arg(ap, const char *);
		int w = *n < cap ? snprintf(b + *n, cap - *n, "%zu:%s", strlen(s), s) : -1;
		*n = w >= 0 && (size_t)w < cap - *n ? *n + (size_t)w : cap;
	}
	va_end(ap);
}

/* A string at b[i]: its text and length; returns the index after it, -1 if
 * malformed (the reply is rtpengine's, but checked all the same). */
static long bstr(const char *b, size_t n, size_t i, const char **s, size_t *l)
{
	size_t len = 0, d = 0;
	while (i < n && b[i] >= '0' && b[i] <= '9' && d++ < 9)
		len = len * 10 + (size_t)(b[i++] - '0');
	if (!d || i >= n || b[i] != ':' || len > n - i - 1)
		return -1;
	*s = b + i + 1;
	*l = len;
	return (long)(i + 1 + len);
}

/* Skips the value at b[i]; returns the index after it or -1. */
static long bskip(const char *b, size_t n, size_t i, int depth)
{
	const char *s;
	size_t l;
	if (i >= n || depth > 16)
		return -1;
	if (b[i] == 'i') {
		const char *e = memchr(b + i, 'e', n - i);
		return e ? (long)(e - b) + 1 : -1;
	}
	if (b[i] == 'l' || b[i] == 'd') {
		for (i++; i < n && b[i] != 'e';) {
			long j = bskip(b, n, i, depth + 1);
			if (j < 0)
				return -1;
			i = (size_t)j;
		}
		return i < n ? (long)i + 1 : -1;
	}
	return bstr(b, n, i, &s, &l);
}

/* The string value of key in the top-level dictionary, NUL-terminated in out. */
static int bget(const char *b, size_t n, const char *key, char *out, size_t cap)
{
	size_t i = 1;
	if (!n || b[0] != 'd')
		return -1;
	while (i < n && b[i] != 'e') {
		const char *k, *v;
		size_t kl, vl;
		long j = bstr(b, n, i, &k, &kl);
		if (j < 0)
			return -1;
		if (kl == strlen(key) && memcmp(k, key, kl) == 0 && bstr(b, n, (size_t)j, &v, &vl) > 0) {
			if (vl >= cap)
				return -1;
			memcpy(out, v, vl);
			out[vl] = 0;
			return 0;
		}
		j = bskip(b, n, (size_t)j, 0);
		if (j < 0)
			return -1;
		i = (size_t)j;
	}
	return -1;
}

/* One ng command (req: a bencoded dictionary); the reply's dictionary in
 * resp. Returns its length or -1 (no reply within the socket's timeout). */
static int ng_call(int fd, const char *req, size_t reqlen, char *resp, size_t cap)
{
	static unsigned cookie;
	char msg[NG_MAX + 32], ck[24], in[NG_MAX + 32];
	int cl = snprintf(ck, sizeof(ck), "bx%u ", ++cookie);
	if (reqlen > NG_MAX)
		return -1;
	memcpy(msg, ck, (size_t)cl);
	memcpy(msg + cl, req, reqlen);
	if (send(fd, msg, (size_t)cl + reqlen, 0) < 0)
		return -1;
	for (;;) {
		ssize_t got = recv(fd, in, sizeof(in), 0);
		if (got < 0)
			return -1;
		if (got < cl || memcmp(in, ck, (size_t)cl) != 0)
			continue; /* a late reply to an earlier command */
		if ((size_t)(got - cl) > cap)
			return -1;
		memcpy(resp, in + cl, (size_t)(got - cl));
		return (int)(got - cl);
	}
}

static void rtpe_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rtpe_fail(const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(sh->mode, sizeof(sh->mode), "unavailable: rtpengine: ");
	va_start(ap, fmt);
	vsnprintf(sh->mode + n, sizeof(sh->mode) - (size_t)n, fmt, ap);
	va_end(ap);
}

static int sdp_port(const char *sdp)
{
	const char *m = strstr(sdp, "m=audio ");
	return m ? atoi(m + 8) : 0;
}

static void role_rtpengine(void)
{
	char log[128], pidf[128], ngarg[64], ifarg[64], pmin[32], pmax[32];
	char req[NG_MAX], resp[NG_MAX], sdp[1024], out[NG_MAX], key64[64], cid[32];
	pid_t pid = 0;
	int fd = -1;

	if (access(RTPENGINE, X_OK) != 0) {
		rtpe_fail("%s not installed (Debian rtpengine-daemon)", RTPENGINE);
		goto Out;
	}
	/* A free port for ng on R's loopback (the namespace is ours alone). */
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	addr4(&a, "127.0.0.1", 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		rtpe_fail("no ng port");
		goto Out;
	}
	int ngport = ntohs(a.sin_port);
	close(fd);
	snprintf(log, sizeof(log), "/tmp/bench_xdp.%d.rtpengine.log", (int)getpid());
	snprintf(pidf, sizeof(pidf), "/tmp/bench_xdp.%d.rtpengine.pid", (int)getpid());
	snprintf(ngarg, sizeof(ngarg), "--listen-ng=127.0.0.1:%d", ngport);
	snprintf(ifarg, sizeof(ifarg), "--interface=10.%d.1.1", net_n);
	snprintf(pmin, sizeof(pmin), "--port-min=%d", PORT_R);
	snprintf(pmax, sizeof(pmax), "--port-max=%d", PORT_R + 4 * STREAMS + 63);
	pid = fork();
	if (pid == 0) {
		char pf[160];
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (lf >= 0) {
			dup2(lf, 1);
			dup2(lf, 2);
		}
		snprintf(pf, sizeof(pf), "--pidfile=%s", pidf);
		execl(RTPENGINE, RTPENGINE, "--config-file=none", "--foreground", "--log-stderr",
		      "--table=-1", ifarg, ngarg, pmin, pmax, "--num-threads=1", "--log-level=3",
		      "--timeout=600", "--delete-delay=0", pf, (char *)NULL);
		_exit(127);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 0, 200000 };
	addr4(&a, "127.0.0.1", ngport);
	if (pid < 0 || fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		rtpe_fail("cannot start");
		goto Out;
	}
	int up = 0;
	for (int i = 0; i < 50 && !up; i++) {
		size_t n = 0;
		req[n++] = 'd';
		benc(req, &n, sizeof(req) - 1, 2, "command", "ping");
		req[n++] = 'e';
		int rl = ng_call(fd, req, n, resp, sizeof(resp));
		up = rl > 0 && bget(resp, (size_t)rl, "result", out, sizeof(out)) == 0 &&
		     strcmp(out, "pong") == 0;
		if (!up && waitpid(pid, NULL, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		if (!up)
			usleep(100000); /* not listening yet: ECONNREFUSED comes at once */
	}
	if (!up) {
		rtpe_fail("no answer to ping (see %s)", log);
		goto Out;
	}
	sbc_base64_encode(srtp_key.key, 30, key64, sizeof(key64));
	for (int k = 0; k < STREAMS; k++) {
		/* offer, from A: SRTP with our key in SRTP->RTP mode */
		snprintf(cid, sizeof(cid), "bx-%d", k);
		snprintf(sdp, sizeof(sdp),
			 "v=0\r\no=- 1 1 IN IP4 10.%d.1.2\r\ns=-\r\nc=IN IP4 10.%d.1.2\r\nt=0 0\r\n"
			 "m=audio 7000 RTP/%s 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n%s%s%s",
			 net_n, net_n, srtp_mode == MODE_SRTP_RTP ? "SAVP" : "AVP",
			 srtp_mode == MODE_SRTP_RTP ? "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" : "",
			 srtp_mode == MODE_SRTP_RTP ? key64 : "", srtp_mode == MODE_SRTP_RTP ? "\r\n" : "");
		size_t n = 0;
		req[n++] = 'd';
		benc(req, &n, sizeof(req) - 1, 10, "command", "offer", "call-id", cid, "from-tag",
		     "caller", "sdp", sdp, "transport-protocol",
		     srtp_mode == MODE_RTP_SRTP ? "RTP/SAVP" : "RTP/AVP");
		req[n++] = 'e';
		int rl = ng_call(fd, req, n, resp, sizeof(resp));
		if (rl <= 0 || bget(resp, (size_t)rl, "result", out, sizeof(out)) || strcmp(out, "ok") ||
		    bget(resp, (size_t)rl, "sdp", out, sizeof(out))) {
			rtpe_fail("offer %d refused", k);
			goto Out;
		}
		/* answer, from B: SRTP in RTP->SRTP mode with the tag of the
		 * suite rtpengine offered (its key protects what B gets) */
		int tag = 1;
		if (srtp_mode == MODE_RTP_SRTP) {
			const char *c = strstr(out, " AES_CM_128_HMAC_SHA1_80 inline:");
			const char *l = c;
			while (l && l > out && l[-1] != '\n')
				l--;
			if (!c || sscanf(l, "a=crypto:%d", &tag) != 1) {
				rtpe_fail("offered no AES_CM_128_HMAC_SHA1_80");
				goto Out;
			}
		}
		snprintf(sdp, sizeof(sdp),
			 "v=0\r\no=- 1 1 IN IP4 10.%d.2.2\r\ns=-\r\nc=IN IP4 10.%d.2.2\r\nt=0 0\r\n"
			 "m=audio %d RTP/%s 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
			 net_n, net_n, PORT_B + 2 * k, srtp_mode == MODE_RTP_SRTP ? "SAVP" : "AVP");
		if (srtp_mode == MODE_RTP_SRTP) {
			size_t sl = strlen(sdp);
			snprintf(sdp + sl, sizeof(sdp) - sl,
				 "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", tag, key64);
		}
		n = 0;
		req[n++] = 'd';
		benc(req, &n, sizeof(req) - 1, 10, "command", "answer", "call-id", cid, "from-tag",
		     "caller", "to-tag", "callee", "sdp", sdp);
		req[n++] = 'e';
		rl = ng_call(fd, req, n, resp, sizeof(resp));
		if (rl <= 0 || bget(resp, (size_t)rl, "result", out, sizeof(out)) || strcmp(out, "ok") ||
		    bget(resp, (size_t)rl, "sdp", out, sizeof(out)) || sdp_port(out) <= 0) {
			rtpe_fail("answer %d refused", k);
			goto Out;
		}
		if (srtp_mode == MODE_SRTP_RTP && !strstr(out, "RTP/SAVP")) {
			rtpe_fail("answered the SRTP caller without SRTP");
			goto Out;
		}
		sh->dst_port[k] = (uint16_t)sdp_port(out);
	}
	snprintf(sh->mode, sizeof(sh->mode), "rtpengine userspace, 1 thread");
	atomic_store(&sh->media_pid, pid);
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->stop))
		usleep(10000);
Out:
	atomic_store(&sh->media_pid, 0);
	if (fd >= 0)
		close(fd);
	if (pid > 0) {
		int reaped = 0;
		kill(pid, SIGTERM);
		for (int i = 0; i < 300 && !reaped; i++) {
			reaped = waitpid(pid, NULL, WNOHANG) == pid;
			if (!reaped)
				usleep(10000);
		}
		if (!reaped) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	if (strncmp(sh->mode, "unavailable", 11) == 0)
		atomic_fetch_add(&sh->ready, 1); /* do not keep the runner waiting */
	else if (!getenv("BENCH_XDP_VERBOSE"))
		unlink(log);
	unlink(pidf);
	_exit(0);
}

/* --- measurement ----------------------------------------------------------- */

/* Busy CPU of the whole machine, in clock ticks (USER_HZ), since an
 * arbitrary origin: every CPU's elapsed time minus its idle, iowait and
 * steal. Not the sum of the user/system/softirq columns: those are sampled
 * at the tick (a relay that runs in bursts between ticks is under- or
 * over-counted), while idle and iowait are measured exactly on a tickless
 * kernel; steal is time the hypervisor gave to someone else, not ours. */
static double cpu_busy_ticks(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[8] = { 0 };
	static long ncpu;
	if (!f)
		return 0;
	if (!ncpu)
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		v[3] = v[4] = v[7] = 0;
	fclose(f);
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	double elapsed = ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9) * (double)sysconf(_SC_CLK_TCK);
	return elapsed * (double)ncpu - (double)(v[3] + v[4] + v[7]);
}

/* user+system ticks of a process. */
static uint64_t proc_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

/* CPU time of every thread of a process in microseconds (schedstat: ns
 * precision, where /proc/<pid>/stat counts 10 ms ticks). Falls back to the
 * ticks when schedstat is not there. */
static double proc_us_slices(pid_t pid, uint64_t *slices)
{
	uint64_t ns = taskcpu_ns_slices(pid, slices);
	return ns ? (double)ns / 1000.0 : (double)proc_ticks(pid) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double proc_us(pid_t pid)
{
	return proc_us_slices(pid, NULL);
}

/* CPU of the kernel's ksoftirqd threads in microseconds (see taskcpu.h for
 * why they count). */
static taskcpu_ksoftirqd g_ksoft;

static double ksoftirqd_us(void)
{
	return (double)taskcpu_ksoftirqd_ns(&g_ksoft) / 1000.0;
}

static pid_t spawn(const char *ns, int role, double rate, const char *dst, int generic)
{
	pid_t pid = fork();
	if (pid)
		return pid;
	if (enter_ns(ns))
		_exit(1);
	switch (role) {
	case 0: role_gen(dst, dst[strlen(dst) - 1] == '1' ? PORT_R : PORT_B, rate); break;
	case 1: role_sink(); break;
	case 2: role_sock_relay(); break;
	case 4: role_media(generic); break; /* generic: 0 socket, 1 xdp backend */
	case 5: role_rtpengine(); break;
	default: role_xdp_relay(generic); break; /* 1: generic, 2: busy poll */
	}
	_exit(0);
}

/* Busy ticks per second of the machine with nothing of ours running,
 * measured in the same run (compare_rows): others' work on shared cores. */
static double idle_tps;
static double per_run_idle; /* >0: seconds of idle baseline before each run */

static double idle_rate(double secs)
{
	double c0 = cpu_busy_ticks();
	double t0 = now_s();
	usleep((useconds_t)(secs * 1e6));
	return (cpu_busy_ticks() - c0) / (now_s() - t0);
}

typedef struct result {
	double pps;      /* reaching the sink */
	double us_pkt;   /* whole machine */
	double us_ours;  /* our processes + the ksoftirqd threads (schedstat) */
	double us_proc;  /* the relay's own process (all threads) */
	double proc_pct; /* the same in % of a core (idle: should be ~0) */
	double wakes;    /* the relay's threads put on a CPU per relayed packet
			  * (schedstat: wake-ups + preemptions) */
	uint64_t k_ring_full, k_fill_empty; /* sbc-media xdp: kernel drops before the RX ring */
	double us_net;   /* whole machine minus the idle baseline (idle_tps, or
			  * the run's own idle_run) */
	double idle_run; /* busy ticks/s of the machine just before this run */
	double offered;
	char mode[64];
	int ok;
} result;

/* relay: 0 none (direct A->B), 1 socket, 2 xdp, 3 xdp generic, 4 xdp busy poll,
 * 5 sbc-media socket backend, 6 sbc-media xdp backend, 7 rtpengine. */
static result run_once(int relay, double rate, double secs)
{
	result r = { 0 };
	char dst[32];
	pid_t pids[3];
	int np = 0;

	memset(sh, 0, sizeof(*sh));
	/* Other work on a shared machine comes and goes within a section:
	 * the whole-machine baseline is taken just before each run. */
	r.idle_run = per_run_idle ? idle_rate(per_run_idle) : idle_tps;
	if (relay == 4) {
		/* BENCH_XDP_BUSY_NAPI=<defer>:<ns>: the busy-poll row's deferral
		 * (0:0 measures busy polling alone) */
		const char *bn = getenv("BENCH_XDP_BUSY_NAPI");
		if (bn && strchr(bn, ':'))
			napi_set(atoi(bn), atol(strchr(bn, ':') + 1));
		else
			napi_set(2, 200000);
	}
	pids[np++] = spawn(ns_b, 1, 0, NULL, 0);
	gen_stride = relay >= 5 ? 4 : 2;
	if (relay == 7)
		pids[np++] = spawn(ns_r, 5, 0, NULL, 0);
	else if (relay >= 5)
		pids[np++] = spawn(ns_r, 4, 0, NULL, relay - 5);
	else if (relay)
		pids[np++] = spawn(ns_r, relay == 1 ? 2 : 3, 0, NULL, relay >= 3 ? relay - 2 : 0);
	double t0 = now_s();
	while (atomic_load(&sh->ready) < np && now_s() - t0 < 10)
		usleep(10000);
	snprintf(r.mode, sizeof(r.mode), "%s", relay ? sh->mode : "direct");
	if (strncmp(sh->mode, "unavailable", 11) == 0)
		goto Stop;
	if (relay)
		snprintf(dst, sizeof(dst), "10.%d.1.1", net_n);
	else
		snprintf(dst, sizeof(dst), "10.%d.3.2", net_n);
	pids[np++] = spawn(ns_a, 0, rate, dst, 0);
	usleep(500000); /* warm-up */
	pid_t media = (pid_t)atomic_load(&sh->media_pid);
	long hz = sysconf(_SC_CLK_TCK);
	pid_t rp = media > 0 ? media : relay ? pids[1] : 0; /* the relay's own process */
	uint64_t sl0 = 0, sl1 = 0;
	double rp0 = rp > 0 ? proc_us_slices(rp, &sl0) : 0;
	double o0 = (media > 0 ? proc_us(media) : 0) + ksoftirqd_us();
	for (int i = 0; i < np; i++)
		o0 += proc_us(pids[i]);
	double c0 = cpu_busy_ticks();
	uint64_t s0 = atomic_load(&sh->sent), g0 = atomic_load(&sh->received);
	double m0 = now_s();
	usleep((useconds_t)(secs * 1e6));
	double c1 = cpu_busy_ticks();
	uint64_t s1 = atomic_load(&sh->sent), g1 = atomic_load(&sh->received);
	double m1 = now_s();
	double rp1 = rp > 0 ? proc_us_slices(rp, &sl1) : 0;
	double o1 = (media > 0 ? proc_us(media) : 0) + ksoftirqd_us();
	for (int i = 0; i < np; i++)
		o1 += proc_us(pids[i]);
	r.offered = (double)(s1 - s0) / (m1 - m0);
	r.pps = (double)(g1 - g0) / (m1 - m0);
	r.us_pkt = g1 > g0 ? (c1 - c0) * 1e6 / (double)hz / (double)(g1 - g0) : 0;
	r.us_ours = g1 > g0 ? (o1 - o0) / (double)(g1 - g0) : 0;
	r.us_proc = g1 > g0 ? (rp1 - rp0) / (double)(g1 - g0) : 0;
	r.proc_pct = (rp1 - rp0) / 1e4 / (m1 - m0);
	r.wakes = g1 > g0 ? (double)(sl1 - sl0) / (double)(g1 - g0) : 0;
	r.us_net = g1 > g0 ? ((c1 - c0) - r.idle_run * (m1 - m0)) * 1e6 / (double)hz /
				     (double)(g1 - g0) : 0;
	/* A relay that passed nothing on (it died, or never got a CPU) has no
	 * per-packet figure: reported as such, kept out of the ratios. */
	if (g1 > g0)
		r.ok = 1;
	else
		snprintf(r.mode, sizeof(r.mode), "%.30s: relayed nothing", relay ? sh->mode : "direct");
Stop:
	atomic_store(&sh->stop, 1);
	for (int i = 0; i < np; i++)
		waitpid(pids[i], NULL, 0);
	if (relay == 4)
		napi_set(0, 0);
	r.k_ring_full = sh->k_ring_full;
	r.k_fill_empty = sh->k_fill_empty;
	if (sh->rx && getenv("BENCH_XDP_VERBOSE"))
		printf("    [xdp relay: %.3f kicks/pkt, %.3f sleeps/pkt, %.1f pkts/batch]\n",
		       (double)sh->kicks / (double)sh->rx, (double)sh->polls / (double)sh->rx,
		       (double)sh->rx / (double)(sh->batches ? sh->batches : 1));
	return r;
}

/* Runs per row: BENCH_XDP_RUNS (default 2, at most 5). */
static int bench_runs(void)
{
	const char *e = getenv("BENCH_XDP_RUNS");
	int runs = e ? atoi(e) : 2;
	return runs < 1 ? 1 : runs > 5 ? 5 : runs;
}

/* Keeps the better of *best and again: other work on a shared machine only
 * adds CPU, so the lowest figure is the closest to the relay's own. */
static void keep_best(result *best, const result *again, double rate)
{
	double net = again->ok && again->us_net < best->us_net ? again->us_net : best->us_net;
	int close = best->ok && again->ok && again->pps >= best->pps * 0.98 &&
		    best->pps >= again->pps * 0.98;
	if (!best->ok ||
	    (again->ok && again->us_ours < best->us_ours && again->pps >= best->pps * 0.98))
		*best = *again;
	/* Each CPU column is the better of the runs: other work does not add
	 * to the same run for the whole machine (/proc/stat) and for our own
	 * processes (schedstat). */
	if (close)
		best->us_net = net;
	if (again->ok && again->pps > best->pps * 1.02 && rate <= 0)
		*best = *again;
}

static result run_best(int relay, double rate, double secs)
{
	result best = run_once(relay, rate, secs);
	for (int i = 1; i < bench_runs(); i++) {
		result again = run_once(relay, rate, secs);
		keep_best(&best, &again, rate);
	}
	return best;
}

/* Packets per CPU-second of x over y, from their CPU per packet. */
static double per_cpu(double x_us, double y_us)
{
	/* under 0.1 us a relay's figure is the noise of other work (a
	 * whole-machine difference near zero), not its cost: no ratio */
	return x_us >= 0.1 && y_us > 0 ? y_us / x_us : 0;
}

/* Median of n values (n <= 8), sorted in place. */
static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n <= 0 ? 0 : n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Rounds of the comparison: BENCH_XDP_RUNS (default 3, at most 8). */
#define MAX_ROUNDS 8
static int compare_rounds(void)
{
	const char *e = getenv("BENCH_XDP_RUNS");
	int runs = e ? atoi(e) : 3;
	return runs < 1 ? 1 : runs > MAX_ROUNDS ? MAX_ROUNDS : runs;
}

/* The real sbc-media on both backends and rtpengine, one mode at one rate,
 * same namespaces, same generator and sink, with an idle baseline and a
 * direct A->B baseline measured just before. Ways to count CPU per
 * relayed packet:
 *   machine-idle   whole machine (/proc/stat) minus the idle baseline:
 *                  relay + generator + sink + softirq wherever it lands
 *                  (+ whatever else changed on the machine meanwhile);
 *   relay:machine  machine-idle minus the direct run's: what relaying adds
 *                  to the whole machine;
 *   ours           the bench's processes (all threads, schedstat) plus the
 *                  ksoftirqd threads;
 *   relay:ours     ours minus the direct run's (the targets are judged on it);
 *   relay:proc     the relay's own process (sbc-media, rtpengine) alone;
 *   wake/kpkt      times the relay's threads were put on a CPU per 1000
 *                  relayed packets (schedstat): how often it slept.
 * Fairness on a shared, noisy machine (the ratio swung 1.37-2.45x between
 * runs when each column was the best of two): the four relays run in turn,
 * one round after the other (direct, socket, xdp, rtpengine, direct, ...),
 * BENCH_XDP_RUNS rounds (default 3). Each ratio is taken WITHIN a round
 * (the two relays ran seconds apart, against the direct run of the same
 * round) and the rows report the median over the rounds with the range;
 * the table's CPU columns are medians too. The idle baseline (0.5 s before
 * each run) is printed as its range: how much other work moved under the
 * whole-machine columns.
 * Returns 1 when a target is not met (SRTP modes only; the plain row has no
 * target), 0 otherwise. */
static int compare_rows(const char *what, double rate, double secs, int targets)
{
	static const char *const acct[5] = { "machine-idle", "relay:machine", "ours",
					     "relay:ours", "relay process" };
	char bin[600];
	int miss = 0;

	snprintf(bin, sizeof(bin), "%s/tools/medtool", build_dir);
	if (access(bin, X_OK) != 0) {
		printf("\n%s rows skipped: %s not built\n", what, bin);
		return 0;
	}
	static const int relays[4] = { 0, 5, 6, 7 };
	static result rr[MAX_ROUNDS][4];
	int rounds = compare_rounds();
	per_run_idle = 0.5;
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < 4; i++)
			rr[k][i] = run_once(relays[i], rate, secs);
	per_run_idle = 0;

	double hz = (double)sysconf(_SC_CLK_TCK), idle_lo = 1e9, idle_hi = 0;
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < 4; i++) {
			double pct = rr[k][i].idle_run * 100.0 / hz;
			idle_lo = pct < idle_lo ? pct : idle_lo;
			idle_hi = pct > idle_hi ? pct : idle_hi;
		}
	/* The whole-machine columns of a run mean something only when the
	 * machine was quiet just before it: a ratio of machine columns is
	 * taken from the rounds whose direct, xdp and other run all had an
	 * idle baseline under QUIET_PCT of a core, so a partly loaded session
	 * still judges the whole machine on its quiet rounds. */
#define QUIET_PCT 25.0
	int quiet[MAX_ROUNDS][4];
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < 4; i++)
			quiet[k][i] = rr[k][i].idle_run * 100.0 / hz < QUIET_PCT;
	printf("\n%s, offered %.0f pps, %d rounds of %.1f s (idle baseline before each run: "
	       "%.0f-%.0f%% of one core busy with other work%s):\n", what, rate, rounds, secs,
	       idle_lo, idle_hi, idle_hi >= QUIET_PCT ? "; whole-machine figures from the quiet rounds "
	       "only" : "");
	printf("  (machine columns: medians of the rounds with idle baselines under %.0f%% of a "
	       "core, of all rounds when none was)\n", QUIET_PCT);
	printf("  %-34s %9s %9s %13s %13s %11s %11s %9s %9s\n", "path (medians over the rounds)",
	       "sent/s", "relayed/s", "us/pkt:mach-i", "relay:machine", "us/pkt:ours",
	       "relay:ours", "relay:proc", "wake/kpkt");
	/* per round and relay the five CPU columns; a round whose direct run
	 * failed has no relay:* figures */
	double v[MAX_ROUNDS][4][5];
	int ok[MAX_ROUNDS][4];
	for (int k = 0; k < rounds; k++)
		for (int i = 0; i < 4; i++) {
			const result *r = &rr[k][i], *d = &rr[k][0];
			ok[k][i] = r->ok && d->ok;
			v[k][i][0] = r->us_net;
			v[k][i][1] = r->us_net - d->us_net;
			v[k][i][2] = r->us_ours;
			v[k][i][3] = r->us_ours - d->us_ours;
			v[k][i][4] = r->us_proc;
		}
	result med[4]; /* medians, for the table and the loss tests */
	for (int i = 0; i < 4; i++) {
		double a[MAX_ROUNDS], col[5], wk, off, pps;
		int n = 0;
		const result *any = NULL;
		for (int k = 0; k < rounds; k++)
			if (ok[k][i])
				any = &rr[k][i];
		memset(&med[i], 0, sizeof(med[i]));
		if (!any) {
			printf("  %s\n", rr[rounds - 1][i].mode);
			continue;
		}
		for (int c = 0; c < 5; c++) {
			/* whole-machine columns from the quiet rounds when there
			 * are any (see QUIET_PCT) */
			for (int pass = 0; pass < 2; pass++) {
				n = 0;
				for (int k = 0; k < rounds; k++)
					if (ok[k][i] && (pass || c > 1 || (quiet[k][i] && quiet[k][0])))
						a[n++] = v[k][i][c];
				if (n)
					break;
			}
			col[c] = median(a, n);
		}
		n = 0;
		for (int k = 0; k < rounds; k++)
			if (ok[k][i])
				a[n++] = rr[k][i].wakes * 1000.0;
		wk = median(a, n);
		n = 0;
		for (int k = 0; k < rounds; k++)
			if (ok[k][i])
				a[n++] = rr[k][i].offered;
		off = median(a, n);
		n = 0;
		for (int k = 0; k < rounds; k++)
			if (ok[k][i])
				a[n++] = rr[k][i].pps;
		pps = median(a, n);
		med[i] = *any;
		med[i].offered = off;
		med[i].pps = pps;
		med[i].ok = 1;
		med[i].k_ring_full = med[i].k_fill_empty = 0; /* the worst run's */
		for (int k = 0; k < rounds; k++) {
			if (ok[k][i]) {
				med[i].k_ring_full = rr[k][i].k_ring_full > med[i].k_ring_full ?
						     rr[k][i].k_ring_full : med[i].k_ring_full;
				med[i].k_fill_empty = rr[k][i].k_fill_empty > med[i].k_fill_empty ?
						      rr[k][i].k_fill_empty : med[i].k_fill_empty;
			}
		}
		if (i == 0)
			printf("  %-34s %9.0f %9.0f %13.2f %13s %11.2f %11s %9s\n",
			       "direct A->B (baseline)", off, pps, col[0], "-", col[2], "-", "-");
		else
			printf("  %-34s %9.0f %9.0f %13.2f %13.2f %11.2f %11.2f %9.2f %9.1f\n",
			       any->mode, off, pps, col[0], col[1], col[2], col[3], col[4], wk);
	}
	if (!med[0].ok || !med[2].ok)
		return 0;
	if (med[2].k_ring_full || med[2].k_fill_empty)
		printf("  sbc-media xdp: the kernel dropped up to %llu packets on a full RX ring and "
		       "%llu with no fill frame in a run (the worker was not running: other work on "
		       "its core)\n", (unsigned long long)med[2].k_ring_full,
		       (unsigned long long)med[2].k_fill_empty);
	/* relayed packets per CPU-second: xdp over socket, xdp over rtpengine,
	 * per round, then median and range */
	for (int o = 1; o <= 3; o += 2) {
		if (!med[o].ok)
			continue;
		/* xdp lost packets: less than offered and less than the other
		 * relayed (the other's count can run over what was offered in
		 * the window when its backlog drains into it) */
		int lossy = med[2].pps < med[2].offered * 0.98 && med[2].pps < med[o].pps * 0.98;
		double gm[5], lo[5], hi[5];
		int nr = 0, nq = 0;
		printf("  sbc-media xdp / %-9s packets per CPU-second, median (range) over rounds:\n",
		       o == 1 ? "socket" : "rtpengine");
		for (int c = 0; c < 5; c++) {
			double a[MAX_ROUNDS];
			int n = 0;
			for (int k = 0; k < rounds; k++) {
				int use = ok[k][2] && ok[k][o] &&
					  (c > 1 || (quiet[k][0] && quiet[k][2] && quiet[k][o]));
				double x = use ? per_cpu(v[k][2][c], v[k][o][c]) : 0;
				if (x > 0)
					a[n++] = x;
			}
			lo[c] = hi[c] = 0;
			for (int j = 0; j < n; j++) {
				lo[c] = j == 0 || a[j] < lo[c] ? a[j] : lo[c];
				hi[c] = j == 0 || a[j] > hi[c] ? a[j] : hi[c];
			}
			gm[c] = median(a, n);
			nr = n > nr ? n : nr;
			if (c == 1)
				nq = n;
			printf("    %-14s %.2fx (%.2f-%.2f, %d rounds%s)\n", acct[c], gm[c], lo[c], hi[c], n,
			       c <= 1 ? " with quiet baselines" : "");
		}
		if (lossy || med[o].pps < med[o].offered * 0.98)
			printf("   %s%s\n", lossy ? " (xdp relayed less!)" : "",
			       med[o].pps < med[o].offered * 0.98 ? " (the other lost packets)" : "");
		if (targets && nr) {
			/* judged on the medians of relay:ours (the traffic's own CPU:
			 * our processes + ksoftirqd, minus the generator and sink's)
			 * and, on a quiet enough machine, relay:machine. A relay that
			 * lost most of the load (rtpengine discards what queues up
			 * once it falls behind) has no per-packet figure worth a
			 * ratio: not judged. */
			double need = o == 1 ? 2.0 : 3.0, got = gm[3];
			const char *who = o == 1 ? "our socket path" : "rtpengine";
			if (med[o].pps < med[o].offered * 0.5) {
				printf("    target >= %.0fx over %s: not judged (%s relayed %.0f%% of the "
				       "load)\n", need, who, med[o].mode, 100.0 * med[o].pps / med[o].offered);
				continue;
			}
			int met = got >= need && !lossy;
			printf("    target >= %.0fx over %s (relay:ours median): %.2fx %s", need, who, got,
			       met ? "met" : lossy ? "NOT MET (xdp lost more)" : "NOT MET");
			if (nq >= 2) {
				printf("; relay:machine median %.2fx %s (%d quiet rounds)\n", gm[1],
				       gm[1] >= need ? "met" : "NOT MET", nq);
				met = met && gm[1] >= need;
			} else {
				printf("; relay:machine not judged (%d round%s with idle baselines under "
				       "%.0f%% of a core)\n", nq, nq == 1 ? "" : "s", QUIET_PCT);
			}
			miss |= !met;
		}
	}
	return miss;
}

/* sbc-media (socket and xdp backends) against rtpengine: RTP->RTP,
 * SRTP->RTP and RTP->SRTP at 50k and 100k pps. */
static void compare_section(double secs, int srtp_ok)
{
	static const struct { int mode; const char *name; } modes[] = {
		{ MODE_RTP, "RTP->RTP" },
		{ MODE_SRTP_RTP, "SRTP->RTP (AES_CM_128_HMAC_SHA1_80)" },
		{ MODE_RTP_SRTP, "RTP->SRTP (AES_CM_128_HMAC_SHA1_80)" },
	};
	const double rates[] = { 50000, 100000 };
	int miss = 0;

	printf("\nsbc-media (1 worker; socket and xdp backends, sessions over the rings via "
	       "medtool) against rtpengine (Debian, userspace: --table=-1, --num-threads=1, "
	       "sessions over ng offer/answer with SDES)\n");
	for (unsigned m = 0; m < (srtp_ok ? sizeof(modes) / sizeof(modes[0]) : 1); m++)
		for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
			srtp_mode = modes[m].mode;
			miss |= compare_rows(modes[m].name, rates[i], secs,
					     modes[m].mode != MODE_RTP);
		}
	srtp_mode = MODE_RTP;
	printf("\ntargets (issue 7): xdp >= 3x rtpengine and >= 2x our socket path in relayed "
	       "SRTP<->RTP packets per CPU-second: %s\n", miss ? "NOT all met" : "all met");
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.5;

	if (geteuid() != 0) {
		printf("bench_xdp: skipped: needs root (network namespaces, XDP)\n");
		return 0;
	}
	sbc_log_init("bench_xdp", SBC_LOG_WARN, false);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	snprintf(pfx, sizeof(pfx), "b%x", (unsigned)getpid());
	snprintf(ns_a, sizeof(ns_a), "sbc%sa", pfx);
	snprintf(ns_r, sizeof(ns_r), "sbc%sr", pfx);
	snprintf(ns_b, sizeof(ns_b), "sbc%sb", pfx);
	net_n = (int)(getpid() % 250) + 1;
	{
		ssize_t l = readlink("/proc/self/exe", build_dir, sizeof(build_dir) - 1);
		build_dir[l > 0 ? l : 0] = 0;
		for (int up = 0; up < 2; up++) {
			char *sl = strrchr(build_dir, '/');
			if (sl)
				*sl = 0;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	taskcpu_ksoftirqd_find(&g_ksoft);
	if (topo_up()) {
		printf("bench_xdp: skipped: cannot build the namespaces\n");
		topo_down();
		return 0;
	}
	printf("bench_xdp: %d streams, %d-byte UDP payloads, A -> relay -> B over veth; "
	       "CPU = whole machine (/proc/stat), best of 2 runs of %.1f s\n",
	       STREAMS, PAYLOAD, secs);
	const double rates[] = { 50000, 100000, 0 };
	int rc = 0;
	/* SRTP (AES_CM_128_HMAC_SHA1_80): the key, and the generator's packets
	 * for SRTP->RTP protected before any run. */
	char srtp_why[256] = "";
	int srtp_ok = med_xc_global_init(srtp_why, sizeof(srtp_why)) == 0;
	srtp_key.suite = SBC_SRTP_AES_CM_128_HMAC_SHA1_80;
	srtp_key.key_len = 30;
	for (int i = 0; i < 30; i++)
		srtp_key.key[i] = (uint8_t)(i * 7 + 1);
	if (srtp_ok && srtp_prepare()) {
		snprintf(srtp_why, sizeof(srtp_why), "cannot protect the packets");
		srtp_ok = 0;
	}
	/* BENCH_XDP_ONLY=<relay 0..7>:<pps>[:<mode 0..2>]: one run of one relay
	 * (for profiling and tuning); BENCH_XDP_ONLY=compare: only the sbc-media
	 * against rtpengine section. */
	const char *only = getenv("BENCH_XDP_ONLY");
	if (only && strncmp(only, "compare:", 8) == 0) {
		/* compare:<mode 0..2>:<pps>: one comparison row (tuning) */
		const char *c = strchr(only + 8, ':');
		srtp_mode = srtp_ok ? atoi(only + 8) : MODE_RTP;
		int miss = compare_rows(srtp_mode == MODE_RTP ? "RTP->RTP" : srtp_mode == MODE_SRTP_RTP ?
					"SRTP->RTP (AES_CM_128_HMAC_SHA1_80)" :
					"RTP->SRTP (AES_CM_128_HMAC_SHA1_80)",
					c ? atof(c + 1) : 50000, secs, srtp_mode != MODE_RTP);
		(void)miss;
		topo_down();
		return 0;
	}
	if (only && strcmp(only, "compare") == 0) {
		compare_section(secs, srtp_ok);
		topo_down();
		return 0;
	}
	if (only) {
		int relay = atoi(only);
		const char *c = strchr(only, ':'), *m = c ? strchr(c + 1, ':') : NULL;
		srtp_mode = m && srtp_ok ? atoi(m + 1) : MODE_RTP;
		idle_tps = idle_rate(secs);
		result r = run_once(relay, c ? atof(c + 1) : 100000, secs);
		printf("relay %d mode %d: %s: sent %.0f/s relayed %.0f/s, %.2f us/pkt all, "
		       "%.2f machine-idle (idle %.1f%% of a core), %.2f ours, %.2f relay process "
		       "(%.1f%% of a core, %.4f wake-ups/pkt)\n",
		       relay, srtp_mode, r.mode, r.offered, r.pps, r.us_pkt, r.us_net,
		       idle_tps * 100.0 / (double)sysconf(_SC_CLK_TCK), r.us_ours, r.us_proc,
		       r.proc_pct, r.wakes);
		if (relay == 6) {
			printf("  kernel drops before the AF_XDP RX ring: %llu ring full, %llu no fill "
			       "frame\n", (unsigned long long)r.k_ring_full,
			       (unsigned long long)r.k_fill_empty);
			double rx = sh->m_rx ? (double)sh->m_rx : 1;
			printf("  worker: %.1f TX kicks, %.1f fill-ring wake-ups per 1000 packets, %.1f "
			       "packets per RX batch\n", 1000.0 * (double)sh->m_kicks / rx,
			       1000.0 * (double)sh->m_fill_wakeups / rx,
			       rx / (double)(sh->m_batches ? sh->m_batches : 1));
		}
		topo_down();
		return 0;
	}
	for (unsigned i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		double rate = rates[i];
		result base = run_best(0, rate, secs);
		result sock = run_best(1, rate, secs);
		result xdp[3] = { run_best(2, rate, secs), run_best(3, rate, secs),
				  run_best(4, rate, secs) };
		const char *how[3] = { "", " (forced generic)", " busy-poll+napi-defer" };
		if (rate > 0)
			printf("\noffered %.0f pps:\n", rate);
		else
			printf("\nsaturation (generator as fast as it can):\n");
		printf("  %-34s %9s %9s %11s %11s %13s\n", "path", "sent/s", "relayed/s",
		       "us/pkt:all", "us/pkt:ours", "us/pkt:relay");
		printf("  %-34s %9.0f %9.0f %11.2f %11.2f %13s\n", "direct A->B (baseline)",
		       base.offered, base.pps, base.us_pkt, base.us_ours, "-");
		double sock_r = sock.us_ours - base.us_ours;
		printf("  %-34s %9.0f %9.0f %11.2f %11.2f %13.2f\n", sock.mode, sock.offered, sock.pps,
		       sock.us_pkt, sock.us_ours, sock_r);
		for (int v = 0; v < 3; v++) {
			char name[100];
			if (!xdp[v].ok) {
				printf("  AF_XDP%s: %s\n", how[v], xdp[v].mode);
				continue;
			}
			snprintf(name, sizeof(name), "AF_XDP %s%s", xdp[v].mode, how[v]);
			printf("  %-34s %9.0f %9.0f %11.2f %11.2f %13.2f\n", name, xdp[v].offered,
			       xdp[v].pps, xdp[v].us_pkt, xdp[v].us_ours, xdp[v].us_ours - base.us_ours);
		}
		for (int v = 0; v < 3; v++) {
			double xr = xdp[v].us_ours - base.us_ours;
			if (!xdp[v].ok)
				continue;
			printf("  ratio AF_XDP%s / socket: relayed pps %.2fx; relayed packets per "
			       "CPU-second %.2fx whole machine, %.2fx ours, %.2fx relay alone "
			       "(target >= 2x)\n", how[v],
			       sock.pps > 0 ? xdp[v].pps / sock.pps : 0,
			       xdp[v].us_pkt > 0 ? sock.us_pkt / xdp[v].us_pkt : 0,
			       xdp[v].us_ours > 0 ? sock.us_ours / xdp[v].us_ours : 0,
			       xr > 0 ? sock_r / xr : 0);
		}
	}
	if (!srtp_ok) {
		printf("\nSRTP rows skipped: %s\n", srtp_why);
		compare_section(secs, 0);
		topo_down();
		return rc;
	}
	srtp_mode = MODE_SRTP_RTP;
	const double srates[] = { 50000, 100000 };
	for (unsigned i = 0; i < sizeof(srates) / sizeof(srates[0]); i++) {
		double rate = srates[i];
		result base = run_best(0, rate, secs);
		result sock = run_best(1, rate, secs);
		result xdp = run_best(2, rate, secs);
		printf("\nSRTP->RTP (AES_CM_128_HMAC_SHA1_80), offered %.0f pps:\n", rate);
		printf("  %-34s %9s %9s %11s %11s %13s\n", "path", "sent/s", "relayed/s",
		       "us/pkt:all", "us/pkt:ours", "us/pkt:relay");
		printf("  %-34s %9.0f %9.0f %11.2f %11.2f %13s\n", "direct A->B (baseline)",
		       base.offered, base.pps, base.us_pkt, base.us_ours, "-");
		double sr = sock.us_ours - base.us_ours, xr = xdp.us_ours - base.us_ours;
		printf("  %-34s %9.0f %9.0f %11.2f %11.2f %13.2f\n", sock.mode, sock.offered,
		       sock.pps, sock.us_pkt, sock.us_ours, sr);
		if (!xdp.ok) {
			printf("  AF_XDP: %s\n", xdp.mode);
			continue;
		}
		char name[100];
		snprintf(name, sizeof(name), "AF_XDP %s", xdp.mode);
		printf("  %-34s %9.0f %9.0f %11.2f %11.2f %13.2f\n", name, xdp.offered, xdp.pps,
		       xdp.us_pkt, xdp.us_ours, xr);
		printf("  ratio AF_XDP / socket: relayed pps %.2fx; relayed packets per CPU-second "
		       "%.2fx whole machine, %.2fx ours, %.2fx relay alone (target >= 2x)\n",
		       sock.pps > 0 ? xdp.pps / sock.pps : 0,
		       xdp.us_pkt > 0 ? sock.us_pkt / xdp.us_pkt : 0,
		       xdp.us_ours > 0 ? sock.us_ours / xdp.us_ours : 0, xr > 0 ? sr / xr : 0);
	}
	compare_section(secs, 1);
	topo_down();
	return rc;
}
