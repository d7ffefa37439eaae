/* sbc-signal — B2BUA engine: in-dialog requests.
 *
 * The RFC 4028 session timer, re-INVITE and UPDATE relay (one at a time
 * per call), PRACK, INFO, BYE and CANCEL across the legs; the delayed
 * offer of an INVITE without SDP is b2b_delayed.c's.
 *
 * Caveats:
 *  1. Worker-thread only.
 *  2. One b2b_reinv per call (c->ri) plus the first INVITE's delayed
 *     offer (c->dly): while one is relayed, an offer from the other leg
 *     gets 491 (glare), anything else 500 with a Retry-After. */
#include "b2b_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/mem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b2b_call.h"
#include "b2b_engine-int.h"
#include "b2b_media.h"
#include "b2b_sdp.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sip_build.h"
#include "sip_msg.h"
#include "sig_dns.h"
#include "sig_sip.h"
#include "sig_worker.h"
#include "txn_layer.h"

/* ---- RFC 4028 session timer ---------------------------------------------------
 * The endpoints refresh their session (re-INVITE or UPDATE, by the side
 * the refresher parameter names); the B2BUA carries the refreshes across
 * and refreshes nothing itself, so on both legs it is the side that does
 * not refresh, which RFC 4028 10 has send the BYE when no refresh came:
 * slightly before the session expires, by the smaller of 32 s and a third
 * of the interval. Each 2xx to the INVITE, a re-INVITE or an UPDATE that
 * crosses the B2BUA (either way) sets the interval in force from its
 * Session-Expires; one without Session-Expires turns the timer off (RFC
 * 4028 7.2: "the session timer can be 'turned-off' in mid dialog by
 * receiving a response without a Session-Expires header field"). */
void session_timer_arm(b2b_cl *c, const sip_msg *rsp)
{
	b2b_wk *k = c->wk;
	if (rsp->first[SIP_H_SESSION_EXPIRES] < 0 && !c->se_s)
		return; /* no Session-Expires and no timer running: nothing to do */
	if (c->state == CS_ENDED)
		return; /* a 2xx in the iteration it ended: se must stay off the wheel (the object is recycled) */
	uint32_t s = 0;
	int r = b2b_session_expires(rsp, &s, NULL);
	if (c->se_armed) {
		wheel_unlink(k, &c->se);
		c->se_armed = 0;
	}
	if (r <= 0) {
		if (r < 0)
			SBC_DEBUG("call %" PRIx64 ": Session-Expires not understood: no session timer", c->id);
		else if (c->se_s)
			SBC_DEBUG("call %" PRIx64 ": 2xx without Session-Expires: session timer off", c->id);
		c->se_s = 0;
		return;
	}
	uint64_t bye_ms = b2b_session_bye_ms(s, k->w->srv->cfg.session_min_s, &c->se_s);
	memset(&c->se, 0, sizeof(c->se));
	c->se.wk = k;
	c->se.call = c; /* no reference: call_end takes se off the wheel */
	c->se.role = CTX_SESSION;
	c->se.wdue = now_ms(k) + bye_ms;
	wheel_insert(k, &c->se);
	c->se_armed = 1;
}

/* No refresh in time (timer_cb on c->se, already off the wheel). */
void session_expired(b2b_cl *c)
{
	if (!c)
		return;
	c->se_armed = 0;
	if (c->state != CS_CONFIRMED)
		return; /* a refresh (UPDATE) before the answer: the 2xx to the INVITE arms it anew */
	char reason[64];
	snprintf(reason, sizeof(reason), "session timer expired (no refresh within %u s)", (unsigned)c->se_s);
	SBC_NOTICE("call %" PRIx64 ": session timer expired (interval %u s): BYE on both legs", c->id,
		   (unsigned)c->se_s);
	/* 408 (Request Timeout): RFC 4028 10 ends a session whose refresh
	 * timed out or got a 408 as it ends one never refreshed, and carriers
	 * bill both as Q.850 cause 102 "recovery on timer expiry", which is
	 * what 408 maps to (RFC 3398 8.2.6.1); the media timeout says 408
	 * too. The reason tells the two apart in the call record. */
	bye_both_legs(c, 408, reason, RSN_SESSION); /* a refresh pending now gets 487 first (reinv_abandon) */
}

