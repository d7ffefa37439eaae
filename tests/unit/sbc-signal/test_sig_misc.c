/* Unit tests: per-source admission (sig_ratelimit.c), the minimal SIP
 * responder helpers (sig_sip.c) and the counters' JSON (sig_stats.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sig_batch.h"
#include "../../../sbc-signal/src/sig_ratelimit.h"
#include "../../../sbc-signal/src/sig_sip.h"
#include "../../../sbc-signal/src/sig_stats.h"

static sbc_addr ip(const char *s)
{
	sbc_addr a;
	assert_int_equal(sbc_addr_parse(s, 0, &a), 0);
	return a;
}

static void test_rl_conns(void **st)
{
	sig_rl *rl = sig_rl_create(256, 3, 1000, 1000);
	sbc_addr a = ip("10.0.0.1"), b = ip("10.0.0.2");
	uint32_t t[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(sig_rl_admit(rl, &a, 1000, 0, &t[i]), SIG_RL_OK);
	assert_int_equal(sig_rl_admit(rl, &a, 1000, 0, &t[3]), SIG_RL_TOO_MANY_CONNS);
	assert_int_equal(sig_rl_admit(rl, &b, 1000, 0, &t[3]), SIG_RL_OK); /* others unaffected */
	sig_rl_release(rl, t[0]);
	assert_int_equal(sig_rl_admit(rl, &a, 1000, 0, &t[0]), SIG_RL_OK);
	sig_rl_destroy(rl);
	(void)st;
}

static void test_rl_rate(void **st)
{
	sig_rl *rl = sig_rl_create(256, 1000000, 10, 5); /* 10/s, burst 5 */
	sbc_addr a = ip("10.0.0.1"), b = ip("[2001:db8::1]");
	uint32_t t;
	int ok = 0;
	for (int i = 0; i < 20; i++)
		ok += sig_rl_admit(rl, &a, 5000, 1, &t) == SIG_RL_OK;
	assert_int_equal(ok, 5);
	assert_int_equal(sig_rl_admit(rl, &a, 5000, 1, &t), SIG_RL_TOO_FAST);
	assert_int_equal(sig_rl_admit(rl, &b, 5000, 1, &t), SIG_RL_OK);
	/* 100 ms later one token is back */
	assert_int_equal(sig_rl_admit(rl, &a, 5100, 1, &t), SIG_RL_OK);
	assert_int_equal(sig_rl_admit(rl, &a, 5100, 1, &t), SIG_RL_TOO_FAST);
	sig_rl_destroy(rl);
	(void)st;
}

static void test_rl_table_full_fails_open(void **st)
{
	sig_rl *rl = sig_rl_create(64, 1, 1, 1);
	uint32_t t;
	char buf[32];
	/* 200 distinct busy sources in a 64-slot table: never a crash, never
	 * a refusal for lack of room (counted as misses instead) */
	for (int i = 0; i < 200; i++) {
		snprintf(buf, sizeof(buf), "10.1.%d.%d", i / 250, i % 250 + 1);
		sbc_addr a = ip(buf);
		assert_int_equal(sig_rl_admit(rl, &a, 1000, 1, &t), SIG_RL_OK);
	}
	assert_true(sig_rl_misses(rl) >= 200 - 64);
	sig_rl_destroy(rl);
	(void)st;
}

