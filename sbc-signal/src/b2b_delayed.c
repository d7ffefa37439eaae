/* sbc-signal — B2BUA engine: delayed offer (RFC 3261 13.2.1).
 *
 * An INVITE without SDP, first or re-INVITE: the other leg's 2xx brings
 * the offer, which goes on (rewritten onto the relay) in our 2xx, and the
 * answer comes in the ACK; the other leg's ACK waits for it and carries
 * it. The first INVITE's offer also creates the media sessions.
 *
 * Caveats:
 *  1. Worker-thread only.
 *  2. While B's 2xx waits for A's ACK (c->b_ack_due), anything that BYEs
 *     B ACKs it first (b_ack_release), declining every stream.
 *  3. An offer in a reliable provisional is refused (CANCEL, failover):
 *     only a 2xx's offer is taken. */
#include "b2b_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/mem.h>
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
#include "sig_sip.h"
#include "sig_worker.h"

/* A re-INVITE without SDP (delayed offer, RFC 3261 13.2.1): the other
 * leg's 2xx carries the offer. It goes, rewritten onto the relay, in our
 * 2xx to the re-INVITE's leg; that leg answers in its ACK (delayed_answer),
 * and only then the other leg gets its ACK, with the answer. Returns 0, or
 * < 0 (an offer we cannot take: the caller goes on as before, relaying the
 * 2xx without SDP). */
int delayed_offer(b2b_cl *c, const sip_msg *rsp)
{
	b2b_reinv *ri = c->ri;
	b2b_wk *k = c->wk;
	int other = 1 - ri->leg;
	ri->ob = malloc(rsp->body.n);
	if (!ri->ob)
		return -ENOMEM;
	memcpy(ri->ob, rsp->body.p, rsp->body.n);
	ri->ob_len = rsp->body.n;
	int r = sdp_parse(ri->ob, ri->ob_len, &ri->offer);
	/* a stream added in an offer we relay in our 2xx: not supported (one
	 * in a re-offer of its own is, reinvite()) */
	if (r == 0 && ri->offer.n_media != c->sdp.n_agreed)
		r = sbc_err_sip(488);
	uint64_t base = ((uint64_t)sig_worker_index(k->w) << 56) | (c->id << 4);
	if (r == 0)
		r = b2b_sdp_offer(&c->sdp, (unsigned)other, &ri->offer, base, c->msgs);
	int bl = -1;
	if (r >= 0) {
		/* a line with no media session (its session went with a decline,
		 * media_drop_declined): this exchange declines it on both legs
		 * (one in an offer of its own gets a session, reinvite()) */
		for (unsigned i = 0; i < c->sdp.n_media && i < SDP_MAX_MEDIA; i++)
			if (line_unrelayed(c, i, ri->leg))
				b2b_sdp_decline(&c->sdp, i, c->msgs);
		bl = b2b_sdp_build_offer(&c->sdp, &ri->offer, c->relay[ri->leg], k->body, sizeof(k->body));
	}
	if (bl <= 0) {
		SBC_NOTICE("call %" PRIx64 ": delayed offer from leg %d not taken (%d/%d)", c->id, other, r, bl);
		OPENSSL_cleanse(ri->ob, ri->ob_len);
		free(ri->ob);
		ri->ob = NULL;
		return r < 0 ? r : -EINVAL;
	}
	ri->await_ack = 1;
	reinv_answer(c, rsp, 200, k->body, bl);
	return 0;
}

/* The ACK from ri's leg to our 2xx with a delayed offer (a re-INVITE's,
 * or the first INVITE's: ri is c->dly): its answer, checked against our
 * offer (b2b_sdp_answer: suite and tag offered, no crypto on an SRTP-off
 * leg), updates the media and goes to the other leg in our ACK there.
 * An ACK without a usable answer still gets the other leg its ACK: after
 * a re-INVITE without a body (the media keep their state), after the first
 * INVITE with an answer declining every stream, as B's offer must be
 * answered before the BYE that follows (RFC 3261 13.2.2.4). Returns 0, or
 * < 0 when there was no usable answer. */
