/* Unit tests for the SDP parser and rewriter (sdp_session.h) with golden
 * SDP-in / SDP-out pairs. Inputs include the Telnyx SRTP offer/answer from
 * the carriers' documentation (../shared/seeds), a WebRTC-style offer with
 * ICE, several m= lines, a declined stream, a=rtcp and hold. */
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
#include "sbc/sockaddr.h"
#include "../../../sbc-signal/src/sdes_policy.h"
#include "../../../sbc-signal/src/sdp_session.h"

static sdp_session S;

/* Deterministic "random" bytes: 0x11, 0x12, ... so golden keys are stable. */
static int det_rand(void *arg, uint8_t *buf, size_t n)
{
	uint8_t *next = arg;
	for (size_t i = 0; i < n; i++)
		buf[i] = (*next)++;
	return 0;
}

static void expect_text(const char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		print_error("--- got ---\n%s\n--- want ---\n%s\n", got, want);
		fail();
	}
}

/* The client's offer from the Telnyx article: RTP/AVP with nine crypto
 * lines, some with suites we do not know. */
static const char telnyx_offer[] =
	"v=0\r\n"
	"o=client 2890844526 2890844526 IN IP4 198.51.100.64\r\n"
	"s=Client\r\n"
	"c=IN IP4 198.51.100.64\r\n"
	"t=0 0\r\n"
	"m=audio 51895 RTP/AVP 0 101\r\n"
	"a=crypto:1 AEAD_AES_256_GCM_8 inline:URvowj9NlyRUU4Ro4NIUbg/39b1bEdLtxPelsfHpPGD9GtwWuKMMefhd76U=\r\n"
	"a=crypto:2 AEAD_AES_128_GCM_8 inline:uATLXs8T8rjZ0QVH15np2ExFaVZixIRvHHXOow==\r\n"
	"a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:JlgkqmY+uVPBLmJairIWLMTzsoP7sq6M+FLsTeZkAJUKobgTjouB0H+ZHV911Q==\r\n"
	"a=crypto:4 AES_192_CM_HMAC_SHA1_80 inline:aNNDkHj6o2xl2J6PkjReCqK4dvGFeV3AjZ9Lohiriq5RRu8gMq0=\r\n"
	"a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
	"a=crypto:6 AES_256_CM_HMAC_SHA1_32 inline:98t1wsF9qRKbb+vJO0zldPSX1RvXDI/SSrzNEUl0CHDGv84vqtz3+tJNA2JQdA==\r\n"
	"a=crypto:7 AES_192_CM_HMAC_SHA1_32 inline:K5rGraoWN0x2r3OHxKDMxDY4uk4TZC6z2Lu9NIU8YY/BesMyICA=\r\n"
	"a=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:CYuxgxVh3SpfdN4uXoR5M709+19SQMuNepdP0Dw8\r\n"
	"a=crypto:9 AES_CM_128_NULL_AUTH inline:DzAaqmSiBsFG997HKmMhoFkxOo3c9TY7mO6fFHOn\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-16\r\n"
	"a=sendrecv\r\n";

/* Telnyx's 183/200 answer, verbatim from the article. */
static const char telnyx_answer[] =
	"v=0\n"
	"o=root 301488255 301488255 IN IP4 64.16.249.226\n"
	"s=Asterisk PBX 13.34.0\n"
	"c=IN IP4 64.16.249.226\n"
	"t=0 0\n"
	"m=audio 29078 RTP/SAVP 0 101\n"
	"a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:7aNj4ZNv8I94feZgZP2sPmVcyNxTGIHjhkbR1rLz\n"
	"a=rtpmap:0 PCMU/8000\n"
	"a=rtpmap:101 telephone-event/8000\n"
	"a=fmtp:101 0-16\n"
	"a=ptime:20\n"
	"a=maxptime:150\n"
	"a=sendrecv\n";