/* An event from media worker j. */
void media_event(b2b_wk *k, unsigned j, const sbc_msg_media_event *e)
{
	if (e->kind != SBC_MEDIA_EV_TIMEOUT)
		return;
	b2b_cl *c = b2b_find_by_id(k, (e->session_id >> 4) & B2B_ID_MASK);
	if (!c) {
		/* No call of ours under that id (ids never repeat across our
		 * restarts): a session of a killed predecessor's call, or one
		 * whose DELETE is on its way (deleted twice: "not found").
		 * sbc-media keeps a session until it is told, and nobody else
		 * will tell it: its ports would be held until sbc-media's
		 * table is formatted anew. */
		sbc_msg_media_delete d = {.session_id = e->session_id, .request_id = 0};
		int r = media_push(k, j, SBC_MSG_MEDIA_DELETE, &d, sizeof(d));
		if (r < 0) /* sbc-media repeats the TIMEOUT every timeout_ms: tried again then */
			SBC_WARN("media session %" PRIx64 ": timed out, no call of ours: MEDIA_DELETE not sent (%s)",
				 e->session_id, sbc_strerror(r));
		else
			SBC_NOTICE("media session %" PRIx64 ": timed out, no call of ours (an earlier process's?): deleted",
				   e->session_id);
		return;
	}
	if (c->state != CS_CONFIRMED)
		return;
	/* session ids are the call's base + stream index (make_offer) */
	unsigned si = (unsigned)(e->session_id & 0xf);
	if (si < SDP_MAX_MEDIA && !(c->sdp.agreed & (1u << si))) {
		/* a stream not in the session as last answered: declined (port
		 * 0) by the answer, its session made with the offer and not
		 * deleted yet (media_drop_declined), or added by a re-offer the
		 * other side refused or that was cancelled. It carries nothing
		 * by design; its silence must not end a call whose other
		 * streams talk: an audio-only answer to audio + video was hung
		 * up after rtp_timeout_ms (test_declined_stream_does_not_time_
		 * the_call_out), and a refused T.38 attempt's session would have
		 * ended the voice call (test_b2b_reoffer_streams). Nor does an
		 * offer that failed (its streams wiped) switch the check off. */
		return;
	}
	SBC_NOTICE("call %" PRIx64 ": media timeout: BYE on both legs", c->id);
	bye_both_legs(c, 408, "media timeout", RSN_MEDIA);
}

/* CANCEL from A (or its BYE before the answer, or call.hangup): CANCEL
 * toward B with the Reason lines rsn (A's, or ours), 487 to A. */
void call_cancel(b2b_cl *c, const char *const *rsn, unsigned n_rsn)
{
	b2b_wk *k = c->wk;
	c->cancelled = 1;
	tx_ctx *x = c->b_txn ? txn_user(c->b_txn) : NULL;
	if (x && !c->b_ack_due) /* (B answered with a delayed offer: ACK and BYE in call_end) */
		cancel_b_invite(k, x, rsn, n_rsn);
	fail_a(c, 487, NULL);
}

static void our_contact(const b2b_cl *c, int leg, char *out, size_t cap)
{
	char host[SBC_ADDR_STRLEN + 2];
	unsigned tp = leg ? c->b_tp : c->a_tp;
	const sbc_addr *l = leg ? &c->b_local : &c->a_local;
	host_of(l, host, sizeof(host));
	contact_of(out, cap, host, sbc_addr_port(l), tp_uri_param(tp));
}

/* Answers the relayed re-INVITE on its leg (status, optional SDP). */
void reinv_answer(b2b_cl *c, const sip_msg *rsp, int status, const char *sdp, int sdp_len)
{
	b2b_wk *k = c->wk;
	b2b_reinv *ri = c->ri;
	if (!ri || !ri->in)
		return;
	char contact[160], host[SBC_ADDR_STRLEN + 2];
	our_contact(c, ri->leg, contact, sizeof(contact));
	host_of(ri->leg ? &c->b_local : &c->a_local, host, sizeof(host));
	int n;
	if (rsp) {
		b2b_resp_spec rs = {.to_tag = ri->leg ? c->b_tag : c->a_tag, .contact = contact, .local_host = host};
		if (sdp && sdp_len > 0)
			rs.body = (b2b_body){.type = "application/sdp", .data = sdp, .len = (size_t)sdp_len};
		n = b2b_build_mirrored_response(&ri->m, rsp, &rs, k->out, sizeof(k->out));
	} else {
		sip_sv ct = sip_sv_from(contact, strlen(contact));
		sip_resp_opts o = {.contact = status < 300 ? ct : SIP_SV_NULL};
		n = sip_build_response(&ri->m, status, NULL, &o, k->out, sizeof(k->out));
	}
	if (n > 0)
		txn_respond(k->tbl, ri->in, rsp ? rsp->status : status, k->out, (size_t)n);
}

/* An answer within a dialog (to a relayed re-INVITE, or to our delayed
 * offer) that b2b_sdp_answer took: the media sessions are updated, and the
 * answer is built onto the relay for `leg` in k->body. Returns its length,
 * or <= 0. */
