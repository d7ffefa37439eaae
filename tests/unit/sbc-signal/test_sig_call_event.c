/* sbc-signal: call record events on a full control ring are held, not lost
 * (sig_worker.c sig_call_event). The worker here is bare: its control ring
 * in memory, this test its consumer (sbc-control's side). */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/msg.h"
#include "sbc/ring.h"
#include "../../../sbc-signal/src/sig_worker.h"

#define RING_BYTES 16384u

typedef struct fixture {
	void *mem;
	sig_worker *w;
	shm_ring_cons c;
	unsigned next_seen; /* the sequence number the consumer expects next */
	unsigned check_until; /* events from this number on are only counted */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f || !(f->mem = aligned_alloc(64, shm_ring_footprint(RING_BYTES))) ||
	    !(f->w = calloc(1, sizeof(*f->w))) || shm_ring_format(f->mem, RING_BYTES, -1) != 0)
		return -1;
	shm_ring_prod_init(&f->w->ctl_out, f->mem);
	shm_ring_cons_init(&f->c, f->mem);
	f->w->has_ctl = 1;
	f->check_until = ~0u;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	free(f->w->ev_held);
	free(f->w);
	free(f->mem);
	free(f);
	return 0;
}

/* An event of ~400 bytes, like a real end event, numbered seq. */
static int send_ev(fixture *f, unsigned seq)
{
	char text[512];
	int n = snprintf(text, sizeof(text), "{\"event\":\"end\",\"id\":\"0-%x\",\"seq\":%u,\"pad\":\"%0300d\"}", seq,
			 seq, 0);
	return sig_call_event(f->w, text, (size_t)n);
}

/* Consumer: takes every published event, checking they come in order.
 * Returns how many. */
static unsigned drain(fixture *f)
{
	const shm_rec *r;
	unsigned n = 0;
	while ((r = shm_ring_peek(&f->c)) != NULL) {
		assert_int_equal(r->type, SBC_MSG_CALL_EVENT);
		const sbc_msg_text *m = (const sbc_msg_text *)r->data;
		char id[32];
		if (f->next_seen < f->check_until) {
			snprintf(id, sizeof(id), "\"seq\":%u,", f->next_seen);
			assert_true(m->len < sizeof(m->text));
			assert_non_null(memmem(m->text, m->len, id, strlen(id)));
			f->next_seen++;
		}
		n++;
		shm_ring_next(&f->c, r);
	}
	shm_ring_release(&f->c);
	return n;
}

/* The common path publishes once a quarter of the ring is held: the
 * consumer sees events before any tick. */
static void test_quarter_published(void **state)
{
	fixture *f = *state;
	unsigned i = 0;
	while (shm_ring_used(f->mem) == 0) {
		assert_int_equal(send_ev(f, i++), 0);
		assert_true(i < 40);
	}
	/* ~400-byte records: past 4 KiB after about 11 */
	assert_in_range(i, 8, 14);
	assert_int_equal(drain(f), i);
}

/* A burst far beyond the ring (no tick, no consumer meanwhile): every
 * event is accepted (held), then all reach the consumer in order as it
 * makes room, moved on by the next events and by a tick's flush. Fails
 * before: the reserve failed and the event was gone. */
static void test_burst_held_in_order(void **state)
{
	fixture *f = *state;
	unsigned sent = 0, got = 0;
	for (; sent < 500; sent++)
		assert_int_equal(send_ev(f, sent), 0);
	assert_true(f->w->ev_held_n > 400); /* the ring holds ~40 */
	assert_int_equal(f->w->ev_dropped, 0);
	/* each new event moves held ones on as the consumer makes room */
	while (f->w->ev_held_n) {
		got += drain(f);
		assert_int_equal(send_ev(f, sent++), 0);
	}
	shm_ring_publish(&f->w->ctl_out); /* the tick's publish */
	got += drain(f);
	assert_int_equal(got, sent);
	assert_int_equal(f->next_seen, sent);
}

/* Past the backlog's bound (4 MiB) an event is dropped, counted, and the
 * call says so; every earlier one still arrives, in order. */
static void test_backlog_bounded(void **state)
{
	fixture *f = *state;
	unsigned sent = 0;
	int ret;
	sbc_log_set_level(SBC_LOG_ERROR); /* the drop's log line */
	while ((ret = send_ev(f, sent)) == 0) {
		sent++;
		assert_true(sent < 20000);
	}
	assert_int_equal(ret, SBC_E_RING_FULL);
	assert_int_equal(f->w->ev_dropped, 1);
	assert_true(sent > 9000); /* 4 MiB of ~400-byte events */
	f->check_until = sent;
	for (unsigned round = 0; f->next_seen < sent; round++) {
		assert_true(round < 1000);
		drain(f);
		/* the next event moves held ones on (its own number is past
		 * check_until), or the tick's publish */
		if (f->w->ev_held_n)
			assert_int_equal(send_ev(f, 1000000 + round), 0);
		else
			shm_ring_publish(&f->w->ctl_out);
	}
	assert_int_equal(f->next_seen, sent);
	assert_int_equal(f->w->ev_dropped, 1);
}

static atomic_int g_consumer_stop;

/* Consumer thread: drains the ring after a pause, as sbc-control would
 * while sbc-signal stops. */
static void *late_consumer(void *arg)
{
	fixture *f = arg;
	struct timespec ts = {0, 100 * 1000000};
	nanosleep(&ts, NULL);
	while (!atomic_load(&g_consumer_stop)) {
		const shm_rec *r;
		while ((r = shm_ring_peek(&f->c)) != NULL)
			shm_ring_next(&f->c, r);
		shm_ring_release(&f->c);
		struct timespec p = {0, 500000};
		nanosleep(&p, NULL);
	}
	return NULL;
}

/* A stopping worker whose backlog is full waits for room (bounded by its
 * stop deadline, sbc-control draining meanwhile) instead of dropping. */
static void test_stopping_waits_for_room(void **state)
{
	fixture *f = *state;
	unsigned sent = 0;
	sbc_log_set_level(SBC_LOG_ERROR);
	while (f->w->ev_held_len + 1024 < (4u << 20)) /* the backlog all but full */
		assert_int_equal(send_ev(f, sent++), 0);
	f->w->stopping = 1;
	f->w->stop_deadline_ms = sbc_mono_ms() + 5000;
	atomic_store(&g_consumer_stop, 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, late_consumer, f), 0);
	uint64_t t0 = sbc_mono_ms();
	for (unsigned i = 0; i < 50; i++)
		assert_int_equal(send_ev(f, sent++), 0);
	uint64_t waited = sbc_mono_ms() - t0;
	atomic_store(&g_consumer_stop, 1);
	pthread_join(t, NULL);
	assert_int_equal(f->w->ev_dropped, 0);
	assert_true(waited >= 90); /* it waited for the consumer */
	assert_true(f->w->ev_held_n < 100); /* and the consumer took the backlog */

	/* with nobody draining, the wait ends at the deadline: dropped */
	while (f->w->ev_held_len + 1024 < (4u << 20))
		assert_int_equal(send_ev(f, sent++), 0);
	f->w->stop_deadline_ms = sbc_mono_ms() + 100;
	t0 = sbc_mono_ms();
	while (send_ev(f, sent++) == 0)
		assert_true(sbc_mono_ms() - t0 < 2000);
	assert_true(sbc_mono_ms() - t0 >= 90);
	assert_int_equal(f->w->ev_dropped, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quarter_published, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_held_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopping_waits_for_room, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
