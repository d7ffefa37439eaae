/* sbc-signal — offer/answer across the legs. See b2b_sdp.h. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <openssl/mem.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "b2b_media.h"
#include "b2b_sdp.h"
#include "sig_self.h"

void b2b_sdp_init(b2b_sdp *x, const store_srtp_policy *pol_a, const store_srtp_policy *pol_b,
		  const struct sig_self *self, sdes_rand_fn rnd, void *rnd_arg, uint64_t sess_id)
{
	b2b_sdp_wipe(x);
	memset(x, 0, offsetof(b2b_sdp, s)); /* the streams are zero now */
	x->pol[0] = pol_a;
	x->pol[1] = pol_b;
	x->self = self;
	x->rnd = rnd;
	x->rnd_arg = rnd_arg;
	sdp_origin_init(&x->origin[0], "sbc", sess_id);
	sdp_origin_init(&x->origin[1], "sbc", sess_id + 1);
}

/* Whether the peer address of a media leg just filled from an SDP is one
 * of our own endpoints (sig_self.h): logged, the caller answers 488. */
static int leg_names_us(const b2b_sdp *x, const sbc_media_leg *l, int rtp)
{
	if (!x->self)
		return 0;
	/* RTCP without a=rtcp (family 0) goes to the RTP port + 1 (RFC 3550
	 * 11), unless muxed: for RTP lines the next port counts too */
	sbc_addr rtcp = l->remote_rtcp;
	if (rtp && !rtcp.sa.sa_family && l->remote_rtp.sa.sa_family && sbc_addr_port(&l->remote_rtp) < 65535) {
		rtcp = l->remote_rtp;
		sbc_addr_set_port(&rtcp, (uint16_t)(sbc_addr_port(&l->remote_rtp) + 1));
	}
	const sbc_addr *a = sig_self_is_ours(x->self, &l->remote_rtp) ? &l->remote_rtp
			    : sig_self_is_ours(x->self, &rtcp)          ? &rtcp
									: NULL;
	if (!a)
		return 0;
	char t[SBC_ADDR_STRLEN];
	SBC_NOTICE("SDP names %s, this SBC's own relay port or SIP listener, as its media address: refused (488)",
		   sbc_addr_format(a, t, sizeof(t)));
	return 1;
}

/* The streams s[0..n) with n at least n_dirty (clamped). */
static void wipe_streams(b2b_sdp *x, unsigned n)
{
	if (n < x->n_dirty)
		n = x->n_dirty;
	if (n > SDP_MAX_MEDIA)
		n = SDP_MAX_MEDIA;
	if (n)
		OPENSSL_cleanse(x->s, n * sizeof(x->s[0]));
	x->n_dirty = 0;
}

void b2b_sdp_wipe(b2b_sdp *x) { wipe_streams(x, 0); }

static const store_srtp_policy off_policy = {.mode = STORE_SRTP_OFF};

