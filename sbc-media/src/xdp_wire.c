/* sbc-media — the AF_XDP backend (xdp_backend.h) plugged into the workers:
 * chosen by media.backend = "xdp" on media.xdp_interfaces, one AF_XDP
 * socket per worker on RX queue = worker index, the same per-packet step as
 * the socket path (med_relay_packet()), the kernel sockets still bound
 * (they reserve the ports; what the XDP program passes reaches them).
 *
 * Caveats:
 *  1. Whatever keeps XDP from being used (no privilege, no such interface,
 *     fewer RX queues than workers, a worker's socket refused) is logged in
 *     one line saying why, and the socket backend carries the media; the
 *     reason is also in media.stats ("xdp_unused").
 *  2. A packet is steered to the worker of the RX queue it arrived on. A
 *     session of another worker seen there is dropped and counted
 *     ("xdp_foreign"): run one worker per RX queue with the NIC's flow
 *     steering, or one worker.
 *  3. packets_out / bytes_out count what the callback hands to the TX ring;
 *     the backend's own drops after that (next hop unresolved, TX ring
 *     full) are in media.stats "xdp"."drops".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <jansson.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "media.h"
#include "xdp_backend.h"

#define RESOLVE_MS 300 /* blocking next-hop resolution at session set-up */

static char unused_why[256];

const char *med_xdp_unused_why(void)
{
	return unused_why;
}

static void set_unused(const char *why)
{
	snprintf(unused_why, sizeof(unused_why), "%s", why);
	SBC_WARN("media: AF_XDP backend not used: %s; the socket backend carries the media", unused_why);
}

med_xdp *med_xdp_backend_open(const med_config *cfg, unsigned workers)
{
	med_xdp_config xc;
	med_xdp *x = NULL;
	char why[256] = "";
	int ret;

	if (strcmp(cfg->backend, "xdp") != 0)
		return NULL;
	if (cfg->n_xdp_ifs == 0) {
		set_unused("media.xdp_interfaces is empty");
		return NULL;
	}
	memset(&xc, 0, sizeof(xc));
	for (unsigned i = 0; i < cfg->n_xdp_ifs && i < MED_XDP_MAX_IFS; i++) {
		snprintf(xc.ifs[i].name, sizeof(xc.ifs[i].name), "%s", cfg->xdp_ifs[i]);
		xc.ifs[i].addrs[0] = cfg->address;
		xc.ifs[i].naddrs = 1;
		xc.nifs++;
	}
	xc.port_min = cfg->port_min;
	xc.port_max = cfg->port_max;
	xc.port_filter = true; /* only live sessions' ports: the rest reach the kernel */
	ret = med_xdp_open(&x, &xc, why, sizeof(why));
	if (ret) {
		set_unused(why[0] ? why : sbc_strerror(ret));
		return NULL;
	}
	if (med_xdp_queues(x) < workers) {
		char q[128];
		snprintf(q, sizeof(q), "%u media workers but the interfaces have %u RX queue(s)", workers,
			 med_xdp_queues(x));
		set_unused(q);
		med_xdp_close(x);
		return NULL;
	}
	return x;
}

void med_xdp_backend_failed(const char *why)
{
	set_unused(why);
}

void med_xdp_sess_ports(med_worker *w, med_sess *s, bool on)
{
	if (!w->xdp)
		return;
	for (unsigned l = 0; l < 2; l++)
		for (unsigned r = 0; r < 2; r++)
			med_xdp_port_set(w->xdp, med_sess_port(w, s, l, r), on);
}

void med_xdp_sess_resolve(med_worker *w, med_sess *s)
{
	if (!w->xw)
		return;
	for (unsigned l = 0; l < 2; l++) {
		const med_leg_rt *rt = &s->slot->rt[l];
		if (rt->peer_rtp.sa.sa_family)
			med_xdp_worker_resolve(w->xw, &rt->peer_rtp, RESOLVE_MS);
		if (rt->peer_rtcp.sa.sa_family && !sbc_addr_equal(&rt->peer_rtcp, &rt->peer_rtp))
			med_xdp_worker_resolve(w->xw, &rt->peer_rtcp, RESOLVE_MS);
	}
}

