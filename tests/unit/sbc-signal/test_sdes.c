/* Unit tests for SDES a=crypto parsing and the per-trunk SRTP policy
 * decisions (sdes_policy.h): offers, answers, answer checks, 488 cases,
 * key lengths per suite, real randomness, and the redacting formatter. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/base64.h"
#include "sbc/err.h"
#include "../../../sbc-signal/src/sdes_policy.h"

#define K30 "TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw"                                       /* 30 bytes */
#define K46 "JlgkqmY+uVPBLmJairIWLMTzsoP7sq6M+FLsTeZkAJUKobgTjouB0H+ZHV911Q=="               /* 46 bytes */
#define K28 "uATLXs8T8rjZ0QVH15np2ExFaVZixIRvHHXOow=="                                       /* 28 bytes */
#define K44 "URvowj9NlyRUU4Ro4NIUbg/39b1bEdLtxPelsfHpPGD9GtwWuKMMefhd76U="                   /* 44 bytes */

static int det_rand(void *arg, uint8_t *buf, size_t n)
{
	uint8_t *next = arg;
	for (size_t i = 0; i < n; i++)
		buf[i] = (*next)++;
	return 0;
}

static int failing_rand(void *arg, uint8_t *buf, size_t n)
{
	(void)arg, (void)buf, (void)n;
	return SBC_E_SRTP;
}

static void test_suites(void **state)
{
	(void)state;
	for (int s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		const char *n = sdes_suite_name((enum sbc_srtp_suite)s);
		assert_true(n[0] != 0);
		assert_int_equal(sdes_suite_from_name((sip_sv){n, strlen(n)}), s);
	}
	assert_int_equal(sdes_key_len(SBC_SRTP_AES_CM_128_HMAC_SHA1_80), 30);
	assert_int_equal(sdes_key_len(SBC_SRTP_AES_CM_128_HMAC_SHA1_32), 30);
	assert_int_equal(sdes_key_len(SBC_SRTP_AES_256_CM_HMAC_SHA1_80), 46);
	assert_int_equal(sdes_key_len(SBC_SRTP_AES_256_CM_HMAC_SHA1_32), 46);
	assert_int_equal(sdes_key_len(SBC_SRTP_AEAD_AES_128_GCM), 28);
	assert_int_equal(sdes_key_len(SBC_SRTP_AEAD_AES_256_GCM), 44);
	assert_int_equal(sdes_key_len(SBC_SRTP_NULL_HMAC_SHA1_80), 30);
	assert_int_equal(sdes_key_len(SBC_SRTP_NONE), 0);
	assert_int_equal(sdes_suite_from_name(SIP_SV("aes_cm_128_hmac_sha1_80")), SBC_SRTP_NONE);
	assert_int_equal(sdes_suite_from_name(SIP_SV("AES_192_CM_HMAC_SHA1_80")), SBC_SRTP_NONE);
}

