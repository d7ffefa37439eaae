/* sbc-signal — UDP: one SIP message per datagram (RFC 3261 18.3).
 *
 * Sending is deferred to the end of the loop iteration: the datagrams a
 * worker produces while it handles one batch of input (a recvmmsg batch,
 * timers, ring messages) leave in one sendmmsg per socket from a
 * uv_prepare handle, which runs before the loop blocks again (sig_batch.h).
 * A call costs seven datagrams out. With the early stop of libuv's read
 * loop below, bench_b2b_calls over UDP at 1000 calls/s went from 13.8-14.8
 * to 8.4-9.7 system calls per call (three runs each). */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h: struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "sbc/err.h"
#include "sig_batch.h"
#include "sig_sip.h"
#include "sig_worker.h"

#define UDP_RX_BYTES (SIG_UDP_BATCH * 65536u)
#define UDP_OUT_MAX 64		   /* datagrams queued per iteration before a flush */
#define UDP_OUT_BYTES (128u * 1024u) /* their bytes */
#define CONN_OUT_MAX 256	   /* stream connections written per iteration */
#define UDP_LOST_MAX 64		   /* losses waiting for the send-failed hook */

/* The batch (sig_batch.h) lives behind the recvmmsg slots in w->udp_buf:
 * one allocation per worker, made by the first UDP listener or the first
 * batched stream send, freed by sig_server_destroy. */
typedef struct udp_out {
	uv_prepare_t flush; /* closed with every other handle when the worker stops */
	unsigned n;
	size_t used;
	int fd[UDP_OUT_MAX];
	sbc_addr dst[UDP_OUT_MAX];
	struct iovec iov[UDP_OUT_MAX];
	struct mmsghdr mm[UDP_OUT_MAX];
	unsigned n_conn;
	sig_conn_id conn[CONN_OUT_MAX]; /* sig_batch_conn */
	/* losses for the send-failed hook (sig_batch_lost), delivered by
	 * lost_timer at 0 ms: the next iteration's timers, before its poll */
	uv_timer_t lost_timer;
	unsigned n_lost;
	struct udp_lost {
		uint8_t tp;
		uint8_t icmp; /* q holds the request an ICMP error quoted */
		sbc_addr dst;
		sig_conn_id conn;
		int err;
		uint64_t at_ns;
		sig_icmp_quote q;
	} lost[UDP_LOST_MAX];
	uint8_t rx_burst;		/* udp_alloc_cb: inside one readable callback */
	unsigned rx_got;		/* datagrams the last recvmmsg returned */
	unsigned rx_wake;		/* datagrams this readable callback (0: EPOLLERR?) */
	char bytes[UDP_OUT_BYTES];
} udp_out;

static udp_out *out_of(sig_worker *w) { return (udp_out *)(void *)(w->udp_buf + UDP_RX_BYTES); }

/* recvmmsg: libuv splits the buffer into 64 KiB slots, one datagram each;
 * only the pages datagrams land on are ever touched.
 * libuv (1.44) calls recvmmsg again and again until it says EAGAIN: one
 * wasted system call per wake-up, most wake-ups at our rates. When the last
 * recvmmsg returned fewer datagrams than it had slots for, the socket is
 * drained: an empty buffer makes libuv stop (UV_ENOBUFS to udp_recv_cb,
 * ignored); the poll is level-triggered, so a datagram that arrives just
 * after is read on the next iteration. */
static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	sig_listener *l = h->data;
	udp_out *o = out_of(l->w);
	(void)suggested;
	if (o->rx_burst && o->rx_got < SIG_UDP_BATCH) {
		o->rx_burst = 0;
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	if (!o->rx_burst)
		o->rx_wake = 0;
	o->rx_burst = 1;
	o->rx_got = 0;
	buf->base = l->w->udp_buf;
	buf->len = UDP_RX_BYTES;
}