static void test_parse_telnyx(void **state)
{
	(void)state;
	assert_int_equal(sdp_parse(telnyx_offer, strlen(telnyx_offer), &S), 0);
	assert_int_equal(S.n_media, 1);
	assert_true(S.conn.present);
	assert_true(sip_sv_eq(S.conn.addr, "198.51.100.64"));
	assert_true(sip_sv_eq(S.o_user, "client"));
	sdp_media *m = &S.media[0];
	assert_true(sip_sv_eq(m->type, "audio"));
	assert_int_equal(m->port, 51895);
	assert_true(sip_sv_eq(m->proto, "RTP/AVP"));
	assert_true(m->rtp);
	assert_false(m->savp);
	assert_true(sip_sv_eq(m->fmts, "0 101"));
	assert_int_equal(m->n_crypto, 9);
	assert_true(sip_sv_eq(m->crypto[4], "5 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw"));
	assert_int_equal(sdp_media_dir(&S, 0), SDP_DIR_SENDRECV);
	sbc_addr rtp, rtcp;
	char txt[SBC_ADDR_STRLEN];
	assert_int_equal(sdp_media_remote(&S, 0, &rtp, &rtcp), 0);
	assert_string_equal(sbc_addr_format(&rtp, txt, sizeof(txt)), "198.51.100.64:51895");
	assert_string_equal(sbc_addr_format(&rtcp, txt, sizeof(txt)), "198.51.100.64:51896");

	assert_int_equal(sdp_parse(telnyx_answer, strlen(telnyx_answer), &S), 0);
	assert_true(S.media[0].savp);
	assert_int_equal(S.media[0].n_crypto, 1);
	assert_int_equal(S.media[0].port, 29078);
}

/* Inbound Telnyx-style offer from an SRTP-optional trunk, routed to a
 * carrier with SRTP off: the B leg gets plain RTP/AVP, the relay's address,
 * no crypto; the A leg's answer (built from the B answer) carries our key
 * for the suite we chose (first offered that policy allows: tag 3). */
