/* sbc-signal — the B2BUA engine (see b2b_engine.h and b2b_call.h). */
#include "b2b_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b2b_call.h"
#include "b2b_engine-int.h"
#include "b2b_health.h"
#include "b2b_limits.h"
#include "b2b_media.h"
#include "b2b_route.h"
#include "b2b_sdp.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "sip_build.h"
#include "sip_msg.h"
#include "sig_batch.h"
#include "sig_dns.h"
#include "sig_sip.h"
#include "sig_worker.h"
#include "txn_layer.h"

/* ---- per-trunk limits, shared by the workers ----------------------------- */

static pthread_mutex_t g_lim_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const char *name; /* interned */
	b2b_limit l;
} g_lim[B2B_LIMITS_MAX];

b2b_limit *b2b_limit_for(const char *trunk)
{
	b2b_limit *r = NULL;
	pthread_mutex_lock(&g_lim_mu);
	for (unsigned i = 0; i < B2B_LIMITS_MAX; i++) {
		if (g_lim[i].name == trunk) {
			r = &g_lim[i].l;
			break;
		}
		if (!g_lim[i].name) {
			g_lim[i].name = trunk;
			b2b_limit_init(&g_lim[i].l);
			r = &g_lim[i].l;
			break;
		}
	}
	pthread_mutex_unlock(&g_lim_mu);
	return r;
}

/* ---- connections trunks opened to us (reuse_inbound), shared by the workers ---
 * A carrier behind NAT or a firewall that refuses connections from us
 * connects in (usually TLS) and expects its calls back on that connection
 * (RFC 5923, RFC 3261 18.2.2 style). Per trunk we remember the inbound
 * TCP/TLS connection it last sent a message on; its worker may be any
 * (sig_send_conn crosses the ring). An entry is dropped when its
 * connection closes (the closed hook, on the connection's worker), and
 * should that race a send, when a send on it fails here or an INVITE sent
 * on it gets no response at all (signal.timers.no_response_ms). */
#define B2B_INBOUND_MAX 256
static pthread_mutex_t g_inb_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_inb_forgets; /* bumped by inbound_forget (under g_inb_mu) */
static struct {
	char trunk[STORE_NAME_MAX + 1]; /* "" ends the used part (entries stay) */
	sig_conn_id conn;               /* 0: none known to be live */
	uint8_t tp;
	sbc_addr peer, local;           /* local: the listener it came in on */
} g_inb[B2B_INBOUND_MAX];

/* rx came on a connection a trunk opened: remember it for that trunk. The
 * per-worker cache keeps the lock off the path of every message. */
static void inbound_note(b2b_wk *k, const sig_rx *rx)
{
	if (rx->tp == SIG_TP_UDP || !rx->conn || !rx->local || !rx->trunk || rx->hops)
		return;
	unsigned gen = __atomic_load_n(&g_inb_forgets, __ATOMIC_RELAXED);
	if (rx->conn == k->inb_last && gen == k->inb_gen)
		return;
	k->inb_last = rx->conn;
	k->inb_gen = gen;
	pthread_mutex_lock(&g_inb_mu);
	for (unsigned i = 0; i < B2B_INBOUND_MAX; i++) {
		if (g_inb[i].trunk[0] && strcmp(g_inb[i].trunk, rx->trunk) != 0)
			continue;
		if (!g_inb[i].trunk[0])
			copy_s(g_inb[i].trunk, sizeof(g_inb[i].trunk), rx->trunk);
		g_inb[i].conn = rx->conn;
		g_inb[i].tp = (uint8_t)rx->tp;
		g_inb[i].peer = *rx->src;
		g_inb[i].local = *rx->local;
		break;
	}
	pthread_mutex_unlock(&g_inb_mu);
}

/* The live inbound connection of trunk over tp (-1: TCP or TLS). */
int inbound_get(const char *trunk, int tp, inb_conn *out)
{
	int found = 0;
	pthread_mutex_lock(&g_inb_mu);
	for (unsigned i = 0; i < B2B_INBOUND_MAX && g_inb[i].trunk[0]; i++) {
		if (strcmp(g_inb[i].trunk, trunk) != 0)
			continue;
		if (g_inb[i].conn && (tp < 0 || g_inb[i].tp == tp)) {
			*out = (inb_conn){.conn = g_inb[i].conn, .tp = g_inb[i].tp, .peer = g_inb[i].peer,
					  .local = g_inb[i].local};
			found = 1;
		}
		break;
	}
	pthread_mutex_unlock(&g_inb_mu);
	return found;
}

/* conn no longer carries trunk's requests (gone, or silent). */
void inbound_forget(const char *trunk, sig_conn_id conn)
{
	pthread_mutex_lock(&g_inb_mu);
	for (unsigned i = 0; i < B2B_INBOUND_MAX && g_inb[i].trunk[0]; i++) {
		if (strcmp(g_inb[i].trunk, trunk) == 0) {
			if (g_inb[i].conn == conn) {
				g_inb[i].conn = 0;
				__atomic_add_fetch(&g_inb_forgets, 1, __ATOMIC_RELAXED);
				SBC_INFO("trunk %s: its connection %" PRIx64 " is no longer used for requests", trunk,
					 conn);
			}
			break;
		}
	}
	pthread_mutex_unlock(&g_inb_mu);
}

/* A connection a peer opened closed (on its worker's thread): no trunk's
 * requests go there any more. What went out on it still without a
 * response is lost (the trunk would have to connect again to answer): the
 * transport reports that only for connections we opened, or with output
 * still queued, so a connection that carried requests of ours (any of a
 * trunk's, not only the newest this table holds: calls sent on an older
 * one are still waiting there) is reported here, to this worker and to
 * every other (any may have sent a B-leg request on it across the ring,
 * SIG_XMSG_SEND): their transactions on it fail over now instead of after
 * no_response_ms. A connection that never carried one costs no worker a
 * pass over its transactions, so a reconnect storm is not amplified. */
