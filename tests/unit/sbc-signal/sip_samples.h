/* SIP messages more than one sbc-signal test or benchmark starts from
 * (test_sip_parse_diff.c, test_sig_framing_diff.c, test_sip_corpus.c,
 * test_b2b_reason.c, tests/bench/sbc-signal/bench_b2b_sip.c and
 * bench_b2b_reason.c), as string-literal macros so each can add its own
 * headers and body. */
#ifndef SBC_TEST_SIP_SAMPLES_H
#define SBC_TEST_SIP_SAMPLES_H

/* The A-leg INVITE over TLS, start line to Contact */
#define SIP_SAMPLE_A_INVITE_HEAD                                                               \
	"INVITE sip:+4930123456@203.0.113.5:5061;user=phone SIP/2.0\r\n"                         \
	"Via: SIP/2.0/TLS 198.51.100.10:5061;branch=z9hG4bKa1;rport\r\n"                          \
	"Max-Forwards: 69\r\n"                                                                   \
	"From: \"Alice\" <sip:+15550001111@198.51.100.10>;tag=a-tag-1\r\n"                        \
	"To: <sip:+4930123456@203.0.113.5>\r\n"                                                  \
	"Call-ID: 77abc@198.51.100.10\r\n"                                                       \
	"CSeq: 10 INVITE\r\n"                                                                    \
	"Contact: <sip:+15550001111@198.51.100.10:5061;transport=tls>\r\n"

/* the headers a carrier's INVITE adds after that */
#define SIP_SAMPLE_A_INVITE_CARRIER                                                            \
	"P-Asserted-Identity: <sip:+15550001111@198.51.100.10;user=phone>\r\n"                    \
	"Supported: 100rel, timer\r\n"                                                           \
	"Session-Expires: 1800;refresher=uac\r\n"                                                \
	"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE\r\n"

/* An INVITE to an IPv6 host in compact forms (f, i, m, l), two Vias in one
 * header, a quoted display name with escapes and a 4-byte body */
#define SIP_SAMPLE_V6_COMPACT_INVITE                                                           \
	"INVITE sip:+15551234567@[2001:db8::10]:5060;user=phone SIP/2.0\r\n"                      \
	"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds;rport, SIP/2.0/TCP h;branch=z9hG4bK2\r\n" \
	"Max-Forwards: 70\r\n"                                                                   \
	"To: \"Bob \\\"B\\\"\" <sip:+15551234567@198.51.100.10>\r\n"                              \
	"f: <sip:+15550001111@192.0.2.20>;tag=1928301774\r\n"                                    \
	"i: a84b4c76e66710@pc33.example.com\r\n"                                                 \
	"CSeq: 314159 INVITE\r\n"                                                                \
	"m: <sip:alice@192.0.2.20:5060;transport=tcp>;expires=60\r\n"                             \
	"Route: <sip:p1;lr>, <sip:[2001:db8::1];lr>\r\n"                                         \
	"Content-Type: application/sdp\r\n"                                                      \
	"l: 4\r\n"                                                                               \
	"\r\n"                                                                                   \
	"v=0\n"

/* The callee's 200 that confirms the B-leg dialog of the Reason tests and
 * bench (b2b_dialog_uac_init "cid-b@203.0.113.5", our tag "ours") */
#define SIP_SAMPLE_B_200_CONFIRMS                                                              \
	"SIP/2.0 200 OK\r\n"                                                                     \
	"Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKinv\r\n"                                \
	"From: <sip:a@203.0.113.5>;tag=ours\r\n"                                                 \
	"To: <sip:4930@192.0.2.80>;tag=b\r\n"                                                    \
	"Call-ID: cid-b@203.0.113.5\r\n"                                                         \
	"CSeq: 1 INVITE\r\n"                                                                     \
	"Contact: <sip:gw@192.0.2.80:5060>\r\n"                                                  \
	"Content-Length: 0\r\n\r\n"

#endif
