/* sbc-control — shared segment and control<->child rings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/media-region.h"
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "ctl_bus.h"
#include "ctl_cdr.h"

#define BUS_CHILD_ROLES 2 /* signal, media */
#define BUS_BATCH 64

typedef struct bus_stats_req {
	struct bus_stats_req *next;
	ctl_bus *bus;
	uint64_t id;
	unsigned waiting; /* replies still expected */
	uint16_t reply_type; /* STATS_REPLY or COMMAND_REPLY */
	const char *key;     /* "stats" or "reply" */
	unsigned roles;      /* bit per role index listed in the result */
	bool asked[BUS_CHILD_ROLES][SHM_MAX_WORKERS];
	json_t *entries[BUS_CHILD_ROLES][SHM_MAX_WORKERS];
	ctl_bus_stats_cb cb;
	void *arg;
	uv_timer_t timer;
} bus_stats_req;

struct ctl_bus {
	ctl_ctx *ctx;
	shm_seg *seg;
	shm_seg_hdr *hdr;
	char name[SHM_NAME_LEN];
	unsigned workers[BUS_CHILD_ROLES];
	shm_ring_prod out[BUS_CHILD_ROLES][SHM_MAX_WORKERS]; /* control -> child */
	shm_ring_cons in[BUS_CHILD_ROLES][SHM_MAX_WORKERS];  /* child -> control */
	bool alive[BUS_CHILD_ROLES];
	pid_t pid[BUS_CHILD_ROLES][SHM_MAX_WORKERS]; /* of the last HELLO read on in[][] */
	int bell;
	uv_poll_t poll;
	bool polling;
	ctl_bus_hello_cb hello_cb;
	void *hello_arg;
	uint64_t next_req_id;
	bus_stats_req *reqs;
};

static unsigned ri(enum shm_role role) { return role == SHM_ROLE_SIGNAL ? 0 : 1; }
static enum shm_role role_of(unsigned i) { return i == 0 ? SHM_ROLE_SIGNAL : SHM_ROLE_MEDIA; }

static void stats_finish(bus_stats_req *q);

static void handle_stats_reply(ctl_bus *bus, unsigned r, unsigned idx, const shm_rec *rec)
{
	const sbc_msg_text *t = (const sbc_msg_text *)rec->data;
	bus_stats_req *q;
	for (q = bus->reqs; q; q = q->next)
		if (q->id == t->request_id)
			break;
	if (!q || q->reply_type != rec->type || !q->asked[r][idx] || q->entries[r][idx])
		return; /* late (after the timeout) or unsolicited */
	json_error_t je;
	json_t *stats = json_loadb(t->text, t->len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(stats)) {
		json_decref(stats);
		bus->ctx->counters.ring_bad_messages++;
		SBC_WARN("%s worker %u sent a %s reply that is not a JSON object", shm_role_name(role_of(r)),
			 idx, q->key);
		q->entries[r][idx] = json_pack("{s:I, s:b, s:s}", "worker", (json_int_t)idx, "available", 0,
					       "error", "malformed reply");
	} else {
		q->entries[r][idx] =
			json_pack("{s:I, s:b, s:o}", "worker", (json_int_t)idx, "available", 1, q->key, stats);
	}
	if (--q->waiting == 0)
		stats_finish(q);
}

