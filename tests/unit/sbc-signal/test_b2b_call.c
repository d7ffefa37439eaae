/* Unit tests for the B2BUA call model (b2b_call.h): a whole call across two
 * legs built from real messages (INVITE with SRTP SDP -> B-leg INVITE with
 * rewritten SDP; 183 with 100rel and SDP -> mirrored 183; 200; ACK; BYE from
 * the B side -> BYE on the A leg), checking topology hiding (no address,
 * host, tag or Call-ID of one carrier in anything sent to the other),
 * dialog state, route sets (loose and strict), CSeq rules and forking;
 * and b2b_session_expires (RFC 4028 Session-Expires, hostile values). */
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
#include "../../../sbc-signal/src/b2b_route.h"
#include "../../../sbc-signal/src/sdes_policy.h"
#include "../../../sbc-signal/src/sdp_session.h"
#include "../../../sbc-signal/src/sip_build.h"
#include "b2b_fixture.h"

static const char A_INVITE[] =
	"INVITE sip:+4930123456@203.0.113.5:5060;user=phone SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKa1;rport\r\n"
	"Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bKinner\r\n"
	"Record-Route: <sip:198.51.100.10;lr>\r\n"
	"Max-Forwards: 69\r\n"
	"From: \"Alice Caller\" <sip:+15550001111@pbx.carrier-a.example>;tag=a-tag-1\r\n"
	"To: <sip:+4930123456@203.0.113.5>\r\n"
	"Call-ID: 77abc@10.1.2.3\r\n"
	"CSeq: 10 INVITE\r\n"
	"Contact: <sip:+15550001111@198.51.100.10:5060>\r\n"
	"P-Asserted-Identity: \"Alice\" <sip:+15550001111@10.1.2.3;user=phone>, <tel:+15550001111>\r\n"
	"Remote-Party-ID: <sip:+15550001111@pbx.carrier-a.example>;party=calling\r\n"
	"Supported: 100rel, timer\r\n"
	"Session-Expires: 1800;refresher=uac\r\n"
	"Min-SE: 90\r\n"
	"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE\r\n"
	"User-Agent: CarrierA-SBC 1.0 (10.1.2.3)\r\n"
	"Diversion: <sip:+15559998888@10.1.2.3>;reason=unconditional\r\n"
	"X-Carrier-Internal: node=10.1.2.3\r\n"
	"P-Charging-Vector: icid-value=abc;orig-ioi=carrier-a.example\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: " B2B_FIX_A_SDP_LEN "\r\n"
	"\r\n" B2B_FIX_A_SDP;

static const char *const A_SECRETS[] = {"198.51.100.10", "198.51.100.20", "10.1.2.3", "carrier-a", "CarrierA",
					"77abc", "a-tag-1", "z9hG4bKa1", "TCkr9L8rtn4", "Diversion",
					"P-Charging-Vector", "X-Carrier"};
static const char *const B_SECRETS[] = {"192.0.2.80", "172.16.0.9", "carrier-b", "CarrierB", "b-tag-9",
					"gw@", "192.0.2.81", "7aNj4ZNv8I94"};

static void assert_hidden(const char *msg, const char *const *secrets, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(msg, secrets[i])) {
			print_error("leaked '%s' in:\n%s\n", secrets[i], msg);
			fail();
		}
}

static int det_rand(void *arg, uint8_t *buf, size_t n)
{
	uint8_t *next = arg;
	for (size_t i = 0; i < n; i++)
		buf[i] = (*next)++;
	return 0;
}

static sip_msg A, R, X;
static b2b_dialog DA, DB;