static void inbound_closed(sig_worker *w, sig_conn_id conn, enum sig_tp tp, int carried_requests)
{
	pthread_mutex_lock(&g_inb_mu);
	for (unsigned i = 0; i < B2B_INBOUND_MAX && g_inb[i].trunk[0]; i++) {
		if (g_inb[i].conn == conn) {
			g_inb[i].conn = 0;
			__atomic_add_fetch(&g_inb_forgets, 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&g_inb_mu);
	if (!carried_requests || w->stopping)
		return;
	/* No address, as SIG_XMSG_LOST's receiver reports it: the id names
	 * the loss. With the trunk's address, ctx_lost_match would also take
	 * the requests sent by address (x->conn 0) on our OWN connection to
	 * that ip:port, healthy, when the carrier connects from its listening
	 * port: they would fail over and count as transport errors. */
	sbc_addr none;
	memset(&none, 0, sizeof(none));
	sig_batch_lost(w, tp, &none, conn, SBC_E_CLOSED);
	for (unsigned j = 0; j < w->srv->n_workers; j++)
		if (j != sig_worker_index(w))
			sig_forward_lost(w, j, tp, conn, SBC_E_CLOSED);
}

/* The transport a reuse_inbound trunk's connection must have: its first
 * destination's when that is TCP or TLS, else either. */
int inbound_tp(const store_dest *d)
{
	return d->transport == STORE_TP_TLS ? SIG_TP_TLS : d->transport == STORE_TP_TCP ? SIG_TP_TCP : -1;
}

/* Our address as it goes into Via, Contact, From and R-URI: formatted for
 * every message a call builds (seven or so), so IPv4, the common case, is
 * written here digit by digit rather than through inet_ntop. */
void x__b2b_host_of(const sbc_addr *a, char *out, size_t cap)
{
	char ip[SBC_ADDR_STRLEN];
	if (a->sa.sa_family == AF_INET && cap >= 16) {
		const uint8_t *b = (const uint8_t *)&a->in4.sin_addr;
		size_t n = 0;
		for (int i = 0; i < 4; i++) {
			unsigned v = b[i];
			if (i)
				out[n++] = '.';
			if (v >= 100)
				out[n++] = (char)('0' + v / 100);
			if (v >= 10)
				out[n++] = (char)('0' + v / 10 % 10);
			out[n++] = (char)('0' + v % 10);
		}
		out[n] = '\0';
		return;
	}
	sbc_addr_format_ip(a, ip, sizeof(ip));
	if (strchr(ip, ':'))
		put_s(out, cap, put_s(out, cap, put_s(out, cap, 0, "["), ip), "]"); /* "[%s]" */
	else
		copy_s(out, cap, ip);
}
/* ---- call ids ------------------------------------------------------------- */

/* A call's id names its media sessions, (worker << 56) | (id << 4) | stream
 * (make_offer; media_reply takes it back), and its call records
 * ("<worker>-<id in hex>": call.get, call.hangup). A killed sbc-signal's
 * sessions stay in sbc-media until their RTP timeout, and sbc-media answers
 * a CREATE for a session it holds with that session (msg-t.h rule 1): a
 * restarted process that numbered its calls from 1 again put its first
 * calls on the old calls' relays (two calls' media crossed). So a worker's
 * sequence (ids, and the tokens' counter: token()) starts where no earlier
 * process of this boot can have got to: CLOCK_BOOTTIME in 256 ns units.
 * That clock never goes back within a boot (the wall clock may be set
 * back), and whatever holds our ids lives no longer than one (the shared
 * segment with sbc-media's session table is in /dev/shm; call records
 * name the worker and id, the CDR file has the times). To catch up with
 * the next process's start, one would have to take over 3.9 million
 * numbers a second, every second since it started (a call takes a handful:
 * id, tags, Call-ID, branches). 52 bits of 256 ns wrap after 36 years of
 * uptime; a random start would only make a repeat unlikely. */
uint64_t x__b2b_seq_start(uint64_t boot_ns)
{
	return (boot_ns >> B2B_SEQ_SHIFT) & B2B_ID_MASK;
}

uint64_t x__b2b_next_call_id(uint64_t *seq)
{
	uint64_t id;
	do
		id = ++*seq & B2B_ID_MASK;
	while (!id); /* 0 means none (session id 0 is "not created": c->created) */
	return id;
}

static uint64_t boot_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
		clock_gettime(CLOCK_MONOTONIC, &ts); /* also since boot on Linux */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- media ----------------------------------------------------------------- */

/* Writes the message into ring j; it is published (and the doorbell rung
 * if sbc-media sleeps) once per loop iteration by wk_flush: a call pushes
 * about three messages, and each publish that finds the consumer asleep
 * costs an eventfd write (a system call and a wake-up of sbc-media). The
 * records wait at most for the rest of this iteration's input.
 * A MEDIA_DELETE is lazy: nothing waits for it, so it rides along with the
 * next create or update on that ring (most calls' BYE iteration would
 * otherwise ring the doorbell for it alone: about a third of the eventfd
 * writes at 1000 calls/s), or lazy_h publishes it within B2B_LAZY_MS. */
static void lazy_cb(uv_timer_t *h)
{
	b2b_wk *k = h->data;
	while (k->to_publish_lazy) {
		unsigned j = (unsigned)__builtin_ctz(k->to_publish_lazy);
		k->to_publish_lazy &= k->to_publish_lazy - 1;
		shm_ring_publish(&k->to_media[j]);
	}
}

/* Our HELLO on to_media[j]: it names this process, and sbc-media deletes
 * the sessions our predecessor on this ring left when it reads it, so it
 * goes before any other record; one that did not fit (ring full) is tried
 * again before the next record and on every loop iteration (wk_flush). */
int media_hello(b2b_wk *k, unsigned j)
{
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, k->w->idx);
	int ret = shm_ring_push(&k->to_media[j], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h));
	if (ret && !(k->hello_due & 1u << j))
		SBC_WARN("worker %u: HELLO to media worker %u not sent (%s): tried again before anything else "
			 "goes there", k->w->idx, j, sbc_strerror(ret));
	else if (!ret && (k->hello_due & 1u << j))
		SBC_NOTICE("worker %u: HELLO to media worker %u sent after all", k->w->idx, j);
	k->hello_due = ret ? k->hello_due | 1u << j : k->hello_due & ~(1u << j);
	return ret;
}

int media_push(b2b_wk *k, unsigned j, unsigned type, const void *m, uint32_t len)
{
	if (j >= k->n_media)
		return SBC_E_STATE;
	if ((k->hello_due & 1u << j) && media_hello(k, j))
		return SBC_E_RING_FULL;
	shm_ring_prod *p = &k->to_media[j];
	if (len > shm_ring_max_payload(p->ring))
		return SBC_E_MSG_TOO_BIG;
	void *dst = shm_ring_reserve(p, (uint16_t)type, sbc_msg_version(type), len);
	if (!dst)
		return SBC_E_RING_FULL;
	memcpy(dst, m, len);
	if (type == SBC_MSG_MEDIA_DELETE && k->lazy_h && !k->stopping) {
		k->to_publish_lazy |= 1u << j;
		if (!uv_is_active((uv_handle_t *)k->lazy_h))
			uv_timer_start(k->lazy_h, lazy_cb, B2B_LAZY_MS, 0);
	} else {
		k->to_publish |= 1u << j;
	}
	return 0;
}

void media_delete_all(b2b_cl *c)
{
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++) {
		if (!c->created[i])
			continue;
		sbc_msg_media_delete d = {.session_id = c->created[i], .request_id = 0};
		if (media_push(c->wk, c->media_w, SBC_MSG_MEDIA_DELETE, &d, sizeof(d)) < 0)
			SBC_WARN("call %" PRIx64 ": MEDIA_DELETE not sent (ring full)", c->id);
		c->created[i] = 0;
	}
}

/* Deletes the media session of every stream the answer just applied
 * declines (port 0): made with the offer, it would hold four relay ports
 * idle until the call ends (an audio-only answer to audio + video took
 * twice the ports of the call). A re-offer that takes the line up again
 * makes a new one (media_create_new_streams). Only once the answer is
 * final: after an early one a 2xx, or another route's answer to the same
 * offer, may take the stream. */
void media_drop_declined(b2b_cl *c)
{
	if (c->ri)
		return; /* an offer in flight (an early UPDATE's, as B's 2xx comes) may use a line: next time */
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++) {
		/* not in the session as answered: declined now, or made for a
		 * re-offer that was refused (one whose reply is still due is
		 * left: its id would come back with a stale reply) */
		if (!c->created[i] || (c->sdp.agreed & (1u << i)) || ((c->new_pending | c->new_lost) & (1u << i)))
			continue;
		sbc_msg_media_delete d = {.session_id = c->created[i], .request_id = 0};
		if (media_push(c->wk, c->media_w, SBC_MSG_MEDIA_DELETE, &d, sizeof(d)) < 0)
			continue; /* ring full: it goes with the call */
		c->created[i] = 0;
		memset(&c->relay[0][i], 0, sizeof(c->relay[0][i]));
		memset(&c->relay[1][i], 0, sizeof(c->relay[1][i]));
	}
}

