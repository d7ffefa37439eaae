/* sbc-media — a worker: one pinned thread with its epoll loop, its rings
 * (from control and from every sbc-signal worker), its sessions and ports. */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <jansson.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "media.h"

#define BELL_TAG UINT64_MAX

static const char *const drop_names[MED_DROP_MAX_] = {
	[MED_DROP_PARSE] = "parse",     [MED_DROP_AUTH] = "auth",       [MED_DROP_REPLAY] = "replay",
	[MED_DROP_SRTP] = "srtp",       [MED_DROP_SOURCE] = "source",   [MED_DROP_NO_PEER] = "no_peer",
	[MED_DROP_SEND] = "send",       [MED_DROP_KERNEL] = "kernel",   [MED_DROP_SHED] = "shed",
};

const char *med_drop_name(unsigned reason)
{
	return reason < MED_DROP_MAX_ ? drop_names[reason] : "?";
}

med_peer *med_worker__peer(med_worker *w, unsigned role, unsigned idx)
{
	for (unsigned i = 0; i < w->npeers; i++)
		if (w->peers[i].role == role && w->peers[i].idx == idx && w->peers[i].ok)
			return &w->peers[i];
	return NULL;
}

void med_worker_event(med_worker *w, med_sess *s, unsigned kind, unsigned leg, const sbc_addr *addr)
{
	med_peer *p = med_worker__peer(w, s->slot->creator_role, s->slot->creator_idx);
	sbc_msg_media_event *ev;
	if (!p || !(ev = shm_ring_reserve(&p->out, SBC_MSG_MEDIA_EVENT, SBC_MSG_V_MEDIA, sizeof(*ev)))) {
		w->tot.events_dropped++;
		return;
	}
	memset(ev, 0, sizeof(*ev));
	ev->session_id = s->slot->session_id;
	ev->kind = kind;
	ev->leg = leg;
	if (addr)
		ev->addr = *addr;
	shm_ring_publish(&p->out);
}

static void reply_media(med_worker *w, med_peer *p, uint64_t sid, uint64_t rid, int status, med_sess *s)
{
	sbc_msg_media_reply *r = shm_ring_reserve(&p->out, SBC_MSG_MEDIA_REPLY, SBC_MSG_V_MEDIA, sizeof(*r));
	if (!r) {
		w->tot.replies_dropped++;
		SBC_WARN("worker %u: ring to %s %u full: reply to session %" PRIu64 " dropped", w->idx,
			 shm_role_name(p->role), p->idx, sid);
		return;
	}
	memset(r, 0, sizeof(*r));
	r->session_id = sid;
	r->request_id = rid;
	r->status = status;
	if (s && status == 0)
		med_sess_fill_reply(w, s, r);
	shm_ring_publish(&p->out);
}

/* ---- JSON for stats and commands ---- */

static void leg_totals(const med_slot *sl, med_totals *t)
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

static json_t *drops_json(const uint64_t *drops)
{
	json_t *o = json_object();
	for (unsigned d = 0; d < MED_DROP_MAX_; d++)
		json_object_set_new(o, drop_names[d], json_integer((json_int_t)drops[d]));
	return o;
}

static json_t *stats_json(med_worker *w)
{
	med_totals t = w->tot;
	uint32_t n = w->slot_hi - w->slot_lo;
	uint64_t ring_full = 0;
	for (uint32_t i = 0; i < n; i++)
		if (w->sess[i].active)
			leg_totals(w->sess[i].slot, &t);
	for (unsigned i = 0; i < w->npeers; i++)
		if (w->peers[i].ok)
			ring_full += atomic_load(&w->peers[i].out.ring->kfull);
	json_t *j = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "worker", (int)w->idx, "cpu", w->cpu, "sessions", (int)w->nactive,
			 "capacity", (int)n, "created", (int)t.sessions_created, "deleted", (int)t.sessions_deleted,
			 "restored", (int)t.sessions_restored, "lost", (int)t.sessions_lost,
			 "packets_in", (json_int_t)t.packets_in, "bytes_in", (json_int_t)t.bytes_in,
			 "packets_out", (json_int_t)t.packets_out, "bytes_out", (json_int_t)t.bytes_out,
			 "rtcp_in", (json_int_t)t.rtcp_in, "rtcp_out", (json_int_t)t.rtcp_out,
			 "drops", drops_json(t.drops), "timeouts", (json_int_t)t.timeouts,
			 "latches", (json_int_t)t.latches, "events_dropped", (json_int_t)t.events_dropped,
			 "ring_full", (json_int_t)ring_full, "ctl_msgs", (json_int_t)t.ctl_msgs,
			 "ctl_bad", (json_int_t)t.ctl_bad);
	if (j) {
		json_object_set_new(j, "io", json_string(w->uring ? "uring" : "epoll"));
		json_object_set_new(j, "ports_busy", json_integer((json_int_t)t.ports_busy));
		json_object_set_new(j, "orphans_deleted", json_integer((json_int_t)t.orphans_deleted));
	}
	if (j && w->uring)
		json_object_set_new(j, "uring_rearms", json_integer((json_int_t)med_uring_rearms(w)));
	json_t *x = j ? med_worker_xdp_json(w) : NULL;
	if (x)
		json_object_update(j, x);
	json_decref(x);
	return j;
}