int apply_answer(b2b_cl *c, const sdp_session *ans, int leg)
{
	b2b_wk *k = c->wk;
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++) {
		if (!c->msgs[i].session_id)
			continue;
		c->msgs[i].request_id = c->msgs[i].session_id;
		if (media_push(k, c->media_w, SBC_MSG_MEDIA_UPDATE, &c->msgs[i], sizeof(c->msgs[i])) < 0)
			SBC_WARN("call %" PRIx64 ": MEDIA_UPDATE not sent (ring full)", c->id);
		b2b_media_wipe(&c->msgs[i]);
	}
	media_drop_declined(c);
	return b2b_sdp_build_answer(&c->sdp, ans, c->relay[leg], k->body, sizeof(k->body));
}

/* b2b_on_ack for a re-INVITE's server transaction t: the ACK to our 2xx that
 * carried a delayed offer has the answer. */
void reinv_ack(b2b_cl *c, txn *t, const sip_msg *ack)
{
	if (c->ri && c->ri->await_ack && c->ri->in == t && c->state == CS_CONFIRMED) {
		delayed_answer(c, c->ri, ack);
		reinv_done(c);
	}
}

/* An offer/answer in an early UPDATE completed (the media are updated):
 * the session is what it made, not what the INVITE's early answer made.
 * The 2xx to the INVITE then brings no new answer (b_answer_new; RFC 3311
 * 5.1 has no offer or answer in it after a complete early exchange), and
 * goes to the caller without SDP: the answer kept for it (a_answer, with
 * the first exchange's keys) would undo the UPDATE's. No failover after
 * it (attempt_failed): it would offer the INVITE's SDP, no longer the
 * caller's; another fork's 2xx is hung up (b2b_on_response). */
static void early_oa_done(b2b_cl *c)
{
	c->b_upd_oa = 1;
	if (c->a_answer_len > 0)
		OPENSSL_cleanse(c->a_answer, (size_t)c->a_answer_len);
	c->a_answer_len = 0;
}

void reinv_response(b2b_cl *c, txn *t, const sip_msg *rsp)
{
	b2b_reinv *ri = c->ri;
	b2b_wk *k = c->wk;
	if (ri && ri->out == t && rsp->status < 200 && ri->cancel_due) {
		ri->cancel_due = 0; /* cancelled before this first provisional (reinvite_cancel) */
		tx_ctx *y = txn_user(t);
		if (y)
			cancel_b_invite(k, y, NULL, 0);
	}
	if (!ri || ri->out != t || rsp->status < 200)
		return;
	int other = 1 - ri->leg;
	if (rsp->status >= 300) {
		reinv_answer(c, rsp, rsp->status, NULL, 0);
		reinv_done(c);
		return;
	}
	if (ri->await_ack)
		return; /* its 2xx again: our 2xx to `leg` is out, its ACK awaited */
	/* a session refresh succeeded (or, without Session-Expires, the timer is off) */
	if (ri->method == SIP_M_INVITE || ri->method == SIP_M_UPDATE)
		session_timer_arm(c, rsp);
	if (ri->method == SIP_M_INVITE && !ri->has_sdp && rsp->body.n && delayed_offer(c, rsp) == 0)
		return;
	if (ri->method == SIP_M_INVITE)
		leg_request(c, other, SIP_M_ACK);
	if (!ri->has_sdp || !rsp->body.n) {
		reinv_answer(c, rsp, 200, NULL, 0);
		reinv_done(c);
		return;
	}
	static _Thread_local sdp_session ans;
	int r = sdp_parse(rsp->body.p, rsp->body.n, &ans);
	if (r == 0)
		r = b2b_sdp_answer(&c->sdp, &ans, c->msgs);
	if (r < 0) {
		/* the other side's answer is unusable: refuse the re-INVITE; the
		 * media keep their previous state */
		reinv_answer(c, NULL, 488, NULL, 0);
		reinv_done(c);
		return;
	}
	int bl = apply_answer(c, &ans, ri->leg);
	reinv_answer(c, rsp, 200, k->body, bl);
	if (c->state == CS_EARLY)
		early_oa_done(c);
	reinv_done(c);
}

/* A request we cannot take now: 491 (glare with an exchange under way,
 * RFC 3261 14.2, RFC 3311 5.2), or 500 with the Retry-After (0..10 s) that
 * RFC 3261 14.2 asks for; never 501, which would say the method is
 * unknown while our Allow lists it. */
static void answer_not_now(b2b_wk *k, const sig_rx *rx, txn *t, const sip_msg *req, int status)
{
	char ra[32];
	if (status == 500)
		snprintf(ra, sizeof(ra), "Retry-After: %u", b2b_retry_after_s(req));
	answer_plain(k, rx, t, req, status, status == 500 ? ra : NULL);
}

