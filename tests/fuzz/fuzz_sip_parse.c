/* libFuzzer driver for the SIP parser, the SDP parser and the SDES parser:
 * whatever the input, each returns a value or a clean error, and a parsed
 * request must yield a response that parses again. Not part of `make`;
 * build and run by hand (seed corpus: tests/corpus/sip):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
 *     -Ishared/include -I/usr/include/android tests/fuzz/fuzz_sip_parse.c \
 *     sbc-signal/src/sip_parse.c sbc-signal/src/sip_build.c \
 *     sbc-signal/src/sdp_parse.c sbc-signal/src/sdes_policy.c sbc-signal/src/b2b_call.c \
 *     shared/src/err.c shared/src/base64.c shared/src/sockaddr.c \
 *     -L/usr/lib/x86_64-linux-gnu/android -Wl,-rpath,/usr/lib/x86_64-linux-gnu/android \
 *     -lcrypto -o /tmp/fuzz_sip_parse
 *   mkdir -p /tmp/fuzz-corpus && /tmp/fuzz_sip_parse -max_total_time=60 \
 *     /tmp/fuzz-corpus tests/corpus/sip
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "../../sbc-signal/src/b2b_call.h"
#include "../../sbc-signal/src/sdes_policy.h"
#include "../../sbc-signal/src/sdp_session.h"
#include "../../sbc-signal/src/sip_build.h"
#include "../../sbc-signal/src/sip_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sip_msg m, r;
	static sdp_session s;
	static char out[65536];
	const char *p = (const char *)data;

	int rc = sip_parse(p, size, &m);
	if (rc < 0) {
		if (sbc_err_sip_status(rc) < 400 || !m.err_reason)
			abort();
	} else if (m.is_request) {
		int n;
		n = sip_build_response(&m, 400, NULL, NULL, out, sizeof(out));
		if (n > 0 && sip_parse(out, (size_t)n, &r) != 0)
			abort();
		if (m.body.n)
			(void)sdp_parse(m.body.p, m.body.n, &s);
		if (m.method == SIP_M_INVITE) { /* topology hiding on hostile input */
			b2b_bleg_spec bs = {.request_uri = "sip:1@192.0.2.1",
					    .via = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKf"},
					    .local_host = "203.0.113.5", .from_tag = "t", .to_value = "<sip:1@192.0.2.1>",
					    .call_id = "c", .cseq = 1, .contact = "<sip:sbc@203.0.113.5>"};
			n = b2b_build_bleg_invite(&m, &bs, out, sizeof(out), NULL, 0);
			if (n > 0 && sip_parse(out, (size_t)n, &r) != 0)
				abort();
			b2b_dialog d;
			(void)b2b_dialog_uas_init(&d, &m, "x", 1);
		}
	} else {
		static const char inv[] = "INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
					  "From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
		static sip_msg i;
		if (sip_parse(inv, sizeof(inv) - 1, &i) != 0)
			abort();
		b2b_resp_spec rs = {.to_tag = "x", .contact = "<sip:sbc@h>", .local_host = "203.0.113.5"};
		int n = b2b_build_mirrored_response(&i, &m, &rs, out, sizeof(out));
		if (n > 0 && (sip_parse(out, (size_t)n, &r) != 0 || r.status != m.status))
			abort();
	}
	/* the same bytes as an SDP body and as an a=crypto value */
	if (sdp_parse(p, size, &s) == 0) {
		for (unsigned i = 0; i < s.n_media; i++)
			for (unsigned k = 0; k < s.media[i].n_crypto; k++) {
				sdes_crypto c;
				(void)sdes_parse(s.media[i].crypto[k], &c);
			}
	}
	sdes_crypto c;
	(void)sdes_parse((sip_sv){p, size}, &c);
	return 0;
}
