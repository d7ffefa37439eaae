/* sbc-media: RFC 3550 loss and jitter from sequence numbers and timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../../sbc-media/src/media.h"

#define MS 1000000ull

static void in_order_no_loss(void **state)
{
	med_rtp_rx r = {0};
	for (unsigned i = 0; i < 100; i++)
		med_rtp_rx_update(&r, (uint16_t)(1000 + i), 160 * i, 42, 20 * MS * i);
	assert_int_equal(med_rtp_rx_lost(&r), 0);
	assert_int_equal(med_rtp_rx_jitter_us(&r), 0); /* perfectly paced */
	assert_int_equal(r.received, 100);
}

static void loss_counted_across_wrap(void **state)
{
	med_rtp_rx r = {0};
	uint16_t seq = 65500;
	unsigned sent = 0;
	for (unsigned i = 0; i < 100; i++, seq++) {
		sent++;
		if (i % 10 == 3)
			continue; /* lose every tenth */
		med_rtp_rx_update(&r, seq, 160 * i, 7, 20 * MS * i);
	}
	assert_int_equal(med_rtp_rx_lost(&r), 10);
	assert_int_equal(r.cycles, 65536); /* wrapped once */
}

static void duplicates_and_reorder_do_not_count_as_loss(void **state)
{
	med_rtp_rx r = {0};
	uint16_t order[] = {1, 2, 4, 3, 5, 5, 6};
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		med_rtp_rx_update(&r, order[i], 160u * order[i], 9, 20 * MS * i);
	assert_int_equal(med_rtp_rx_lost(&r), 0);
}

static void jitter_follows_rfc3550(void **state)
{
	med_rtp_rx r = {0};
	/* every other packet arrives 10 ms late against a 20 ms clock: |D| is
	 * 10 ms for every pair; J converges towards 10 ms. */
	for (unsigned i = 0; i < 400; i++) {
		uint64_t t = 20 * MS * i + ((i & 1) ? 10 * MS : 0);
		med_rtp_rx_update(&r, (uint16_t)i, 160 * i, 5, t);
	}
	unsigned j = med_rtp_rx_jitter_us(&r);
	assert_in_range(j, 9500, 10000);
}

static void new_ssrc_restarts(void **state)
{
	med_rtp_rx r = {0};
	for (unsigned i = 0; i < 10; i++)
		med_rtp_rx_update(&r, (uint16_t)(i * 2), 160 * i, 1, 20 * MS * i); /* 9 lost */
	assert_int_equal(med_rtp_rx_lost(&r), 9);
	med_rtp_rx_update(&r, 500, 0, 2, 0);
	assert_int_equal(med_rtp_rx_lost(&r), 0);
	assert_int_equal(r.ssrc, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_order_no_loss),
		cmocka_unit_test(loss_counted_across_wrap),
		cmocka_unit_test(duplicates_and_reorder_do_not_count_as_loss),
		cmocka_unit_test(jitter_follows_rfc3550),
		cmocka_unit_test(new_ssrc_restarts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
