/* Unit tests for b2b_sdp.h: a whole offer/answer across the legs with the
 * SRTP policies of both trunks (SRTP required in, plain out), a declined
 * stream, rtcp-mux negotiation, 488 on a bad answer, and a re-INVITE from
 * the B side (hold) with the o= version rules on both legs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/b2b_sdp.h"
#include "../../../sbc-signal/src/sig_self.h"

static int det_rand(void *arg, uint8_t *buf, size_t n)
{
	uint8_t *next = arg;
	for (size_t i = 0; i < n; i++)
		buf[i] = (*next)++;
	return 0;
}

static const store_srtp_policy POL_A = {.mode = STORE_SRTP_REQUIRED, .n_suites = 2,
					.suites = {SBC_SRTP_AEAD_AES_128_GCM, SBC_SRTP_AES_CM_128_HMAC_SHA1_80}};
static const store_srtp_policy POL_B = {.mode = STORE_SRTP_OFF};

static const char a_offer[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
			      "m=audio 40000 RTP/SAVP 0 101\r\n"
			      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
			      "a=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
			      "m=video 0 RTP/SAVP 96\r\n";
static const char b_answer[] = "v=0\r\no=b 9 9 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
			       "m=audio 50000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
			       "m=video 0 RTP/AVP 96\r\n";

static void test_initial_offer_answer(void **state)
{
	(void)state;
	static sdp_session A, B;
	static b2b_sdp x;
	sbc_msg_media msgs[SDP_MAX_MEDIA];
	sbc_addr to_b[SDP_MAX_MEDIA], to_a[SDP_MAX_MEDIA];
	char out[2048];
	uint8_t seed = 0x50;

	memset(to_b, 0, sizeof(to_b));
	memset(to_a, 0, sizeof(to_a));
	b2b_sdp_init(&x, &POL_A, &POL_B, NULL, det_rand, &seed, 1000);
	assert_int_equal(sdp_parse(a_offer, strlen(a_offer), &A), 0);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 500, msgs), 1);
	assert_int_equal(msgs[0].session_id, 500);
	assert_int_equal(msgs[1].session_id, 0); /* declined video: no session */
	assert_int_equal(msgs[0].leg[0].rx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(msgs[0].leg[0].tx.key[0], 0x50);
	assert_int_equal(msgs[0].leg[1].remote_rtp.sa.sa_family, 0);
	assert_true(msgs[0].leg[1].latch);

	/* toward B: plain, relay address, mux offered as A asked */
	sbc_addr_parse("203.0.113.5:30000", -1, &to_b[0]);
	int n = b2b_sdp_build_offer(&x, &A, to_b, out, sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "v=0\r\no=sbc 1001 1001 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n"
				 "m=audio 30000 RTP/AVP 0 101\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n"
				 "a=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/AVP 96\r\n");

	/* B answers plain without mux */
	assert_int_equal(sdp_parse(b_answer, strlen(b_answer), &B), 0);
	assert_int_equal(b2b_sdp_answer(&x, &B, msgs), 0);
	char txt[64];
	assert_string_equal(sbc_addr_format(&msgs[0].leg[1].remote_rtp, txt, sizeof(txt)), "192.0.2.80:50000");
	assert_int_equal(msgs[0].flags & SBC_MEDIA_F_RTCP_MUX, 0);
	assert_int_equal(msgs[0].leg[1].tx.suite, SBC_SRTP_NONE);

	/* toward A: SRTP with our key, tag 1, no rtcp-mux (B refused it) */
	sbc_addr_parse("203.0.113.5:30002", -1, &to_a[0]);
	n = b2b_sdp_build_answer(&x, &B, to_a, out, sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "v=0\r\no=sbc 1000 1000 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n"
				 "m=audio 30002 RTP/SAVP 0 101\r\n"
				 "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xt\r\n"
				 "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/SAVP 96\r\n");
	assert_int_equal(b2b_sdp_suite(&x, 0), SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(b2b_sdp_suite(&x, 1), SBC_SRTP_NONE);

	/* 5. re-INVITE from B: hold (sendonly); A must get SRTP again */
	static const char b_hold[] = "v=0\r\no=b 9 10 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
				     "m=audio 50000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
				     "a=sendonly\r\nm=video 0 RTP/AVP 96\r\n";
	assert_int_equal(sdp_parse(b_hold, strlen(b_hold), &B), 0);
	assert_int_equal(b2b_sdp_offer(&x, 1, &B, 500, msgs), 1);
	assert_int_equal(msgs[0].leg[1].rx.suite, SBC_SRTP_NONE);
	n = b2b_sdp_build_offer(&x, &B, to_a, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "o=sbc 1000 1001 IN IP4")); /* changed: version + 1 */
	assert_non_null(strstr(out, "m=audio 30002 RTP/SAVP 0 101\r\n"));
	assert_non_null(strstr(out, "a=crypto:1 AEAD_AES_128_GCM inline:"));
	assert_non_null(strstr(out, "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:"));
	assert_non_null(strstr(out, "a=sendonly\r\n"));
	/* A answers recvonly choosing tag 2 */
	static const char a_ans[] = "v=0\r\no=a 1 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
				    "m=audio 40000 RTP/SAVP 0 101\r\n"
				    "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
				    "a=recvonly\r\nm=video 0 RTP/SAVP 96\r\n";
	assert_int_equal(sdp_parse(a_ans, strlen(a_ans), &A), 0);
	assert_int_equal(b2b_sdp_answer(&x, &A, msgs), 0);
	assert_int_equal(msgs[0].leg[0].rx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(msgs[0].leg[0].tx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	n = b2b_sdp_build_answer(&x, &A, to_b, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "o=sbc 1001 1002 IN IP4")); /* toward B: changed too */
	assert_non_null(strstr(out, "m=audio 30000 RTP/AVP 0 101\r\n"));
	assert_non_null(strstr(out, "a=recvonly\r\n"));
	assert_null(strstr(out, "crypto"));
	assert_int_equal(b2b_sdp_suite(&x, 0), SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	b2b_sdp_wipe(&x);
	static const uint8_t zero[SBC_SRTP_KEY_MAX];
	assert_memory_equal(x.s[0].off_res.tx.key, zero, sizeof(zero));
}

static void test_488_cases(void **state)
{
	(void)state;
	static sdp_session A, B;
	static b2b_sdp x;
	sbc_msg_media msgs[SDP_MAX_MEDIA];
	uint8_t seed = 1;

	/* A must do SRTP: a plain offer is refused */
	b2b_sdp_init(&x, &POL_A, &POL_B, NULL, det_rand, &seed, 1);
	static const char plain[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
				    "m=audio 40000 RTP/AVP 0\r\n";
	assert_int_equal(sdp_parse(plain, strlen(plain), &A), 0);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), sbc_err_sip(488));
	/* B (SRTP off) answering with crypto: 488 toward B, the call fails over */
	assert_int_equal(sdp_parse(a_offer, strlen(a_offer), &A), 0);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), 1);
	static const char b_crypto[] = "v=0\r\no=b 9 9 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
				       "m=audio 50000 RTP/AVP 0\r\n"
				       "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
				       "m=video 0 RTP/AVP 96\r\n";
	assert_int_equal(sdp_parse(b_crypto, strlen(b_crypto), &B), 0);
	assert_int_equal(b2b_sdp_answer(&x, &B, msgs), sbc_err_sip(488));
	/* a different number of m= lines */
	static const char b_one[] = "v=0\r\no=b 9 9 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
				    "m=audio 50000 RTP/AVP 0\r\n";
	assert_int_equal(sdp_parse(b_one, strlen(b_one), &B), 0);
	assert_int_equal(b2b_sdp_answer(&x, &B, msgs), sbc_err_sip(488));
	/* the answerer declines the audio: its session goes away */
	static const char b_decl[] = "v=0\r\no=b 9 9 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
				     "m=audio 0 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n";
	assert_int_equal(sdp_parse(b_decl, strlen(b_decl), &B), 0);
	assert_int_equal(b2b_sdp_answer(&x, &B, msgs), 0);
	assert_int_equal(msgs[0].session_id, 0);
	assert_int_equal(b2b_sdp_suite(&x, 0), SBC_SRTP_NONE);
	/* relay addresses on two IPs for one SDP: refused */
	static const char two[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
				  "m=audio 40000 RTP/SAVP 0\r\n"
				  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
				  "m=audio 40002 RTP/SAVP 0\r\n"
				  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n";
	assert_int_equal(sdp_parse(two, strlen(two), &A), 0);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 10, msgs), 2);
	assert_int_equal(msgs[1].session_id, 11);
	sbc_addr relay[SDP_MAX_MEDIA];
	memset(relay, 0, sizeof(relay));
	sbc_addr_parse("203.0.113.5:30000", -1, &relay[0]);
	sbc_addr_parse("203.0.113.6:30002", -1, &relay[1]);
	char out[2048];
	assert_int_equal(b2b_sdp_build_offer(&x, &A, relay, out, sizeof(out)), -EINVAL);
	sbc_addr_parse("203.0.113.5:30002", -1, &relay[1]);
	assert_true(b2b_sdp_build_offer(&x, &A, relay, out, sizeof(out)) > 0);
	/* an SRTP-on policy without suites is a server problem, not the caller's */
	store_srtp_policy broken = {.mode = STORE_SRTP_REQUIRED};
	b2b_sdp_init(&x, &POL_A, &broken, NULL, det_rand, &seed, 1);
	assert_int_equal(sdp_parse(a_offer, strlen(a_offer), &A), 0);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), sbc_err_sip(500));
}