int b2b_sdp_offer(b2b_sdp *x, unsigned offerer, const sdp_session *offer, uint64_t session_id_base,
		  sbc_msg_media msgs[SDP_MAX_MEDIA])
{
	unsigned ans = 1 - (offerer & 1), active = 0;
	int r;

	/* the last exchange's messages (their keys) go first, whatever
	 * follows: make_offer relies on it */
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++)
		memset(&msgs[i], 0, sizeof(msgs[i]));
	if (offerer > 1 || offer->n_media > SDP_MAX_MEDIA)
		return -EINVAL;
	/* the streams this offer uses are zeroed whatever n_dirty says:
	 * those with a declined line are read with only offer_savp set */
	wipe_streams(x, offer->n_media);
	x->n_dirty = (uint8_t)offer->n_media;
	x->offerer = (uint8_t)offerer;
	x->n_media = offer->n_media;
	for (unsigned i = 0; i < offer->n_media; i++) {
		const sdp_media *m = &offer->media[i];
		b2b_sdp_stream *s = &x->s[i];
		s->offer_savp = m->savp;
		s->offer_hold = (uint8_t)sdp_media_on_hold(offer, i);
		if (m->port == 0)
			continue; /* declined by the offerer: no session */
		s->rtp = m->rtp;
		s->mux_offered = m->rtcp_mux;
		const store_srtp_policy *po = s->rtp ? x->pol[offerer] : &off_policy;
		const store_srtp_policy *pa = s->rtp ? x->pol[ans] : &off_policy;
		if (!s->rtp && m->n_crypto) /* non-RTP media with SDES: nothing we can honour */
			po = &off_policy;
		r = sdes_answer(po, s->rtp ? m->savp : 0, m->crypto, m->n_crypto, x->rnd, x->rnd_arg, &s->off_res);
		if (r < 0)
			goto Fail;
		r = sdes_make_offer(pa, x->rnd, x->rnd_arg, &s->ans_off);
		if (r < 0) {
			r = sbc_err_sip(500); /* policy on without suites, or no randomness */
			goto Fail;
		}
		sbc_msg_media *mm = &msgs[i];
		mm->session_id = session_id_base + i;
		r = b2b_media_fill_leg(&mm->leg[offerer], offer, i, &s->off_res, 1);
		if (r < 0 || leg_names_us(x, &mm->leg[offerer], s->rtp)) {
			r = sbc_err_sip(488); /* c= not an IP literal, or us */
			goto Fail;
		}
		b2b_media_fill_leg(&mm->leg[ans], NULL, 0, NULL, 1);
		s->active = 1;
		active++;
	}
	return (int)active;
Fail:
	b2b_sdp_wipe(x);
	for (unsigned i = 0; i < SDP_MAX_MEDIA; i++)
		b2b_media_wipe(&msgs[i]);
	return r;
}

void b2b_sdp_decline(b2b_sdp *x, unsigned i, sbc_msg_media msgs[SDP_MAX_MEDIA])
{
	if (i >= x->n_media || !x->s[i].active)
		return;
	x->s[i].active = 0;
	b2b_media_wipe(&msgs[i]);
	msgs[i].session_id = 0;
}

/* The one relay IP all active lines use. */
static const sbc_addr *common_addr(const b2b_sdp *x, const sbc_addr relay[SDP_MAX_MEDIA])
{
	const sbc_addr *a = NULL;
	for (unsigned i = 0; i < x->n_media; i++) {
		if (!x->s[i].active)
			continue;
		if (!a)
			a = &relay[i];
		else if (!sbc_addr_equal_ip(a, &relay[i]))
			return NULL;
	}
	return a ? a : &relay[0];
}

int b2b_sdp_build_offer(b2b_sdp *x, const sdp_session *offer, const sbc_addr relay[SDP_MAX_MEDIA], char *out,
			size_t cap)
{
	const char *lines[SDP_MAX_MEDIA][SBC_SRTP_SUITE_MAX_];
	unsigned ans = 1 - x->offerer;
	sdp_rewrite rw = {.origin = &x->origin[ans]};

	if (offer->n_media != x->n_media || !(rw.addr = common_addr(x, relay)))
		return -EINVAL;
	for (unsigned i = 0; i < x->n_media; i++) {
		const b2b_sdp_stream *s = &x->s[i];
		sdp_media_out *mo = &rw.media[i];
		if (!s->active) { /* declined: port 0, the profile this leg expects */
			mo->savp = x->pol[ans]->mode == STORE_SRTP_REQUIRED;
			continue;
		}
		mo->port = sbc_addr_port(&relay[i]);
		mo->savp = s->ans_off.savp;
		mo->rtcp_mux = s->mux_offered;
		for (unsigned k = 0; k < s->ans_off.n; k++)
			lines[i][k] = s->ans_off.line[k];
		mo->crypto = lines[i];
		mo->n_crypto = s->ans_off.n;
	}
	return sdp_rewrite_build(offer, &rw, out, cap);
}