int med_worker_xdp_attach(med_worker *w, med_xdp *x, char *why, size_t whylen)
{
	int fds[MED_XDP_MAX_IFS], n, ret;

	if (w->use_uring) {
		snprintf(why, whylen, "worker %u: SBC_MEDIA_IO=uring", w->idx);
		return SBC_E_STATE;
	}
	ret = med_xdp_worker_create(x, w->idx, &w->xw, why, whylen);
	if (ret)
		return ret;
	w->xdp = x;
	n = med_xdp_worker_fds(w->xw, fds, MED_XDP_MAX_IFS);
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = MED_XDP_TAG};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			snprintf(why, whylen, "worker %u: epoll: %s", w->idx, strerror(errno));
			med_worker_xdp_detach(w);
			return -errno;
		}
	}
	/* Sessions restored from the shared region (a restart). */
	uint32_t ns = w->slot_hi - w->slot_lo;
	for (uint32_t i = 0; i < ns; i++)
		if (w->sess[i].active) {
			med_xdp_sess_ports(w, &w->sess[i], true);
			med_xdp_sess_resolve(w, &w->sess[i]);
		}
	return 0;
}

void med_worker_xdp_detach(med_worker *w)
{
	int fds[MED_XDP_MAX_IFS], n;
	if (!w->xw)
		return;
	n = med_xdp_worker_fds(w->xw, fds, MED_XDP_MAX_IFS);
	for (int i = 0; i < n; i++)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, fds[i], NULL);
	med_xdp_worker_destroy(w->xw);
	w->xw = NULL;
	w->xdp = NULL;
}

/* The callback: the socket path's per-packet step on the UMEM frame. */
static int xdp_cb(void *arg, med_xdp_pkt *p)
{
	med_worker *w = arg;
	unsigned leg, rtcp_sock;
	bool rtcp = false;
	med_sess *s = med_sess_by_port(w, sbc_addr_port(&p->dst), &leg, &rtcp_sock);

	if (!s) {
		w->tot.xdp_foreign++;
		return MED_XDP_DROP;
	}
	int len = (int)p->len;
	const sbc_addr *dst = med_relay_packet(w, s, leg, rtcp_sock, p->payload, &len, (int)p->cap, false,
					       &p->src, w->xdp_now_ns, 0, &rtcp);
	if (!dst)
		return MED_XDP_DROP;
	unsigned o = leg ^ 1;
	bool mux = (s->slot->flags & SBC_MEDIA_F_RTCP_MUX) != 0;
	med_leg_rt *out = &s->slot->rt[o];
	p->out_dst = *dst;
	memset(&p->out_src, 0, sizeof(p->out_src));
	p->out_src_port = med_sess_port(w, s, o, rtcp && !mux ? 1 : 0);
	p->out_len = (uint32_t)len;
	if (rtcp) {
		out->rtcp_out++;
	} else {
		out->packets_out++;
		out->bytes_out += (uint64_t)len;
	}
	return MED_XDP_FORWARD;
}

unsigned med_worker_xdp_poll(med_worker *w)
{
	if (!w->xw)
		return 0;
	w->xdp_now_ns = sbc_mono_ns();
	w->now_ms = w->xdp_now_ns / SBC_NS_PER_MS;
	int n = med_xdp_worker_poll(w->xw, xdp_cb, w, 0);
	return n > 0 ? (unsigned)n : 0;
}

json_t *med_worker_xdp_json(med_worker *w)
{
	json_t *j = json_object();
	if (!j)
		return NULL;
	if (w->xw) {
		char buf[1024];
		json_error_t jerr;
		json_object_set_new(j, "backend", json_string("xdp"));
		json_object_set_new(j, "xdp_attach", json_string(med_xdp_attach_mode(w->xdp)));
		json_object_set_new(j, "xdp_mode", json_string(med_xdp_worker_mode(w->xw)));
		json_object_set_new(j, "xdp_foreign", json_integer((json_int_t)w->tot.xdp_foreign));
		if (med_xdp_worker_stats_json(w->xw, buf, sizeof(buf)) > 0) {
			json_t *x = json_loads(buf, 0, &jerr);
			if (x)
				json_object_set_new(j, "xdp", x);
		}
	} else {
		json_object_set_new(j, "backend", json_string("socket"));
		if (unused_why[0])
			json_object_set_new(j, "xdp_unused", json_string(unused_why));
	}
	return j;
}
