/* sbc-signal — B2BUA engine: transaction contexts and their timers.
 *
 * A tx_ctx is what the engine keeps per transaction (the peer, the call,
 * the timers the txn layer asked for); the txn layer's env callbacks
 * (b2b_env_now/arm/cancel/send, b2b_on_terminated) land here. Timers sit
 * on one hashed wheel per worker (b2b_engine-t.h, B2B_TICK_MS).
 *
 * Caveats:
 *  1. Worker-thread only, like everything in the engine.
 *  2. A freed ctx is parked on k->dead and released (to k->ctx_pool or
 *     the heap) in wk_flush, at the end of the loop iteration: timer_cb
 *     may still read it until then.
 *  3. timer_cb dispatches expiries to the modules that own them
 *     (b2b_outbound.c, b2b_indialog.c): this file holds no call logic. */
#include "b2b_engine.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "b2b_call.h"
#include "b2b_engine-int.h"
#include "b2b_route.h"
#include "b2b_sdp.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sip_build.h"
#include "sip_msg.h"
#include "sig_dns.h"
#include "sig_sip.h"
#include "sig_worker.h"
#include "txn_layer.h"

/* ---- transaction contexts and timers -------------------------------------- */

/* Released ctxs kept per worker: a call starts four or five transactions,
 * and a calloc and free for each showed in the live profile (malloc's
 * bookkeeping, not the 328 bytes). Bounded by B2B_CTX_POOL and by an
 * eighth of the live transactions (+ 32): once a burst has passed, the
 * pool shrinks with them, so its entries do not pin heap pages that
 * mem_settle's malloc_trim should hand back (test_b2b_memory). */
#define B2B_CTX_POOL 1024

tx_ctx *ctx_new(b2b_wk *k)
{
	tx_ctx *c = k->ctx_pool;
	if (c) {
		k->ctx_pool = c->next;
		k->n_ctx_pool--;
		memset(c, 0, sizeof(*c));
	} else if (!(c = calloc(1, sizeof(*c)))) {
		return NULL;
	}
	c->wk = k;
	c->wslot = WHEEL_NONE;
	c->next = k->ctxs;
	if (k->ctxs)
		k->ctxs->prev = c;
	k->ctxs = c;
	return c;
}

void wheel_unlink(b2b_wk *k, tx_ctx *c)
{
	if (c->wslot == WHEEL_NONE)
		return;
	if (c->wprev)
		c->wprev->wnext = c->wnext;
	else
		k->wheel[c->wslot] = c->wnext;
	if (c->wnext)
		c->wnext->wprev = c->wprev;
	c->wnext = c->wprev = NULL;
	c->wslot = WHEEL_NONE;
	k->wheel_n--;
}

static void wheel_cb(uv_timer_t *h);

/* Files c under its deadline c->wdue: the tick at or after it, never one
 * already worked through. */
void wheel_insert(b2b_wk *k, tx_ctx *c)
{
	uint64_t tick = (c->wdue + B2B_TICK_MS - 1) / B2B_TICK_MS;
	if (tick <= k->wheel_tick)
		tick = k->wheel_tick + 1;
	c->wslot = (uint32_t)(tick & (B2B_WHEEL_SLOTS - 1));
	c->wprev = NULL;
	c->wnext = k->wheel[c->wslot];
	if (c->wnext)
		c->wnext->wprev = c;
	k->wheel[c->wslot] = c;
	if (!k->wheel_n++ && k->wheel_h && !uv_is_active((uv_handle_t *)k->wheel_h)) {
		/* idle until now: the ticks passed meanwhile held nothing */
		uint64_t now_tick = now_ms(k) / B2B_TICK_MS;
		if (k->wheel_tick + 1 < now_tick && tick > now_tick)
			k->wheel_tick = now_tick - 1;
		uv_timer_start(k->wheel_h, wheel_cb, B2B_TICK_MS, B2B_TICK_MS);
	}
}

