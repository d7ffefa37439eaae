/* sbc-signal — B2BUA engine: call records and call end.
 *
 * Call events (the JSON lines sig_call_event hands on), the end of a call
 * (call_end, call_reap, the per-iteration flush wk_flush), the requests a
 * call sends on its own dialogs (leg_request_ex: BYE, ACK and the like),
 * responses to A's INVITE, and our first SDP offer (make_offer).
 *
 * Caveats:
 *  1. Worker-thread only.
 *  2. call_end writes the record and lets go of the call's media, limits
 *     and ids, then queues it on k->ended; its own reference goes in
 *     call_reap (wk_flush, end of the loop iteration), which detaches its
 *     transactions: callers up the stack may still look at it. */
#include "b2b_engine.h"

#include <inttypes.h>
#include <openssl/mem.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b2b_call.h"
#include "b2b_engine-int.h"
#include "b2b_limits.h"
#include "b2b_sdp.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/store.h"
#include "sip_build.h"
#include "sip_msg.h"
#include "sig_dns.h"
#include "sig_sip.h"
#include "sig_worker.h"
#include "txn_layer.h"

/* ---- call records ----------------------------------------------------------- */

uint64_t b2b_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define buf_lit(b, lit) sip_buf_put((b), (lit), sizeof(lit) - 1)

/* call records are appended piece by piece: three per call, no printf */
static void json_cstr(sip_buf *b, const char *s) { sip_buf_json(b, s ? s : "", s ? strlen(s) : 0); }

/* A call's name in call records, "<worker>-<id in hex>" (call.get and
 * call.hangup take it), appended to b without printf. */
static void call_name_put(sip_buf *b, const b2b_cl *c)
{
	char h[16];
	size_t i = sizeof(h);
	uint64_t v = c->id;
	sip_buf_u64(b, sig_worker_index(c->wk->w));
	buf_lit(b, "-");
	do
		h[--i] = "0123456789abcdef"[v & 15];
	while ((v >>= 4) && i);
	sip_buf_put(b, h + i, sizeof(h) - i);
}

/* One call record event to sbc-control: never any key material. */
void call_event(b2b_cl *c, const char *ev, int cause, const char *reason)
{
	b2b_wk *k = c->wk;
	char text[1024];
	sip_buf b;
	sip_buf_init(&b, text, sizeof(text));
	buf_lit(&b, "{\"event\":");
	json_cstr(&b, ev);
	buf_lit(&b, ",\"id\":\"");
	call_name_put(&b, c);
	buf_lit(&b, "\",\"time_ms\":");
	sip_buf_u64(&b, b2b_wall_ms());
	buf_lit(&b, ",\"start_ms\":");
	sip_buf_u64(&b, c->start_ms);
	if (c->answer_ms) {
		buf_lit(&b, ",\"answer_ms\":");
		sip_buf_u64(&b, c->answer_ms);
	}
	buf_lit(&b, ",\"trunk_in\":");
	json_cstr(&b, c->trunk_in);
	buf_lit(&b, ",\"trunk_out\":");
	json_cstr(&b, c->trunk_out);
	buf_lit(&b, ",\"from\":");
	sip_buf_json(&b, c->a.from.uri.user.p ? c->a.from.uri.user.p : "", c->a.from.uri.user.n);
	buf_lit(&b, ",\"to_in\":");
	sip_buf_json(&b, c->a.ruri.user.p ? c->a.ruri.user.p : "", c->a.ruri.user.n);
	buf_lit(&b, ",\"to\":");
	json_cstr(&b, c->number);
	buf_lit(&b, ",\"to_out\":");
	json_cstr(&b, c->number_out);
	if (cause) {
		buf_lit(&b, ",\"cause\":");
		if (cause < 0)
			buf_lit(&b, "-");
		sip_buf_u64(&b, cause < 0 ? -(uint64_t)cause : (uint64_t)cause);
	}
	if (reason) {
		buf_lit(&b, ",\"reason\":");
		json_cstr(&b, reason);
	}
	if (c->q850 > 0 && !strcmp(ev, "end")) { /* RFC 3326: what carriers bill by */
		buf_lit(&b, ",\"q850\":");
		sip_buf_u64(&b, (uint64_t)c->q850);
	}
	if (c->b_sdp_done) {
		buf_lit(&b, ",\"srtp_in\":\"");
		sip_buf_str(&b, store_srtp_suite_name(b2b_sdp_suite(&c->sdp, 0)));
		buf_lit(&b, "\",\"srtp_out\":\"");
		sip_buf_str(&b, store_srtp_suite_name(b2b_sdp_suite(&c->sdp, 1)));
		buf_lit(&b, "\"");
	}
	buf_lit(&b, "}");
	int n = sip_buf_end(&b);
	if (n > 0)
		sig_call_event(k->w, text, (size_t)n);
}