static void test_sip_response(void **st)
{
	const char req[] = "OPTIONS sip:x SIP/2.0\r\n"
			   "Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
			   "v: SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
			   "f: <sip:a@b>;tag=1\r\n"
			   "To: <sip:x@y>\r\n"
			   "i: abc\r\n"
			   "CSeq: 7 OPTIONS\r\n"
			   "Content-Length: 0\r\n\r\n";
	sig_sip_view v;
	assert_int_equal(sig_sip_parse(req, sizeof(req) - 1, &v), 0);
	assert_int_equal(v.n_via, 2);
	assert_true(sig_sv_eq(v.method, "OPTIONS"));
	char out[1024];
	int n = sig_sip_response(&v, 200, "OK", "t1", NULL, out, sizeof(out));
	assert_true(n > 0);
	out[n] = 0;
	assert_non_null(strstr(out, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nv: SIP/2.0/UDP b"));
	assert_non_null(strstr(out, "To: <sip:x@y>;tag=t1\r\n"));
	assert_non_null(strstr(out, "CSeq: 7 OPTIONS\r\n"));
	assert_int_equal(sig_sip_response(&v, 200, "OK", "t1", NULL, out, 40), -ENOSPC);
	const char bad[] = "OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\n";
	assert_int_equal(sig_sip_parse(bad, sizeof(bad) - 1, &v), sbc_err_sip(400));
	(void)st;
}

static void test_stats_json(void **st)
{
	sig_stats *s = calloc(1, sizeof(*s));
	sig_stats *blocks[2] = {s, s};
	sig_stat_add(s, SIG_TP_TLS, SIG_ST_handshakes, 3);
	sig_stat_add(s, SIG_TP_TLS, SIG_ST_hs_fail_unknown_ca, 1);
	char buf[4096];
	int n = sig_stats_json(blocks, 2, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\"tls\":{"));
	assert_non_null(strstr(buf, "\"handshakes\":6"));
	assert_non_null(strstr(buf, "\"hs_fail_unknown_ca\":2"));
	/* everything non-zero still fits the ring's text limit */
	for (unsigned t = 0; t < SIG_TP_MAX_; t++)
		for (unsigned k = 0; k < SIG_ST_MAX_; k++)
			sig_stat_add(s, t, (enum sig_stat)k, 12345678901234ull);
	n = sig_stats_json(blocks, 2, buf, 3800);
	assert_true(n > 0 && n < 3800);
	assert_int_equal(sig_stats_json(blocks, 2, buf, 50), -ENOSPC);
	free(s);
	(void)st;
}

/* What an ICMP error quotes of a request we sent (sig_udp.c): the method
 * and the top Via branch, only when both are there whole. */
static void test_icmp_quote(void **state)
{
	(void)state;
	static const char inv[] = "INVITE sip:+4930@192.0.2.7:5060 SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaaa0123;rport\r\n"
				  "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKsecond\r\n"
				  "Max-Forwards: 70\r\n";
	sig_icmp_quote q;
	assert_int_equal(sig_icmp_quote_parse(inv, strlen(inv), &q), 0);
	assert_string_equal(q.method, "INVITE");
	assert_string_equal(q.branch, "z9hG4bKaaaa0123");
	/* compact form, branch last on its line, lower case parameter name */
	static const char opt[] = "OPTIONS sip:x SIP/2.0\r\nv: SIP/2.0/UDP h;BRANCH=z9hG4bKb1\r\n";
	assert_int_equal(sig_icmp_quote_parse(opt, strlen(opt), &q), 0);
	assert_string_equal(q.method, "OPTIONS");
	assert_string_equal(q.branch, "z9hG4bKb1");
	/* cut anywhere inside the Via line (RFC 792 quotes only 8 bytes):
	 * nothing, never a shortened branch */
	const char *via_end = strstr(inv, ";rport\r\n");
	for (size_t n = 0; n < (size_t)(via_end - inv) + 7; n++)
		assert_int_equal(sig_icmp_quote_parse(inv, n, &q), SBC_E_PARSE);
	assert_int_equal(sig_icmp_quote_parse(inv, (size_t)(via_end - inv) + 8, &q), 0);
	/* the forged quote of the review's repro, a response, no cookie, no
	 * branch, a method too long, garbage */
	static const char *const bad[] = {
		"INVITE sip:x SIP/2.0\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKr1\r\n",
		"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1234567890\r\n",
		"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;rport\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKr2\r\n",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKr3\r\n",
		"\x01\x02\x03\x04\x05\x06\x07\x08",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sig_icmp_quote_parse(bad[i], strlen(bad[i]), &q), SBC_E_PARSE);
	/* a branch longer than the quote's field */
	char big[300];
	int n = snprintf(big, sizeof(big), "BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK%0150d\r\n", 0);
	assert_int_equal(sig_icmp_quote_parse(big, (size_t)n, &q), SBC_E_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rl_conns),
		cmocka_unit_test(test_rl_rate),
		cmocka_unit_test(test_rl_table_full_fails_open),
		cmocka_unit_test(test_sip_response),
		cmocka_unit_test(test_stats_json),
		cmocka_unit_test(test_icmp_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
