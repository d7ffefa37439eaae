/* sbc-media — sessions: the shared table, their sockets and SRTP contexts.
 * Control path only (create/update/delete/restore): may allocate and log. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "media.h"

uint32_t med_region_slots_for(const med_config *cfg)
{
	uint32_t base = (cfg->port_min + 1u) & ~1u;
	if (cfg->port_max < base + 3)
		return 0;
	return MED_SESSIONS_FOR_PORTS(base, cfg->port_max);
}

int med_region_open(void *mem, size_t bytes, const med_config *cfg, unsigned workers,
		    bool *reused, char *errbuf, size_t errlen)
{
	med_region_hdr *h = mem;
	uint32_t want = med_region_slots_for(cfg);
	uint32_t fit;
	uint16_t base = (uint16_t)((cfg->port_min + 1u) & ~1u);

	if (bytes < MED_SESSION_REGION_BYTES(1)) {
		snprintf(errbuf, errlen, "region %s is %zu bytes, too small for one session", MED_REGION_NAME,
			 bytes);
		return SBC_E_CONFIG;
	}
	fit = (uint32_t)((bytes - MED_REGION_HDR_BYTES) / MED_SLOT_BYTES);
	if (want > fit)
		want = fit;
	if (want < workers) {
		snprintf(errbuf, errlen, "only %u sessions fit (ports %u-%u, region %zu bytes) for %u workers",
			 want, cfg->port_min, cfg->port_max, bytes, workers);
		return SBC_E_CONFIG;
	}
	*reused = false;
	if (h->magic == MED_REGION_MAGIC) {
		if (h->version == MED_REGION_VERSION &&
		    (h->slot_bytes == sizeof(med_slot) || h->slot_bytes == MED_SLOT_V1_BYTES) &&
		    h->nslots == want && h->workers == workers && h->port_base == base &&
		    h->port_max == cfg->port_max) {
			/* a slot of the older size has its creator_pid 0 (unknown,
			 * table-t.h): from now on the header says the new size */
			h->slot_bytes = sizeof(med_slot);
			*reused = true;
			atomic_fetch_add(&h->restarts, 1);
			return 0;
		}
		SBC_WARN("media.sessions region has another layout (version %u, %u slots, %u workers, ports %u-%u): "
			 "formatting it; its sessions are lost",
			 h->version, h->nslots, h->workers, h->port_base, h->port_max);
	}
	h->magic = 0;
	atomic_thread_fence(memory_order_release);
	memset((uint8_t *)mem + sizeof(*h), 0, MED_SESSION_REGION_BYTES(want) - sizeof(*h));
	h->version = MED_REGION_VERSION;
	h->slot_bytes = sizeof(med_slot);
	h->nslots = want;
	h->workers = workers;
	h->port_base = base;
	h->port_max = cfg->port_max;
	h->formatted_ms = sbc_wall_ms();
	atomic_store(&h->restarts, 0);
	atomic_thread_fence(memory_order_release);
	h->magic = MED_REGION_MAGIC;
	return 0;
}

uint16_t med_sess_port(const med_worker *w, const med_sess *s, unsigned leg, unsigned rtcp)
{
	return (uint16_t)(w->region->port_base + 4 * s->gidx + 2 * leg + rtcp);
}

med_sess *med_sess_by_port(med_worker *w, uint16_t port, unsigned *leg, unsigned *rtcp)
{
	uint32_t off, gidx;
	if (port < w->region->port_base)
		return NULL;
	off = (uint32_t)(port - w->region->port_base);
	gidx = off / 4;
	if (gidx < w->slot_lo || gidx >= w->slot_hi)
		return NULL;
	med_sess *s = &w->sess[gidx - w->slot_lo];
	if (!s->active)
		return NULL;
	*leg = (off / 2) & 1;
	*rtcp = off & 1;
	return s;
}

med_sess *med_sess_find(med_worker *w, uint64_t session_id)
{
	uint32_t n = w->slot_hi - w->slot_lo;
	for (uint32_t i = 0; i < n; i++) {
		med_sess *s = &w->sess[i];
		if (s->active && s->slot->session_id == session_id)
			return s;
	}
	return NULL;
}

static void close_sockets(med_worker *w, med_sess *s)
{
	for (unsigned l = 0; l < 2; l++)
		for (unsigned r = 0; r < 2; r++)
			if (s->fd[l][r] >= 0) {
				if (w->uring)
					med_uring_cancel(w, s, l, r);
				else if (!w->use_uring)
					epoll_ctl(w->epfd, EPOLL_CTL_DEL, s->fd[l][r], NULL);
				close(s->fd[l][r]);
				s->fd[l][r] = -1;
			}
}