int delayed_answer(b2b_cl *c, b2b_reinv *ri, const sip_msg *ack)
{
	b2b_wk *k = c->wk;
	int other = 1 - ri->leg;
	static _Thread_local sdp_session ans;
	int r = ack->body.n ? sdp_parse(ack->body.p, ack->body.n, &ans) : -EINVAL;
	if (r == 0)
		r = b2b_sdp_answer(&c->sdp, &ans, c->msgs);
	int bl = -1;
	if (r == 0) {
		bl = apply_answer(c, &ans, other);
		if (bl <= 0)
			r = -EINVAL;
	} else {
		SBC_NOTICE("call %" PRIx64 ": ACK without a usable answer to our delayed offer", c->id);
	}
	if (r < 0 && ri->initial)
		bl = b2b_sdp_build_decline(&c->sdp, (unsigned)other, &ri->offer, &c->b_local, k->body,
					   sizeof(k->body));
	/* k->body is overwritten by the build of the ACK: copied first */
	char *ab = bl > 0 ? malloc((size_t)bl) : NULL;
	if (ab)
		memcpy(ab, k->body, (size_t)bl);
	b2b_body b = {.type = "application/sdp", .data = ab, .len = ab ? (size_t)bl : 0};
	leg_request_ex(c, other, SIP_M_ACK, NULL, 0, ab ? &b : NULL);
	if (ab) /* the answer's a=crypto keys: wiped before the heap reuses it */
		OPENSSL_cleanse(ab, (size_t)bl);
	free(ab);
	return r;
}

/* ---- delayed offer on the first INVITE (RFC 3261 13.2.1) ----------------------
 * A's INVITE without SDP is routed as any call and re-originated without
 * SDP (no media sessions: no addresses yet). B's 2xx brings the offer
 * (b_offer): B's SRTP policy answers it and A's makes our offer toward A
 * (b2b_sdp_offer with B as the offerer), the media sessions are created as
 * for A's offer (media_create), and once they exist our offer goes to A in
 * our 2xx (b_offer_to_a). A's ACK brings the answer (dly_answer, through
 * delayed_answer like a re-INVITE's), and only then B gets its ACK, with
 * our answer. Until then B's 2xx retransmissions are absorbed (b_ack_due).
 * A 2xx without a usable offer: ACK and BYE toward B, and the attempt fails
 * over like a 502 (or our 488 for the SRTP policy); A's INVITE is still
 * open and gets the final error if no route answers. */

/* B's 2xx to a delayed-offer INVITE could not be used (why: call record):
 * its ACK (with an answer declining every stream when the offer parsed)
 * and BYE (leg_request_ex), then the next route or A's final error. */
static void b_offer_refused(b2b_cl *c, tx_ctx *x, const sip_msg *rsp, int fo_status, const char *why)
{
	SBC_NOTICE("call %" PRIx64 ": delayed offer from %s refused: %s", c->id, c->trunk_out, why);
	leg_bye(c, 1, fo_status == B2B_FO_LOCAL_SRTP ? RSN_SRTP : RSN_BAD_OFFER);
	c->b_ack_due = 0; /* (ACKed unless it could not be built: nothing more to do) */
	/* its retransmissions are ACKed as strays, not BYEd twice */
	x->stray_tag = hash_sv(rsp->to.tag) | 0x80000000u;
	dly_done(c);
	c->attempt_why = why;
	attempt_failed(c, fo_status, -1, NULL);
}