static void test_call_flow_topology_hiding(void **state)
{
	(void)state;
	char bsdp[2048], binv[8192], from[B2B_HDR_MAX + 1], asdp[2048], a183[8192], ruri[128], num[65], routed[65];
	uint8_t seed = 1;

	/* 1. the A-leg INVITE: parse, route, SRTP answer, dialog */
	assert_int_equal(sip_parse(A_INVITE, sizeof(A_INVITE) - 1, &A), 0);
	assert_int_equal((size_t)A.content_length, A.body.n);
	assert_true(b2b_called_number(&A, num) > 0);
	assert_string_equal(num, "+4930123456");
	store_route rt = {.prefix = "+49", .trunk = "carrier-b", .strip = 1, .prepend = "00"};
	assert_true(b2b_route_number(&rt, num, routed) > 0);
	assert_string_equal(routed, "00930123456");
	assert_int_equal(b2b_dialog_uas_init(&DA, &A, "sbc-a-tag", 100), 0);
	assert_int_equal(DA.state, B2B_DLG_EARLY);
	assert_string_equal(DA.remote_target, "sip:+15550001111@198.51.100.10:5060");
	assert_int_equal(DA.n_route, 1);

	static sdp_session sa;
	assert_int_equal(sdp_parse(A.body.p, A.body.n, &sa), 0);
	store_srtp_policy a_in = {.mode = STORE_SRTP_REQUIRED, .n_suites = 1, .suites = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80}};
	sdes_result a_res;
	assert_int_equal(sdes_answer(&a_in, sa.media[0].savp, sa.media[0].crypto, sa.media[0].n_crypto, det_rand, &seed,
				     &a_res),
			 0);
	store_srtp_policy b_out = {.mode = STORE_SRTP_OFF};
	sdes_offer b_off;
	assert_int_equal(sdes_make_offer(&b_out, det_rand, &seed, &b_off), 0);

	/* 2. the B-leg INVITE: relay address toward B, plain RTP */
	sbc_addr relay_b;
	sbc_addr_parse("203.0.113.5:30000", -1, &relay_b);
	sdp_origin ob;
	sdp_origin_init(&ob, "sbc", 900);
	sdp_rewrite rw = {.addr = &relay_b, .origin = &ob};
	rw.media[0] = (sdp_media_out){.port = 30000, .savp = b_off.savp};
	int bl = sdp_rewrite_build(&sa, &rw, bsdp, sizeof(bsdp));
	assert_true(bl > 0);
	snprintf(ruri, sizeof(ruri), "sip:%s@192.0.2.81:5060;user=phone", routed);
	char to_b[128];
	snprintf(to_b, sizeof(to_b), "<sip:%s@192.0.2.81>", routed);
	b2b_bleg_spec bs = {
		.request_uri = ruri,
		.via = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKsbc-b-1"},
		.local_host = "203.0.113.5",
		.from_tag = "sbc-b-tag",
		.to_value = to_b,
		.call_id = "sbc-call-1@203.0.113.5",
		.cseq = 1,
		.contact = "<sip:sbc@203.0.113.5:5060>",
		.body = {.type = "application/sdp", .data = bsdp, .len = (size_t)bl},
	};
	int n = b2b_build_bleg_invite(&A, &bs, binv, sizeof(binv), from, sizeof(from));
	assert_true(n > 0);
	/* (the B side must not see the A carrier; the Request-URI names B) */
	static const char *const a_only[] = {"198.51.100.10", "198.51.100.20", "10.1.2.3", "carrier-a", "CarrierA",
					     "77abc", "a-tag-1", "z9hG4bKa1", "TCkr9L8rtn4", "Diversion",
					     "P-Charging-Vector", "X-Carrier", "a=crypto", "RTP/SAVP"};
	assert_hidden(binv, a_only, sizeof(a_only) / sizeof(a_only[0]));
	assert_int_equal(sip_parse(binv, (size_t)n, &X), 0);
	assert_int_equal(X.method, SIP_M_INVITE);
	assert_int_equal(X.max_forwards, 68);
	assert_int_equal(X.n_via, 1);
	assert_true(sip_sv_eq(X.from.display, "\"Alice Caller\""));
	assert_true(sip_sv_eq(X.from.uri.user, "+15550001111"));
	assert_true(sip_sv_eq(X.from.uri.host, "203.0.113.5"));
	assert_true(sip_sv_eq(X.from.tag, "sbc-b-tag"));
	assert_true(sip_sv_eq(X.ruri.user, "00930123456"));
	assert_non_null(strstr(binv, "Supported: 100rel, timer\r\n"));
	assert_non_null(strstr(binv, "Session-Expires: 1800;refresher=uac\r\n"));
	assert_non_null(strstr(binv, "Min-SE: 90\r\n"));
	assert_non_null(strstr(binv, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE\r\n"));
	assert_non_null(strstr(binv,
			       "P-Asserted-Identity: \"Alice\" <sip:+15550001111@203.0.113.5;user=phone>, <tel:+15550001111>\r\n"));
	assert_non_null(strstr(binv, "Remote-Party-ID: <sip:+15550001111@203.0.113.5>\r\n"));
	assert_null(strstr(binv, "User-Agent"));
	assert_null(strstr(binv, "Record-Route"));
	assert_true(sip_sv_eq(X.body, bsdp));
	assert_int_equal(b2b_dialog_uac_init(&DB, "sbc-call-1@203.0.113.5", "sbc-b-tag", from, to_b, ruri, 1), 0);

	/* 3. B answers 183 with 100rel and SDP (SRTP off toward B: no crypto) */
	static const char b183[] =
		"SIP/2.0 183 Session Progress\r\n"
		"Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKsbc-b-1;rport=5060;received=203.0.113.5\r\n"
		"Record-Route: <sip:192.0.2.80;lr>\r\n"
		"From: \"Alice Caller\" <sip:+15550001111@203.0.113.5>;tag=sbc-b-tag\r\n"
		"To: <sip:00930123456@192.0.2.81>;tag=b-tag-9\r\n"
		"Call-ID: sbc-call-1@203.0.113.5\r\n"
		"CSeq: 1 INVITE\r\n"
		"Contact: <sip:gw@192.0.2.80:5060>\r\n"
		"Require: 100rel\r\n"
		"RSeq: 1\r\n"
		"Server: CarrierB GW (172.16.0.9)\r\n"
		"P-Asserted-Identity: <sip:+4930123456@172.16.0.9>\r\n"
		"Warning: 399 carrier-b.example \"early media\"\r\n"
		"Content-Type: application/sdp\r\n"
		"Content-Length: 159\r\n"
		"\r\n"
		"v=0\r\n"
		"o=gw 5 5 IN IP4 192.0.2.80\r\n"
		"s=CarrierB\r\n"
		"c=IN IP4 192.0.2.80\r\n"
		"t=0 0\r\n"
		"m=audio 50000 RTP/AVP 0 101\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n";
	assert_int_equal(sip_parse(b183, sizeof(b183) - 1, &R), 0);
	assert_true(b2b_dialog_match(&DB, &R));
	assert_false(b2b_dialog_match(&DA, &R));
	assert_int_equal(b2b_dialog_uac_update(&DB, &R), 0);
	assert_int_equal(DB.state, B2B_DLG_EARLY);
	assert_string_equal(DB.remote_tag, "b-tag-9");
	assert_string_equal(DB.remote_target, "sip:gw@192.0.2.80:5060");
	static sdp_session sb;
	assert_int_equal(sdp_parse(R.body.p, R.body.n, &sb), 0);
	sdes_result b_res;
	assert_int_equal(sdes_check_answer(&b_off, sb.media[0].savp, sb.media[0].crypto, sb.media[0].n_crypto, &b_res), 0);
	sbc_addr relay_a;
	sbc_addr_parse("203.0.113.5:30002", -1, &relay_a);
	sdp_origin oa;
	sdp_origin_init(&oa, "sbc", 901);
	const char *cl[] = {a_res.line};
	sdp_rewrite rwa = {.addr = &relay_a, .origin = &oa};
	rwa.media[0] = (sdp_media_out){.port = 30002, .savp = a_res.savp, .crypto = cl, .n_crypto = 1};
	int al = sdp_rewrite_build(&sb, &rwa, asdp, sizeof(asdp));
	assert_true(al > 0);
	b2b_resp_spec rs = {.to_tag = "sbc-a-tag", .contact = "<sip:sbc@203.0.113.5:5060>", .local_host = "203.0.113.5",
			    .body = {.type = "application/sdp", .data = asdp, .len = (size_t)al}};
	n = b2b_build_mirrored_response(&A, &R, &rs, a183, sizeof(a183));
	assert_true(n > 0);
	static const char *const b_only[] = {"192.0.2.80", "172.16.0.9", "carrier-b", "CarrierB", "b-tag-9",
					     "gw@", "192.0.2.81", "sbc-call-1", "sbc-b-tag", "00930123456"};
	assert_hidden(a183, b_only, sizeof(b_only) / sizeof(b_only[0]));
	assert_int_equal(sip_parse(a183, (size_t)n, &X), 0);
	assert_int_equal(X.status, 183);
	assert_true(sip_sv_eq(X.reason, "Session Progress"));
	assert_int_equal(X.n_via, 2); /* A's own Vias come back to A */
	assert_true(sip_sv_eq(X.to.tag, "sbc-a-tag"));
	assert_true(sip_sv_eq(X.call_id, "77abc@10.1.2.3"));
	assert_non_null(strstr(a183, "RSeq: 1\r\n"));
	assert_non_null(strstr(a183, "Require: 100rel\r\n"));
	assert_non_null(strstr(a183, "Contact: <sip:sbc@203.0.113.5:5060>\r\n"));
	assert_non_null(strstr(a183, "P-Asserted-Identity: <sip:+4930123456@203.0.113.5>\r\n"));
	assert_non_null(strstr(a183, "RTP/SAVP"));
	assert_non_null(strstr(a183, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
	assert_null(strstr(a183, "Warning"));

	/* 4. a forked 180 with another tag */
	static char fork[1024];
	snprintf(fork, sizeof(fork), "%s", b183);
	memcpy(strstr(fork, "b-tag-9"), "b-tag-8", 7);
	assert_int_equal(sip_parse(fork, strlen(fork), &X), 0);
	assert_int_equal(b2b_dialog_uac_update(&DB, &X), SBC_E_EXISTS);

	/* 5. 200 OK: confirms; ACK for the 2xx on the B leg */
	static char b200[1024];
	snprintf(b200, sizeof(b200), "%s", b183);
	memcpy(b200 + 8, "200 OK          ", 16);
	char *rr = strstr(b200, "Record-Route: <sip:192.0.2.80;lr>");
	memcpy(rr, "Record-Route: <sip:192.0.2.79;lr>", 33);
	assert_int_equal(sip_parse(b200, strlen(b200), &R), 0);
	assert_int_equal(R.status, 200);
	assert_int_equal(b2b_dialog_uac_update(&DB, &R), 0);
	assert_int_equal(DB.state, B2B_DLG_CONFIRMED);
	assert_string_equal(b2b_dialog_route(&DB, 0), "<sip:192.0.2.79;lr>");
	char ack[2048];
	b2b_via vb = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKsbc-b-ack"};
	n = b2b_build_in_dialog(&DB, SIP_M_ACK, &vb, NULL, NULL, 0, NULL, ack, sizeof(ack));
	assert_true(n > 0);
	assert_int_equal(sip_parse(ack, (size_t)n, &X), 0);
	assert_true(sip_sv_eq(X.ruri_text, "sip:gw@192.0.2.80:5060"));
	assert_int_equal(X.cseq, 1);
	assert_true(sip_sv_eq(X.to.tag, "b-tag-9"));
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_ROUTE, 0)->value, "<sip:192.0.2.79;lr>"));
	assert_hidden(ack, A_SECRETS, sizeof(A_SECRETS) / sizeof(A_SECRETS[0]));

	/* 6. BYE from B: matches the B dialog; a BYE goes out on the A dialog */
	static const char bbye[] = "BYE sip:sbc@203.0.113.5:5060 SIP/2.0\r\n"
				   "Via: SIP/2.0/UDP 192.0.2.80;branch=z9hG4bKbye\r\n"
				   "From: <sip:00930123456@192.0.2.81>;tag=b-tag-9\r\n"
				   "To: \"Alice Caller\" <sip:+15550001111@203.0.113.5>;tag=sbc-b-tag\r\n"
				   "Call-ID: sbc-call-1@203.0.113.5\r\n"
				   "CSeq: 2 BYE\r\n\r\n";
	assert_int_equal(sip_parse(bbye, sizeof(bbye) - 1, &X), 0);
	assert_true(b2b_dialog_match(&DB, &X));
	assert_false(b2b_dialog_match(&DA, &X));
	assert_int_equal(b2b_dialog_check_cseq(&DB, &X), 0);
	assert_int_equal(b2b_dialog_check_cseq(&DB, &X), sbc_err_sip(500)); /* same CSeq again */
	char abye[2048];
	b2b_via va = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKsbc-a-bye"};
	const char *reason[] = {"Reason: Q.850;cause=16;text=\"Normal call clearing\""};
	n = b2b_build_in_dialog(&DA, SIP_M_BYE, &va, NULL, reason, 1, NULL, abye, sizeof(abye));
	assert_true(n > 0);
	assert_hidden(abye, B_SECRETS, sizeof(B_SECRETS) / sizeof(B_SECRETS[0]));
	assert_int_equal(sip_parse(abye, (size_t)n, &X), 0);
	assert_int_equal(X.method, SIP_M_BYE);
	assert_true(sip_sv_eq(X.ruri_text, "sip:+15550001111@198.51.100.10:5060"));
	assert_true(sip_sv_eq(X.call_id, "77abc@10.1.2.3"));
	assert_true(sip_sv_eq(X.from.tag, "sbc-a-tag"));
	assert_true(sip_sv_eq(X.to.tag, "a-tag-1"));
	assert_int_equal(X.cseq, 101);
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_ROUTE, 0)->value, "<sip:198.51.100.10;lr>"));
	assert_non_null(sip_hdr_get(&X, SIP_H_REASON, 0));
	/* the A side's next in-dialog request must have a higher CSeq */
	static const char are[] = "INVITE sip:sbc@203.0.113.5 SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKre\r\n"
				  "From: <sip:+15550001111@pbx.carrier-a.example>;tag=a-tag-1\r\n"
				  "To: <sip:+4930123456@203.0.113.5>;tag=sbc-a-tag\r\n"
				  "Call-ID: 77abc@10.1.2.3\r\nCSeq: 9 INVITE\r\n\r\n";
	assert_int_equal(sip_parse(are, sizeof(are) - 1, &X), 0);
	assert_true(b2b_dialog_match(&DA, &X));
	assert_int_equal(b2b_dialog_check_cseq(&DA, &X), sbc_err_sip(500));
	/* a re-INVITE we send records the INVITE CSeq for its ACK */
	n = b2b_build_in_dialog(&DA, SIP_M_INVITE, &va, "<sip:sbc@203.0.113.5>", NULL, 0, NULL, abye, sizeof(abye));
	assert_true(n > 0);
	assert_int_equal(DA.invite_cseq, 102);
	n = b2b_build_in_dialog(&DA, SIP_M_ACK, &va, NULL, NULL, 0, NULL, abye, sizeof(abye));
	assert_int_equal(sip_parse(abye, (size_t)n, &X), 0);
	assert_int_equal(X.cseq, 102);
	assert_int_equal(b2b_build_in_dialog(&DA, SIP_M_CANCEL, &va, NULL, NULL, 0, NULL, abye, sizeof(abye)), -EINVAL);
	/* bounded */
	assert_int_equal(b2b_build_in_dialog(&DA, SIP_M_BYE, &va, NULL, NULL, 0, NULL, abye, 100), -ENOSPC);
	assert_int_equal(b2b_build_bleg_invite(&A, &bs, binv, 200, NULL, 0), -ENOSPC);
}

