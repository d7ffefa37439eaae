/* sbc-signal — workers: threads, loops, listeners, cross-worker rings,
 * control rings, and the transport API (sig_transport.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/msg.h"
#include "sig_batch.h"
#include "sig_worker.h"

static sig_server *g_srv;
static sig_rx_cb g_rx_cb;
static void *g_rx_arg;
static sig_worker_hook g_start_hook, g_stop_hook;
static void *g_hook_arg;
static sig_worker_hook g_ring_hook;
static void *g_ring_arg;

static sig_stats_hook g_stats_hook;
static void *g_stats_arg;

void sig_set_stats_hook(sig_stats_hook fn, void *arg)
{
	g_stats_hook = fn;
	g_stats_arg = arg;
}

static sig_command_hook g_cmd_hook;
static void *g_cmd_arg;

void sig_set_command_hook(sig_command_hook fn, void *arg)
{
	g_cmd_hook = fn;
	g_cmd_arg = arg;
}

int sig_command_reply(sig_worker *w, uint64_t request_id, const char *json, size_t len)
{
	if (!w->has_ctl)
		return SBC_E_STATE;
	return sbc_msg_push_text(&w->ctl_out, SBC_MSG_COMMAND_REPLY, request_id, json, (uint32_t)len);
}

/* Call events to sbc-control. Each is reserved on the control ring at once
 * and published with the next tick (or the next message on that ring):
 * records need no low latency, and one doorbell per tick instead of three
 * per call saves sbc-signal CPU. But a burst (a thousand BYEs in a tick) or
 * a slow sbc-control must not lose them: carriers bill from cdr.jsonl, and a
 * lost end becomes sbc-control's made-up "call state lost" end when this
 * process ends, maybe days later. So:
 *  - held bytes are published once they pass a quarter of the ring, and
 *    whenever a reserve fails (the reserve is retried then);
 *  - what the ring still refuses waits in a bounded per-worker backlog
 *    (ev_held) that the tick, the next event and the stop retry, in order;
 *  - a stopping worker waits for room (sbc-control drains the ring) until
 *    stop_deadline_ms; only then, or past SIG_EV_HELD_MAX, is an event
 *    dropped, counted and logged.
 * The common path is one reserve and one compare: no syscall per event
 * (publish rings the doorbell only when sbc-control sleeps). */
#define SIG_EV_HELD_MAX (4u << 20) /* bytes per worker: ~8000 events */
#define SIG_STOP_EVENTS_MS 3000    /* a stopping worker's wait for room */

static int ev_reserve(sig_worker *w, const char *json, uint32_t len)
{
	uint32_t total = (uint32_t)offsetof(sbc_msg_text, text) + len;
	sbc_msg_text *m = shm_ring_reserve(&w->ctl_out, SBC_MSG_CALL_EVENT, SBC_MSG_V_CALL_EVENT, total);
	if (!m)
		return -1;
	m->request_id = 0;
	m->len = len;
	m->_reserved = 0;
	memcpy(m->text, json, len);
	return 0;
}

/* Moves held events onto the ring while it has room; publishes. Returns
 * how many are still held. */
static uint32_t ev_flush(sig_worker *w)
{
	while (w->ev_held_n) {
		uint32_t len;
		memcpy(&len, w->ev_held + w->ev_held_off, sizeof(len));
		if (ev_reserve(w, w->ev_held + w->ev_held_off + sizeof(len), len) < 0)
			break;
		w->ev_held_off += sizeof(len) + len;
		w->ev_held_len -= sizeof(len) + len;
		w->ev_held_n--;
	}
	if (!w->ev_held_n)
		w->ev_held_off = w->ev_held_len = 0;
	shm_ring_publish(&w->ctl_out);
	return w->ev_held_n;
}

static void ev_drop_log(sig_worker *w, uint64_t now_ms)
{
	if (w->ev_dropped == w->ev_dropped_logged || now_ms < w->ev_drop_log_ms + 1000)
		return;
	SBC_ERROR("worker %u: %" PRIu64 " call event(s) dropped (%" PRIu64 " in all): the control ring stayed full "
		  "and %u are held; their calls' records in sbc-control are wrong",
		  w->idx, w->ev_dropped - w->ev_dropped_logged, w->ev_dropped, w->ev_held_n);
	w->ev_dropped_logged = w->ev_dropped;
	w->ev_drop_log_ms = now_ms;
}

/* Appends an event to the backlog; SBC_E_RING_FULL when it is full
 * (dropped, counted). */