/* ---- calls ------------------------------------------------------------------ */

static sip_sv call_cid(const b2b_cl *c, int leg)
{
	return leg == 0 ? c->a.call_id : sip_sv_from(c->b_callid, strlen(c->b_callid));
}

void cid_link(b2b_cl *c, int leg)
{
	b2b_wk *k = c->wk;
	cid_node *n = &c->cn[leg];
	uint32_t h = hash_sv(call_cid(c, leg));
	n->c = c;
	n->leg = leg;
	n->next = k->by_cid[h];
	n->linked = 1;
	k->by_cid[h] = n;
}

void cid_unlink(b2b_cl *c, int leg)
{
	b2b_wk *k = c->wk;
	cid_node *n = &c->cn[leg];
	if (!n->linked)
		return;
	cid_node **pp = &k->by_cid[hash_sv(call_cid(c, leg))];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp)
		*pp = n->next;
	n->linked = 0;
	n->next = NULL;
}

b2b_cl *b2b_find_by_cid(b2b_wk *k, sip_sv cid, int *leg)
{
	for (cid_node *n = k->by_cid[hash_sv(cid)]; n; n = n->next)
		if (sip_sv_eq_sv(call_cid(n->c, n->leg), cid)) {
			*leg = n->leg;
			return n->c;
		}
	return NULL;
}

b2b_cl *b2b_find_by_id(b2b_wk *k, uint64_t id)
{
	for (b2b_cl *x = k->by_id[id & (B2B_BUCKETS - 1)]; x; x = x->id_next)
		if (x->id == id)
			return x;
	return NULL;
}

#define B2B_FREE_CALLS 128

/* Frees a relayed re-INVITE (or a delayed offer's 2xx); its copies may
 * carry a=crypto keys. */
static void reinv_free(b2b_reinv *ri)
{
	if (!ri)
		return;
	if (ri->raw) {
		OPENSSL_cleanse(ri->raw, ri->m.len);
		free(ri->raw);
	}
	if (ri->ob) {
		OPENSSL_cleanse(ri->ob, ri->ob_len);
		free(ri->ob);
	}
	free(ri);
}

/* Frees the re-INVITE being relayed. */
void reinv_done(b2b_cl *c)
{
	reinv_free(c->ri);
	c->ri = NULL;
}

/* Frees the delayed offer's 2xx (c->dly). */
void dly_done(b2b_cl *c)
{
	reinv_free(c->dly);
	c->dly = NULL;
}

static void call_free(b2b_cl *c)
{
	b2b_wk *k = c->wk;
	b2b_sdp_wipe(&c->sdp);
	/* keys reach a message only with its session id set (b2b_sdp_offer,
	 * b_answer); b2b_sdp_answer wipes a declined one as it zeroes the id */
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++)
		if (c->msgs[i].session_id) {
			b2b_media_wipe(&c->msgs[i]);
			c->msgs[i].session_id = 0; /* the object's next call: none to wipe */
		}
	/* A's INVITE and our answer toward A carry a=crypto keys as text: the
	 * object is recycled and a shorter INVITE would leave a key's tail */
	if (c->a_raw)
		OPENSSL_cleanse(c->a_raw, c->a_len);
	if (c->a_answer_len > 0)
		OPENSSL_cleanse(c->a_answer, (size_t)c->a_answer_len);
	k->n_objs--;
	if (c->a_raw != c->a_raw_buf)
		free(c->a_raw);
	/* an ACK with a body (the answer to a delayed offer) has keys, also
	 * one that fit the inline buffer (the object is recycled) */
	if (c->b_ack && c->b_ack_body)
		OPENSSL_cleanse(c->b_ack, c->b_ack_len);
	if (c->b_ack != c->b_ack_buf)
		free(c->b_ack);
	c->b_ack_body = 0;
	free(c->held_rsn);
	c->held_rsn = NULL;
	reinv_done(c);
	dly_done(c);
	if (k && k->n_free < B2B_FREE_CALLS) {
		/* recycled: a fresh 40 KiB object per call costs page faults and
		 * heap growth/trimming in the worker's arena */
		c->id_next = k->free_calls;
		k->free_calls = c;
		k->n_free++;
		return;
	}
	free(c);
}

static b2b_cl *call_alloc(b2b_wk *k)
{
	b2b_cl *c = k->free_calls;
	if (!c) {
		c = calloc(1, sizeof(*c));
		k->n_objs += c != NULL;
		return c;
	}
	k->n_objs++;
	k->free_calls = c->id_next;
	k->n_free--;
	/* zeroed but for its largest buffers, each written before it is read
	 * (one memset of the whole object was ~4 % of the worker's cycles):
	 * a (new_call copies the parsed INVITE in), a_sdp (sdp_parse zeroes
	 * it; read only once it parsed), da (b2b_dialog_uas_init clears it
	 * first thing in new_call), a_answer (read up to a_answer_len only),
	 * db's route_buf (read only through route_off[] below n_route; the
	 * rest of db is read before b2b_dialog_uac_init, by an UPDATE from A
	 * while the media replies are awaited: zeroed), routes (read below
	 * n_routes only), fo (b2b_failover_init zeroes it in new_call), the
	 * SDP streams, zero already (the call_free before wiped them:
	 * b2b_sdp_wipe zeroes) and msgs (b2b_sdp_offer zeroes all of them
	 * before any is read; a call that ends before its offer finds every
	 * id zeroed by the call_free before), a_raw_buf and b_ack_buf (read up to a_len / b_ack_len),
	 * se (written whole by session_timer_arm before se_armed is set).
	 * 47 of 51 KB. */
	_Static_assert(offsetof(b2b_cl, a) < offsetof(b2b_cl, a_sdp) &&
			       offsetof(b2b_cl, a_sdp) < offsetof(b2b_cl, da) &&
			       offsetof(b2b_cl, da) < offsetof(b2b_cl, routes) &&
			       offsetof(b2b_cl, routes) < offsetof(b2b_cl, fo) &&
			       offsetof(b2b_cl, fo) < offsetof(b2b_cl, db) &&
			       offsetof(b2b_cl, db) < offsetof(b2b_cl, sdp) &&
			       offsetof(b2b_cl, sdp.s) + sizeof(((b2b_cl *)0)->sdp.s) <= offsetof(b2b_cl, msgs) &&
			       offsetof(b2b_cl, msgs) < offsetof(b2b_cl, a_answer) &&
			       offsetof(b2b_cl, a_answer) < offsetof(b2b_cl, a_raw_buf) &&
			       offsetof(b2b_cl, a_raw_buf) < offsetof(b2b_cl, b_ack_buf) &&
			       offsetof(b2b_cl, b_ack_buf) < offsetof(b2b_cl, se),
		       "call_alloc: skipped buffers in layout order");
	const size_t skip[][2] = {
		{offsetof(b2b_cl, a), sizeof(c->a)},
		{offsetof(b2b_cl, a_sdp), sizeof(c->a_sdp)},
		{offsetof(b2b_cl, da), sizeof(c->da)},
		{offsetof(b2b_cl, routes), sizeof(c->routes)},
		{offsetof(b2b_cl, fo), sizeof(c->fo)},
		{offsetof(b2b_cl, db.route_buf), sizeof(c->db.route_buf)},
		{offsetof(b2b_cl, sdp.s), sizeof(c->sdp.s)},
		{offsetof(b2b_cl, msgs), sizeof(c->msgs)},
		{offsetof(b2b_cl, a_answer), sizeof(c->a_answer)},
		{offsetof(b2b_cl, a_raw_buf), sizeof(c->a_raw_buf)},
		{offsetof(b2b_cl, b_ack_buf), sizeof(c->b_ack_buf)},
		{offsetof(b2b_cl, se), sizeof(c->se)},
	};
	char *p = (char *)c;
	size_t at = 0;
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		memset(p + at, 0, skip[i][0] - at);
		at = skip[i][0] + skip[i][1];
	}
	memset(p + at, 0, sizeof(*c) - at);
	return c;
}