static json_t *session_json(med_worker *w, med_sess *s)
{
	char a[SBC_ADDR_STRLEN];
	med_slot *sl = s->slot;
	json_t *legs = json_array();
	for (unsigned l = 0; l < 2; l++) {
		const med_leg_rt *rt = &sl->rt[l];
		json_t *drops = json_object();
		for (unsigned d = 0; d < MED_DROP_MAX_; d++)
			if (rt->drops[d]) /* only the reasons that occurred: pages stay small */
				json_object_set_new(drops, drop_names[d], json_integer((json_int_t)rt->drops[d]));
		json_array_append_new(
			legs, json_pack("{s:i, s:s, s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:i, s:i}",
					"port", (int)med_sess_port(w, s, l, 0), "peer",
					rt->peer_rtp.sa.sa_family ? sbc_addr_format(&rt->peer_rtp, a, sizeof(a)) : "",
					"latched", rt->latched, "rx", med_xc_suite_name(sl->cfg[l].rx.suite), "tx",
					med_xc_suite_name(sl->cfg[l].tx.suite), "packets_in", (json_int_t)rt->packets_in,
					"packets_out", (json_int_t)rt->packets_out, "bytes_in", (json_int_t)rt->bytes_in,
					"bytes_out", (json_int_t)rt->bytes_out, "drops", drops, "lost",
					(int)med_rtp_rx_lost(&rt->rx), "jitter_us", (int)med_rtp_rx_jitter_us(&rt->rx)));
	}
	return json_pack("{s:I, s:b, s:o}", "id", (json_int_t)sl->session_id, "timed_out", sl->timed_out,
			 "legs", legs);
}

static void reply_text(med_worker *w, med_peer *p, unsigned type, uint64_t rid, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	int ret = text ? sbc_msg_push_text(&p->out, type, rid, text, (uint32_t)strlen(text)) : -ENOMEM;
	if (ret) {
		w->tot.replies_dropped++;
		SBC_WARN("worker %u: reply to %s %u not sent: %s", w->idx, shm_role_name(p->role), p->idx,
			 sbc_strerror(ret));
	}
	free(text);
	json_decref(j);
}

/* Commands (JSON): {"method":"media.sessions","offset":N} lists sessions a
 * page at a time ("next" is the offset to ask for next, null at the end);
 * {"method":"media.stats"} is the same object as a STATS_REPLY. */
static void handle_command(med_worker *w, med_peer *p, const sbc_msg_text *m)
{
	json_error_t jerr;
	json_t *req = json_loadb(m->text, m->len, 0, &jerr), *res;
	const char *method = req ? json_string_value(json_object_get(req, "method")) : NULL;

	if (!method) {
		res = json_pack("{s:s}", "error", "expected {\"method\":...}");
	} else if (strcmp(method, "media.stats") == 0) {
		res = stats_json(w);
	} else if (strcmp(method, "media.sessions") == 0) {
		json_int_t off = json_integer_value(json_object_get(req, "offset"));
		uint32_t n = w->slot_hi - w->slot_lo, i;
		json_t *arr = json_array();
		size_t used = 64;
		json_int_t seen = 0;
		for (i = 0; i < n; i++) {
			if (!w->sess[i].active)
				continue;
			if (seen++ < off)
				continue;
			json_t *sj = session_json(w, &w->sess[i]);
			char *t = json_dumps(sj, JSON_COMPACT);
			size_t len = t ? strlen(t) : 0;
			free(t);
			if (used + len + 1 > SBC_MSG_TEXT_MAX - 64) {
				json_decref(sj);
				break;
			}
			used += len + 1;
			json_array_append_new(arr, sj);
		}
		res = json_pack("{s:i, s:o, s:o}", "worker", (int)w->idx, "sessions", arr, "next",
				i < n ? json_integer(seen - 1) : json_null());
	} else {
		res = json_pack("{s:s, s:s}", "error", "unknown method", "method", method);
	}
	json_decref(req);
	reply_text(w, p, SBC_MSG_COMMAND_REPLY, m->request_id, res);
}