static void test_golden_srtp_in_rtp_out(void **state)
{
	(void)state;
	uint8_t seed = 0x11;
	char out[4096];
	sbc_addr relay_b, relay_a;
	assert_int_equal(sdp_parse(telnyx_offer, strlen(telnyx_offer), &S), 0);

	store_srtp_policy in_pol = {.mode = STORE_SRTP_OPTIONAL, .n_suites = 2,
				    .suites = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80, SBC_SRTP_AES_256_CM_HMAC_SHA1_80}};
	sdes_result a_res;
	assert_int_equal(sdes_answer(&in_pol, S.media[0].savp, S.media[0].crypto, S.media[0].n_crypto, det_rand,
				     &seed, &a_res),
			 0);
	assert_true(a_res.srtp);
	assert_int_equal(a_res.tag, 3);
	assert_int_equal(a_res.rx.suite, SBC_SRTP_AES_256_CM_HMAC_SHA1_80);
	assert_int_equal(a_res.rx.key_len, 46);

	/* offer toward the carrier (policy off) */
	store_srtp_policy out_pol = {.mode = STORE_SRTP_OFF};
	sdes_offer b_off;
	assert_int_equal(sdes_make_offer(&out_pol, det_rand, &seed, &b_off), 0);
	assert_int_equal(b_off.n, 0);

	assert_int_equal(sbc_addr_parse("203.0.113.5:30000", -1, &relay_b), 0);
	sdp_origin ob;
	sdp_origin_init(&ob, "sbc", 1000);
	sdp_rewrite rw = {.addr = &relay_b, .origin = &ob};
	rw.media[0].port = sbc_addr_port(&relay_b);
	rw.media[0].savp = b_off.savp;
	int n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_true(n > 0);
	expect_text(out, "v=0\r\n"
			 "o=sbc 1000 1000 IN IP4 203.0.113.5\r\n"
			 "s=-\r\n"
			 "c=IN IP4 203.0.113.5\r\n"
			 "t=0 0\r\n"
			 "m=audio 30000 RTP/AVP 0 101\r\n"
			 "a=rtpmap:0 PCMU/8000\r\n"
			 "a=rtpmap:101 telephone-event/8000\r\n"
			 "a=fmtp:101 0-16\r\n"
			 "a=sendrecv\r\n");

	/* the carrier answers plain; we answer the A leg with SRTP tag 3 */
	static const char b_answer[] = "v=0\r\no=carrier 5 5 IN IP4 192.0.2.77\r\ns=x\r\nc=IN IP4 192.0.2.77\r\n"
				       "t=0 0\r\nm=audio 8000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
				       "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";
	static sdp_session B;
	assert_int_equal(sdp_parse(b_answer, strlen(b_answer), &B), 0);
	sdes_result b_res;
	assert_int_equal(sdes_check_answer(&b_off, B.media[0].savp, B.media[0].crypto, B.media[0].n_crypto, &b_res), 0);
	assert_false(b_res.srtp);

	assert_int_equal(sbc_addr_parse("203.0.113.5:30002", -1, &relay_a), 0);
	sdp_origin oa;
	sdp_origin_init(&oa, "sbc", 2000);
	const char *lines[] = {a_res.line};
	sdp_rewrite rwa = {.addr = &relay_a, .origin = &oa};
	rwa.media[0] = (sdp_media_out){.port = 30002, .savp = a_res.savp, .crypto = lines, .n_crypto = 1};
	n = sdp_rewrite_build(&B, &rwa, out, sizeof(out));
	assert_true(n > 0);
	expect_text(out, "v=0\r\n"
			 "o=sbc 2000 2000 IN IP4 203.0.113.5\r\n"
			 "s=-\r\n"
			 "c=IN IP4 203.0.113.5\r\n"
			 "t=0 0\r\n"
			 "m=audio 30002 RTP/AVP 0 101\r\n"
			 "a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:ERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pg==\r\n"
			 "a=rtpmap:0 PCMU/8000\r\n"
			 "a=rtpmap:101 telephone-event/8000\r\n"
			 "a=fmtp:101 0-15\r\n"
			 "a=ptime:20\r\n");
	/* and media parameters for the ring: A leg SRTP both ways, B leg plain */
	assert_int_equal(a_res.tx.suite, SBC_SRTP_AES_256_CM_HMAC_SHA1_80);
	assert_int_equal(a_res.tx.key[0], 0x11);
	assert_int_equal(b_res.rx.suite, SBC_SRTP_NONE);
}

/* RTP in, SRTP required out, and the Telnyx answer back: our offer puts
 * AES_CM_128_HMAC_SHA1_80 fifth so Telnyx's tag 5 matches. */