static void relay_offer(b2b_cl *c);
static void reinvite_relay(b2b_cl *c, const b2b_body *b);

/* A re-INVITE from `leg` on a confirmed call: new offer across the legs. */
static void reinvite(b2b_cl *c, int leg, const sip_msg *req, txn *t, tx_ctx *x)
{
	b2b_wk *k = c->wk;
	ctx_bind(x, c, CTX_REINV_IN);
	if (c->ri) {
		/* one request relayed at a time: 491 only where it is glare, an
		 * offer (an INVITE, an UPDATE with SDP) from the other side of
		 * the one in flight (RFC 3261 14.2, RFC 3311 5.2); the same
		 * side's second INVITE, an UPDATE without an offer or an INFO
		 * waits: 500 with a Retry-After (14.2) */
		int offer = req->method == SIP_M_INVITE || (req->method == SIP_M_UPDATE && req->body.n);
		answer_not_now(k, NULL, t, req, offer && leg != c->ri->leg ? 491 : 500);
		return;
	}
	b2b_reinv *ri = calloc(1, sizeof(*ri));
	char *raw = ri ? malloc(req->len ? req->len : 1) : NULL;
	if (!raw) {
		free(ri);
		answer_plain(k, NULL, t, req, 500, "Retry-After: 1");
		return;
	}
	memcpy(raw, req->buf, req->len);
	ri->raw = raw;
	ri->leg = (uint8_t)leg;
	ri->method = req->method == SIP_M_UPDATE || req->method == SIP_M_PRACK || req->method == SIP_M_INFO
			     ? req->method
			     : SIP_M_INVITE;
	ri->in = t;
	c->ri = ri;
	k->st.reinvites++;
	ri->m = *req; /* parsed already: moved onto the copy (sip_msg_rebase) */
	sip_msg_rebase(&ri->m, raw);
	b2b_body b = {.type = "application/sdp", .data = k->body, .len = 0};
	if (ri->method == SIP_M_INFO && ri->m.body.n) {
		/* DTMF (and nothing else: a body that could carry addresses does
		 * not cross) */
		const sip_hdr *ct = sip_hdr_get(&ri->m, SIP_H_CONTENT_TYPE, 0);
		static const char *const ok_types[] = {"application/dtmf-relay", "application/dtmf"};
		const char *type = NULL;
		for (unsigned i = 0; ct && i < 2; i++)
			if (sip_sv_ieq(ct->value, ok_types[i]))
				type = ok_types[i];
		if (!type || ri->m.body.n > sizeof(k->body)) {
			reinv_answer(c, NULL, 415, NULL, 0);
			reinv_done(c);
			return;
		}
		memcpy(k->body, ri->m.body.p, ri->m.body.n);
		b.type = type;
		b.len = ri->m.body.n;
	}
	if (ri->m.body.n && ri->method != SIP_M_PRACK && ri->method != SIP_M_INFO) { /* PRACK: offers in PRACK are not relayed */
		int r = sdp_parse(ri->m.body.p, ri->m.body.n, &ri->offer);
		if (r == 0 && ri->offer.n_media < c->sdp.n_agreed) {
			/* against the session as last answered: a re-offer that
			 * added a line and was refused or cancelled added none */
			SBC_NOTICE("call %" PRIx64 ": re-offer from leg %d with %u m= lines for %u: refused (488; RFC 3264 8 "
				   "never removes one: port 0 declines it)",
				   c->id, leg, ri->offer.n_media, (unsigned)c->sdp.n_agreed);
			r = sbc_err_sip(488);
		}
		uint64_t base = ((uint64_t)sig_worker_index(k->w) << 56) | (c->id << 4);
		if (r == 0)
			r = b2b_sdp_offer(&c->sdp, (unsigned)leg, &ri->offer, base, c->msgs);
		if (r < 0) {
			reinv_answer(c, NULL, sbc_err_sip_status(r) ? sbc_err_sip_status(r) : 488, NULL, 0);
			reinv_done(c);
			return;
		}
		ri->has_sdp = 1;
		/* a stream the offer adds needs its media session (the relay's
		 * ports) before the offer can go on */
		int w = media_create_new_streams(c);
		if (w < 0) {
			SBC_WARN("call %" PRIx64 ": re-offer adds a stream: MEDIA_CREATE not sent (%s)", c->id,
				 sbc_strerror(w));
			reinv_answer(c, NULL, 500, NULL, 0);
			reinv_done(c);
			return;
		}
		if (c->new_pending) { /* ours, or a cancelled re-offer's still due */
			ri->creating = 1;
			x->due[T_NO_RESPONSE] = now_ms(k) + B2B_MEDIA_WAIT_MS; /* reinv_media_lost */
			ctx_reschedule(x);
			return; /* reinv_streams_ready goes on (CREATEs go out at the end of the iteration) */
		}
		relay_offer(c);
		return;
	}
	reinvite_relay(c, b.len ? &b : NULL);
}

