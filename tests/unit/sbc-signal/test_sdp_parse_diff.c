/* Differential test of the SDP parser: the optimised sdp_parse.c against
 * the parser as it stood before (sdp_parse_ref.inc, a verbatim copy with
 * its public names renamed ref_*). Both must return the same status and
 * reason on every input, and on success the same fields: every view at the
 * same address with the same length, every number equal, for the session
 * and each of its n_media m= sections. Inputs: valid offers and answers
 * (SDES, ICE, several m= lines, bare LF, rtcp, directions), every prefix of
 * them and deterministic mutations, each an exact-size heap copy (a read
 * past the end shows under SAN=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sdp_session.h"

/* ---- the reference parser, renamed --------------------------------------- */

#define sdp_parse ref_sdp_parse
#define sdp_media_dir ref_sdp_media_dir
#define sdp_dir_name ref_sdp_dir_name
#define sdp_media_remote ref_sdp_media_remote
/* sdp_session.h was included above (its guard keeps it out below) */
int sdp_parse(const char *buf, size_t len, sdp_session *s);
enum sdp_dir sdp_media_dir(const sdp_session *s, unsigned i);
const char *sdp_dir_name(enum sdp_dir d);
int sdp_media_remote(const sdp_session *s, unsigned i, sbc_addr *rtp, sbc_addr *rtcp);
#include "sdp_parse_ref.inc"
#undef sdp_parse
#undef sdp_media_dir
#undef sdp_dir_name
#undef sdp_media_remote
/* the reference's own copies of the header helpers end here */
#include "parse_ref_helpers_end.inc"

/* after the reference: its fail() is not cmocka's */
#include <cmocka.h>
#include "diff_harness.h"

static const char *what;

#define SAME(a, b, field)                                                                      \
	do {                                                                                   \
		if ((a) != (b)) {                                                              \
			print_error("%s: %s differs (new %lld, ref %lld)\n", what, field,      \
				    (long long)(a), (long long)(b));                           \
			fail();                                                                \
		}                                                                              \
	} while (0)

static void same_sv(sip_sv a, sip_sv b, const char *field)
{
	if (a.p != b.p || a.n != b.n) {
		print_error("%s: %s differs (new %p+%zu, ref %p+%zu)\n", what, field, (const void *)a.p, a.n,
			    (const void *)b.p, b.n);
		fail();
	}
}

static void same_conn(const sdp_conn *a, const sdp_conn *b)
{
	SAME(a->present, b->present, "conn.present");
	SAME(a->v6, b->v6, "conn.v6");
	same_sv(a->addr, b->addr, "conn.addr");
}

static sdp_session S, R;

static int diff_sdp(const char *text, size_t len)
{
	char *e = exact_copy(text, len);
	/* stale values in both: the new parser leaves media past n_media alone */
	memset(&S, 0x5a, sizeof(S));
	memset(&R, 0x5a, sizeof(R));
	int a = sdp_parse(e, len, &S);
	int b = ref_sdp_parse(e, len, &R);
	SAME(a, b, "sdp_parse status");
	if (a != 0 && (!S.err_reason || !R.err_reason || strcmp(S.err_reason, R.err_reason) != 0)) {
		print_error("%s: reason differs (new '%s', ref '%s')\n", what, S.err_reason ? S.err_reason : "(null)",
			    R.err_reason ? R.err_reason : "(null)");
		fail();
	}
	if (a == 0) {
		same_sv(S.o_user, R.o_user, "o_user");
		same_sv(S.o_sess_id, R.o_sess_id, "o_sess_id");
		same_sv(S.o_version, R.o_version, "o_version");
		same_sv(S.o_addr, R.o_addr, "o_addr");
		same_conn(&S.conn, &R.conn);
		SAME(S.dir, R.dir, "dir");
		SAME(S.has_ice, R.has_ice, "has_ice");
		same_sv(S.lines, R.lines, "lines");
		SAME(S.n_media, R.n_media, "n_media");
		assert_null(S.err_reason);
		for (unsigned i = 0; i < S.n_media; i++) {
			const sdp_media *x = &S.media[i], *y = &R.media[i];
			same_sv(x->type, y->type, "m.type");
			SAME(x->port, y->port, "m.port");
			SAME(x->n_ports, y->n_ports, "m.n_ports");
			same_sv(x->proto, y->proto, "m.proto");
			same_sv(x->fmts, y->fmts, "m.fmts");
			SAME(x->rtp, y->rtp, "m.rtp");
			SAME(x->savp, y->savp, "m.savp");
			SAME(x->dir, y->dir, "m.dir");
			SAME(x->rtcp_mux, y->rtcp_mux, "m.rtcp_mux");
			SAME(x->has_ice, y->has_ice, "m.has_ice");
			SAME(x->rtcp_port, y->rtcp_port, "m.rtcp_port");
			same_conn(&x->conn, &y->conn);
			SAME(x->n_crypto, y->n_crypto, "m.n_crypto");
			for (unsigned k = 0; k < x->n_crypto && k < SDP_MAX_CRYPTO; k++)
				same_sv(x->crypto[k], y->crypto[k], "m.crypto");
			same_sv(x->lines, y->lines, "m.lines");
			SAME(sdp_media_dir(&S, i), ref_sdp_media_dir(&R, i), "sdp_media_dir");
		}
	}
	exact_free(e, len);
	return a;
}

