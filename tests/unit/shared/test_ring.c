/* Unit tests for the SPSC ring in one process: ordering, wrap-around with
 * PAD records, full ring reported and counted, oversized records refused,
 * batch pop, and the doorbell handshake (no lost wake-up, no syscall when
 * the consumer is not sleeping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/ring.h"

#define CAP 4096u

static shm_ring_hdr *new_ring(uint32_t cap, int bell)
{
	void *mem = NULL;
	assert_int_equal(posix_memalign(&mem, 64, shm_ring_footprint(cap)), 0);
	assert_int_equal(shm_ring_format(mem, cap, bell), 0);
	return mem;
}

static void test_format_rejects_bad_capacity(void **state)
{
	void *mem = NULL;
	(void)state;
	assert_int_equal(posix_memalign(&mem, 64, shm_ring_footprint(8192)), 0);
	assert_int_not_equal(shm_ring_format(mem, 1000, -1), 0);
	assert_int_not_equal(shm_ring_format(mem, 128, -1), 0);
	assert_int_equal(shm_ring_format(mem, 8192, -1), 0);
	assert_int_equal(shm_ring_check(mem, shm_ring_footprint(8192)), 0);
	assert_int_equal(shm_ring_check(mem, shm_ring_footprint(8192) - 1), SBC_E_SHM_SIZE);
	((shm_ring_hdr *)mem)->magic = 0;
	assert_int_equal(shm_ring_check(mem, shm_ring_footprint(8192)), SBC_E_SHM_MAGIC);
	free(mem);
}

static void test_push_pop_in_order_across_wraps(void **state)
{
	shm_ring_hdr *r = new_ring(CAP, -1);
	shm_ring_prod p;
	shm_ring_cons c;
	uint32_t next_push = 0, next_pop = 0;
	(void)state;

	shm_ring_prod_init(&p, r);
	shm_ring_cons_init(&c, r);
	/* Varying lengths force PAD records at many different wrap offsets. */
	for (int round = 0; round < 20000; round++) {
		uint32_t len = 4 + (uint32_t)(round * 37) % 200;
		uint8_t buf[256];
		memset(buf, (int)(next_push & 0xff), len);
		memcpy(buf, &next_push, 4);
		if (shm_ring_push(&p, 7, 1, buf, len) == 0)
			next_push++;
		if (round % 3 == 0) {
			const shm_rec *rec;
			while ((rec = shm_ring_peek(&c)) != NULL) {
				uint32_t v;
				assert_int_equal(rec->type, 7);
				assert_int_equal(rec->version, 1);
				memcpy(&v, rec->data, 4);
				assert_int_equal(v, next_pop);
				for (uint32_t i = 4; i < rec->len; i++)
					assert_int_equal(rec->data[i], next_pop & 0xff);
				next_pop++;
				shm_ring_next(&c, rec);
			}
			shm_ring_release(&c);
		}
	}
	assert_true(next_push > 10000);
	assert_true(next_pop + 100 >= next_push);
	free(r);
}

static void test_full_ring_is_reported_and_counted(void **state)
{
	shm_ring_hdr *r = new_ring(CAP, -1);
	shm_ring_prod p;
	shm_ring_cons c;
	uint8_t msg[56] = {0};
	unsigned pushed = 0;
	int rc;
	(void)state;

	shm_ring_prod_init(&p, r);
	shm_ring_cons_init(&c, r);
	while ((rc = shm_ring_push(&p, 1, 1, msg, sizeof(msg))) == 0)
		pushed++;
	assert_int_equal(rc, SBC_E_RING_FULL);
	/* 64-byte records fill the 4096-byte ring exactly. */
	assert_int_equal(pushed, CAP / 64);
	assert_int_equal(atomic_load(&r->kfull), 1);
	assert_int_equal(shm_ring_push(&p, 1, 1, msg, sizeof(msg)), SBC_E_RING_FULL);
	assert_int_equal(atomic_load(&r->kfull), 2);
	assert_int_equal(atomic_load(&r->kpublished), pushed);

	/* Space comes back only once the consumer releases. */
	const shm_rec *batch[8];
	assert_int_equal(shm_ring_pop_batch(&c, batch, 8), 8);
	assert_int_equal(shm_ring_push(&p, 1, 1, msg, sizeof(msg)), SBC_E_RING_FULL);
	shm_ring_release(&c);
	for (int i = 0; i < 8; i++)
		assert_int_equal(shm_ring_push(&p, 1, 1, msg, sizeof(msg)), 0);
	assert_int_equal(shm_ring_push(&p, 1, 1, msg, sizeof(msg)), SBC_E_RING_FULL);
	free(r);
}