static int ev_hold(sig_worker *w, const char *json, uint32_t len)
{
	size_t need = sizeof(len) + len;
	if (w->ev_held_len + need > SIG_EV_HELD_MAX) {
		w->ev_dropped++;
		ev_drop_log(w, sbc_mono_ms());
		return SBC_E_RING_FULL;
	}
	if (w->ev_held_off + w->ev_held_len + need > w->ev_held_cap) {
		/* slide to the front once over half the buffer is consumed
		 * (amortised: never a slide per event), else grow */
		if (w->ev_held_off > w->ev_held_cap / 2) {
			memmove(w->ev_held, w->ev_held + w->ev_held_off, w->ev_held_len);
			w->ev_held_off = 0;
		}
		if (w->ev_held_off + w->ev_held_len + need > w->ev_held_cap) {
			size_t cap = w->ev_held_cap ? w->ev_held_cap : 64u << 10;
			while (cap < w->ev_held_off + w->ev_held_len + need)
				cap *= 2;
			char *b = realloc(w->ev_held, cap);
			if (!b) {
				w->ev_dropped++;
				ev_drop_log(w, sbc_mono_ms());
				return SBC_E_RING_FULL;
			}
			w->ev_held = b;
			w->ev_held_cap = cap;
		}
	}
	memcpy(w->ev_held + w->ev_held_off + w->ev_held_len, &len, sizeof(len));
	memcpy(w->ev_held + w->ev_held_off + w->ev_held_len + sizeof(len), json, len);
	w->ev_held_len += need;
	w->ev_held_n++;
	return 0;
}

/* A stopping worker: waits (1 ms steps) until sbc-control has taken every
 * held event or stop_deadline_ms passes. Returns how many are still held. */
static uint32_t ev_flush_wait(sig_worker *w)
{
	while (ev_flush(w) && sbc_mono_ms() < w->stop_deadline_ms) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return w->ev_held_n;
}

int sig_call_event(sig_worker *w, const char *json, size_t len)
{
	if (!w->has_ctl)
		return SBC_E_STATE;
	uint32_t total = (uint32_t)offsetof(sbc_msg_text, text) + (uint32_t)len;
	if (len > SBC_MSG_TEXT_MAX || total > shm_ring_max_payload(w->ctl_out.ring))
		return SBC_E_MSG_TOO_BIG;
	shm_ring_prod *p = &w->ctl_out;
	if (!w->ev_held_n && ev_reserve(w, json, (uint32_t)len) == 0) {
		if (shm_ring_unpublished(p) > shm_ring_capacity(p) / 4)
			shm_ring_publish(p);
		return 0;
	}
	/* the ring is full or older events wait: publish what it holds,
	 * move the older ones on, then this one (in order) */
	if (!ev_flush(w) && ev_reserve(w, json, (uint32_t)len) == 0)
		return 0;
	/* stopping (wk_stop ends every call at once): stop_cb waits for
	 * room for all of them, or here if the backlog itself is full */
	if (w->stopping && w->ev_held_len + sizeof(uint32_t) + len > SIG_EV_HELD_MAX)
		ev_flush_wait(w);
	return ev_hold(w, json, (uint32_t)len);
}

void sig_set_ring_hook(sig_worker_hook fn, void *arg)
{
	g_ring_hook = fn;
	g_ring_arg = arg;
}

static sig_conn_closed_hook g_closed_hook;

void sig_set_conn_closed_hook(sig_conn_closed_hook fn) { g_closed_hook = fn; }

void sig_conn_closed_notify(sig_conn *c)
{
	if (g_closed_hook && !c->outbound)
		g_closed_hook(c->w, sig_conn_id_of(c), (enum sig_tp)c->tp, c->carries_req);
}

void sig_set_worker_hooks(sig_worker_hook start, sig_worker_hook stop, void *arg)
{
	g_start_hook = start;
	g_stop_hook = stop;
	g_hook_arg = arg;
}

uv_loop_t *sig_worker_loop(sig_worker *w) { return &w->loop; }
unsigned sig_worker_index(const sig_worker *w) { return w->idx; }
unsigned sig_worker_count(void) { return g_srv ? g_srv->n_workers : 0; }
void **sig_worker_user(sig_worker *w) { return &w->user; }
shm_seg *sig_segment(void) { return g_srv ? g_srv->seg : NULL; }

static const char *const tp_names[SIG_TP_MAX_] = {"udp", "tcp", "tls"};

const char *sig_tp_name(unsigned tp) { return tp < SIG_TP_MAX_ ? tp_names[tp] : "?"; }

int sig_tp_parse(const char *s)
{
	for (unsigned i = 0; i < SIG_TP_MAX_; i++)
		if (strcasecmp(s, tp_names[i]) == 0)
			return (int)i;
	return -1;
}