static void test_golden_rtp_in_srtp_out(void **state)
{
	(void)state;
	uint8_t seed = 0x40;
	char out[4096];
	static const char a_offer[] = "v=0\r\n"
				      "o=pbx 77 1 IN IP4 192.0.2.10\r\n"
				      "s=call\r\n"
				      "c=IN IP4 192.0.2.10\r\n"
				      "t=0 0\r\n"
				      "m=audio 4000 RTP/AVP 8 0 101\r\n"
				      "a=rtpmap:8 PCMA/8000\r\n"
				      "a=rtpmap:0 PCMU/8000\r\n"
				      "a=rtpmap:101 telephone-event/8000\r\n"
				      "a=fmtp:101 0-16\r\n"
				      "a=ptime:20\r\n";
	assert_int_equal(sdp_parse(a_offer, strlen(a_offer), &S), 0);
	store_srtp_policy a_pol = {.mode = STORE_SRTP_OFF};
	sdes_result a_res;
	assert_int_equal(sdes_answer(&a_pol, 0, S.media[0].crypto, S.media[0].n_crypto, det_rand, &seed, &a_res), 0);
	assert_false(a_res.srtp);

	store_srtp_policy b_pol = {.mode = STORE_SRTP_REQUIRED, .n_suites = 5,
				   .suites = {SBC_SRTP_AEAD_AES_256_GCM, SBC_SRTP_AEAD_AES_128_GCM,
					      SBC_SRTP_AES_256_CM_HMAC_SHA1_80, SBC_SRTP_AES_256_CM_HMAC_SHA1_32,
					      SBC_SRTP_AES_CM_128_HMAC_SHA1_80}};
	sdes_offer off;
	assert_int_equal(sdes_make_offer(&b_pol, det_rand, &seed, &off), 0);
	assert_int_equal(off.n, 5);
	assert_true(off.savp);
	const char *lines[5];
	for (int i = 0; i < 5; i++)
		lines[i] = off.line[i];
	sbc_addr relay_b;
	assert_int_equal(sbc_addr_parse("[2001:db8::5]:31000", -1, &relay_b), 0);
	sdp_origin ob;
	sdp_origin_init(&ob, NULL, 42);
	sdp_rewrite rw = {.addr = &relay_b, .origin = &ob};
	rw.media[0] = (sdp_media_out){.port = 31000, .savp = off.savp, .crypto = lines, .n_crypto = 5};
	int n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_true(n > 0);
	expect_text(out, "v=0\r\n"
			 "o=- 42 42 IN IP6 2001:db8::5\r\n"
			 "s=-\r\n"
			 "c=IN IP6 2001:db8::5\r\n"
			 "t=0 0\r\n"
			 "m=audio 31000 RTP/SAVP 8 0 101\r\n"
			 "a=crypto:1 AEAD_AES_256_GCM inline:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpams=\r\n"
			 "a=crypto:2 AEAD_AES_128_GCM inline:bG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGhw==\r\n"
			 "a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:iImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGio6SlpqeoqaqrrK2ur7CxsrO0tQ==\r\n"
			 "a=crypto:4 AES_256_CM_HMAC_SHA1_32 inline:tre4ubq7vL2+v8DBwsPExcbHyMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4w==\r\n"
			 "a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/wAB\r\n"
			 "a=rtpmap:8 PCMA/8000\r\n"
			 "a=rtpmap:0 PCMU/8000\r\n"
			 "a=rtpmap:101 telephone-event/8000\r\n"
			 "a=fmtp:101 0-16\r\n"
			 "a=ptime:20\r\n");

	/* Telnyx answers with tag 5 */
	static sdp_session B;
	assert_int_equal(sdp_parse(telnyx_answer, strlen(telnyx_answer), &B), 0);
	sdes_result b_res;
	assert_int_equal(sdes_check_answer(&off, B.media[0].savp, B.media[0].crypto, B.media[0].n_crypto, &b_res), 0);
	assert_true(b_res.srtp);
	assert_int_equal(b_res.tag, 5);
	assert_int_equal(b_res.tx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_memory_equal(b_res.tx.key, off.p[4].key, 30);
	assert_int_equal(b_res.rx.key_len, 30);

	/* the answer the A leg sees: plain, the relay's address, Telnyx's
	 * session name and address gone */
	sbc_addr relay_a;
	assert_int_equal(sbc_addr_parse("203.0.113.5:31002", -1, &relay_a), 0);
	sdp_origin oa;
	sdp_origin_init(&oa, "sbc", 7);
	sdp_rewrite rwa = {.addr = &relay_a, .origin = &oa};
	rwa.media[0] = (sdp_media_out){.port = 31002, .savp = 0};
	n = sdp_rewrite_build(&B, &rwa, out, sizeof(out));
	assert_true(n > 0);
	expect_text(out, "v=0\r\n"
			 "o=sbc 7 7 IN IP4 203.0.113.5\r\n"
			 "s=-\r\n"
			 "c=IN IP4 203.0.113.5\r\n"
			 "t=0 0\r\n"
			 "m=audio 31002 RTP/AVP 0 101\r\n"
			 "a=rtpmap:0 PCMU/8000\r\n"
			 "a=rtpmap:101 telephone-event/8000\r\n"
			 "a=fmtp:101 0-16\r\n"
			 "a=ptime:20\r\n"
			 "a=maxptime:150\r\n"
			 "a=sendrecv\r\n");
	assert_null(strstr(out, "64.16.249.226"));
	assert_null(strstr(out, "Asterisk"));
}

/* ICE, several m= lines, a declined stream, a=rtcp, rtcp-mux, media-level
 * c=, DTLS and BUNDLE attributes, and the o= version rule on re-INVITE. */
static const char webrtc_offer[] =
	"v=0\r\n"
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
	"s=-\r\n"
	"t=0 0\r\n"
	"a=group:BUNDLE 0 1\r\n"
	"a=ice-lite\r\n"
	"a=msid-semantic: WMS\r\n"
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 0 126\r\n"
	"c=IN IP4 198.51.100.9\r\n"
	"b=AS:64\r\n"
	"a=rtcp:9 IN IP4 0.0.0.0\r\n"
	"a=candidate:1 1 udp 2122260223 198.51.100.9 52000 typ host generation 0\r\n"
	"a=candidate:2 1 udp 1686052607 203.0.113.99 61000 typ srflx raddr 198.51.100.9 rport 52000\r\n"
	"a=end-of-candidates\r\n"
	"a=ice-ufrag:abcd\r\n"
	"a=ice-pwd:0123456789abcdefghijklmn\r\n"
	"a=ice-options:trickle\r\n"
	"a=fingerprint:sha-256 AA:BB:CC\r\n"
	"a=setup:actpass\r\n"
	"a=mid:0\r\n"
	"a=sendonly\r\n"
	"a=rtcp-mux\r\n"
	"a=rtpmap:111 opus/48000/2\r\n"
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:126 telephone-event/8000\r\n"
	"m=video 0 RTP/AVP 96\r\n"
	"c=IN IP4 198.51.100.9\r\n"
	"a=rtpmap:96 VP8/90000\r\n";

static void test_golden_ice_multi_media(void **state)
{
	(void)state;
	char out[4096];
	assert_int_equal(sdp_parse(webrtc_offer, strlen(webrtc_offer), &S), 0);
	assert_int_equal(S.n_media, 2);
	assert_true(S.has_ice);
	assert_true(S.media[0].has_ice);
	assert_true(S.media[0].rtcp_mux);
	assert_int_equal(S.media[0].rtcp_port, 9);
	assert_true(S.media[0].savp);
	assert_int_equal(sdp_media_dir(&S, 0), SDP_DIR_SENDONLY);
	assert_int_equal(S.media[1].port, 0);
	sbc_addr rtp, rtcp;
	assert_int_equal(sdp_media_remote(&S, 1, &rtp, &rtcp), SBC_E_NOT_FOUND);
	assert_int_equal(sdp_media_remote(&S, 0, &rtp, &rtcp), 0);
	assert_int_equal(sbc_addr_port(&rtcp), 9); /* rtcp-mux */

	sbc_addr relay;
	assert_int_equal(sbc_addr_parse("203.0.113.5:30010", -1, &relay), 0);
	sdp_origin o;
	sdp_origin_init(&o, "sbc", 500);
	sdp_rewrite rw = {.addr = &relay, .origin = &o};
	rw.media[0] = (sdp_media_out){.port = 30010, .savp = 0, .rtcp_mux = 0};
	rw.media[1] = (sdp_media_out){.port = 0};
	int n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_true(n > 0);
	const char *want1 = "v=0\r\n"
			    "o=sbc 500 500 IN IP4 203.0.113.5\r\n"
			    "s=-\r\n"
			    "c=IN IP4 203.0.113.5\r\n"
			    "t=0 0\r\n"
			    "a=msid-semantic: WMS\r\n"
			    "m=audio 30010 RTP/AVPF 111 0 126\r\n"
			    "b=AS:64\r\n"
			    "a=mid:0\r\n"
			    "a=sendonly\r\n"
			    "a=rtpmap:111 opus/48000/2\r\n"
			    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
			    "a=rtpmap:0 PCMU/8000\r\n"
			    "a=rtpmap:126 telephone-event/8000\r\n"
			    "a=rtcp:30011\r\n"
			    "m=video 0 RTP/AVP 96\r\n";
	expect_text(out, want1);
	assert_null(strstr(out, "candidate"));
	assert_null(strstr(out, "198.51.100.9"));
	assert_null(strstr(out, "ice-"));

	/* same again (e.g. a session refresh): version unchanged */
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	expect_text(out, want1);
	/* hold -> resume: content changes, version + 1; rtcp-mux kept now */
	rw.media[0].dir = SDP_DIR_SENDRECV;
	rw.media[0].rtcp_mux = 1;
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "o=sbc 500 501 IN IP4 203.0.113.5\r\n"));
	assert_non_null(strstr(out, "a=rtcp-mux\r\n"));
	assert_non_null(strstr(out, "a=rtcp:30010\r\n"));
	assert_non_null(strstr(out, "a=sendrecv\r\n"));
	assert_null(strstr(out, "a=sendonly"));
	/* and unchanged once more: still 501 */
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_non_null(strstr(out, "o=sbc 500 501 "));

	/* bounded: every smaller buffer fails with -ENOSPC, nothing past cap */
	int full = n;
	for (int cap = 0; cap < full; cap++) {
		char small[4096];
		memset(small, 0x7e, sizeof(small));
		assert_int_equal(sdp_rewrite_build(&S, &rw, small, (size_t)cap), -ENOSPC);
		for (size_t k = (size_t)cap; k < sizeof(small); k++)
			assert_int_equal((unsigned char)small[k], 0x7e);
	}
	assert_non_null(strstr(out, "o=sbc 500 501 ")); /* failures do not bump */
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_non_null(strstr(out, "o=sbc 500 501 "));
	/* a changed body that does not fit changes nothing; when it fits: + 1 */
	rw.media[0].dir = SDP_DIR_INACTIVE;
	assert_int_equal(sdp_rewrite_build(&S, &rw, out, 64), -ENOSPC);
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "o=sbc 500 502 "));
	assert_non_null(strstr(out, "a=inactive\r\n"));
	/* one byte of the body changes (port 30010 -> 30012, inside an 8-byte
	 * step of the body hash; the rtcp port with it): + 1; and back to a
	 * body built before is a change too */
	rw.media[0].port = 30012;
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_non_null(strstr(out, "o=sbc 500 503 "));
	assert_non_null(strstr(out, "m=audio 30012 "));
	rw.media[0].port = 30010;
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_non_null(strstr(out, "o=sbc 500 504 "));
	n = sdp_rewrite_build(&S, &rw, out, sizeof(out));
	assert_non_null(strstr(out, "o=sbc 500 504 "));
	/* injection through a crypto line is refused */
	const char *evil[] = {"1 AES_CM_128_HMAC_SHA1_80 inline:x\r\nc=IN IP4 6.6.6.6"};
	rw.media[0].crypto = evil;
	rw.media[0].n_crypto = 1;
	assert_int_equal(sdp_rewrite_build(&S, &rw, out, sizeof(out)), -EINVAL);
}

