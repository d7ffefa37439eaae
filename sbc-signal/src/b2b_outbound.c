/* sbc-signal — B2BUA engine: the outbound leg.
 *
 * Trunk health pings and memory settling, routing and failover (routes,
 * RFC 3263 targets, attempts), the B-leg INVITE and everything that
 * answers it (responses, timeouts, stray 2xx, A's ACK), and transport
 * errors reported after a send returned.
 *
 * Caveats:
 *  1. Worker-thread only; per-trunk limits and the inbound-connection
 *     table it reads are shared by the workers (b2b_engine.c, locked).
 *  2. b2b_on_response and b2b_on_timeout are the txn layer's client
 *     callbacks for every client transaction of the engine, not only
 *     B-leg INVITEs: they hand in-dialog ones to b2b_indialog.c. */
#include "b2b_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b2b_call.h"
#include "b2b_engine-int.h"
#include "b2b_health.h"
#include "b2b_limits.h"
#include "b2b_media.h"
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

/* ---- trunk health -------------------------------------------------------------- */

static int health_idx(b2b_wk *k, const char *trunk, int create)
{
	for (unsigned i = 0; i < k->n_health; i++)
		if (!strcmp(k->health[i].trunk, trunk))
			return (int)i;
	if (!create || k->n_health == B2B_HEALTH_MAX)
		return -1;
	unsigned i = k->n_health++;
	snprintf(k->health[i].trunk, sizeof(k->health[i].trunk), "%s", trunk);
	b2b_health_init(&k->health[i].h, 2, 1);
	k->health[i].busy = 0;
	return (int)i;
}

/* A 503 with Retry-After (to a call or a ping) through trunk src holds
 * every other trunk whose first destination is the same peer (host and
 * port) as well: the server asked not to be sent requests for that time
 * (RFC 3261 21.5.4), whichever trunk record names it. Only the hold: their
 * up/down counts are their own pings'. A failure path (rare). */
static void hold_same_peer(b2b_wk *k, const char *src_name, int retry_after)
{
	const store_trunk *src = sig_trunk_get(k->w->trunks, src_name);
	if (!src || !src->n_dests)
		return;
	const store_dest *d = &src->dests[0];
	uint64_t until = now_ms(k) + (uint64_t)retry_after * 1000u;
	for (size_t i = 0;; i++) {
		const store_trunk *t = sig_trunk_at(k->w->trunks, i);
		if (!t)
			break;
		if (t == src || !t->n_dests || t->dests[0].port != d->port || strcasecmp(t->dests[0].host, d->host))
			continue;
		int j = health_idx(k, t->name, 1);
		if (j >= 0 && until > k->health[j].h.hold_until_ms)
			k->health[j].h.hold_until_ms = until;
	}
}

static void health_record(b2b_wk *k, int i, int status, int retry_after)
{
	if (i < 0 || (unsigned)i >= k->n_health)
		return;
	if (b2b_health_record(&k->health[i].h, status, retry_after, now_ms(k)))
		SBC_NOTICE("trunk %s is %s (OPTIONS/call outcome %d)", k->health[i].trunk,
			   k->health[i].h.up ? "up again" : "down: routed around", status);
	if (status == 503 && retry_after > 0)
		hold_same_peer(k, k->health[i].trunk, retry_after);
}

/* Whether OPTIONS pings can bring the trunk back up once a call's outcome
 * marked it down: its first destination is an address (a DNS name is not
 * pinged; ping_trunk). */
static int trunk_pinged(b2b_wk *k, const char *trunk)
{
	const store_trunk *t = sig_trunk_get(k->w->trunks, trunk);
	return t && t->n_dests && t->dests[0].is_ip;
}

/* Per-trunk counters of B-leg attempts that failed without a response
 * (stats.get trunks.<name>); failure paths only: the name is interned here. */
void trunk_count(b2b_wk *k, const char *trunk, enum sig_trunk_stat st)
{
	sig_trunk_stat(k->w->tstats, sig_tls_intern(trunk), st, 1);
}

static int trunk_usable(b2b_wk *k, const char *trunk)
{
	int i = health_idx(k, trunk, 0);
	return i < 0 || b2b_health_usable(&k->health[i].h, now_ms(k));
}

static void ping_trunk(b2b_wk *k, const store_trunk *t)
{
	const store_dest *d = &t->dests[0];
	int hi = health_idx(k, t->name, 1);
	inb_conn ic = {0};
	if (hi < 0 || k->health[hi].busy)
		return;
	/* a reuse_inbound trunk is pinged where its calls go: on its own
	 * connection while it has one (it may refuse ours) */
	if (!(t->reuse_inbound && inbound_get(t->name, inbound_tp(d), &ic)) && !d->is_ip)
		return;
	const sbc_addr *dst = ic.conn ? &ic.peer : &d->addr;
	unsigned tp = ic.conn ? ic.tp : d->transport == STORE_TP_TLS ? SIG_TP_TLS
				      : d->transport == STORE_TP_TCP ? SIG_TP_TCP : SIG_TP_UDP;
	sbc_addr local = ic.local;
	if (!ic.conn && b2b_local_for(k, tp, dst, &local) < 0)
		return;
	char branch[B2B_BRANCH_MAX], tag[48], cid[48], host[SBC_ADDR_STRLEN + 2], dhost[SBC_ADDR_STRLEN + 2];
	char ruri[B2B_HDR_MAX], from[B2B_HDR_MAX], to[B2B_HDR_MAX];
	new_branch(k, branch, sizeof(branch));
	token(k, "p", tag, sizeof(tag));
	token(k, "ping", cid, sizeof(cid));
	host_of(&local, host, sizeof(host));
	host_of(dst, dhost, sizeof(dhost));
	const char *tpp = tp_uri_param(tp);
	snprintf(ruri, sizeof(ruri), "sip:%s:%u%s", dhost, sbc_addr_port(dst), tpp);
	snprintf(from, sizeof(from), "<sip:ping@%s>;tag=%s", host, tag);
	snprintf(to, sizeof(to), "<sip:%s>", dhost);
	sip_req_spec r = {.method = SIP_M_OPTIONS,
			  .ruri = sip_sv_from(ruri, strlen(ruri)),
			  .via_transport = sip_sv_from(tp_via(tp), 3),
			  .via_host = sip_sv_from(host, strlen(host)),
			  .via_port = sbc_addr_port(&local),
			  .branch = sip_sv_from(branch, strlen(branch)),
			  .rport = 1,
			  .from = sip_sv_from(from, strlen(from)),
			  .to = sip_sv_from(to, strlen(to)),
			  .call_id = sip_sv_from(cid, strlen(cid)),
			  .cseq = 1,
			  .max_forwards = 70};
	int n = sip_build_request(&r, k->out, sizeof(k->out));
	tx_ctx *x = n > 0 ? ctx_new(k) : NULL;
	if (!x)
		return;
	x->tp = (uint8_t)tp;
	x->conn = ic.conn;
	x->dst = *dst;
	snprintf(x->profile, sizeof(x->profile), "%s", t->tls_profile);
	ctx_bind(x, NULL, CTX_PING);
	x->ping = (int16_t)hi;
	k->health[hi].busy = 1;
	if (b2b_client_start(k, k->out, (size_t)n, tp != SIG_TP_UDP, x) < 0) {
		k->health[hi].busy = 0;
		ctx_free(x);
		if (ic.conn)
			inbound_forget(t->name, ic.conn);
		health_record(k, hi, 0, -1);
	}
}