void sig_set_rx_handler(sig_rx_cb cb, void *arg)
{
	g_rx_cb = cb;
	g_rx_arg = arg;
}

sig_server *sig_server_get(void) { return g_srv; }

void sig_worker_deliver(sig_worker *w, const sig_rx *rx)
{
	(void)w;
	if (g_rx_cb)
		g_rx_cb(rx, g_rx_arg);
	else
		sig_local_handle(rx, NULL);
}

/* --- API --- */

/* The worker that owns connection id, or SBC_E_INVAL for no connection or
 * an index past this server's workers. */
static int conn_owner(const sig_worker *w, sig_conn_id id)
{
	unsigned owner = sig_conn_id_worker(id);
	return id == 0 || owner >= w->srv->n_workers ? SBC_E_INVAL : (int)owner;
}

int sig_reply(const sig_rx *rx, const void *buf, size_t len)
{
	if (rx->tp == SIG_TP_UDP)
		return sig_udp_reply(rx, buf, len);
	return sig_send_conn(rx->worker, rx->conn, buf, len);
}

/* Whether bytes handed to sig_send_conn are a request (a SIP response
 * starts with its version): a request's loss fails a transaction of the
 * sender's, a response's none. */
static int is_request(const void *buf, size_t len)
{
	return !(len >= 8 && memcmp(buf, "SIP/2.0 ", 8) == 0);
}

int sig_send_conn(sig_worker *w, sig_conn_id id, const void *buf, size_t len)
{
	int owner = conn_owner(w, id);
	if (owner < 0)
		return owner;
	int req = is_request(buf, len);
	if ((unsigned)owner == w->idx) {
		sig_conn *c = sig_conn_lookup(w, id);
		if (!c)
			return SBC_E_CLOSED;
		if (req)
			c->carries_req = 1; /* its close is now a loss to report */
		return sig_conn_send(c, buf, len);
	}
	shm_ring_prod *p = &w->xout[owner];
	if (len + sizeof(sig_xmsg_send) > shm_ring_max_payload(p->ring))
		return SBC_E_MSG_TOO_BIG;
	sig_xmsg_send *m = shm_ring_reserve(p, SIG_XMSG_SEND, 1, (uint32_t)(sizeof(*m) + len));
	if (!m) {
		sig_stat_add(w->stats, SIG_TP_TCP, SIG_ST_xworker_full, 1);
		return SBC_E_RING_FULL;
	}
	m->conn = id;
	m->len = (uint32_t)len;
	/* a response's loss fails no transaction of the sender's: only a
	 * request's is bounced, and only a request marks the connection */
	m->flags = req ? SIG_XSEND_REQUEST : 0;
	memcpy(m->data, buf, len);
	shm_ring_publish(p);
	sig_stat_add(w->stats, SIG_TP_TCP, SIG_ST_xworker_sends, 1);
	return 0;
}

int sig_forward_rx(const sig_rx *rx, unsigned to)
{
	sig_worker *w = rx->worker;
	if (rx->tp >= SIG_TP_MAX_ || to >= w->srv->n_workers || to == w->idx || rx->hops >= SIG_MAX_WORKERS)
		return SBC_E_INVAL;
	if (rx->tp == SIG_TP_UDP ? !rx->local : !rx->conn)
		return SBC_E_INVAL;
	size_t len = (size_t)rx->hdr_len + rx->body_len;
	shm_ring_prod *p = &w->xout[to];
	if (len + sizeof(sig_xmsg_rx) > shm_ring_max_payload(p->ring))
		return SBC_E_MSG_TOO_BIG;
	sig_xmsg_rx *m = shm_ring_reserve(p, SIG_XMSG_RX, 1, (uint32_t)(sizeof(*m) + len));
	if (!m) {
		sig_stat_add(w->stats, rx->tp, SIG_ST_xworker_full, 1);
		return SBC_E_RING_FULL;
	}
	memset(m, 0, sizeof(*m));
	m->src = *rx->src;
	if (rx->local) {
		m->local = *rx->local;
		m->has_local = 1;
	}
	m->trunk = rx->trunk;
	m->profile = rx->profile;
	/* TCP/TLS: the connection stays with its worker; the owner of the call
	 * answers through it with sig_send_conn, which crosses back */
	m->conn = rx->conn;
	m->tp = (uint8_t)rx->tp;
	m->hops = (uint16_t)(rx->hops + 1);
	m->hdr_len = rx->hdr_len;
	m->body_len = rx->body_len;
	memcpy(m->data, rx->msg, len);
	shm_ring_publish(p);
	return 0;
}