/* The re-offer in c->ri, on the relay's addresses toward the other leg. */
static void relay_offer(b2b_cl *c)
{
	b2b_wk *k = c->wk;
	b2b_reinv *ri = c->ri;
	int other = 1 - ri->leg, missing = 0;
	/* a session refused or given up (a cancelled re-offer's CREATE) for a line this offer uses */
	for (unsigned i = 0; i < c->sdp.n_media && i < SDP_MAX_MEDIA; i++)
		missing |= line_unrelayed(c, i, other);
	int bl = missing ? -EINVAL : b2b_sdp_build_offer(&c->sdp, &ri->offer, c->relay[other], k->body, sizeof(k->body));
	if (bl < 0) {
		reinv_answer(c, NULL, 500, NULL, 0);
		reinv_done(c);
		return;
	}
	b2b_body b = {.type = "application/sdp", .data = k->body, .len = (size_t)bl};
	reinvite_relay(c, &b);
}

/* Every media session of a stream the re-offer in c->ri adds exists (or
 * one was refused: the re-offer gets 500, the call keeps its streams). */
void reinv_streams_ready(b2b_cl *c)
{
	b2b_reinv *ri = c->ri;
	ri->creating = 0;
	if (c->state == CS_ENDED)
		return;
	if (ri->create_failed) {
		reinv_answer(c, NULL, 500, NULL, 0);
		reinv_done(c);
		return;
	}
	relay_offer(c);
}

/* The MEDIA_CREATE replies for the streams the re-offer in c->ri adds did
 * not come within B2B_MEDIA_WAIT_MS (sbc-media stopped or hung): the
 * re-offer gets 500, the call keeps its streams. The replies are no longer
 * awaited; such a line has no relay port until its late reply comes
 * (new_lost: an offer using it meanwhile gets 500, relay_offer), and its
 * session id is not reused before that. */
void reinv_media_lost(b2b_cl *c)
{
	SBC_WARN("call %" PRIx64 ": no reply from sbc-media within %u ms for a stream a re-offer adds: 500", c->id,
		 B2B_MEDIA_WAIT_MS);
	unsigned n = (unsigned)__builtin_popcount(c->new_pending);
	if (n > c->pending)
		n = c->pending;
	c->pending -= n;
	c->wk->n_wait -= n;
	c->new_lost |= c->new_pending; /* a late reply still lands (new_stream_reply) */
	c->new_pending = 0;
	c->ri->creating = 0;
	reinv_answer(c, NULL, 500, NULL, 0);
	reinv_done(c);
}

/* The request in c->ri goes to the other leg, with body b (NULL: none). */
static void reinvite_relay(b2b_cl *c, const b2b_body *b)
{
	b2b_wk *k = c->wk;
	b2b_reinv *ri = c->ri;
	int other = 1 - ri->leg;
	char branch[B2B_BRANCH_MAX], host[SBC_ADDR_STRLEN + 2], contact[160];
	unsigned tp = other ? c->b_tp : c->a_tp;
	const sbc_addr *local = other ? &c->b_local : &c->a_local;
	new_branch(k, branch, sizeof(branch));
	host_of(local, host, sizeof(host));
	our_contact(c, other, contact, sizeof(contact));
	b2b_via via = {.transport = tp_via(tp), .host = host, .port = sbc_addr_port(local), .branch = branch};
	/* session timer and extension headers cross (RFC 4028 on both legs) */
	static const enum sip_hdr_id cross[] = {SIP_H_SESSION_EXPIRES, SIP_H_MIN_SE, SIP_H_SUPPORTED, SIP_H_REQUIRE};
	char exbuf[4][B2B_HDR_MAX];
	const char *ex[4];
	unsigned nex = 0;
	if (ri->method == SIP_M_PRACK) {
		/* 100rel: RSeq crossed unchanged, the CSeq in RAck is the other leg's INVITE's */
		b2b_dialog *od = other ? &c->db : &c->da;
		int w = b2b_map_rack(&ri->m, od->invite_cseq ? od->invite_cseq : od->remote_cseq, exbuf[0],
				     sizeof(exbuf[0]));
		if (w < 0) {
			reinv_answer(c, NULL, sbc_err_sip_status(w) ? sbc_err_sip_status(w) : 400, NULL, 0);
			reinv_done(c);
			return;
		}
		ex[nex++] = exbuf[0];
	}
	for (unsigned i = 0; i < 4 && ri->method != SIP_M_PRACK; i++) {
		const sip_hdr *h = sip_hdr_get(&ri->m, cross[i], 0);
		if (!h)
			continue;
		int w = snprintf(exbuf[nex], sizeof(exbuf[nex]), "%s: %.*s", sip_header_name(cross[i]), (int)h->value.n,
				 h->value.p);
		if (w > 0 && (size_t)w < sizeof(exbuf[nex])) {
			ex[nex] = exbuf[nex];
			nex++;
		}
	}
	char *out = malloc(B2B_MSG_MAX);
	int n = out ? b2b_build_in_dialog(other ? &c->db : &c->da, (enum sip_method)ri->method, &via, contact, ex, nex, b,
					  out, B2B_MSG_MAX)
		    : -ENOMEM;
	tx_ctx *y = n > 0 ? ctx_for_leg(c, other, c, CTX_REINV_OUT) : NULL;
	if (!y) {
		free(out);
		reinv_answer(c, NULL, 500, NULL, 0);
		reinv_done(c);
		return;
	}
	int r = b2b_client_start(k, out, (size_t)n, tp != SIG_TP_UDP, y);
	free(out);
	if (r < 0) {
		ctx_free(y);
		reinv_answer(c, NULL, 500, NULL, 0);
		reinv_done(c);
		return;
	}
	ri->out = y->t;
}