static void test_strict_route_and_errors(void **state)
{
	(void)state;
	char out[2048];
	static const char inv[] = "INVITE sip:x@203.0.113.5 SIP/2.0\r\n"
				  "Via: SIP/2.0/TCP 198.51.100.10;branch=z9hG4bKs\r\n"
				  "Record-Route: <sip:p1.example.net>, <sip:p2.example.net;lr>\r\n"
				  "Max-Forwards: 0\r\n"
				  "From: sip:a@198.51.100.10;tag=t1\r\n"
				  "To: sip:x@203.0.113.5\r\n"
				  "Call-ID: s1\r\nCSeq: 1 INVITE\r\n"
				  "Contact: <sip:a@198.51.100.10;transport=tcp>\r\n\r\n";
	assert_int_equal(sip_parse(inv, sizeof(inv) - 1, &A), 0);
	assert_int_equal(b2b_dialog_uas_init(&DA, &A, "me", 1), 0);
	assert_int_equal(DA.n_route, 2);
	/* strict first hop: Request-URI = that route, remote target last */
	b2b_via v = {.transport = "TCP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKx"};
	int n = b2b_build_in_dialog(&DA, SIP_M_BYE, &v, NULL, NULL, 0, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	assert_true(sip_sv_eq(X.ruri_text, "sip:p1.example.net"));
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_ROUTE, 0)->value, "<sip:p2.example.net;lr>"));
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_ROUTE, 1)->value, "<sip:a@198.51.100.10;transport=tcp>"));
	/* Max-Forwards 0 cannot be forwarded: 483 */
	b2b_bleg_spec bs = {.request_uri = "sip:x@192.0.2.1", .via = v, .local_host = "203.0.113.5", .from_tag = "f",
			    .to_value = "<sip:x@192.0.2.1>", .call_id = "c", .cseq = 1};
	assert_int_equal(b2b_build_bleg_invite(&A, &bs, out, sizeof(out), NULL, 0), sbc_err_sip(483));
	/* an initial request without From tag, or with a To tag, is no dialog */
	static const char notag[] = "INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				    "From: <sip:a@h>\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
	assert_int_equal(sip_parse(notag, sizeof(notag) - 1, &X), 0);
	assert_int_equal(b2b_dialog_uas_init(&DB, &X, "me", 1), sbc_err_sip(400));
	/* a dialog without a target cannot send */
	b2b_dialog d;
	assert_int_equal(b2b_dialog_uac_init(&d, "c", "t", "<sip:a@h>;tag=t", "<sip:b@h>", "", 1), 0);
	assert_int_equal(b2b_build_in_dialog(&d, SIP_M_BYE, &v, NULL, NULL, 0, NULL, out, sizeof(out)), SBC_E_STATE);
	/* a UAC dialog ends on a final error before it was confirmed */
	assert_int_equal(b2b_dialog_uac_init(&d, "c", "t", "<sip:a@h>;tag=t", "<sip:b@h>", "sip:b@h", 1), 0);
	static const char busy[] = "SIP/2.0 486 Busy\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=t\r\n"
				   "To: <sip:b@h>;tag=q\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
	assert_int_equal(sip_parse(busy, sizeof(busy) - 1, &X), 0);
	assert_int_equal(b2b_dialog_uac_update(&d, &X), 0);
	assert_int_equal(d.state, B2B_DLG_TERMINATED);
	assert_int_equal(b2b_dialog_uac_update(&d, &X), SBC_E_STATE);
	/* too long values are refused, not truncated */
	char longid[400];
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	assert_int_equal(b2b_dialog_uac_init(&d, longid, "t", "<sip:a@h>;tag=t", "<sip:b@h>", "sip:b@h", 1), -ENOSPC);
	/* a mirrored reason phrase with control characters falls back */
	static const char odd[] = "SIP/2.0 480 Gone\tAway\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=t\r\n"
				  "To: <sip:b@h>;tag=q\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
	assert_int_equal(sip_parse(odd, sizeof(odd) - 1, &R), 0);
	b2b_resp_spec rs = {.to_tag = "me", .local_host = "203.0.113.5"};
	n = b2b_build_mirrored_response(&A, &R, &rs, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "SIP/2.0 480 Temporarily Unavailable\r\n"));
}

