/* Differential test of the SIP framer: the optimised sig_framing.c against
 * the framer as it stood before (sig_framing_ref.inc, a verbatim copy with
 * its public names renamed ref_*). Stream and datagram framing must return
 * the same kind or error and the same sig_frame (consumed, hdr_len,
 * body_len, why) on every input: valid requests and responses, keep-alives,
 * every prefix of them (a stream that has not all arrived) and deterministic
 * mutations, each an exact-size heap copy (a read past the end shows under
 * SAN=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sig_framing.h"

#define sig_frame_why_name ref_sig_frame_why_name
#define sig_frame_stream ref_sig_frame_stream
#define sig_frame_datagram ref_sig_frame_datagram
/* sig_framing.h was included above (its guard keeps it out below) */
const char *sig_frame_why_name(unsigned why);
int sig_frame_stream(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f);
int sig_frame_datagram(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f);
#include "sig_framing_ref.inc"
#undef sig_frame_why_name
#undef sig_frame_stream
#undef sig_frame_datagram
/* the reference's own copies of the header helpers end here */
#include "parse_ref_helpers_end.inc"

#include <cmocka.h>
#include "diff_harness.h"
#include "sip_samples.h"

static const char *what;
static unsigned n_message, n_more, n_error;

static void same_frame(int a, int b, const sig_frame *x, const sig_frame *y, const char *mode)
{
	if (a != b || x->consumed != y->consumed || x->hdr_len != y->hdr_len || x->body_len != y->body_len ||
	    x->why != y->why) {
		print_error("%s (%s): new %d consumed %u hdr %u body %u why %u; ref %d consumed %u hdr %u body %u why %u\n",
			    what, mode, a, x->consumed, x->hdr_len, x->body_len, x->why, b, y->consumed, y->hdr_len,
			    y->body_len, y->why);
		fail();
	}
}

static void diff_frame(const char *text, size_t len, const sig_frame_limits *lim)
{
	char *e = exact_copy(text, len);
	sig_frame x, y;
	int a = sig_frame_stream(e, len, lim, &x);
	int b = ref_sig_frame_stream(e, len, lim, &y);
	same_frame(a, b, &x, &y, "stream");
	n_message += a == SIG_FRAME_MESSAGE;
	n_more += a == SIG_FRAME_NEED_MORE;
	n_error += a < 0;
	a = sig_frame_datagram(e, len, lim, &x);
	b = ref_sig_frame_datagram(e, len, lim, &y);
	same_frame(a, b, &x, &y, "datagram");
	exact_free(e, len);
}

static const char *const seeds[] = {
	SIP_SAMPLE_A_INVITE_HEAD
	"Content-Type: application/sdp\r\n"
	"Content-Length: 10\r\n"
	"\r\n"
	"v=0\r\ns=-\r\n",
	"SIP/2.0 180 Ringing\r\n"
	"Via: SIP/2.0/TLS 203.0.113.5:5061;branch=z9hG4bKsbc00000000;rport=5061\r\n"
	"From: \"Alice\" <sip:+15550001111@203.0.113.5>;tag=sbc-b\r\n"
	"To: <sip:0030123456@192.0.2.81>;tag=b9\r\n"
	"Call-ID: sbc-1@203.0.113.5\r\n"
	"CSeq: 1 INVITE\r\n"
	"l:   0  \r\n\r\n",
	"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nSubject: caf\xc3\xa9\tx\r\n"
	"Content-Length: 2\r\ncontent-length: 2\r\nCall-Info: <http://x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
	"Contact: <sip:a@b>\r\nContact: <sip:c@d>\r\nContact: <sip:e@f>\r\nContact: <sip:g@h>\r\n"
	"Contact: <sip:i@j>\r\nContact: <sip:k@l>\r\nContact: <sip:m@n>\r\nContact: <sip:o@p>\r\n\r\nhi",
	"\r\n\r\nACK sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n",
	"\r\n",
	"SIP/2.0 200 OK\r\nContent-Length: 70000\r\n\r\n",
	"MESSAGE sip:u@example.com SIP/2.0\r\nX: folded\r\n value\r\nl: 3\r\n\r\nabcdef",
};

static uint64_t rng = 0xbb67ae8584caa73bull;
static uint32_t next_rand(void) { return diff_rand(&rng); }

/* \x10 and \x1f: controls sip_ctl8 flags only with its exact constant */
static const char alphabet[] = "\r\n \t:0129lLcC\x00\x7f\x80\x01SIP/\x10\x1f";
/* 1..3 random edits: replace, delete, insert */
static const diff_mut mut_rule = {alphabet, sizeof(alphabet) - 1, 3, 3, 1, 0};

static void test_seeds_same(void **state)
{
	const sig_frame_limits lim = {SIG_FRAME_DEFAULT_MAX_HEADER, SIG_FRAME_DEFAULT_MAX_BODY};
	const sig_frame_limits small = {64, 4};
	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		what = seeds[i];
		size_t n = strlen(seeds[i]);
		for (size_t k = 0; k <= n; k++) {
			diff_frame(seeds[i], k, &lim);
			diff_frame(seeds[i], k, &small);
		}
	}
	print_message("seeds: %u messages, %u need-more, %u errors, all alike\n", n_message, n_more, n_error);
	assert_true(n_message > 0 && n_more > 0 && n_error > 0);
}

static void test_mutations_same(void **state)
{
	const sig_frame_limits lim = {SIG_FRAME_DEFAULT_MAX_HEADER, SIG_FRAME_DEFAULT_MAX_BODY};
	char buf[2048];
	(void)state;
	what = "a mutated message";
	n_message = n_more = n_error = 0;
	for (int iter = 0; iter < 30000; iter++) {
		const char *s = seeds[(size_t)iter % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = diff_mutate(&rng, &mut_rule, s, strlen(s), buf);
		diff_frame(buf, len, &lim);
		diff_frame(buf, next_rand() % (len + 1), &lim); /* and a prefix of it */
	}
	print_message("mutations: %u messages, %u need-more, %u errors, all alike\n", n_message, n_more, n_error);
	assert_true(n_message > 1000 && n_error > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_same),
		cmocka_unit_test(test_mutations_same),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
