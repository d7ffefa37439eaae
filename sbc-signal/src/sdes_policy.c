/* sbc-signal — SDES a=crypto parsing and SRTP policy decisions. See
 * sdes_policy.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/mem.h>
#include <openssl/rand.h>

#include "sbc/base64.h"
#include "sbc/err.h"
#include "sdes_policy.h"

int sdes_rand_boringssl(void *arg, uint8_t *buf, size_t n)
{
	(void)arg;
	return RAND_bytes(buf, n) == 1 ? 0 : SBC_E_SRTP;
}

static const struct {
	const char *name;
	unsigned key_len;
} suites[SBC_SRTP_SUITE_MAX_] = {
	[SBC_SRTP_NONE] = {"", 0},
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_80] = {"AES_CM_128_HMAC_SHA1_80", 30},
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_32] = {"AES_CM_128_HMAC_SHA1_32", 30},
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_80] = {"AES_256_CM_HMAC_SHA1_80", 46},
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_32] = {"AES_256_CM_HMAC_SHA1_32", 46},
	[SBC_SRTP_AEAD_AES_128_GCM] = {"AEAD_AES_128_GCM", 28},
	[SBC_SRTP_AEAD_AES_256_GCM] = {"AEAD_AES_256_GCM", 44},
	[SBC_SRTP_NULL_HMAC_SHA1_80] = {"NULL_HMAC_SHA1_80", 30},
};

enum sbc_srtp_suite sdes_suite_from_name(sip_sv name)
{
	/* suite names are case-sensitive tokens (RFC 4568 9.2) */
	for (int i = 1; i < SBC_SRTP_SUITE_MAX_; i++)
		if (sip_sv_eq(name, suites[i].name))
			return (enum sbc_srtp_suite)i;
	return SBC_SRTP_NONE;
}

const char *sdes_suite_name(enum sbc_srtp_suite s)
{
	return (s > 0 && s < SBC_SRTP_SUITE_MAX_) ? suites[s].name : "";
}

unsigned sdes_key_len(enum sbc_srtp_suite s)
{
	return (s > 0 && s < SBC_SRTP_SUITE_MAX_) ? suites[s].key_len : 0;
}

static int all_digits(sip_sv s)
{
	if (s.n == 0)
		return 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return 0;
	return 1;
}

/* Lifetime: decimal or 2^N. */
static int lifetime_ok(sip_sv s)
{
	if (s.n > 2 && s.p[0] == '2' && s.p[1] == '^')
		return all_digits((sip_sv){s.p + 2, s.n - 2}) && s.n <= 4;
	return all_digits(s) && s.n <= 20;
}

/* The next field of v at *i (fields are separated by SP/HTAB runs); an
 * empty view (p NULL) once v is used up. */
static sip_sv next_field(sip_sv v, size_t *i)
{
	while (*i < v.n && (v.p[*i] == ' ' || v.p[*i] == '\t'))
		(*i)++;
	size_t st = *i;
	while (*i < v.n && v.p[*i] != ' ' && v.p[*i] != '\t')
		(*i)++;
	return *i > st ? (sip_sv){v.p + st, *i - st} : SIP_SV_NULL;
}