/* Memory after a burst. Transactions linger after their calls: over UDP
 * the non-INVITE server's Timer J 64*T1, the non-INVITE client's K T4 (5
 * s), the INVITE client's D 32 s after a non-2xx; L and M 64*T1 after a
 * 2xx on every transport (RFC 6026). A burst of calls leaves the workers'
 * heaps as large as the transactions of its last ~32 s needed (some 3 KB
 * each; 250 MB after a ladder up to 5000 calls/s). Freed, that memory
 * stays with the process: glibc gives a per-thread arena's pages back only
 * when its top chunk passes M_TRIM_THRESHOLD, which sig_worker.c sets
 * above an arena heap's size so that steady load never trims and
 * refaults. So malloc_trim hands the free pages of every arena back once
 * the process's live transactions (all workers: g_txn_live) have fallen
 * to 1/64 of their high-water mark, if that reached
 * signal.limits.trim_min_transactions.
 * What it costs: malloc_trim walks every arena under that arena's lock,
 * and each free run of pages is one madvise: the more live chunks are
 * left scattered through the freed heap, the longer. Measured on this
 * 2-core box (a test program: two workers' arenas of 125 MB, 3 KB
 * chunks, both allocating during the trim): with 1/8 of the chunks live
 * (the old trigger) the trim took 82 ms and a worker's malloc waited up to
 * 53 ms; at 1/64 live 20 ms in all, 7-12 ms at worst for a worker's malloc
 * (1/256: 15-19 ms, 2-13 ms: no better; the pages' own madvise, some 6-8
 * ms per 100 MB, is the floor). Hence: 1/64; once per process, whichever
 * worker's 5 s ping timer sees it first (g_trimming is the claim); and on
 * a thread of its own, so that no event loop waits for the whole walk
 * (a worker only waits if it allocates while its own arena is trimmed). */
#define B2B_TRIM_FRACTION 64

static _Atomic long g_txn_live;  /* live transactions of all workers (txn_pub's sum) */
static _Atomic long g_txn_hwm;   /* their most since memory last went back */
static _Atomic int g_trimming;   /* a trim thread runs */

void b2b_txn_publish(b2b_wk *k, unsigned live)
{
	long d = (long)live - (long)k->txn_pub;
	if (!d)
		return;
	k->txn_pub = live;
	long tot = atomic_fetch_add_explicit(&g_txn_live, d, memory_order_relaxed) + d;
	long hwm = atomic_load_explicit(&g_txn_hwm, memory_order_relaxed);
	while (tot > hwm && !atomic_compare_exchange_weak_explicit(&g_txn_hwm, &hwm, tot, memory_order_relaxed,
								    memory_order_relaxed))
		;
}

static long rss_bytes(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%*d %ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * sysconf(_SC_PAGESIZE);
}

static void *trim_main(void *arg)
{
	long hwm = (long)(intptr_t)arg, r0 = rss_bytes();
	uint64_t t0 = uv_hrtime();
	malloc_trim(0);
	double ms = (double)(uv_hrtime() - t0) / 1e6;
	long r1 = rss_bytes();
	SBC_INFO("%ld transactions after a burst of %ld: memory handed back (%.1f MB in %.1f ms)",
		 atomic_load_explicit(&g_txn_live, memory_order_relaxed), hwm, (double)(r0 - r1) / 1048576.0, ms);
	atomic_store(&g_trimming, 0);
	return NULL;
}

static void mem_settle(b2b_wk *k)
{
	b2b_txn_publish(k, txn_table_count(k->tbl)); /* also when its wheel has stopped */
	long live = atomic_load_explicit(&g_txn_live, memory_order_relaxed);
	long hwm = atomic_load_explicit(&g_txn_hwm, memory_order_relaxed);
	if (hwm < (long)k->w->srv->cfg.lim.trim_min_txns || live > hwm / B2B_TRIM_FRACTION)
		return;
	if (atomic_exchange(&g_trimming, 1))
		return; /* another worker's trim runs */
	pthread_t th;
	pthread_attr_t a;
	int r = pthread_attr_init(&a);
	if (r == 0) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		r = pthread_create(&th, &a, trim_main, (void *)(intptr_t)hwm);
		pthread_attr_destroy(&a);
	}
	if (r != 0) {
		/* the burst's mark stays: the next ping timer tries again */
		SBC_WARN("memory not handed back after a burst of %ld transactions: no thread (%s)", hwm,
			 strerror(r));
		atomic_store(&g_trimming, 0);
		return;
	}
	/* from here on a new burst is measured: no worker trims again for
	 * this one */
	atomic_store_explicit(&g_txn_hwm, live, memory_order_relaxed);
}

void b2b_ping_cb(uv_timer_t *h)
{
	b2b_wk *k = h->data;
	mem_settle(k);
	sig_trunks *tr = k->w->trunks;
	for (size_t i = 0;; i++) {
		const store_trunk *t = sig_trunk_at(tr, i);
		if (!t)
			break;
		if (t->enabled && t->n_dests)
			ping_trunk(k, t);
	}
	uv_timer_start(h, b2b_ping_cb, B2B_PING_MS, 0);
}

void b2b_ping_closed(uv_handle_t *h) { free(h); }

/* "<host>:<port>" of t's first destination, the failover state's name for
 * its peer, as snprintf would write it (without its format parser: every
 * call names its route once or more). The peer, not the trunk: a 503 with
 * Retry-After blocks that server for the rest of the call whichever trunk
 * record names it (two trunks may share a carrier's gateway). */
static void peer_name(char *out, size_t cap, const store_trunk *t)
{
	size_t n = put_s(out, cap, 0, t->dests[0].host);
	n = put_s(out, cap, n, ":");
	put_u(out, cap, n, t->dests[0].port);
}

/* Picks the next usable route (c->cur). Returns 0 or SBC_E_NOT_FOUND. */
/* A trunk's max_calls and max_cps count its calls both ways: those it
 * sends us (new_call) and those we send it (here), as a carrier's channel
 * and call-rate contract does. A route whose trunk is at its limit is
 * skipped like a trunk that is down; its share is taken per attempt and
 * given back when the call moves on to another route or ends. */
static int out_limit_take(b2b_cl *c, const store_trunk *t)
{
	/* by the interned name: the key new_call's b2b_limit_for uses, the same
	 * for every worker and snapshot */
	const char *name = sig_trunk_name(c->wk->w->trunks, t);
	b2b_limit *lim = name ? b2b_limit_for(name) : NULL;
	int ra = -1;
	if (!lim)
		return 0;
	if (b2b_limit_admit(lim, t->max_calls, t->max_cps, now_ms(c->wk), 5, &ra) < 0) {
		SBC_INFO("call %" PRIx64 ": trunk %s is at its limit (%u calls, %u calls/s): skipped", c->id, t->name,
			 t->max_calls, t->max_cps);
		if (ra > c->out_limited)
			c->out_limited = ra;
		return -1;
	}
	c->lim_out = lim;
	return 0;
}

void out_limit_drop(b2b_cl *c)
{
	if (c->lim_out)
		b2b_limit_release(c->lim_out);
	c->lim_out = NULL;
}