/* The wipes cover only the streams an exchange used (n_dirty): all of
 * x.s is zero after b2b_sdp_wipe and after b2b_sdp_init of a used state,
 * and an offer whose streams hold another exchange's leftovers (a state
 * that was not wiped) still starts from zeroed streams. */
static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void test_wipe_dirty_streams(void **state)
{
	(void)state;
	static sdp_session A;
	static b2b_sdp x;
	sbc_msg_media msgs[SDP_MAX_MEDIA];
	uint8_t seed = 0x50;

	assert_int_equal(sdp_parse(a_offer, strlen(a_offer), &A), 0);
	b2b_sdp_init(&x, &POL_A, &POL_B, NULL, det_rand, &seed, 1);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 500, msgs), 1);
	assert_int_equal(x.n_dirty, 2);
	assert_false(all_zero(x.s[0].off_res.tx.key, SBC_SRTP_KEY_MAX));
	b2b_sdp_wipe(&x);
	assert_int_equal(x.n_dirty, 0);
	assert_true(all_zero(x.s, sizeof(x.s)));

	/* init of a used state wipes its keys */
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 500, msgs), 1);
	assert_false(all_zero(x.s, sizeof(x.s)));
	b2b_sdp_init(&x, &POL_A, &POL_B, NULL, det_rand, &seed, 1);
	assert_true(all_zero(x.s, sizeof(x.s)));
	assert_int_equal(x.n_media, 0);

	/* leftovers past n_dirty (a state never wiped): the offer zeroes the
	 * streams it uses (the declined video line reads as inactive) */
	memset(x.s, 0xa5, sizeof(x.s));
	x.n_dirty = 0;
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 500, msgs), 1);
	assert_int_equal(x.s[1].active, 0);
	assert_int_equal(x.s[1].rtp, 0);
	assert_int_equal(msgs[1].session_id, 0);
	for (unsigned i = 2; i < SDP_MAX_MEDIA; i++)
		assert_int_equal(msgs[i].session_id, 0);
	b2b_sdp_wipe(&x);
	assert_true(all_zero(x.s, 2 * sizeof(x.s[0])));
	memset(x.s, 0, sizeof(x.s));
}

