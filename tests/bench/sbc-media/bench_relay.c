/* bench_relay — sbc-media under load from a load generator of our own.
 *
 * Starts a real sbc-media (one worker, pinned to the first CPU) on a shared
 * segment it creates as sbc-control would, creates sessions over the rings,
 * and drives N streams at 50 packets/s each (160-byte payloads, one sender
 * socket, batched sendmmsg) into leg 0; the relay forwards out of leg 1 to
 * our receiver (recvmmsg). The load and its loss and latency accounting are
 * tests/tools/compare/rtpgen.h, the same code rtpload (bench_rtpengine.py)
 * runs on. Modes: RTP->RTP, SRTP->RTP, RTP->SRTP
 * (AES_CM_128_HMAC_SHA1_80). For each N it prints: packets/s relayed, loss,
 * relay CPU us per relayed packet (/proc/<pid>/task/ * /schedstat), whole
 * machine CPU us per packet (every task's schedstat: generator, receiver
 * and whatever else runs on the machine included), and p50/p99
 * latency added between our send and our receive (send timestamps looked up
 * by SSRC+sequence, so encrypted payloads need no decryption on the clock;
 * the receiver polls every 100 us, see rtpgen.h).
 * Every 64th SRTP packet per stream is decrypted at the receiver as a check.
 * Then an overload phase: 2x the last passing rate for 2 s, back to half,
 * and every stream must be heard again.
 * First, the kernel floor measured on the spot: a bare epoll + recvmmsg +
 * sendmmsg loop (no sessions, no checks, no crypto) on the relay's CPU under
 * the same load; sbc-media's CPU per packet is printed as a ratio to it.
 * Then the same load through Debian's rtpengine in userspace mode (no
 * kernel table), set up over its ng protocol (offer/answer with SDES), and
 * the CPU-per-packet ratios side by side.
 *
 * Env: SBC_BUILD (build dir with sbc-media), BENCH_STREAMS="500 2000",
 * BENCH_IO="uring epoll" (sbc-media data paths to measure),
 * BENCH_SECONDS=2, BENCH_MODES="rtp srtp-rtp rtp-srtp", BENCH_RTPENGINE=0
 * to skip rtpengine.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbc/base64.h"
#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/media-region.h"
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "../../../sbc-media/src/xcrypt.h"
#include "../../tools/compare/rtpgen.h"
#include "../../tools/compare/taskcpu.h"

#define MAXN RTPGEN_MAXN

enum mode { M_RTP, M_SRTP_RTP, M_RTP_SRTP };
static const char *mode_names[] = {"RTP->RTP", "SRTP->RTP", "RTP->SRTP"};

static shm_seg *seg;
static shm_ring_prod ring_out;
static shm_ring_cons ring_in, ctl_in;
static shm_ring_prod ctl_out;
static pid_t relay_pid, measure_pid;
static _Atomic pid_t measure_tid; /* a thread of ours instead (the floor loop) */
static uint16_t port_base;
static sbc_addr rx_addr;
static rtpgen *gen; /* the load: sender on cpu 1, receiver on cpu 1 */
static med_xc *gen_ctx[MAXN], *chk_ctx[MAXN];
static med_xc_state gen_st[MAXN], chk_st[MAXN];
static uint8_t key_a[30], key_b[30];
static uint8_t (*chk_key)[30]; /* per stream: key of the relay's outbound SRTP */

static enum mode cur_mode;

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static uint64_t tid_cpu_ns(pid_t tid)
{
	char path[96];
	unsigned long long run = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)getpid(), (int)tid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &run) != 1)
			run = 0;
		fclose(f);
	}
	return run;
}


/* CPU time of every task on the machine, from the scheduler's own
 * accounting (/proc/<pid>/task/<tid>/schedstat, ns): tick-sampled /proc/stat
 * misses most of a relay's short bursts in this VM. Tasks are matched by tid
 * between two snapshots; a task that exits in between loses its share. */
#define MAXTASKS 8192
typedef struct task_snap {
	unsigned n;
	pid_t tid[MAXTASKS];
	uint64_t ns[MAXTASKS];
} task_snap;

static void machine_snap(task_snap *ts)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	ts->n = 0;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL && ts->n < MAXTASKS) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/proc/%s/task", e->d_name);
		DIR *t = opendir(path);
		struct dirent *f;
		if (!t)
			continue;
		while ((f = readdir(t)) != NULL && ts->n < MAXTASKS) {
			if (f->d_name[0] == '.')
				continue;
			char p2[600];
			unsigned long long run = 0;
			snprintf(p2, sizeof(p2), "%s/%s/schedstat", path, f->d_name);
			FILE *fp = fopen(p2, "r");
			if (!fp)
				continue;
			if (fscanf(fp, "%llu", &run) == 1) {
				ts->tid[ts->n] = (pid_t)atoi(f->d_name);
				ts->ns[ts->n++] = run;
			}
			fclose(fp);
		}
		closedir(t);
	}
	closedir(d);
}