/* Releases the ctxs of ctx_free (after the callbacks that may still look
 * at them, like the uv_close they once went through) into the pool, or
 * frees them (all: to_pool 0). */
void ctx_release_dead(b2b_wk *k, int to_pool)
{
	unsigned cap = 0;
	if (to_pool) {
		cap = txn_table_count(k->tbl) / 8 + 32;
		if (cap > B2B_CTX_POOL)
			cap = B2B_CTX_POOL;
	}
	while (k->dead) {
		tx_ctx *c = k->dead;
		k->dead = c->next;
		if (k->n_ctx_pool < cap) {
			c->next = k->ctx_pool;
			k->ctx_pool = c;
			k->n_ctx_pool++;
		} else {
			free(c);
		}
	}
	while (k->n_ctx_pool > cap) { /* the transactions went down: so does the pool */
		tx_ctx *c = k->ctx_pool;
		k->ctx_pool = c->next;
		k->n_ctx_pool--;
		free(c);
	}
}

void ctx_free(tx_ctx *c)
{
	b2b_wk *k = c->wk;
	if (c->prev)
		c->prev->next = c->next;
	else
		k->ctxs = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->call) {
		b2b_cl *call = c->call;
		if (c->cl_prev)
			c->cl_prev->cl_next = c->cl_next;
		else
			call->ctxs = c->cl_next;
		if (c->cl_next)
			c->cl_next->cl_prev = c->cl_prev;
		c->call = NULL;
		call_unref(call);
	}
	wheel_unlink(k, c);
	c->next = k->dead; /* freed in wk_flush: timer_cb may still read c */
	k->dead = c;
}

/* A ctx started for a call that has ended already (its BYE, a CANCEL)
 * stays unbound: nothing after the end needs the call (call_reap). */
void ctx_bind(tx_ctx *c, b2b_cl *call, enum ctx_role role)
{
	c->role = (uint8_t)role;
	if (!call || call->state == CS_ENDED)
		return;
	c->call = call;
	call->refs++;
	c->cl_prev = NULL;
	c->cl_next = call->ctxs;
	if (call->ctxs)
		call->ctxs->cl_prev = c;
	call->ctxs = c;
}

/* A new ctx for a request on leg of call c: the leg's transport,
 * connection, peer and (toward B) TLS profile, bound to `bind` (c, or
 * NULL for a request no call waits on) in role. NULL without memory. */
tx_ctx *ctx_for_leg(b2b_cl *c, int leg, b2b_cl *bind, enum ctx_role role)
{
	tx_ctx *x = ctx_new(c->wk);
	if (!x)
		return NULL;
	x->tp = leg ? c->b_tp : c->a_tp;
	x->conn = leg ? c->b_conn : c->a_conn;
	x->dst = leg ? c->b_dst : c->a_src;
	copy_s(x->profile, sizeof(x->profile), leg ? c->b_profile : "");
	ctx_bind(x, bind, role);
	return x;
}

void ctx_reschedule(tx_ctx *c)
{
	uint64_t min = 0;
	for (unsigned i = 0; i <= TXN_T_MAX_; i++)
		if (c->due[i] && (!min || c->due[i] < min))
			min = c->due[i];
	if (!min) {
		wheel_unlink(c->wk, c);
		return;
	}
	if (c->wslot != WHEEL_NONE && c->wdue == min)
		return; /* filed there already */
	wheel_unlink(c->wk, c);
	c->wdue = min;
	wheel_insert(c->wk, c);
}

