/* Replays the malformed-SIP corpus (tests/corpus/sip/NAME.sip) at the parser:
 * every file must fail with a 4xx/5xx error and a reason, never crash or
 * read outside its exact-size heap copy (run under SAN=1 too). Then a small
 * deterministic mutation run over a valid INVITE: flipped, deleted and
 * inserted bytes must parse or fail cleanly. The corpus directory is
 * $SBC_SRCDIR/tests/corpus/sip, or tests/corpus/sip from the repository
 * root where `make unit` runs. */
#include <dirent.h>
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
#include "../../../sbc-signal/src/b2b_call.h"
#include "../../../sbc-signal/src/sip_build.h"
#include "../../../sbc-signal/src/sip_msg.h"
#include "diff_harness.h"
#include "sip_samples.h"

static sip_msg M;

static void test_corpus_all_rejected(void **state)
{
	char dir[512];
	const char *name;
	char *buf;
	size_t len;
	unsigned files = 0;
	(void)state;
	DIR *d = corpus_open(dir, sizeof(dir));
	while ((buf = corpus_next(d, dir, &len, &name)) != NULL) {
		int r = sip_parse(buf, len, &M);
		int st = sbc_err_sip_status(r);
		if (r == 0 || st < 400 || st > 599 || !M.err_reason) {
			print_error("%s: parsed (%d) instead of failing\n", name, r);
			fail();
		}
		/* the error carries a response we could send */
		char out[256];
		assert_true(sip_reason_phrase(st)[0] != 0);
		assert_true(snprintf(out, sizeof(out), "SIP/2.0 %d %s", st, M.err_reason) > 0);
		free(buf);
		files++;
	}
	closedir(d);
	assert_true(files >= 40);
	print_message("corpus: %u malformed messages rejected\n", files);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void) { return diff_rand(&rng); }

static void test_mutations(void **state)
{
	static const char base[] =
		SIP_SAMPLE_V6_COMPACT_INVITE;
	static const char alphabet[] = "\r\n :;,<>\"\\@[]=%0aZ\t";
	size_t blen = sizeof(base) - 1;
	unsigned ok = 0, bad = 0, b2b_inv = 0, b2b_rsp = 0;
	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = blen;
		char *buf = malloc(blen + 8);
		memcpy(buf, base, blen);
		int edits = 1 + (int)(next_rand() % 4);
		for (int e = 0; e < edits; e++) {
			size_t pos = next_rand() % len;
			switch (next_rand() % 3) {
			case 0:
				buf[pos] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
				break;
			case 1:
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			default:
				if (len < blen + 8) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
					len++;
				}
			}
		}
		char *exact = malloc(len);
		memcpy(exact, buf, len);
		free(buf);
		int r = sip_parse(exact, len, &M);
		if (r == 0) {
			ok++;
			/* a parsed message must yield a well-formed response */
			char out[4096];
			static sip_msg R;
			if (M.is_request && M.method != SIP_M_ACK) {
				int n = sip_build_response(&M, 400, NULL, NULL, out, sizeof(out));
				assert_true(n > 0);
				assert_int_equal(sip_parse(out, (size_t)n, &R), 0);
				assert_int_equal(R.n_via, M.n_via);
			}
			/* whatever parsed, the B2BUA's builders make messages that parse */
			if (M.is_request && M.method == SIP_M_INVITE) {
				b2b_bleg_spec bs = {.request_uri = "sip:1@192.0.2.1",
						    .via = {.transport = "UDP", .host = "203.0.113.5", .port = 5060,
							    .branch = "z9hG4bKm"},
						    .local_host = "203.0.113.5", .from_tag = "t", .to_value = "<sip:1@192.0.2.1>",
						    .call_id = "c", .cseq = 1, .contact = "<sip:sbc@203.0.113.5>"};
				int n = b2b_build_bleg_invite(&M, &bs, out, sizeof(out), NULL, 0);
				if (n > 0) {
					assert_int_equal(sip_parse(out, (size_t)n, &R), 0);
					b2b_inv++;
				} else {
					assert_true(n == sbc_err_sip(483) || n == -ENOSPC || n == -EINVAL);
				}
				b2b_dialog d;
				(void)b2b_dialog_uas_init(&d, &M, "x", 1);
			}
			if (!M.is_request) {
				static const char inv[] = "INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
							  "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n"
							  "CSeq: 1 INVITE\r\n\r\n";
				static sip_msg I;
				assert_int_equal(sip_parse(inv, sizeof(inv) - 1, &I), 0);
				b2b_resp_spec rs = {.to_tag = "x", .contact = "<sip:sbc@h>", .local_host = "203.0.113.5"};
				int n = b2b_build_mirrored_response(&I, &M, &rs, out, sizeof(out));
				if (n > 0) {
					assert_int_equal(sip_parse(out, (size_t)n, &R), 0);
					assert_int_equal(R.status, M.status);
					b2b_rsp++;
				}
			}
		} else {
			assert_true(sbc_err_sip_status(r) >= 400);
			assert_non_null(M.err_reason);
			bad++;
		}
		free(exact);
	}
	print_message("mutations: %u parsed, %u rejected, %u B-leg INVITEs built\n", ok, bad, b2b_inv);
	assert_true(ok > 0 && bad > 0 && b2b_inv > 0);
	(void)b2b_rsp;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_all_rejected),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