static void udp_sent(sig_worker *w, size_t len)
{
	sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_bytes_out, len);
	sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_msgs_out, 1);
}

/* Sends the queue: one sendmmsg per run of datagrams on the same socket. A
 * datagram the kernel refuses is counted as a send error and skipped, as a
 * direct send would have been. Its sender was told 0 when it was queued, so
 * a hard error (no route, EPERM/EACCES from a firewall or a broadcast
 * address) goes to the send-failed hook: the transaction fails over now
 * instead of after its timer. EAGAIN (a full socket buffer) and ENOBUFS (a
 * full device queue; reported since IP_RECVERR is on) do not: they are our
 * own congestion, not the peer's failure, the next route would leave the
 * same way, and UDP transactions retransmit. */
/* With IP_RECVERR on, every ICMP error for the socket (also a forged one:
 * anyone can send them) sets the socket's pending error, and the next
 * send returns that error instead of sending its datagram: a refused, or
 * a host/network unreachable, that belongs to another datagram, long gone
 * (the details are on the error queue: udp_drain_errors). That send
 * consumed the pending error: sending again sends. ECONNREFUSED comes
 * only that way on an unconnected socket; an unreachable may also be this
 * datagram's own route failing, which the next try finds again. */
static int async_icmp_errno(int e)
{
	return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN;
}
#define UDP_SEND_TRIES 4 /* a pending error between each: a flood's worth */

/* A send from fd to dst still failed with e after its tries: is that the
 * destination's own failure? An unreachable returned by a send is either
 * the route lookup failing for this datagram (a genuine local failure:
 * the transaction fails over at once) or, since IP_RECVERR, the pending
 * error of some ICMP (forged ones too) that a flood renewed between every
 * try: never this destination's loss, or anyone could fail our calls and
 * mark trunks down. The kernel does not say which, but the route lookup
 * can be asked alone: a UDP socket connected to dst from fd's address
 * looks the route up (and sends nothing, so no ICMP ever lands on it).
 * Costs five system calls on this failure path only. Returns the error to
 * report as the destination's loss, or 0 when there is none or the probe
 * itself failed (see below): the datagram is dropped like a lost one (UDP
 * transactions retransmit). ECONNREFUSED comes only from an ICMP on an
 * unconnected socket; EAGAIN and ENOBUFS are our own congestion, not the
 * peer's failure (the next route would leave the same way). */
static int udp_send_lost_err(int fd, const sbc_addr *dst, int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ECONNREFUSED)
		return 0;
	if (!async_icmp_errno(e))
		return e; /* EPERM/EACCES (firewall), EINVAL...: this datagram's */
	int fam = dst->sa.sa_family;
	socklen_t dl = fam == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int p = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p < 0)
		return 0; /* cannot tell: the transaction timers cover a real loss */
	sbc_addr src;
	socklen_t sl = sizeof(struct sockaddr_in6);
	memset(&src, 0, sizeof(src));
	/* from the listener's address (it may select the route); port 0 */
	if (getsockname(fd, &src.sa, &sl) == 0 && src.sa.sa_family == fam) {
		sbc_addr_set_port(&src, 0);
		bind(p, &src.sa, sl); /* best effort: a wildcard, or a lookup without source */
	}
	int r = connect(p, &dst->sa, dl) < 0 ? errno : 0;
	close(p);
	/* Only the routing table's answers are the destination's loss: no
	 * route or a "throw" (ENETUNREACH), an "unreachable" route
	 * (EHOSTUNREACH), "prohibit" (EACCES), "blackhole" (EINVAL), for IPv4
	 * and IPv6 alike (measured with ip route add in a namespace). Any
	 * other failure is the probe's own, before the lookup: connect binds
	 * an ephemeral port first, so with the local port range used up it
	 * returns EAGAIN whatever the route, and a forged unreachable flood
	 * under a port shortage must not fail calls over nor mark trunks
	 * down; nor must EMFILE/ENOBUFS. */
	if (r == ENETUNREACH || r == EHOSTUNREACH || r == EACCES || r == EINVAL)
		return r;
	return 0;
}

