/* Unit tests for the small helpers: base64 (RFC 4648 vectors and hostile
 * input), socket addresses and CIDRs, the error space, log levels. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/base64.h"
#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/sockaddr.h"

static void test_base64_rfc4648_vectors(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[32];
	uint8_t back[32];
	(void)state;

	for (unsigned i = 0; i < 7; i++) {
		size_t n = strlen(plain[i]);
		assert_int_equal(sbc_base64_encode((const uint8_t *)plain[i], n, out, sizeof(out)),
				 (int)strlen(coded[i]));
		assert_string_equal(out, coded[i]);
		assert_int_equal(sbc_base64_decode(coded[i], strlen(coded[i]), back, sizeof(back)), (int)n);
		assert_memory_equal(back, plain[i], n);
	}
	/* SDES keys are often sent without padding. */
	assert_int_equal(sbc_base64_decode("Zm9vYg", 6, back, sizeof(back)), 4);
	assert_memory_equal(back, "foob", 4);
}

static void test_base64_rejects_bad_input(void **state)
{
	uint8_t out[64];
	char small[4];
	(void)state;

	assert_int_equal(sbc_base64_decode("Zm9v!", 5, out, sizeof(out)), -EINVAL);
	assert_int_equal(sbc_base64_decode("Zm 9v", 5, out, sizeof(out)), -EINVAL);
	assert_int_equal(sbc_base64_decode("Z", 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(sbc_base64_decode("Zm9=v", 5, out, sizeof(out)), -EINVAL);
	assert_int_equal(sbc_base64_decode("Zh==", 4, out, sizeof(out)), -EINVAL); /* non-canonical */
	assert_int_equal(sbc_base64_decode("Zm9vYmFy", 8, out, 5), -ENOSPC);
	assert_int_equal(sbc_base64_encode((const uint8_t *)"foo", 3, small, sizeof(small)), -ENOSPC);
	/* A 40-byte SDES key for AES_CM_128 (30 bytes) round-trips. */
	uint8_t key[30];
	char text[SBC_BASE64_ENCODED_LEN(30)];
	for (unsigned i = 0; i < 30; i++)
		key[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(sbc_base64_encode(key, 30, text, sizeof(text)), 40);
	assert_int_equal(sbc_base64_decode(text, 40, out, sizeof(out)), 30);
	assert_memory_equal(out, key, 30);
}

static void test_addr_parse_and_format(void **state)
{
	sbc_addr a, b;
	char buf[SBC_ADDR_STRLEN];
	(void)state;

	assert_int_equal(sbc_addr_parse("192.0.2.1:5060", -1, &a), 0);
	assert_string_equal(sbc_addr_format(&a, buf, sizeof(buf)), "192.0.2.1:5060");
	assert_int_equal(sbc_addr_parse("[2001:db8::1]:5061", -1, &b), 0);
	assert_string_equal(sbc_addr_format(&b, buf, sizeof(buf)), "[2001:db8::1]:5061");
	assert_string_equal(sbc_addr_format_ip(&b, buf, sizeof(buf)), "2001:db8::1");
	/* IPv4 is formatted by hand: every digit count, and a buffer too
	 * small for the longest address goes through inet_ntop */
	static const char *const v4[] = {"0.0.0.0", "255.255.255.255", "10.0.100.7", "1.22.3.199", "100.9.90.0"};
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		sbc_addr x;
		char ip[INET_ADDRSTRLEN];
		assert_int_equal(sbc_addr_parse(v4[i], 9, &x), 0);
		assert_string_equal(sbc_addr_format_ip(&x, ip, sizeof(ip)), v4[i]);
		assert_string_equal(sbc_addr_format_ip(&x, buf, 9), strlen(v4[i]) < 9 ? v4[i] : "?");
	}
	assert_int_equal(sbc_addr_port(&b), 5061);
	assert_int_equal(sbc_addr_parse("2001:db8::1", 5060, &b), 0);
	assert_int_equal(sbc_addr_port(&b), 5060);
	assert_int_equal(sbc_addr_parse("10.1.2.3", 7, &a), 0);
	assert_int_equal(sbc_addr_port(&a), 7);
	assert_int_equal(sbc_addr_parse("10.1.2.3", -1, &a), -EINVAL); /* port required */
	assert_int_equal(sbc_addr_parse("10.1.2.3:65536", -1, &a), -EINVAL);
	assert_int_equal(sbc_addr_parse("10.1.2.3:", -1, &a), -EINVAL);
	assert_int_equal(sbc_addr_parse("10.1.2.3:5x", -1, &a), -EINVAL);
	assert_int_equal(sbc_addr_parse("host.example:5060", -1, &a), -EINVAL);
	assert_int_equal(sbc_addr_parse("[2001:db8::1", -1, &a), -EINVAL);
	assert_int_equal(sbc_addr_parse("[2001:db8::1]x", -1, &a), -EINVAL);
	assert_int_equal(sbc_addr_parse("", -1, &a), -EINVAL);

	assert_int_equal(sbc_addr_parse("192.0.2.1:5060", -1, &a), 0);
	assert_int_equal(sbc_addr_parse("192.0.2.1:5062", -1, &b), 0);
	assert_true(sbc_addr_equal_ip(&a, &b));
	assert_false(sbc_addr_equal(&a, &b));
	sbc_addr_set_port(&b, 5060);
	assert_true(sbc_addr_equal(&a, &b));

	/* a v4-mapped IPv6 address unmaps to the IPv4 one, port kept */
	assert_int_equal(sbc_addr_parse("[::ffff:192.0.2.1]:5060", -1, &b), 0);
	assert_false(sbc_addr_equal(&a, &b));
	sbc_addr_unmap(&b);
	assert_true(sbc_addr_equal(&a, &b));
	assert_int_equal(sbc_addr_parse("[2001:db8::1]:5060", -1, &b), 0);
	sbc_addr_unmap(&b); /* not mapped: left as it is */
	assert_int_equal(b.sa.sa_family, AF_INET6);
	assert_int_equal(sbc_addr_port(&b), 5060);
}

static void test_cidr(void **state)
{
	sbc_cidr c;
	sbc_addr a;
	char buf[64];
	(void)state;

	assert_int_equal(sbc_cidr_parse("127.0.0.0/8", &c), 0);
	assert_string_equal(sbc_cidr_format(&c, buf, sizeof(buf)), "127.0.0.0/8");
	sbc_addr_parse("127.9.8.7", 0, &a);
	assert_true(sbc_cidr_match(&c, &a));
	sbc_addr_parse("128.0.0.1", 0, &a);
	assert_false(sbc_cidr_match(&c, &a));
	assert_int_equal(sbc_cidr_parse("192.0.2.128/25", &c), 0);
	sbc_addr_parse("192.0.2.200", 0, &a);
	assert_true(sbc_cidr_match(&c, &a));
	sbc_addr_parse("192.0.2.100", 0, &a);
	assert_false(sbc_cidr_match(&c, &a));
	assert_int_equal(sbc_cidr_parse("2001:db8::/32", &c), 0);
	sbc_addr_parse("2001:db8:ffff::1", 0, &a);
	assert_true(sbc_cidr_match(&c, &a));
	sbc_addr_parse("10.0.0.1", 0, &a);
	assert_false(sbc_cidr_match(&c, &a)); /* family differs */
	assert_int_equal(sbc_cidr_parse("10.0.0.1", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(sbc_cidr_parse("0.0.0.0/0", &c), 0);
	assert_true(sbc_cidr_match(&c, &(sbc_addr){.in4 = {.sin_family = AF_INET}}));
	assert_int_equal(sbc_cidr_parse("10.0.0.0/33", &c), -EINVAL);
	assert_int_equal(sbc_cidr_parse("10.0.0.0/", &c), -EINVAL);
	assert_int_equal(sbc_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
	assert_int_equal(sbc_cidr_parse("/8", &c), -EINVAL);
}

static void test_error_space(void **state)
{
	(void)state;
	assert_string_equal(sbc_strerror(SBC_E_RING_FULL), "ring full");
	assert_string_equal(sbc_strerror(-ENOMEM), strerror(ENOMEM));
	assert_string_equal(sbc_strerror(0), "success");
	int e = sbc_err_sip(488);
	assert_int_equal(sbc_err_sip_status(e), 488);
	assert_string_equal(sbc_strerror(e), "SIP 488");
	assert_int_equal(sbc_err_sip_status(SBC_E_PARSE), 0);
	assert_int_equal(sbc_err_sip_status(-EINVAL), 0);
	assert_non_null(strstr(sbc_strerror(-3999999), "unknown"));
	/* sbc codes and SIP-carrying codes never collide with errno. */
	assert_true(SBC_E_LAST_ > SBC_ERR_SIP_BASE);
	assert_true(SBC_E_RING_FULL < -4000 + 0 && SBC_E_RING_FULL > SBC_E_LAST_);
}

static void test_log_levels_and_clock(void **state)
{
	enum sbc_log_level l;
	char buf[32];
	(void)state;
	assert_int_equal(sbc_log_level_parse("debug", &l), 0);
	assert_int_equal(l, SBC_LOG_DEBUG);
	assert_int_equal(sbc_log_level_parse("verbose", &l), -EINVAL);
	assert_string_equal(sbc_log_level_name(SBC_LOG_WARN), "warn");
	assert_string_equal(sbc_format_iso8601(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
	assert_string_equal(sbc_format_iso8601(1700000000123ull, buf, sizeof(buf)), "2023-11-14T22:13:20.123Z");
	uint64_t a = sbc_mono_ns(), b = sbc_mono_ns();
	assert_true(b >= a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_rfc4648_vectors),
		cmocka_unit_test(test_base64_rejects_bad_input),
		cmocka_unit_test(test_addr_parse_and_format),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_error_space),
		cmocka_unit_test(test_log_levels_and_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
