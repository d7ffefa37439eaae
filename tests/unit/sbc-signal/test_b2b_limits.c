/* Unit tests for per-trunk limits (b2b_limits.h): call limit, CPS window,
 * 503 with Retry-After, release, and two threads racing for the last slots
 * (never more admitted than the limit). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/b2b_limits.h"

static void test_limits(void **state)
{
	b2b_limit l;
	int ra = -1;
	(void)state;
	b2b_limit_init(&l);
	/* no limits */
	for (int i = 0; i < 100; i++)
		assert_int_equal(b2b_limit_admit(&l, 0, 0, 1000, 0, &ra), 0);
	assert_int_equal(b2b_limit_active(&l), 100);
	for (int i = 0; i < 100; i++)
		b2b_limit_release(&l);
	b2b_limit_release(&l); /* extra release does not wrap */
	assert_int_equal(b2b_limit_active(&l), 0);
	/* call limit 3 */
	for (int i = 0; i < 3; i++)
		assert_int_equal(b2b_limit_admit(&l, 3, 0, 1000, 30, &ra), 0);
	assert_int_equal(b2b_limit_admit(&l, 3, 0, 1000, 30, &ra), sbc_err_sip(503));
	assert_int_equal(ra, 30);
	b2b_limit_release(&l);
	assert_int_equal(b2b_limit_admit(&l, 3, 0, 1000, 30, &ra), 0);
	for (int i = 0; i < 3; i++)
		b2b_limit_release(&l);
	/* CPS 5: the sixth in the same second is refused, the next second is fresh */
	b2b_limit_init(&l);
	for (int i = 0; i < 5; i++)
		assert_int_equal(b2b_limit_admit(&l, 0, 5, 7000 + (uint64_t)i * 100, 0, &ra), 0);
	ra = -1;
	assert_int_equal(b2b_limit_admit(&l, 0, 5, 7999, 0, &ra), sbc_err_sip(503));
	assert_int_equal(ra, 1);
	assert_int_equal(b2b_limit_active(&l), 5); /* the refused one took no call slot */
	assert_int_equal(b2b_limit_admit(&l, 0, 5, 8000, 0, &ra), 0);
	assert_int_equal(atomic_load(&l.refused), 1);
}

static b2b_limit shared;
static _Atomic int admitted, over;

static void *racer(void *arg)
{
	int ra;
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		if (b2b_limit_admit(&shared, 50, 1000, 5000, 1, &ra) == 0) {
			atomic_fetch_add(&admitted, 1);
			if (b2b_limit_active(&shared) > 50)
				atomic_store(&over, 1); /* checked after join (no cmocka asserts off the main thread) */
		}
	}
	return NULL;
}

static void *cps_racer(void *arg)
{
	int ra;
	(void)arg;
	for (int i = 0; i < 5000; i++)
		if (b2b_limit_admit(&shared, 0, 1000, 9000, 1, &ra) == 0)
			atomic_fetch_add(&admitted, 1);
	return NULL;
}

/* Two threads run fn at the same time against a fresh shared limit. */
static void race2(void *(*fn)(void *))
{
	pthread_t a, b;
	b2b_limit_init(&shared);
	atomic_store(&admitted, 0);
	assert_int_equal(pthread_create(&a, NULL, fn, NULL), 0);
	assert_int_equal(pthread_create(&b, NULL, fn, NULL), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}

static void test_race(void **state)
{
	(void)state;
	race2(racer);
	assert_int_equal(atomic_load(&over), 0);
	/* nothing released: exactly the call limit got in (CPS 1000 > 50) */
	assert_int_equal(atomic_load(&admitted), 50);
	assert_int_equal(b2b_limit_active(&shared), 50);
	/* CPS race: 2 threads, limit 1000 in one second, no call limit */
	race2(cps_racer);
	assert_int_equal(atomic_load(&admitted), 1000);
	assert_int_equal(b2b_limit_active(&shared), 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
