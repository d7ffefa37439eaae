/* rtpgen.h — the RTP load generator and receiver of the relay benchmarks,
 * shared by tests/bench/sbc-media/bench_relay.c (sbc-media, its kernel
 * floor and rtpengine, driven from C) and tests/tools/compare/rtpload.c
 * (the same load for tests/bench/sbc-media/bench_rtpengine.py). One copy of
 * the load, so that every figure the two benchmarks print comes from the
 * same traffic and the same loss and latency accounting.
 *
 * Header-only (the functions are static): each of the two programs includes
 * it once, and the tools' build (one binary per .c file of tests/tools/compare)
 * needs no extra object.
 *
 * Load: N streams at R packets/s each (50: G.711 at 20 ms), 172-byte RTP
 * (12-byte header, 160-byte payload of 0xd5), from one UDP socket. Time runs
 * in 1 ms ticks; with a period of P = 1000/R ms, stream s sends in the ticks
 * where tick % P == s % P, so the load is spread evenly; the packets of one
 * tick leave in sendmmsg batches of 64. Each stream numbers its packets
 * itself (sequence 0, 1, ...; RTP timestamp = sequence * 160). The SSRC is
 * tag << 16 | (id + 1), where tag is the run (packets of an earlier run
 * still in flight are recognised and ignored) and id is the stream, unless
 * the make() callback sends packets of its own (rtpload's pre-encrypted
 * SRTP): send times are kept per (id, sequence) as found in the packet
 * actually sent.
 *
 * Receive: one socket read with recvmmsg, polled every 100 us instead of
 * sleeping in the call: a sleeping receiver on loopback makes every send of
 * the relay pay for waking it (sock_def_readable), a cost a relay sending to
 * a NIC never has. The price: up to 100 us more in the latency figures.
 *
 * Measuring window: the packets SENT between rtpgen_window_begin() and
 * rtpgen_window_end(), received whenever (up to the grace the caller waits
 * before rtpgen_window_result()): loss is exact, and a receiver catching up
 * on a backlog cannot inflate the rate. Latency: from the packet's send to
 * its arrival, in 10 us buckets up to 200 ms.
 */
#ifndef SBC_TESTS_RTPGEN_H
#define SBC_TESTS_RTPGEN_H

#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RTPGEN_MAXN 5000
#define RTPGEN_HLEN 12
#define RTPGEN_PLEN 160
#define RTPGEN_BUF 512
#define RTPGEN_SEQW 256   /* send times kept per id: the last 256 sequence numbers */
#define RTPGEN_HIST 20000 /* latency histogram: 10 us buckets up to 200 ms */

typedef struct rtpgen rtpgen;

/* make(): the packet to send for stream s. buf holds the plain RTP packet
 * (*len = 172 bytes, RTPGEN_BUF of room); return buf (changed in place,
 * e.g. encrypted, *len updated) or a packet of the caller's own, or NULL to
 * send nothing this time. NULL make: the plain packet is sent. */
typedef const uint8_t *(*rtpgen_make_fn)(void *arg, unsigned s, uint16_t seq, uint8_t *buf, int *len);
/* check(): a received packet of id (sequence seq, len bytes, may be changed
 * in place): < 0 damaged, > 0 verified (counted as checked), 0 nothing to
 * say. NULL check: the plain packet must come back as it was sent. */
typedef int (*rtpgen_check_fn)(void *arg, unsigned id, uint16_t seq, uint8_t *p, int len);

struct rtpgen {
	/* set before rtpgen_start() */
	int tx_fd, rx_fd;
	int cpu; /* both threads pinned here; -1: not pinned */
	struct sockaddr_in dst[RTPGEN_MAXN];
	rtpgen_make_fn make;
	rtpgen_check_fn check;
	void *arg;

	/* changed while running */
	_Atomic unsigned streams;       /* how many of dst[] send */
	_Atomic uint64_t pps_x1000;     /* packets/s per stream * 1000 (50000) */
	_Atomic unsigned tag;           /* SSRC >> 16 of the current run */

	/* results */
	_Atomic uint64_t tx_count, tx_err, rx_count, rx_bad, rx_checked;
	_Atomic uint64_t win_lo, win_hi, tx_win, rx_win;
	_Atomic uint64_t hist[RTPGEN_HIST + 1];
	_Atomic uint64_t last_rx_ns[RTPGEN_MAXN]; /* send time of the newest packet heard, per id */

	/* internal */
	_Atomic int gen_run, rx_run;
	_Atomic uint64_t (*sent_at)[RTPGEN_SEQW]; /* [id][seq % SEQW] */
	uint16_t seq[RTPGEN_MAXN];
	pthread_t gt, rt;
	int started;
};