static void handle_record(ctl_bus *bus, unsigned r, unsigned idx, const shm_rec *rec)
{
	int ret = sbc_msg_check(rec);
	if (ret != 0) {
		bus->ctx->counters.ring_bad_messages++;
		SBC_WARN("%s worker %u: message type %u v%u len %u refused: %s", shm_role_name(role_of(r)), idx,
			 rec->type, rec->version, rec->len, sbc_strerror(ret));
		return;
	}
	switch (rec->type) {
	case SBC_MSG_HELLO: {
		const sbc_msg_hello *h = (const sbc_msg_hello *)rec->data;
		unsigned bad;
		/* what follows on this ring is that process's (see ctl_cdr.h),
		 * even from one of another build */
		bus->pid[r][idx] = (pid_t)h->pid;
		if (sbc_msg_hello_check(h, &bad) != 0) {
			bus->ctx->counters.ring_bad_messages++;
			SBC_ERROR("%s worker %u (pid %u) was built with another size of message type %u: "
				  "rebuild and restart all sbc processes", shm_role_name(role_of(r)), idx, h->pid, bad);
			return;
		}
		if (bus->hello_cb)
			bus->hello_cb(bus->hello_arg, role_of(r), idx, (pid_t)h->pid);
		break;
	}
	case SBC_MSG_STATS_REPLY:
	case SBC_MSG_COMMAND_REPLY:
		handle_stats_reply(bus, r, idx, rec);
		break;
	case SBC_MSG_CALL_EVENT:
		if (r == 0)
			ctl_cdr_event(bus->ctx, idx, bus->pid[r][idx], (const sbc_msg_text *)rec->data);
		break;
	default:
		SBC_DEBUG("%s worker %u: message type %u ignored", shm_role_name(role_of(r)), idx, rec->type);
		break;
	}
}

/* Consumes every child->control ring until all are empty and the sleep flag
 * is set on each (so the next record rings our doorbell). */
static void bus_consume(ctl_bus *bus)
{
	for (;;) {
		bool busy = false;
		for (unsigned r = 0; r < BUS_CHILD_ROLES; r++)
			for (unsigned i = 0; i < bus->workers[r]; i++) {
				shm_ring_cons *c = &bus->in[r][i];
				const shm_rec *recs[BUS_BATCH];
				unsigned n;
				while ((n = shm_ring_pop_batch(c, recs, BUS_BATCH)) > 0) {
					for (unsigned k = 0; k < n; k++)
						handle_record(bus, r, i, recs[k]);
					shm_ring_release(c);
				}
			}
		for (unsigned r = 0; r < BUS_CHILD_ROLES && !busy; r++)
			for (unsigned i = 0; i < bus->workers[r]; i++)
				if (!shm_ring_prepare_sleep(&bus->in[r][i])) {
					busy = true;
					break;
				}
		if (!busy)
			return;
		for (unsigned r = 0; r < BUS_CHILD_ROLES; r++)
			for (unsigned i = 0; i < bus->workers[r]; i++)
				shm_ring_cancel_sleep(&bus->in[r][i]);
	}
}

static void bell_cb(uv_poll_t *h, int status, int events)
{
	ctl_bus *bus = h->data;
	if (status < 0) {
		SBC_ERROR("control doorbell: %s", uv_strerror(status));
		return;
	}
	shm_doorbell_drain(bus->bell);
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++)
		for (unsigned i = 0; i < bus->workers[r]; i++)
			shm_ring_cancel_sleep(&bus->in[r][i]);
	bus_consume(bus);
}