void b_offer(b2b_cl *c, tx_ctx *x, const sip_msg *rsp)
{
	b2b_wk *k = c->wk;
	c->b_ack_due = 1; /* from here on, every way out ACKs it first */
	b2b_reinv *ri = calloc(1, sizeof(*ri));
	char *raw = ri ? malloc(rsp->len) : NULL;
	if (!raw) {
		free(ri);
		b_offer_refused(c, x, rsp, B2B_FO_LOCAL_OFFER, "out of memory");
		return;
	}
	memcpy(raw, rsp->buf, rsp->len);
	ri->raw = raw;
	ri->m = *rsp; /* parsed already: moved onto the copy */
	sip_msg_rebase(&ri->m, raw);
	ri->leg = 0; /* the answer comes from A */
	ri->method = SIP_M_INVITE;
	ri->initial = 1;
	c->dly = ri;
	if (!ri->m.body.n) {
		b_offer_refused(c, x, rsp, B2B_FO_LOCAL_OFFER, "2xx without an offer to a delayed-offer INVITE");
		return;
	}
	int r = sdp_parse(ri->m.body.p, ri->m.body.n, &ri->offer);
	if (r < 0) {
		b_offer_refused(c, x, rsp, B2B_FO_LOCAL_OFFER, "offer in the 2xx does not parse");
		return;
	}
	ri->has_sdp = 1;
	/* fresh keys for both legs: A's SRTP policy offers, B's answers */
	b2b_sdp_init(&c->sdp, &c->pol_in, &c->pol_out, &c->wk->self, NULL, NULL, c->id);
	uint64_t base = ((uint64_t)sig_worker_index(k->w) << 56) | (c->id << 4);
	r = b2b_sdp_offer(&c->sdp, 1, &ri->offer, base, c->msgs);
	if (r < 0) {
		int st = sbc_err_sip_status(r);
		b_offer_refused(c, x, rsp, st == 488 ? B2B_FO_LOCAL_SRTP : B2B_FO_LOCAL_OFFER,
				st == 488 ? "offer in the 2xx not acceptable (SRTP policy or addresses)"
					  : "offer in the 2xx not taken");
		return;
	}
	c->state = CS_MEDIA;
	if (media_create(c) < 0) {
		fail_a(c, 503, "Retry-After: 1"); /* (call_end ACKs and BYEs B) */
		return;
	}
	if (!c->pending) { /* every stream declined by B: no sessions to wait for */
		b_offer_to_a(c);
		return;
	}
	media_wait_arm(c);
	b2b_ring_hook(k->w, NULL); /* arms the media doorbell for the replies */
}

/* The media sessions for B's offer exist: our offer (the relay's A side,
 * A's policy: RTP/SAVP with fresh keys per allowed suite, or RTP/AVP) goes
 * to A in our 2xx, which A's transaction retransmits until A's ACK. */
void b_offer_to_a(b2b_cl *c)
{
	b2b_reinv *ri = c->dly;
	int bl = b2b_sdp_build_offer(&c->sdp, &ri->offer, c->relay[0], c->a_answer, sizeof(c->a_answer));
	if (bl < 0) {
		fail_a(c, 500, NULL);
		return;
	}
	c->a_answer_len = bl;
	ri->await_ack = 1;
	c->state = CS_CONFIRMED;
	c->answer_ms = b2b_wall_ms();
	session_timer_arm(c, &ri->m);
	mirror_to_a(c, &ri->m, 1);
	c->wk->st.answered++;
	/* the "answer" record waits for A's answer: both legs' suites known */
	SBC_INFO("call %" PRIx64 ": answered by %s (delayed offer: the caller's answer awaited)", c->id,
		 c->trunk_out);
}

/* A's ACK to our 2xx with B's offer. */
void dly_answer(b2b_cl *c, const sip_msg *ack)
{
	int r = delayed_answer(c, c->dly, ack);
	dly_done(c);
	if (r < 0) {
		/* B got its ACK (with an answer declining every stream): the
		 * call cannot go on. 400 when the ACK had no answer at all (it
		 * MUST, RFC 3261 13.2.2.4), 488 when it broke our offer */
		const char *rsn = ack->body.n ? RSN_BAD_ANSWER : RSN_NO_ANSWER_SDP;
		leg_bye(c, 0, rsn);
		leg_bye(c, 1, rsn);
		call_end(c, ack->body.n ? 488 : 400,
			 ack->body.n ? "answer in the ACK not acceptable" : "ACK without an answer to the delayed offer");
		return;
	}
	c->b_sdp_done = 1; /* the call records carry both legs' suites */
	call_event(c, "answer", 200, NULL);
	SBC_INFO("call %" PRIx64 ": the caller answered the delayed offer", c->id);
}

/* B's 2xx with the offer still un-ACKed as its dialog is BYEd: the ACK
 * first, answering the offer (when it parsed) by declining every stream. */
void b_ack_release(b2b_cl *c)
{
	b2b_wk *k = c->wk;
	int bl = -1;
	c->b_ack_due = 0;
	if (c->dly && c->dly->has_sdp)
		bl = b2b_sdp_build_decline(&c->sdp, 1, &c->dly->offer, &c->b_local, k->body, sizeof(k->body));
	b2b_body b = {.type = "application/sdp", .data = k->body, .len = bl > 0 ? (size_t)bl : 0};
	leg_request_ex(c, 1, SIP_M_ACK, NULL, 0, bl > 0 ? &b : NULL);
}