static void xrx_deliver(sig_worker *w, const sig_xmsg_rx *m)
{
	const sbc_addr *local = NULL;
	if (m->tp >= SIG_TP_MAX_ || (m->tp == SIG_TP_UDP) != (m->conn == 0))
		return;
	/* rx->local points at this worker's listener of the same transport and
	 * address (every worker has the same listeners) */
	for (unsigned i = 0; m->has_local && i < w->n_lst; i++) {
		sig_listener *l = &w->lst[i];
		if (l->tp == m->tp && sbc_addr_equal(&l->addr, &m->local)) {
			local = &l->addr;
			break;
		}
	}
	if (m->tp == SIG_TP_UDP && !local)
		return; /* a UDP reply needs this worker's socket */
	/* rx->peer (the TLS client identity) stays with the connection: the
	 * call's trunk was decided on the first message, rx->trunk carries it */
	sig_rx rx = {.worker = w, .worker_idx = w->idx, .tp = (enum sig_tp)m->tp, .conn = m->conn, .src = &m->src,
		     .local = local, .profile = m->tp == SIG_TP_TLS ? m->profile : NULL, .peer = NULL,
		     .trunk = m->trunk, .msg = m->data, .hdr_len = m->hdr_len, .body_len = m->body_len,
		     .hops = m->hops};
	sig_worker_deliver(w, &rx);
}

int sig_close_conn(sig_worker *w, sig_conn_id id)
{
	int owner = conn_owner(w, id);
	if (owner < 0)
		return owner;
	if ((unsigned)owner == w->idx) {
		sig_conn *c = sig_conn_lookup(w, id);
		if (!c)
			return SBC_E_CLOSED;
		sig_conn_close(c, 0);
		return 0;
	}
	int r = shm_ring_push(&w->xout[owner], SIG_XMSG_CLOSE, 1, &id, sizeof(id));
	if (r < 0)
		sig_stat_add(w->stats, SIG_TP_TCP, SIG_ST_xworker_full, 1);
	return r;
}

int sig_send_addr(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, const char *profile,
		  const char *server_name, const void *buf, size_t len)
{
	if (tp == SIG_TP_UDP)
		return sig_udp_send(w, dst, buf, len);
	if (tp != SIG_TP_TCP && tp != SIG_TP_TLS)
		return SBC_E_INVAL;
	sig_conn *c = sig_conn_find_out(w, tp, dst);
	if (!c)
		c = sig_conn_connect(w, tp, dst, profile, server_name);
	if (!c)
		return SBC_E_CLOSED;
	return sig_conn_send(c, buf, len);
}

/* --- cross-worker rings --- */

static void xrings_drain(sig_worker *w)
{
	unsigned n = w->srv->n_workers;
	for (int round = 0; round < 64; round++) {
		unsigned got = 0;
		for (unsigned j = 0; j < n; j++) {
			if (j == w->idx)
				continue;
			shm_ring_cons *c = &w->xin[j];
			const shm_rec *r;
			unsigned k = 0;
			while (k < 256 && (r = shm_ring_peek(c)) != NULL) {
				if (r->type == SIG_XMSG_CLOSE && r->len == sizeof(sig_conn_id)) {
					sig_conn_id id;
					memcpy(&id, r->data, sizeof(id));
					sig_conn *cn = sig_conn_lookup(w, id);
					if (cn)
						sig_conn_close(cn, 0);
				} else if (r->type == SIG_XMSG_RX && r->len >= sizeof(sig_xmsg_rx)) {
					const sig_xmsg_rx *m = (const sig_xmsg_rx *)r->data;
					if ((uint64_t)m->hdr_len + m->body_len <= r->len - sizeof(*m))
						xrx_deliver(w, m);
				} else if (r->type == SIG_XMSG_ICMP && r->len == sizeof(sig_xmsg_icmp)) {
					sig_xmsg_icmp m;
					memcpy(&m, r->data, sizeof(m));
					sig_batch_icmp(w, &m);
				} else if (r->type == SIG_XMSG_LOST && r->len == sizeof(sig_xmsg_lost)) {
					sig_xmsg_lost m;
					sbc_addr none;
					memcpy(&m, r->data, sizeof(m));
					memset(&none, 0, sizeof(none)); /* a connection's loss is matched by its id */
					if (m.tp < SIG_TP_MAX_)
						sig_batch_lost(w, (enum sig_tp)m.tp, &none, m.conn, m.err);
				} else if (r->type == SIG_XMSG_SEND && r->len >= sizeof(sig_xmsg_send)) {
					const sig_xmsg_send *m = (const sig_xmsg_send *)r->data;
					if (m->len <= r->len - sizeof(*m)) {
						sig_conn *cn = sig_conn_lookup(w, m->conn);
						if (cn && (m->flags & SIG_XSEND_REQUEST))
							cn->carries_req = 1; /* its close is a loss to report */
						if (!cn || sig_conn_send(cn, m->data, m->len) < 0) {
							sig_stat_add(w->stats, SIG_TP_TCP, SIG_ST_send_errors, 1);
							/* the sender was told 0: a request's
							 * transaction learns of the loss now, not
							 * from a timer, when the connection is
							 * gone: missing, or closed by this send
							 * (a write error, output past
							 * SIG_OUTBUF_MAX or no memory for it; cn
							 * is freed only once its handle has
							 * closed, later in the loop) */
							if ((m->flags & SIG_XSEND_REQUEST) && (!cn || cn->state == SIG_CS_CLOSING))
								sig_forward_lost(w, j, cn ? (enum sig_tp)cn->tp : SIG_TP_TCP,
										 m->conn, SBC_E_CLOSED);
						}
					}
				}
				shm_ring_next(c, r);
				k++;
			}
			if (k) {
				shm_ring_release(c);
				got += k;
			}
		}
		if (got)
			continue;
		/* announce sleep on every ring; if one refills meanwhile, go again */
		int all_empty = 1;
		for (unsigned j = 0; j < n; j++) {
			if (j == w->idx)
				continue;
			if (!shm_ring_prepare_sleep(&w->xin[j]))
				all_empty = 0;
		}
		if (all_empty)
			return;
		for (unsigned j = 0; j < n; j++)
			if (j != w->idx)
				shm_ring_cancel_sleep(&w->xin[j]);
	}
	/* still busy after many rounds: come back on the next tick/doorbell */
	shm_doorbell_ring(w->xdoorbell);
}