int next_route(b2b_cl *c)
{
	b2b_wk *k = c->wk;
	out_limit_drop(c); /* the last attempt's trunk is no longer used */
	while (++c->cur < c->n_routes) {
		const store_route *rt = &c->routes[c->cur];
		const store_trunk *t = sig_trunk_get(k->w->trunks, rt->trunk);
		if (!t || !t->enabled || !t->n_dests)
			continue;
		const store_dest *d = &t->dests[0];
		char peer[STORE_NAME_MAX + STORE_HOST_MAX + 16];
		peer_name(peer, sizeof(peer), t);
		if (b2b_failover_skip(&c->fo, peer))
			continue;
		if (!trunk_usable(k, t->name)) {
			SBC_INFO("call %" PRIx64 ": trunk %s is down: skipped", c->id, t->name);
			continue;
		}
		if (out_limit_take(c, t) < 0)
			continue;
		copy_s(c->trunk_out, sizeof(c->trunk_out), t->name);
		copy_s(c->b_profile, sizeof(c->b_profile), t->tls_profile);
		c->b_tn = c->b_ti = 0;
		c->pol_out = t->srtp_out;
		c->b_conn = 0;
		inb_conn ic;
		if (t->reuse_inbound && !c->b_no_reuse && inbound_get(t->name, inbound_tp(d), &ic)) {
			/* the connection the trunk opened to us: no DNS, no connect */
			c->b_need_dns = 0;
			c->b_tp = ic.tp;
			c->b_conn = ic.conn;
			c->b_dst = ic.peer;
			c->b_local = ic.local;
			return 0;
		}
		if (!d->is_ip) { /* resolved (RFC 3263) when the INVITE is due */
			c->b_need_dns = 1;
			copy_s(c->b_host, sizeof(c->b_host), d->host);
			c->b_port = d->port;
			c->b_tpreq = d->transport == STORE_TP_TLS ? SIG_TP_TLS
				     : d->transport == STORE_TP_TCP ? SIG_TP_TCP
				     : d->transport == STORE_TP_UDP ? SIG_TP_UDP : -1;
			return 0;
		}
		c->b_need_dns = 0;
		c->b_tp = d->transport == STORE_TP_TLS ? SIG_TP_TLS : d->transport == STORE_TP_TCP ? SIG_TP_TCP
												 : SIG_TP_UDP;
		c->b_dst = d->addr;
		if (b2b_local_for(k, c->b_tp, &c->b_dst, &c->b_local) < 0) {
			SBC_WARN("call %" PRIx64 ": no %s listener to send toward trunk %s from", c->id,
				 sig_tp_name(c->b_tp), t->name);
			b2b_failover_on_final(&c->fo, B2B_FO_LOCAL_TRANSPORT, -1, peer);
			out_limit_drop(c);
			continue;
		}
		return 0;
	}
	return SBC_E_NOT_FOUND;
}

static void peer_id(const b2b_cl *c, char *out, size_t cap)
{
	const store_route *rt = &c->routes[c->cur];
	const store_trunk *t = sig_trunk_get(c->wk->w->trunks, rt->trunk);
	if (t && t->n_dests)
		peer_name(out, cap, t);
	else
		copy_s(out, cap, rt->trunk);
}

/* A fresh offer for another B-leg attempt (the target or route just
 * chosen); the caller then sends the INVITE. Answers A and returns < 0
 * when no offer can be made. */
static int offer_again(b2b_cl *c)
{
	int r = c->a_no_offer ? 0 : make_offer(c); /* a delayed offer: nothing to offer, B's 2xx will */
	if (r < 0) {
		fail_a(c, sbc_err_sip_status(r) ? sbc_err_sip_status(r) : 500, NULL);
		return r;
	}
	c->state = CS_CALLING;
	return 0;
}

/* The attempt toward the current route failed with status (or a
 * B2B_FO_LOCAL_*): the next route, or the final answer to A. rsp: the
 * response to mirror when relayed as is (may be NULL). */
void attempt_failed(b2b_cl *c, int status, int retry_after, const sip_msg *rsp)
{
	char peer[STORE_NAME_MAX + STORE_HOST_MAX + 16];
	if (c->b_callid[0]) {
		cid_unlink(c, 1);
		c->b_callid[0] = 0;
	}
	c->b_txn = NULL;
	if (c->cancelled || c->state == CS_ENDED) {
		if (c->state != CS_ENDED)
			fail_a(c, 487, NULL);
		return;
	}
	peer_id(c, peer, sizeof(peer));
	if (status == 503 && retry_after > 0)
		health_record(c->wk, health_idx(c->wk, c->trunk_out, 1), 503, retry_after);
	int best = c->fo.best, rang = c->b_no_answer;
	enum b2b_fo_action a = b2b_failover_on_final(&c->fo, status, retry_after, peer);
	if (c->b_upd_oa)
		a = B2B_FO_RELAY; /* the caller's session moved in an early UPDATE: its INVITE's offer, which a
				   * failover would send, no longer stands */
	if (c->fo.best != best) /* the cause relayed if every route fails: local or the trunk's */
		c->fo_reason = status == B2B_FO_LOCAL_TIMEOUT	  ? (c->b_no_answer ? "no answer" : "no response")
			       : status == B2B_FO_LOCAL_TRANSPORT ? "transport error"
			       : status == B2B_FO_LOCAL_SRTP	  ? "answer broke the SRTP policy"
								  : NULL;
	if (c->attempt_why && c->fo.best != best)
		c->fo_reason = c->attempt_why;
	c->attempt_why = NULL;
	c->b_no_reuse = 0;
	c->b_no_answer = 0;
	/* RFC 3263 4.3: a transport error, a timeout or a 503 moves on to the
	 * next target of the trunk's DNS name before the next route (one that
	 * rang and did not answer is the trunk's answer: next route) */
	if (a == B2B_FO_NEXT && !rang &&
	    (status == B2B_FO_LOCAL_TRANSPORT || status == B2B_FO_LOCAL_TIMEOUT || status == 503) &&
	    next_target(c) == 0) {
		if (offer_again(c) == 0) {
			SBC_INFO("call %" PRIx64 ": trunk %s: next target (%u of %u)", c->id, c->trunk_out, c->b_ti,
				 c->b_tn);
			send_b_invite(c);
		}
		return;
	}
	if (a == B2B_FO_NEXT && next_route(c) == 0) {
		if (offer_again(c) == 0) {
			SBC_INFO("call %" PRIx64 ": failover to trunk %s", c->id, c->trunk_out);
			c->wk->st.failovers++;
			send_b_invite(c);
		}
		return;
	}
	int final = a == B2B_FO_RELAY && rsp && status >= 300 ? status : b2b_failover_result(&c->fo);
	if (rsp && rsp->status == final && c->a_txn) {
		b2b_wk *k = c->wk;
		b2b_resp_spec rs = {.to_tag = c->a_tag, .local_host = NULL};
		char host[SBC_ADDR_STRLEN + 2];
		host_of(&c->a_local, host, sizeof(host));
		rs.local_host = host;
		int n = b2b_build_mirrored_response(&c->a, rsp, &rs, k->out, sizeof(k->out));
		if (n > 0) {
			char rb[B2B_REASON_BUF];
			const char *rl[RSN_LINES];
			int q = 0;
			if (b2b_reason_lines(rsp, rb, sizeof(rb), rl, RSN_LINES, &q) > 0)
				c->q850 = (int16_t)q; /* the Reason relayed with it, for the call record */
			txn_respond(k->tbl, c->a_txn, final, k->out, (size_t)n);
			call_end(c, final, NULL);
			return;
		}
	}
	/* a 408 or 503 of our own (no response, transport error) says so in
	 * the call record: the trunk sent no such response */
	respond_a(c, final, NULL);
	call_end(c, final, c->hangup ? "hangup" : final == c->fo.best ? c->fo_reason : NULL);
}

