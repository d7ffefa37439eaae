/* sbc-media — SRTP seam, provisional provider: libsrtp2 as installed.
 * Replaced by the srtp module (srtp.h) once it lands; the relay only sees
 * xcrypt.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "sbc/err.h"
#include "xcrypt.h"

struct med_xc {
	srtp_t s;
	bool outbound;
	uint8_t suite;
	uint8_t tag_len; /* SRTCP trailer auth tag */
	sbc_srtp_params params;
	med_xc_state *st;
};

static const struct {
	const char *name;
	int key_len;
	int rtcp_tag;
} suites[SBC_SRTP_SUITE_MAX_] = {
	[SBC_SRTP_NONE] = {"NONE", 0, 0},
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_80] = {"AES_CM_128_HMAC_SHA1_80", 30, 10},
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_32] = {"AES_CM_128_HMAC_SHA1_32", 30, 10},
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_80] = {"AES_256_CM_HMAC_SHA1_80", 46, 10},
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_32] = {"AES_256_CM_HMAC_SHA1_32", 46, 10},
	[SBC_SRTP_AEAD_AES_128_GCM] = {"AEAD_AES_128_GCM", 28, 0},
	[SBC_SRTP_AEAD_AES_256_GCM] = {"AEAD_AES_256_GCM", 44, 0},
	[SBC_SRTP_NULL_HMAC_SHA1_80] = {"NULL_HMAC_SHA1_80", 30, 10},
};

int med_xc_key_len(unsigned suite)
{
	return suite < SBC_SRTP_SUITE_MAX_ ? suites[suite].key_len : -1;
}

const char *med_xc_suite_name(unsigned suite)
{
	return suite < SBC_SRTP_SUITE_MAX_ ? suites[suite].name : "?";
}

int med_xc_global_init(char *errbuf, size_t errlen)
{
	srtp_err_status_t e = srtp_init();
	if (e != srtp_err_status_ok) {
		snprintf(errbuf, errlen, "srtp_init failed (%d)", (int)e);
		return SBC_E_SRTP;
	}
	return 0;
}

static int set_policy(srtp_crypto_policy_t *p, unsigned suite, bool rtcp)
{
	switch (suite) {
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_80: srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p); break;
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_32:
		if (rtcp) /* RFC 4568: SRTCP keeps the 80-bit tag */
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p);
		else
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p);
		break;
	case SBC_SRTP_AES_256_CM_HMAC_SHA1_80: srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p); break;
	case SBC_SRTP_AES_256_CM_HMAC_SHA1_32:
		if (rtcp)
			srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(p);
		else
			srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(p);
		break;
	case SBC_SRTP_AEAD_AES_128_GCM: srtp_crypto_policy_set_aes_gcm_128_16_auth(p); break;
	case SBC_SRTP_AEAD_AES_256_GCM: srtp_crypto_policy_set_aes_gcm_256_16_auth(p); break;
	case SBC_SRTP_NULL_HMAC_SHA1_80: srtp_crypto_policy_set_null_cipher_hmac_sha1_80(p); break;
	default: return SBC_E_INVAL;
	}
	return 0;
}

static int make_session(med_xc *x, med_xc_state *st)
{
	srtp_policy_t pol;
	memset(&pol, 0, sizeof(pol));
	if (set_policy(&pol.rtp, x->suite, false) || set_policy(&pol.rtcp, x->suite, true))
		return SBC_E_INVAL;
	if (st && st->have_rtp) {
		pol.ssrc.type = ssrc_specific;
		pol.ssrc.value = st->ssrc;
	} else {
		pol.ssrc.type = x->outbound ? ssrc_any_outbound : ssrc_any_inbound;
	}
	pol.key = x->params.key;
	pol.window_size = 1024;
	pol.allow_repeat_tx = 0;
	if (srtp_create(&x->s, &pol) != srtp_err_status_ok)
		return SBC_E_SRTP;
	if (st && st->have_rtp) {
		/* A template too, for SSRCs that appear later. */
		pol.ssrc.type = x->outbound ? ssrc_any_outbound : ssrc_any_inbound;
		pol.ssrc.value = 0;
		if (srtp_add_stream(x->s, &pol) != srtp_err_status_ok)
			return SBC_E_SRTP;
		if (st->roc)
			srtp_set_stream_roc(x->s, st->ssrc, st->roc);
	}
	if (st && st->have_rtcp && x->outbound) {
		/* Continue the SRTCP index: burn the used ones (RTCP is rare). */
		uint8_t rr[64] = {0x80, 201, 0, 1};
		rr[4] = (uint8_t)(st->ssrc >> 24);
		rr[5] = (uint8_t)(st->ssrc >> 16);
		rr[6] = (uint8_t)(st->ssrc >> 8);
		rr[7] = (uint8_t)st->ssrc;
		for (uint32_t i = 0; i < st->srtcp_index && i < 1000000; i++) {
			int len = 8;
			srtp_protect_rtcp(x->s, rr, &len);
		}
	}
	return 0;
}

