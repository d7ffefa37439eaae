/* sbc-media — SRTP contexts over libsrtp2 (with the BoringSSL types from
 * srtp_boring.c), suites, process-global set-up and its fail-closed
 * self-check. See srtp.h for the contract. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>
#include <openssl/sha.h>

#include <srtp2/srtp.h>

#include "sbc/err.h"
#include "srtp.h"

/* ------------------------------------------------------------------------ */
/* suites                                                                    */

typedef struct suite_info {
	const char *name;
	uint8_t key, salt;    /* master key and salt bytes */
	uint8_t rtp_tag;      /* SRTP auth tag bytes */
	uint8_t rtcp_tag;     /* SRTCP auth tag bytes */
} suite_info;

static const suite_info suites[SBC_SRTP_SUITE_MAX_] = {
	[SBC_SRTP_NONE] = {"NONE", 0, 0, 0, 0},
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_80] = {"AES_CM_128_HMAC_SHA1_80", 16, 14, 10, 10},
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_32] = {"AES_CM_128_HMAC_SHA1_32", 16, 14, 4, 10},
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_80] = {"AES_256_CM_HMAC_SHA1_80", 32, 14, 10, 10},
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_32] = {"AES_256_CM_HMAC_SHA1_32", 32, 14, 4, 10},
	[SBC_SRTP_AEAD_AES_128_GCM] = {"AEAD_AES_128_GCM", 16, 12, 16, 16},
	[SBC_SRTP_AEAD_AES_256_GCM] = {"AEAD_AES_256_GCM", 32, 12, 16, 16},
	[SBC_SRTP_NULL_HMAC_SHA1_80] = {"NULL_HMAC_SHA1_80", 16, 14, 10, 10},
};

/* Spellings seen in the field for the RFC 6188 suites. */
static const struct {
	const char *name;
	uint8_t suite;
} suite_aliases[] = {
	{"AES_CM_256_HMAC_SHA1_80", SBC_SRTP_AES_256_CM_HMAC_SHA1_80},
	{"AES_CM_256_HMAC_SHA1_32", SBC_SRTP_AES_256_CM_HMAC_SHA1_32},
};

static bool suite_ok(unsigned s)
{
	return s > SBC_SRTP_NONE && s < SBC_SRTP_SUITE_MAX_;
}

const char *med_srtp_suite_name(unsigned suite)
{
	return suite < SBC_SRTP_SUITE_MAX_ ? suites[suite].name : NULL;
}

int med_srtp_suite_from_name(const char *name, size_t len)
{
	if (!name)
		return SBC_E_UNSUPPORTED;
	for (unsigned s = SBC_SRTP_NONE + 1; s < SBC_SRTP_SUITE_MAX_; s++)
		if (strlen(suites[s].name) == len && memcmp(suites[s].name, name, len) == 0)
			return (int)s;
	for (size_t i = 0; i < sizeof(suite_aliases) / sizeof(suite_aliases[0]); i++)
		if (strlen(suite_aliases[i].name) == len &&
		    memcmp(suite_aliases[i].name, name, len) == 0)
			return suite_aliases[i].suite;
	return SBC_E_UNSUPPORTED;
}

int med_srtp_key_len(unsigned suite)
{
	if (suite >= SBC_SRTP_SUITE_MAX_)
		return SBC_E_INVAL;
	return suites[suite].key + suites[suite].salt;
}

int med_srtp_master_key_len(unsigned suite)
{
	return suite < SBC_SRTP_SUITE_MAX_ ? suites[suite].key : SBC_E_INVAL;
}

int med_srtp_master_salt_len(unsigned suite)
{
	return suite < SBC_SRTP_SUITE_MAX_ ? suites[suite].salt : SBC_E_INVAL;
}

int med_srtp_rtp_overhead(unsigned suite)
{
	return suite < SBC_SRTP_SUITE_MAX_ ? suites[suite].rtp_tag : SBC_E_INVAL;
}