/* The next RFC 3263 target of the current route's name that we have a
 * listener to send toward (c->b_tg from dns_cb). Returns 0 or -1. */
int next_target(b2b_cl *c)
{
	while (c->b_ti < c->b_tn) {
		const sig_target *t = &c->b_tg[c->b_ti++];
		if (b2b_local_for(c->wk, t->tp, &t->addr, &c->b_local) == 0) {
			c->b_need_dns = 0;
			c->b_conn = 0;
			c->b_tp = t->tp;
			c->b_dst = t->addr;
			return 0;
		}
	}
	return -1;
}

static void dns_cb(void *arg, int status, const sig_target *t, unsigned n)
{
	b2b_cl *c = arg;
	b2b_wk *k = c->wk;
	if (c->state == CS_ENDED || c->cancelled || k->w->stopping) {
		call_unref(c);
		return;
	}
	c->b_tn = c->b_ti = 0;
	if (status == 0) { /* kept for failover to the next target (attempt_failed) */
		c->b_tn = (uint8_t)(n < B2B_TARGETS_MAX ? n : B2B_TARGETS_MAX);
		memcpy(c->b_tg, t, c->b_tn * sizeof(*t));
	}
	if (status < 0 || next_target(c) < 0) {
		SBC_NOTICE("call %" PRIx64 ": trunk %s: %s: %s", c->id, c->trunk_out, c->b_host,
			   status < 0 ? sbc_strerror(status) : "no target we can reach");
		attempt_failed(c, B2B_FO_LOCAL_TRANSPORT, -1, NULL);
	} else {
		send_b_invite(c);
	}
	call_unref(c);
}

/* Resolves the current route's DNS name, then sends the INVITE. */
static void resolve_b(b2b_cl *c)
{
	sig_worker *w = c->wk->w;
	if (!w->dns &&
	    sig_dns_create(&w->loop, w->srv->cfg.dns_servers[0] ? w->srv->cfg.dns_servers : NULL, &w->dns) < 0) {
		w->dns = NULL;
		attempt_failed(c, B2B_FO_LOCAL_TRANSPORT, -1, NULL);
		return;
	}
	c->refs++; /* held until dns_cb */
	int r = sig_dns_resolve(w->dns, c->b_host, c->b_port, c->b_tpreq, 0, dns_cb, c);
	if (r < 0) {
		attempt_failed(c, B2B_FO_LOCAL_TRANSPORT, -1, NULL);
		call_unref(c);
	}
}

void send_b_invite(b2b_cl *c)
{
	b2b_wk *k = c->wk;
	if (c->b_need_dns) {
		resolve_b(c);
		return;
	}
	const store_route *rt = &c->routes[c->cur];
	char num[STORE_NUMBER_MAX + 1], host[SBC_ADDR_STRLEN + 2], dhost[SBC_ADDR_STRLEN + 2];
	char ruri[B2B_HDR_MAX + 1], to[B2B_HDR_MAX + 1], contact[160], branch[B2B_BRANCH_MAX];
	/* a delayed offer goes on without SDP (B's 2xx makes the offer) */
	int bl = c->a_no_offer ? 0 : b2b_sdp_build_offer(&c->sdp, &c->a_sdp, c->relay[1], k->body, sizeof(k->body));
	if (bl < 0) {
		fail_a(c, 500, NULL);
		return;
	}
	if (b2b_route_number(rt, c->number, num) < 0) {
		attempt_failed(c, 404, -1, NULL);
		return;
	}
	copy_s(c->number_out, sizeof(c->number_out), num);
	host_of(&c->b_dst, dhost, sizeof(dhost));
	host_of(&c->b_local, host, sizeof(host));
	const char *tpp = tp_uri_param(c->b_tp);
	size_t un = put_s(ruri, sizeof(ruri), 0, "sip:");
	un = put_s(ruri, sizeof(ruri), un, num);
	un = put_s(ruri, sizeof(ruri), un, "@");
	un = put_s(ruri, sizeof(ruri), un, dhost);
	un = put_s(ruri, sizeof(ruri), un, ":");
	un = put_u(ruri, sizeof(ruri), un, sbc_addr_port(&c->b_dst));
	put_s(ruri, sizeof(ruri), un, tpp);
	un = put_s(to, sizeof(to), 0, "<sip:");
	un = put_s(to, sizeof(to), un, num);
	un = put_s(to, sizeof(to), un, "@");
	un = put_s(to, sizeof(to), un, dhost);
	put_s(to, sizeof(to), un, ">");
	contact_of(contact, sizeof(contact), host, sbc_addr_port(&c->b_local), tpp);
	new_branch(k, branch, sizeof(branch));
	token(k, "b", c->b_tag, sizeof(c->b_tag));
	char cid[48];
	token(k, "", cid, sizeof(cid));
	un = put_s(c->b_callid, sizeof(c->b_callid), 0, cid);
	un = put_s(c->b_callid, sizeof(c->b_callid), un, "@");
	put_s(c->b_callid, sizeof(c->b_callid), un, host);
	b2b_bleg_spec s = {.request_uri = ruri,
			   .via = {.transport = tp_via(c->b_tp), .host = host, .port = sbc_addr_port(&c->b_local),
				   .branch = branch},
			   .local_host = host,
			   .from_tag = c->b_tag,
			   .to_value = to,
			   .call_id = c->b_callid,
			   .cseq = 1,
			   .contact = contact,
			   .body = {.type = "application/sdp", .data = k->body, .len = (size_t)bl},
			   /* a delayed offer: B's offer must not come in a reliable
			    * provisional (refused in b2b_on_response), so 100rel is not
			    * offered to B unless A requires it */
			   .no_100rel = c->a_no_offer};
	int n = b2b_build_bleg_invite(&c->a, &s, k->out, sizeof(k->out), c->b_from, sizeof(c->b_from));
	if (n < 0) {
		int st = sbc_err_sip_status(n);
		c->b_callid[0] = 0;
		fail_a(c, st ? st : 500, NULL);
		return;
	}
	b2b_dialog_uac_init(&c->db, c->b_callid, c->b_tag, c->b_from, to, ruri, 1);
	cid_link(c, 1);
	tx_ctx *x = ctx_new(k);
	if (!x) {
		fail_a(c, 503, NULL);
		return;
	}
	x->tp = c->b_tp;
	x->conn = c->b_conn;
	x->dst = c->b_dst;
	copy_s(x->profile, sizeof(x->profile), c->b_profile);
	ctx_bind(x, c, CTX_B_INVITE);
	int r = b2b_client_start(k, k->out, (size_t)n, c->b_tp != SIG_TP_UDP, x);
	if (r < 0) {
		ctx_free(x);
		if (c->b_conn && !c->b_no_reuse) {
			/* the trunk's own connection is gone: the same route over a
			 * connection of ours */
			SBC_INFO("call %" PRIx64 ": trunk %s: its connection failed (%s): sending out", c->id,
				 c->trunk_out, sbc_strerror(r));
			inbound_forget(c->trunk_out, c->b_conn);
			cid_unlink(c, 1);
			c->b_callid[0] = 0;
			c->b_no_reuse = 1; /* until attempt_failed moves on */
			c->cur--;
			if (next_route(c) == 0) {
				send_b_invite(c);
				return;
			}
		}
		trunk_count(k, c->trunk_out, SIG_TS_transport_errors);
		attempt_failed(c, B2B_FO_LOCAL_TRANSPORT, -1, NULL);
		return;
	}
	c->b_txn = x->t;
	c->state = CS_CALLING;
	x->due[T_NO_RESPONSE] = now_ms(k) + no_response_ms(k);
	ctx_reschedule(x);
}