/* A delayed offer on the first INVITE (A's came without SDP): the first
 * exchange of a fresh b2b_sdp has B (leg 1) as the offerer. B's SRTP policy
 * answers as answerer (first allowed suite, its tag kept), A's offers
 * (here plain: RTP/AVP, no crypto toward A); A's answer with crypto on its
 * SRTP-off leg is refused; B required without crypto in its offer is 488;
 * and the decline answer B gets in the ACK before our BYE. */
static void test_delayed_offer_first(void **state)
{
	(void)state;
	static const store_srtp_policy pol_a_off = {.mode = STORE_SRTP_OFF};
	static const store_srtp_policy pol_b_req = {.mode = STORE_SRTP_REQUIRED, .n_suites = 1,
						   .suites = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80}};
	static const char b_off[] = "v=0\r\no=b 9 9 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
				    "m=audio 50000 RTP/SAVP 0 101\r\n"
				    "a=crypto:5 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==\r\n"
				    "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
				    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
	static const char a_ans[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
				    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n";
	static const char a_bad[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
				    "m=audio 40000 RTP/SAVP 0 101\r\n"
				    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n";
	static sdp_session B, A;
	static b2b_sdp x;
	sbc_msg_media msgs[SDP_MAX_MEDIA];
	sbc_addr to_a[SDP_MAX_MEDIA], to_b[SDP_MAX_MEDIA];
	char out[2048];
	uint8_t seed = 0x10;

	memset(to_a, 0, sizeof(to_a));
	memset(to_b, 0, sizeof(to_b));
	sbc_addr_parse("203.0.113.5:30002", -1, &to_a[0]);
	sbc_addr_parse("203.0.113.5:30000", -1, &to_b[0]);
	b2b_sdp_init(&x, &pol_a_off, &pol_b_req, NULL, det_rand, &seed, 2000);
	assert_int_equal(sdp_parse(b_off, strlen(b_off), &B), 0);
	assert_int_equal(b2b_sdp_offer(&x, 1, &B, 700, msgs), 1);
	/* B's leg: the first offered suite B's policy allows (tag 7), B's key as rx */
	assert_int_equal(msgs[0].leg[1].rx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(msgs[0].leg[1].rx.key[0], 0x4c); /* "TCkr" decodes to 4c 29 2b */
	assert_int_equal(msgs[0].leg[0].remote_rtp.sa.sa_family, 0); /* A's address: its answer, in the ACK */
	/* toward A: plain RTP on the relay, nothing of B's */
	int n = b2b_sdp_build_offer(&x, &B, to_a, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "m=audio 30002 RTP/AVP 0 101\r\n"));
	assert_non_null(strstr(out, "c=IN IP4 203.0.113.5\r\n"));
	assert_null(strstr(out, "crypto"));
	assert_null(strstr(out, "192.0.2.80"));
	/* A answers with crypto on its SRTP-off leg: refused */
	assert_int_equal(sdp_parse(a_bad, strlen(a_bad), &A), 0);
	assert_int_equal(sbc_err_sip_status(b2b_sdp_answer(&x, &A, msgs)), 488);
	/* a plain answer: taken; toward B our answer keeps tag 7 with a fresh key */
	assert_int_equal(sdp_parse(a_ans, strlen(a_ans), &A), 0);
	assert_int_equal(b2b_sdp_answer(&x, &A, msgs), 0);
	char txt[64];
	assert_string_equal(sbc_addr_format(&msgs[0].leg[0].remote_rtp, txt, sizeof(txt)), "198.51.100.20:40000");
	n = b2b_sdp_build_answer(&x, &A, to_b, out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "m=audio 30000 RTP/SAVP 0 101\r\n"));
	assert_non_null(strstr(out, "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:"));
	assert_null(strstr(out, "TCkr9L8rtn4")); /* B's own key never goes back */
	assert_null(strstr(out, "198.51.100.20"));
	assert_int_equal(b2b_sdp_suite(&x, 0), SBC_SRTP_NONE);
	assert_int_equal(b2b_sdp_suite(&x, 1), SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	/* the decline answer: port 0, the offered profile, no crypto, no B address */
	n = b2b_sdp_build_decline(&x, 1, &B, &to_b[0], out, sizeof(out));
	assert_true(n > 0);
	assert_non_null(strstr(out, "m=audio 0 RTP/SAVP 0 101\r\n"));
	assert_non_null(strstr(out, "c=IN IP4 203.0.113.5\r\n"));
	assert_null(strstr(out, "crypto"));
	assert_null(strstr(out, "192.0.2.80"));
	/* B's trunk requires SRTP and B offers none: 488 */
	static const char b_plain[] = "v=0\r\no=b 9 9 IN IP4 192.0.2.80\r\ns=-\r\nc=IN IP4 192.0.2.80\r\nt=0 0\r\n"
				      "m=audio 50000 RTP/AVP 0\r\n";
	b2b_sdp_init(&x, &pol_a_off, &pol_b_req, NULL, det_rand, &seed, 2000);
	assert_int_equal(sdp_parse(b_plain, strlen(b_plain), &B), 0);
	assert_int_equal(sbc_err_sip_status(b2b_sdp_offer(&x, 1, &B, 700, msgs)), 488);
	b2b_sdp_wipe(&x);
}

/* An SDP naming one of our own endpoints as its media address (sig_self.h):
 * sbc-media's relay range on media.address, or a SIP listener with its
 * address, also written as a v4-mapped IPv6 address; 488 on an offer and on
 * an answer. A port next to the range, or our address on another port,
 * passes. */
static void test_sdp_naming_us_488(void **state)
{
	(void)state;
	static sdp_session A, B;
	static b2b_sdp x;
	sbc_msg_media msgs[SDP_MAX_MEDIA];
	uint8_t seed = 1;
	static sig_config cfg;
	static sig_self self;
	memset(&cfg, 0, sizeof(cfg));
	sbc_addr_parse("203.0.113.5", 0, &cfg.media_addr);
	cfg.media_port_min = 30000;
	cfg.media_port_max = 30999;
	cfg.n_listen = 2;
	sbc_addr_parse("203.0.113.9:5060", -1, &cfg.listen[0].addr);
	sbc_addr_parse("0.0.0.0:5061", -1, &cfg.listen[1].addr); /* wildcard: not matched */
	sig_self_init(&self, &cfg);

	static const struct {
		const char *c, *port;
		int refused;
	} cases[] = {
		{"IP4 203.0.113.5", "30000", 1}, {"IP4 203.0.113.5", "30999", 1}, {"IP4 203.0.113.5", "31000", 0},
		{"IP4 203.0.113.5", "29998", 0}, {"IP4 203.0.113.9", "5060", 1},  {"IP4 203.0.113.9", "5062", 0},
		{"IP4 198.51.100.7", "5061", 0}, {"IP6 ::ffff:203.0.113.5", "30500", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN %s\r\nt=0 0\r\nm=audio %s RTP/AVP 0\r\n",
			 cases[i].c, cases[i].port);
		b2b_sdp_init(&x, &POL_B, &POL_B, &self, det_rand, &seed, 1);
		assert_int_equal(sdp_parse(text, strlen(text), &A), 0);
		assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), cases[i].refused ? sbc_err_sip(488) : 1);
		/* the same SDP as the answer to a good offer */
		static const char good[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
					   "m=audio 40000 RTP/AVP 0\r\n";
		b2b_sdp_init(&x, &POL_B, &POL_B, &self, det_rand, &seed, 1);
		assert_int_equal(sdp_parse(good, strlen(good), &A), 0);
		assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), 1);
		assert_int_equal(sdp_parse(text, strlen(text), &B), 0);
		assert_int_equal(b2b_sdp_answer(&x, &B, msgs), cases[i].refused ? sbc_err_sip(488) : 0);
	}
	/* RTCP on a port of ours (a=rtcp), RTP elsewhere: refused too */
	static const char rtcp_us[] = "v=0\r\no=a 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n"
				      "m=audio 40000 RTP/AVP 0\r\na=rtcp:30001\r\n";
	b2b_sdp_init(&x, &POL_B, &POL_B, &self, det_rand, &seed, 1);
	assert_int_equal(sdp_parse(rtcp_us, strlen(rtcp_us), &A), 0);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), sbc_err_sip(488));
	/* no self given: not checked */
	b2b_sdp_init(&x, &POL_B, &POL_B, NULL, det_rand, &seed, 1);
	assert_int_equal(b2b_sdp_offer(&x, 0, &A, 1, msgs), 1);
	b2b_sdp_wipe(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_offer_answer),
		cmocka_unit_test(test_488_cases),
		cmocka_unit_test(test_sdp_naming_us_488),
		cmocka_unit_test(test_wipe_dirty_streams),
		cmocka_unit_test(test_delayed_offer_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