int sdes_parse(sip_sv v, sdes_crypto *c)
{
	sip_sv f[3];
	size_t i = 0;
	unsigned nf = 0;
	int unusable = 0;

	memset(c, 0, sizeof(*c));
	/* tag SP suite SP key-params [SP session-params...] */
	while (nf < 3 && (f[nf] = next_field(v, &i)).p)
		nf++;
	if (nf < 3 || !all_digits(f[0]) || f[0].n > 9)
		return SBC_E_PARSE;
	for (size_t k = 0; k < f[0].n; k++)
		c->tag = c->tag * 10 + (uint32_t)(f[0].p[k] - '0');
	c->suite_name = f[1];
	c->suite = (uint8_t)sdes_suite_from_name(f[1]);
	if (c->suite == SBC_SRTP_NONE)
		unusable = 1;

	/* key-params: one or more "inline:key[|lifetime][|mki:len]" joined by ';' */
	sip_sv kp = f[2];
	if (memchr(kp.p, ';', kp.n))
		unusable = 1; /* several keys imply MKIs */
	const char *semi = memchr(kp.p, ';', kp.n);
	sip_sv first = {kp.p, semi ? (size_t)(semi - kp.p) : kp.n};
	if (first.n < 8 || memcmp(first.p, "inline:", 7) != 0)
		return SBC_E_PARSE;
	sip_sv rest = {first.p + 7, first.n - 7};
	const char *bar = memchr(rest.p, '|', rest.n);
	sip_sv key = {rest.p, bar ? (size_t)(bar - rest.p) : rest.n};
	if (bar) {
		sip_sv more = {bar + 1, rest.n - key.n - 1};
		const char *bar2 = memchr(more.p, '|', more.n);
		sip_sv a = {more.p, bar2 ? (size_t)(bar2 - more.p) : more.n};
		sip_sv mki = SIP_SV_NULL;
		if (memchr(a.p, ':', a.n)) { /* only an MKI */
			mki = a;
		} else {
			if (!lifetime_ok(a))
				return SBC_E_PARSE;
			if (bar2)
				mki = (sip_sv){bar2 + 1, more.n - a.n - 1};
		}
		if (mki.p) {
			const char *col = memchr(mki.p, ':', mki.n);
			if (!col || !all_digits((sip_sv){mki.p, (size_t)(col - mki.p)}) ||
			    !all_digits((sip_sv){col + 1, mki.n - (size_t)(col - mki.p) - 1}))
				return SBC_E_PARSE;
			unusable = 1;
		}
	}
	uint8_t raw[64];
	int n = sbc_base64_decode(key.p, key.n, raw, sizeof(raw));
	if (n < 0)
		return SBC_E_PARSE;
	if (c->suite != SBC_SRTP_NONE) {
		if ((unsigned)n != sdes_key_len((enum sbc_srtp_suite)c->suite)) {
			OPENSSL_cleanse(raw, sizeof(raw));
			return SBC_E_PARSE;
		}
		memcpy(c->key, raw, (size_t)n);
		c->key_len = (uint8_t)n;
	}
	OPENSSL_cleanse(raw, sizeof(raw));

	/* session parameters */
	for (sip_sv sp; (sp = next_field(v, &i)).p;) {
		if (sip_sv_eq(sp, "KDR=0") || (sp.n > 4 && memcmp(sp.p, "WSH=", 4) == 0) ||
		    (sp.n > 10 && memcmp(sp.p, "FEC_ORDER=", 10) == 0) || sp.p[0] == '-')
			continue; /* harmless or optional */
		unusable = 1; /* UNENCRYPTED_*, UNAUTHENTICATED_SRTP, KDR!=0, FEC_KEY, unknown */
	}
	if (unusable) {
		OPENSSL_cleanse(c->key, sizeof(c->key));
		c->key_len = 0;
		return SBC_E_UNSUPPORTED;
	}
	return 0;
}

int sdes_format(uint32_t tag, const sbc_srtp_params *p, char *out, size_t cap)
{
	char b64[SBC_BASE64_ENCODED_LEN(SBC_SRTP_KEY_MAX)];
	const char *name = sdes_suite_name((enum sbc_srtp_suite)p->suite);
	if (!name[0] || p->key_len != sdes_key_len((enum sbc_srtp_suite)p->suite))
		return -EINVAL;
	if (sbc_base64_encode(p->key, p->key_len, b64, sizeof(b64)) < 0)
		return -EINVAL;
	int n = snprintf(out, cap, "%u %s inline:%s", tag, name, b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			OPENSSL_cleanse(out, cap);
		return -ENOSPC;
	}
	return n;
}

char *sdes_format_redacted(const sbc_srtp_params *p, char *buf, size_t cap)
{
	if (!p || p->suite == SBC_SRTP_NONE)
		snprintf(buf, cap, "none");
	else
		snprintf(buf, cap, "%s key=<%u bytes redacted>", sdes_suite_name((enum sbc_srtp_suite)p->suite),
			 (unsigned)p->key_len);
	return buf;
}

static int fresh_key(enum sbc_srtp_suite suite, sdes_rand_fn rnd, void *arg, sbc_srtp_params *p)
{
	int r;
	memset(p, 0, sizeof(*p));
	p->suite = (uint8_t)suite;
	p->key_len = (uint8_t)sdes_key_len(suite);
	if ((r = (rnd ? rnd : sdes_rand_boringssl)(arg, p->key, p->key_len)) < 0)
		return r;
	return 0;
}