static uint64_t body_hash(sip_sv b) { return sip_hash64(b.p, b.n); /* never 0 */ }

/* Whether rsp carries a B answer other than the one applied: the first
 * one, or a 2xx whose SDP differs from the early answer's (another fork
 * answered, or the carrier moved its media for the answer). */
static int b_answer_new(const b2b_cl *c, const sip_msg *rsp)
{
	if (c->b_upd_oa)
		return 0; /* an early UPDATE's exchange superseded the early answer: the 2xx brings none (RFC 3311 5.1) */
	return !c->b_sdp_done || (rsp->body.n && body_hash(rsp->body) != c->b_sdp_hash);
}

/* B's SDP answer: checks it, completes and sends the media sessions, and
 * builds the answer toward A (kept in c->a_answer). Returns 0 or an error. */
static int b_answer(b2b_cl *c, const sip_msg *rsp)
{
	b2b_wk *k = c->wk;
	static _Thread_local sdp_session sb;
	int r = sdp_parse(rsp->body.p, rsp->body.n, &sb);
	if (r < 0)
		return sbc_err_sip(488);
	if (c->b_sdp_done) {
		/* a second answer to the same offer: the media messages lost A's
		 * keys when the first went out; A's side again, B's anew */
		for (unsigned i = 0; i < c->sdp.n_media && i < SDP_MAX_MEDIA; i++)
			if (c->msgs[i].session_id && c->sdp.s[i].active &&
			    b2b_media_fill_leg(&c->msgs[i].leg[0], &c->a_sdp, i, &c->sdp.s[i].off_res, 1) < 0)
				return sbc_err_sip(500);
	}
	r = b2b_sdp_answer(&c->sdp, &sb, c->msgs);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++) {
		if (!c->msgs[i].session_id)
			continue;
		c->msgs[i].request_id = c->msgs[i].session_id;
		if (media_push(k, c->media_w, SBC_MSG_MEDIA_UPDATE, &c->msgs[i], sizeof(c->msgs[i])) < 0)
			return sbc_err_sip(503);
		b2b_media_wipe(&c->msgs[i]);
	}
	r = b2b_sdp_build_answer(&c->sdp, &sb, c->relay[0], c->a_answer, sizeof(c->a_answer));
	if (r < 0)
		return sbc_err_sip(500);
	c->a_answer_len = r;
	c->b_sdp_done = 1;
	c->b_sdp_hash = body_hash(rsp->body);
	return 0;
}

void mirror_to_a(b2b_cl *c, const sip_msg *rsp, int with_body)
{
	b2b_wk *k = c->wk;
	char host[SBC_ADDR_STRLEN + 2], contact[160];
	if (!c->a_txn)
		return;
	host_of(&c->a_local, host, sizeof(host));
	contact_of(contact, sizeof(contact), host, sbc_addr_port(&c->a_local), tp_uri_param(c->a_tp));
	b2b_resp_spec rs = {.to_tag = c->a_tag, .contact = contact, .local_host = host};
	if (with_body && c->a_answer_len > 0)
		rs.body = (b2b_body){.type = "application/sdp", .data = c->a_answer, .len = (size_t)c->a_answer_len};
	int n = b2b_build_mirrored_response(&c->a, rsp, &rs, k->out, sizeof(k->out));
	if (n > 0)
		txn_respond(k->tbl, c->a_txn, rsp->status, k->out, (size_t)n);
}

/* Sends the non-INVITE request in buf as a client transaction of no call,
 * toward the peer of ctx x (same transport, connection, destination and
 * TLS profile). Returns 0 or an error. */
static int request_like(b2b_wk *k, const tx_ctx *x, const char *buf, size_t n)
{
	tx_ctx *y = ctx_new(k);
	if (!y)
		return -ENOMEM;
	y->tp = x->tp;
	y->conn = x->conn;
	y->dst = x->dst;
	copy_s(y->profile, sizeof(y->profile), x->profile);
	ctx_bind(y, NULL, CTX_OTHER);
	int r = b2b_client_start(k, buf, n, x->tp != SIG_TP_UDP, y);
	if (r < 0)
		ctx_free(y);
	return r;
}

/* CANCEL for the B-leg INVITE of ctx x (at most once): built from the
 * INVITE as sent, to the same destination. */
void cancel_b_invite(b2b_wk *k, tx_ctx *x, const char *const *rsn, unsigned n_rsn)
{
	size_t rl = 0;
	sip_sv ex[RSN_LINES];
	const char *q = x->t ? txn_request(x->t, &rl) : NULL;
	if (x->cancel_sent || !q || sip_parse(q, rl, &k->tmp) < 0)
		return;
	/* rsn: the Reason lines (RFC 3326) of the caller's CANCEL, or ours */
	for (unsigned i = 0; i < n_rsn && i < RSN_LINES; i++)
		ex[i] = sip_sv_from(rsn[i], strlen(rsn[i]));
	int n = sip_build_cancel_ex(&k->tmp, ex, n_rsn < RSN_LINES ? n_rsn : RSN_LINES, k->out, sizeof(k->out));
	if (n > 0 && request_like(k, x, k->out, (size_t)n) == 0) {
		x->cancel_sent = 1;
		/* a peer that neither answers the INVITE nor the CANCEL would
		 * keep the transaction (Proceeding has no timer) and this ctx
		 * for ever: it ends 64*T1 from now (RFC 3261 9.1) */
		txn_client_cancelled(k->tbl, x->t);
	}
}

static int sv_to_str(sip_sv v, char *out, size_t cap)
{
	if (!v.p || v.n >= cap)
		return -ENOSPC;
	memcpy(out, v.p, v.n);
	out[v.n] = 0;
	return 0;
}

/* A 2xx to a B-leg INVITE we no longer want: an attempt given up (failover
 * after no answer in time, an early answer refused), one answered while
 * our CANCEL was on its way, one for a call that has ended, or a second
 * fork's 2xx after the call was answered by another. The UAS holds a
 * dialog and retransmits the 2xx until it is ACKed (32 s over UDP): ACK it
 * and end that dialog with BYE (RFC 3261 13.2.2.4). The dialog is built
 * from the INVITE as sent and this 2xx, never from the call's current B
 * leg, which may be another attempt's. Retransmissions are ACKed again; the
 * BYE goes once per To tag. */