void call_end(b2b_cl *c, int cause, const char *reason)
{
	if (c->state == CS_ENDED)
		return;
	b2b_wk *k = c->wk;
	/* A request of either leg still being relayed gets its final now,
	 * however the call ends (a BYE from either side, CANCEL, no route
	 * left, no ACK): RFC 3261 15.1.2, 487. The other leg's answer to our
	 * copy finds no call any more and is not relayed, and an INVITE
	 * server transaction without a final has no timer: it stayed in the
	 * table for good. c->ri itself goes with the call (call_free); one
	 * answered already is left as it is (txn_respond refuses). */
	if (c->ri && c->ri->in && !c->ri->await_ack)
		reinv_answer(c, NULL, 487, NULL, 0);
	/* the record names a reason for every failed call: ours when we chose
	 * the cause (no answer, SRTP policy...), else the status's phrase (a
	 * trunk's 503 relayed, our 488 or 404): a record with a bare cause
	 * only was the rule for failed calls before */
	if (!reason && cause >= 300)
		reason = sip_reason_phrase(cause);
	SBC_INFO("call %" PRIx64 ": ended (%d %s)", c->id, cause, reason ? reason : "");
	if (c->b_ack_due) {
		/* B's 2xx with a delayed offer is still waiting for A's answer
		 * (A cancelled or hung up, the media were refused...): B's
		 * dialog is ended too, its ACK first (leg_request_ex); its 2xx
		 * again is ACKed as a stray, not BYEd twice */
		tx_ctx *bx = c->b_txn ? txn_user(c->b_txn) : NULL;
		leg_request(c, 1, SIP_M_BYE);
		if (bx)
			bx->stray_tag = hash_sv(sip_sv_from(c->db.remote_tag, strlen(c->db.remote_tag))) | 0x80000000u;
	}
	call_event(c, "end", cause, reason);
	if (!c->answer_ms)
		k->st.failed++;
	if (k->st.active)
		k->st.active--;
	c->state = CS_ENDED;
	if (c->se_armed) {
		wheel_unlink(k, &c->se);
		c->se_armed = 0;
	}
	k->n_wait -= c->pending;
	c->pending = 0;
	c->new_pending = 0;
	media_delete_all(c);
	if (c->lim)
		b2b_limit_release(c->lim);
	c->lim = NULL;
	out_limit_drop(c);
	b2b_cl **pp = &k->by_id[c->id & (B2B_BUCKETS - 1)];
	while (*pp && *pp != c)
		pp = &(*pp)->id_next;
	if (*pp)
		*pp = c->id_next;
	cid_unlink(c, 0);
	cid_unlink(c, 1);
	/* the call's own reference goes in call_reap at the end of this
	 * iteration: callers up the stack may still look at c */
	c->id_next = k->ended;
	k->ended = c;
}

/* An ended call lets go of its transactions (they absorb retransmissions
 * on their own for up to 32 s) and of its own reference: the object is
 * recycled now, not when the last transaction timer fires. */