int ctl_bus_create(ctl_ctx *ctx, ctl_bus **out, char *err, size_t errlen)
{
	const ctl_config *cfg = &ctx->cfg;
	shm_seg_config sc;
	ctl_bus *bus;
	int ret;

	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->ctx = ctx;
	bus->workers[0] = cfg->signal.workers;
	bus->workers[1] = cfg->media.workers;
	bus->next_req_id = 1;
	snprintf(bus->name, sizeof(bus->name), "/sbc-%d", (int)getpid());

	memset(&sc, 0, sizeof(sc));
	sc.signal_workers = cfg->signal.workers;
	sc.media_workers = cfg->media.workers;
	sc.ring_bytes = cfg->control.ring_bytes;
	sc.ctl_ring_bytes = cfg->control.ctl_ring_bytes;
	sc.regions[0].name = MED_REGION_NAME;
	sc.regions[0].bytes = MED_SESSION_REGION_BYTES(MED_SESSIONS_FOR_PORTS(cfg->media.port_min, cfg->media.port_max));
	sc.regions[1].name = NULL;

	ret = shm_seg_create(bus->name, &sc, &bus->seg, err, errlen);
	if (ret) {
		free(bus);
		return ret;
	}
	bus->hdr = shm_seg_header(bus->seg);
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++)
		for (unsigned i = 0; i < bus->workers[r]; i++) {
			if (shm_seg_producer(bus->seg, &bus->out[r][i], SHM_ROLE_CONTROL, 0, role_of(r), i) ||
			    shm_seg_consumer(bus->seg, &bus->in[r][i], role_of(r), i, SHM_ROLE_CONTROL, 0)) {
				snprintf(err, errlen, "segment %s lacks the control rings of %s worker %u", bus->name,
					 shm_role_name(role_of(r)), i);
				ret = SBC_E_SHM_LAYOUT;
				goto Fail;
			}
		}
	atomic_store(&bus->hdr->kpid[SHM_ROLE_CONTROL], (int32_t)getpid());
	bus->bell = shm_seg_doorbell(bus->seg, SHM_ROLE_CONTROL, 0);
	if (bus->bell < 0 || (ret = uv_poll_init(ctx->loop, &bus->poll, bus->bell)) != 0) {
		snprintf(err, errlen, "control doorbell: %s", bus->bell < 0 ? "missing" : uv_strerror(ret));
		ret = SBC_E_SHM_LAYOUT;
		goto Fail;
	}
	bus->poll.data = bus;
	uv_poll_start(&bus->poll, UV_READABLE, bell_cb);
	bus->polling = true;
	bus_consume(bus);
	*out = bus;
	return 0;
Fail:
	shm_seg_detach(bus->seg);
	shm_seg_unlink(bus->name);
	free(bus);
	return ret;
}

static void poll_close_cb(uv_handle_t *h)
{
	ctl_bus *bus = h->data;
	free(bus);
}

void ctl_bus_destroy(ctl_bus *bus)
{
	if (!bus)
		return;
	while (bus->reqs)
		stats_finish(bus->reqs);
	shm_seg_detach(bus->seg);
	shm_seg_unlink(bus->name);
	if (bus->polling)
		uv_close((uv_handle_t *)&bus->poll, poll_close_cb);
	else
		free(bus);
}

const char *ctl_bus_name(const ctl_bus *bus) { return bus->name; }

uint64_t ctl_bus_generation(const ctl_bus *bus, unsigned area)
{
	return area < SHM_AREA_MAX ? shm_seg_gen(bus->hdr, area) : 0;
}

void ctl_bus_set_generation(ctl_bus *bus, unsigned area, uint64_t gen)
{
	if (area < SHM_AREA_MAX)
		atomic_store_explicit(&bus->hdr->kgen[area], gen, memory_order_release);
}

void ctl_bus_set_hello_cb(ctl_bus *bus, ctl_bus_hello_cb cb, void *arg)
{
	bus->hello_cb = cb;
	bus->hello_arg = arg;
}

unsigned ctl_bus_inherit_fds(const ctl_bus *bus, int *fds, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < bus->hdr->ndoorbells && n < max; i++)
		if (bus->hdr->doorbells[i].fd >= 0)
			fds[n++] = bus->hdr->doorbells[i].fd;
	return n;
}

void ctl_bus_child_reset(ctl_bus *bus, enum shm_role role)
{
	unsigned r = ri(role);
	for (unsigned i = 0; i < bus->workers[r]; i++) {
		shm_ring_prod *p = &bus->out[r][i];
		/* The consumer is dead: nobody else touches khead now. */
		uint32_t tail = atomic_load_explicit(&p->ring->ktail, memory_order_relaxed);
		atomic_store_explicit(&p->ring->khead, tail, memory_order_release);
		atomic_store_explicit(&p->ring->ksleeping, 0, memory_order_relaxed);
		p->head_cache = tail;
		sbc_msg_hello h;
		sbc_msg_hello_fill(&h, SHM_ROLE_CONTROL, 0);
		if (shm_ring_push(p, SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)) != 0)
			SBC_ERROR("cannot push HELLO to %s worker %u", shm_role_name(role), i);
	}
}