static const char *const seeds[] = {
	"v=0\r\n"
	"o=carrierA 1 1 IN IP4 198.51.100.20\r\n"
	"s=CarrierA media 10.1.2.3\r\n"
	"c=IN IP4 198.51.100.20\r\n"
	"t=0 0\r\n"
	"m=audio 40000 RTP/SAVP 0 101\r\n"
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-16\r\n",
	"v=0\r\no=gw 5 5 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
	"m=audio 50000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n",
	"v=0\n"
	"o=- 20518 0 IN IP6 2001:db8::1\n"
	"s=-\n"
	"t=0 0\n"
	"a=sendonly\n"
	"a=ice-ufrag:F7gI\n"
	"m=audio 49170/2 RTP/AVPF 96 97\n"
	"c=IN IP6 2001:db8::2\n"
	"a=rtcp:49171 IN IP6 2001:db8::2\n"
	"a=candidate:1 1 UDP 2130706431 2001:db8::2 49170 typ host\n"
	"a=recvonly\n"
	"m=video 0 RTP/AVP 31\n"
	"m=image 50002 udptl t38\n"
	"c=IN IP4 224.2.1.1/127/3\n"
	"a=rtcp-mux\n"
	"a=inactive\n",
	"v=0\r\n"
	"o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com\r\n"
	"s= \r\n"
	"i=A session\r\n"
	"u=http://example.com\r\n"
	"e=a@example.com\r\n"
	"p=+1 555\r\n"
	"b=AS:64\r\n"
	"c=IN IP4 192.0.2.101\r\n"
	"t=0 0\r\n"
	"r=7d 1h 0 25h\r\n"
	"z=2882844526 -1h\r\n"
	"k=prompt\r\n"
	"a=sendrecv\r\n"
	"m=audio 49172 RTP/SAVPF 0\r\n"
	"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32\r\n"
	"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n"
	"a=end-of-candidates\r\n"
	"a=ptime:20\r\n"
	"m=audio 49174 UDP/TLS/RTP/SAVP 8\r\n"
	"a=fingerprint:sha-256 AB:CD\r\n",
};

static uint64_t rng = 0x6a09e667f3bcc909ull;

/* \x10 and \x1f: controls sip_ctl8 flags only with its exact constant */
static const char alphabet[] = "\r\n \t=:/0abcmvo\x00\x7f\x80.\x10\x1f";

/* 1..4 random edits (replace, delete, insert, a line or part of one of up
 * to 40 bytes repeated) of src into out */
static const diff_mut mut_rule = {alphabet, sizeof(alphabet) - 1, 4, 4, 40, 0};
static size_t mutate(const char *src, size_t n, char *out) { return diff_mutate(&rng, &mut_rule, src, n, out); }

static void test_seeds_same(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		what = seeds[i];
		size_t n = strlen(seeds[i]);
		assert_int_equal(diff_sdp(seeds[i], n), 0); /* every seed is valid */
		for (size_t k = 0; k < n; k++)
			diff_sdp(seeds[i], k);
	}
}

/* sdp_parse reuses the caller's sdp_session and clears it in byte ranges,
 * not with one memset. Parsing into a struct full of 0xA5 and into a zeroed
 * one must give the same bytes everywhere but the parts sdp_session.h
 * documents as valid only up to a count: media[] from n_media on and, in
 * each media[i] below n_media, crypto[] from n_crypto on. A member added
 * anywhere and not cleared by sdp_parse fails here. */
static sdp_session FILL_A5, FILL_00;
static unsigned char stale[sizeof(sdp_session)];

static void parse_into_fills(const char *text, size_t len)
{
	char *e = exact_copy(text, len);
	memset(&FILL_A5, 0xa5, sizeof(FILL_A5));
	memset(&FILL_00, 0, sizeof(FILL_00));
	int a = sdp_parse(e, len, &FILL_A5);
	int b = sdp_parse(e, len, &FILL_00);
	SAME(a, b, "status into 0xA5 / zero fill");
	SAME(FILL_A5.n_media, FILL_00.n_media, "n_media");
	memset(stale, 0, sizeof(stale));
	for (size_t i = 0; i < SDP_MAX_MEDIA; i++) {
		size_t at = offsetof(sdp_session, media) + i * sizeof(sdp_media);
		if (i >= FILL_00.n_media) {
			memset(stale + at, 1, sizeof(sdp_media));
			continue;
		}
		unsigned nc = FILL_00.media[i].n_crypto;
		SAME(FILL_A5.media[i].n_crypto, nc, "n_crypto");
		if (nc < SDP_MAX_CRYPTO)
			memset(stale + at + offsetof(sdp_media, crypto) + nc * sizeof(sip_sv), 1,
			       (SDP_MAX_CRYPTO - nc) * sizeof(sip_sv));
	}
	diff_cleared(&FILL_A5, &FILL_00, stale, sizeof(sdp_session), what, "sdp_session");
	exact_free(e, len);
}

static void test_parse_clears_whole(void **state)
{
	char buf[2048];
	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		what = seeds[i];
		size_t n = strlen(seeds[i]);
		parse_into_fills(seeds[i], n);
		assert_int_equal(FILL_00.n_media > 0 || strstr(seeds[i], "m=") == NULL, 1);
		for (size_t k = 0; k < n; k += 5) /* the failure paths too */
			parse_into_fills(seeds[i], k);
		for (int it = 0; it < 100; it++)
			parse_into_fills(buf, mutate(seeds[i], n, buf));
	}
}

static void test_mutations_same(void **state)
{
	char buf[2048];
	unsigned ok = 0;
	(void)state;
	what = "a mutated SDP";
	for (int iter = 0; iter < 20000; iter++) {
		const char *s = seeds[(size_t)iter % (sizeof(seeds) / sizeof(seeds[0]))];
		ok += diff_sdp(buf, mutate(s, strlen(s), buf)) == 0;
	}
	print_message("mutations: %u of 20000 parsed, all alike\n", ok);
	assert_true(ok > 1000 && ok < 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_same),
		cmocka_unit_test(test_mutations_same),
		cmocka_unit_test(test_parse_clears_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
