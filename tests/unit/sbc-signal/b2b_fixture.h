/* The A-leg's SDES offer (SRTP, PCMU + telephone-event, one crypto line)
 * that the B2BUA call test (test_b2b_call.c) and its benchmark
 * (tests/bench/sbc-signal/bench_b2b_sip.c) both put in their A-leg INVITE,
 * so the benchmark measures the body the test checks. String literals only:
 * each side writes its own headers around it. */
#ifndef SBC_TEST_B2B_FIXTURE_H
#define SBC_TEST_B2B_FIXTURE_H

/* B2B_FIX_A_SDP is B2B_FIX_A_SDP_LEN bytes (test_b2b_call checks that the
 * parsed Content-Length matches the body). */
#define B2B_FIX_A_SDP_LEN "288"
#define B2B_FIX_A_SDP                                                                      \
	"v=0\r\n"                                                                          \
	"o=carrierA 1 1 IN IP4 198.51.100.20\r\n"                                          \
	"s=CarrierA media 10.1.2.3\r\n"                                                    \
	"c=IN IP4 198.51.100.20\r\n"                                                       \
	"t=0 0\r\n"                                                                        \
	"m=audio 40000 RTP/SAVP 0 101\r\n"                                                 \
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:TCkr9L8rtn4+aJXoeA1eiQcTAniJOvkYXUnZ5KTw\r\n" \
	"a=rtpmap:0 PCMU/8000\r\n"                                                         \
	"a=rtpmap:101 telephone-event/8000\r\n"                                            \
	"a=fmtp:101 0-16\r\n"

#endif