static void xpoll_cb(uv_poll_t *h, int status, int events)
{
	sig_worker *w = h->data;
	shm_doorbell_drain(w->xdoorbell);
	w->now_ms = uv_now(&w->loop);
	xrings_drain(w);
}

/* --- control ring --- */

static void ctl_handle(sig_worker *w, const shm_rec *r)
{
	if (sbc_msg_check(r) < 0) {
		SBC_WARN("worker %u: control message type %u rejected", w->idx, r->type);
		return;
	}
	switch (r->type) {
	case SBC_MSG_HELLO: {
		unsigned bad = 0;
		if (sbc_msg_hello_check((const sbc_msg_hello *)r->data, &bad) < 0)
			SBC_ERROR("worker %u: control HELLO size mismatch on message type %u", w->idx, bad);
		break;
	}
	case SBC_MSG_CONFIG_CHANGED: {
		const sbc_msg_config_changed *m = (const sbc_msg_config_changed *)r->data;
		if (m->area == SHM_AREA_TRUNKS)
			sig_trunks_refresh(w->trunks, uv_now(&w->loop), 1);
		if (m->area == SHM_AREA_TLS && w->srv->reload_async) {
			atomic_store(&w->srv->tls_gen_wanted, m->generation);
			uv_async_send(w->srv->reload_async);
		}
		break;
	}
	case SBC_MSG_STATS_REQUEST: {
		const sbc_msg_text *m = (const sbc_msg_text *)r->data;
		char buf[SBC_MSG_TEXT_MAX];
		/* each worker answers for itself: sbc-control asks every worker
		 * and merges the replies */
		sig_stats *mine[1] = {w->stats};
		sig_trunk_stats *tmine[1] = {w->tstats};
		int n = sig_stats_json2(mine, tmine, 1, buf, sizeof(buf));
		if (n < 0)
			n = snprintf(buf, sizeof(buf), "{\"error\":\"stats too large\"}");
		else if (g_stats_hook && n > 1 && buf[n - 1] == '}') {
			char more[512];
			int add = g_stats_hook(w, more, sizeof(more), g_stats_arg);
			if (add > 0 && (size_t)add < sizeof(more) && (size_t)(n + add + 1) < sizeof(buf)) {
				memcpy(buf + n - 1, more, (size_t)add);
				n += add - 1;
				buf[n++] = '}';
				buf[n] = 0;
			}
		}
		/* call events the control ring refused: held (waiting for
		 * room), dropped (the backlog was full too) */
		char ev[96];
		int add = snprintf(ev, sizeof(ev), ",\"call_events\":{\"held\":%u,\"dropped\":%" PRIu64 "}}",
				   w->ev_held_n, w->ev_dropped);
		if (n > 1 && buf[n - 1] == '}' && add > 0 && (size_t)(n + add) < sizeof(buf)) {
			memcpy(buf + n - 1, ev, (size_t)add + 1);
			n += add - 1;
		}
		sbc_msg_push_text(&w->ctl_out, SBC_MSG_STATS_REPLY, m->request_id, buf, (uint32_t)n);
		break;
	}
	case SBC_MSG_DRAIN:
		SBC_NOTICE("worker %u: drain requested", w->idx);
		break;
	case SBC_MSG_COMMAND: {
		const sbc_msg_text *m = (const sbc_msg_text *)r->data;
		if (g_cmd_hook && m->len <= SBC_MSG_TEXT_MAX)
			g_cmd_hook(w, m->request_id, m->text, m->len, g_cmd_arg);
		break;
	}
	default:
		break;
	}
}