void med_worker__drop(med_worker *w, med_sess *s)
{
	med_xdp_sess_ports(w, s, false);
	med_sess_delete(w, s);
}

/* A HELLO names the process whose records follow on its ring: sbc-signal
 * pushes it first on each of its rings to us as a worker starts, and every
 * CREATE of that process comes after it on the same ring. So a HELLO with
 * another pid on a signal worker's ring means the process that created the
 * ring's sessions is gone (killed, crashed, or restarted after a drain that
 * left some): its calls and dialogs died with it and sbc-control closed
 * their records, but their media would keep relaying, unbilled, for as long
 * as a far end streams (nothing else will ever DELETE them). Every session
 * created on this ring by another pid is marked orphaned here (one walk
 * over the slots, no system call) and deleted, its ports back in the pool,
 * by purge_step: MED_PURGE_CHUNK a loop turn, so that thousands of them do
 * not stall the relay (each deletion cancels and closes four sockets). The
 * mark is in the shared slot: if we die before the purge is done, our
 * restart deletes what is marked (the HELLO is not read again). Sessions
 * the successor creates meanwhile carry its pid and are not marked.
 * Sessions created while the ring's pid was unknown (0: our restart with no
 * session of that ring to learn it from, before any HELLO) are the
 * predecessor's too, unless the HELLO repeats the pid we knew (a process
 * that said it again). A HELLO of pid 0 (no process has it) is ignored.
 * The control ring's HELLOs come from sbc-control (our parent), with no
 * sessions of its own: only noted. */
static void hello_from(med_worker *w, med_peer *p, uint32_t pid)
{
	uint32_t n = w->slot_hi - w->slot_lo, old = p->pid;
	unsigned marked = 0;
	if (pid == 0) {
		w->tot.ctl_bad++;
		SBC_WARN("worker %u: HELLO from %s %u with pid 0: ignored", w->idx, shm_role_name(p->role), p->idx);
		return;
	}
	p->pid = pid;
	if (p->role != SHM_ROLE_SIGNAL || w->keep_orphans)
		return;
	for (uint32_t i = 0; i < n; i++) {
		med_sess *s = &w->sess[i];
		med_slot *sl = s->slot;
		if (!s->active || sl->orphaned || sl->creator_role != p->role || sl->creator_idx != p->idx ||
		    sl->creator_pid == pid || (sl->creator_pid == 0 && old == pid))
			continue;
		sl->orphaned = 1;
		marked++;
	}
	if (marked) {
		if (!p->purging)
			p->purge_gone = old;
		p->purging = 1;
		p->purge_cursor = 0;
	} else if (old && old != pid && !p->purging) {
		SBC_INFO("worker %u: %s worker %u is now pid %u (was pid %u): no session of it left", w->idx,
			 shm_role_name(p->role), p->idx, pid, old);
	}
}

/* Deletes s now if it is an orphan (hello_from), counted in its ring's
 * purge: from purge_step, or for a CREATE of the successor that reuses an
 * orphan's id before the purge reached it (a new call, not a repeat).
 * Returns whether it did. */
static bool purge_now(med_worker *w, med_sess *s)
{
	if (!s->active || !s->slot->orphaned)
		return false;
	med_peer *p = med_worker__peer(w, s->slot->creator_role, s->slot->creator_idx);
	if (p) {
		if (s->slot->creator_pid)
			p->purge_gone = s->slot->creator_pid;
		p->purge_count++;
	}
	med_worker__drop(w, s);
	w->tot.orphans_deleted++;
	return true;
}