void call_unref(b2b_cl *c)
{
	if (--c->refs == 0)
		call_free(c);
}

/* ---- requests ---------------------------------------------------------------- */

/* Answers req through a new server transaction (or without one when the
 * table refused it). */
void answer_plain(b2b_wk *k, const sig_rx *rx, txn *t, const sip_msg *req, int status, const char *extra)
{
	char tag[48];
	token(k, "s", tag, sizeof(tag));
	sip_sv ex = extra ? sip_sv_from(extra, strlen(extra)) : SIP_SV_NULL;
	sip_resp_opts o = {.to_tag = sip_sv_from(tag, strlen(tag)), .extra = extra ? &ex : NULL,
			   .n_extra = extra ? 1 : 0};
	int n = sip_build_response(req, status, NULL, &o, k->out, sizeof(k->out));
	if (n <= 0)
		return;
	if (t)
		txn_respond(k->tbl, t, status, k->out, (size_t)n);
	else
		sig_reply(rx, k->out, (size_t)n);
}

static tx_ctx *take_spare(b2b_wk *k, const sig_rx *rx)
{
	tx_ctx *x = k->spare;
	if (!x)
		x = k->spare = ctx_new(k);
	if (!x)
		return NULL;
	x->tp = (uint8_t)rx->tp;
	x->conn = rx->conn;
	x->dst = *rx->src;
	x->profile[0] = 0;
	return x;
}

/* Hands req to the transaction layer. Returns the enum txn_rx (with *t
 * and *x for a new transaction) or <0. */
int b2b_server_txn(b2b_wk *k, const sig_rx *rx, const sip_msg *req, txn **t, tx_ctx **x)
{
	tx_ctx *c = take_spare(k, rx);
	if (!c)
		return -ENOMEM;
	*t = NULL;
	int r = txn_recv_request(k->tbl, req, rx->tp != SIG_TP_UDP, c, t);
	if (r == TXN_RX_NEW) {
		k->spare = NULL;
		c->t = *t;
		*x = c;
	}
	return r;
}

/* MEDIA_CREATE for each session of c->msgs (a new stream's: only those
 * with no session yet), its reply awaited (c->pending, and the stream's
 * bit in c->new_pending for a new stream: its request_id has
 * B2B_REQ_NEW_STREAM). Returns how many, or < 0 when the ring is full. */
static int push_creates(b2b_cl *c, int new_streams)
{
	b2b_wk *k = c->wk;
	uint64_t flag = new_streams ? B2B_REQ_NEW_STREAM : 0;
	int n = 0;
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++) {
		if (!c->msgs[i].session_id || (new_streams && c->created[i]))
			continue;
		c->msgs[i].request_id = c->msgs[i].session_id | flag;
		int r = media_push(k, c->media_w, SBC_MSG_MEDIA_CREATE, &c->msgs[i], sizeof(c->msgs[i]));
		if (r < 0)
			return r;
		c->created[i] = c->msgs[i].session_id;
		c->pending++;
		k->n_wait++;
		if (new_streams)
			c->new_pending |= (uint8_t)(1u << i);
		n++;
	}
	return n;
}

/* MEDIA_CREATE for every session of the offer just taken (c->msgs, from
 * b2b_sdp_offer: A's INVITE, or B's 2xx for a delayed offer); the replies
 * (media_reply) bring the relay's addresses and complete the call's next
 * step (media_ready). Returns 0 or < 0 (ring full: the caller fails the
 * call with 503). */
int media_create(b2b_cl *c)
{
	int r = push_creates(c, 0);
	return r < 0 ? r : 0;
}

/* MEDIA_CREATE for every stream of the re-offer just taken (c->msgs) that
 * has no media session yet: an m= line the offer appends, or a port-0 one
 * it takes up again (RFC 3264 8.1). Returns how many replies are awaited
 * (the relayed offer waits for them: reinv_streams_ready), or < 0 (ring
 * full). */
int media_create_new_streams(b2b_cl *c)
{
	int n = push_creates(c, 1);
	if (n > 0)
		b2b_ring_hook(c->wk->w, NULL); /* arms the media doorbell for the replies */
	return n;
}

/* The call waits for its MEDIA_CREATE replies (CS_MEDIA) until
 * B2B_MEDIA_WAIT_MS from now: A's INVITE ctx's Trying slot is armed for it
 * (the 100, due sooner, comes first and re-arms it: media_wait_check). */
void media_wait_arm(b2b_cl *c)
{
	tx_ctx *a = c->a_txn ? txn_user(c->a_txn) : NULL;
	c->media_due_ms = now_ms(c->wk) + B2B_MEDIA_WAIT_MS;
	if (a && (!a->due[T_TRYING] || a->due[T_TRYING] > c->media_due_ms)) {
		a->due[T_TRYING] = c->media_due_ms;
		ctx_reschedule(a);
	}
}

/* A's INVITE ctx's Trying slot fired (timer_cb): a call still waiting for
 * sbc-media past its time gets 503 (Retry-After: 5); before, the slot is
 * armed again for that time. */
void media_wait_check(b2b_cl *c, tx_ctx *a, uint64_t now)
{
	if (c->state != CS_MEDIA || !c->media_due_ms)
		return;
	if (now < c->media_due_ms) {
		a->due[T_TRYING] = c->media_due_ms;
		return;
	}
	b2b_ring_hook(c->wk->w, NULL); /* replies in the ring already (this worker was the slow one)? */
	if (c->state != CS_MEDIA)
		return;
	SBC_WARN("call %" PRIx64 ": no reply from sbc-media within %u ms (stopped or hung?): 503", c->id,
		 B2B_MEDIA_WAIT_MS);
	fail_a(c, 503, "Retry-After: 5");
}

/* Whether m's Require header fields name the 100rel option tag (RFC 3262). */
static int requires_100rel(const sip_msg *m)
{
	const sip_hdr *h;
	for (unsigned i = 0; (h = sip_hdr_get(m, SIP_H_REQUIRE, i)) != NULL; i++) {
		sip_sv rest = h->value, one;
		while (sip_next_value(&rest, &one) == 1)
			if (sip_sv_ieq(one, "100rel"))
				return 1;
	}
	return 0;
}