/* 180 from one fork, 200 from another: the 2xx's fork becomes the dialog
 * (tag, target, route set); a confirmed dialog or a non-2xx refuses. */
static void test_answer_from_another_fork(void **state)
{
	(void)state;
	static const char r180[] = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				   "From: <sip:a@h>;tag=t\r\nTo: <sip:b@h>;tag=fork-1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
				   "Contact: <sip:one@192.0.2.1>\r\nRecord-Route: <sip:p1;lr>\r\n\r\n";
	static const char r200[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				   "From: <sip:a@h>;tag=t\r\nTo: <sip:b@h>;tag=fork-2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
				   "Contact: <sip:two@192.0.2.2>\r\n\r\n";
	b2b_dialog d;
	assert_int_equal(b2b_dialog_uac_init(&d, "c", "t", "<sip:a@h>;tag=t", "<sip:b@h>", "sip:b@h", 1), 0);
	assert_int_equal(sip_parse(r180, sizeof(r180) - 1, &X), 0);
	assert_int_equal(b2b_dialog_uac_take_fork(&d, &X), SBC_E_STATE); /* not a 2xx */
	assert_int_equal(b2b_dialog_uac_update(&d, &X), 0);
	assert_int_equal(d.state, B2B_DLG_EARLY);
	assert_int_equal(d.n_route, 1);
	/* the early fork sends a request of its own (UPDATE, CSeq 50) */
	static const char upd1[] = "UPDATE sip:sbc@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKu1\r\n"
				   "From: <sip:b@h>;tag=fork-1\r\nTo: <sip:a@h>;tag=t\r\nCall-ID: c\r\nCSeq: 50 UPDATE\r\n\r\n";
	assert_int_equal(sip_parse(upd1, sizeof(upd1) - 1, &X), 0);
	assert_int_equal(b2b_dialog_check_cseq(&d, &X), 0);
	assert_int_equal(sip_parse(r200, sizeof(r200) - 1, &R), 0);
	assert_int_equal(b2b_dialog_uac_update(&d, &R), SBC_E_EXISTS);
	assert_int_equal(b2b_dialog_uac_take_fork(&d, &R), 0);
	assert_int_equal(d.state, B2B_DLG_CONFIRMED);
	assert_string_equal(d.remote_tag, "fork-2");
	assert_string_equal(d.remote_target, "sip:two@192.0.2.2");
	assert_int_equal(d.n_route, 0);
	assert_non_null(strstr(d.remote_hdr, "tag=fork-2"));
	/* the answering fork has a CSeq space of its own: its first request
	 * (CSeq 1, below fork-1's 50) is in order, not refused 500 (review s7:
	 * the callee's BYE was refused, the call never ended) */
	static const char bye2[] = "BYE sip:sbc@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb2\r\n"
				   "From: <sip:b@h>;tag=fork-2\r\nTo: <sip:a@h>;tag=t\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n";
	assert_int_equal(sip_parse(bye2, sizeof(bye2) - 1, &X), 0);
	assert_int_equal(b2b_dialog_check_cseq(&d, &X), 0);
	/* confirmed: a later fork's 2xx is another dialog, not a switch */
	assert_int_equal(b2b_dialog_uac_take_fork(&d, &R), SBC_E_STATE);
	char out[1024];
	b2b_via v = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKack"};
	int n = b2b_build_in_dialog(&d, SIP_M_ACK, &v, NULL, NULL, 0, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	assert_true(sip_sv_eq(X.to.tag, "fork-2"));
	assert_true(sip_sv_eq(X.ruri_text, "sip:two@192.0.2.2"));
	assert_null(sip_hdr_get(&X, SIP_H_ROUTE, 0));
}

/* A 2xx with n Record-Route values p0..p(n-1), half of them in one
 * comma-separated header. */
static int rr_2xx(char *out, size_t cap, unsigned n)
{
	int len = snprintf(out, cap, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
			   "From: <sip:a@h>;tag=t\r\nTo: <sip:b@h>;tag=u\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
			   "Contact: <sip:uas@192.0.2.9>\r\nRecord-Route: ");
	for (unsigned i = 0; i < n; i++)
		len += snprintf(out + len, cap - (size_t)len, "%s<sip:p%u.carrier.example;lr>",
				i == 0 ? "" : i % 2 ? ", " : "\r\nRecord-Route: ", i);
	len += snprintf(out + len, cap - (size_t)len, "\r\nContent-Length: 0\r\n\r\n");
	return len;
}

/* More Record-Route than the 8 a dialog once held: kept up to
 * B2B_RSET_MAX, in reverse for the UAC; beyond that the dialog is marked
 * (no requests of its own) and ACK/BYE still go with the whole route set
 * from the 2xx. */
static void test_long_route_set(void **state)
{
	(void)state;
	static char m[16384], out[16384];
	b2b_dialog d;
	b2b_via v = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKrr"};
	int len = rr_2xx(m, sizeof(m), 20);
	assert_int_equal(b2b_dialog_uac_init(&d, "c", "t", "<sip:a@h>;tag=t", "<sip:b@h>", "sip:b@h", 1), 0);
	assert_int_equal(sip_parse(m, (size_t)len, &R), 0);
	assert_int_equal(b2b_dialog_uac_update(&d, &R), 0);
	assert_int_equal(d.n_route, 20);
	assert_int_equal(d.rset_overflow, 0);
	assert_string_equal(b2b_dialog_route(&d, 0), "<sip:p19.carrier.example;lr>");
	assert_string_equal(b2b_dialog_route(&d, 19), "<sip:p0.carrier.example;lr>");
	int n = b2b_build_in_dialog(&d, SIP_M_BYE, &v, NULL, NULL, 0, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	unsigned routes = 0;
	for (unsigned i = 0; i < X.n_hdr; i++)
		routes += X.hdr[i].id == SIP_H_ROUTE;
	assert_int_equal(routes, 20);
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_ROUTE, 0)->value, "<sip:p19.carrier.example;lr>"));

	/* beyond B2B_RSET_MAX: the dialog stands, marked; its own builder
	 * refuses, the 2xx's route set serves for ACK and BYE */
	len = rr_2xx(m, sizeof(m), B2B_RSET_MAX + 8);
	assert_int_equal(b2b_dialog_uac_init(&d, "c", "t", "<sip:a@h>;tag=t", "<sip:b@h>", "sip:b@h", 1), 0);
	assert_int_equal(sip_parse(m, (size_t)len, &R), 0);
	assert_int_equal(b2b_dialog_uac_update(&d, &R), -E2BIG);
	assert_int_equal(d.state, B2B_DLG_CONFIRMED);
	assert_int_equal(d.rset_overflow, 1);
	assert_int_equal(d.n_route, 0);
	assert_int_equal(b2b_build_in_dialog(&d, SIP_M_ACK, &v, NULL, NULL, 0, NULL, out, sizeof(out)), SBC_E_STATE);
	n = b2b_build_in_dialog_rr(&d, &R, SIP_M_ACK, &v, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	assert_int_equal(X.method, SIP_M_ACK);
	assert_true(sip_sv_eq(X.ruri_text, "sip:uas@192.0.2.9"));
	routes = 0;
	for (unsigned i = 0; i < X.n_hdr; i++)
		routes += X.hdr[i].id == SIP_H_ROUTE;
	assert_int_equal(routes, B2B_RSET_MAX + 8);
	n = b2b_build_in_dialog_rr(&d, &R, SIP_M_BYE, &v, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(b2b_build_in_dialog_rr(&d, &R, SIP_M_INVITE, &v, NULL, out, sizeof(out)), -EINVAL);
	/* too small an output buffer is an error, never a truncated request */
	assert_true(b2b_build_in_dialog_rr(&d, &R, SIP_M_BYE, &v, NULL, out, 512) < 0);
}

/* A dialog object used before (a recycled call): init leaves route_buf as
 * it was (4 KB not cleared per call) but nothing of the old dialog reaches
 * a request: no Route, fresh CSeq and state. */
static void test_dialog_reinit(void **state)
{
	(void)state;
	static char m[16384], out[16384];
	static b2b_dialog d;
	b2b_via v = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKri"};
	memset(&d, 0xa5, sizeof(d));
	int len = rr_2xx(m, sizeof(m), 5);
	assert_int_equal(b2b_dialog_uac_init(&d, "c", "t", "<sip:a@h>;tag=t", "<sip:b@h>", "sip:b@h", 7), 0);
	assert_int_equal(d.n_route, 0);
	assert_int_equal(d.rset_overflow, 0);
	assert_int_equal(d.remote_cseq, 0);
	assert_string_equal(d.remote_tag, "");
	assert_int_equal(sip_parse(m, (size_t)len, &R), 0);
	assert_int_equal(b2b_dialog_uac_update(&d, &R), 0);
	assert_int_equal(d.n_route, 5);
	/* the same object for the next call: a dialog without Record-Route */
	assert_int_equal(b2b_dialog_uac_init(&d, "c2", "t2", "<sip:a@h>;tag=t2", "<sip:b@h>", "sip:b@h", 1), 0);
	assert_int_equal(d.n_route, 0);
	assert_int_equal(d.state, B2B_DLG_INIT);
	d.state = B2B_DLG_CONFIRMED; /* as a 2xx without Record-Route leaves it */
	snprintf(d.remote_tag, sizeof(d.remote_tag), "rt2");
	int n = b2b_build_in_dialog(&d, SIP_M_BYE, &v, NULL, NULL, 0, NULL, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	assert_null(sip_hdr_get(&X, SIP_H_ROUTE, 0));
	assert_true(sip_sv_eq(X.call_id, "c2"));
	assert_null(strstr(out, "carrier.example"));
}

static void test_rack_mapping(void **state)
{
	(void)state;
	char out[64];
	static const char prack[] = "PRACK sip:sbc@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKp\r\n"
				    "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 11 PRACK\r\n"
				    "RAck: 776656 10 INVITE\r\n\r\n";
	assert_int_equal(sip_parse(prack, sizeof(prack) - 1, &X), 0);
	assert_int_equal(b2b_map_rack(&X, 1, out, sizeof(out)), 21);
	assert_string_equal(out, "RAck: 776656 1 INVITE");
	assert_int_equal(b2b_map_rack(&X, 1, out, 10), -ENOSPC);
	static const char *const bad[] = {"RAck: x 10 INVITE", "RAck: 0 10 INVITE", "RAck: 12345678901 1 INVITE",
					  "RAck: 5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[512];
		snprintf(buf, sizeof(buf),
			 "PRACK sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKp\r\nFrom: <sip:a@h>;tag=1\r\n"
			 "To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 11 PRACK\r\n%s\r\n\r\n",
			 bad[i]);
		assert_int_equal(sip_parse(buf, strlen(buf), &X), 0);
		assert_int_equal(b2b_map_rack(&X, 1, out, sizeof(out)), sbc_err_sip(400));
	}
}

/* One response with the given header lines, parsed into X. */
static void parse_200_with(const char *lines)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKs\r\nFrom: <sip:a@h>;tag=1\r\n"
		 "To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 5 UPDATE\r\n%sContent-Length: 0\r\n\r\n",
		 lines);
	assert_int_equal(sip_parse(buf, strlen(buf), &X), 0);
}

/* RFC 4028 Session-Expires: delta-seconds with refresher=uac|uas, the
 * compact form x; none is 0; 0, garbage, more than 2^31 - 1, a bad
 * refresher or two of them are 400 (the engine then times nothing). */
static void test_session_expires(void **state)
{
	(void)state;
	const struct {
		const char *lines;
		int ret;
		uint32_t secs;
		int who;
	} cases[] = {
		{"", 0, 0, 0},
		{"Session-Expires: 1800;refresher=uac\r\n", 1, 1800, B2B_REFRESHER_UAC},
		{"Session-Expires: 90 ; refresher = UAS\r\n", 1, 90, B2B_REFRESHER_UAS},
		{"x: 2\r\n", 1, 2, B2B_REFRESHER_NONE},
		{"session-expires: 4000;foo=bar;refresher=uas\r\n", 1, 4000, B2B_REFRESHER_UAS},
		{"Session-Expires: 2147483647\r\n", 1, 2147483647u, B2B_REFRESHER_NONE},
		{"Session-Expires: 0\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 000;refresher=uac\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 2147483648\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 99999999999999999999999999\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: -5\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: soon\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 90s\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 1800, 900\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 1800;refresher=proxy\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: ;refresher=uac\r\n", sbc_err_sip(400), 0, 0},
		{"Session-Expires: 1800\r\nx: 900\r\n", sbc_err_sip(400), 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t secs = 12345;
		int who = -1;
		parse_200_with(cases[i].lines);
		int r = b2b_session_expires(&X, &secs, &who);
		if (r != cases[i].ret)
			fail_msg("case %zu (%s): %d, expected %d", i, cases[i].lines, r, cases[i].ret);
		if (r == 1) {
			assert_int_equal(secs, cases[i].secs);
			assert_int_equal(who, cases[i].who);
		} else {
			assert_int_equal(secs, 12345); /* untouched */
		}
	}
	parse_200_with("Session-Expires: 600\r\n");
	uint32_t secs = 0;
	assert_int_equal(b2b_session_expires(&X, &secs, NULL), 1); /* refresher not wanted */
	assert_int_equal(secs, 600);
}

/* RFC 4028 10: the BYE at the expiry minus min(32 s, interval / 3), the
 * interval raised to the floor first. */
static void test_session_bye_time(void **state)
{
	(void)state;
	uint32_t iv = 0;
	assert_int_equal(b2b_session_bye_ms(2, 1, &iv), 1334); /* 2000 - 666 */
	assert_int_equal(iv, 2);
	assert_int_equal(b2b_session_bye_ms(1, 3, &iv), 2000); /* the floor: 3 s, not 1 */
	assert_int_equal(iv, 3);
	assert_int_equal(b2b_session_bye_ms(90, 90, &iv), 60000);
	assert_int_equal(b2b_session_bye_ms(96, 90, NULL), 64000); /* a third = 32 s */
	assert_int_equal(b2b_session_bye_ms(1800, 90, &iv), 1768000); /* 32 s before */
	assert_int_equal(iv, 1800);
	assert_int_equal(b2b_session_bye_ms(0, 90, &iv), 60000);
	assert_int_equal(b2b_session_bye_ms(B2B_SE_MAX, 90, &iv), (uint64_t)B2B_SE_MAX * 1000u - 32000u);
	assert_int_equal(iv, B2B_SE_MAX);
}

/* sip_buf_put's small-copy path (sip_copy): every length 0..40 at every
 * start offset 0..15 copies exactly those bytes and nothing around them;
 * a piece one byte over the room left fails with -ENOSPC, writing nothing. */
static void test_sip_buf_put_lengths(void **state)
{
	(void)state;
	char src[64], dst[128];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (char)('A' + i % 50);
	for (size_t at = 0; at < 16; at++)
		for (size_t n = 0; n <= 40; n++) {
			sip_buf b;
			memset(dst, 0x7e, sizeof(dst));
			sip_buf_init(&b, dst, at + n + 8);
			dst[0] = 0x7e; /* sip_buf_init's NUL */
			for (size_t k = 0; k < at; k++)
				sip_buf_put(&b, "x", 1);
			sip_buf_put(&b, src + n % 7, n); /* odd source alignments too */
			assert_int_equal(b.err, 0);
			assert_int_equal(b.len, at + n);
			assert_memory_equal(dst + at, src + n % 7, n);
			for (size_t k = at + n; k < sizeof(dst); k++)
				assert_int_equal((unsigned char)dst[k], 0x7e);
			if (n == 0)
				continue;
			/* one over the room left (n - 1): refused, untouched */
			memset(dst, 0x7e, sizeof(dst));
			sip_buf_init(&b, dst, at + n);
			dst[0] = 0x7e;
			b.len = at + 1;
			sip_buf_put(&b, src, n);
			assert_int_equal(b.err, -ENOSPC);
			assert_int_equal(b.len, at + 1);
			for (size_t k = 0; k < sizeof(dst); k++)
				assert_int_equal((unsigned char)dst[k], 0x7e);
		}
	/* numbers through the same path */
	char out[64];
	sip_buf b;
	sip_buf_init(&b, out, sizeof(out));
	sip_buf_u64(&b, 0);
	sip_buf_put(&b, " ", 1);
	sip_buf_u64(&b, 18446744073709551615ull);
	sip_buf_put(&b, " ", 1);
	sip_buf_u64(&b, 5061);
	assert_int_equal(sip_buf_end(&b), 27);
	assert_string_equal(out, "0 18446744073709551615 5061");
	/* sip_u64_dec (two digits a step) against printf: each power of ten
	 * and its neighbours, and a millisecond time */
	char want[32], t[SIP_U64_DIGITS];
	uint64_t p10 = 1;
	for (int e = 0; e < 20; e++, p10 *= 10) {
		const uint64_t vs[] = {p10 - 1, p10, p10 + 1, p10 * 5 + 7};
		for (size_t i = 0; i < 4; i++) {
			const char *d = sip_u64_dec(vs[i], t);
			snprintf(want, sizeof(want), "%llu", (unsigned long long)vs[i]);
			assert_int_equal((size_t)(t + sizeof(t) - d), strlen(want));
			assert_memory_equal(d, want, strlen(want));
		}
	}
	const char *d = sip_u64_dec(1764012345678ull, t);
	assert_memory_equal(d, "1764012345678", 13);
}

/* A delayed offer's B-leg INVITE: Supported without 100rel (a line with
 * nothing else left goes, compact form too), Require: 100rel kept; without
 * no_100rel Supported crosses as it came. */
static void test_bleg_invite_without_100rel(void **state)
{
	(void)state;
	char out[2048];
	static const char inv[] = "INVITE sip:4930@203.0.113.5 SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bKd\r\n"
				  "Max-Forwards: 70\r\n"
				  "From: <sip:a@198.51.100.10>;tag=t1\r\n"
				  "To: <sip:4930@203.0.113.5>\r\n"
				  "Call-ID: d1\r\nCSeq: 1 INVITE\r\n"
				  "Supported: timer, 100REL,replaces\r\n"
				  "k: 100rel\r\n"
				  "Require: 100rel\r\n"
				  "Contact: <sip:a@198.51.100.10>\r\n\r\n";
	assert_int_equal(sip_parse(inv, sizeof(inv) - 1, &A), 0);
	b2b_via v = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKx"};
	b2b_bleg_spec bs = {.request_uri = "sip:4930@192.0.2.1", .via = v, .local_host = "203.0.113.5",
			    .from_tag = "f", .to_value = "<sip:4930@192.0.2.1>", .call_id = "c", .cseq = 1,
			    .contact = "<sip:sbc@203.0.113.5>", .no_100rel = 1};
	int n = b2b_build_bleg_invite(&A, &bs, out, sizeof(out), NULL, 0);
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_SUPPORTED, 0)->value, "timer, replaces"));
	assert_null(sip_hdr_get(&X, SIP_H_SUPPORTED, 1));
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_REQUIRE, 0)->value, "100rel"));
	bs.no_100rel = 0;
	n = b2b_build_bleg_invite(&A, &bs, out, sizeof(out), NULL, 0);
	assert_true(n > 0);
	assert_int_equal(sip_parse(out, (size_t)n, &X), 0);
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_SUPPORTED, 0)->value, "timer, 100REL,replaces"));
	assert_true(sip_sv_eq(sip_hdr_get(&X, SIP_H_SUPPORTED, 1)->value, "100rel"));
}