struct bad_sdp {
	const char *sdp;
	int status;
	const char *reason;
};

static void test_bad_sdp(void **state)
{
	(void)state;
	static const struct bad_sdp bad[] = {
		{"", 400, "empty SDP"},
		{"\r\n\r\n", 400, "empty SDP"},
		{"v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n", 400, "SDP must start with v=0"},
		{"o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", 400, "SDP must start with v=0"},
		{"v=0\r\ns=-\r\n", 400, "SDP without o= line"},
		{"v=0\r\nm=audio 1 RTP/AVP 0\r\n", 400, "SDP without o= line"},
		{"v=0\r\no=- 1 1 IN IP4\r\n", 400, "bad SDP o= line"},
		{"v=0\r\no=- 1 1 XX IP4 1.2.3.4\r\n", 400, "bad SDP o= line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP5 1.2.3.4\r\n", 400, "bad SDP c= line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n", 400, "bad SDP m= port"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", 400, "bad SDP m= port"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio\r\n", 400, "bad SDP m= line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n", 400, "SDP media without c= line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:abc\r\n", 400,
		 "bad SDP a=rtcp"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nX=1\r\n", 400, "bad SDP line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nq=1\r\n", 400, "unknown SDP line type"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nvv\r\n", 400, "bad SDP line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\no=- 1 1 IN IP4 1.2.3.4\r\n", 400, "bad SDP o= line"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=crypto:\r\n", 400,
		 "bad SDP a=crypto"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\na=\r\n", 400, "bad SDP attribute"},
		{"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/A\"VP 0\r\n", 400,
		 "bad SDP m= proto"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = sdp_parse(bad[i].sdp, strlen(bad[i].sdp), &S);
		if (r != sbc_err_sip(bad[i].status) || !S.err_reason || strcmp(S.err_reason, bad[i].reason) != 0) {
			print_error("case %zu: got %d (%s), want %s\n", i, sbc_err_sip_status(r),
				    S.err_reason ? S.err_reason : "-", bad[i].reason);
			fail();
		}
	}
	/* too many m= lines / crypto lines: 488 */
	char big[8192];
	int n = snprintf(big, sizeof(big), "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\n");
	for (int i = 0; i <= SDP_MAX_MEDIA; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "m=audio %d RTP/AVP 0\r\n", 4000 + 2 * i);
	assert_int_equal(sdp_parse(big, (size_t)n, &S), sbc_err_sip(488));
	n = snprintf(big, sizeof(big), "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\n");
	for (int i = 0; i <= SDP_MAX_CRYPTO; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "a=crypto:%d AES_CM_128_HMAC_SHA1_80 inline:x\r\n", i);
	assert_int_equal(sdp_parse(big, (size_t)n, &S), sbc_err_sip(488));
	/* an FQDN in c= parses but has no usable address */
	const char *fq = "v=0\r\no=- 1 1 IN IP4 h.example\r\nc=IN IP4 h.example\r\nm=audio 4000 RTP/AVP 0\r\n";
	assert_int_equal(sdp_parse(fq, strlen(fq), &S), 0);
	sbc_addr a;
	assert_int_equal(sdp_media_remote(&S, 0, &a, NULL), -EINVAL);
}

/* c= addresses media may not go to, and the unspecified one (hold). */
static void test_media_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *c; /* the c= line's address part */
		int ret;       /* of sdp_media_remote */
		int family;    /* of the RTP address when ret is 0 */
		int hold;      /* sdp_media_on_hold */
	} cases[] = {
		{"IN IP4 192.0.2.7", 0, AF_INET, 0},
		{"IN IP4 127.0.0.1", 0, AF_INET, 0},
		{"IN IP4 0.0.0.0", 0, 0, 1},          /* RFC 2543 hold: no address */
		{"IN IP6 ::", 0, 0, 1},
		{"IN IP4 224.0.0.1", -EINVAL, 0, 0},  /* multicast */
		{"IN IP4 239.255.255.250", -EINVAL, 0, 0},
		{"IN IP4 255.255.255.255", -EINVAL, 0, 0}, /* limited broadcast */
		{"IN IP4 0.1.2.3", -EINVAL, 0, 0},    /* "this network" */
		{"IN IP6 ff02::1", -EINVAL, 0, 0},
		{"IN IP6 ::ffff:224.0.0.1", -EINVAL, 0, 0},
		{"IN IP6 2001:db8::1", 0, AF_INET6, 0},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char sdp[256];
		int n = snprintf(sdp, sizeof(sdp), "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=%s\r\nt=0 0\r\n"
					      "m=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n", cases[k].c);
		assert_int_equal(sdp_parse(sdp, (size_t)n, &S), 0);
		sbc_addr rtp, rtcp;
		memset(&rtp, 0xa5, sizeof(rtp));
		memset(&rtcp, 0xa5, sizeof(rtcp));
		int r = sdp_media_remote(&S, 0, &rtp, &rtcp);
		if (r != cases[k].ret)
			fail_msg("%s: sdp_media_remote %d, want %d", cases[k].c, r, cases[k].ret);
		if (r == 0) {
			assert_int_equal(rtp.sa.sa_family, cases[k].family);
			assert_int_equal(rtcp.sa.sa_family, cases[k].family);
		}
		if (sdp_media_on_hold(&S, 0) != cases[k].hold)
			fail_msg("%s: on hold %d, want %d", cases[k].c, !cases[k].hold, cases[k].hold);
	}
	/* a direction other than sendrecv is hold whatever the address */
	static const char *dirs[] = {"sendonly", "recvonly", "inactive"};
	for (size_t k = 0; k < 3; k++) {
		char sdp[256];
		int n = snprintf(sdp, sizeof(sdp), "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.7\r\n"
					      "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=%s\r\n", dirs[k]);
		assert_int_equal(sdp_parse(sdp, (size_t)n, &S), 0);
		assert_int_equal(sdp_media_on_hold(&S, 0), 1);
	}
	assert_int_equal(sdp_media_on_hold(&S, 5), 0); /* no such line */
}