static void ctl_drain(sig_worker *w)
{
	for (;;) {
		const shm_rec *r;
		unsigned k = 0;
		while ((r = shm_ring_peek(&w->ctl_in)) != NULL) {
			ctl_handle(w, r);
			shm_ring_next(&w->ctl_in, r);
			k++;
		}
		if (k)
			shm_ring_release(&w->ctl_in);
		if (shm_ring_prepare_sleep(&w->ctl_in))
			return;
	}
}

static void ctl_poll_cb(uv_poll_t *h, int status, int events)
{
	sig_worker *w = h->data;
	shm_doorbell_drain(w->ctl_doorbell);
	ctl_drain(w);
	if (g_ring_hook)
		g_ring_hook(w, g_ring_arg);
}

/* --- tick, stop, thread --- */

static void tick_cb(uv_timer_t *t)
{
	sig_worker *w = t->data;
	w->now_ms = uv_now(&w->loop);
	sig_conn_expire(w, w->now_ms);
	sig_trunks_refresh(w->trunks, w->now_ms, 0);
	if (w->srv->n_workers > 1)
		xrings_drain(w);
	if (w->has_ctl) {
		ctl_drain(w);
		ev_flush(w); /* held and deferred call events */
		ev_drop_log(w, sbc_mono_ms());
	}
	if (g_ring_hook)
		g_ring_hook(w, g_ring_arg);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void stop_cb(uv_async_t *a)
{
	sig_worker *w = a->data;
	w->stopping = 1;
	w->stop_deadline_ms = sbc_mono_ms() + SIG_STOP_EVENTS_MS;
	sig_conn_close_all(w);
	sig_out_destroy(w);
	if (g_stop_hook)
		g_stop_hook(w, g_hook_arg);
	if (w->has_ctl && ev_flush_wait(w)) { /* the stop hook's call end events: no tick comes now */
		w->ev_dropped += w->ev_held_n;
		SBC_ERROR("worker %u: stopping: %u call end event(s) not delivered, sbc-control did not "
			  "drain the control ring within %u ms (it ends those calls as lost)",
			  w->idx, w->ev_held_n, SIG_STOP_EVENTS_MS);
	}
	sig_trunks_close(w->trunks);
	w->trunks = NULL;
	uv_walk(&w->loop, close_walk_cb, NULL);
}

/* A worker thread's heap is one of glibc's per-thread arenas, which grows
 * exactly as far as each allocation needs (a page at a time, one mprotect
 * each: M_TOP_PAD pads only the main arena) and shrinks again whenever its
 * top passes M_TRIM_THRESHOLD (a page fault per page when it grows back).
 * Transactions linger 64*T1 after their call, so at a few thousand calls/s
 * the heap grows and trims all the time. sig_server_start raises the trim
 * threshold above SIG_ARENA_PREGROW and each worker grows its arena once
 * at start, in chunks below the mmap threshold, and frees them into the
 * arena's top: untouched pages cost no RSS, and later allocations up to
 * that size need no mprotect, nor a refault after a trim. */
#define SIG_ARENA_PREGROW (32u << 20)
#define SIG_ARENA_CHUNK (64u << 10) /* below M_MMAP_THRESHOLD (128 KiB) */
#define SIG_TRIM_THRESHOLD (64 << 20)

static void arena_pregrow(void)
{
	void *blk[SIG_ARENA_PREGROW / SIG_ARENA_CHUNK];
	unsigned n = 0;
	while (n < sizeof(blk) / sizeof(blk[0]) && (blk[n] = malloc(SIG_ARENA_CHUNK - 64)))
		n++;
	while (n) /* newest first: each joins the top chunk */
		free(blk[--n]);
}

static void *worker_main(void *arg)
{
	sig_worker *w = arg;
	arena_pregrow(); /* the thread's first allocation: its own arena */
	char name[16];
	snprintf(name, sizeof(name), "sig-w%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	w->trunks = sig_trunks_open(w->srv->cfg.store_path); /* its reader belongs to this thread */
	if (w->has_ctl) {
		sbc_msg_hello h;
		sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, w->idx);
		shm_ring_push(&w->ctl_out, SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h));
		ctl_drain(w);
	}
	if (w->srv->n_workers > 1)
		xrings_drain(w);
	if (g_start_hook)
		g_start_hook(w, g_hook_arg);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int worker_init(sig_server *srv, sig_worker *w, unsigned idx, char *err, size_t errlen)
{
	const sig_config *cfg = &srv->cfg;
	int r;
	w->idx = idx;
	w->srv = srv;
	w->stats = srv->stats[idx];
	w->tstats = srv->tstats[idx];
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w->udp_fd_for_send[0] = w->udp_fd_for_send[1] = -1;
	w->scratch = malloc(SIG_SCRATCH_BYTES);
	unsigned n = srv->n_workers;
	uint32_t per_src = (cfg->lim.max_conns_per_source + n - 1) / n;
	uint32_t rate = (cfg->lim.hs_per_source_per_s + n - 1) / n;
	uint32_t burst = (cfg->lim.hs_burst_per_source + n - 1) / n;
	w->rl = sig_rl_create(1u << 16, per_src, rate, burst);
	if (!w->scratch || !w->rl)
		return -ENOMEM;
	if ((r = uv_loop_init(&w->loop)) < 0)
		return r;
	uv_async_init(&w->loop, &w->stop, stop_cb);
	w->stop.data = w;
	uv_timer_init(&w->loop, &w->tick);
	w->tick.data = w;
	uv_timer_start(&w->tick, tick_cb, 100, 100);
	uv_timer_init(&w->loop, &w->resume);
	uv_unref((uv_handle_t *)&w->resume);

	for (unsigned i = 0; i < cfg->n_listen; i++) {
		const sig_listen_cfg *lc = &cfg->listen[i];
		sig_listener *l = &w->lst[w->n_lst];
		char a[SBC_ADDR_STRLEN];
		l->w = w;
		l->tp = lc->tp;
		l->addr = lc->addr;
		snprintf(l->profile_name, sizeof(l->profile_name), "%s", lc->profile);
		r = sig_socket_listen(lc->tp, &lc->addr, &l->fd);
		if (r < 0) {
			snprintf(err, errlen, "listen %s %s: %s", sig_tp_name(lc->tp),
				 sbc_addr_format(&lc->addr, a, sizeof(a)), sbc_strerror(r));
			return r;
		}
		w->n_lst++;
		if (lc->tp == SIG_TP_UDP) {
			r = sig_udp_start(w, l);
		} else {
			r = uv_poll_init_socket(&w->loop, &l->h.poll, l->fd);
			if (r == 0) {
				l->h.poll.data = l;
				r = uv_poll_start(&l->h.poll, UV_READABLE, sig_stream_accept_cb);
			}
		}
		if (r < 0) {
			snprintf(err, errlen, "listener %s: %s", sig_tp_name(lc->tp), uv_strerror(r));
			return r;
		}
	}
	/* cross-worker rings: xin[j] = ring j -> idx, xout[j] = ring idx -> j */
	w->xin = calloc(n, sizeof(*w->xin));
	w->xout = calloc(n, sizeof(*w->xout));
	if (!w->xin || !w->xout)
		return -ENOMEM;
	if (n > 1) {
		uv_poll_init(&w->loop, &w->xpoll, w->xdoorbell);
		w->xpoll.data = w;
		uv_poll_start(&w->xpoll, UV_READABLE, xpoll_cb);
	}
	if (srv->seg) {
		if (shm_seg_consumer(srv->seg, &w->ctl_in, SHM_ROLE_CONTROL, 0, SHM_ROLE_SIGNAL, idx) == 0 &&
		    shm_seg_producer(srv->seg, &w->ctl_out, SHM_ROLE_SIGNAL, idx, SHM_ROLE_CONTROL, 0) == 0) {
			w->has_ctl = 1;
			w->ctl_doorbell = shm_seg_doorbell(srv->seg, SHM_ROLE_SIGNAL, idx);
			if (w->ctl_doorbell >= 0) {
				uv_poll_init(&w->loop, &w->ctl_poll, w->ctl_doorbell);
				w->ctl_poll.data = w;
				uv_poll_start(&w->ctl_poll, UV_READABLE, ctl_poll_cb);
			}
		} else {
			SBC_WARN("worker %u: no control rings in the segment", idx);
		}
	}
	return 0;
}

int sig_server_init(sig_server *srv, const sig_config *cfg, shm_seg *seg, char *err, size_t errlen)
{
	memset(srv, 0, sizeof(*srv));
	srv->cfg = *cfg;
	srv->seg = seg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = cfg->workers ? cfg->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	if (n > SIG_MAX_WORKERS)
		n = SIG_MAX_WORKERS;
	srv->n_workers = n;
	srv->w = calloc(n, sizeof(sig_worker));
	srv->stats = calloc(n, sizeof(sig_stats *));
	srv->tstats = calloc(n, sizeof(sig_trunk_stats *));
	srv->xrings = calloc((size_t)n * n, sizeof(shm_ring_hdr *));
	if (!srv->w || !srv->stats || !srv->tstats || !srv->xrings)
		return -ENOMEM;
	sig_conn_init_hooks();
	for (unsigned i = 0; i < n; i++) {
		srv->stats[i] = aligned_alloc(64, (sizeof(sig_stats) + 63) & ~(size_t)63);
		if (!srv->stats[i])
			return -ENOMEM;
		memset(srv->stats[i], 0, sizeof(sig_stats));
		srv->tstats[i] = calloc(1, sizeof(sig_trunk_stats));
		if (!srv->tstats[i])
			return -ENOMEM;
		srv->w[i].xdoorbell = -1;
		if (n > 1) {
			srv->w[i].xdoorbell = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			if (srv->w[i].xdoorbell < 0)
				return -errno;
		}
	}
	for (unsigned from = 0; from < n && n > 1; from++)
		for (unsigned to = 0; to < n; to++) {
			if (from == to)
				continue;
			shm_ring_hdr *r = calloc(1, shm_ring_footprint(SIG_XRING_BYTES) + SHM_CACHELINE);
			if (!r)
				return -ENOMEM;
			shm_ring_format(r, SIG_XRING_BYTES, srv->w[to].xdoorbell);
			srv->xrings[from * n + to] = r;
		}
	for (unsigned i = 0; i < n; i++) {
		int r = worker_init(srv, &srv->w[i], i, err, errlen);
		if (r < 0) {
			if (!err[0])
				snprintf(err, errlen, "worker %u: %s", i, sbc_strerror(r));
			return r;
		}
		for (unsigned j = 0; j < n && n > 1; j++) {
			if (j == i)
				continue;
			shm_ring_cons_init(&srv->w[i].xin[j], srv->xrings[j * n + i]);
			shm_ring_prod_init(&srv->w[i].xout[j], srv->xrings[i * n + j]);
		}
	}
	g_srv = srv;
	return 0;
}

int sig_server_start(sig_server *srv)
{
	/* before the workers' arena_pregrow: their grown tops stay theirs */
	mallopt(M_TRIM_THRESHOLD, SIG_TRIM_THRESHOLD);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		int r = pthread_create(&srv->w[i].thread, NULL, worker_main, &srv->w[i]);
		if (r != 0)
			return -r;
	}
	return 0;
}