static void test_oversized_record_refused(void **state)
{
	shm_ring_hdr *r = new_ring(CAP, -1);
	shm_ring_prod p;
	static uint8_t big[CAP];
	(void)state;

	shm_ring_prod_init(&p, r);
	assert_int_equal(shm_ring_max_payload(r), CAP / 4 - 8);
	assert_int_equal(shm_ring_push(&p, 1, 1, big, CAP / 4 - 8), 0);
	assert_int_equal(shm_ring_push(&p, 1, 1, big, CAP / 4 - 7), SBC_E_MSG_TOO_BIG);
	assert_null(shm_ring_reserve(&p, 1, 1, CAP));
	free(r);
}

static void test_batch_publish_is_atomic_for_consumer(void **state)
{
	shm_ring_hdr *r = new_ring(CAP, -1);
	shm_ring_prod p;
	shm_ring_cons c;
	(void)state;

	shm_ring_prod_init(&p, r);
	shm_ring_cons_init(&c, r);
	for (uint32_t i = 0; i < 32; i++) {
		uint32_t *slot = shm_ring_reserve(&p, 2, 1, sizeof(uint32_t));
		assert_non_null(slot);
		*slot = i;
	}
	/* Nothing visible before publish. */
	assert_null(shm_ring_peek(&c));
	shm_ring_publish(&p);
	const shm_rec *batch[64];
	assert_int_equal(shm_ring_pop_batch(&c, batch, 64), 32);
	for (uint32_t i = 0; i < 32; i++)
		assert_int_equal(*(const uint32_t *)batch[i]->data, i);
	shm_ring_release(&c);
	assert_int_equal(shm_ring_used(r), 0);
	free(r);
}

static uint64_t eventfd_value(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void test_doorbell_only_when_sleeping(void **state)
{
	int bell = shm_doorbell_create();
	shm_ring_hdr *r;
	shm_ring_prod p;
	shm_ring_cons c;
	uint32_t v = 1;
	(void)state;

	assert_true(bell >= 0);
	r = new_ring(CAP, bell);
	shm_ring_prod_init(&p, r);
	shm_ring_cons_init(&c, r);

	/* Consumer awake: no doorbell write. */
	assert_int_equal(shm_ring_push(&p, 3, 1, &v, 4), 0);
	assert_int_equal(atomic_load(&r->kwakeups), 0);
	assert_int_equal(shm_doorbell_wait(bell, 0), 0);

	/* Not empty: prepare_sleep refuses and withdraws the flag. */
	assert_false(shm_ring_prepare_sleep(&c));
	assert_int_equal(atomic_load(&r->ksleeping), 0);
	const shm_rec *rec = shm_ring_peek(&c);
	assert_non_null(rec);
	shm_ring_next(&c, rec);
	shm_ring_release(&c);

	/* Empty: it may sleep; the next push rings exactly once. */
	assert_true(shm_ring_prepare_sleep(&c));
	assert_int_equal(shm_ring_push(&p, 3, 1, &v, 4), 0);
	assert_int_equal(shm_ring_push(&p, 3, 1, &v, 4), 0);
	assert_int_equal(atomic_load(&r->kwakeups), 1);
	assert_int_equal(shm_doorbell_wait(bell, 1000), 1);
	assert_int_equal(eventfd_value(bell), 1);
	assert_int_equal(atomic_load(&r->ksleeping), 0);
	close(bell);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_rejects_bad_capacity),
		cmocka_unit_test(test_push_pop_in_order_across_wraps),
		cmocka_unit_test(test_full_ring_is_reported_and_counted),
		cmocka_unit_test(test_oversized_record_refused),
		cmocka_unit_test(test_batch_publish_is_atomic_for_consumer),
		cmocka_unit_test(test_doorbell_only_when_sleeping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