/* A request of the caller's dialog on another TCP/TLS connection than the
 * one we use toward it (it opened a new one, the old may be gone): our next
 * requests toward the caller go on that newest connection, since a closed
 * one cannot be reopened toward a carrier's ephemeral port. Only from the
 * trunk the call came from, over the same transport. */
void follow_a_conn(b2b_cl *c, int leg, const sig_rx *rx)
{
	if (leg != 0 || rx->tp == SIG_TP_UDP || !rx->conn || rx->conn == c->a_conn || rx->tp != c->a_tp ||
	    rx->trunk != c->trunk_in)
		return;
	SBC_DEBUG("call %" PRIx64 ": the caller moved to another connection", c->id);
	c->a_conn = rx->conn;
}

void b2b_in_dialog(b2b_wk *k, const sig_rx *rx, const sip_msg *req)
{
	int leg = 0;
	txn *t = NULL;
	tx_ctx *x = NULL;
	int r = b2b_server_txn(k, rx, req, &t, &x);
	if (r != TXN_RX_NEW)
		return;
	int ms = b2b_method_status((enum sip_method)req->method);
	if (ms) {
		/* RFC 3261 8.2.1: the method is inspected first; one we do not
		 * know (`ack`, `FOO`) or do not take is answered here with Allow,
		 * never relayed, and leaves the dialog (its CSeq) alone */
		answer_plain(k, rx, t, req, ms, SIG_SIP_ALLOW);
		return;
	}
	b2b_cl *c = b2b_find_by_cid(k, req->call_id, &leg);
	if (!c || !b2b_dialog_match(leg ? &c->db : &c->da, req)) {
		answer_plain(k, rx, t, req, 481, NULL);
		return;
	}
	if (b2b_dialog_check_cseq(leg ? &c->db : &c->da, req) < 0) {
		/* RFC 3261 12.2.2: a CSeq not above the last request's on this
		 * dialog is out of order (stale, or replayed with a new branch):
		 * 500, never relayed to the other leg */
		answer_plain(k, rx, t, req, 500, NULL);
		return;
	}
	follow_a_conn(c, leg, rx);
	if (req->method == SIP_M_BYE) {
		/* RFC 3326: its Reason (the Q.850 cause carriers bill by) goes
		 * on with the BYE or CANCEL we send for it */
		char rb[B2B_REASON_BUF];
		const char *rl[RSN_LINES];
		int q = 0, nr = b2b_reason_lines(req, rb, sizeof(rb), rl, RSN_LINES, &q);
		if (nr < 0)
			nr = 0;
		answer_plain(k, rx, t, req, 200, NULL);
		if (!c->bye_a_held) /* else the callee's BYE ended the call: its cause stays */
			c->q850 = (int16_t)q;
		if (leg == 1)
			c->b_ack_due = 0; /* its dialog is gone: nothing to ACK or BYE there */
		if (leg == 1 && c->state != CS_CONFIRMED) {
			/* B hung up before its answer reached A: a delayed offer's
			 * 2xx waits for the media sessions (b_offer, CS_MEDIA). A's
			 * INVITE gets a final error, not our 2xx and then a BYE */
			respond_a(c, 480, NULL);
			call_end(c, 480, "callee hung up before its answer reached the caller");
			return;
		}
		if (leg == 0 && c->state != CS_CONFIRMED) {
			/* BYE before the answer: treated as a CANCEL toward B */
			call_cancel(c, rl, (unsigned)nr);
			return;
		}
		if (leg == 1 && c->bye_a_held) {
			/* ours (call.hangup, a timeout) crossed it: the BYE to A
			 * still waits for A's ACK, with the cause that ended the
			 * call first */
			return;
		}
		if (leg == 1 && bye_a_must_wait(c)) {
			/* B's 200 was ACKed at once, so B may hang up before A's
			 * ACK: our BYE to A waits for it, with this BYE's Reason */
			bye_a_hold(c, rl, (unsigned)nr, 200, "BYE from callee");
			return;
		}
		if (c->bye_a_held) {
			/* the caller's BYE crossed ours, held for its ACK: the
			 * callee hung up (or was sent our BYE) first and its
			 * dialog is gone (a BYE to it would get 481) */
			call_end(c, c->held_cause, c->held_reason);
			return;
		}
		leg_request_ex(c, 1 - leg, SIP_M_BYE, rl, (unsigned)nr, NULL);
		call_end(c, 200, leg ? "BYE from callee" : "BYE from caller");
		return;
	}
	if (req->method == SIP_M_OPTIONS) {
		answer_plain(k, rx, t, req, 200, SIG_SIP_ALLOW);
		return;
	}
	if (req->method == SIP_M_PRACK && leg == 0 && c->state == CS_EARLY && c->ri) {
		/* c->ri relays one request at a time, and an early UPDATE (or
		 * another PRACK) may hold it: a PRACK is no offer of its own
		 * and must not get 491, or B retransmits its reliable
		 * provisional until it gives the call up (RFC 3262 3). Sent on
		 * B's early dialog with its RAck mapped, answered here (B's
		 * response to it is not relayed). */
		char rack[B2B_HDR_MAX];
		const char *ex[1] = {rack};
		int w = b2b_map_rack(req, c->db.invite_cseq ? c->db.invite_cseq : c->db.remote_cseq, rack, sizeof(rack));
		if (w < 0) {
			answer_plain(k, rx, t, req, sbc_err_sip_status(w) ? sbc_err_sip_status(w) : 400, NULL);
			return;
		}
		leg_request_ex(c, 1, SIP_M_PRACK, ex, 1, NULL);
		answer_plain(k, rx, t, req, 200, NULL);
		return;
	}
	if (req->method == SIP_M_PRACK && leg == 0 && c->state == CS_EARLY) {
		reinvite(c, leg, req, t, x); /* PRACK toward B for its reliable provisional */
		return;
	}
	if (c->dly && (req->method == SIP_M_INVITE || req->method == SIP_M_UPDATE || req->method == SIP_M_INFO)) {
		/* The first INVITE's delayed offer is open: B's offer is with A
		 * in our 2xx (or waits for its media sessions), B's 2xx for our
		 * ACK. A re-INVITE or UPDATE now is glare with that exchange
		 * (RFC 3261 14.1, RFC 3311 5.2: 491); relayed, it went to B
		 * before B's 2xx was ACKed and took over c->sdp before A's
		 * answer was checked. INFO waits too (500 + Retry-After). */
		answer_not_now(k, rx, t, req, req->method == SIP_M_INFO ? 500 : 491);
		return;
	}
	int st = req->method == SIP_M_UPDATE && c->state == CS_EARLY && req->body.n
			 ? b2b_early_update_offer_status(leg, c->b_sdp_rel)
			 : 0;
	if (st) {
		/* An offer in the early dialog while the INVITE's offer/answer
		 * is open (RFC 3311 5.2): 491 from the callee before its answer
		 * to our INVITE's offer came reliably (our offer is open), 500
		 * with a Retry-After from the caller (its offer is ours to
		 * answer). Was 501, which says UPDATE is unknown while Allow
		 * lists it. */
		answer_not_now(k, rx, t, req, st);
		return;
	}
	if (req->method == SIP_M_UPDATE && c->state == CS_EARLY && (leg ? c->da.state : c->db.state) == B2B_DLG_EARLY) {
		/* UPDATE in the early dialog (RFC 3311 5.1; an early session
		 * refresh, headers only, or an offer once the INVITE's exchange
		 * completed in a reliable provisional: preconditions, RFC 3312):
		 * relayed on the other leg's early dialog; an offer's answer
		 * updates the media (early_oa_done) */
		reinvite(c, leg, req, t, x);
		return;
	}
	if ((req->method == SIP_M_INVITE || req->method == SIP_M_UPDATE || req->method == SIP_M_INFO) &&
	    c->state == CS_CONFIRMED) {
		/* re-INVITE, or UPDATE (session refresh, RFC 4028; with SDP an
		 * offer like a re-INVITE's): relayed to the other leg */
		reinvite(c, leg, req, t, x);
		return;
	}
	if (req->method == SIP_M_PRACK) {
		/* after the answer, or from the callee: no unacknowledged
		 * reliable provisional of ours it can be for (RFC 3262 3) */
		answer_plain(k, rx, t, req, 481, NULL);
		return;
	}
	/* a method we take, in a state we cannot take it in now (a re-INVITE
	 * or INFO in the early dialog): 500 with a Retry-After as RFC 3261
	 * 14.2 has for an INVITE during another; 501 would say the method is
	 * unknown while Allow lists it */
	answer_not_now(k, rx, t, req, 500);
}