void sig_server_stop(sig_server *srv)
{
	for (unsigned i = 0; i < srv->n_workers; i++)
		uv_async_send(&srv->w[i].stop);
	for (unsigned i = 0; i < srv->n_workers; i++)
		pthread_join(srv->w[i].thread, NULL);
}

void sig_server_destroy(sig_server *srv)
{
	unsigned n = srv->n_workers;
	for (unsigned i = 0; i < n && srv->w; i++) {
		sig_worker *w = &srv->w[i];
		uv_loop_close(&w->loop);
		for (unsigned k = 0; k < w->n_lst; k++)
			if (w->lst[k].tp != SIG_TP_UDP)
				close(w->lst[k].fd);
		free(w->slots);
		free(w->gens);
		free(w->free_slots);
		free(w->out_hash);
		free(w->scratch);
		free(w->ev_held);
		free(w->udp_buf);
		free(w->xin);
		free(w->xout);
		sig_rl_destroy(w->rl);
		if (w->reserve_fd >= 0)
			close(w->reserve_fd);
		if (w->xdoorbell >= 0)
			close(w->xdoorbell);
	}
	for (size_t i = 0; srv->xrings && i < (size_t)n * n; i++)
		free(srv->xrings[i]);
	for (unsigned i = 0; srv->stats && i < n; i++)
		free(srv->stats[i]);
	for (unsigned i = 0; srv->tstats && i < n; i++)
		free(srv->tstats[i]);
	free(srv->tstats);
	free(srv->xrings);
	free(srv->stats);
	free(srv->w);
	if (g_srv == srv)
		g_srv = NULL;
}

int sig_worker_stats_json(sig_server *srv, char *buf, size_t cap)
{
	return sig_stats_json2(srv->stats, srv->tstats, srv->n_workers, buf, cap);
}