int med_srtp_rtcp_overhead(unsigned suite)
{
	if (suite >= SBC_SRTP_SUITE_MAX_)
		return SBC_E_INVAL;
	return suite == SBC_SRTP_NONE ? 0 : suites[suite].rtcp_tag + 4;
}

static int set_policy(unsigned suite, srtp_crypto_policy_t *rtp, srtp_crypto_policy_t *rtcp)
{
	switch (suite) {
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
		return 0;
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_32:
		/* RFC 4568 6.2.1: SRTCP keeps the 80-bit tag. */
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(rtcp);
		return 0;
	case SBC_SRTP_AES_256_CM_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
		return 0;
	case SBC_SRTP_AES_256_CM_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(rtcp);
		return 0;
	case SBC_SRTP_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
		return 0;
	case SBC_SRTP_AEAD_AES_256_GCM:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(rtcp);
		return 0;
	case SBC_SRTP_NULL_HMAC_SHA1_80:
		srtp_crypto_policy_set_null_cipher_hmac_sha1_80(rtp);
		srtp_crypto_policy_set_null_cipher_hmac_sha1_80(rtcp);
		return 0;
	default:
		return SBC_E_INVAL;
	}
}

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The packet index libsrtp2 will estimate for seq given the highest index hi
 * (mirrors srtp_rdbx_estimate_index/srtp_index_guess, RFC 3711 3.3.1).
 * Returns 0 for a packet from before ROC 0 (libsrtp2 refuses it as old). */
static uint64_t est_index(uint64_t hi, uint16_t seq)
{
	uint32_t roc, v;
	uint16_t s_l;

	if (hi <= 0x8000)
		return seq;
	roc = (uint32_t)(hi >> 16);
	s_l = (uint16_t)hi;
	v = roc;
	if (s_l < 0x8000) {
		if ((int)seq - (int)s_l > 0x8000) {
			if (roc == 0)
				return 0;
			v = roc - 1;
		}
	} else if ((int)s_l - 0x8000 > (int)seq) {
		v = roc + 1;
	}
	return (uint64_t)v << 16 | seq;
}

/* Where the E|SRTCP index sits: AES-CM/NULL (RFC 3711 3.4) put it before
 * the tag, AEAD (RFC 7714 9) after the tag, at the very end. */
static inline const uint8_t *rtcp_index_at(const med_srtp_ctx *c, const uint8_t *pkt, int len)
{
	bool aead = c->_suite == SBC_SRTP_AEAD_AES_128_GCM || c->_suite == SBC_SRTP_AEAD_AES_256_GCM;
	return pkt + len - (aead ? 4 : c->_rtcp_trailer);
}

static int map_status(srtp_err_status_t e, bool unprotect)
{
	switch (e) {
	case srtp_err_status_ok:
		return 0;
	case srtp_err_status_auth_fail:
		return SBC_E_AUTH;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
	case srtp_err_status_pkt_idx_old:
		return SBC_E_REPLAY;
	case srtp_err_status_bad_param:
	case srtp_err_status_parse_err:
		return SBC_E_PARSE;
	case srtp_err_status_cipher_fail:
		/* unprotect: a GCM packet shorter than its tag */
		return unprotect ? SBC_E_PARSE : SBC_E_SRTP;
	case srtp_err_status_key_expired:
		return SBC_E_LIMIT;
	case srtp_err_status_alloc_fail:
		return -ENOMEM;
	default:
		return SBC_E_SRTP;
	}
}

/* The state a context writes: the caller's, or its own (found through c so
 * that a context may be moved while idle). */
static inline med_srtp_state *st_of(med_srtp_ctx *c)
{
	return c->_st ? c->_st : &c->_own;
}

/* Stores for the restart state: each field with a release store, and the
 * valid flag cleared around an SSRC change, so that a reader never pairs
 * one SSRC with another's index (x86-64: plain moves, ordered). */
#define ST_STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELEASE)