static void out_flush(sig_worker *w)
{
	udp_out *o = out_of(w);
	unsigned i = 0;
	while (i < o->n) {
		unsigned run = 1;
		while (i + run < o->n && o->fd[i + run] == o->fd[i])
			run++;
		int r, tries = 0;
		do
			r = sendmmsg(o->fd[i], &o->mm[i], run, MSG_DONTWAIT);
		while (r < 0 && (errno == EINTR || (async_icmp_errno(errno) && ++tries < UDP_SEND_TRIES)));
		if (r <= 0) { /* the first one failed: skip it, go on with the rest */
			int e = r < 0 ? errno : EIO;
			sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_send_errors, 1);
			if ((e = udp_send_lost_err(o->fd[i], &o->dst[i], e)) != 0)
				sig_batch_lost(w, SIG_TP_UDP, &o->dst[i], 0, -e);
			i++;
			continue;
		}
		for (int k = 0; k < r; k++)
			udp_sent(w, o->iov[i + (unsigned)k].iov_len);
		i += (unsigned)r;
	}
	o->n = 0;
	o->used = 0;
}

void sig_batch_flush(sig_worker *w)
{
	if (!w->udp_buf)
		return;
	udp_out *o = out_of(w);
	if (o->n)
		out_flush(w);
	/* by id: a connection closed since it was queued is simply not found */
	for (unsigned i = 0; i < o->n_conn; i++) {
		sig_conn *c = sig_conn_lookup(w, o->conn[i]);
		if (c)
			sig_conn_flush_batched(c);
	}
	o->n_conn = 0;
}

static void out_flush_cb(uv_prepare_t *h) { sig_batch_flush(h->data); }

static sig_send_failed_hook g_send_failed_hook;

void sig_set_send_failed_hook(sig_send_failed_hook fn) { g_send_failed_hook = fn; }

/* The losses noted since the last run: a copy first, since the hook sends
 * again (failover) and may note new losses. */
static void lost_cb(uv_timer_t *h)
{
	sig_worker *w = h->data;
	udp_out *o = out_of(w);
	struct udp_lost l[UDP_LOST_MAX];
	unsigned n = o->n_lost;
	memcpy(l, o->lost, n * sizeof(l[0]));
	o->n_lost = 0;
	for (unsigned i = 0; i < n && g_send_failed_hook && !w->stopping; i++)
		g_send_failed_hook(w, (enum sig_tp)l[i].tp, &l[i].dst, l[i].conn, l[i].err, l[i].at_ns,
				   l[i].icmp ? &l[i].q : NULL);
}

static udp_out *batch_get(sig_worker *w)
{
	if (w->udp_buf)
		return out_of(w);
	w->udp_buf = malloc(UDP_RX_BYTES + sizeof(udp_out));
	if (!w->udp_buf)
		return NULL;
	udp_out *o = out_of(w);
	o->n = 0;
	o->used = 0;
	o->n_conn = 0;
	o->rx_burst = 0;
	o->rx_got = 0;
	o->rx_wake = 0;
	uv_prepare_init(&w->loop, &o->flush);
	o->flush.data = w;
	uv_prepare_start(&o->flush, out_flush_cb);
	uv_unref((uv_handle_t *)&o->flush); /* never what keeps the loop alive */
	o->n_lost = 0;
	uv_timer_init(&w->loop, &o->lost_timer);
	o->lost_timer.data = w;
	uv_unref((uv_handle_t *)&o->lost_timer);
	return o;
}

/* One entry per distinct loss in an iteration: the hook scans the worker's
 * transactions once per (tp, dst, conn) entry, so a burst of losses toward
 * one peer (a refused connection's queued messages, flush errors, an ICMP
 * flood quoting the same request) costs one scan or lookup, not one each.
 * A repeat keeps the later time: what was sent before either loss is lost. */