/* c's earliest deadline has come. */
static void timer_cb(tx_ctx *c)
{
	if (c->role == CTX_SESSION) { /* not a transaction's: the call's own */
		session_expired(c->call);
		return;
	}
	uint64_t now = now_ms(c->wk);
	if (c->due[T_TRYING] && c->due[T_TRYING] <= now && c->role == CTX_A_INVITE) {
		c->due[T_TRYING] = 0;
		b2b_cl *call = c->call;
		/* nothing sent on the A leg yet (a 18x or final cancels the 100) */
		if (call && c->t && c->t == call->a_txn && txn_last_status(c->t) == 0)
			respond_a(call, 100, NULL);
		if (call && c->t && c->t == call->a_txn)
			media_wait_check(call, c, now); /* the same slot, while sbc-media's replies are awaited */
	}
	if (c->due[T_NO_RESPONSE] && c->due[T_NO_RESPONSE] <= now) {
		c->due[T_NO_RESPONSE] = 0;
		b2b_cl *call = c->call;
		if (call && c->role == CTX_B_INVITE && c->t && c->t == call->b_txn &&
		    txn_get_state(c->t) == TXN_S_PROCEEDING && (call->state == CS_CALLING || call->state == CS_EARLY)) {
			/* it rang (or said 100) but never answered */
			SBC_NOTICE("call %" PRIx64 ": no answer from trunk %s in %u ms: CANCEL, next route", call->id,
				   call->trunk_out, no_answer_ms(c->wk));
			/* Q.850 19 once it rang (a 18x), 18 when it only said 100:
			 * what an exchange releases with when its answer timer runs out */
			const char *rsn = call->state == CS_EARLY ? RSN_NO_ANSWER : RSN_NO_USER;
			cancel_b_invite(c->wk, c, &rsn, 1);
			trunk_count(c->wk, call->trunk_out, SIG_TS_timeouts);
			call->b_txn = NULL; /* its 487 (or a late 2xx: ACK and BYE) finds an attempt given up */
			call->b_no_answer = 1;
			attempt_failed(call, B2B_FO_LOCAL_TIMEOUT, -1, NULL);
		} else if (call && c->role == CTX_REINV_IN && call->ri && call->ri->in == c->t && call->ri->creating) {
			b2b_ring_hook(c->wk->w, NULL); /* replies in the ring already (this worker was the slow one)? */
			if (call->ri && call->ri->in == c->t && call->ri->creating)
				reinv_media_lost(call);
		} else if (call && c->role == CTX_B_INVITE && c->t && c->t == call->b_txn && call->state == CS_CALLING) {
			SBC_NOTICE("call %" PRIx64 ": no response from trunk %s in %u ms: next route", call->id,
				   call->trunk_out, no_response_ms(c->wk));
			if (c->conn && c->conn == call->b_conn)
				inbound_forget(call->trunk_out, c->conn); /* closed at its worker, most likely */
			trunk_count(c->wk, call->trunk_out, SIG_TS_timeouts);
			call->b_txn = NULL; /* abandoned: the transaction times out on its own */
			attempt_failed(call, B2B_FO_LOCAL_TIMEOUT, -1, NULL);
		}
	}
	for (unsigned i = 0; i < TXN_T_MAX_ && c->t; i++) {
		if (c->due[i] && c->due[i] <= now) {
			c->due[i] = 0;
			txn_timer_fire(c->wk->tbl, c->t, (enum txn_timer)i);
		}
	}
	if (c->t)
		ctx_reschedule(c);
}

static void wheel_cb(uv_timer_t *h)
{
	b2b_wk *k = h->data;
	uint64_t now = now_ms(k), until = now / B2B_TICK_MS;
	b2b_txn_publish(k, txn_table_count(k->tbl)); /* a burst's height, for mem_settle */
	if (until > k->wheel_tick + B2B_WHEEL_SLOTS) /* late by a revolution: each slot once */
		k->wheel_tick = until - B2B_WHEEL_SLOTS;
	while (k->wheel_tick < until) {
		uint32_t s = (uint32_t)(++k->wheel_tick & (B2B_WHEEL_SLOTS - 1));
		tx_ctx *c = k->wheel[s];
		k->wheel[s] = NULL;
		k->wheel[WHEEL_FIRING] = c;
		for (; c; c = c->wnext)
			c->wslot = WHEEL_FIRING;
		/* a callback may free or refile any ctx of the list: take one at a time */
		while ((c = k->wheel[WHEEL_FIRING]) != NULL) {
			wheel_unlink(k, c);
			if (c->wdue <= now)
				timer_cb(c);
			else
				wheel_insert(k, c); /* a later round */
		}
	}
	if (!k->wheel_n)
		uv_timer_stop(h);
}

