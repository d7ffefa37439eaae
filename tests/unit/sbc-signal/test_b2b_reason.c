/* Unit tests for RFC 3326 Reason across the B2BUA (b2b_call.h): which
 * reason-values are well-formed (b2b_reason_check, with hostile ones:
 * control characters, oversized, out-of-range causes, broken quoting),
 * which lines cross from a message (b2b_reason_lines: value by value, a
 * bounded number, the Q.850 cause for the call record), and that they
 * reach the wire on a mirrored response, an in-dialog BYE and a CANCEL
 * (sip_build_cancel_ex) while a malformed one is dropped. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/b2b_call.h"
#include "sip_samples.h"
#include "../../../sbc-signal/src/sip_build.h"

static int check(const char *v) { return b2b_reason_check((sip_sv){v, strlen(v)}); }

static void test_reason_check_well_formed(void **state)
{
	(void)state;
	assert_int_equal(check("Q.850;cause=16;text=\"Normal call clearing\""), 16);
	assert_int_equal(check("q.850;CAUSE=17"), 17); /* names are case-insensitive */
	assert_int_equal(check("Q.850;cause=127"), 127);
	assert_int_equal(check("Q.850;cause=1"), 1);
	assert_int_equal(check("Q.850"), 0); /* no cause: well-formed, none to record */
	assert_int_equal(check("SIP;cause=200;text=\"Call completed elsewhere\""), 0);
	assert_int_equal(check("SIP;cause=487"), 0);
	assert_int_equal(check("SIP;cause=699"), 0);
	assert_int_equal(check("Q.850 ; cause = 16 ; text = \"x\""), 16); /* SEMI and EQUAL take LWS */
	assert_int_equal(check("Q.850;cause=16;\r\n text=\"folded\""), 16);
	assert_int_equal(check("Q.850;cause=16;text=\"say \\\"hi\\\" \\\\ back\""), 16); /* quoted-pairs */
	assert_int_equal(check("Q.850;cause=16;text=\"Fin d'appel \xc3\xa9t\xc3\xa9\""), 16); /* UTF-8 */
	assert_int_equal(check("Q.850;cause=16;text=\"a, b; c=d\""), 16);
	assert_int_equal(check("preemption;cause=1;text=\"x\";location=LN;flag"), 0); /* RFC 4411 style */
	assert_int_equal(check("X-Vendor;cause=123456789;host=[2001:db8::1];v=\"q\""), 0);
	/* the longest allowed */
	char v[B2B_REASON_MAX + 2];
	int n = snprintf(v, sizeof(v), "SIP;cause=200;text=\"");
	memset(v + n, 'a', B2B_REASON_MAX - (size_t)n - 1);
	v[B2B_REASON_MAX - 1] = '"';
	v[B2B_REASON_MAX] = 0;
	assert_int_equal(check(v), 0);
}

static void test_reason_check_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		";cause=16",
		" Q.850;cause=16",        /* not trimmed: the caller's split trims */
		"Q.850;cause=",
		"Q.850;cause",
		"Q.850;cause=abc",
		"Q.850;cause=16x",
		"Q.850;cause=0",
		"Q.850;cause=128",
		"Q.850;cause=-1",
		"SIP;cause=99",
		"SIP;cause=700",
		"SIP;cause=2000",
		"X;cause=1234567890",      /* ten digits */
		"Q.850;cause=16;cause=17", /* cause once */
		"Q.850;text=\"a\";text=\"b\"",
		"Q.850;text=unquoted",
		"Q.850;text",
		"Q.850;text=\"open",
		"Q.850;text=\"bs at end\\\"",
		"Q.850 cause=16",
		"Q.850;cause=16 junk",
		"Q.850;;cause=16",
		"Q.850;cause=16;",
		"Q.850;cause=16,SIP;cause=200", /* one value: the split is the caller's */
		"Q.850;cause=16\r\nX-Injected: 1",
		"Q.850;cause=16\nX: 1",
		"Q.850;cause=16\r\n",
		"Q.850;cause=16;text=\"a\r\nX-Injected: 1\"",
		"Q.850;cause=16;text=\"bell\a\"",
		"Q.850;cause=16;text=\"del\x7f\"",
		"Q.850;cause=16;text=\"a\\\r\"",
		"<sip:x@10.0.0.1>",
		"Q.850;x=<y>",
		"Q(850);cause=16",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check(bad[i]) != -1) {
			print_error("accepted: '%s'\n", bad[i]);
			fail();
		}
	}
	/* a NUL inside */
	assert_int_equal(b2b_reason_check((sip_sv){"Q.850;cause=16;text=\"a\0b\"", 25}), -1);
	assert_int_equal(b2b_reason_check((sip_sv){NULL, 0}), -1);
	/* one byte over the cap */
	char v[B2B_REASON_MAX + 2];
	int n = snprintf(v, sizeof(v), "SIP;cause=200;text=\"");
	memset(v + n, 'a', B2B_REASON_MAX - (size_t)n);
	v[B2B_REASON_MAX] = '"';
	v[B2B_REASON_MAX + 1] = 0;
	assert_int_equal(check(v), -1);
}