void ctl_bus_child_alive(ctl_bus *bus, enum shm_role role, bool alive)
{
	unsigned r = ri(role);
	bus->alive[r] = alive;
	if (!alive)
		/* Stats requests waiting for this child will not be answered. */
		for (bus_stats_req *q = bus->reqs, *next; q; q = next) {
			next = q->next;
			for (unsigned i = 0; i < bus->workers[r]; i++)
				if (q->asked[r][i] && !q->entries[r][i]) {
					q->entries[r][i] = json_pack("{s:I, s:b, s:s}", "worker", (json_int_t)i,
								     "available", 0, "error", "process exited");
					q->waiting--;
				}
			if (q->waiting == 0)
				stats_finish(q);
		}
}

void ctl_bus_child_exited(ctl_bus *bus, enum shm_role role, pid_t pid, const char *reason)
{
	/* What the process published before it ended is still on its rings
	 * (a call's end, an answer): read it first, or its calls would be ended
	 * twice or with the wrong times. Nothing new comes from it now. */
	bus_consume(bus);
	if (role == SHM_ROLE_SIGNAL)
		ctl_cdr_signal_gone(bus->ctx, pid, reason);
}

uint64_t ctl_bus_notify(ctl_bus *bus, unsigned area, uint64_t gen)
{
	if (area >= SHM_AREA_MAX)
		return 0;
	if (gen == 0 || gen <= shm_seg_gen(bus->hdr, area))
		gen = shm_seg_gen_bump(bus->hdr, area);
	else
		atomic_store_explicit(&bus->hdr->kgen[area], gen, memory_order_release);
	sbc_msg_config_changed m = {.area = area, .generation = gen};
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++) {
		if (!bus->alive[r])
			continue;
		for (unsigned i = 0; i < bus->workers[r]; i++) {
			int ret = shm_ring_push(&bus->out[r][i], SBC_MSG_CONFIG_CHANGED, SBC_MSG_V_CONFIG_CHANGED,
						&m, sizeof(m));
			if (ret != 0) {
				bus->ctx->counters.ring_full++;
				SBC_WARN("config change (area %u, generation %llu) not delivered to %s worker %u: %s; "
					 "it will see the store generation", area, (unsigned long long)gen,
					 shm_role_name(role_of(r)), i, sbc_strerror(ret));
			}
		}
	}
	return gen;
}

int ctl_bus_command(ctl_bus *bus, enum shm_role role, unsigned idx, const char *json, size_t len)
{
	unsigned r = ri(role);
	if (!bus->alive[r] || idx >= bus->workers[r])
		return SBC_E_STATE;
	int ret = sbc_msg_push_text(&bus->out[r][idx], SBC_MSG_COMMAND, ++bus->next_req_id, json, (uint32_t)len);
	if (ret != 0)
		bus->ctx->counters.ring_full++;
	return ret;
}

unsigned ctl_bus_drain(ctl_bus *bus, uint32_t deadline_ms)
{
	unsigned n = 0;
	sbc_msg_drain m = {.deadline_ms = deadline_ms};
	if (!bus->alive[0])
		return 0;
	for (unsigned i = 0; i < bus->workers[0]; i++) {
		int ret = shm_ring_push(&bus->out[0][i], SBC_MSG_DRAIN, SBC_MSG_V_DRAIN, &m, sizeof(m));
		if (ret == 0)
			n++;
		else {
			bus->ctx->counters.ring_full++;
			SBC_WARN("DRAIN not delivered to signal worker %u: %s", i, sbc_strerror(ret));
		}
	}
	return n;
}

static void stats_timer_close_cb(uv_handle_t *h)
{
	bus_stats_req *q = h->data;
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++)
		for (unsigned i = 0; i < SHM_MAX_WORKERS; i++)
			json_decref(q->entries[r][i]);
	free(q);
}