static void track_rtp_new(med_srtp_ctx *c, uint32_t ssrc, uint16_t seq)
{
	med_srtp_state *st = st_of(c);
	uint32_t roc = 0;

	if (srtp_get_stream_roc((srtp_t)c->_srtp, ssrc, &roc) != srtp_err_status_ok)
		roc = 0;
	ST_STORE(st->have_rtp, 0);
	ST_STORE(st->rtp_ssrc, ssrc);
	ST_STORE(st->rtp_index, (uint64_t)roc << 16 | seq);
	ST_STORE(st->have_rtp, 1);
}

static void track_rtcp(med_srtp_ctx *c, uint32_t ssrc, uint32_t index)
{
	med_srtp_state *st = st_of(c);

	if (st->have_rtcp && st->rtcp_ssrc == ssrc) {
		if (index > st->rtcp_index)
			ST_STORE(st->rtcp_index, index);
		return;
	}
	ST_STORE(st->have_rtcp, 0);
	ST_STORE(st->rtcp_ssrc, ssrc);
	ST_STORE(st->rtcp_index, index);
	ST_STORE(st->have_rtcp, 1);
}

/* ------------------------------------------------------------------------ */
/* contexts                                                                  */

static int g_state; /* 0: not run, 1: ready, -1: failed (closed) */
static char g_err[192];

bool med_srtp_ready(void)
{
	return g_state == 1;
}

/* Outbound SRTCP after a restart: libsrtp2 numbers SRTCP packets from 1 and
 * has no setter, so burn the indices already used with header-only RRs. */
#define MED_SRTP_FF_MAX (1u << 24)

static int rtcp_fast_forward(srtp_t s, uint32_t ssrc, uint32_t count)
{
	uint8_t rr[8 + 32];

	if (count > MED_SRTP_FF_MAX)
		return SBC_E_LIMIT;
	for (uint32_t i = 0; i < count; i++) {
		int len = 8;
		rr[0] = 0x80;
		rr[1] = 201; /* RR, no report blocks */
		rr[2] = 0;
		rr[3] = 1;
		rr[4] = (uint8_t)(ssrc >> 24);
		rr[5] = (uint8_t)(ssrc >> 16);
		rr[6] = (uint8_t)(ssrc >> 8);
		rr[7] = (uint8_t)ssrc;
		srtp_err_status_t e = srtp_protect_rtcp(s, rr, &len);
		if (e != srtp_err_status_ok)
			return map_status(e, false);
	}
	return 0;
}

static int add_stream(srtp_t s, const srtp_policy_t *tmpl, uint32_t ssrc)
{
	srtp_policy_t p = *tmpl;

	p.ssrc.type = ssrc_specific;
	p.ssrc.value = ssrc;
	p.next = NULL;
	return map_status(srtp_add_stream(s, &p), false);
}

static int ctx_init(med_srtp_ctx *c, unsigned suite, const uint8_t *key,
		    size_t key_len, bool outbound, med_srtp_state *st)
{
	uint8_t keybuf[SRTP_MAX_KEY_LEN];
	srtp_policy_t pol;
	srtp_t s = NULL;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!suite_ok(suite) || !key || key_len != (size_t)med_srtp_key_len(suite))
		return SBC_E_INVAL;
	memset(&pol, 0, sizeof(pol));
	memset(keybuf, 0, sizeof(keybuf));
	memcpy(keybuf, key, key_len);
	if ((ret = set_policy(suite, &pol.rtp, &pol.rtcp)) != 0)
		goto Exit;
	pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	pol.key = keybuf;
	pol.window_size = 0; /* libsrtp2 default: 128 */
	pol.allow_repeat_tx = 0;
	if ((ret = map_status(srtp_create(&s, &pol), false)) != 0) {
		s = NULL;
		goto Exit;
	}
	c->_srtp = s;
	c->_suite = (uint8_t)suite;
	c->_outbound = outbound;
	c->_rtp_trailer = suites[suite].rtp_tag;
	c->_rtcp_trailer = (uint8_t)(suites[suite].rtcp_tag + 4);
	c->_st = st;
	st = st_of(c);

	/* Restart: continue the saved streams (srtp.h caveat 6). */
	if (st->have_rtp) {
		uint32_t ssrc = st->rtp_ssrc;
		if ((ret = add_stream(s, &pol, ssrc)) != 0)
			goto Exit;
		c->_floor_rtp = st->rtp_index;
		c->_floor_rtp_ssrc = ssrc;
		c->_floor_rtp_on = 1;
		c->_resume_rtp = 1;
	}
	if (st->have_rtcp) {
		uint32_t ssrc = st->rtcp_ssrc;
		if (!(st->have_rtp && st->rtp_ssrc == ssrc) &&
		    (ret = add_stream(s, &pol, ssrc)) != 0)
			goto Exit;
		if (outbound) {
			if ((ret = rtcp_fast_forward(s, ssrc, st->rtcp_index & 0x7fffffffu)) != 0)
				goto Exit;
		} else {
			c->_floor_rtcp = st->rtcp_index & 0x7fffffffu;
			c->_floor_rtcp_ssrc = ssrc;
			c->_floor_rtcp_on = 1;
		}
	}
	ret = 0;