static char MSG[8192];
static sip_msg M;

/* A BYE with the given Reason lines (each "Reason: ..." with CRLF). */
static void parse_bye(const char *reasons)
{
	int n = snprintf(MSG, sizeof(MSG),
			 "BYE sip:b@192.0.2.80:5060 SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.80:5060;branch=z9hG4bKbye1\r\n"
			 "From: <sip:b@192.0.2.80>;tag=b-tag\r\n"
			 "To: <sip:a@203.0.113.5>;tag=our-tag\r\n"
			 "Call-ID: cid-1@192.0.2.80\r\n"
			 "CSeq: 2 BYE\r\n"
			 "Max-Forwards: 70\r\n"
			 "%s"
			 "Content-Length: 0\r\n\r\n",
			 reasons);
	assert_true(n > 0 && (size_t)n < sizeof(MSG));
	assert_int_equal(sip_parse(MSG, (size_t)n, &M), 0);
}

static void test_reason_lines(void **state)
{
	(void)state;
	char buf[B2B_REASON_BUF];
	const char *l[8];
	int q = -1;

	parse_bye("");
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 8, &q), 0);
	assert_int_equal(q, 0);

	/* two lines, one with two values: each line crosses as it came */
	parse_bye("Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"
		  "Reason: Q.850;cause=16;text=\"Normal call clearing\", X-Own;a=1\r\n");
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 8, &q), 2);
	assert_string_equal(l[0], "Reason: SIP;cause=200;text=\"Call completed elsewhere\"");
	assert_string_equal(l[1], "Reason: Q.850;cause=16;text=\"Normal call clearing\", X-Own;a=1");
	assert_int_equal(q, 16);

	/* malformed values left out, the good ones of the same line kept; a
	 * line left with none is dropped; a text with a comma is one value */
	parse_bye("Reason: Q.850;cause=999, SIP;cause=503;text=\"a, b\"\r\n"
		  "Reason: SIP;cause=1;text=\"bad\"\r\n"
		  "Reason: Q.850;cause=17\r\n");
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 8, &q), 2);
	assert_string_equal(l[0], "Reason: SIP;cause=503;text=\"a, b\"");
	assert_string_equal(l[1], "Reason: Q.850;cause=17");
	assert_int_equal(q, 17);

	/* at most B2B_REASON_VALUES values in all */
	parse_bye("Reason: Q.850;cause=1, Q.850;cause=2, Q.850;cause=3\r\n"
		  "Reason: Q.850;cause=4, Q.850;cause=5\r\n"
		  "Reason: Q.850;cause=6\r\n");
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 8, &q), 2);
	assert_string_equal(l[0], "Reason: Q.850;cause=1, Q.850;cause=2, Q.850;cause=3");
	assert_string_equal(l[1], "Reason: Q.850;cause=4");
	assert_int_equal(q, 1);

	/* max lines */
	parse_bye("Reason: Q.850;cause=1\r\nReason: Q.850;cause=2\r\n");
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 1, NULL), 1);
	assert_string_equal(l[0], "Reason: Q.850;cause=1");

	/* an oversized value, and an oversized line of short values: dropped */
	char big[3 * B2B_REASON_LINE_MAX];
	int n = snprintf(big, sizeof(big), "Reason: SIP;cause=200;text=\"");
	memset(big + n, 'x', B2B_REASON_MAX);
	n += B2B_REASON_MAX;
	n += snprintf(big + n, sizeof(big) - (size_t)n, "\"\r\nReason: Q.850;cause=16");
	for (int line = n; n - line < B2B_REASON_LINE_MAX + 8;)
		n += snprintf(big + n, sizeof(big) - (size_t)n, ", X;a=1");
	snprintf(big + n, sizeof(big) - (size_t)n, "\r\nReason: Q.850;cause=31\r\n");
	parse_bye(big);
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 8, &q), 1);
	assert_string_equal(l[0], "Reason: Q.850;cause=31");
	assert_int_equal(q, 31);

	/* an unterminated quote in the line: nothing after it */
	parse_bye("Reason: Q.850;cause=16;text=\"open\r\n");
	assert_int_equal(b2b_reason_lines(&M, buf, sizeof(buf), l, 8, &q), 0);
	assert_int_equal(q, 0);

	/* a buffer too small: -ENOSPC, never a cut line */
	parse_bye("Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n");
	assert_int_equal(b2b_reason_lines(&M, buf, 20, l, 8, &q), -ENOSPC);
}