/* CANCEL of a re-INVITE (either leg's; RFC 3261 9.2): 200 to the CANCEL
 * (its transaction exists), and while our copy on the other leg has no
 * final response, a CANCEL for it there. The re-INVITE's final is that
 * leg's, relayed by reinv_response as any other, as a proxy does (16.10):
 * its 487 gives ours, and a 2xx that crossed the CANCEL is ACKed and gives
 * ours too (with the answer, the media updated), so both legs keep one and
 * the same session; a failed re-INVITE leaves the dialog and the media as
 * they were (14.1). Our CANCEL waits for a provisional on our copy (9.1).
 * One the other leg never answers gets 408 once our copy's transaction
 * ends (Timer B; 64*T1 after the CANCEL, txn_client_cancelled).
 * A re-INVITE answered already (or whose 2xx waits for the ACK with a
 * delayed offer's answer) is past cancelling: 200 and no effect (9.2). */
static void reinvite_cancel(b2b_wk *k, const sig_rx *rx, txn *t, const sip_msg *req, b2b_cl *c, txn *inv)
{
	answer_plain(k, rx, t, req, 200, NULL);
	b2b_reinv *ri = c ? c->ri : NULL;
	if (!ri || ri->in != inv || ri->method != SIP_M_INVITE || ri->await_ack)
		return;
	if (ri->creating) { /* not relayed yet: a stream it adds is being made (the sessions stay idle) */
		reinv_answer(c, NULL, 487, NULL, 0);
		reinv_done(c);
		return;
	}
	if (!ri->out)
		return;
	tx_ctx *y = txn_user(ri->out);
	if (!y)
		return;
	if (!txn_last_status(ri->out)) {
		/* RFC 3261 9.1: no CANCEL before a provisional response
		 * (reinv_response sends it with the first one) */
		ri->cancel_due = 1;
		return;
	}
	SBC_DEBUG("call %" PRIx64 ": re-INVITE from leg %d cancelled: CANCEL toward leg %d", c->id, ri->leg, 1 - ri->leg);
	cancel_b_invite(k, y, NULL, 0); /* at most once (cancel_sent) */
}

