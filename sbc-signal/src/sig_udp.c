/* sbc-signal — UDP: one SIP message per datagram (RFC 3261 18.3). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sig_sip.h"
#include "sig_worker.h"

/* recvmmsg: libuv splits the buffer into 64 KiB slots, one datagram each;
 * only the pages datagrams land on are ever touched. */
static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	sig_listener *l = h->data;
	if (!l->w->udp_buf)
		l->w->udp_buf = malloc(SIG_UDP_BATCH * 65536u);
	buf->base = l->w->udp_buf;
	buf->len = l->w->udp_buf ? SIG_UDP_BATCH * 65536u : 0;
}

static void udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
			unsigned flags)
{
	sig_listener *l = h->data;
	sig_worker *w = l->w;
	if (nread <= 0 || !addr)
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
	int r = uv_udp_init_ex(&w->loop, &l->h.udp, AF_UNSPEC | UV_UDP_RECVMMSG);
	if (r < 0)
		return r;
	l->h.udp.data = l;
	r = uv_udp_open(&l->h.udp, l->fd);
	if (r < 0)
		return r;
	int fam = l->addr.sa.sa_family == AF_INET6;
	if (w->udp_fd_for_send[fam] < 0)
		w->udp_fd_for_send[fam] = (int)(l - w->lst);
	return uv_udp_recv_start(&l->h.udp, udp_alloc_cb, udp_recv_cb);
}

static int udp_send_on(sig_worker *w, sig_listener *l, const sbc_addr *dst, const void *buf,
		       size_t len)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int r = uv_udp_try_send(&l->h.udp, &b, 1, &dst->sa);
	if (r < 0) {
		sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_send_errors, 1);
		return r == UV_EAGAIN ? -EAGAIN : r;
	}
	sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_bytes_out, len);
	sig_stat_add(w->stats, SIG_TP_UDP, SIG_ST_msgs_out, 1);
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