static inline uint64_t rtpgen_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void rtpgen_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The plain packet: PCMU, sequence seq, timestamp seq * 160, 0xd5 payload. */
static inline void rtpgen_rtp(uint8_t *p, uint16_t seq, uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	rtpgen_put32(p + 4, (uint32_t)seq * 160);
	rtpgen_put32(p + 8, ssrc);
	memset(p + RTPGEN_HLEN, 0xd5, RTPGEN_PLEN);
}

static inline uint32_t rtpgen_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void rtpgen_pin(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static inline rtpgen *rtpgen_new(void)
{
	rtpgen *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->sent_at = calloc(RTPGEN_MAXN, sizeof(*g->sent_at));
	if (!g->sent_at) {
		free(g);
		return NULL;
	}
	g->tx_fd = g->rx_fd = -1;
	g->cpu = -1;
	atomic_store(&g->pps_x1000, 50000);
	atomic_store(&g->win_lo, UINT64_MAX);
	atomic_store(&g->win_hi, UINT64_MAX);
	return g;
}

static inline void rtpgen_free(rtpgen *g)
{
	if (g) {
		free((void *)g->sent_at);
		free(g);
	}
}

static void *rtpgen_gen_main(void *arg)
{
	enum { B = 64 };
	rtpgen *g = arg;
	static uint8_t bufs[B][RTPGEN_BUF];
	struct mmsghdr mm[B];
	struct iovec iov[B];
	rtpgen_pin(g->cpu);
	uint64_t tick = rtpgen_now_ns();
	unsigned slot = 0;
	while (atomic_load(&g->gen_run)) {
		unsigned n = atomic_load(&g->streams);
		uint64_t per = atomic_load(&g->pps_x1000);
		unsigned period_ms = (unsigned)(1000000 / (per ? per : 50000));
		if (period_ms < 1)
			period_ms = 1;
		tick += 1000000;
		struct timespec ts = {.tv_sec = (time_t)(tick / 1000000000u), .tv_nsec = (long)(tick % 1000000000u)};
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		slot = (slot + 1) % period_ms;
		uint32_t tag = atomic_load_explicit(&g->tag, memory_order_relaxed) << 16;
		unsigned k = 0;
		for (unsigned s = slot; s < n && s < RTPGEN_MAXN; s += period_ms) {
			uint16_t q = g->seq[s]++;
			int len = RTPGEN_HLEN + RTPGEN_PLEN;
			rtpgen_rtp(bufs[k], q, tag | (s + 1));
			const uint8_t *p = g->make ? g->make(g->arg, s, q, bufs[k], &len) : bufs[k];
			if (!p || len < RTPGEN_HLEN)
				continue;
			iov[k] = (struct iovec){(void *)p, (size_t)len};
			mm[k].msg_hdr = (struct msghdr){.msg_name = &g->dst[s], .msg_namelen = sizeof(g->dst[s]),
							.msg_iov = &iov[k], .msg_iovlen = 1};
			/* the send time under the id and sequence the packet carries */
			unsigned id = (rtpgen_get32(p + 8) & 0xffff) - 1;
			uint16_t pq = (uint16_t)(p[2] << 8 | p[3]);
			uint64_t now = rtpgen_now_ns();
			if (id < RTPGEN_MAXN)
				atomic_store_explicit(&g->sent_at[id][pq % RTPGEN_SEQW], now, memory_order_relaxed);
			if (now >= atomic_load_explicit(&g->win_lo, memory_order_relaxed) &&
			    now < atomic_load_explicit(&g->win_hi, memory_order_relaxed))
				atomic_fetch_add_explicit(&g->tx_win, 1, memory_order_relaxed);
			if (++k == B) {
				int r = sendmmsg(g->tx_fd, mm, k, 0);
				atomic_fetch_add(&g->tx_count, r > 0 ? (unsigned)r : 0);
				if (r < (int)k)
					atomic_fetch_add(&g->tx_err, k - (unsigned)(r > 0 ? r : 0));
				k = 0;
			}
		}
		if (k) {
			int r = sendmmsg(g->tx_fd, mm, k, 0);
			atomic_fetch_add(&g->tx_count, r > 0 ? (unsigned)r : 0);
			if (r < (int)k)
				atomic_fetch_add(&g->tx_err, k - (unsigned)(r > 0 ? r : 0));
		}
	}
	return NULL;
}

static void *rtpgen_rx_main(void *arg)
{
	enum { B = 64 };
	rtpgen *g = arg;
	static uint8_t bufs[B][2048];
	struct mmsghdr mm[B];
	struct iovec iov[B];
	rtpgen_pin(g->cpu);
	while (atomic_load(&g->rx_run)) {
		for (unsigned i = 0; i < B; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
		}
		int n = recvmmsg(g->rx_fd, mm, B, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
			continue;
		}
		uint64_t now = rtpgen_now_ns();
		unsigned tag = atomic_load_explicit(&g->tag, memory_order_relaxed);
		for (int i = 0; i < n; i++) {
			uint8_t *p = bufs[i];
			int len = (int)mm[i].msg_len;
			if (len < RTPGEN_HLEN) {
				atomic_fetch_add(&g->rx_bad, 1);
				continue;
			}
			uint32_t ssrc = rtpgen_get32(p + 8);
			uint16_t q = (uint16_t)(p[2] << 8 | p[3]);
			if ((ssrc >> 16) != tag)
				continue; /* a straggler of an earlier run */
			if ((ssrc & 0xffff) < 1 || (ssrc & 0xffff) > RTPGEN_MAXN) {
				atomic_fetch_add(&g->rx_bad, 1);
				continue;
			}
			unsigned id = (ssrc & 0xffff) - 1;
			uint64_t t0 = atomic_load_explicit(&g->sent_at[id][q % RTPGEN_SEQW], memory_order_relaxed);
			uint64_t us10 = now > t0 ? (now - t0) / 10000 : 0;
			if (t0 >= atomic_load_explicit(&g->win_lo, memory_order_relaxed) &&
			    t0 < atomic_load_explicit(&g->win_hi, memory_order_relaxed)) {
				atomic_fetch_add_explicit(&g->rx_win, 1, memory_order_relaxed);
				atomic_fetch_add_explicit(&g->hist[us10 < RTPGEN_HIST ? us10 : RTPGEN_HIST], 1,
							  memory_order_relaxed);
			}
			if (t0 > atomic_load_explicit(&g->last_rx_ns[id], memory_order_relaxed))
				atomic_store_explicit(&g->last_rx_ns[id], t0, memory_order_relaxed);
			int c;
			if (g->check)
				c = g->check(g->arg, id, q, p, len);
			else
				c = len == RTPGEN_HLEN + RTPGEN_PLEN && p[RTPGEN_HLEN] == 0xd5 &&
						    p[RTPGEN_HLEN + RTPGEN_PLEN - 1] == 0xd5
					    ? 0
					    : -1;
			if (c < 0)
				atomic_fetch_add(&g->rx_bad, 1);
			else if (c > 0)
				atomic_fetch_add(&g->rx_checked, 1);
		}
		atomic_fetch_add(&g->rx_count, (unsigned)n);
	}
	return NULL;
}

/* A new run: its own SSRC tag, no send times or arrivals of the last. */
static inline void rtpgen_new_run(rtpgen *g)
{
	atomic_fetch_add(&g->tag, 1);
	memset((void *)g->sent_at, 0, RTPGEN_MAXN * sizeof(*g->sent_at));
	for (unsigned k = 0; k < RTPGEN_MAXN; k++)
		atomic_store(&g->last_rx_ns[k], 0);
}

/* Starts the sender and the receiver with no streams sending yet. */
static inline int rtpgen_start(rtpgen *g)
{
	atomic_store(&g->streams, 0);
	atomic_store(&g->gen_run, 1);
	atomic_store(&g->rx_run, 1);
	if (pthread_create(&g->gt, NULL, rtpgen_gen_main, g) != 0)
		return -1;
	if (pthread_create(&g->rt, NULL, rtpgen_rx_main, g) != 0) {
		atomic_store(&g->gen_run, 0);
		pthread_join(g->gt, NULL);
		return -1;
	}
	g->started = 1;
	return 0;
}

/* Stops sending, lets the last packets arrive (grace_us), stops receiving. */
static inline void rtpgen_stop(rtpgen *g, unsigned grace_us)
{
	if (!g->started)
		return;
	atomic_store(&g->gen_run, 0);
	pthread_join(g->gt, NULL);
	struct timespec ts = {(time_t)(grace_us / 1000000), (long)(grace_us % 1000000) * 1000};
	nanosleep(&ts, NULL);
	atomic_store(&g->rx_run, 0);
	pthread_join(g->rt, NULL);
	g->started = 0;
}

static inline void rtpgen_window_begin(rtpgen *g)
{
	for (unsigned i = 0; i <= RTPGEN_HIST; i++)
		atomic_store(&g->hist[i], 0);
	atomic_store(&g->tx_win, 0);
	atomic_store(&g->rx_win, 0);
	atomic_store(&g->win_hi, UINT64_MAX);
	atomic_store(&g->win_lo, rtpgen_now_ns());
}

static inline void rtpgen_window_end(rtpgen *g)
{
	atomic_store(&g->win_hi, rtpgen_now_ns());
}

typedef struct rtpgen_result {
	uint64_t sent, received; /* of the packets sent in the window */
	double seconds;          /* the window's length */
	double pps;              /* received / seconds */
	double loss;             /* 1 - received / sent */
	unsigned p50_us, p99_us; /* added latency */
} rtpgen_result;

static inline unsigned rtpgen_pct_us(rtpgen *g, double q)
{
	uint64_t total = 0, acc = 0;
	for (unsigned i = 0; i <= RTPGEN_HIST; i++)
		total += atomic_load(&g->hist[i]);
	for (unsigned i = 0; i <= RTPGEN_HIST; i++) {
		acc += atomic_load(&g->hist[i]);
		if (total && acc >= (uint64_t)(q * (double)total))
			return i * 10;
	}
	return 0;
}

/* The window's figures, after the caller let its last packets arrive;
 * closes the window (later packets count in no window). */
static inline rtpgen_result rtpgen_window_result(rtpgen *g)
{
	rtpgen_result r = {0};
	uint64_t lo = atomic_load(&g->win_lo), hi = atomic_load(&g->win_hi);
	r.sent = atomic_load(&g->tx_win);
	r.received = atomic_load(&g->rx_win);
	atomic_store(&g->win_lo, UINT64_MAX);
	r.seconds = hi > lo && hi != UINT64_MAX ? (double)(hi - lo) / 1e9 : 0;
	r.pps = r.seconds > 0 ? (double)r.received / r.seconds : 0;
	r.loss = r.sent ? 1.0 - (double)r.received / (double)r.sent : 1.0;
	if (r.loss < 0)
		r.loss = 0;
	r.p50_us = rtpgen_pct_us(g, 0.50);
	r.p99_us = rtpgen_pct_us(g, 0.99);
	return r;
}

/* How many of the first n ids were heard with a packet sent after mark
 * (rtpgen_now_ns() time): streams alive again after an overload. */
static inline unsigned rtpgen_heard_since(rtpgen *g, unsigned n, uint64_t mark)
{
	unsigned alive = 0;
	for (unsigned k = 0; k < n && k < RTPGEN_MAXN; k++)
		if (atomic_load(&g->last_rx_ns[k]) > mark)
			alive++;
	return alive;
}

/* The kernel floor: a bare relay loop over fds[0..n) (bound UDP sockets):
 * epoll, and for each ready socket one recvmmsg and one sendmmsg of what it
 * got to *to: no sessions, no checks, no crypto, and no user-space work
 * beyond that (the headers are set up once; only what a receive filled is
 * reset). What it costs per packet is what the kernel's UDP path costs
 * here, now; a relay's figures are read against it. Runs until *run is 0
 * (checked at least every 20 ms). bench_relay runs it in a thread,
 * udpfloor (bench_rtpengine.py's) in a process of its own. */
static inline void rtpgen_floor_loop(const int *fds, unsigned n, const struct sockaddr_in *to, _Atomic int *run)
{
	enum { B = 32 };
	static uint8_t bufs[B][2048];
	struct mmsghdr mm[B];
	struct iovec iov[B], siov[B];
	struct mmsghdr sm[B];
	struct epoll_event ev[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return;
	for (unsigned k = 0; k < n; k++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = k};
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &e);
	}
	for (unsigned j = 0; j < B; j++) {
		iov[j] = (struct iovec){bufs[j], sizeof(bufs[j])};
		mm[j].msg_hdr = (struct msghdr){.msg_iov = &iov[j], .msg_iovlen = 1};
		sm[j].msg_hdr = (struct msghdr){.msg_name = (void *)to, .msg_namelen = sizeof(*to),
						.msg_iov = &siov[j], .msg_iovlen = 1};
	}
	while (atomic_load_explicit(run, memory_order_relaxed)) {
		int ne = epoll_wait(ep, ev, 256, 20);
		for (int i = 0; i < ne; i++) {
			int fd = fds[ev[i].data.u32];
			int r = recvmmsg(fd, mm, B, MSG_DONTWAIT, NULL);
			if (r <= 0)
				continue;
			for (int j = 0; j < r; j++) {
				siov[j] = (struct iovec){bufs[j], mm[j].msg_len};
				mm[j].msg_hdr.msg_flags = 0;
			}
			sendmmsg(fd, sm, (unsigned)r, MSG_DONTWAIT);
		}
	}
	close(ep);
}

#endif
