/* sip_ctl8 (sip_msg.h), the eight-bytes-per-step control finder the SIP
 * parser and the framer scan with, against a plain byte loop: for every
 * byte value in each of the eight positions, over every background byte,
 * it must be zero exactly when no byte is below 0x20, and otherwise its
 * lowest set bit must fall in the first such byte (the scanners step
 * ctz / 8 bytes on). The differential tests cannot catch a change here:
 * their references keep their own copy (parse_ref_helpers.inc). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../../sbc-signal/src/sip_msg.h"

/* the first byte below 0x20 in p[0..8), or 8 */
static unsigned first_ctl(const unsigned char *p)
{
	for (unsigned j = 0; j < 8; j++)
		if (p[j] < 0x20)
			return j;
	return 8;
}

static void test_ctl8_every_byte_every_position(void **state)
{
	unsigned char w[8];
	unsigned long checked = 0, flagged = 0;
	(void)state;
	for (unsigned bg = 0; bg < 256; bg++)
		for (unsigned pos = 0; pos < 8; pos++)
			for (unsigned v = 0; v < 256; v++) {
				memset(w, (int)bg, sizeof(w));
				w[pos] = (unsigned char)v;
				uint64_t k = sip_ctl8((const char *)w);
				unsigned want = first_ctl(w);
				if (want == 8) {
					if (k != 0)
						fail_msg("bg 0x%02x, 0x%02x at %u: no control, sip_ctl8 0x%016llx", bg,
							 v, pos, (unsigned long long)k);
				} else {
					if (k == 0 || (unsigned)__builtin_ctzll(k) / 8 != want)
						fail_msg("bg 0x%02x, 0x%02x at %u: first control at %u, sip_ctl8 "
							 "0x%016llx",
							 bg, v, pos, want, (unsigned long long)k);
					flagged++;
				}
				checked++;
			}
	assert_int_equal(checked, 256ul * 8 * 256);
	/* a background below 0x20 (32 of them: every v) plus a control v in an
	 * ordinary background (224 * 8 * 32) */
	assert_int_equal(flagged, 32ul * 8 * 256 + 224ul * 8 * 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctl8_every_byte_every_position),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