/* RFC 3261 8.2.1 / 7.1: which methods we take, refuse 405 or do not know
 * (501); the parser is case-sensitive, so `invite` is no INVITE */
static void test_method_status(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int status;
	} cases[] = {{"INVITE", 0},   {"ACK", 0},	  {"BYE", 0},	   {"CANCEL", 0},	{"OPTIONS", 0},
		     {"UPDATE", 0},   {"PRACK", 0},	  {"INFO", 0},	   {"REGISTER", 405},	{"SUBSCRIBE", 405},
		     {"NOTIFY", 405}, {"REFER", 405},	  {"MESSAGE", 405}, {"PUBLISH", 405},	{"invite", 501},
		     {"ack", 501},    {"Invite", 501},	  {"FOO", 501},	   {"INVITEX", 501},	{"BYE.", 501}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[512];
		snprintf(buf, sizeof(buf),
			 "%s sip:s@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKm%zu\r\nFrom: <sip:a@h>;tag=1\r\n"
			 "To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 %s\r\n\r\n",
			 cases[i].name, i, cases[i].name);
		assert_int_equal(sip_parse(buf, strlen(buf), &X), 0);
		if (b2b_method_status((enum sip_method)X.method) != cases[i].status)
			fail_msg("%s: %d, not %d", cases[i].name, b2b_method_status((enum sip_method)X.method),
				 cases[i].status);
		/* the Retry-After of a 500 "not now": 0..10 s (RFC 3261 14.2) */
		assert_true(b2b_retry_after_s(&X) <= 10);
	}
	/* RFC 3311 5.2: 491 only where our own offer (the INVITE's, toward
	 * the callee) is still unanswered, 500 where the caller's is; once
	 * the answer came reliably, a new exchange may start either way */
	assert_int_equal(b2b_early_update_offer_status(1, 0), 491);
	assert_int_equal(b2b_early_update_offer_status(0, 0), 500);
	assert_int_equal(b2b_early_update_offer_status(1, 1), 0);
	assert_int_equal(b2b_early_update_offer_status(0, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_flow_topology_hiding),
		cmocka_unit_test(test_strict_route_and_errors),
		cmocka_unit_test(test_bleg_invite_without_100rel),
		cmocka_unit_test(test_rack_mapping),
		cmocka_unit_test(test_session_expires),
		cmocka_unit_test(test_session_bye_time),
		cmocka_unit_test(test_sip_buf_put_lengths),
		cmocka_unit_test(test_answer_from_another_fork),
		cmocka_unit_test(test_long_route_set),
		cmocka_unit_test(test_dialog_reinit),
		cmocka_unit_test(test_method_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