Exit:
	OPENSSL_cleanse(keybuf, sizeof(keybuf));
	if (ret != 0) {
		if (s)
			srtp_dealloc(s);
		memset(c, 0, sizeof(*c));
	}
	return ret;
}

int med_srtp_ctx_init(med_srtp_ctx *c, unsigned suite, const uint8_t *key,
		      size_t key_len, bool outbound, med_srtp_state *st)
{
	if (!c)
		return SBC_E_INVAL;
	if (g_state != 1) {
		memset(c, 0, sizeof(*c));
		return SBC_E_STATE;
	}
	return ctx_init(c, suite, key, key_len, outbound, st);
}

void med_srtp_ctx_destroy(med_srtp_ctx *c)
{
	if (!c)
		return;
	if (c->_srtp)
		srtp_dealloc((srtp_t)c->_srtp); /* libsrtp2 wipes its keys */
	memset(c, 0, sizeof(*c));
}

void med_srtp_ctx_state(const med_srtp_ctx *c, med_srtp_state *out)
{
	if (c && c->_srtp)
		*out = c->_st ? *c->_st : c->_own;
	else
		memset(out, 0, sizeof(*out));
}

int med_srtp_ctx_roc(med_srtp_ctx *c, uint32_t ssrc, uint32_t *roc)
{
	if (!c || !c->_srtp)
		return SBC_E_INVAL;
	if (srtp_get_stream_roc((srtp_t)c->_srtp, ssrc, roc) != srtp_err_status_ok)
		return SBC_E_NOT_FOUND;
	return 0;
}

/* Shared RTP path for protect (outbound) and unprotect (inbound).
 * Restored stream (srtp.h caveat 6): until its first packet passes, its
 * index is estimated against the saved one and the ROC handed to libsrtp2;
 * packets at or below the saved index are refused until libsrtp2's own
 * window (128) has moved past it. */