/* Every prefix and random byte changes: parse or fail cleanly. */
static void test_sdp_truncations(void **state)
{
	(void)state;
	size_t len = strlen(webrtc_offer);
	for (size_t n = 0; n <= len; n++) {
		char *c = malloc(n ? n : 1);
		memcpy(c, webrtc_offer, n);
		int r = sdp_parse(c, n, &S);
		assert_true(r == 0 || sbc_err_sip_status(r) >= 400);
		free(c);
	}
	uint32_t x = 12345;
	for (int it = 0; it < 5000; it++) {
		char *c = malloc(len);
		memcpy(c, webrtc_offer, len);
		for (int k = 0; k < 3; k++) {
			x = x * 1103515245u + 12345u;
			c[(x >> 8) % len] = " =:/\r\n0aZ\x00"[(x >> 4) % 10];
		}
		int r = sdp_parse(c, len, &S);
		assert_true(r == 0 || sbc_err_sip_status(r) >= 400);
		if (r == 0) {
			char out[4096];
			sbc_addr relay;
			sdp_origin o;
			sbc_addr_parse("192.0.2.1:4000", -1, &relay);
			sdp_origin_init(&o, "sbc", 1);
			sdp_rewrite rw = {.addr = &relay, .origin = &o};
			for (unsigned i = 0; i < S.n_media; i++)
				rw.media[i].port = (uint16_t)(4000 + 2 * i);
			assert_true(sdp_rewrite_build(&S, &rw, out, sizeof(out)) > 0);
		}
		free(c);
	}
}