/* What reaches the wire: a mirrored 486 keeps its good Reason and drops
 * the malformed one; a BYE and a CANCEL built with the lines carry them. */
static void test_reason_on_the_wire(void **state)
{
	(void)state;
	static const char inv_text[] = "INVITE sip:4930@192.0.2.80:5060 SIP/2.0\r\n"
				       "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKinv\r\n"
				       "From: <sip:a@203.0.113.5>;tag=ours\r\n"
				       "To: <sip:4930@192.0.2.80>\r\n"
				       "Call-ID: cid-b@203.0.113.5\r\n"
				       "CSeq: 1 INVITE\r\n"
				       "Max-Forwards: 70\r\n"
				       "Content-Length: 0\r\n\r\n";
	static const char rsp_text[] = "SIP/2.0 486 Busy Here\r\n"
				       "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKinv\r\n"
				       "From: <sip:a@203.0.113.5>;tag=ours\r\n"
				       "To: <sip:4930@192.0.2.80>;tag=b\r\n"
				       "Call-ID: cid-b@203.0.113.5\r\n"
				       "CSeq: 1 INVITE\r\n"
				       "Reason: Q.850;cause=17;text=\"User busy\"\r\n"
				       "Reason: Q.850;cause=17;text=\"x\r\n"
				       "Reason: Q.850;cause=17;text=\"<sip:gw@10.9.9.9> \x01\"\r\n"
				       "Content-Length: 0\r\n\r\n";
	static sip_msg inv, rsp;
	static char out[4096];
	assert_int_equal(sip_parse(inv_text, sizeof(inv_text) - 1, &inv), 0);
	assert_int_equal(sip_parse(rsp_text, sizeof(rsp_text) - 1, &rsp), 0);
	b2b_resp_spec rs = {.to_tag = "a-tag", .local_host = "198.51.100.1"};
	int n = b2b_build_mirrored_response(&inv, &rsp, &rs, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "\r\nReason: Q.850;cause=17;text=\"User busy\"\r\n"));
	assert_null(strstr(out, "text=\"x"));
	assert_null(strstr(out, "10.9.9.9"));
	const char *first = strstr(out, "Reason:");
	assert_null(strstr(first + 1, "Reason:")); /* one line only */

	/* allowed headers that fill collect's 4 KiB scratch: the 486 still
	 * goes, without its Reason */
	static char fat[8192];
	int fl = snprintf(fat, sizeof(fat), "SIP/2.0 486 Busy Here\r\n"
					    "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKinv\r\n"
					    "From: <sip:a@203.0.113.5>;tag=ours\r\n"
					    "To: <sip:4930@192.0.2.80>;tag=b\r\n"
					    "Call-ID: cid-b@203.0.113.5\r\n"
					    "CSeq: 1 INVITE\r\n"
					    "Reason: Q.850;cause=17;text=\"User busy at the far end of the line\"\r\n");
	for (int i = 0; i < 4; i++) {
		fl += snprintf(fat + fl, sizeof(fat) - (size_t)fl, "Supported: ");
		memset(fat + fl, 'x', 1000);
		fl += 1000;
		fl += snprintf(fat + fl, sizeof(fat) - (size_t)fl, "\r\n");
	}
	fl += snprintf(fat + fl, sizeof(fat) - (size_t)fl, "Content-Length: 0\r\n\r\n");
	static sip_msg fatm;
	static char big_out[16384];
	assert_int_equal(sip_parse(fat, (size_t)fl, &fatm), 0);
	n = b2b_build_mirrored_response(&inv, &fatm, &rs, big_out, sizeof(big_out));
	assert_true(n > 4000);
	assert_non_null(strstr(big_out, "SIP/2.0 486 Busy Here\r\n"));
	assert_null(strstr(big_out, "Reason:"));

	/* CANCEL with the caller's Reason, before Content-Length */
	const char *e0 = "Reason: SIP;cause=200;text=\"Call completed elsewhere\"", *e1 = "Reason: Q.850;cause=16";
	sip_sv ex[2] = {{e0, strlen(e0)}, {e1, strlen(e1)}};
	n = sip_build_cancel_ex(&inv, ex, 2, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "CANCEL sip:4930@192.0.2.80:5060 SIP/2.0\r\n"));
	assert_non_null(strstr(out, "CSeq: 1 CANCEL\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"
				    "Reason: Q.850;cause=16\r\nContent-Length: 0\r\n\r\n"));
	/* sip_build_cancel is the same without */
	static char plain[4096];
	int m = sip_build_cancel(&inv, plain, sizeof(plain));
	assert_int_equal(sip_build_cancel_ex(&inv, NULL, 0, out, sizeof(out)), m);
	assert_memory_equal(out, plain, (size_t)m);
	/* a line that would inject is refused */
	sip_sv inj = {"Reason: SIP;cause=200\r\nX: 1", 27};
	assert_int_equal(sip_build_cancel_ex(&inv, &inj, 1, out, sizeof(out)), -EINVAL);

	/* BYE on a confirmed UAC dialog with the lines of a peer's BYE */
	static b2b_dialog d;
	assert_int_equal(b2b_dialog_uac_init(&d, "cid-b@203.0.113.5", "ours", "<sip:a@203.0.113.5>;tag=ours",
					     "<sip:4930@192.0.2.80>", "sip:4930@192.0.2.80:5060", 1),
			 0);
	static const char ok_text[] = SIP_SAMPLE_B_200_CONFIRMS;
	static sip_msg ok;
	assert_int_equal(sip_parse(ok_text, sizeof(ok_text) - 1, &ok), 0);
	assert_int_equal(b2b_dialog_uac_update(&d, &ok), 0);
	parse_bye("Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\nReason: Q.850;cause=16\r\n X\r\n");
	char buf[B2B_REASON_BUF];
	const char *l[4];
	int q = 0, nl = b2b_reason_lines(&M, buf, sizeof(buf), l, 4, &q);
	assert_int_equal(nl, 1); /* the folded "16 X" is not a cause */
	b2b_via via = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKbye"};
	n = b2b_build_in_dialog(&d, SIP_M_BYE, &via, NULL, l, (unsigned)nl, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "BYE sip:gw@192.0.2.80:5060 SIP/2.0\r\n"));
	assert_non_null(strstr(out, "\r\nReason: Q.850;cause=16;text=\"Normal call clearing\"\r\n"));
	assert_null(strstr(out, " X\r\n"));
}

/* Our own error statuses and the Q.850 causes they carry (RFC 3398). */
static void test_q850_of_status(void **state)
{
	(void)state;
	const char *text = NULL;
	assert_int_equal(b2b_q850_of_status(404, &text), 1);
	assert_string_equal(text, "Unallocated number");
	assert_int_equal(b2b_q850_of_status(488, &text), 88);
	assert_int_equal(b2b_q850_of_status(503, NULL), 41);
	assert_int_equal(b2b_q850_of_status(408, NULL), 102);
	assert_int_equal(b2b_q850_of_status(484, NULL), 28);
	assert_int_equal(b2b_q850_of_status(200, NULL), 0);
	assert_int_equal(b2b_q850_of_status(487, NULL), 0); /* RFC 3398: no mapping */
	assert_int_equal(b2b_q850_of_status(699, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_check_well_formed),
		cmocka_unit_test(test_reason_check_malformed),
		cmocka_unit_test(test_reason_lines),
		cmocka_unit_test(test_reason_on_the_wire),
		cmocka_unit_test(test_q850_of_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