static void free_crypto(med_sess *s, unsigned leg)
{
	med_xc_destroy(s->xc_rx[leg]);
	med_xc_destroy(s->xc_tx[leg]);
	s->xc_rx[leg] = s->xc_tx[leg] = NULL;
}

static int open_socket(med_worker *w, uint16_t port, int *out)
{
	sbc_addr a = w->cfg->address;
	int fd, one = 1, ret;
	int rcv = (int)w->cfg->rcvbuf;

	sbc_addr_set_port(&a, port);
	fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)); /* packet age: shedding */
	if (bind(fd, &a.sa, sbc_addr_len(&a)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* Binds the four ports of s->gidx and registers them with epoll. */
static int open_sockets(med_worker *w, med_sess *s)
{
	uint32_t local = (uint32_t)(s - w->sess);
	int ret;
	s->gen++;
	for (unsigned l = 0; l < 2; l++)
		for (unsigned r = 0; r < 2; r++) {
			if ((ret = open_socket(w, med_sess_port(w, s, l, r), &s->fd[l][r])) != 0)
				goto Fail;
			if (w->use_uring) {
				/* before the worker thread made its ring (restore), it
				 * arms every restored socket itself */
				if (w->uring && (ret = med_uring_arm(w, s, l, r)) != 0)
					goto Fail;
				continue;
			}
			/* edge-triggered: level-triggered epoll polls every socket
			 * it reported once more on the next wait only to find it
			 * empty, a cost per packet at 50 packets/s per socket; the
			 * relay reads until empty or queues it (w->pending) */
			struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
						 .data.u64 = ((uint64_t)local << 2) | (l << 1) | r};
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, s->fd[l][r], &ev) < 0) {
				ret = -errno;
				goto Fail;
			}
		}
	return 0;
Fail:
	close_sockets(w, s);
	return ret;
}

static int make_crypto(med_sess *s, unsigned leg, const sbc_media_leg *cfg)
{
	med_leg_rt *rt = &s->slot->rt[leg];
	int ret;
	if (cfg->rx.suite != SBC_SRTP_NONE &&
	    (ret = med_xc_create(&s->xc_rx[leg], &cfg->rx, false, &rt->xs_rx)) != 0)
		return ret;
	if (cfg->tx.suite != SBC_SRTP_NONE &&
	    (ret = med_xc_create(&s->xc_tx[leg], &cfg->tx, true, &rt->xs_tx)) != 0) {
		free_crypto(s, leg);
		return ret;
	}
	return 0;
}

static int check_srtp(const sbc_srtp_params *p)
{
	int want = med_xc_key_len(p->suite);
	if (want < 0 || p->key_len != want)
		return SBC_E_INVAL;
	return 0;
}

static int check_addr(const med_worker *w, const sbc_addr *a)
{
	if (a->sa.sa_family == 0)
		return 0;
	if (a->sa.sa_family != w->cfg->address.sa.sa_family)
		return SBC_E_INVAL;
	return 0;
}

static int check_media(const med_worker *w, const sbc_msg_media *m)
{
	for (unsigned l = 0; l < 2; l++) {
		const sbc_media_leg *g = &m->leg[l];
		if (check_srtp(&g->rx) || check_srtp(&g->tx) || check_addr(w, &g->remote_rtp) ||
		    check_addr(w, &g->remote_rtcp) || g->latch > 1)
			return SBC_E_INVAL;
	}
	return 0;
}

/* Destinations from the SDP addresses (unless latched). */
static void apply_remote(med_slot *sl, unsigned leg, uint32_t flags)
{
	const sbc_media_leg *g = &sl->cfg[leg];
	med_leg_rt *rt = &sl->rt[leg];
	if (!rt->latched)
		rt->peer_rtp = g->remote_rtp;
	if (!rt->latched_rtcp) {
		if (g->remote_rtcp.sa.sa_family)
			rt->peer_rtcp = g->remote_rtcp;
		else if (flags & SBC_MEDIA_F_RTCP_MUX)
			rt->peer_rtcp = g->remote_rtp;
		else {
			rt->peer_rtcp = g->remote_rtp;
			if (rt->peer_rtcp.sa.sa_family)
				sbc_addr_set_port(&rt->peer_rtcp, (uint16_t)(sbc_addr_port(&g->remote_rtp) + 1));
		}
	}
}