static void lost_add(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
		     const sig_icmp_quote *q)
{
	udp_out *o = w->stopping || !g_send_failed_hook ? NULL : batch_get(w);
	if (!o)
		return;
	uint64_t now = uv_hrtime();
	for (unsigned i = 0; i < o->n_lost; i++) {
		struct udp_lost *l = &o->lost[i];
		if (l->tp == tp && l->conn == conn && l->icmp == (q != NULL) && sbc_addr_equal(&l->dst, dst) &&
		    (!q || (strcmp(l->q.branch, q->branch) == 0 && strcmp(l->q.method, q->method) == 0))) {
			l->at_ns = now;
			l->err = err;
			return;
		}
	}
	/* ICMP quotes (anyone can send them) may take only half the entries:
	 * a flood of distinct ones must not crowd out a real connection loss */
	if (o->n_lost == UDP_LOST_MAX || (q && o->n_lost >= UDP_LOST_MAX / 2))
		return;
	struct udp_lost *l = &o->lost[o->n_lost++];
	l->tp = (uint8_t)tp;
	l->icmp = q != NULL;
	l->dst = *dst;
	l->conn = conn;
	l->err = err;
	l->at_ns = now;
	if (q)
		l->q = *q;
	if (!uv_is_active((uv_handle_t *)&o->lost_timer))
		uv_timer_start(&o->lost_timer, lost_cb, 0, 0);
}

void sig_batch_lost(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err)
{
	lost_add(w, tp, dst, conn, err, NULL);
}

int sig_forward_icmp(sig_worker *w, unsigned to, const sbc_addr *dst, int err, const sig_icmp_quote *q)
{
	if (to >= w->srv->n_workers || to == w->idx)
		return SBC_E_INVAL;
	sig_xmsg_icmp m = {.dst = *dst, .err = err, .q = *q};
	int r = shm_ring_push(&w->xout[to], SIG_XMSG_ICMP, 1, &m, sizeof(m));
	if (r < 0)
		sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_xworker_full, 1);
	return r;
}

int sig_forward_lost(sig_worker *w, unsigned to, enum sig_tp tp, sig_conn_id conn, int err)
{
	if (to >= w->srv->n_workers || to == w->idx)
		return SBC_E_INVAL;
	sig_xmsg_lost m = {.conn = conn, .err = err, .tp = (uint8_t)tp};
	int r = shm_ring_push(&w->xout[to], SIG_XMSG_LOST, 1, &m, sizeof(m));
	if (r < 0)
		sig_stat_add(w->stats, tp, SIG_ST_xworker_full, 1);
	return r;
}

void sig_batch_icmp(sig_worker *w, const sig_xmsg_icmp *m)
{
	sig_icmp_quote q = m->q; /* from another thread of ours, terminated anyway */
	q.method[sizeof(q.method) - 1] = '\0';
	q.branch[sizeof(q.branch) - 1] = '\0';
	lost_add(w, SIG_TP_UDP, &m->dst, 0, m->err, &q);
}

int sig_batch_conn(sig_worker *w, sig_conn_id id)
{
	udp_out *o = w->stopping ? NULL : batch_get(w);
	if (!o)
		return SBC_E_STATE;
	if (o->n_conn == CONN_OUT_MAX)
		return SBC_E_LIMIT;
	o->conn[o->n_conn++] = id;
	return 0;
}

/* p[0..end) begins with lit, ASCII case-insensitively */
static int ci_prefix(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(end - p) >= n && strncasecmp(p, lit, n) == 0;
}