static void new_call(b2b_wk *k, const sig_rx *rx, const sip_msg *req, txn *t, tx_ctx *x)
{
	char extra[64];
	int ra = -1, r;
	const store_trunk *tin = sig_trunk_get(k->w->trunks, rx->trunk);
	if (!tin || !tin->enabled) {
		answer_plain(k, rx, t, req, 403, NULL);
		return;
	}
	if (k->n_media == 0) {
		answer_plain(k, rx, t, req, 503, "Retry-After: 5");
		return;
	}
	b2b_limit *lim = b2b_limit_for(rx->trunk);
	if (lim && b2b_limit_admit(lim, tin->max_calls, tin->max_cps, now_ms(k), 5, &ra) < 0) {
		snprintf(extra, sizeof(extra), "Retry-After: %d", ra > 0 ? ra : 1);
		answer_plain(k, rx, t, req, 503, extra);
		return;
	}
	b2b_cl *c = call_alloc(k);
	char *raw = !c ? NULL : req->len <= sizeof(c->a_raw_buf) ? c->a_raw_buf : malloc(req->len);
	if (!c || !raw) {
		if (c) {
			c->wk = k;
			call_free(c); /* back to the free list, counted */
		}
		if (lim)
			b2b_limit_release(lim);
		answer_plain(k, rx, t, req, 503, "Retry-After: 1");
		return;
	}
	memcpy(raw, req->buf, req->len);
	c->wk = k;
	c->refs = 1;
	c->id = x__b2b_next_call_id(&k->seq); /* never one of an earlier process's: x__b2b_seq_start */
	c->lim = lim;
	c->a_raw = raw;
	c->a_len = req->len;
	c->cur = -1;
	c->state = CS_MEDIA;
	c->a_tp = (uint8_t)rx->tp;
	c->a_conn = rx->conn;
	c->a_src = *rx->src;
	if (rx->local)
		c->a_local = *rx->local;
	else if (b2b_local_for(k, rx->tp, rx->src, &c->a_local) < 0) /* on a connection we opened */
		memset(&c->a_local, 0, sizeof(c->a_local));
	c->pol_in = tin->srtp_in;
	c->media_w = (unsigned)(c->id % k->n_media);
	b2b_failover_init(&c->fo, B2B_ROUTES_MAX);
	c->fo_reason = NULL;
	/* req was parsed from the receive buffer: moved onto the call's copy
	 * instead of parsed a second time */
	c->a = *req;
	sip_msg_rebase(&c->a, c->a_raw);
	token(k, "a", c->a_tag, sizeof(c->a_tag));
	ctx_bind(x, c, CTX_A_INVITE);
	c->a_txn = t;
	c->id_next = k->by_id[c->id & (B2B_BUCKETS - 1)];
	k->by_id[c->id & (B2B_BUCKETS - 1)] = c;
	cid_link(c, 0);
	c->trunk_in = rx->trunk;
	c->start_ms = b2b_wall_ms();
	k->st.active++;
	x->due[T_TRYING] = now_ms(k) + B2B_TRYING_MS; /* unless B answers first */
	ctx_reschedule(x);

	if (b2b_dialog_uas_init(&c->da, &c->a, c->a_tag, 1) < 0) {
		fail_a(c, 400, NULL);
		return;
	}
	r = b2b_called_number(&c->a, c->number);
	if (r >= 0)
		r = b2b_route_lookup(sig_trunks_reader(k->w->trunks), c->number, NULL, c->routes, B2B_ROUTES_MAX,
				     NULL, NULL);
	if (r < 0) {
		int st = sbc_err_sip_status(r);
		fail_a(c, st ? st : 500, NULL);
		return;
	}
	c->n_routes = r;
	/* no SDP: a delayed offer (RFC 3261 13.2.1), routed as any call; the
	 * offer comes in B's 2xx (b_offer), the media sessions with it */
	c->a_no_offer = !c->a.body.n;
	if (c->a_no_offer && requires_100rel(&c->a)) {
		/* RFC 3262 5: with 100rel required the callee puts its offer
		 * in its first reliable provisional, to be answered in a PRACK
		 * we relay rather than build: we take the offer in the 2xx
		 * only. 420 up front (RFC 3261 8.2.2.3) rather than a CANCEL
		 * on every route (b_offer's refusal) and 502 at the end */
		respond_a(c, 420, "Unsupported: 100rel");
		call_end(c, 420, "delayed offer requiring 100rel (its offer would come in a reliable provisional)");
		return;
	}
	r = c->a_no_offer ? 0 : sdp_parse(c->a.body.p, c->a.body.n, &c->a_sdp);
	if (r < 0) {
		int st = sbc_err_sip_status(r);
		fail_a(c, st ? st : 400, NULL);
		return;
	}
	if (next_route(c) < 0) {
		/* routes, but none usable now (trunks down, disabled, held
		 * after a 503 + Retry-After or at their call limits): 503 lets
		 * the caller's carrier try another; 404 would tell it the
		 * number does not exist */
		if (c->out_limited)
			snprintf(extra, sizeof(extra), "Retry-After: %d", c->out_limited);
		respond_a(c, 503, c->out_limited ? extra : NULL);
		call_end(c, 503, c->out_limited ? "no routed trunk usable: at its call limit or down" : NULL);
		return;
	}
	r = c->a_no_offer ? 0 : make_offer(c);
	if (r < 0) {
		int st = sbc_err_sip_status(r);
		fail_a(c, st ? st : 500, NULL);
		return;
	}
	if (media_create(c) < 0) {
		fail_a(c, 503, "Retry-After: 1");
		return;
	}
	SBC_INFO("call %" PRIx64 ": %s from trunk %s -> %s", c->id, c->number, rx->trunk, c->trunk_out);
	call_event(c, "start", 0, NULL);
	k->st.started++;
	if (!c->pending) {
		c->state = CS_CALLING;
		send_b_invite(c);
		return;
	}
	media_wait_arm(c);
	/* The B-leg INVITE waits for the replies (its SDP needs the relay's
	 * ports): usually one more wake-up of this worker per call, and the
	 * INVITE leaves in an iteration of its own. Measured with a build that
	 * sent it at once with made-up ports (TLS, SIPp, same runs): 0.2-0.7
	 * fewer context switches per call, about 5-10 us less CPU per call at
	 * 1000-2000 calls/s, 0-5 us at 4000/s. Ports leased ahead of need
	 * were built and taken out again (f65437a, reverted): 0.1-0.5 fewer
	 * context switches per call, CPU per call within the VM's swing, and
	 * a lease is safe only if it lives in the shared segment (a restarted
	 * sbc-media must not grant an old lease's ports again), is handed back
	 * on every refused CREATE, and its REPLY is read before B's answer is
	 * relayed to A. */
	b2b_ring_hook(k->w, NULL); /* arms the media doorbell for the replies (may complete c) */
}

/* Every media session of the offer exists (the relay's addresses known):
 * A's offer goes to B in our INVITE, or B's delayed offer to A in our 2xx. */
static void media_ready(b2b_cl *c)
{
	if (c->dly) {
		b_offer_to_a(c);
		return;
	}
	c->state = CS_CALLING;
	send_b_invite(c);
}

/* The relay's ports of line i, from sbc-media's reply to its CREATE. */
static void relay_from(b2b_cl *c, unsigned i, const sbc_msg_media_reply *m)
{
	c->relay[0][i] = m->local_rtp[0];
	c->relay[1][i] = m->local_rtp[1];
}

/* The reply to a MEDIA_CREATE for a stream a re-offer added: counted off
 * even when the re-offer is gone meanwhile (CANCELled, the call ended);
 * the last one lets the offer go on (reinv_streams_ready). A refused one
 * fails that re-offer only: the call keeps its streams. */