static void hangup_stray_2xx(b2b_wk *k, tx_ctx *x, const sip_msg *rsp)
{
	static _Thread_local b2b_dialog d;
	char cid[B2B_ID_MAX + 1], ftag[B2B_ID_MAX + 1], from[B2B_HDR_MAX + 1], to[B2B_HDR_MAX + 1];
	char ruri[B2B_HDR_MAX + 1], branch[B2B_BRANCH_MAX], host[SBC_ADDR_STRLEN + 2];
	size_t rl = 0;
	const char *q = x->t ? txn_request(x->t, &rl) : NULL;
	sbc_addr local;
	if (!q || !rsp->to.has_tag || sip_parse(q, rl, &k->tmp) < 0 || b2b_local_for(k, x->tp, &x->dst, &local) < 0)
		return;
	const sip_msg *inv = &k->tmp;
	if (sv_to_str(inv->call_id, cid, sizeof(cid)) < 0 || sv_to_str(inv->from.tag, ftag, sizeof(ftag)) < 0 ||
	    sv_to_str(inv->from.raw, from, sizeof(from)) < 0 || sv_to_str(inv->to.raw, to, sizeof(to)) < 0 ||
	    sv_to_str(inv->ruri_text, ruri, sizeof(ruri)) < 0 ||
	    b2b_dialog_uac_init(&d, cid, ftag, from, to, ruri, inv->cseq) < 0)
		return;
	int r = b2b_dialog_uac_update(&d, rsp);
	if (r < 0 && r != -E2BIG) /* a route set too long for a dialog still gets its ACK and BYE */
		return;
	uint32_t tag = hash_sv(rsp->to.tag) | 0x80000000u; /* never 0 */
	int bye = x->stray_tag != tag;
	x->stray_tag = tag;
	host_of(&local, host, sizeof(host));
	new_branch(k, branch, sizeof(branch));
	b2b_via via = {.transport = tp_via(x->tp), .host = host, .port = sbc_addr_port(&local), .branch = branch};
	/* A 2xx to our INVITE without SDP (a delayed offer) carries the
	 * offer: the ACK answers it, declining every stream, before the BYE
	 * (RFC 3261 13.2.2.4), as for the attempt that was the call's */
	b2b_body decline, *ab = NULL;
	if (!inv->body.n && rsp->body.n) {
		static _Thread_local sdp_session offer;
		static _Thread_local b2b_sdp origin_only; /* b2b_sdp_build_decline reads its o= only */
		if (sdp_parse(rsp->body.p, rsp->body.n, &offer) == 0) {
			b2b_sdp_init(&origin_only, NULL, NULL, NULL, NULL, NULL, tag);
			int bl = b2b_sdp_build_decline(&origin_only, 1, &offer, &local, k->body, sizeof(k->body));
			if (bl > 0) {
				decline = (b2b_body){.type = "application/sdp", .data = k->body, .len = (size_t)bl};
				ab = &decline;
			}
		}
	}
	/* the route set straight from the 2xx: any number of Record-Route */
	int n = b2b_build_in_dialog_rr(&d, rsp, SIP_M_ACK, &via, ab, k->out, sizeof(k->out));
	if (n > 0)
		send_to(k, x->tp, x->conn, &x->dst, x->profile, k->out, (size_t)n);
	else
		SBC_WARN("2xx on an INVITE given up (Call-ID %s): no ACK (%s)", cid, sbc_strerror(n));
	if (!bye)
		return;
	SBC_NOTICE("2xx from %s on an INVITE given up (Call-ID %s): ACK and BYE", sig_tp_name(x->tp), cid);
	new_branch(k, branch, sizeof(branch));
	n = b2b_build_in_dialog_rr(&d, rsp, SIP_M_BYE, &via, NULL, k->out, sizeof(k->out));
	if (n > 0)
		request_like(k, x, k->out, (size_t)n);
}