static void test_parse_crypto(void **state)
{
	sdes_crypto c;
	uint8_t raw[64];
	(void)state;
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30), &c), 0);
	assert_int_equal(c.tag, 1);
	assert_int_equal(c.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(c.key_len, 30);
	assert_int_equal(sbc_base64_decode(K30, strlen(K30), raw, sizeof(raw)), 30);
	assert_memory_equal(c.key, raw, 30);
	assert_int_equal(sdes_parse(SIP_SV("12 AES_256_CM_HMAC_SHA1_32 inline:" K46 "|2^31"), &c), 0);
	assert_int_equal(c.tag, 12);
	assert_int_equal(c.key_len, 46);
	assert_int_equal(sdes_parse(SIP_SV("2 AEAD_AES_128_GCM inline:" K28 "|1048576 KDR=0 WSH=64"), &c), 0);
	assert_int_equal(c.key_len, 28);
	assert_int_equal(sdes_parse(SIP_SV("3 AEAD_AES_256_GCM   inline:" K44 " -FUTURE_PARAM"), &c), 0);
	assert_int_equal(c.key_len, 44);
	/* well-formed but unusable */
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^31|1:4"), &c), SBC_E_UNSUPPORTED);
	assert_int_equal(c.key_len, 0);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|1:4"), &c), SBC_E_UNSUPPORTED);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^20|1:4;inline:" K30 "|2^20|2:4"), &c),
			 SBC_E_UNSUPPORTED);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 " UNENCRYPTED_SRTP"), &c), SBC_E_UNSUPPORTED);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 " UNAUTHENTICATED_SRTP"), &c),
			 SBC_E_UNSUPPORTED);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 " KDR=24"), &c), SBC_E_UNSUPPORTED);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_192_CM_HMAC_SHA1_80 inline:" K30), &c), SBC_E_UNSUPPORTED);
	assert_int_equal(sdes_parse(SIP_SV("1 AEAD_AES_256_GCM_8 inline:" K44), &c), SBC_E_UNSUPPORTED);
	/* syntax errors and wrong key lengths */
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K46), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_256_CM_HMAC_SHA1_80 inline:" K30), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:@@@@"), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 " K30), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("x AES_CM_128_HMAC_SHA1_80 inline:" K30), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1234567890 AES_CM_128_HMAC_SHA1_80 inline:" K30), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80"), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV(""), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|abc"), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30 "|2^31|x:y"), &c), SBC_E_PARSE);
	assert_int_equal(sdes_parse(SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:"), &c), SBC_E_PARSE);
}

static const store_srtp_policy POL_OFF = {.mode = STORE_SRTP_OFF};
static const store_srtp_policy POL_OPT = {.mode = STORE_SRTP_OPTIONAL, .n_suites = 2,
					  .suites = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80, SBC_SRTP_AES_CM_128_HMAC_SHA1_32}};
static const store_srtp_policy POL_REQ = {.mode = STORE_SRTP_REQUIRED, .n_suites = 2,
					  .suites = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80, SBC_SRTP_AEAD_AES_256_GCM}};

static void test_answer_decisions(void **state)
{
	(void)state;
	uint8_t seed = 1;
	sdes_result r;
	sip_sv offered[] = {
		SIP_SV("7 AES_192_CM_HMAC_SHA1_80 inline:aNNDkHj6o2xl2J6PkjReCqK4dvGFeV3AjZ9Lohiriq5RRu8gMq0="),
		SIP_SV("8 AES_CM_128_HMAC_SHA1_32 inline:" K30),
		SIP_SV("5 AES_CM_128_HMAC_SHA1_80 inline:" K30),
	};
	/* off: SAVP refused, crypto in AVP ignored */
	assert_int_equal(sdes_answer(&POL_OFF, 1, offered, 3, det_rand, &seed, &r), sbc_err_sip(488));
	assert_int_equal(sdes_answer(&POL_OFF, 0, offered, 3, det_rand, &seed, &r), 0);
	assert_false(r.srtp);
	assert_string_equal(r.line, "");
	/* optional: the first OFFERED allowed suite wins (tag 8), not policy order */
	assert_int_equal(sdes_answer(&POL_OPT, 0, offered, 3, det_rand, &seed, &r), 0);
	assert_true(r.srtp);
	assert_false(r.savp);
	assert_int_equal(r.tag, 8);
	assert_int_equal(r.rx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_32);
	assert_int_equal(r.tx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_32);
	assert_int_equal(r.tx.key_len, 30);
	assert_memory_not_equal(r.tx.key, r.rx.key, 30);
	assert_true(strncmp(r.line, "8 AES_CM_128_HMAC_SHA1_32 inline:", 33) == 0);
	sdes_crypto back;
	assert_int_equal(sdes_parse((sip_sv){r.line, strlen(r.line)}, &back), 0);
	assert_memory_equal(back.key, r.tx.key, 30);
	/* required: 80 preferred by policy but the offer lists only 32 + unknown */
	assert_int_equal(sdes_answer(&POL_REQ, 1, offered, 2, det_rand, &seed, &r), sbc_err_sip(488));
	assert_int_equal(sdes_answer(&POL_REQ, 1, offered, 3, det_rand, &seed, &r), 0);
	assert_int_equal(r.tag, 5);
	assert_true(r.savp);
	/* required and no crypto: 488 */
	assert_int_equal(sdes_answer(&POL_REQ, 0, NULL, 0, det_rand, &seed, &r), sbc_err_sip(488));
	assert_int_equal(sdes_answer(&POL_REQ, 1, NULL, 0, det_rand, &seed, &r), sbc_err_sip(488));
	/* optional, nothing usable: plain for AVP, 488 for SAVP */
	assert_int_equal(sdes_answer(&POL_OPT, 0, offered, 1, det_rand, &seed, &r), 0);
	assert_false(r.srtp);
	assert_int_equal(sdes_answer(&POL_OPT, 1, offered, 1, det_rand, &seed, &r), sbc_err_sip(488));
	/* NULL cipher only where the policy lists it */
	sip_sv nul[] = {SIP_SV("1 NULL_HMAC_SHA1_80 inline:" K30)};
	assert_int_equal(sdes_answer(&POL_REQ, 1, nul, 1, det_rand, &seed, &r), sbc_err_sip(488));
	store_srtp_policy pn = {.mode = STORE_SRTP_REQUIRED, .n_suites = 1, .suites = {SBC_SRTP_NULL_HMAC_SHA1_80}};
	assert_int_equal(sdes_answer(&pn, 1, nul, 1, det_rand, &seed, &r), 0);
	assert_int_equal(r.tx.suite, SBC_SRTP_NULL_HMAC_SHA1_80);
	/* RNG failure is an error, never a zero key */
	assert_true(sdes_answer(&POL_OPT, 0, offered, 3, failing_rand, NULL, &r) < 0);
	assert_false(r.srtp);
}