int b2b_sdp_answer(b2b_sdp *x, const sdp_session *answer, sbc_msg_media msgs[SDP_MAX_MEDIA])
{
	unsigned ans = 1 - x->offerer;
	int r;

	if (answer->n_media != x->n_media)
		return sbc_err_sip(488); /* RFC 3264 6: one answer line per offer line */
	for (unsigned i = 0; i < x->n_media; i++) {
		b2b_sdp_stream *s = &x->s[i];
		const sdp_media *m = &answer->media[i];
		if (!s->active)
			continue;
		if (m->port == 0) { /* declined by the answerer */
			s->active = 0;
			b2b_media_wipe(&msgs[i]);
			msgs[i].session_id = 0;
			continue;
		}
		if (s->rtp) {
			r = sdes_check_answer(&s->ans_off, m->savp, m->crypto, m->n_crypto, &s->ans_res);
			if (r < 0)
				return r;
		} else if (m->n_crypto) {
			return sbc_err_sip(488);
		}
		r = b2b_media_fill_leg(&msgs[i].leg[ans], answer, i, &s->ans_res, 1);
		if (r < 0 || leg_names_us(x, &msgs[i].leg[ans], s->rtp))
			return sbc_err_sip(488);
		if (s->mux_offered && m->rtcp_mux)
			msgs[i].flags |= SBC_MEDIA_F_RTCP_MUX;
		else
			msgs[i].flags &= ~(uint32_t)SBC_MEDIA_F_RTCP_MUX;
		/* on hold no RTP need flow either way */
		msgs[i].timeout_ms = s->offer_hold || sdp_media_on_hold(answer, i) ? B2B_SDP_HOLD_TIMEOUT_MS : 0;
	}
	x->n_agreed = (uint8_t)x->n_media;
	x->agreed = 0;
	for (unsigned i = 0; i < x->n_media; i++)
		x->agreed |= (uint8_t)(x->s[i].active << i);
	return 0;
}

int b2b_sdp_build_answer(b2b_sdp *x, const sdp_session *answer, const sbc_addr relay[SDP_MAX_MEDIA], char *out,
			 size_t cap)
{
	const char *lines[SDP_MAX_MEDIA][1];
	sdp_rewrite rw = {.origin = &x->origin[x->offerer]};

	if (answer->n_media != x->n_media || !(rw.addr = common_addr(x, relay)))
		return -EINVAL;
	for (unsigned i = 0; i < x->n_media; i++) {
		const b2b_sdp_stream *s = &x->s[i];
		sdp_media_out *mo = &rw.media[i];
		if (!s->active) { /* declined: port 0 with the offered profile (RFC 3264 6) */
			mo->savp = s->offer_savp;
			continue;
		}
		mo->port = sbc_addr_port(&relay[i]);
		mo->savp = s->off_res.savp;
		mo->rtcp_mux = s->mux_offered; /* kept only if the answer has it too */
		if (s->off_res.srtp) {
			lines[i][0] = s->off_res.line;
			mo->crypto = lines[i];
			mo->n_crypto = 1;
		}
	}
	return sdp_rewrite_build(answer, &rw, out, cap);
}

int b2b_sdp_build_decline(b2b_sdp *x, unsigned leg, const sdp_session *offer, const sbc_addr *addr, char *out,
			  size_t cap)
{
	sdp_rewrite rw = {.origin = &x->origin[leg & 1], .addr = addr};

	if (!addr || offer->n_media > SDP_MAX_MEDIA)
		return -EINVAL;
	for (unsigned i = 0; i < offer->n_media; i++)
		rw.media[i].savp = offer->media[i].savp; /* port 0 (declined), no crypto */
	return sdp_rewrite_build(offer, &rw, out, cap);
}

enum sbc_srtp_suite b2b_sdp_suite(const b2b_sdp *x, unsigned leg)
{
	for (unsigned i = 0; i < x->n_media; i++) {
		const b2b_sdp_stream *s = &x->s[i];
		if (!s->active)
			continue;
		const sdes_result *r = leg == x->offerer ? &s->off_res : &s->ans_res;
		return r->srtp ? (enum sbc_srtp_suite)r->rx.suite : SBC_SRTP_NONE;
	}
	return SBC_SRTP_NONE;
}