void b2b_on_response(void *ctx, txn *t, const sip_msg *rsp)
{
	tx_ctx *x = txn_user(t);
	(void)ctx;
	if (x && x->role == CTX_B_INVITE && rsp->status < 200 && x->call && t == x->call->b_txn) {
		/* the peer is there: now it has no_answer_ms from each provisional
		 * to answer (Timer C is reset by every one, RFC 3261 16.7) */
		x->due[T_NO_RESPONSE] = now_ms(x->wk) + no_answer_ms(x->wk);
		ctx_reschedule(x);
	} else if (x && x->due[T_NO_RESPONSE]) {
		x->due[T_NO_RESPONSE] = 0; /* a final response: nothing more to wait for */
		ctx_reschedule(x);
	}
	if (x && x->role == CTX_PING) {
		if (rsp->status >= 200 && x->ping >= 0 && (unsigned)x->ping < x->wk->n_health) {
			x->wk->health[x->ping].busy = 0;
			health_record(x->wk, x->ping, rsp->status, b2b_retry_after(rsp));
			x->ping = -1;
		}
		return;
	}
	if (x && x->role == CTX_REINV_OUT && x->call) {
		reinv_response(x->call, t, rsp);
		return;
	}
	if (!x || x->role != CTX_B_INVITE)
		return;
	int st = rsp->status;
	if (!x->call) {
		/* the call has ended (call_reap): as for an attempt given up below */
		if (st >= 200 && st < 300)
			hangup_stray_2xx(x->wk, x, rsp);
		else if (st > 100 && st < 200)
			cancel_b_invite(x->wk, x, NULL, 0);
		return;
	}
	b2b_cl *c = x->call;
	b2b_wk *k = c->wk;
	if (t != c->b_txn || c->state == CS_ENDED || c->cancelled) {
		/* an attempt given up (next route, no answer in time, CANCEL sent,
		 * the call ended): a 2xx is ACKed and hung up; a ringing one is
		 * cancelled, which it could not be before it answered at all */
		if (st >= 200 && st < 300)
			hangup_stray_2xx(k, x, rsp);
		else if (st > 100 && st < 200)
			cancel_b_invite(k, x, NULL, 0);
		return;
	}
	if (st == 100)
		return;
	if (st < 200) {
		if (b2b_dialog_uac_update(&c->db, rsp) == SBC_E_EXISTS)
			return; /* another fork: ignored */
		if (c->a_no_offer && rsp->body.n && sip_hdr_get(rsp, SIP_H_RSEQ, 0)) {
			/* a reliable provisional (RSeq, RFC 3262) with SDP to our
			 * INVITE without: the offer, whose answer would go in our
			 * PRACK. Not supported (the caller's PRACK is relayed, not
			 * built from an answer of ours): the attempt is CANCELled
			 * and fails over like a 502 */
			SBC_NOTICE("call %" PRIx64 ": %s offered in a reliable provisional to a delayed-offer INVITE: refused",
				   c->id, c->trunk_out);
			cancel_b_invite(k, x, NULL, 0);
			c->attempt_why = "offer in a reliable provisional (not supported)";
			attempt_failed(c, B2B_FO_LOCAL_OFFER, -1, NULL);
			return;
		}
		int body = 0;
		/* (an unreliable provisional cannot carry the offer, RFC 3261
		 * 13.2.1: its SDP, if any, is not relayed) */
		if (rsp->body.n && !c->b_sdp_done && !c->a_no_offer) {
			int r = b_answer(c, rsp);
			if (r < 0) {
				/* the early answer broke the policy: give up this attempt */
				SBC_NOTICE("call %" PRIx64 ": early answer from %s refused (%d)", c->id, c->trunk_out,
					   sbc_err_sip_status(r));
				const char *rsn = RSN_SRTP;
				cancel_b_invite(k, x, &rsn, 1);
				attempt_failed(c, B2B_FO_LOCAL_SRTP, -1, NULL);
				return;
			}
		}
		body = c->b_sdp_done;
		if (body && rsp->body.n && rsp->first[SIP_H_RSEQ] >= 0)
			c->b_sdp_rel = 1; /* only a reliable provisional completes it (RFC 3262 5, RFC 3311 5.1) */
		c->state = CS_EARLY;
		mirror_to_a(c, rsp, body);
		return;
	}
	if (st < 300) {
		if (c->state == CS_CONFIRMED || c->b_ack_due || c->dly) {
			if (rsp->to.has_tag && !sip_sv_eq(rsp->to.tag, c->db.remote_tag)) {
				hangup_stray_2xx(k, x, rsp); /* a second fork answered too */
				return;
			}
			/* b_ack_due / dly: B's 2xx again while its offer is with A
			 * (our 2xx to A, retransmitted by A's transaction, or the
			 * media sessions for it being made): absorbed, the ACK goes
			 * with A's answer (dly_answer); after B's BYE, absorbed too
			 * (taken as a new answer it made a second offer exchange) */
			if (c->b_ack && !c->b_ack_due) /* retransmitted 2xx: ACK again */
				send_to(c->wk, c->b_tp, c->b_conn, &c->b_dst, c->b_profile, c->b_ack, c->b_ack_len);
			return;
		}
		int dr = b2b_dialog_uac_update(&c->db, rsp), fork = dr == SBC_E_EXISTS;
		if (fork && c->b_upd_oa) {
			/* another fork answers, which never saw the early UPDATE
			 * that moved the session: ACKed and hung up, the fork that
			 * holds the session may still answer */
			hangup_stray_2xx(k, x, rsp);
			return;
		}
		if (fork) {
			/* answered by another fork than the one that rang: its 2xx
			 * makes the dialog (the early one is forgotten) */
			dr = b2b_dialog_uac_take_fork(&c->db, rsp);
		}
		if ((fork && dr < 0) || dr == -E2BIG) {
			/* a dialog we cannot hold (another fork's we cannot take,
			 * more Record-Route than a dialog keeps): ACKed and BYEd on
			 * the 2xx's own route set, the call goes on to the next route */
			SBC_NOTICE("call %" PRIx64 ": 2xx from %s not taken (%s)", c->id, c->trunk_out,
				   dr == -E2BIG ? "route set too long" : "another fork's");
			hangup_stray_2xx(k, x, rsp);
			attempt_failed(c, 500, -1, NULL);
			return;
		}
		if (c->a_no_offer) {
			b_offer(c, x, rsp);
			return;
		}
		leg_request(c, 1, SIP_M_ACK);
		if (b_answer_new(c, rsp)) {
			int r = rsp->body.n ? b_answer(c, rsp) : sbc_err_sip(488);
			if (r < 0) {
				SBC_NOTICE("call %" PRIx64 ": answer from %s refused (%d)", c->id, c->trunk_out,
					   sbc_err_sip_status(r));
				leg_bye(c, 1, RSN_SRTP);
				/* its retransmissions are ACKed as strays, not BYEd twice */
				x->stray_tag = hash_sv(rsp->to.tag) | 0x80000000u;
				attempt_failed(c, B2B_FO_LOCAL_SRTP, -1, NULL);
				return;
			}
		}
		c->state = CS_CONFIRMED;
		media_drop_declined(c); /* the answer is final now */
		c->answer_ms = b2b_wall_ms();
		session_timer_arm(c, rsp);
		mirror_to_a(c, rsp, 1);
		call_event(c, "answer", 200, NULL);
		c->wk->st.answered++;
		SBC_INFO("call %" PRIx64 ": answered by %s", c->id, c->trunk_out);
		return;
	}
	attempt_failed(c, st, b2b_retry_after(rsp), rsp);
}

void b2b_on_timeout(void *ctx, txn *t)
{
	tx_ctx *x = txn_user(t);
	(void)ctx;
	if (x && x->role == CTX_PING && x->ping >= 0 && (unsigned)x->ping < x->wk->n_health) {
		x->wk->health[x->ping].busy = 0;
		health_record(x->wk, x->ping, 0, -1); /* Timer F (an ICMP error never fails a ping) */
		x->ping = -1;
		return;
	}
	if (!x || !x->call)
		return;
	b2b_cl *c = x->call;
	if (x->role == CTX_REINV_OUT && c->ri && c->ri->out == t) {
		reinv_answer(c, NULL, 408, NULL, 0);
		reinv_done(c);
		return;
	}
	if (x->role == CTX_REINV_IN && c->ri && c->ri->in == t && c->ri->await_ack && c->state == CS_CONFIRMED) {
		/* our 2xx with a delayed offer never ACKed (Timer L/H): the
		 * other leg's 2xx gets its ACK (no answer to give), the call ends */
		int leg = c->ri->leg;
		leg_request(c, 1 - leg, SIP_M_ACK);
		reinv_done(c);
		leg_bye(c, 0, RSN_NO_ACK);
		leg_bye(c, 1, RSN_NO_ACK);
		call_end(c, 408, "no ACK");
		return;
	}
	if (x->role == CTX_B_INVITE && t == c->b_txn && c->state != CS_CONFIRMED && c->state != CS_ENDED) {
		if (x->lost) {
			/* RFC 3261 8.1.3.1: a transport error counts as a 503 from
			 * that target, and the trunk's health as a failed ping
			 * where pings can bring it back; not one an ICMP error
			 * reported: its source is not checked, and a forged one
			 * must not mark a live trunk down for every call */
			if (!x->lost_icmp && trunk_pinged(c->wk, c->trunk_out))
				health_record(c->wk, health_idx(c->wk, c->trunk_out, 1), 0, -1);
			trunk_count(c->wk, c->trunk_out, SIG_TS_transport_errors);
			attempt_failed(c, B2B_FO_LOCAL_TRANSPORT, -1, NULL);
			return;
		}
		trunk_count(c->wk, c->trunk_out, SIG_TS_timeouts); /* Timer B */
		attempt_failed(c, B2B_FO_LOCAL_TIMEOUT, -1, NULL);
	} else if (x->role == CTX_A_INVITE && c->state == CS_CONFIRMED && c->bye_a_held) {
		/* the call ended, A never ACKed: the held BYE goes now (RFC 3261 15) */
		bye_a_held_send(c);
	} else if (x->role == CTX_A_INVITE && c->state == CS_CONFIRMED) {
		/* A never ACKed our 2xx (Timer L/H): end the call. With our
		 * delayed offer unanswered, B's 2xx gets its ACK first
		 * (leg_request_ex) and A a BYE too, as for a re-INVITE's */
		if (c->dly)
			leg_bye(c, 0, RSN_NO_ACK);
		leg_bye(c, 1, RSN_NO_ACK);
		call_end(c, 408, "no ACK");
	}
}

/* Toward A we are the callee's UA, which must not send BYE before A's ACK
 * to our 2xx arrived or that transaction timed out (RFC 3261 15). */
int bye_a_must_wait(const b2b_cl *c) { return !c->a_acked && c->a_txn; }