static void test_offer_and_check_answer(void **state)
{
	(void)state;
	uint8_t seed = 0x20;
	sdes_offer off;
	sdes_result r;
	char line[160];

	assert_int_equal(sdes_make_offer(&POL_REQ, det_rand, &seed, &off), 0);
	assert_int_equal(off.n, 2);
	assert_true(off.savp);
	assert_int_equal(off.tag[0], 1);
	assert_int_equal(off.tag[1], 2);
	assert_int_equal(off.p[1].suite, SBC_SRTP_AEAD_AES_256_GCM);
	assert_int_equal(off.p[1].key_len, 44);
	assert_true(strncmp(off.line[1], "2 AEAD_AES_256_GCM inline:", 26) == 0);

	/* a good answer: tag 1 with the suite we offered for it */
	snprintf(line, sizeof(line), "1 AES_CM_128_HMAC_SHA1_80 inline:%s", K30);
	sip_sv ans[] = {{line, strlen(line)}};
	assert_int_equal(sdes_check_answer(&off, 1, ans, 1, &r), 0);
	assert_true(r.srtp);
	assert_int_equal(r.tag, 1);
	assert_memory_equal(r.tx.key, off.p[0].key, 30);
	assert_int_equal(r.rx.key_len, 30);
	/* answers that fail the call toward this trunk (488 -> failover) */
	assert_int_equal(sdes_check_answer(&off, 0, ans, 1, &r), sbc_err_sip(488)); /* profile changed */
	assert_int_equal(sdes_check_answer(&off, 1, NULL, 0, &r), sbc_err_sip(488)); /* required, none */
	snprintf(line, sizeof(line), "3 AES_CM_128_HMAC_SHA1_80 inline:%s", K30);
	ans[0].n = strlen(line);
	assert_int_equal(sdes_check_answer(&off, 1, ans, 1, &r), sbc_err_sip(488)); /* tag not offered */
	snprintf(line, sizeof(line), "2 AES_CM_128_HMAC_SHA1_80 inline:%s", K30);
	ans[0].n = strlen(line);
	assert_int_equal(sdes_check_answer(&off, 1, ans, 1, &r), sbc_err_sip(488)); /* suite differs */
	snprintf(line, sizeof(line), "1 AES_CM_128_HMAC_SHA1_80 inline:%s|2^31|1:4", K30);
	ans[0].n = strlen(line);
	assert_int_equal(sdes_check_answer(&off, 1, ans, 1, &r), sbc_err_sip(488)); /* unusable */
	sip_sv two[] = {SIP_SV("1 AES_CM_128_HMAC_SHA1_80 inline:" K30), SIP_SV("2 AEAD_AES_256_GCM inline:" K44)};
	assert_int_equal(sdes_check_answer(&off, 1, two, 2, &r), sbc_err_sip(488)); /* two lines */
	assert_int_equal(sdes_check_answer(&off, 1, two + 1, 1, &r), 0);
	assert_int_equal(r.rx.suite, SBC_SRTP_AEAD_AES_256_GCM);

	/* SRTP off on this leg: crypto (or SAVP) in the answer is refused */
	sdes_offer none;
	assert_int_equal(sdes_make_offer(&POL_OFF, det_rand, &seed, &none), 0);
	assert_int_equal(none.n, 0);
	assert_int_equal(sdes_check_answer(&none, 0, two, 1, &r), sbc_err_sip(488));
	assert_int_equal(sdes_check_answer(&none, 1, NULL, 0, &r), sbc_err_sip(488));
	assert_int_equal(sdes_check_answer(&none, 0, NULL, 0, &r), 0);
	assert_false(r.srtp);

	/* optional: RTP/AVP + crypto; the peer may answer with or without */
	sdes_offer opt;
	assert_int_equal(sdes_make_offer(&POL_OPT, det_rand, &seed, &opt), 0);
	assert_false(opt.savp);
	assert_int_equal(sdes_check_answer(&opt, 0, NULL, 0, &r), 0);
	assert_false(r.srtp);
	sip_sv o2[] = {SIP_SV("2 AES_CM_128_HMAC_SHA1_32 inline:" K30)};
	assert_int_equal(sdes_check_answer(&opt, 0, o2, 1, &r), 0);
	assert_int_equal(r.tx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_32);

	/* a policy that is on without suites is a configuration error */
	store_srtp_policy empty = {.mode = STORE_SRTP_REQUIRED};
	assert_int_equal(sdes_make_offer(&empty, det_rand, &seed, &off), SBC_E_CONFIG);
	assert_int_equal(sdes_make_offer(&POL_REQ, failing_rand, NULL, &off), SBC_E_SRTP);
	assert_int_equal(off.n, 0);
}