static void call_reap(b2b_cl *c)
{
	while (c->ctxs) {
		tx_ctx *x = c->ctxs;
		c->ctxs = x->cl_next;
		x->cl_next = x->cl_prev = NULL;
		x->call = NULL;
		if (x->role == CTX_B_INVITE && x->t && x->t == c->b_txn && c->answer_ms && c->db.remote_tag[0])
			/* the answered attempt (BYEd when the call ended): its 2xx
			 * again is ACKed as a stray (hangup_stray_2xx) but not BYEd
			 * twice. A 2xx of an attempt that was only ringing (crossing
			 * our CANCEL) still gets its BYE. */
			x->stray_tag = hash_sv(sip_sv_from(c->db.remote_tag, strlen(c->db.remote_tag))) | 0x80000000u;
		c->refs--;
	}
	call_unref(c);
}

/* Once per loop iteration (uv_prepare, before the loop blocks): publishes
 * what media_push wrote, then recycles the calls ended meanwhile. */
void wk_flush(b2b_wk *k)
{
	for (uint32_t due = k->hello_due; due; due &= due - 1)
		media_hello(k, (unsigned)__builtin_ctz(due));
	while (k->to_publish) {
		unsigned j = (unsigned)__builtin_ctz(k->to_publish);
		k->to_publish &= k->to_publish - 1;
		k->to_publish_lazy &= ~(1u << j); /* published with it */
		shm_ring_publish(&k->to_media[j]);
	}
	while (k->ended) {
		b2b_cl *c = k->ended;
		k->ended = c->id_next;
		c->id_next = NULL;
		call_reap(c);
	}
	ctx_release_dead(k, !k->stopping);
}

void b2b_flush_cb(uv_prepare_t *h) { wk_flush(h->data); }

/* A response on the A leg through its INVITE server transaction. */
void respond_a(b2b_cl *c, int status, const char *extra)
{
	b2b_wk *k = c->wk;
	if (!c->a_txn)
		return;
	/* An error of our own says its Q.850 cause as carriers bill it
	 * (RFC 6432 Reason in responses; the cause after RFC 3398), the
	 * call record too (q850). A relayed response keeps the trunk's own
	 * (b2b_build_mirrored_response); this path makes ours only. */
	sip_sv ex[2];
	unsigned n_ex = 0;
	char rsn[96];
	if (extra)
		ex[n_ex++] = sip_sv_from(extra, strlen(extra));
	const char *text = NULL;
	int q = status >= 300 ? b2b_q850_of_status(status, &text) : 0;
	if (q > 0) {
		int w = snprintf(rsn, sizeof(rsn), "Reason: Q.850;cause=%d;text=\"%s\"", q, text);
		if (w > 0 && (size_t)w < sizeof(rsn))
			ex[n_ex++] = sip_sv_from(rsn, (size_t)w);
		if (!c->q850)
			c->q850 = (int16_t)q;
	}
	sip_resp_opts o = {.to_tag = sip_sv_from(c->a_tag, strlen(c->a_tag)), .extra = n_ex ? ex : NULL,
			   .n_extra = n_ex};
	int n = sip_build_response(&c->a, status, NULL, &o, k->out, sizeof(k->out));
	if (n > 0)
		txn_respond(k->tbl, c->a_txn, status, k->out, (size_t)n);
}

/* The advertised address for a transport: the first listener of that
 * transport and family. */
int b2b_local_for(b2b_wk *k, unsigned tp, const sbc_addr *dst, sbc_addr *out)
{
	sig_worker *w = k->w;
	for (unsigned i = 0; i < w->n_lst; i++)
		if (w->lst[i].tp == tp && w->lst[i].addr.sa.sa_family == dst->sa.sa_family) {
			*out = w->lst[i].addr;
			return 0;
		}
	return SBC_E_NOT_FOUND;
}

/* An in-dialog request on a leg, sent without a transaction (ACK) or with
 * a non-INVITE client transaction (BYE). */

void leg_request(b2b_cl *c, int leg, enum sip_method m) { leg_request_ex(c, leg, m, NULL, 0, NULL); }