/* The request line method and the top Via branch of the quoted start of a
 * datagram we sent (an ICMP error returns what the router or host quoted:
 * Linux quotes up to 576 bytes over IPv4, 1280 over IPv6; RFC 792 only
 * asks for 8 bytes of payload: then nothing is found). Only requests we
 * built are of interest, so the format is ours: "Via: SIP/2.0/UDP
 * host:port;branch=z9hG4bK...". Returns 0 when both were found whole. */
int sig_icmp_quote_parse(const char *p, size_t len, sig_icmp_quote *q)
{
	const char *end = p + len, *s = p;
	size_t n = 0;
	while (s + n < end && n < sizeof(q->method) - 1 && s[n] >= 'A' && s[n] <= 'Z')
		n++;
	if (n == 0 || s + n >= end || s[n] != ' ')
		return SBC_E_PARSE;
	memcpy(q->method, s, n);
	q->method[n] = 0;
	/* the first header line that is a Via (full or compact form) */
	for (const char *l = memchr(s, '\n', (size_t)(end - s)); l; l = memchr(l, '\n', (size_t)(end - l))) {
		l++;
		if (!ci_prefix(l, end, "via:") && !ci_prefix(l, end, "v:"))
			continue;
		const char *eol = memchr(l, '\n', (size_t)(end - l));
		if (!eol)
			return SBC_E_PARSE; /* cut short: the branch may be too */
		for (const char *b = l; b + 8 <= eol; b++) {
			if (!ci_prefix(b, eol, ";branch="))
				continue;
			b += 8;
			size_t m = 0;
			while (b + m < eol && b[m] != ';' && b[m] != ',' && b[m] != ' ' && b[m] != '\t' &&
			       b[m] != '\r')
				m++;
			if (m < 8 || m >= sizeof(q->branch) || memcmp(b, "z9hG4bK", 7) != 0)
				return SBC_E_PARSE;
			memcpy(q->branch, b, m);
			q->branch[m] = 0;
			return 0;
		}
		return SBC_E_PARSE; /* the top Via has no branch */
	}
	return SBC_E_PARSE;
}

/* ICMP errors for datagrams we sent (IP_RECVERR, sig_udp_start). Our UDP
 * sockets are not connected (one socket serves every peer), and Linux
 * tells an unconnected socket about an ICMP error only through its error
 * queue, with the datagram's original destination in msg_name and the
 * quoted start of the datagram as data. A port or host unreachable means
 * the request it quotes is lost: it goes to the send-failed hook, so that
 * a trunk whose host is up but whose SIP process is not fails over at
 * once (RFC 3261 18.4, RFC 3263 4.3) instead of after the no-response
 * timer. Anyone can send an ICMP that quotes our address and the peer's
 * (the kernel checks nothing else on an unconnected socket), so, as RFC
 * 5927 4.1 advises, only the transaction whose Via branch the quote holds
 * is failed: our branches carry 64 random bits (b2b_engine.c new_branch()),
 * which an off-path sender cannot guess. A quote without one fails
 * nothing; the transaction timers still cover the loss. */
static void udp_drain_errors(sig_worker *w, int fd)
{
	/* to the end: entries left behind would keep epoll reporting EPOLLERR
	 * (seen by libuv as readable) with no socket error for recvmmsg to
	 * return, so nothing would call this again: a busy loop. The queue is
	 * bounded by the socket's receive buffer. */
	for (int i = 0; i < 65536; i++) {
		sbc_addr dst;
		char ctl[256], quote[512];
		struct iovec iov = {.iov_base = quote, .iov_len = sizeof(quote)};
		memset(&dst, 0, sizeof(dst));
		struct msghdr mh = {.msg_name = &dst.sa, .msg_namelen = sizeof(struct sockaddr_in6),
				    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				    .msg_controllen = sizeof(ctl)};
		ssize_t got = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (got < 0)
			return; /* EAGAIN: empty */
		/* our listeners are IPV6_V6ONLY (sig_socket.c), so the kernel
		 * reports v4 peers as v4; a mapped form, should one appear,
		 * still compares equal to the peer it maps */
		sbc_addr_unmap(&dst);
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
				continue;
			struct sock_extended_err ee;
			memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
			if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
				continue;
			sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_send_errors, 1);
			sig_icmp_quote q;
			if ((ee.ee_errno == ECONNREFUSED || ee.ee_errno == EHOSTUNREACH ||
			     ee.ee_errno == ENETUNREACH) &&
			    sig_icmp_quote_parse(quote, (size_t)got, &q) == 0)
				lost_add(w, SIG_TP_UDP, &dst, 0, -(int)ee.ee_errno, &q);
		}
	}
}

