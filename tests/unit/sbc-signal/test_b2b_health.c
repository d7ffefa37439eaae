/* Unit tests for trunk health (b2b_health.h): down after consecutive
 * failures, up again on answers, 503 as a failure, Retry-After hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../sbc-signal/src/b2b_health.h"

static void test_health(void **state)
{
	b2b_health h;
	uint64_t t = 1000;
	(void)state;
	b2b_health_init(&h, 0, 0);
	assert_true(b2b_health_usable(&h, t));
	/* answers of any kind keep it up, 1xx decide nothing */
	assert_int_equal(b2b_health_record(&h, 200, -1, t), 0);
	assert_int_equal(b2b_health_record(&h, 405, -1, t), 0);
	assert_int_equal(b2b_health_record(&h, 100, -1, t), 0);
	/* one timeout is not enough, two are */
	assert_int_equal(b2b_health_record(&h, 0, -1, t += 30000), 0);
	assert_true(b2b_health_usable(&h, t));
	assert_int_equal(b2b_health_record(&h, 0, -1, t += 30000), 1);
	assert_false(b2b_health_usable(&h, t));
	assert_int_equal(h.changed_ms, t);
	assert_int_equal(b2b_health_record(&h, 0, -1, t += 30000), 0);
	/* it answers again: back up */
	assert_int_equal(b2b_health_record(&h, 404, -1, t += 30000), 1);
	assert_true(b2b_health_usable(&h, t));
	/* 503 counts as a failure; with Retry-After it holds the trunk down */
	b2b_health_init(&h, 3, 2);
	assert_int_equal(b2b_health_record(&h, 503, 120, t), 0);
	assert_true(h.up);
	assert_false(b2b_health_usable(&h, t));           /* held */
	assert_false(b2b_health_usable(&h, t + 119999));
	assert_true(b2b_health_usable(&h, t + 120000));
	assert_int_equal(b2b_health_record(&h, 503, -1, t), 0);
	assert_int_equal(b2b_health_record(&h, 0, -1, t), 1); /* third failure */
	assert_false(h.up);
	assert_int_equal(b2b_health_record(&h, 200, -1, t), 0); /* up_after 2 */
	assert_false(h.up);
	assert_int_equal(b2b_health_record(&h, 200, -1, t), 1);
	assert_true(h.up);
	assert_int_equal(h.failures, 3);
	assert_int_equal(h.pings, 5);
	/* bogus status values are failures */
	b2b_health_init(&h, 1, 1);
	assert_int_equal(b2b_health_record(&h, 42, -1, t), 1);
	assert_false(h.up);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