/* BYE on a leg with one Reason line of ours (RSN_*) */
void leg_bye(b2b_cl *c, int leg, const char *rsn) { leg_request_ex(c, leg, SIP_M_BYE, &rsn, 1, NULL); }

/* leg_request with extra header lines (a PRACK's RAck) or a body (an ACK
 * with the answer to a delayed offer) */

void leg_request_ex(b2b_cl *c, int leg, enum sip_method m, const char *const *ex, unsigned nex,
			   const b2b_body *body)
{
	b2b_wk *k = c->wk;
	char branch[B2B_BRANCH_MAX], host[SBC_ADDR_STRLEN + 2];
	if (leg == 1 && m == SIP_M_BYE && c->b_ack_due)
		b_ack_release(c); /* a BYE on B's dialog goes after the ACK of its 2xx */
	b2b_dialog *d = leg ? &c->db : &c->da;
	unsigned tp = leg ? c->b_tp : c->a_tp;
	const sbc_addr *local = leg ? &c->b_local : &c->a_local;
	new_branch(k, branch, sizeof(branch));
	host_of(local, host, sizeof(host));
	b2b_via via = {.transport = tp_via(tp), .host = host, .port = sbc_addr_port(local), .branch = branch};
	int n = b2b_build_in_dialog(d, m, &via, NULL, ex, nex, body, k->out, sizeof(k->out));
	if (n <= 0) {
		SBC_WARN("call %" PRIx64 ": %s on leg %d not built: %s", c->id, sip_method_name(m), leg,
			 sbc_strerror(n));
		return;
	}
	if (m == SIP_M_ACK && leg == 0) { /* to the caller's 2xx to our re-INVITE */
		send_to(k, tp, c->a_conn, &c->a_src, NULL, k->out, (size_t)n);
		return;
	}
	if (m == SIP_M_ACK) {
		char *p = c->b_ack_buf;
		c->b_ack_due = 0;
		if (c->b_ack && c->b_ack_body) /* an earlier one's answer: its keys go (so no realloc) */
			OPENSSL_cleanse(c->b_ack, c->b_ack_len);
		if (c->b_ack && c->b_ack != c->b_ack_buf)
			free(c->b_ack);
		c->b_ack = NULL;
		if ((size_t)n > sizeof(c->b_ack_buf))
			p = malloc((size_t)n);
		if (p) {
			memcpy(p, k->out, (size_t)n);
			c->b_ack = p;
			c->b_ack_len = (size_t)n;
			c->b_ack_body = body != NULL;
		}
		send_to(k, tp, c->b_conn, &c->b_dst, c->b_profile, k->out, (size_t)n);
		return;
	}
	tx_ctx *x = ctx_for_leg(c, leg, NULL, CTX_OTHER);
	if (!x)
		return;
	if (b2b_client_start(k, k->out, (size_t)n, tp != SIG_TP_UDP, x) < 0)
		ctx_free(x);
}

void fail_a(b2b_cl *c, int status, const char *extra)
{
	respond_a(c, status, extra);
	call_end(c, status, c->hangup ? "hangup" : NULL);
}

/* Starts the offer toward the current route's trunk (fresh SRTP keys). */
int make_offer(b2b_cl *c)
{
	/* a new attempt: its answer is still to come (an early one from the
	 * trunk given up does not stand for it) */
	c->b_sdp_done = 0;
	c->b_sdp_rel = 0;
	c->b_upd_oa = 0;
	c->b_sdp_hash = 0;
	/* b2b_sdp_init wipes the last attempt's keys (the streams it used),
	 * b2b_sdp_offer the last attempt's media messages (all of them) */
	b2b_sdp_init(&c->sdp, &c->pol_in, &c->pol_out, &c->wk->self, NULL, NULL, c->id);
	uint64_t base = ((uint64_t)sig_worker_index(c->wk->w) << 56) | (c->id << 4);
	return b2b_sdp_offer(&c->sdp, 0, &c->a_sdp, base, c->msgs);
}