static int rtp_packet(med_srtp_ctx *c, uint8_t *pkt, int *len, bool protect)
{
	med_srtp_state *st = st_of(c);
	srtp_err_status_t e;
	uint32_t ssrc;
	uint16_t seq;
	uint64_t est = 0, fest = 0;
	bool same, floor = false;

	if (*len < 12)
		return SBC_E_PARSE;
	seq = rd16(pkt + 2);
	ssrc = rd32(pkt + 8);
	same = st->have_rtp && st->rtp_ssrc == ssrc;
	if (same)
		est = est_index(st->rtp_index, seq);
	if (c->_floor_rtp_on && ssrc == c->_floor_rtp_ssrc) {
		if (same)
			fest = est, floor = true;
		else if (c->_resume_rtp) /* no packet of it passed yet: the floor is its highest */
			fest = est_index(c->_floor_rtp, seq), floor = true;
		/* else: resumed, then another SSRC took the state; libsrtp2's
		 * window guards it (at most 128 indices of exposure) */
	}
	if (floor) {
		if (fest <= c->_floor_rtp)
			return SBC_E_REPLAY;
		if (c->_resume_rtp && (fest >> 16) != 0 &&
		    srtp_set_stream_roc((srtp_t)c->_srtp, ssrc, (uint32_t)(fest >> 16)) !=
			    srtp_err_status_ok)
			return SBC_E_SRTP;
	}
	e = protect ? srtp_protect((srtp_t)c->_srtp, pkt, len)
		    : srtp_unprotect((srtp_t)c->_srtp, pkt, len);
	if (e != srtp_err_status_ok)
		return map_status(e, !protect);
	if (floor) {
		c->_resume_rtp = 0;
		if (fest > c->_floor_rtp + 128)
			c->_floor_rtp_on = 0;
	}
	if (same) {
		if (est > st->rtp_index)
			ST_STORE(st->rtp_index, est);
	} else {
		track_rtp_new(c, ssrc, seq);
	}
	return 0;
}

/* What every packet call checks first: a set-up context (SBC_E_STATE if
 * not) of the call's direction, a packet and a length that is not negative
 * (SBC_E_INVAL if not). Returns 0 when all hold. */
static int packet_args(const med_srtp_ctx *c, const uint8_t *pkt, const int *len, bool outbound)
{
	if (!c || !c->_srtp || !c->_outbound != !outbound)
		return c && !c->_srtp ? SBC_E_STATE : SBC_E_INVAL;
	if (!pkt || !len || *len < 0)
		return SBC_E_INVAL;
	return 0;
}

int med_srtp_protect(med_srtp_ctx *c, uint8_t *pkt, int *len, int cap)
{
	int r = packet_args(c, pkt, len, true);

	if (r)
		return r;
	if (cap < *len || cap - *len < c->_rtp_trailer)
		return SBC_E_LIMIT;
	return rtp_packet(c, pkt, len, true);
}

int med_srtp_unprotect(med_srtp_ctx *c, uint8_t *pkt, int *len)
{
	int r = packet_args(c, pkt, len, false);

	return r ? r : rtp_packet(c, pkt, len, false);
}

int med_srtp_protect_rtcp(med_srtp_ctx *c, uint8_t *pkt, int *len, int cap)
{
	srtp_err_status_t e;
	int r = packet_args(c, pkt, len, true);

	if (r)
		return r;
	if (*len < 8)
		return SBC_E_PARSE;
	if (cap < *len || cap - *len < c->_rtcp_trailer)
		return SBC_E_LIMIT;
	e = srtp_protect_rtcp((srtp_t)c->_srtp, pkt, len);
	if (e != srtp_err_status_ok)
		return map_status(e, false);
	track_rtcp(c, rd32(pkt + 4), rd32(rtcp_index_at(c, pkt, *len)) & 0x7fffffffu);
	return 0;
}