int med_xc_create(med_xc **out, const sbc_srtp_params *p, bool outbound, med_xc_state *st)
{
	med_xc *x;
	int ret;
	if (p->suite == SBC_SRTP_NONE || p->suite >= SBC_SRTP_SUITE_MAX_ ||
	    p->key_len != suites[p->suite].key_len)
		return SBC_E_INVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->outbound = outbound;
	x->suite = p->suite;
	x->tag_len = (uint8_t)suites[p->suite].rtcp_tag;
	x->params = *p;
	x->st = st;
	if ((ret = make_session(x, (st->have_rtp || st->have_rtcp) ? st : NULL)) != 0) {
		free(x);
		return ret;
	}
	*out = x;
	return 0;
}

void med_xc_destroy(med_xc *x)
{
	if (!x)
		return;
	if (x->s)
		srtp_dealloc(x->s);
	memset(&x->params, 0, sizeof(x->params));
	free(x);
}

static int map_err(srtp_err_status_t e)
{
	switch (e) {
	case srtp_err_status_ok: return 0;
	case srtp_err_status_auth_fail: return SBC_E_AUTH;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old: return SBC_E_REPLAY;
	case srtp_err_status_bad_param: return SBC_E_PARSE;
	default: return SBC_E_SRTP;
	}
}

int med_xc_rtp(med_xc *x, uint8_t *pkt, int *len, int cap)
{
	srtp_err_status_t e;
	if (*len < 12)
		return SBC_E_PARSE;
	if (x->outbound) {
		if (*len + SRTP_MAX_TRAILER_LEN > cap)
			return SBC_E_PARSE;
		e = srtp_protect(x->s, pkt, len);
	} else {
		e = srtp_unprotect(x->s, pkt, len);
	}
	if (e == srtp_err_status_ok) {
		uint16_t seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
		uint32_t roc;
		x->st->ssrc = (uint32_t)pkt[8] << 24 | (uint32_t)pkt[9] << 16 | (uint32_t)pkt[10] << 8 | pkt[11];
		if (x->st->have_rtp && seq < x->st->seq && x->st->seq - seq > 32768 &&
		    srtp_get_stream_roc(x->s, x->st->ssrc, &roc) == srtp_err_status_ok)
			x->st->roc = roc;
		x->st->seq = seq;
		x->st->have_rtp = 1;
	}
	return map_err(e);
}

int med_xc_rtcp(med_xc *x, uint8_t *pkt, int *len, int cap)
{
	srtp_err_status_t e;
	if (*len < 8)
		return SBC_E_PARSE;
	if (x->outbound) {
		if (*len + SRTP_MAX_TRAILER_LEN + 4 > cap)
			return SBC_E_PARSE;
		e = srtp_protect_rtcp(x->s, pkt, len);
		if (e == srtp_err_status_ok && *len >= x->tag_len + 4 + 8) {
			const uint8_t *ix = pkt + *len - x->tag_len - 4;
			x->st->srtcp_index = ((uint32_t)ix[0] << 24 | (uint32_t)ix[1] << 16 |
					      (uint32_t)ix[2] << 8 | ix[3]) & 0x7fffffffu;
			x->st->ssrc = (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 | (uint32_t)pkt[6] << 8 | pkt[7];
			x->st->have_rtcp = 1;
		}
	} else {
		e = srtp_unprotect_rtcp(x->s, pkt, len);
	}
	return map_err(e);
}

