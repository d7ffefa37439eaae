/* Unit tests for b2b_media.h: the media session message filled from SDP
 * and SRTP decisions (addresses, RTCP, rx/tx keys per leg, rtcp-mux), the
 * redacting debug formatter, and the key wipe. */
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
#include "../../../sbc-signal/src/b2b_media.h"

static int det_rand(void *arg, uint8_t *buf, size_t n)
{
	uint8_t *next = arg;
	for (size_t i = 0; i < n; i++)
		buf[i] = (*next)++;
	return 0;
}

static const char a_offer[] = "v=0\r\no=a 1 1 IN IP4 198.51.100.64\r\ns=-\r\nc=IN IP4 198.51.100.64\r\nt=0 0\r\n"
			      "m=audio 51895 RTP/SAVP 0 101\r\n"
			      "a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n"
			      "a=rtcp-mux\r\n"
			      "m=video 0 RTP/AVP 96\r\n";
static const char b_answer[] = "v=0\r\no=b 1 1 IN IP6 2001:db8::80\r\ns=-\r\nc=IN IP6 2001:db8::80\r\nt=0 0\r\n"
			       "m=audio 50000 RTP/AVP 0 101\r\na=rtcp:50009\r\na=rtcp-mux\r\n"
			       "m=video 0 RTP/AVP 96\r\n";

static void test_fill_and_format(void **state)
{
	(void)state;
	static sdp_session A, B;
	uint8_t seed = 0x30;
	sbc_msg_media m;
	char txt[512], a[SBC_ADDR_STRLEN];

	memset(&m, 0, sizeof(m));
	m.session_id = 77;
	assert_int_equal(sdp_parse(a_offer, strlen(a_offer), &A), 0);
	store_srtp_policy pin = {.mode = STORE_SRTP_REQUIRED, .n_suites = 1, .suites = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80}};
	sdes_result ar;
	assert_int_equal(sdes_answer(&pin, A.media[0].savp, A.media[0].crypto, A.media[0].n_crypto, det_rand, &seed, &ar), 0);
	assert_int_equal(b2b_media_fill_leg(&m.leg[0], &A, 0, &ar, 1), 0);
	assert_string_equal(sbc_addr_format(&m.leg[0].remote_rtp, a, sizeof(a)), "198.51.100.64:51895");
	assert_int_equal(sbc_addr_port(&m.leg[0].remote_rtcp), 51895); /* mux */
	assert_int_equal(m.leg[0].rx.suite, SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	uint8_t key[30];
	assert_int_equal(sbc_base64_decode("TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw", 40, key, sizeof(key)), 30);
	assert_memory_equal(m.leg[0].rx.key, key, 30); /* from the peer: its key */
	assert_int_equal(m.leg[0].tx.key[0], 0x30);    /* to the peer: ours */
	assert_true(m.leg[0].latch);
	/* B not known yet */
	assert_int_equal(b2b_media_fill_leg(&m.leg[1], NULL, 0, NULL, 1), 0);
	assert_int_equal(m.leg[1].remote_rtp.sa.sa_family, 0);
	assert_int_equal(m.leg[1].rx.suite, SBC_SRTP_NONE);
	b2b_media_set_mux(&m, &A, 0, NULL, 0);
	assert_int_equal(m.flags & SBC_MEDIA_F_RTCP_MUX, 0);
	/* B's answer: IPv6, plain */
	assert_int_equal(sdp_parse(b_answer, strlen(b_answer), &B), 0);
	sdes_result br;
	memset(&br, 0, sizeof(br));
	assert_int_equal(b2b_media_fill_leg(&m.leg[1], &B, 0, &br, 0), 0);
	assert_string_equal(sbc_addr_format(&m.leg[1].remote_rtp, a, sizeof(a)), "[2001:db8::80]:50000");
	b2b_media_set_mux(&m, &A, 0, &B, 0);
	assert_int_equal(m.flags & SBC_MEDIA_F_RTCP_MUX, SBC_MEDIA_F_RTCP_MUX);
	/* declined stream / no address */
	sbc_media_leg l;
	assert_int_equal(b2b_media_fill_leg(&l, &B, 1, NULL, 0), SBC_E_NOT_FOUND);
	assert_int_equal(b2b_media_fill_leg(&l, &B, 5, NULL, 0), -EINVAL);
	/* RTCP: explicit a=rtcp without mux; none -> family 0 (port + 1) */
	static sdp_session C;
	static const char c_sdp[] = "v=0\r\no=c 1 1 IN IP4 192.0.2.3\r\ns=-\r\nc=IN IP4 192.0.2.3\r\nt=0 0\r\n"
				    "m=audio 6000 RTP/AVP 0\r\na=rtcp:6009\r\nm=audio 7000 RTP/AVP 0\r\n";
	assert_int_equal(sdp_parse(c_sdp, strlen(c_sdp), &C), 0);
	assert_int_equal(b2b_media_fill_leg(&l, &C, 0, NULL, 0), 0);
	assert_int_equal(sbc_addr_port(&l.remote_rtcp), 6009);
	assert_int_equal(b2b_media_fill_leg(&l, &C, 1, NULL, 0), 0);
	assert_int_equal(l.remote_rtcp.sa.sa_family, 0);

	/* debug text has no key material */
	b2b_media_format(&m, txt, sizeof(txt));
	assert_non_null(strstr(txt, "id=77 leg0 198.51.100.64:51895 latch rx=AES_CM_128_HMAC_SHA1_80 key=<30 bytes redacted>"));
	assert_non_null(strstr(txt, "| leg1 [2001:db8::80]:50000 rx=none tx=none"));
	assert_null(strstr(txt, "TCkr9L8"));
	char small[16];
	b2b_media_format(&m, small, sizeof(small)); /* truncated, never overflows */
	assert_true(strlen(small) < sizeof(small));
	/* wipe */
	b2b_media_wipe(&m);
	static const uint8_t zero[SBC_SRTP_KEY_MAX];
	assert_memory_equal(m.leg[0].rx.key, zero, sizeof(zero));
	assert_memory_equal(m.leg[0].tx.key, zero, sizeof(zero));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