static void test_real_random_and_redaction(void **state)
{
	(void)state;
	sdes_offer a, b;
	char buf[128], line[128];
	assert_int_equal(sdes_make_offer(&POL_REQ, NULL, NULL, &a), 0);
	assert_int_equal(sdes_make_offer(&POL_REQ, sdes_rand_boringssl, NULL, &b), 0);
	assert_memory_not_equal(a.p[0].key, b.p[0].key, 30);
	static const uint8_t zero[46];
	assert_memory_not_equal(a.p[1].key, zero, 44);

	sdes_format_redacted(&a.p[0], buf, sizeof(buf));
	assert_string_equal(buf, "AES_CM_128_HMAC_SHA1_80 key=<30 bytes redacted>");
	char b64[64];
	sbc_base64_encode(a.p[0].key, 30, b64, sizeof(b64));
	assert_null(strstr(buf, b64));
	sdes_format_redacted(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "none");
	/* format: bounded, and wrong key lengths refused */
	assert_int_equal(sdes_format(1, &a.p[0], line, 20), -ENOSPC);
	sbc_srtp_params bad = a.p[0];
	bad.key_len = 29;
	assert_int_equal(sdes_format(1, &bad, line, sizeof(line)), -EINVAL);
	assert_true(sdes_format(1, &a.p[0], line, sizeof(line)) > 0);
	assert_non_null(strstr(line, b64));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suites),
		cmocka_unit_test(test_parse_crypto),
		cmocka_unit_test(test_answer_decisions),
		cmocka_unit_test(test_offer_and_check_answer),
		cmocka_unit_test(test_real_random_and_redaction),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