int med_srtp_unprotect_rtcp(med_srtp_ctx *c, uint8_t *pkt, int *len)
{
	srtp_err_status_t e;
	uint32_t ssrc, index;
	int r = packet_args(c, pkt, len, false);

	if (r)
		return r;
	if (*len < 8 + c->_rtcp_trailer)
		return SBC_E_PARSE;
	ssrc = rd32(pkt + 4);
	index = rd32(rtcp_index_at(c, pkt, *len)) & 0x7fffffffu;
	if (c->_floor_rtcp_on && ssrc == c->_floor_rtcp_ssrc && index <= c->_floor_rtcp)
		return SBC_E_REPLAY;
	e = srtp_unprotect_rtcp((srtp_t)c->_srtp, pkt, len);
	if (e != srtp_err_status_ok)
		return map_status(e, true);
	track_rtcp(c, ssrc, index);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* self-check                                                                */

/* SHA-256 over the protected bytes of the self-check traffic for each suite,
 * computed with Debian's stock (NSS) libsrtp2 2.5.0: the replaced types must
 * produce the very same bytes. Regenerate with
 * tests/unit/sbc-media/test_srtp.c (SBC_SRTP_PRINT_KAT=1 prints them
 * from the stock library in its forked child). */
static const uint8_t kat_digest[SBC_SRTP_SUITE_MAX_][32] = {
	[1] = {
		0x0e, 0xe6, 0xce, 0x8f, 0x7c, 0x19, 0x23, 0x88, 0x63, 0x5a, 0x7b, 0x56,
		0xe1, 0xed, 0xf4, 0x0b, 0xee, 0xc2, 0x24, 0xb8, 0x47, 0x08, 0x21, 0x95,
		0xe4, 0x23, 0x27, 0x14, 0x85, 0xe0, 0xba, 0x1f,
	},
	[2] = {
		0x01, 0xb8, 0xfe, 0x00, 0xa8, 0x77, 0x36, 0x14, 0x31, 0xd6, 0x23, 0x53,
		0xf5, 0xbf, 0x76, 0x9b, 0x5d, 0x9f, 0x5b, 0x8f, 0x81, 0x5a, 0x2c, 0xec,
		0xb6, 0x8b, 0x87, 0x66, 0x61, 0xa8, 0xdf, 0xc3,
	},
	[3] = {
		0xa1, 0xe7, 0xd0, 0xeb, 0x0f, 0x53, 0x18, 0xe1, 0x91, 0x3a, 0x29, 0x37,
		0xc0, 0x29, 0xc1, 0x30, 0x6f, 0x5e, 0x26, 0xda, 0xff, 0xfc, 0x5b, 0xef,
		0xea, 0x36, 0x16, 0xeb, 0x1b, 0x6f, 0x7c, 0x0d,
	},
	[4] = {
		0x8c, 0x0c, 0x9a, 0x31, 0xef, 0xdc, 0xc4, 0x6b, 0xe7, 0x58, 0x80, 0xc9,
		0xda, 0x8a, 0xcf, 0x7e, 0xc6, 0x46, 0x07, 0xe3, 0x12, 0x20, 0xb4, 0x5f,
		0x59, 0x3c, 0x13, 0x39, 0xe5, 0x63, 0xe2, 0xf5,
	},
	[5] = {
		0x1d, 0xde, 0x10, 0x4a, 0x19, 0x5b, 0x2d, 0xd8, 0xd1, 0x1d, 0x22, 0x55,
		0x8e, 0xe2, 0x61, 0x1f, 0xe8, 0x23, 0x87, 0xcd, 0xab, 0x18, 0x52, 0x95,
		0x33, 0xfc, 0xd0, 0xce, 0xd6, 0x83, 0x50, 0x62,
	},
	[6] = {
		0x16, 0x6f, 0x3c, 0x06, 0xdf, 0x17, 0xa6, 0x1b, 0x9f, 0xff, 0x24, 0x06,
		0x34, 0xda, 0x52, 0xfe, 0xa9, 0x6b, 0x07, 0x46, 0x44, 0x85, 0xa0, 0x8d,
		0xac, 0x3d, 0xbc, 0x48, 0xe3, 0x12, 0x33, 0x71,
	},
	[7] = {
		0x8e, 0x02, 0x07, 0x69, 0x33, 0x8c, 0xc3, 0x43, 0xf8, 0x41, 0x84, 0x5d,
		0xe0, 0x61, 0x75, 0x62, 0xd1, 0x47, 0x3b, 0xcd, 0xaa, 0x64, 0xb9, 0x08,
		0xd9, 0xce, 0x14, 0x53, 0xe2, 0xea, 0xeb, 0x30,
	},
};

/* Deterministic self-check traffic: 3 RTP packets across a sequence number
 * wrap (ROC 0 -> 1) and 2 SRTCP packets; every one must unprotect back to
 * the original, a flipped bit must fail authentication and a second copy
 * must be refused as a replay. Uses the installed types; digest: SHA-256 of
 * every protected packet. */
int med_srtp__suite_digest(unsigned suite, uint8_t digest[32], char *err, size_t len)
{
	static const uint16_t seqs[3] = {0xfffe, 0xffff, 0x0000};
	uint8_t key[SBC_SRTP_KEY_MAX];
	uint8_t pkt[256], orig[256], copy[256];
	med_srtp_ctx out, in;
	SHA256_CTX h;
	int ret, n, klen = med_srtp_key_len(suite);
	const char *what = "";

	memset(&out, 0, sizeof(out));
	memset(&in, 0, sizeof(in));
	for (int i = 0; i < klen; i++)
		key[i] = (uint8_t)(i * 13 + suite * 7 + 1);
	if ((ret = ctx_init(&out, suite, key, (size_t)klen, true, NULL)) != 0) {
		what = "outbound context";
		goto Exit;
	}
	if ((ret = ctx_init(&in, suite, key, (size_t)klen, false, NULL)) != 0) {
		what = "inbound context";
		goto Exit;
	}
	SHA256_Init(&h);
	for (int p = 0; p < 3; p++) {
		int plen = 12 + 160;
		memset(orig, 0, sizeof(orig));
		orig[0] = 0x80;
		orig[1] = 0x00;
		orig[2] = (uint8_t)(seqs[p] >> 8);
		orig[3] = (uint8_t)seqs[p];
		orig[4] = 0x00; orig[5] = 0x01; orig[6] = 0x02; orig[7] = (uint8_t)(p * 160);
		orig[8] = 0x5e; orig[9] = 0xc0; orig[10] = 0xcf; orig[11] = 0xed;
		for (int i = 12; i < plen; i++)
			orig[i] = (uint8_t)(i * 31 + p);
		memcpy(pkt, orig, (size_t)plen);
		n = plen;
		if ((ret = med_srtp_protect(&out, pkt, &n, (int)sizeof(pkt))) != 0) {
			what = "RTP protect";
			goto Exit;
		}
		if (n != plen + suites[suite].rtp_tag) {
			ret = SBC_E_SRTP;
			what = "RTP protect length";
			goto Exit;
		}
		SHA256_Update(&h, pkt, (size_t)n);
		memcpy(copy, pkt, (size_t)n);
		/* tampered copy first: it must fail and leave no trace */
		copy[n - 1] ^= 0x01;
		int m = n;
		if (med_srtp_unprotect(&in, copy, &m) != SBC_E_AUTH) {
			ret = SBC_E_SRTP;
			what = "RTP tamper detection";
			goto Exit;
		}
		memcpy(copy, pkt, (size_t)n);
		m = n;
		if ((ret = med_srtp_unprotect(&in, pkt, &m)) != 0 || m != plen ||
		    memcmp(pkt, orig, (size_t)plen) != 0) {
			ret = ret ? ret : SBC_E_SRTP;
			what = "RTP unprotect";
			goto Exit;
		}
		m = n;
		if (med_srtp_unprotect(&in, copy, &m) != SBC_E_REPLAY) {
			ret = SBC_E_SRTP;
			what = "RTP replay detection";
			goto Exit;
		}
	}
	for (int p = 0; p < 2; p++) {
		int plen = 28 + 24;
		memset(orig, 0, sizeof(orig));
		orig[0] = 0x80;
		orig[1] = 200; /* SR */
		orig[2] = 0;
		orig[3] = (uint8_t)(plen / 4 - 1);
		orig[4] = 0x5e; orig[5] = 0xc0; orig[6] = 0xcf; orig[7] = 0xed;
		for (int i = 8; i < plen; i++)
			orig[i] = (uint8_t)(i * 17 + p);
		memcpy(pkt, orig, (size_t)plen);
		n = plen;
		if ((ret = med_srtp_protect_rtcp(&out, pkt, &n, (int)sizeof(pkt))) != 0) {
			what = "RTCP protect";
			goto Exit;
		}
		if (n != plen + suites[suite].rtcp_tag + 4) {
			ret = SBC_E_SRTP;
			what = "RTCP protect length";
			goto Exit;
		}
		SHA256_Update(&h, pkt, (size_t)n);
		memcpy(copy, pkt, (size_t)n);
		copy[9] ^= 0x80;
		int m = n;
		if (med_srtp_unprotect_rtcp(&in, copy, &m) != SBC_E_AUTH) {
			ret = SBC_E_SRTP;
			what = "RTCP tamper detection";
			goto Exit;
		}
		memcpy(copy, pkt, (size_t)n);
		m = n;
		if ((ret = med_srtp_unprotect_rtcp(&in, pkt, &m)) != 0 || m != plen ||
		    memcmp(pkt, orig, (size_t)plen) != 0) {
			ret = ret ? ret : SBC_E_SRTP;
			what = "RTCP unprotect";
			goto Exit;
		}
		m = n;
		if (med_srtp_unprotect_rtcp(&in, copy, &m) != SBC_E_REPLAY) {
			ret = SBC_E_SRTP;
			what = "RTCP replay detection";
			goto Exit;
		}
	}
	SHA256_Final(digest, &h);
	ret = 0;
Exit:
	if (ret != 0)
		snprintf(err, len, "SRTP self-check %s: %s failed (%s)",
			 suites[suite].name, what, sbc_strerror(ret));
	med_srtp_ctx_destroy(&out);
	med_srtp_ctx_destroy(&in);
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

/* libsrtp2 versions whose cipher/auth calling conventions srtp_boring.c
 * follows (checked against 2.5.0; the per-suite self-check guards the rest). */
#define MED_SRTP_VER_MIN 0x02040000u /* 2.4.0 */
#define MED_SRTP_VER_MAX 0x0206ffffu /* 2.6.x */

bool med_srtp__version_ok(unsigned v)
{
	return v >= MED_SRTP_VER_MIN && v <= MED_SRTP_VER_MAX;
}

int med_srtp_global_init(char *err, size_t len)
{
	char buf[192];
	unsigned ver;
	uint8_t d[32];
	int ret;

	if (g_state != 0) {
		if (err && len)
			snprintf(err, len, "%s", g_err);
		return g_state == 1 ? 0 : SBC_E_SRTP;
	}
	buf[0] = '\0';
	ver = srtp_get_version();
	if (!med_srtp__version_ok(ver)) {
		snprintf(buf, sizeof(buf),
			 "%s is not a version the BoringSSL types were checked "
			 "against (2.4 .. 2.6)", srtp_get_version_string());
		ret = SBC_E_SRTP;
		goto Exit;
	}
	if (srtp_init() != srtp_err_status_ok) {
		snprintf(buf, sizeof(buf), "srtp_init failed");
		ret = SBC_E_SRTP;
		goto Exit;
	}
	if ((ret = med_srtp__install_boring(buf, sizeof(buf))) != 0)
		goto Exit;
	for (unsigned s = SBC_SRTP_NONE + 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		if ((ret = med_srtp__suite_digest(s, d, buf, sizeof(buf))) != 0)
			goto Exit;
		if (med_srtp__faults & MED_SRTP_FAULT_KAT)
			d[0] ^= 0x01;
		if (memcmp(d, kat_digest[s], sizeof(d)) != 0) {
			snprintf(buf, sizeof(buf),
				 "SRTP self-check %s: output differs from the stock "
				 "libsrtp2 known answer", suites[s].name);
			ret = SBC_E_SRTP;
			goto Exit;
		}
	}
	snprintf(buf, sizeof(buf), "%s with BoringSSL AES-ICM/AES-GCM/HMAC-SHA1, "
		 "self-check passed for %d suites", srtp_get_version_string(),
		 SBC_SRTP_SUITE_MAX_ - 1);
	ret = 0;
Exit:
	g_state = ret == 0 ? 1 : -1;
	snprintf(g_err, sizeof(g_err), "%s", buf);
	if (err && len)
		snprintf(err, len, "%s", buf);
	return ret;
}