static uint64_t machine_delta_ns(const task_snap *a, const task_snap *b)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < b->n; i++) {
		uint64_t before = 0;
		for (unsigned k = 0; k < a->n; k++) /* both lists come in /proc order */
			if (a->tid[k] == b->tid[i]) {
				before = a->ns[k];
				break;
			}
		if (b->ns[i] > before)
			total += b->ns[i] - before;
	}
	return total;
}

static int wait_reply(uint64_t req, int *status, uint16_t *port)
{
	uint64_t end = sbc_mono_ms() + 5000;
	while (sbc_mono_ms() < end) {
		const shm_rec *r;
		while ((r = shm_ring_peek(&ring_in)) != NULL) {
			int found = 0;
			if (r->type == SBC_MSG_MEDIA_REPLY && sbc_msg_check(r) == 0) {
				const sbc_msg_media_reply *m = (const void *)r->data;
				if (m->request_id == req) {
					*status = m->status;
					if (port)
						*port = sbc_addr_port(&m->local_rtp[0]);
					found = 1;
				}
			}
			shm_ring_next(&ring_in, r);
			shm_ring_release(&ring_in);
			if (found)
				return 0;
		}
		usleep(100);
	}
	return SBC_E_TIMEOUT;
}

/* The relay's own counters (its STATS_REPLY JSON), into buf. */
static void relay_stats(char *buf, size_t cap)
{
	static uint64_t req = 1u << 20;
	uint64_t id = ++req;
	snprintf(buf, cap, "(no reply)");
	if (sbc_msg_push_text(&ctl_out, SBC_MSG_STATS_REQUEST, id, "{}", 2))
		return;
	uint64_t end = sbc_mono_ms() + 3000;
	while (sbc_mono_ms() < end) {
		const shm_rec *r;
		while ((r = shm_ring_peek(&ctl_in)) != NULL) {
			bool found = false;
			if (r->type == SBC_MSG_STATS_REPLY && sbc_msg_check(r) == 0) {
				const sbc_msg_text *t = (const void *)r->data;
				if (t->request_id == id) {
					snprintf(buf, cap, "%.*s", (int)t->len, t->text);
					found = true;
				}
			}
			shm_ring_next(&ctl_in, r);
			shm_ring_release(&ctl_in);
			if (found)
				return;
		}
		usleep(200);
	}
}

static int delete_sessions(unsigned n, enum mode m);

static int create_sessions(unsigned n, enum mode m)
{
	static uint64_t req = 1;
	for (unsigned k = 0; k < n; k++) {
		sbc_msg_media msg;
		memset(&msg, 0, sizeof(msg));
		msg.session_id = (uint64_t)m * 100000 + k + 1;
		msg.request_id = req++;
		msg.timeout_ms = 600000;
		msg.leg[0].remote_rtp = rx_addr; /* unused direction */
		msg.leg[1].remote_rtp = rx_addr;
		if (m == M_SRTP_RTP) {
			msg.leg[0].rx = (sbc_srtp_params){.suite = SBC_SRTP_AES_CM_128_HMAC_SHA1_80, .key_len = 30};
			memcpy(msg.leg[0].rx.key, key_a, 30);
		}
		if (m == M_RTP_SRTP) {
			msg.leg[1].tx = (sbc_srtp_params){.suite = SBC_SRTP_AES_CM_128_HMAC_SHA1_80, .key_len = 30};
			memcpy(msg.leg[1].tx.key, key_b, 30);
		}
		int ret, st = -1;
		uint16_t port = 0;
		while ((ret = shm_ring_push(&ring_out, SBC_MSG_MEDIA_CREATE, SBC_MSG_V_MEDIA, &msg, sizeof(msg))) ==
		       SBC_E_RING_FULL)
			usleep(200);
		if (ret || wait_reply(msg.request_id, &st, &port) || st) {
			fprintf(stderr, "bench_relay: create %u failed: %s\n", k, sbc_strerror(st));
			delete_sessions(k, m);
			return -1;
		}
		gen->dst[k] = rx_addr.in4;
		gen->dst[k].sin_port = htons(port); /* the relay's leg 0 RTP port */
	}
	return 0;
}

static int delete_sessions(unsigned n, enum mode m)
{
	static uint64_t req = 1u << 30;
	for (unsigned k = 0; k < n; k++) {
		sbc_msg_media_delete d = {.session_id = (uint64_t)m * 100000 + k + 1, .request_id = req++};
		int st;
		while (shm_ring_push(&ring_out, SBC_MSG_MEDIA_DELETE, SBC_MSG_V_MEDIA, &d, sizeof(d)) == SBC_E_RING_FULL)
			usleep(200);
		if (wait_reply(d.request_id, &st, NULL))
			return -1;
	}
	return 0;
}

/* ---- rtpengine (Debian's rtpengine-daemon, userspace only) over ng ---- */