/* The call ended (B's BYE, call.hangup, a media or session timeout) before
 * A's ACK: our BYE to A waits for it (b2b_on_ack, or b2b_on_timeout at
 * Timer H/L: bye_a_held_send), and the call ends then with cause and
 * reason (copied). The Reason lines are copied, only on this rare path
 * (the call object carries no buffer for them); a copy that cannot be made
 * leaves the held BYE without Reason. */
void bye_a_hold(b2b_cl *c, const char *const *rl, unsigned n, int cause, const char *reason)
{
	size_t len = 0;
	c->bye_a_held = 1;
	c->held_cause = (int16_t)cause;
	snprintf(c->held_reason, sizeof(c->held_reason), "%s", reason ? reason : "");
	for (unsigned i = 0; i < n; i++)
		len += strlen(rl[i]) + 1;
	free(c->held_rsn);
	c->held_rsn = n ? malloc(len) : NULL;
	c->held_rsn_n = 0;
	if (!c->held_rsn)
		return;
	for (size_t at = 0; c->held_rsn_n < n; c->held_rsn_n++) {
		size_t l = strlen(rl[c->held_rsn_n]) + 1;
		memcpy(c->held_rsn + at, rl[c->held_rsn_n], l);
		at += l;
	}
}

/* The BYE toward A held for its ACK (or its transaction's end), with the
 * held Reason; the call ends with the held cause and reason. */
void bye_a_held_send(b2b_cl *c)
{
	const char *rl[RSN_LINES];
	unsigned n = 0;
	c->bye_a_held = 0;
	for (const char *p = c->held_rsn; p && n < c->held_rsn_n && n < RSN_LINES; p += strlen(p) + 1)
		rl[n++] = p;
	leg_request_ex(c, 0, SIP_M_BYE, rl, n, NULL);
	call_end(c, c->held_cause, c->held_reason);
}

/* A's ACK to our 2xx (the first, or a repeat): a BYE of B's held for it
 * (b2b_in_dialog) goes to A now. An ACK to our 2xx to a re-INVITE may carry the
 * answer to a delayed offer (reinv_ack). */
void b2b_on_ack(void *ctx, txn *t, const sip_msg *ack)
{
	tx_ctx *x = txn_user(t);
	(void)ctx;
	if (x && x->role == CTX_REINV_IN && x->call) {
		reinv_ack(x->call, t, ack);
		return;
	}
	if (!x || x->role != CTX_A_INVITE || !x->call || x->call->a_txn != t)
		return;
	b2b_cl *c = x->call;
	c->a_acked = 1;
	if (c->bye_a_held && c->state == CS_CONFIRMED) {
		bye_a_held_send(c);
	} else if (c->dly && c->dly->await_ack && c->state == CS_CONFIRMED) {
		dly_answer(c, ack); /* the first ACK has A's answer to our delayed offer */
	}
}

/* ---- transport errors found after the send returned ---------------------------
 * The transport reports bytes it had accepted but could not deliver: an
 * outbound connection refused, timed out or whose TLS handshake failed, a
 * write error at the batch flush, a UDP datagram the kernel refused then.
 * Every client transaction toward that destination (or on that
 * connection) still without a response had its request in those bytes:
 * each gets a transport error now (17.1.4), which fails a B-leg INVITE
 * over to the next route (as a 503, b2b_on_timeout) and counts a ping as
 * failed, instead of waiting for no_response_ms or Timer B/F.
 * One pass over the worker's contexts per distinct peer and iteration
 * (sig_batch_lost merges repeats): a failure path, not per message. An
 * ICMP error names the one transaction it quotes: a table lookup. */
#define B2B_LOST_MAX 256

/* a v4-mapped IPv6 address compares equal to the IPv4 one (sig_udp.c
 * unmaps what the kernel reports; a destination could be configured so) */
static int addr_same(const sbc_addr *a, const sbc_addr *b)
{
	sbc_addr x = *a, y = *b;
	sbc_addr_unmap(&x);
	sbc_addr_unmap(&y);
	return sbc_addr_equal(&x, &y);
}

static int ctx_lost_match(const tx_ctx *x, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn,
			  uint64_t at_ns)
{
	/* started after the loss was found: its request went out on a new
	 * connection (or is a new datagram), not in the bytes lost */
	if (!x->t || !x->sent_ns || x->sent_ns > at_ns)
		return 0;
	if (x->role != CTX_B_INVITE && x->role != CTX_PING && x->role != CTX_OTHER && x->role != CTX_REINV_OUT)
		return 0;
	enum txn_state st = txn_get_state(x->t);
	if (st != TXN_S_CALLING && st != TXN_S_TRYING)
		return 0; /* a response came: the request was delivered */
	if (x->conn)
		return conn && x->conn == conn;
	return x->tp == tp && addr_same(&x->dst, dst);
}

void b2b_send_failed(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
			uint64_t at_ns, const sig_icmp_quote *icmp)
{
	b2b_wk *k = *sig_worker_user(w);
	tx_ctx *hit[B2B_LOST_MAX];
	unsigned n = 0;
	if (!k)
		return;
	if (icmp) {
		/* the transaction whose branch the ICMP quotes, if it is ours,
		 * toward that peer and still without a response */
		sip_sv branch = sip_sv_from(icmp->branch, strlen(icmp->branch));
		txn *t = txn_find_client(k->tbl, sip_sv_from(icmp->method, strlen(icmp->method)), branch);
		int owner = t ? -1 : b2b_token_owner(branch, 7);
		if (owner >= 0 && (unsigned)owner != sig_worker_index(w)) {
			/* the ICMP landed on this worker's socket (SO_REUSEPORT
			 * hashes it like a datagram from the peer); the request
			 * is the owner's: its own lookup decides there */
			sig_forward_icmp(w, (unsigned)owner, dst, err, icmp);
			return;
		}
		tx_ctx *x = t ? txn_user(t) : NULL;
		/* a ping goes on: it is there to find out whether the trunk
		 * answers, and only its own timeout (Timer F) says it does not */
		if (!x || x->role == CTX_PING || !ctx_lost_match(x, tp, dst, conn, at_ns))
			return;
		if (sbc_log_enabled(SBC_LOG_INFO)) {
			char a[SBC_ADDR_STRLEN];
			SBC_INFO("%s %s to %s: ICMP %s: its transaction fails now", icmp->method, icmp->branch,
				 sbc_addr_format(dst, a, sizeof(a)), sbc_strerror(err));
		}
		x->lost = 1;
		x->lost_icmp = 1;
		txn_transport_error(k->tbl, x->t);
		return;
	}
	for (tx_ctx *x = k->ctxs; x && n < B2B_LOST_MAX; x = x->next)
		if (ctx_lost_match(x, tp, dst, conn, at_ns))
			hit[n++] = x;
	if (n && sbc_log_enabled(SBC_LOG_INFO)) {
		char a[SBC_ADDR_STRLEN];
		SBC_INFO("%s to %s failed (%s): %u transaction(s) fail now", sig_tp_name(tp),
			 sbc_addr_format(dst, a, sizeof(a)), sbc_strerror(err), n);
	}
	/* a failover may free ctxs (kept until wk_flush) or end others' calls:
	 * each is checked again before its turn */
	for (unsigned i = 0; i < n; i++) {
		tx_ctx *x = hit[i];
		if (!ctx_lost_match(x, tp, dst, conn, at_ns))
			continue;
		x->lost = 1;
		txn_transport_error(k->tbl, x->t);
	}
}