uint64_t b2b_env_now(void *ctx) { return now_ms(ctx); }

void b2b_env_arm(void *ctx, txn *t, enum txn_timer tm, uint32_t ms)
{
	tx_ctx *c = txn_user(t);
	(void)ctx;
	if (!c)
		return;
	uint64_t old = c->due[tm], due = now_ms(c->wk) + ms + (ms == 0); /* 0 would mean "not armed" */
	c->due[tm] = due;
	/* filed under a deadline this one does not precede, held by another
	 * timer: the earliest stays (a transaction arms and cancels a dozen
	 * timers a call; each was a pass over all of them). wdue is never
	 * later than the earliest deadline, so this never files c too late. */
	if (c->wslot != WHEEL_NONE && old != c->wdue && due >= c->wdue)
		return;
	ctx_reschedule(c);
}

void b2b_env_cancel(void *ctx, txn *t, enum txn_timer tm)
{
	tx_ctx *c = txn_user(t);
	(void)ctx;
	if (!c)
		return;
	uint64_t old = c->due[tm];
	c->due[tm] = 0;
	if (c->wslot != WHEEL_NONE && old != c->wdue)
		return; /* not the deadline c is filed under: that one stands */
	ctx_reschedule(c);
}

int b2b_env_send(void *ctx, txn *t, const char *buf, size_t len)
{
	tx_ctx *c = txn_user(t);
	(void)ctx;
	if (!c)
		return SBC_E_STATE;
	return send_to(c->wk, c->tp, c->conn, &c->dst, c->profile, buf, len);
}

void b2b_on_terminated(void *ctx, txn *t)
{
	tx_ctx *c = txn_user(t);
	(void)ctx;
	if (!c)
		return;
	txn_set_user(t, NULL);
	if (c->role == CTX_B_INVITE && c->cancel_sent && txn_last_status(t) < 200 && sbc_log_enabled(SBC_LOG_INFO)) {
		char a[SBC_ADDR_STRLEN];
		SBC_INFO("INVITE to %s: CANCELled, ended without a final response (64*T1 after the CANCEL, or a transport error)",
			 sbc_addr_format(&c->dst, a, sizeof(a)));
	}
	if (c->role == CTX_PING && c->ping >= 0 && (unsigned)c->ping < c->wk->n_health)
		c->wk->health[c->ping].busy = 0;
	if (c->call) {
		if (c->call->a_txn == t)
			c->call->a_txn = NULL;
		if (c->call->b_txn == t)
			c->call->b_txn = NULL;
		if (c->call->ri && c->call->ri->in == t)
			c->call->ri->in = NULL;
		if (c->call->ri && c->call->ri->out == t)
			c->call->ri->out = NULL;
	}
	c->t = NULL;
	if (c->starting)
		return; /* the send failed in b2b_client_start: its caller frees c */
	ctx_free(c);
}

/* txn_client_start for ctx x (x->t set on success). A send that fails at
 * once terminates the transaction inside txn_client_start; x survives that
 * (b2b_on_terminated leaves it) so that every caller frees it on failure, once. */
int b2b_client_start(b2b_wk *k, const char *buf, size_t n, int reliable, tx_ctx *x)
{
	x->starting = 1;
	x->sent_ns = uv_hrtime();
	int r = txn_client_start(k->tbl, buf, n, reliable, x, &x->t);
	x->starting = 0;
	return r;
}