void b2b_cancel_req(b2b_wk *k, const sig_rx *rx, const sip_msg *req)
{
	txn *t = NULL;
	tx_ctx *x = NULL;
	unsigned n = sig_worker_count();
	if (n > 1 && rx->hops + 1 < n && !txn_find_cancel_target(k->tbl, req)) {
		/* its INVITE reached another worker (TCP/TLS: the peer sent the
		 * CANCEL on a new connection; UDP: from another source port, which
		 * SO_REUSEPORT may hash to another worker's socket) and a CANCEL
		 * names none of our tokens: it visits the workers in turn, the last
		 * one answers 481. A UDP CANCEL is answered from the worker that
		 * holds the INVITE, on its socket of the same listener address. */
		if (sig_forward_rx(rx, (rx->worker_idx + 1) % n) == 0) {
			k->st.forwarded++;
			return;
		}
	}
	int r = b2b_server_txn(k, rx, req, &t, &x);
	if (r != TXN_RX_NEW)
		return;
	txn *inv = txn_find_cancel_target(k->tbl, req);
	tx_ctx *ix = inv ? txn_user(inv) : NULL;
	if (ix && ix->role == CTX_REINV_IN) {
		reinvite_cancel(k, rx, t, req, ix->call, inv);
		return;
	}
	if (!ix || ix->role != CTX_A_INVITE) {
		answer_plain(k, rx, t, req, 481, NULL);
		return;
	}
	answer_plain(k, rx, t, req, 200, NULL);
	b2b_cl *c = ix->call;
	if (!c || c->state == CS_CONFIRMED || c->state == CS_ENDED || c->cancelled)
		return;
	/* RFC 3326: A's Reason crosses with our CANCEL (SIP;cause=200 "Call
	 * completed elsewhere" keeps a missed call off the callee's phone) */
	char rb[B2B_REASON_BUF];
	const char *rl[RSN_LINES];
	int q = 0, nr = b2b_reason_lines(req, rb, sizeof(rb), rl, RSN_LINES, &q);
	c->q850 = (int16_t)q;
	call_cancel(c, rl, nr > 0 ? (unsigned)nr : 0);
}