static void udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
			unsigned flags)
{
	sig_listener *l = h->data;
	sig_worker *w = l->w;
	if (!addr) {
		/* the buffer handed back (UV_UDP_MMSG_FREE), or the end of this
		 * readable callback: EAGAIN (0), an error, our own UV_ENOBUFS.
		 * An ICMP error queued on the socket makes epoll report EPOLLERR,
		 * which libuv passes on as readable: recvmmsg then finds no
		 * datagram (EAGAIN: the kernel does not always return the socket
		 * error to a non-blocking read), or returns the error. Either
		 * way the queue is drained now, or the socket would stay "ready"
		 * and the loop spin. A wake-up that brought datagrams needs no
		 * check: the next one finds the error again (level-triggered). */
		if ((nread < 0 && nread != UV_ENOBUFS) || (nread == 0 && out_of(w)->rx_wake == 0))
			udp_drain_errors(w, l->fd);
		if (!(flags & UV_UDP_MMSG_FREE))
			out_of(w)->rx_burst = 0;
		return;
	}
	out_of(w)->rx_got++;
	out_of(w)->rx_wake++;
	if (nread <= 0)
		return;
	sig_stats *st = w->stats;
	sig_stat_add(st, SIG_TP_UDP, SIG_ST_bytes_in, (uint64_t)nread);
	if (flags & UV_UDP_PARTIAL) {
		sig_stat_add(st, SIG_TP_UDP, SIG_ST_frame_errors, 1);
		return;
	}
	sbc_addr src;
	memset(&src, 0, sizeof(src));
	memcpy(&src, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						       : sizeof(struct sockaddr_in));
	const sig_limits *lim = &w->srv->cfg.lim;
	sig_frame_limits fl = {lim->max_header, lim->max_body};
	sig_frame f;
	int r = sig_frame_datagram(buf->base, (size_t)nread, &fl, &f);
	if (r < 0) {
		char out[2048];
		sig_stat_add(st, SIG_TP_UDP, SIG_ST_frame_errors, 1);
		/* Only answer what parses as a request with its headers: never
		 * reflect traffic at a spoofed source for garbage. */
		int n = sig_local_error_reply(buf->base, (size_t)nread, 400, "Bad Request", out,
					      sizeof(out));
		if (n > 0 && f.why != SIG_FRAME_E_GARBAGE)
			sig_udp_send(w, &src, out, (size_t)n);
		return;
	}
	if (r != SIG_FRAME_MESSAGE) {
		sig_stat_add(st, SIG_TP_UDP, SIG_ST_pings, 1);
		return;
	}
	sig_stat_add(st, SIG_TP_UDP, SIG_ST_msgs_in, 1);
	const char *trunk = sig_trunk_by_addr(w->trunks, &src);
	sig_trunk_stat(w->tstats, trunk, SIG_TS_msgs_in, 1);
	sig_rx rx = {
		.worker = w,
		.worker_idx = w->idx,
		.tp = SIG_TP_UDP,
		.conn = 0,
		.src = &src,
		.local = &l->addr,
		.trunk = trunk,
		.msg = buf->base,
		.hdr_len = f.hdr_len,
		.body_len = f.body_len,
	};
	sig_worker_deliver(w, &rx);
}