static pid_t rtpe_pid;
static int ng_fd;
static sbc_addr ng_addr;
static uint16_t rtpe_port_min = 40000, rtpe_port_max = 59999;

/* bencode string */
static size_t bstr(char *o, size_t cap, const char *k)
{
	int n = snprintf(o, cap, "%zu:%s", strlen(k), k);
	return n < 0 ? 0 : (size_t)n;
}

/* Sends one ng command (a dict of string pairs) and returns the reply's
 * "sdp" value in sdp_out, or -1. */
static int ng_call(const char *const *kv, char *sdp_out, size_t sdp_cap)
{
	static unsigned cookie;
	char msg[8192], rep[16384];
	size_t n = (size_t)snprintf(msg, sizeof(msg), "c%u d", ++cookie);
	for (unsigned i = 0; kv[i]; i += 2) {
		n += bstr(msg + n, sizeof(msg) - n, kv[i]);
		n += bstr(msg + n, sizeof(msg) - n, kv[i + 1]);
	}
	msg[n++] = 'e';
	if (sendto(ng_fd, msg, n, 0, &ng_addr.sa, sizeof(ng_addr.in4)) != (ssize_t)n)
		return -1;
	for (;;) {
		ssize_t r = recv(ng_fd, rep, sizeof(rep) - 1, 0);
		if (r <= 0)
			return -1;
		rep[r] = 0;
		char want[32];
		snprintf(want, sizeof(want), "c%u ", cookie);
		if (strncmp(rep, want, strlen(want)) != 0)
			continue; /* a late reply to an earlier command */
		char *p = strstr(rep, "3:sdp");
		if (!p || !strstr(rep, "6:result2:ok"))
			return -1;
		p += 5;
		size_t len = strtoul(p, &p, 10);
		if (*p != ':' || len + 1 > sdp_cap)
			return -1;
		memcpy(sdp_out, p + 1, len);
		sdp_out[len] = 0;
		return 0;
	}
}

static int sdp_port(const char *sdp)
{
	const char *m = strstr(sdp, "m=audio ");
	return m ? atoi(m + 8) : -1;
}

/* The key and tag of the AES_CM_128_HMAC_SHA1_80 line of an SDP. */
static int sdp_key(const char *sdp, uint8_t key[30], int *tag)
{
	const char *c = strstr(sdp, "AES_CM_128_HMAC_SHA1_80 inline:");
	if (!c)
		return -1;
	const char *line = c;
	while (line > sdp && line[-1] != '\n')
		line--;
	if (strncmp(line, "a=crypto:", 9) != 0)
		return -1;
	*tag = atoi(line + 9);
	c += strlen("AES_CM_128_HMAC_SHA1_80 inline:");
	size_t len = strcspn(c, "|\r\n");
	return sbc_base64_decode(c, len, key, 30) == 30 ? 0 : -1;
}

static void make_sdp(char *out, size_t cap, uint16_t port, bool srtp, const uint8_t *key, int tag)
{
	char b64[SBC_BASE64_ENCODED_LEN(30)] = "";
	if (srtp)
		sbc_base64_encode(key, 30, b64, sizeof(b64));
	snprintf(out, cap,
		 "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
		 "m=audio %u RTP/%s 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
		 port, srtp ? "SAVP" : "AVP");
	if (srtp) {
		size_t n = strlen(out);
		snprintf(out + n, cap - n, "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:%s\r\n", tag, b64);
	}
}