/* Completes q: unanswered workers show as unavailable. */
static void stats_finish(bus_stats_req *q)
{
	ctl_bus *bus = q->bus;
	json_t *res = json_object();
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++) {
		if (!(q->roles & (1u << r)))
			continue;
		json_t *arr = json_array();
		for (unsigned i = 0; i < bus->workers[r]; i++) {
			json_t *e = q->entries[r][i];
			if (e)
				json_array_append(arr, e);
			else
				json_array_append_new(arr, json_pack("{s:I, s:b, s:s}", "worker", (json_int_t)i,
								     "available", 0, "error",
								     q->asked[r][i] ? "no reply in time" : "not running"));
		}
		json_object_set_new(res, shm_role_name(role_of(r)), arr);
	}
	for (bus_stats_req **pp = &bus->reqs; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	uv_timer_stop(&q->timer);
	uv_close((uv_handle_t *)&q->timer, stats_timer_close_cb);
	q->cb(res, q->arg);
}

static void stats_timeout_cb(uv_timer_t *t) { stats_finish(t->data); }

/* Asks every live worker of the roles in mask (bit per role index) with
 * type/text and collects the replies (see ctl_bus_stats). */
static int bus_ask(ctl_bus *bus, unsigned mask, int only, uint16_t type, const char *text, size_t len,
		   unsigned timeout_ms, ctl_bus_stats_cb cb, void *arg)
{
	bus_stats_req *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->bus = bus;
	q->id = bus->next_req_id++;
	q->cb = cb;
	q->arg = arg;
	q->roles = mask;
	q->reply_type = type == SBC_MSG_COMMAND ? SBC_MSG_COMMAND_REPLY : SBC_MSG_STATS_REPLY;
	q->key = type == SBC_MSG_COMMAND ? "reply" : "stats";
	uv_timer_init(bus->ctx->loop, &q->timer);
	q->timer.data = q;
	q->next = bus->reqs;
	bus->reqs = q;
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++) {
		if (!bus->alive[r] || !(mask & (1u << r)))
			continue;
		for (unsigned i = 0; i < bus->workers[r]; i++) {
			if (only >= 0 && i != (unsigned)only)
				continue;
			int ret = sbc_msg_push_text(&bus->out[r][i], type, q->id, text, (uint32_t)len);
			if (ret == 0) {
				q->asked[r][i] = true;
				q->waiting++;
			} else {
				bus->ctx->counters.ring_full++;
				q->entries[r][i] = json_pack("{s:I, s:b, s:s}", "worker", (json_int_t)i, "available", 0,
							     "error", sbc_strerror(ret));
			}
		}
	}
	if (q->waiting == 0)
		stats_finish(q);
	else
		uv_timer_start(&q->timer, stats_timeout_cb, timeout_ms, 0);
	return 0;
}

int ctl_bus_stats(ctl_bus *bus, unsigned timeout_ms, ctl_bus_stats_cb cb, void *arg)
{
	return bus_ask(bus, 3u, -1, SBC_MSG_STATS_REQUEST, "{}", 2, timeout_ms, cb, arg);
}

int ctl_bus_ask(ctl_bus *bus, enum shm_role role, int idx, const char *json, size_t len, unsigned timeout_ms,
		ctl_bus_stats_cb cb, void *arg)
{
	if (len > SBC_MSG_TEXT_MAX)
		return SBC_E_INVAL;
	return bus_ask(bus, 1u << ri(role), idx, SBC_MSG_COMMAND, json, len, timeout_ms, cb, arg);
}

json_t *ctl_bus_ring_json(ctl_bus *bus)
{
	json_t *arr = json_array();
	for (unsigned r = 0; r < BUS_CHILD_ROLES; r++)
		for (unsigned i = 0; i < bus->workers[r]; i++) {
			shm_ring_hdr *o = bus->out[r][i].ring, *n = bus->in[r][i].ring;
			json_array_append_new(
				arr, json_pack("{s:s, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}", "child",
					       shm_role_name(role_of(r)), "worker", (json_int_t)i, "to_child",
					       "published", (json_int_t)atomic_load(&o->kpublished), "full",
					       (json_int_t)atomic_load(&o->kfull), "queued_bytes",
					       (json_int_t)shm_ring_used(o), "from_child", "published",
					       (json_int_t)atomic_load(&n->kpublished), "full",
					       (json_int_t)atomic_load(&n->kfull), "queued_bytes",
					       (json_int_t)shm_ring_used(n)));
		}
	return arr;
}