unsigned med_worker__purge_step(med_worker *w)
{
	uint32_t n = w->slot_hi - w->slot_lo;
	unsigned budget = w->purge_chunk ? w->purge_chunk : MED_PURGE_CHUNK, done = 0;
	for (unsigned k = 0; k < w->npeers && budget; k++) {
		med_peer *p = &w->peers[k];
		if (!p->purging)
			continue;
		for (; p->purge_cursor < n && budget; p->purge_cursor++) {
			med_sess *s = &w->sess[p->purge_cursor];
			if (s->slot->creator_role != p->role || s->slot->creator_idx != p->idx || !purge_now(w, s))
				continue;
			budget--;
			done++;
		}
		if (p->purge_cursor < n) {
			done += !done; /* more next turn: not idle */
			continue;
		}
		p->purging = 0;
		if (p->purge_count)
			SBC_NOTICE("worker %u: %s worker %u is now pid %u (was pid %u): deleted its %u media "
				   "session(s) (their calls ended with that process)",
				   w->idx, shm_role_name(p->role), p->idx, p->pid, p->purge_gone, p->purge_count);
		p->purge_count = 0;
	}
	return done;
}

static void handle_msg(med_worker *w, med_peer *p, const shm_rec *rec)
{
	int ret = sbc_msg_check(rec);
	w->tot.ctl_msgs++;
	if (ret) {
		w->tot.ctl_bad++;
		SBC_WARN("worker %u: bad message type %u v%u len %u from %s %u: %s", w->idx, rec->type,
			 rec->version, rec->len, shm_role_name(p->role), p->idx, sbc_strerror(ret));
		return;
	}
	if (rec->type == SBC_MSG_HELLO) {
		unsigned bad;
		const sbc_msg_hello *h = (const sbc_msg_hello *)rec->data;
		/* checked first: a garbage HELLO must not purge the ring */
		if (sbc_msg_hello_check(h, &bad)) {
			SBC_ERROR("worker %u: %s %u (pid %u) was built with another size of message type %u: "
				  "ignoring its ring",
				  w->idx, shm_role_name(p->role), p->idx, h->pid, bad);
			p->bad = 1;
		} else {
			p->bad = 0;
			p->got_hello = 1;
			hello_from(w, p, h->pid);
		}
		return;
	}
	if (p->bad)
		return;
	switch (rec->type) {
	case SBC_MSG_MEDIA_CREATE: {
		const sbc_msg_media *m = (const sbc_msg_media *)rec->data;
		med_sess *s = p->purging ? med_sess_find(w, m->session_id) : NULL;
		if (s)
			purge_now(w, s); /* if an orphan */
		s = NULL;
		ret = med_sess_create(w, m, p->role, p->idx, &s);
		if (ret)
			SBC_NOTICE("worker %u: session %" PRIu64 " not created: %s", w->idx, m->session_id,
				   sbc_strerror(ret));
		else if (w->xw) {
			med_xdp_sess_ports(w, s, true);
			med_xdp_sess_resolve(w, s);
		}
		reply_media(w, p, m->session_id, m->request_id, ret, s);
		break;
	}
	case SBC_MSG_MEDIA_UPDATE: {
		const sbc_msg_media *m = (const sbc_msg_media *)rec->data;
		med_sess *s = med_sess_find(w, m->session_id);
		ret = s ? med_sess_update(w, s, m) : SBC_E_NOT_FOUND;
		if (ret == 0 && w->xw)
			med_xdp_sess_resolve(w, s);
		reply_media(w, p, m->session_id, m->request_id, ret, s);
		break;
	}
	case SBC_MSG_MEDIA_DELETE:
	case SBC_MSG_MEDIA_QUERY: {
		const sbc_msg_media_delete *m = (const sbc_msg_media_delete *)rec->data;
		med_sess *s = med_sess_find(w, m->session_id);
		if (!s) {
			reply_media(w, p, m->session_id, m->request_id, SBC_E_NOT_FOUND, NULL);
			break;
		}
		/* The final counters go back with the DELETE's reply. */
		reply_media(w, p, m->session_id, m->request_id, 0, s);
		if (rec->type == SBC_MSG_MEDIA_DELETE)
			med_worker__drop(w, s);
		break;
	}
	case SBC_MSG_STATS_REQUEST: {
		const sbc_msg_text *m = (const sbc_msg_text *)rec->data;
		reply_text(w, p, SBC_MSG_STATS_REPLY, m->request_id, stats_json(w));
		break;
	}
	case SBC_MSG_COMMAND:
		handle_command(w, p, (const sbc_msg_text *)rec->data);
		break;
	case SBC_MSG_CONFIG_CHANGED:
	case SBC_MSG_DRAIN:
		break;
	default:
		w->tot.ctl_bad++;
		SBC_WARN("worker %u: unexpected message type %u from %s %u", w->idx, rec->type,
			 shm_role_name(p->role), p->idx);
	}
}