int sig_udp_start(sig_worker *w, sig_listener *l)
{
	if (!batch_get(w))
		return UV_ENOMEM;
	int r = uv_udp_init_ex(&w->loop, &l->h.udp, AF_UNSPEC | UV_UDP_RECVMMSG);
	if (r < 0)
		return r;
	l->h.udp.data = l;
	r = uv_udp_open(&l->h.udp, l->fd);
	if (r < 0)
		return r;
	int fam = l->addr.sa.sa_family == AF_INET6, on = 1;
	/* ICMP errors for what we send (udp_drain_errors); without it they
	 * are never seen on an unconnected socket. Best effort. */
	if (fam)
		setsockopt(l->fd, SOL_IPV6, IPV6_RECVERR, &on, sizeof(on));
	setsockopt(l->fd, SOL_IP, IP_RECVERR, &on, sizeof(on)); /* v4 (also v4-mapped on v6) */
	if (w->udp_fd_for_send[fam] < 0)
		w->udp_fd_for_send[fam] = (int)(l - w->lst);
	return uv_udp_recv_start(&l->h.udp, udp_alloc_cb, udp_recv_cb);
}

static int udp_send_now(sig_worker *w, sig_listener *l, const sbc_addr *dst, const void *buf,
			size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int r, tries = 0;
	do /* a pending ICMP error consumed: again (out_flush) */
		r = uv_udp_try_send(&l->h.udp, &b, 1, &dst->sa);
	while (r < 0 && async_icmp_errno(-r) && ++tries < UDP_SEND_TRIES);
	if (r < 0) {
		sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_send_errors, 1);
		/* still an ICMP's pending error, not this destination's: dropped
		 * like a lost datagram (the transaction retransmits), never a
		 * failure of this transaction (as out_flush) */
		if (async_icmp_errno(-r) && udp_send_lost_err(l->fd, dst, -r) == 0)
			return 0;
		return r == UV_EAGAIN ? -EAGAIN : r;
	}
	udp_sent(w, len);
	return 0;
}

/* Queues the datagram for the end of this loop iteration (copied: callers
 * reuse their buffers). A stopping worker, or a datagram larger than the
 * queue, goes at once, after what is queued. */
static int udp_send_on(sig_worker *w, sig_listener *l, const sbc_addr *dst, const void *buf,
		       size_t len)
{
	udp_out *o = out_of(w);
	if (w->stopping || len > UDP_OUT_BYTES) {
		if (o->n)
			out_flush(w);
		return udp_send_now(w, l, dst, buf, len);
	}
	if (o->n == UDP_OUT_MAX || o->used + len > UDP_OUT_BYTES)
		out_flush(w);
	unsigned i = o->n++;
	char *p = o->bytes + o->used;
	memcpy(p, buf, len);
	o->used += len;
	o->fd[i] = l->fd;
	o->dst[i] = *dst;
	o->iov[i] = (struct iovec){.iov_base = p, .iov_len = len};
	o->mm[i] = (struct mmsghdr){
		.msg_hdr = {.msg_name = &o->dst[i],
			    .msg_namelen = dst->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
									 : sizeof(struct sockaddr_in),
			    .msg_iov = &o->iov[i],
			    .msg_iovlen = 1},
	};
	return 0;
}

int sig_udp_send(sig_worker *w, const sbc_addr *dst, const void *buf, size_t len)
{
	int fam = dst->sa.sa_family == AF_INET6;
	int li = w->udp_fd_for_send[fam];
	if (li < 0)
		return SBC_E_NOT_FOUND;
	return udp_send_on(w, &w->lst[li], dst, buf, len);
}

/* Replies on the socket the request came in on. */
int sig_udp_reply(const sig_rx *rx, const void *buf, size_t len)
{
	sig_listener *l = (sig_listener *)((char *)rx->local - offsetof(sig_listener, addr));
	return udp_send_on(rx->worker, l, rx->src, buf, len);
}
