/* libFuzzer driver for the SIP parser, the SDP parser and the SDES parser:
 * whatever the input, each returns a value or a clean error, and a parsed
 * request must yield a response that parses again. Not part of `make`;
 * build and run by hand (seed corpus: tests/corpus/sip):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
 *     -Ishared/include -I/usr/include/android tests/fuzz/fuzz_sip_parse.c \
 *     sbc-signal/src/sip_parse.c sbc-signal/src/sip_build.c \
 *     sbc-signal/src/sdp_parse.c sbc-signal/src/sdes_policy.c \
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
		int n = sip_build_response(&m, 400, NULL, NULL, out, sizeof(out));
		if (n > 0 && sip_parse(out, (size_t)n, &r) != 0)
			abort();
		if (m.body.n)
			(void)sdp_parse(m.body.p, m.body.n, &s);
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