unsigned med_worker__poll_ring(med_worker *w, med_peer *p, unsigned max)
{
	const shm_rec *r;
	unsigned n = 0;
	while (n < max && (r = shm_ring_peek(&p->in)) != NULL) {
		bool hello = r->type == SBC_MSG_HELLO;
		handle_msg(w, p, r);
		shm_ring_next(&p->in, r);
		n++;
		/* A batch is released once handled, so after our crash its
		 * records are read again: a CREATE replayed after its ring's
		 * HELLO (deleted by it) would come back under the successor's
		 * pid, a dead call's media relaying again. A HELLO and all
		 * before it are never read twice. */
		if (hello)
			shm_ring_release(&p->in);
	}
	return n;
}

/* Drains every ring (64 records of each at most), then a chunk of the
 * purges under way; returns the number of messages handled plus the
 * purge's work (not 0 while one is under way: the loop does not sleep). */
unsigned med_worker__poll_rings(med_worker *w)
{
	unsigned total = 0;
	for (unsigned i = 0; i < w->npeers; i++) {
		med_peer *p = &w->peers[i];
		if (!p->ok)
			continue;
		unsigned n = med_worker__poll_ring(w, p, 64);
		if (n)
			shm_ring_release(&p->in);
		total += n;
	}
	return total + med_worker__purge_step(w);
}

bool med_worker__prepare_sleep(med_worker *w)
{
	for (unsigned i = 0; i < w->npeers; i++)
		if (w->peers[i].ok && !shm_ring_prepare_sleep(&w->peers[i].in)) {
			for (unsigned j = 0; j < i; j++)
				if (w->peers[j].ok)
					shm_ring_cancel_sleep(&w->peers[j].in);
			return false;
		}
	return true;
}

void med_worker__cancel_sleep(med_worker *w)
{
	for (unsigned i = 0; i < w->npeers; i++)
		if (w->peers[i].ok)
			shm_ring_cancel_sleep(&w->peers[i].in);
}

void med_worker__sweep(med_worker *w)
{
	uint32_t n = w->slot_hi - w->slot_lo;
	for (uint32_t i = 0; i < n; i++) {
		med_sess *s = &w->sess[i];
		if (!s->active)
			continue;
		med_slot *sl = s->slot;
		uint64_t last = sl->rt[0].last_rx_ms > sl->rt[1].last_rx_ms ? sl->rt[0].last_rx_ms
									    : sl->rt[1].last_rx_ms;
		if (w->now_ms > last + sl->timeout_ms) {
			/* TIMEOUT again every timeout_ms while it stays silent: one
			 * event can be missed for good (ignored by a call still
			 * ringing, taken by an sbc-signal killed before its DELETE,
			 * dropped on a full ring), and we keep a session until told */
			if (sl->timed_out && w->now_ms < s->timeout_sent_ms + sl->timeout_ms)
				continue;
			if (!sl->timed_out) {
				sl->timed_out = 1;
				w->tot.timeouts++; /* silences, not events */
			}
			s->timeout_sent_ms = w->now_ms;
			med_worker_event(w, s, SBC_MEDIA_EV_TIMEOUT, 0, NULL);
		} else if (sl->timed_out) {
			sl->timed_out = 0; /* media came back */
		}
	}
}

void med_worker__publish_all(med_worker *w)
{
	for (unsigned i = 0; i < w->npeers; i++)
		if (w->peers[i].ok)
			shm_ring_publish(&w->peers[i].out);
}

/* One session socket's turn (tag as registered with epoll). A socket not
 * emptied in its turn is queued for the next; if the queue is full it is
 * served at its next packet's edge instead (only under heavy overload). */