static void new_stream_reply(b2b_cl *c, const sbc_msg_media_reply *m)
{
	unsigned i = (unsigned)(m->session_id & 15);
	if (i < SDP_MAX_MEDIA && c->created[i] == m->session_id && (c->new_lost & (1u << i))) {
		/* given up (reinv_media_lost), come at last: the session is
		 * real, the line usable again (its id was not reused meanwhile:
		 * media_drop_declined and push_creates leave a lost line) */
		c->new_lost &= (uint8_t)~(1u << i);
		if (m->status < 0) {
			c->created[i] = 0;
		} else {
			relay_from(c, i, m);
		}
		return;
	}
	if (i >= SDP_MAX_MEDIA || c->created[i] != m->session_id || !(c->new_pending & (1u << i)) || !c->pending)
		return;
	c->new_pending &= (uint8_t)~(1u << i);
	c->wk->n_wait--;
	c->pending--;
	b2b_reinv *ri = c->ri;
	if (m->status < 0) {
		SBC_WARN("call %" PRIx64 ": media session for a stream a re-offer adds refused: %s", c->id,
			 sbc_strerror(m->status));
		c->created[i] = 0;
		if (ri && ri->creating && i < c->sdp.n_media && c->sdp.s[i].active)
			ri->create_failed = 1; /* a line of the waiting offer (not only a cancelled one's) */
	} else {
		relay_from(c, i, m);
	}
	if (!c->new_pending && ri && ri->creating)
		reinv_streams_ready(c);
}

static void media_reply(b2b_wk *k, const sbc_msg_media_reply *m)
{
	b2b_cl *c = b2b_find_by_id(k, (m->session_id >> 4) & B2B_ID_MASK);
	if (c && m->request_id == (m->session_id | B2B_REQ_NEW_STREAM)) {
		new_stream_reply(c, m);
		return;
	}
	if (!c || c->state != CS_MEDIA)
		return;
	unsigned i = (unsigned)(m->session_id & 15);
	if (i >= SDP_MAX_MEDIA || c->created[i] != m->session_id || m->request_id != m->session_id)
		return;
	if (m->status < 0) {
		SBC_WARN("call %" PRIx64 ": media session refused: %s", c->id, sbc_strerror(m->status));
		c->created[i] = 0;
		fail_a(c, 503, "Retry-After: 1");
		return;
	}
	relay_from(c, i, m);
	k->n_wait--;
	if (--c->pending == 0)
		media_ready(c);
}

/* The call ends on our own initiative while a request is being relayed
 * (a refresh that came too late for the session timer; any request at a
 * media timeout or an operator hangup). RFC 3261 15.1.2 has a UA whose
 * dialog ends answer the requests pending on it 487 (Request Terminated):
 * the sender's transaction ends now, before our BYE, not by its own
 * timeout (it got nothing before). The copy on the other leg is left to
 * our BYE there, which makes that UA answer it 487 too (15.1.2; our client
 * transaction ACKs it, its ctx no longer has the call); the other leg's
 * 2xx behind our 2xx with a delayed offer still gets its ACK, as in
 * b2b_on_timeout. */
static void reinv_abandon(b2b_cl *c)
{
	b2b_reinv *ri = c->ri;
	if (!ri)
		return;
	if (ri->await_ack)
		leg_request(c, 1 - ri->leg, SIP_M_ACK);
	else
		reinv_answer(c, NULL, 487, NULL, 0);
	SBC_DEBUG("call %" PRIx64 ": ends with a request from leg %d being relayed: answered %d", c->id, ri->leg,
		  ri->await_ack ? 200 : 487);
	reinv_done(c);
}

/* Ends a confirmed call on our own initiative (media timeout, session
 * timer, call.hangup): BYE on both legs, the call record with cause and
 * reason (a literal). Before A's ACK to our 2xx the BYE to A waits for it
 * (RFC 3261 15), and the call ends then. Once the callee hung up (its BYE
 * answered, ours to A held) there is nothing left to do. */
void bye_both_legs(b2b_cl *c, int cause, const char *reason, const char *rsn)
{
	reinv_abandon(c);
	if (c->bye_a_held)
		return;
	int hold = bye_a_must_wait(c);
	if (!hold)
		leg_bye(c, 0, rsn);
	leg_bye(c, 1, rsn);
	if (hold)
		bye_a_hold(c, &rsn, 1, cause, reason);
	else
		call_end(c, cause, reason);
}

/* Our tokens (branches, tags, Call-IDs) carry the creating worker's seed,
 * whose top byte is the worker index: a message that belongs to a call on
 * another worker is forwarded there. */
static _Atomic uint64_t g_seeds[SIG_MAX_WORKERS];

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int b2b_token_owner(sip_sv t, size_t prefix)
{
	if (t.n != prefix + 32 && t.n != prefix + 48) /* tags, Call-IDs; branches (new_branch()) */
		return -1;
	uint64_t seed = 0;
	for (size_t i = 0; i < 16; i++) {
		int v = hexval(t.p[prefix + i]);
		if (v < 0)
			return -1;
		seed = seed << 4 | (uint64_t)v;
	}
	unsigned w = (unsigned)(seed >> 56);
	return w < SIG_MAX_WORKERS && atomic_load_explicit(&g_seeds[w], memory_order_relaxed) == seed ? (int)w : -1;
}

static int owner_of(const sip_msg *m)
{
	if (!m->is_request)
		return m->n_via && m->via[0].branch.n > 7 ? b2b_token_owner(m->via[0].branch, 7) : -1;
	if (m->to.has_tag && m->to.tag.n > 1)
		return b2b_token_owner(m->to.tag, 1);
	return -1;
}

/* A request of a trunk outside any dialog (no To tag) other than INVITE,
 * ACK and CANCEL. One stateless response each, about the request's size
 * (a retransmission gets the same again, nothing more: no amplification),
 * with Allow where RFC 3261 8.2.1 wants it: 501 for a method we do not
 * know (case-sensitive, 7.1: `invite`, `ack`, `FOO`), 405 for one we know
 * and do not take (REGISTER, MESSAGE...), 481 for a mid-dialog method
 * naming no dialog (BYE, UPDATE, PRACK, INFO: 12.2.2, 15.1.2); OPTIONS is
 * sig_local_handle's 200 with Allow and Accept. Before, all but OPTIONS
 * got 501 without Allow. */
static void out_of_dialog(b2b_wk *k, const sig_rx *rx, const sip_msg *m)
{
	if (m->method == SIP_M_OPTIONS) {
		sig_local_handle(rx, NULL);
		return;
	}
	int ms = b2b_method_status((enum sip_method)m->method);
	answer_plain(k, rx, NULL, m, ms ? ms : 481, ms ? SIG_SIP_ALLOW : NULL);
}