static void test_redact(void **state)
{
	(void)state;
	char out[2048];
	int n = sdp_redact((sip_sv){telnyx_answer, strlen(telnyx_answer)}, out, sizeof(out));
	assert_true(n > 0);
	assert_null(strstr(out, "7aNj4ZNv8I94feZgZP2sPmVcyNxTGIHjhkbR1rLz"));
	assert_non_null(strstr(out, "a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:<redacted>\n"));
	n = sdp_redact((sip_sv){telnyx_offer, strlen(telnyx_offer)}, out, sizeof(out));
	assert_true(n > 0);
	assert_null(strstr(out, "TCkr9L8rtn4"));
	assert_null(strstr(out, "DzAaqmSiBsFG997"));
	/* too small: an empty string, never a partial key */
	assert_int_equal(sdp_redact((sip_sv){telnyx_answer, strlen(telnyx_answer)}, out, 200), -ENOSPC);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_telnyx),
		cmocka_unit_test(test_golden_srtp_in_rtp_out),
		cmocka_unit_test(test_golden_rtp_in_srtp_out),
		cmocka_unit_test(test_golden_ice_multi_media),
		cmocka_unit_test(test_bad_sdp),
		cmocka_unit_test(test_media_addresses),
		cmocka_unit_test(test_sdp_truncations),
		cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