static bool srtp_same(const sbc_srtp_params *a, const sbc_srtp_params *b)
{
	return a->suite == b->suite && a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Whether a CREATE for a live session is that session's own: a record seen
 * again after our restart is byte for byte the one that made it, on the
 * same ring, so the creator, both legs (SDP addresses, keys, latching) and
 * the flags match. A session UPDATEd since no longer matches its CREATE: a
 * replay of that CREATE is then refused too, harmlessly (the session
 * stays; sbc-signal takes a CREATE's REPLY only while it waits for it,
 * before any UPDATE). */
static bool same_session(const med_slot *sl, const sbc_msg_media *m, unsigned role, unsigned idx)
{
	if (sl->creator_role != role || sl->creator_idx != idx || sl->flags != m->flags)
		return false;
	for (unsigned l = 0; l < 2; l++) {
		const sbc_media_leg *g = &m->leg[l], *o = &sl->cfg[l];
		if (!sbc_addr_equal(&g->remote_rtp, &o->remote_rtp) || !sbc_addr_equal(&g->remote_rtcp, &o->remote_rtcp) ||
		    g->latch != o->latch || !srtp_same(&g->rx, &o->rx) || !srtp_same(&g->tx, &o->tx))
			return false;
	}
	return true;
}

int med_sess_create(med_worker *w, const sbc_msg_media *m, unsigned role, unsigned idx,
		    med_sess **out)
{
	uint32_t n = w->slot_hi - w->slot_lo;
	med_sess *s = NULL;
	int ret = SBC_E_LIMIT, tries = 0;

	if ((ret = check_media(w, m)) != 0)
		return ret;
	if ((s = med_sess_find(w, m->session_id)) != NULL) {
		/* A repeated CREATE (e.g. replayed after our restart) is answered
		 * with the session. One with other legs is another call under a
		 * live session's id (an sbc-signal that reused its ids): this
		 * session's relay would cross the two calls' media. */
		if (!same_session(s->slot, m, role, idx)) {
			SBC_WARN("worker %u: CREATE for live session %" PRIu64 " refused: not that session (other "
				 "addresses, keys or flags: a replay of an UPDATEd session's CREATE, or another "
				 "call under its id); the session is kept",
				 w->idx, m->session_id);
			w->tot.ctl_bad++;
			return SBC_E_EXISTS;
		}
		*out = s;
		return 0;
	}
	ret = SBC_E_LIMIT;
	for (uint32_t k = 0; k < n && tries < 1024; k++) { /* ports someone else holds are skipped */
		uint32_t i = (w->cursor + k) % n;
		med_sess *c = &w->sess[i];
		if (c->active || atomic_load(&c->slot->state) != MED_SLOT_FREE)
			continue;
		tries++;
		ret = open_sockets(w, c);
		if (ret == 0) {
			s = c;
			w->cursor = (i + 1) % n;
			break;
		}
		if (ret != -EADDRINUSE && ret != -EACCES)
			return ret;
		w->tot.ports_busy++; /* counted (media.stats ports_busy), the next block tried */
	}
	if (tries > (s ? 1 : 0)) /* one line per CREATE, not per busy block */
		SBC_WARN("worker %u: session %llu: skipped %d port block(s) that another socket holds%s", w->idx,
			 (unsigned long long)m->session_id, s ? tries - 1 : tries,
			 s ? "" : ": no free block left");
	if (!s)
		return ret == -EADDRINUSE ? SBC_E_LIMIT : ret;
	for (unsigned l = 0; l < 2; l++)
		if ((ret = make_crypto(s, l, &m->leg[l])) != 0) {
			free_crypto(s, 0);
			free_crypto(s, 1);
			close_sockets(w, s);
			return ret;
		}
	med_slot *sl = s->slot;
	memset((uint8_t *)sl + sizeof(sl->state), 0, sizeof(*sl) - sizeof(sl->state));
	sl->owner = (uint8_t)w->idx;
	sl->creator_role = (uint8_t)role;
	sl->creator_idx = (uint8_t)idx;
	const med_peer *cp = med_worker__peer(w, role, idx);
	sl->creator_pid = cp ? cp->pid : 0; /* the ring's process (med_peer.pid) */
	sl->session_id = m->session_id;
	sl->flags = m->flags;
	sl->timeout_ms = m->timeout_ms ? m->timeout_ms : w->cfg->rtp_timeout_ms;
	sl->created_wall_ms = sbc_wall_ms();
	for (unsigned l = 0; l < 2; l++) {
		sl->cfg[l] = m->leg[l];
		apply_remote(sl, l, sl->flags);
		sl->rt[l].last_rx_ms = w->now_ms;
	}
	memset(s->ovfl, 0, sizeof(s->ovfl));
	s->active = 1;
	w->nactive++;
	w->tot.sessions_created++;
	atomic_store_explicit(&sl->state, MED_SLOT_ACTIVE, memory_order_release);
	*out = s;
	return 0;
}

int med_sess_update(med_worker *w, med_sess *s, const sbc_msg_media *m)
{
	med_slot *sl = s->slot;
	int ret;
	if ((ret = check_media(w, m)) != 0)
		return ret;
	for (unsigned l = 0; l < 2; l++) {
		const sbc_media_leg *g = &m->leg[l];
		if (!srtp_same(&g->rx, &sl->cfg[l].rx) || !srtp_same(&g->tx, &sl->cfg[l].tx)) {
			/* New keys: new streams, their state from zero in the slot.
			 * If either context cannot be made, the old ones (and their
			 * state) stay: a leg never falls back to plain relaying. */
			med_leg_rt *rt = &sl->rt[l];
			med_xc_state old_rx = rt->xs_rx, old_tx = rt->xs_tx;
			med_xc *rx = NULL, *tx = NULL;
			memset(&rt->xs_rx, 0, sizeof(rt->xs_rx));
			memset(&rt->xs_tx, 0, sizeof(rt->xs_tx));
			if ((g->rx.suite && (ret = med_xc_create(&rx, &g->rx, false, &rt->xs_rx)) != 0) ||
			    (g->tx.suite && (ret = med_xc_create(&tx, &g->tx, true, &rt->xs_tx)) != 0)) {
				med_xc_destroy(rx);
				rt->xs_rx = old_rx;
				rt->xs_tx = old_tx;
				return ret;
			}
			free_crypto(s, l);
			s->xc_rx[l] = rx;
			s->xc_tx[l] = tx;
		}
		/* A new SDP address (re-INVITE) restarts latching on that leg. */
		if (!sbc_addr_equal(&g->remote_rtp, &sl->cfg[l].remote_rtp) ||
		    !sbc_addr_equal(&g->remote_rtcp, &sl->cfg[l].remote_rtcp) || g->latch != sl->cfg[l].latch) {
			sl->rt[l].latched = sl->rt[l].latched_rtcp = 0;
		}
		sl->cfg[l] = *g;
	}
	sl->flags = m->flags;
	/* 0: the configured default, as for CREATE (a stream resumed from an
	 * a=inactive hold, which sbc-signal gives an hour, gets it back) */
	sl->timeout_ms = m->timeout_ms ? m->timeout_ms : w->cfg->rtp_timeout_ms;
	sl->timed_out = 0;
	for (unsigned l = 0; l < 2; l++)
		apply_remote(sl, l, sl->flags);
	return 0;
}

static void add_totals(med_totals *t, const med_slot *sl)
{
	for (unsigned l = 0; l < 2; l++) {
		const med_leg_rt *rt = &sl->rt[l];
		t->packets_in += rt->packets_in;
		t->bytes_in += rt->bytes_in;
		t->packets_out += rt->packets_out;
		t->bytes_out += rt->bytes_out;
		t->rtcp_in += rt->rtcp_in;
		t->rtcp_out += rt->rtcp_out;
		for (unsigned d = 0; d < MED_DROP_MAX_; d++)
			t->drops[d] += rt->drops[d];
	}
}

void med_sess_delete(med_worker *w, med_sess *s)
{
	if (!s->active)
		return;
	add_totals(&w->tot, s->slot);
	close_sockets(w, s);
	free_crypto(s, 0);
	free_crypto(s, 1);
	s->active = 0;
	w->nactive--;
	w->tot.sessions_deleted++;
	atomic_store_explicit(&s->slot->state, MED_SLOT_FREE, memory_order_release);
	/* keys do not outlive the session */
	memset(s->slot->cfg, 0, sizeof(s->slot->cfg));
}

/* How long a restore waits for ports that are still bound. A predecessor
 * killed with SIGKILL that used io_uring does not release its sockets when
 * it dies: the kernel tears its rings down (and drops their registered
 * files and armed receives) in deferred work some 30-40 ms later on an idle
 * machine, longer on a loaded one. Binding at once then fails with
 * EADDRINUSE and every call would be lost across the restart. */
#define MED_REBIND_WAIT_MS 3000
#define MED_REBIND_STEP_NS (5 * SBC_NS_PER_MS)

/* The wait's deadline, for the whole process (0: not started): workers are
 * restored one after another on the boot thread, and a port some stranger
 * holds must not cost the wait once per worker. Boot thread only. */
static uint64_t rebind_deadline_ms;

/* open_sockets() for a restored session, retrying EADDRINUSE until the
 * deadline (boot code: sleeping here delays nothing but the start). */
static int rebind_sockets(med_worker *w, med_sess *s)
{
	uint64_t t0 = sbc_mono_ms();
	unsigned waited = 0;
	int ret;
	while ((ret = open_sockets(w, s)) == -EADDRINUSE) {
		uint64_t now = sbc_mono_ms();
		if (!rebind_deadline_ms)
			rebind_deadline_ms = now + MED_REBIND_WAIT_MS;
		if (now >= rebind_deadline_ms)
			return ret;
		if (!waited++) /* said once per session, before the first sleep */
			SBC_NOTICE("worker %u: session %llu: ports %u-%u still bound: waiting up to %llu ms", w->idx,
				   (unsigned long long)s->slot->session_id, med_sess_port(w, s, 0, 0),
				   med_sess_port(w, s, 1, 1), (unsigned long long)(rebind_deadline_ms - now));
		struct timespec ts = {0, MED_REBIND_STEP_NS};
		nanosleep(&ts, NULL);
	}
	if (ret == 0 && waited)
		SBC_NOTICE("worker %u: session %llu: ports %u-%u were still bound (the previous instance's "
			   "sockets are released after it exits): rebound after %llu ms",
			   w->idx, (unsigned long long)s->slot->session_id, med_sess_port(w, s, 0, 0),
			   med_sess_port(w, s, 1, 1), (unsigned long long)(sbc_mono_ms() - t0));
	return ret;
}

void med_sessions_restore(med_worker *w)
{
	uint32_t n = w->slot_hi - w->slot_lo;
	for (uint32_t i = 0; i < n; i++) {
		med_sess *s = &w->sess[i];
		med_slot *sl = s->slot;
		int ret;
		if (atomic_load_explicit(&sl->state, memory_order_acquire) != MED_SLOT_ACTIVE)
			continue;
		if ((ret = rebind_sockets(w, s)) != 0) {
			SBC_ERROR("worker %u: session %llu: cannot rebind ports %u-%u: %s; session lost", w->idx,
				  (unsigned long long)sl->session_id, med_sess_port(w, s, 0, 0),
				  med_sess_port(w, s, 1, 1), sbc_strerror(ret));
			goto Lost;
		}
		for (unsigned l = 0; l < 2; l++) {
			/* The saved state (in the slot) makes the contexts continue. */
			if ((ret = make_crypto(s, l, &sl->cfg[l])) != 0)
				goto LostSockets;
			sl->rt[l].last_rx_ms = w->now_ms; /* monotonic clocks differ across processes */
		}
		s->active = 1;
		w->nactive++;
		w->tot.sessions_restored++;
		continue;
	LostSockets:
		SBC_ERROR("worker %u: session %llu: cannot restore SRTP state: %s; session lost", w->idx,
			  (unsigned long long)sl->session_id, sbc_strerror(ret));
		free_crypto(s, 0);
		free_crypto(s, 1);
		close_sockets(w, s);
	Lost:
		w->tot.sessions_lost++;
		atomic_store(&sl->state, MED_SLOT_FREE);
		memset(sl->cfg, 0, sizeof(sl->cfg));
	}
}

void med_sess_fill_reply(med_worker *w, med_sess *s, sbc_msg_media_reply *r)
{
	med_slot *sl = s->slot;
	for (unsigned l = 0; l < 2; l++) {
		const med_leg_rt *rt = &sl->rt[l];
		sbc_media_leg_stats *st = &r->stats[l];
		r->local_rtp[l] = w->cfg->address;
		sbc_addr_set_port(&r->local_rtp[l], med_sess_port(w, s, l, 0));
		st->packets_in = rt->packets_in;
		st->bytes_in = rt->bytes_in;
		st->packets_out = rt->packets_out;
		st->bytes_out = rt->bytes_out;
		st->drops = 0;
		for (unsigned d = 0; d < MED_DROP_MAX_; d++)
			st->drops += rt->drops[d];
		st->lost = med_rtp_rx_lost(&rt->rx);
		st->jitter_us = med_rtp_rx_jitter_us(&rt->rx);
		st->peer = rt->peer_rtp;
		st->latched = rt->latched;
	}
}