static void b2b_rx(const sig_rx *rx, void *arg)
{
	(void)arg;
	b2b_wk *k = *sig_worker_user(rx->worker);
	if (!k || !sig_trunks_any(rx->worker->trunks)) {
		sig_local_handle(rx, NULL);
		return;
	}
	sip_msg *m = &k->msg;
	int pr = sip_parse(rx->msg, (size_t)rx->hdr_len + rx->body_len, m);
	if (pr < 0) {
		/* A trunk's malformed request gets the parser's status and reason
		 * (400 "Bad To", 505, 513...; silence for a response or an ACK).
		 * sig_local_handle's lenient view took most of the malformed-SIP
		 * corpus for well-formed requests: 501 Not Implemented to an
		 * INVITE over UDP (test_b2b_corpus). Unknown sources still get
		 * sig_local_handle's 403, or silence by the setting. */
		if (!rx->trunk) {
			sig_local_handle(rx, NULL);
			return;
		}
		int st = sbc_err_sip_status(pr) ? sbc_err_sip_status(pr) : 400;
		char out[4096];
		int n = sig_local_error_reply(rx->msg, rx->hdr_len, st, m->err_reason ? m->err_reason : sip_reason_phrase(st),
					      out, sizeof(out));
		if (n > 0)
			sig_reply(rx, out, (size_t)n);
		return;
	}
	inbound_note(k, rx);
	if (sig_worker_count() > 1) {
		/* UDP: SO_REUSEPORT spreads datagrams by source; TCP/TLS: a peer's
		 * second connection (or the other carrier's) may sit on another
		 * worker. Either way the call lives on one worker only. */
		int owner = owner_of(m);
		if (owner >= 0 && (unsigned)owner != rx->worker_idx && (unsigned)owner < sig_worker_count()) {
			int r = sig_forward_rx(rx, (unsigned)owner);
			if (r < 0) {
				SBC_WARN("worker %u: message for worker %d dropped: %s", rx->worker_idx, owner,
					 sbc_strerror(r));
				/* over TCP/TLS nothing is retransmitted: say so rather
				 * than leave the peer waiting for its Timer F */
				if (m->is_request && m->method != SIP_M_ACK && rx->tp != SIG_TP_UDP)
					answer_plain(k, rx, NULL, m, 503, "Retry-After: 1");
			} else {
				k->st.forwarded++;
				SBC_DEBUG("worker %u: message forwarded to worker %d", rx->worker_idx, owner);
			}
			return;
		}
	}
	if (!m->is_request) {
		txn_recv_response(k->tbl, m);
		return;
	}
	if (!rx->trunk) {
		sig_local_handle(rx, NULL); /* 403 */
		return;
	}
	if (m->method == SIP_M_ACK) {
		txn *t = NULL;
		tx_ctx *x = NULL;
		b2b_server_txn(k, rx, m, &t, &x); /* an ACK to our 2xx: b2b_on_ack */
		int leg = 0;
		b2b_cl *c = rx->tp != SIG_TP_UDP && m->to.has_tag ? b2b_find_by_cid(k, m->call_id, &leg) : NULL;
		if (c && b2b_dialog_match(leg ? &c->db : &c->da, m))
			follow_a_conn(c, leg, rx);
		return;
	}
	if (m->method == SIP_M_CANCEL) {
		b2b_cancel_req(k, rx, m);
		return;
	}
	if (m->to.has_tag) {
		b2b_in_dialog(k, rx, m);
		return;
	}
	if (m->method != SIP_M_INVITE) {
		out_of_dialog(k, rx, m);
		return;
	}
	txn *t = NULL;
	tx_ctx *x = NULL;
	int r = b2b_server_txn(k, rx, m, &t, &x);
	if (r == TXN_RX_NEW)
		new_call(k, rx, m, t, x);
	else if (r < 0)
		answer_plain(k, rx, NULL, m, 503, "Retry-After: 1");
}

/* ---- rings from sbc-media ------------------------------------------------- */

void b2b_ring_hook(sig_worker *w, void *arg)
{
	(void)arg;
	b2b_wk *k = *sig_worker_user(w);
	if (!k)
		return;
	for (unsigned j = 0; j < k->n_media; j++) {
		shm_ring_cons *cn = &k->from_media[j];
		for (;;) {
			const shm_rec *rec;
			unsigned n = 0;
			while ((rec = shm_ring_peek(cn)) != NULL) {
				if (sbc_msg_check(rec) == 0) {
					if (rec->type == SBC_MSG_MEDIA_REPLY)
						media_reply(k, (const sbc_msg_media_reply *)rec->data);
					else if (rec->type == SBC_MSG_MEDIA_EVENT)
						media_event(k, j, (const sbc_msg_media_event *)rec->data);
					else if (rec->type == SBC_MSG_HELLO) {
						unsigned bad = 0;
						if (sbc_msg_hello_check((const sbc_msg_hello *)rec->data, &bad) < 0)
							SBC_ERROR("worker %u: media %u HELLO size mismatch (type %u)",
								  w->idx, j, bad);
					}
				} else {
					SBC_WARN("worker %u: media message type %u rejected", w->idx, rec->type);
				}
				shm_ring_next(cn, rec);
				n++;
			}
			if (n)
				shm_ring_release(cn);
			if (!k->n_wait) {
				/* nothing awaited: no doorbell for the replies to UPDATE and
				 * DELETE (picked up with the next wake-up or tick); events
				 * such as a media timeout wait for the tick as well */
				shm_ring_cancel_sleep(cn);
				break;
			}
			if (shm_ring_prepare_sleep(cn))
				break;
		}
	}
}

/* ---- commands from sbc-control ---------------------------------------------- */

/* {"method":"call.hangup","id":"<worker>-<hex>"}: BYE on both legs of an
 * answered call, CANCEL toward B and 487 to A before the answer. */
static void command_hook(sig_worker *w, uint64_t request_id, const char *json, size_t len, void *arg)
{
	(void)arg;
	b2b_wk *k = *sig_worker_user(w);
	char text[SBC_MSG_TEXT_MAX + 1], reply[160];
	unsigned widx = 0;
	uint64_t id = 0;
	memcpy(text, json, len);
	text[len] = 0;
	const char *p = strstr(text, "\"id\"");
	const char *q = p ? strchr(p + 4, '"') : NULL;
	int ok = strstr(text, "\"call.hangup\"") && q && sscanf(q + 1, "%u-%" SCNx64, &widx, &id) == 2;
	b2b_cl *c = ok && k && widx == w->idx ? b2b_find_by_id(k, id) : NULL;
	int n;
	if (!c) {
		n = snprintf(reply, sizeof(reply), "{\"ok\":false,\"error\":\"no such call\"}");
	} else {
		const char *rsn = RSN_HANGUP;
		/* a call ending already (its BYE to the caller waiting for the
		 * caller's ACK) keeps the cause of what ended it */
		if (!c->bye_a_held) {
			c->hangup = 1;
			c->q850 = RSN_HANGUP_Q850;
			if (c->state == CS_CONFIRMED)
				bye_both_legs(c, 200, "hangup", rsn);
			else
				call_cancel(c, &rsn, 1);
		}
		n = snprintf(reply, sizeof(reply), "{\"ok\":true}");
	}
	sig_command_reply(w, request_id, reply, (size_t)n);
}

static int stats_hook(sig_worker *w, char *buf, size_t cap, void *arg)
{
	(void)arg;
	b2b_wk *k = *sig_worker_user(w);
	if (!k)
		return 0;
	unsigned down = 0;
	for (unsigned i = 0; i < k->n_health; i++)
		down += !k->health[i].h.up;
	/* txn_long_walks: transaction lookups that walked a hash chain over
	 * 64 entries (txn_layer.c long_walk); with the keyed hash anything but
	 * 0 means a table far over its size, or a flood that beat the hash */
	int n = snprintf(buf, cap,
			 ",\"calls\":{\"active\":%" PRIu64 ",\"started\":%" PRIu64 ",\"answered\":%" PRIu64
			 ",\"failed\":%" PRIu64 ",\"failovers\":%" PRIu64 ",\"reinvites\":%" PRIu64
			 ",\"forwarded\":%" PRIu64 ",\"transactions\":%u,\"txn_long_walks\":%lu,\"objects\":%u"
			 ",\"trunks_down\":%u}",
			 k->st.active, k->st.started, k->st.answered, k->st.failed, k->st.failovers, k->st.reinvites,
			 k->st.forwarded, txn_table_count(k->tbl), txn_table_long_walks(k->tbl), k->n_objs, down);
	return n > 0 && (size_t)n < cap ? n : 0;
}