static void relay_tag(med_worker *w, uint64_t tag)
{
	med_sess *s = &w->sess[tag >> 2];
	if (s->active && !med_relay_readable(w, s, (tag >> 1) & 1, tag & 1) &&
	    w->npending < sizeof(w->pending) / sizeof(w->pending[0]))
		w->pending[w->npending++] = tag;
}

/* The worker's clocks, read once per loop turn. */
static void read_clocks(med_worker *w)
{
	w->now_ns = sbc_mono_ns();
	w->now_ms = w->now_ns / SBC_NS_PER_MS;
	w->now_real_ns = med_real_ns();
}

/* Reads the sockets a previous turn left with packets (edge-triggered
 * epoll will not report them again); relay_tag may queue them anew. */
static void relay_pending(med_worker *w)
{
	uint64_t pend[2 * MED_MAX_EVENTS];
	unsigned np = w->npending;
	memcpy(pend, w->pending, np * sizeof(pend[0]));
	w->npending = 0;
	for (unsigned i = 0; i < np; i++)
		relay_tag(w, pend[i]);
}

static void *worker_main(void *arg)
{
	med_worker *w = arg;
	struct epoll_event ev[MED_MAX_EVENTS];
	char name[16];

	snprintf(name, sizeof(name), "media-w%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			SBC_WARN("worker %u: cannot pin to cpu %d: %s", w->idx, w->cpu, strerror(errno));
			w->cpu = -1;
		}
	}
	w->now_ms = sbc_mono_ms();
	for (unsigned i = 0; i < w->npeers; i++)
		if (w->peers[i].ok) {
			sbc_msg_hello h;
			sbc_msg_hello_fill(&h, SHM_ROLE_MEDIA, w->idx);
			if (shm_ring_push(&w->peers[i].out, SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)))
				SBC_WARN("worker %u: HELLO to %s %u not sent: ring full", w->idx,
					 shm_role_name(w->peers[i].role), w->peers[i].idx);
		}
	w->next_sweep_ms = w->now_ms + MED_SWEEP_MS;
	w->idle_ms = w->now_ms;
	if (w->use_uring) {
		int ret = med_uring_init(w);
		if (ret == 0) {
			SBC_NOTICE("worker %u: io_uring data path (multishot recvmsg, provided buffers)", w->idx);
			med_uring_loop(w);
			return NULL;
		}
		/* No io_uring here: register what restore opened with epoll. */
		SBC_WARN("worker %u: io_uring unavailable (%s): epoll data path", w->idx, sbc_strerror(ret));
		w->use_uring = false;
		uint32_t n = w->slot_hi - w->slot_lo;
		for (uint32_t i = 0; i < n; i++)
			for (unsigned l = 0; l < 2 && w->sess[i].active; l++)
				for (unsigned r = 0; r < 2; r++) {
					struct epoll_event e = {.events = EPOLLIN | EPOLLET, /* as session.c */
								.data.u64 = ((uint64_t)i << 2) | (l << 1) | r};
					epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sess[i].fd[l][r], &e);
				}
	}

	if (w->xw) {
		/* What reached the kernel sockets of restored sessions before our
		 * AF_XDP socket took over (main attaches XDP after the restore
		 * bound them) is older than anything in the XDP rings: relay it
		 * first, or the first turn's ring poll sends newer packets ahead
		 * of it (media reordered across a restart, seen in
		 * test_xdp_media kill -9). Bounded: new packets go to the rings. */
		read_clocks(w);
		uint32_t n = w->slot_hi - w->slot_lo;
		for (uint32_t i = 0; i < n; i++)
			for (unsigned t = 0; t < 4 && w->sess[i].active; t++)
				relay_tag(w, ((uint64_t)i << 2) | t); /* tag: session, leg, rtcp */
		for (unsigned round = 0; round < 16 && w->npending; round++)
			relay_pending(w);
	}
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		unsigned msgs = med_worker__poll_rings(w);
		bool xdp_ready = false;
		if (w->xw)
			msgs += med_worker_xdp_poll(w); /* AF_XDP rings: no system call when busy */
		int n = epoll_wait(w->epfd, ev, MED_MAX_EVENTS, 0);
		if (n == 0 && w->npending == 0)
			w->idle_ms = w->now_ms;
		w->overloaded = w->now_ms > w->idle_ms + MED_OVERLOAD_MS;
		if (n == 0 && msgs == 0 && w->npending == 0) {
			int timeout = (int)(w->next_sweep_ms > w->now_ms ? w->next_sweep_ms - w->now_ms : 0);
			if (med_worker__prepare_sleep(w)) {
				n = epoll_wait(w->epfd, ev, MED_MAX_EVENTS, timeout);
				med_worker__cancel_sleep(w);
				if (n > 0 && n < 16 && w->coalesce_ns) {
					/* woken for a few packets: let more gather, then
					 * take them all in one turn */
					struct timespec ts = {0, (long)w->coalesce_ns};
					nanosleep(&ts, NULL);
					n = epoll_wait(w->epfd, ev, MED_MAX_EVENTS, 0);
				}
			}
		}
		read_clocks(w); /* once per turn, not per socket read */
		/* sockets left with packets last turn first, then the new events */
		relay_pending(w);
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			if (tag == BELL_TAG) {
				shm_doorbell_drain(w->bell);
				continue;
			}
			if (tag == MED_XDP_TAG) {
				xdp_ready = true;
				continue;
			}
			relay_tag(w, tag);
		}
		if (xdp_ready)
			med_worker_xdp_poll(w);
		w->now_ms = sbc_mono_ms();
		if (w->now_ms >= w->next_sweep_ms) {
			med_worker__sweep(w);
			w->next_sweep_ms = w->now_ms + MED_SWEEP_MS;
		}
		med_worker__publish_all(w); /* events queued by the packet path */
	}
	return NULL;
}

