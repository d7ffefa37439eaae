/* Unit tests for the B2BUA's call ids (b2b_engine.c, "call ids"): a
 * restarted sbc-signal must never hand out an id an earlier process of the
 * same boot handed out (its media sessions may still live in sbc-media);
 * ids stay in 52 bits, are never 0, and survive the session id encoding
 * (worker << 56) | (id << 4) | stream that media replies are decoded from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../../sbc-signal/src/b2b_engine.h"

#define ID_MASK ((1ull << 52) - 1)
#define MS 1000000ull
#define SEC 1000000000ull

/* A process that started boot_ns after boot and took numbers at `per_sec`
 * (ids, tags, branches alike) until killed at kill_ns: the last number it
 * took. */
static uint64_t last_taken(uint64_t start_ns, uint64_t kill_ns, uint64_t per_sec)
{
	uint64_t seq = x__b2b_seq_start(start_ns), id = 0;
	uint64_t n = (kill_ns - start_ns) / 1000u * per_sec / 1000000u;
	for (uint64_t i = 0; i < n; i++)
		id = x__b2b_next_call_id(&seq);
	return id;
}

static void test_restart_never_repeats(void **state)
{
	(void)state;
	/* {started, killed and restarted}: a quick restart, a longer run, one
	 * a day after boot; the old process at 3.5 million numbers a second
	 * (far above what a worker can do: a call takes a handful) */
	static const uint64_t runs[][2] = {
		{20 * SEC, 20 * SEC + 5 * MS},
		{3 * SEC, 4 * SEC},
		{86400 * SEC, 86400 * SEC + 250 * MS},
	};
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		uint64_t old_last = last_taken(runs[r][0], runs[r][1], 3500000);
		uint64_t seq = x__b2b_seq_start(runs[r][1]);
		uint64_t first_new = x__b2b_next_call_id(&seq);
		assert_true(old_last > x__b2b_seq_start(runs[r][0]));
		assert_true(first_new > old_last);
	}
	/* before the fix every process started at 0: its first calls were
	 * 1, 2, 3 again */
	uint64_t seq = x__b2b_seq_start(2 * SEC);
	assert_true(x__b2b_next_call_id(&seq) > 1000000);
}

static void test_start_follows_the_clock(void **state)
{
	(void)state;
	assert_true(x__b2b_seq_start(1 * SEC) < x__b2b_seq_start(1 * SEC + 256));
	assert_int_equal(x__b2b_seq_start(1 * SEC + 256) - x__b2b_seq_start(1 * SEC), 1);
	/* the real clock the engine reads: 2 ms later, about 7812 numbers on */
	struct timespec a, b, pause = {0, 2 * 1000000};
	assert_int_equal(clock_gettime(CLOCK_BOOTTIME, &a), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(clock_gettime(CLOCK_BOOTTIME, &b), 0);
	uint64_t sa = x__b2b_seq_start((uint64_t)a.tv_sec * SEC + (uint64_t)a.tv_nsec);
	uint64_t sb = x__b2b_seq_start((uint64_t)b.tv_sec * SEC + (uint64_t)b.tv_nsec);
	assert_true(sb >= sa + 7812);
}

static void test_ids_52_bits_never_zero(void **state)
{
	(void)state;
	uint64_t seq = ID_MASK - 2;
	assert_int_equal(x__b2b_next_call_id(&seq), ID_MASK - 1);
	assert_int_equal(x__b2b_next_call_id(&seq), ID_MASK);
	assert_int_equal(x__b2b_next_call_id(&seq), 1); /* 0 skipped at the wrap */
	seq = UINT64_MAX - 1;
	assert_int_equal(x__b2b_next_call_id(&seq), ID_MASK); /* masked */
	assert_int_equal(x__b2b_next_call_id(&seq), 1);       /* 2^64 wraps to 0: skipped */
	/* a start far in the future (36 years of uptime) stays in 52 bits */
	assert_true(x__b2b_seq_start(UINT64_MAX) <= ID_MASK);
}

static void test_session_id_round_trip(void **state)
{
	(void)state;
	static const uint64_t ids[] = {1, 0x123456789abull, ID_MASK};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		for (uint64_t w = 0; w < 256; w += 85)
			for (uint64_t st = 0; st < 16; st += 15) {
				/* as make_offer builds it, media_reply takes it apart */
				uint64_t sid = (w << 56) | (ids[i] << 4) | st;
				assert_int_equal((sid >> 4) & ID_MASK, ids[i]);
				assert_int_equal(sid >> 56, w);
				assert_int_equal(sid & 15, st);
				assert_true(sid != 0);
			}
}

/* x__b2b_host_of: IPv4 digit by digit (every octet width, 0 and 255),
 * IPv6 in brackets, truncated like snprintf. */
static void test_host_of(void **state)
{
	(void)state;
	static const char *const v4[] = {"0.0.0.0", "255.255.255.255", "192.0.2.1", "10.100.9.99",
					 "203.0.113.250", "1.20.199.200"};
	char out[64];
	sbc_addr a;
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		assert_int_equal(sbc_addr_parse(v4[i], 5060, &a), 0);
		memset(out, 0x7e, sizeof(out));
		x__b2b_host_of(&a, out, sizeof(out));
		assert_string_equal(out, v4[i]);
	}
	assert_int_equal(sbc_addr_parse("[2001:db8::1]:5061", -1, &a), 0);
	x__b2b_host_of(&a, out, sizeof(out));
	assert_string_equal(out, "[2001:db8::1]");
	assert_int_equal(sbc_addr_parse("255.255.255.255", 5060, &a), 0);
	x__b2b_host_of(&a, out, 8);
	assert_string_equal(out, "255.255");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_never_repeats),
		cmocka_unit_test(test_host_of),
		cmocka_unit_test(test_start_follows_the_clock),
		cmocka_unit_test(test_ids_52_bits_never_zero),
		cmocka_unit_test(test_session_id_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