static int rtpe_start(void)
{
	char ngport[32], pmin[16], pmax[16];
	ng_fd = socket(AF_INET, SOCK_DGRAM, 0);
	sbc_addr_parse("127.0.0.1:0", -1, &ng_addr);
	/* a free UDP port for the ng listener */
	int t = socket(AF_INET, SOCK_DGRAM, 0);
	bind(t, &ng_addr.sa, sizeof(ng_addr.in4));
	socklen_t al = sizeof(ng_addr);
	getsockname(t, &ng_addr.sa, &al);
	close(t);
	snprintf(ngport, sizeof(ngport), "127.0.0.1:%u", sbc_addr_port(&ng_addr));
	snprintf(pmin, sizeof(pmin), "%u", rtpe_port_min);
	snprintf(pmax, sizeof(pmax), "%u", rtpe_port_max);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(ng_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rtpe_pid = fork();
	if (rtpe_pid == 0) {
		pin(0);
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 1);
		dup2(nul, 2);
		execl("/usr/bin/rtpengine", "rtpengine", "--foreground", "--log-stderr", "--table=-1",
		      "--interface=127.0.0.1", "--listen-ng", ngport, "--port-min", pmin, "--port-max", pmax,
		      "--num-threads=1", "--log-level=3", "--timeout=600", "--delete-delay=0",
		      "--pidfile=/dev/null", (char *)NULL);
		_exit(127);
	}
	/* ready when it answers a ping */
	for (int i = 0; i < 50; i++) {
		char buf[256];
		static const char ping[] = "p0 d7:command4:pinge";
		usleep(100000);
		sendto(ng_fd, ping, sizeof(ping) - 1, 0, &ng_addr.sa, sizeof(ng_addr.in4));
		struct timeval sh = {.tv_usec = 200000};
		setsockopt(ng_fd, SOL_SOCKET, SO_RCVTIMEO, &sh, sizeof(sh));
		ssize_t r = recv(ng_fd, buf, sizeof(buf) - 1, 0);
		setsockopt(ng_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (r > 0 && memmem(buf, (size_t)r, "pong", 4))
			return 0;
	}
	return -1;
}

static unsigned rtpe_gen;

static int rtpe_create(unsigned n, enum mode m)
{
	unsigned call = ++rtpe_gen;
	for (unsigned k = 0; k < n; k++) {
		char callid[64], sdp[2048], rsdp[8192];
		snprintf(callid, sizeof(callid), "bench-%u-%u", call, k);
		/* caller = our generator (leg 0), callee = our receiver (leg 1) */
		int tag = 1;
		make_sdp(sdp, sizeof(sdp), 9, m == M_SRTP_RTP, key_a, 1);
		const char *offer[] = {"command", "offer", "call-id", callid, "from-tag", "caller", "sdp", sdp,
				       "transport-protocol", m == M_RTP_SRTP ? "RTP/SAVP" : "RTP/AVP", NULL};
		if (ng_call(offer, rsdp, sizeof(rsdp)))
			return -1;
		if (m == M_RTP_SRTP && sdp_key(rsdp, chk_key[k], &tag))
			return -1;
		make_sdp(sdp, sizeof(sdp), sbc_addr_port(&rx_addr), m == M_RTP_SRTP, key_b, tag);
		const char *answer[] = {"command", "answer", "call-id", callid, "from-tag", "caller",
					"to-tag", "callee", "sdp", sdp, NULL};
		if (ng_call(answer, rsdp, sizeof(rsdp)))
			return -1;
		int port = sdp_port(rsdp);
		if (port <= 0)
			return -1;
		gen->dst[k] = rx_addr.in4;
		gen->dst[k].sin_port = htons((uint16_t)port);
	}
	return 0;
}

static void rtpe_delete(unsigned n)
{
	unsigned call = rtpe_gen;
	for (unsigned k = 0; k < n; k++) {
		char callid[64], rsdp[256];
		snprintf(callid, sizeof(callid), "bench-%u-%u", call, k);
		const char *del[] = {"command", "delete", "call-id", callid, NULL};
		ng_call(del, rsdp, sizeof(rsdp)); /* no sdp in the reply: ignore the result */
	}
}

/* rtpgen's make(): SRTP->RTP encrypts each stream's packet in its own
 * context (the generator's CPU, on cpu 1, not the relay's). */
static const uint8_t *make_pkt(void *arg, unsigned s, uint16_t seq, uint8_t *buf, int *len)
{
	(void)arg;
	(void)seq;
	if (cur_mode == M_SRTP_RTP && med_xc_rtp(gen_ctx[s], buf, len, RTPGEN_BUF) != 0)
		return NULL;
	return buf;
}

/* rtpgen's check(): RTP->SRTP decrypts every 64th packet of each stream
 * with the relay's outbound key; the plain modes must arrive unchanged. */
static int check_pkt(void *arg, unsigned id, uint16_t seq, uint8_t *p, int len)
{
	(void)arg;
	if (cur_mode == M_RTP_SRTP) {
		if (seq % 64)
			return 0;
		if (med_xc_rtp(chk_ctx[id], p, &len, 2048) != 0 || len != 172 || p[12] != 0xd5)
			return -1;
		return 1;
	}
	return len == 172 && p[12] == 0xd5 && p[171] == 0xd5 ? 0 : -1;
}

typedef struct result {
	double pps, loss, relay_us, machine_us;
	uint64_t p50, p99;
} result;

static result run_step(unsigned n, double seconds, uint64_t pps_x1000)
{
	result r = {0};
	atomic_store(&gen->streams, n);
	atomic_store(&gen->pps_x1000, pps_x1000);
	usleep(700000); /* warm up at this load */
	static task_snap snap0, snap1;
	machine_snap(&snap0);
	uint64_t c0 = measure_tid ? tid_cpu_ns(measure_tid) : taskcpu_ns(measure_pid);
	rtpgen_window_begin(gen);
	usleep((useconds_t)(seconds * 1e6));
	rtpgen_window_end(gen);
	uint64_t c1 = measure_tid ? tid_cpu_ns(measure_tid) : taskcpu_ns(measure_pid);
	machine_snap(&snap1);
	usleep(200000); /* stragglers of the window */
	rtpgen_result g = rtpgen_window_result(gen);
	double relayed = (double)g.received;
	r.pps = g.pps;
	r.loss = g.loss;
	r.relay_us = relayed > 0 ? (double)(c1 - c0) / 1e3 / relayed : 0;
	r.machine_us = relayed > 0 ? (double)machine_delta_ns(&snap0, &snap1) / 1e3 / relayed : 0;
	r.p50 = g.p50_us;
	r.p99 = g.p99_us;
	return r;
}

static int setup_crypto(unsigned n, enum mode m)
{
	for (unsigned k = 0; k < n; k++) {
		med_xc_destroy(gen_ctx[k]);
		med_xc_destroy(chk_ctx[k]);
		gen_ctx[k] = chk_ctx[k] = NULL;
		memset(&gen_st[k], 0, sizeof(gen_st[k]));
		memset(&chk_st[k], 0, sizeof(chk_st[k]));
		sbc_srtp_params pa = {.suite = SBC_SRTP_AES_CM_128_HMAC_SHA1_80, .key_len = 30};
		sbc_srtp_params pb = pa;
		memcpy(pa.key, key_a, 30);
		memcpy(pb.key, chk_key[k], 30);
		if (m == M_SRTP_RTP && med_xc_create(&gen_ctx[k], &pa, true, &gen_st[k]))
			return -1;
		if (m == M_RTP_SRTP && med_xc_create(&chk_ctx[k], &pb, false, &chk_st[k]))
			return -1;
	}
	return 0;
}

/* ---- the kernel floor: a bare relay loop on the same machine and load ----
 * One thread pinned to the relay's CPU running rtpgen_floor_loop() over N
 * sockets (epoll, one recvmmsg and one sendmmsg per ready socket, to our
 * receiver: no sessions, no checks, no crypto). What it costs per packet is
 * what the kernel's UDP path costs here, now; sbc-media's figures are read
 * against it. */
static _Atomic int floor_run;
static int floor_fds[MAXN];

static void *floor_main(void *arg)
{
	unsigned n = *(unsigned *)arg;
	pin(0);
	atomic_store(&measure_tid, (pid_t)gettid());
	rtpgen_floor_loop(floor_fds, n, &rx_addr.in4, &floor_run);
	return NULL;
}

static void run_floor(const unsigned *steps, unsigned nsteps, unsigned maxn, double seconds, double *us_out)
{
	unsigned n = maxn;
	for (unsigned k = 0; k < n; k++) {
		floor_fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		sbc_addr a = rx_addr;
		sbc_addr_set_port(&a, 0);
		bind(floor_fds[k], &a.sa, sizeof(a.in4));
		int rcv = 65536;
		setsockopt(floor_fds[k], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		socklen_t al = sizeof(gen->dst[k]);
		getsockname(floor_fds[k], (struct sockaddr *)&gen->dst[k], &al);
	}
	cur_mode = M_RTP;
	rtpgen_new_run(gen);
	atomic_store(&floor_run, 1);
	atomic_store(&measure_tid, 0);
	pthread_t ft;
	pthread_create(&ft, NULL, floor_main, &n);
	while (!atomic_load(&measure_tid))
		usleep(1000);
	rtpgen_start(gen);
	printf("%-10s %6s %10s %8s %10s %10s %8s %8s   [%s]\n", "mode", "N", "relayed/s", "loss%", "floor us",
	       "machine us", "p50 us", "p99 us", "bare recvmmsg/sendmmsg loop");
	for (unsigned i = 0; i < nsteps; i++) {
		result r = run_step(steps[i], seconds, 50000);
		printf("%-10s %6u %10.0f %8.3f %10.2f %10.2f %8" PRIu64 " %8" PRIu64 "%s\n", "RTP->RTP", steps[i], r.pps,
		       r.loss * 100, r.relay_us, r.machine_us, r.p50, r.p99, r.loss > 0.001 ? "  (loss above 0.1%)" : "");
		us_out[i] = r.loss <= 0.001 ? r.relay_us : 0;
	}
	rtpgen_stop(gen, 200000);
	atomic_store(&floor_run, 0);
	pthread_join(ft, NULL);
	atomic_store(&measure_tid, 0);
	for (unsigned k = 0; k < n; k++)
		close(floor_fds[k]);
}

/* Runs every wanted mode against one relay (0: sbc-media, 1: rtpengine).
 * us_out[mode][step]: CPU us per relayed packet, 0 where loss > 0.1%. */
static int run_target(int target, const bool *want, const unsigned *steps, unsigned nsteps, unsigned maxn,
		      double seconds, double us_out[3][16])
{
	const char *tname = target ? "rtpengine" : "sbc-media";
	int rc = 0;
	measure_pid = target ? rtpe_pid : relay_pid;
	printf("%-10s %6s %10s %8s %10s %10s %8s %8s   [%s]\n", "mode", "N", "relayed/s", "loss%", "relay us",
	       "machine us", "p50 us", "p99 us", tname);
	for (int m = M_RTP; m <= M_RTP_SRTP; m++) {
		if (!want[m])
			continue;
		cur_mode = (enum mode)m;
		rtpgen_new_run(gen);
		for (unsigned k = 0; k < maxn; k++)
			memcpy(chk_key[k], key_b, 30);
		if ((target ? rtpe_create(maxn, (enum mode)m) : create_sessions(maxn, (enum mode)m)) ||
		    setup_crypto(maxn, (enum mode)m)) {
			printf("%s: could not set up %u streams for %s\n", tname, maxn, mode_names[m]);
			rc = 1;
			break;
		}
		rtpgen_start(gen);
		result last_ok = {0};
		unsigned last_ok_n = 0;
		for (unsigned i = 0; i < nsteps; i++) {
			result r = run_step(steps[i], seconds, 50000);
			printf("%-10s %6u %10.0f %8.3f %10.2f %10.2f %8" PRIu64 " %8" PRIu64 "%s\n", mode_names[m], steps[i],
			       r.pps, r.loss * 100, r.relay_us, r.machine_us, r.p50, r.p99,
			       r.loss > 0.001 ? "  (loss above 0.1%)" : "");
			fflush(stdout);
			us_out[m][i] = r.loss <= 0.001 ? r.relay_us : 0;
			if (r.loss <= 0.001) {
				last_ok = r;
				last_ok_n = steps[i];
			}
		}
		printf("%-10s best below 0.1%% loss: %.0f packets/s (N=%u), %.2f us/pkt = %.0f packets per CPU-second\n",
		       mode_names[m], last_ok.pps, last_ok_n, last_ok.relay_us,
		       last_ok.relay_us > 0 ? 1e6 / last_ok.relay_us : 0);

		if (target == 0 && m == M_SRTP_RTP && last_ok_n) {
			/* Overload: offer twice the rate, then half; every stream must recover. */
			unsigned n = last_ok_n;
			result o = run_step(n, 1.5, 100000);
			uint64_t mark = rtpgen_now_ns();
			result back = run_step(n, 1.0, 25000);
			/* a stream is back when a packet SENT after the overload arrived */
			unsigned alive = rtpgen_heard_since(gen, n, mark);
			printf("overload   offered 2x (%u streams at 100 pps): relayed %.0f/s, loss %.1f%%; then 25 pps: loss %.3f%%, "
			       "streams heard again %u/%u%s\n",
			       n, o.pps, o.loss * 100, back.loss * 100, alive, n, alive == n ? "" : "  (STREAMS LEFT DEAD)");
			if (alive != n)
				rc = 1;
			char st[SBC_MSG_TEXT_MAX + 1];
			relay_stats(st, sizeof(st));
			const char *d = strstr(st, "\"drops\"");
			const char *e = d ? strchr(d, '}') : NULL;
			printf("overload   relay counters: %.*s%s\n", d && e ? (int)(e - d + 1) : 0, d ? d : "",
			       strstr(st, "uring_rearms") ? strstr(st, "\"uring_rearms\"") : "");
		}
		rtpgen_stop(gen, 200000);
		if (cur_mode == M_RTP_SRTP)
			printf("%-10s receiver check: %" PRIu64 " sampled SRTP packets decrypted, %" PRIu64 " bad\n",
			       mode_names[m], atomic_load(&gen->rx_checked), atomic_load(&gen->rx_bad));
		else if (atomic_load(&gen->rx_bad))
			printf("%-10s %" PRIu64 " packets arrived damaged\n", mode_names[m], atomic_load(&gen->rx_bad));
		if (atomic_load(&gen->rx_bad))
			rc = 1;
		atomic_store(&gen->rx_bad, 0);
		atomic_store(&gen->rx_checked, 0);
		if (target)
			rtpe_delete(maxn);
		else
			delete_sessions(maxn, (enum mode)m);
	}
	return rc;
}

/* A table of CPU-per-packet ratios, one row per data path and mode that
 * ran, one column per step: sbc-media's (us[io]) over the bare loop's
 * (floor_us), or with vs_rtpengine rtpengine's (us[2]) over sbc-media's;
 * "-" where a figure is missing (a loss above 0.1%). */
static void ratio_table(const char *title, const unsigned *steps, unsigned nsteps, const bool want[3],
			const bool ran_io[2], const char *const io_names[2], double us[3][3][16],
			const double floor_us[16], bool vs_rtpengine)
{
	printf("\n%s:\n%-18s", title, "mode");
	for (unsigned i = 0; i < nsteps; i++)
		printf(" %8s%-5u", "N=", steps[i]);
	printf("\n");
	for (int io = 0; io < 2; io++)
		for (int m = 0; m < 3; m++) {
			if (!want[m] || !ran_io[io])
				continue;
			printf("%-10s %-7s", mode_names[m], io_names[io]);
			for (unsigned i = 0; i < nsteps; i++) {
				double num = vs_rtpengine ? us[2][m][i] : us[io][m][i];
				double den = vs_rtpengine ? us[io][m][i] : floor_us[i];
				if (num > 0 && den > 0)
					printf(" %12.2fx", num / den);
				else
					printf(" %13s", "-");
			}
			printf("\n");
		}
}

int main(void)
{
	char err[256], bin[512], rt[256], name[64];
	const char *build = getenv("SBC_BUILD");
	const char *streams_env = getenv("BENCH_STREAMS");
	const char *modes_env = getenv("BENCH_MODES");
	double seconds = getenv("BENCH_SECONDS") ? atof(getenv("BENCH_SECONDS")) : 2.0;
	unsigned steps[16], nsteps = 0, maxn = 0;
	char sbuf[256];

	snprintf(sbuf, sizeof(sbuf), "%s", streams_env ? streams_env : "500 2000 3000");
	for (char *t = strtok(sbuf, " ,"); t && nsteps < 16; t = strtok(NULL, " ,")) {
		unsigned v = (unsigned)atoi(t);
		if (v > 0 && v <= MAXN) {
			steps[nsteps++] = v;
			if (v > maxn)
				maxn = v;
		}
	}
	snprintf(bin, sizeof(bin), "%s/sbc-media", build ? build : "build");
	if (access(bin, X_OK) != 0) {
		printf("bench_relay: %s not found (set SBC_BUILD)\n", bin);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (med_xc_global_init(err, sizeof(err))) {
		printf("bench_relay: SRTP init: %s\n", err);
		return 1;
	}
	for (unsigned i = 0; i < 30; i++) {
		key_a[i] = (uint8_t)(i * 3 + 1);
		key_b[i] = (uint8_t)(i * 5 + 2);
	}
	gen = rtpgen_new();
	chk_key = calloc(MAXN, sizeof(*chk_key));
	if (!gen || !chk_key) {
		printf("bench_relay: out of memory\n");
		return 1;
	}
	gen->make = make_pkt;
	gen->check = check_pkt;
	gen->cpu = 1;
	for (unsigned k = 0; k < MAXN; k++)
		memcpy(chk_key[k], key_b, 30);

	/* Ports: below the kernel's ephemeral range, where nobody else on this
	 * machine binds right now (other tests come and go: the relay skips a
	 * busy slot, and there is slack). */
	unsigned slots = maxn + 64;
	unsigned best_free = 0;
	port_base = 20000;
	for (unsigned base = 2048; base + 4 * slots <= 32768; base += 2048) {
		unsigned nfree = 0;
		for (unsigned k = 0; k < 4 * slots; k++) {
			int t = socket(AF_INET, SOCK_DGRAM, 0);
			sbc_addr a;
			sbc_addr_parse("127.0.0.1:0", -1, &a);
			sbc_addr_set_port(&a, (uint16_t)(base + k));
			if (bind(t, &a.sa, sizeof(a.in4)) == 0)
				nfree++;
			close(t);
		}
		if (nfree > best_free) {
			best_free = nfree;
			port_base = (uint16_t)base;
		}
		if (nfree == 4 * slots)
			break;
	}
	snprintf(rt, sizeof(rt), "/tmp/bench_relay.%d.json", (int)getpid());
	FILE *f = fopen(rt, "w");
	fprintf(f, "{\"log_level\":\"notice\",\"media\":{\"workers\":1,\"address\":\"127.0.0.1\",\"port_min\":%u,"
		   "\"port_max\":%u,\"rtp_timeout_ms\":600000}}",
		port_base, port_base + 4 * slots - 1);
	fclose(f);
	snprintf(name, sizeof(name), "/sbc-bench-%d", (int)getpid());
	shm_seg_config cfg = {.signal_workers = 1, .media_workers = 1, .ring_bytes = 1 << 20, .ctl_ring_bytes = 1 << 16};
	cfg.regions[0].name = MED_REGION_NAME;
	cfg.regions[0].bytes = MED_SESSION_REGION_BYTES(slots);
	if (shm_seg_create(name, &cfg, &seg, err, sizeof(err))) {
		printf("bench_relay: %s\n", err);
		return 1;
	}
	shm_seg_producer(seg, &ring_out, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0);
	shm_seg_consumer(seg, &ring_in, SHM_ROLE_MEDIA, 0, SHM_ROLE_SIGNAL, 0);
	shm_seg_producer(seg, &ctl_out, SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, 0);
	shm_seg_consumer(seg, &ctl_in, SHM_ROLE_MEDIA, 0, SHM_ROLE_CONTROL, 0);
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, 0);
	shm_ring_push(&ring_out, SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h));

	pin(1); /* the relay's worker takes the first CPU; we stay off it */

	int tx_fd = socket(AF_INET, SOCK_DGRAM, 0);
	int rx_fd = socket(AF_INET, SOCK_DGRAM, 0);
	gen->tx_fd = tx_fd;
	gen->rx_fd = rx_fd;
	int big = 8 << 20;
	setsockopt(tx_fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	sbc_addr_parse("127.0.0.1:0", -1, &rx_addr);
	bind(rx_fd, &rx_addr.sa, sizeof(rx_addr.in4));
	socklen_t al = sizeof(rx_addr);
	getsockname(rx_fd, &rx_addr.sa, &al);

	printf("sbc-media relay benchmark: 1 worker pinned to cpu 0, load generator + receiver on cpu 1\n");
	printf("(the figures include whatever else runs on this machine: compare runs, not single numbers)\n");
	printf("N streams x 50 pps, 160-byte payloads, batched sendmmsg; %.1f s per step\n", seconds);
	printf("reference: kernel UDP floor ~4.1-4.4 us CPU per relayed packet (receive + send);\n"
	       "target: relay CPU <= 1.1 x floor + crypto (~0.2 us) => <= ~5.0 us/pkt (SRTP), <= ~4.8 us (RTP)\n"
	       "rtpengine userspace: ~7.4 us per SRTP->RTP packet; target >= 1.5x its packets per CPU-second\n\n");

	int rc = 0;
	bool want[3] = {true, true, true};
	if (modes_env) {
		static const char *tok[] = {"rtp", "srtp-rtp", "rtp-srtp"};
		for (int m = 0; m < 3; m++) {
			char mb[128], *t;
			want[m] = false;
			snprintf(mb, sizeof(mb), "%s", modes_env);
			for (t = strtok(mb, " ,"); t; t = strtok(NULL, " ,"))
				want[m] |= strcmp(t, tok[m]) == 0;
		}
	}
	/* the floor first: what the kernel alone costs here, now */
	static double floor_us[16];
	printf("\nkernel floor, measured now on this machine:\n");
	run_floor(steps, nsteps, maxn, seconds, floor_us);

	/* sbc-media once per data path: epoll (default) and io_uring */
	static double us[3][3][16];
	static const char *io_names[2] = {"uring", "epoll"};
	const char *io_env = getenv("BENCH_IO") ? getenv("BENCH_IO") : "epoll uring";
	int st;
	bool ran_io[2] = {false, false};
	for (int io = 0; io < 2; io++) {
		if (!strstr(io_env, io_names[io]))
			continue;
		relay_pid = fork();
		if (relay_pid == 0) {
			cpu_set_t all;
			CPU_ZERO(&all);
			for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN) && c < CPU_SETSIZE; c++)
				CPU_SET(c, &all);
			sched_setaffinity(0, sizeof(all), &all);
			setenv("SBC_MEDIA_IO", io_names[io], 1);
			execl(bin, bin, "--shm", name, "--runtime", rt, (char *)NULL);
			_exit(127);
		}
		usleep(300000);
		printf("\nsbc-media, %s data path (SBC_MEDIA_IO=%s):\n", io == 0 ? "io_uring" : "epoll + recvmmsg/sendmmsg",
		       io_names[io]);
		rc |= run_target(0, want, steps, nsteps, maxn, seconds, us[io]);
		ran_io[io] = true;
		kill(relay_pid, SIGTERM);
		waitpid(relay_pid, &st, 0);
	}

	ratio_table("sbc-media CPU per packet / the bare loop's (the target is <= 1.1 plus the crypto)", steps, nsteps,
		    want, ran_io, io_names, us, floor_us, false);

	const char *re = getenv("BENCH_RTPENGINE");
	bool have_rtpe = access("/usr/bin/rtpengine", X_OK) == 0;
	if (re && strcmp(re, "0") == 0) {
		printf("\nrtpengine: skipped (BENCH_RTPENGINE=0)\n");
	} else if (!have_rtpe) {
		printf("\nrtpengine: /usr/bin/rtpengine not installed (make bench-deps installs rtpengine-daemon): no comparison\n");
	} else if (rtpe_start() != 0) {
		printf("\nrtpengine: did not answer on its ng port: no comparison\n");
		if (rtpe_pid > 0) {
			kill(rtpe_pid, SIGKILL);
			waitpid(rtpe_pid, &st, 0);
		}
	} else {
		printf("\nrtpengine %s in userspace (--table=-1, 1 worker thread, pinned to cpu 0), same load, driven over ng:\n",
		       "10.5 (Debian)");
		rc |= run_target(1, want, steps, nsteps, maxn, seconds, us[2]);
		kill(rtpe_pid, SIGTERM);
		waitpid(rtpe_pid, &st, 0);
		ratio_table("ratio rtpengine CPU / sbc-media CPU per relayed packet (= sbc-media packets per CPU-second / "
			    "rtpengine's; target >= 1.5 for SRTP<->RTP at 2000+ streams)",
			    steps, nsteps, want, ran_io, io_names, us, floor_us, true);
		printf("('-': a loss above 0.1%% on either side at that N)\n");
	}
	shm_seg_detach(seg);
	shm_seg_unlink(name);
	unlink(rt);
	return rc;
}