static int allowed(const store_srtp_policy *pol, enum sbc_srtp_suite s)
{
	for (unsigned i = 0; i < pol->n_suites && i < SBC_SRTP_SUITE_MAX_; i++)
		if (pol->suites[i] == s)
			return 1;
	return 0;
}

int sdes_make_offer(const store_srtp_policy *pol, sdes_rand_fn rnd, void *arg, sdes_offer *out)
{
	int r;
	memset(out, 0, sizeof(*out));
	out->mode = pol->mode;
	if (pol->mode == STORE_SRTP_OFF)
		return 0;
	for (unsigned i = 0; i < pol->n_suites && i < SBC_SRTP_SUITE_MAX_; i++) {
		enum sbc_srtp_suite s = (enum sbc_srtp_suite)pol->suites[i];
		if (s <= SBC_SRTP_NONE || s >= SBC_SRTP_SUITE_MAX_)
			continue;
		unsigned k = out->n;
		if ((r = fresh_key(s, rnd, arg, &out->p[k])) < 0)
			goto Fail;
		out->tag[k] = k + 1;
		if ((r = sdes_format(out->tag[k], &out->p[k], out->line[k], sizeof(out->line[k]))) < 0)
			goto Fail;
		out->n++;
	}
	if (out->n == 0) {
		r = SBC_E_CONFIG;
		goto Fail;
	}
	out->savp = pol->mode == STORE_SRTP_REQUIRED;
	return 0;
Fail:
	OPENSSL_cleanse(out, sizeof(*out));
	return r;
}

static void plain(sdes_result *out, int savp)
{
	memset(out, 0, sizeof(*out));
	out->savp = (uint8_t)savp;
}

int sdes_answer(const store_srtp_policy *pol, int offer_savp, const sip_sv *crypto, unsigned n,
		sdes_rand_fn rnd, void *arg, sdes_result *out)
{
	sdes_crypto c;
	int r;

	plain(out, offer_savp);
	if (pol->mode == STORE_SRTP_OFF)
		return offer_savp ? sbc_err_sip(488) : 0;
	for (unsigned i = 0; i < n; i++) {
		if (sdes_parse(crypto[i], &c) != 0 || !allowed(pol, (enum sbc_srtp_suite)c.suite))
			continue;
		out->srtp = 1;
		out->tag = c.tag;
		out->rx.suite = c.suite;
		out->rx.key_len = c.key_len;
		memcpy(out->rx.key, c.key, c.key_len);
		OPENSSL_cleanse(&c, sizeof(c));
		if ((r = fresh_key((enum sbc_srtp_suite)out->rx.suite, rnd, arg, &out->tx)) < 0 ||
		    (r = sdes_format(out->tag, &out->tx, out->line, sizeof(out->line))) < 0) {
			OPENSSL_cleanse(out, sizeof(*out));
			return r < 0 && sbc_err_sip_status(r) ? r : sbc_err_sip(500);
		}
		return 0;
	}
	OPENSSL_cleanse(&c, sizeof(c));
	if (pol->mode == STORE_SRTP_REQUIRED || offer_savp)
		return sbc_err_sip(488);
	return 0;
}

int sdes_check_answer(const sdes_offer *offer, int answer_savp, const sip_sv *crypto, unsigned n,
		      sdes_result *out)
{
	sdes_crypto c;

	plain(out, answer_savp);
	if (offer->mode == STORE_SRTP_OFF || offer->n == 0)
		return (n || answer_savp) ? sbc_err_sip(488) : 0;
	if (answer_savp != offer->savp)
		return sbc_err_sip(488);
	if (n == 0)
		return offer->mode == STORE_SRTP_REQUIRED ? sbc_err_sip(488) : 0;
	if (n > 1 || sdes_parse(crypto[0], &c) != 0)
		return sbc_err_sip(488);
	for (unsigned k = 0; k < offer->n; k++) {
		if (offer->tag[k] != c.tag)
			continue;
		if (offer->p[k].suite != c.suite || c.key_len != offer->p[k].key_len)
			break;
		out->srtp = 1;
		out->tag = c.tag;
		out->tx = offer->p[k];
		out->rx.suite = c.suite;
		out->rx.key_len = c.key_len;
		memcpy(out->rx.key, c.key, c.key_len);
		OPENSSL_cleanse(&c, sizeof(c));
		return 0;
	}
	OPENSSL_cleanse(&c, sizeof(c));
	return sbc_err_sip(488);
}