static int pick_cpu(unsigned idx)
{
	cpu_set_t set;
	int cpus[CPU_SETSIZE], n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n ? cpus[idx % (unsigned)n] : -1;
}

int med_worker_init(med_worker *w, unsigned idx, const med_config *cfg, shm_seg *seg,
		    med_region_hdr *region, _Atomic int *stop)
{
	shm_seg_hdr *h = seg ? shm_seg_header(seg) : NULL;
	unsigned workers = region->workers;

	w->idx = idx;
	w->cfg = cfg;
	w->seg = seg;
	w->region = region;
	w->slots = (med_slot *)((uint8_t *)region + MED_REGION_HDR_BYTES);
	w->slot_lo = (uint32_t)((uint64_t)idx * region->nslots / workers);
	w->slot_hi = (uint32_t)((uint64_t)(idx + 1) * region->nslots / workers);
	w->stop = stop;
	w->cpu = pick_cpu(idx);
	{
		const char *c = getenv("SBC_MEDIA_COALESCE_US");
		w->coalesce_ns = c ? (uint32_t)strtoul(c, NULL, 10) * 1000u : 0;
		if (w->coalesce_ns > 5000000)
			w->coalesce_ns = 5000000;
		/* io_uring by default: bench_relay at 2,000 streams measured it
		 * at 0.7-0.95x the CPU per packet of epoll + recvmmsg/sendmmsg
		 * (1.07-1.26x the kernel floor, against 1.25-1.58x), equal within
		 * the noise at 500-1,000 streams, and offered twice the capacity
		 * it relayed 134-168k packets/s (epoll, in the one run where both
		 * got that far: 55k). No receive system call per socket, and a
		 * turn's sends in one submit. The machine was shared (load 4-8):
		 * worth measuring again on a quiet one.
		 * Where io_uring cannot be set up the worker says why and uses
		 * epoll; SBC_MEDIA_IO=epoll selects epoll (the AF_XDP backend
		 * does, main.c). */
		const char *io = getenv("SBC_MEDIA_IO");
		w->use_uring = !io || strcmp(io, "epoll") != 0;
		const char *orph = getenv("SBC_MEDIA_ORPHANS");
		w->keep_orphans = orph && strcmp(orph, "keep") == 0;
		if (w->keep_orphans)
			SBC_WARN("worker %u: SBC_MEDIA_ORPHANS=keep: a dead sbc-signal's sessions stay until "
				 "its successor DELETEs them (on their RTP timeout)", w->idx);
	}
	w->bell = -1;
	med_relay_init_batch(w);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	uint32_t n = w->slot_hi - w->slot_lo;
	w->sess = calloc(n ? n : 1, sizeof(*w->sess));
	if (!w->sess)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		w->sess[i].gidx = w->slot_lo + i;
		w->sess[i].slot = (med_slot *)((uint8_t *)w->slots + (size_t)(w->slot_lo + i) * MED_SLOT_BYTES);
		for (unsigned l = 0; l < 2; l++)
			w->sess[i].fd[l][0] = w->sess[i].fd[l][1] = -1;
	}
	if (seg) {
		med_peer *p = &w->peers[w->npeers++];
		p->role = SHM_ROLE_CONTROL;
		p->idx = 0;
		p->ok = shm_seg_consumer(seg, &p->in, SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, idx) == 0 &&
			shm_seg_producer(seg, &p->out, SHM_ROLE_MEDIA, idx, SHM_ROLE_CONTROL, 0) == 0;
		for (unsigned i = 0; i < h->workers[SHM_ROLE_SIGNAL] && i < SHM_MAX_WORKERS; i++) {
			p = &w->peers[w->npeers++];
			p->role = SHM_ROLE_SIGNAL;
			p->idx = (uint8_t)i;
			p->ok = shm_seg_consumer(seg, &p->in, SHM_ROLE_SIGNAL, i, SHM_ROLE_MEDIA, idx) == 0 &&
				shm_seg_producer(seg, &p->out, SHM_ROLE_MEDIA, idx, SHM_ROLE_SIGNAL, i) == 0;
		}
		w->bell = shm_seg_doorbell(seg, SHM_ROLE_MEDIA, idx);
		if (w->bell >= 0) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = BELL_TAG};
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->bell, &ev) < 0)
				return -errno;
		} else {
			SBC_WARN("worker %u: no doorbell inherited: polling the rings every %d ms", w->idx,
				 MED_SWEEP_MS);
		}
	}
	w->now_ms = sbc_mono_ms();
	med_sessions_restore(w);
	/* Orphans a purge had not deleted when we died (hello_from marked
	 * them): deleted now, before the relay starts. */
	unsigned orphans = 0;
	for (uint32_t i = 0; i < n; i++)
		if (w->sess[i].active && w->sess[i].slot->orphaned) {
			med_worker__drop(w, &w->sess[i]);
			w->tot.orphans_deleted++;
			orphans++;
		}
	if (orphans)
		SBC_NOTICE("worker %u: deleted %u media session(s) of ended sbc-signal processes (their purge was "
			   "under way when we stopped)",
			   w->idx, orphans);
	/* Each ring's process as the newest session it created says: we read
	 * its HELLO before our restart, and the next HELLO on that ring names
	 * its successor. */
	for (unsigned k = 0; k < w->npeers; k++) {
		med_peer *p = &w->peers[k];
		uint64_t newest = 0;
		for (uint32_t i = 0; i < n; i++) {
			const med_slot *sl = w->sess[i].slot;
			if (w->sess[i].active && sl->creator_role == p->role && sl->creator_idx == p->idx &&
			    sl->creator_pid && (!p->pid || sl->created_wall_ms >= newest)) {
				p->pid = sl->creator_pid;
				newest = sl->created_wall_ms;
			}
		}
	}
	return 0;
}

static void *start_tramp(void *arg) { return worker_main(arg); }

int med_worker_start(med_worker *w)
{
	int ret = pthread_create(&w->thread, NULL, start_tramp, w);
	return ret ? -ret : 0;
}

void med_worker_wake(med_worker *w)
{
	if (w->bell >= 0)
		shm_doorbell_ring(w->bell);
}

void med_worker_fini(med_worker *w)
{
	uint32_t n = w->slot_hi - w->slot_lo;
	med_uring_fini(w);
	med_worker_xdp_detach(w);
	if (w->sess) {
		/* Sockets and contexts go; the slots stay (the sessions survive). */
		for (uint32_t i = 0; i < n; i++) {
			med_sess *s = &w->sess[i];
			for (unsigned l = 0; l < 2; l++) {
				med_xc_destroy(s->xc_rx[l]);
				med_xc_destroy(s->xc_tx[l]);
				for (unsigned r = 0; r < 2; r++)
					if (s->fd[l][r] >= 0)
						close(s->fd[l][r]);
			}
		}
		free(w->sess);
	}
	if (w->epfd >= 0)
		close(w->epfd);
}