/* ---- worker hooks ------------------------------------------------------------ */

static void wk_start(sig_worker *w, void *arg)
{
	(void)arg;
	b2b_wk *k = calloc(1, sizeof(*k));
	if (!k) {
		SBC_ERROR("worker %u: no memory for the B2BUA: calls refused", w->idx);
		return;
	}
	k->w = w;
	if (RAND_bytes((uint8_t *)&k->seed, sizeof(k->seed)) != 1)
		k->seed = (uint64_t)uv_hrtime() ^ ((uint64_t)w->idx << 40);
	k->seed = (k->seed & 0x00ffffffffffffffull) | ((uint64_t)w->idx << 56);
	k->seq = x__b2b_seq_start(boot_ns()); /* ids unseen since boot (call ids above) */
	if (RAND_bytes((uint8_t *)k->branch_key, sizeof(k->branch_key)) != 1) {
		SBC_WARN("worker %u: no random bytes: Via branches are guessable", w->idx);
		k->branch_key[0] = (uint64_t)uv_hrtime();
		k->branch_key[1] = k->seed;
	}
	if (w->idx < SIG_MAX_WORKERS)
		atomic_store_explicit(&g_seeds[w->idx], k->seed, memory_order_relaxed);
	static const txn_env env_tmpl = {.now_ms = b2b_env_now, .arm = b2b_env_arm, .cancel = b2b_env_cancel,
					 .send = b2b_env_send, .on_response = b2b_on_response, .on_timeout = b2b_on_timeout,
					 .on_terminated = b2b_on_terminated, .on_ack = b2b_on_ack};
	txn_env env = env_tmpl;
	env.ctx = k;
	/* UDP transactions linger 32 s (Timers J, K, L, M): at 1000 calls/s
	 * about 200k live ones per worker */
	txn_cfg tc = {.t1_ms = w->srv->cfg.t1_ms};
	sig_self_init(&k->self, &w->srv->cfg);
	k->tbl = txn_table_create(&env, &tc, 1u << 17);
	shm_seg *seg = sig_segment();
	if (seg) {
		unsigned m = shm_seg_header(seg)->workers[SHM_ROLE_MEDIA];
		if (m > B2B_MEDIA_MAX)
			m = B2B_MEDIA_MAX;
		unsigned ok = 0;
		for (unsigned j = 0; j < m; j++) {
			if (shm_seg_producer(seg, &k->to_media[j], SHM_ROLE_SIGNAL, w->idx, SHM_ROLE_MEDIA, j) < 0 ||
			    shm_seg_consumer(seg, &k->from_media[j], SHM_ROLE_MEDIA, j, SHM_ROLE_SIGNAL, w->idx) < 0)
				break;
			media_hello(k, j);
			ok++;
		}
		k->n_media = ok;
		if (m && ok < m)
			SBC_WARN("worker %u: rings to sbc-media: %u of %u", w->idx, ok, m);
	}
	/* After the HELLOs, so that our predecessor's media goes even so;
	 * not if a HELLO found its ring full: with no engine left, nothing
	 * retries it (this worker takes no calls at all, and says so). */
	if (!k->tbl) {
		free(k);
		SBC_ERROR("worker %u: no memory for transactions: calls refused", w->idx);
		return;
	}
	k->ping = malloc(sizeof(*k->ping));
	if (k->ping) {
		uv_timer_init(sig_worker_loop(w), k->ping);
		k->ping->data = k;
		uv_timer_start(k->ping, b2b_ping_cb, B2B_PING_FIRST_MS, 0);
	}
	k->flush = malloc(sizeof(*k->flush));
	k->wheel_h = malloc(sizeof(*k->wheel_h));
	if (!k->flush || !k->wheel_h) {
		/* without the per-iteration flush no media message would leave,
		 * without the wheel no transaction timer fires */
		txn_table_destroy(k->tbl);
		if (k->ping)
			uv_close((uv_handle_t *)k->ping, b2b_ping_closed);
		free(k->flush);
		free(k->wheel_h);
		free(k);
		SBC_ERROR("worker %u: no memory for the B2BUA: calls refused", w->idx);
		return;
	}
	uv_prepare_init(sig_worker_loop(w), k->flush);
	k->flush->data = k;
	uv_prepare_start(k->flush, b2b_flush_cb);
	uv_timer_init(sig_worker_loop(w), k->wheel_h);
	k->wheel_h->data = k;
	k->wheel_tick = now_ms(k) / B2B_TICK_MS;
	k->lazy_h = malloc(sizeof(*k->lazy_h)); /* without it every record is published at once */
	if (k->lazy_h) {
		uv_timer_init(sig_worker_loop(w), k->lazy_h);
		k->lazy_h->data = k;
	}
	*sig_worker_user(w) = k;
	b2b_ring_hook(w, NULL);
}

static void wk_stop(sig_worker *w, void *arg)
{
	(void)arg;
	b2b_wk *k = *sig_worker_user(w);
	if (!k)
		return;
	*sig_worker_user(w) = NULL;
	if (k->ping)
		uv_close((uv_handle_t *)k->ping, b2b_ping_closed);
	uv_close((uv_handle_t *)k->flush, b2b_ping_closed);
	uv_close((uv_handle_t *)k->wheel_h, b2b_ping_closed);
	if (k->lazy_h)
		uv_close((uv_handle_t *)k->lazy_h, b2b_ping_closed);
	k->stopping = 1; /* the MEDIA_DELETEs below leave at once */
	k->to_publish |= k->to_publish_lazy;
	k->to_publish_lazy = 0;
	/* end every call (media sessions deleted), then drop the transactions */
	for (unsigned b = 0; b < B2B_BUCKETS; b++)
		while (k->by_id[b])
			call_end(k->by_id[b], 503, "shutdown");
	wk_flush(k); /* the MEDIA_DELETEs leave, the ended calls are reaped */
	txn_table_destroy(k->tbl); /* no callbacks: the contexts go below */
	b2b_txn_publish(k, 0);         /* gone from the process's count */
	while (k->ctxs) {
		tx_ctx *c = k->ctxs;
		c->t = NULL;
		ctx_free(c);
	}
	ctx_release_dead(k, 0); /* and the pool */
	while (k->free_calls) {
		b2b_cl *c = k->free_calls;
		k->free_calls = c->id_next;
		free(c);
	}
	free(k);
}

void b2b_engine_install(void)
{
	sig_set_rx_handler(b2b_rx, NULL);
	sig_set_conn_closed_hook(inbound_closed);
	sig_set_send_failed_hook(b2b_send_failed);
	sig_set_worker_hooks(wk_start, wk_stop, NULL);
	sig_set_ring_hook(b2b_ring_hook, NULL);
	sig_set_command_hook(command_hook, NULL);
	sig_set_stats_hook(stats_hook, NULL);
}
