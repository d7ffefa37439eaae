/* sbc-control: the control side of the shared segment, with this process
 * playing the child workers on the other end of the rings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "../../../sbc-control/src/ctl_bus.h"
#include "ctl_bus_testutil.h"

typedef struct fixture {
	ctl_ctx ctx;
	uv_loop_t loop;
	shm_seg *child_seg; /* the "children's" attachment */
	json_t *stats;
	int hellos;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f || ctb_open(&f->ctx, &f->loop, 2, 1, &f->child_seg) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char name[64];
	snprintf(name, sizeof(name), "/dev/shm%s", ctl_bus_name(f->ctx.bus));
	ctb_close(&f->ctx, &f->loop, f->child_seg);
	assert_int_not_equal(access(name, F_OK), 0); /* unlinked */
	json_decref(f->stats);
	free(f);
	return 0;
}

static void test_segment_layout(void **state)
{
	fixture *f = *state;
	shm_seg_hdr *h = shm_seg_header(f->child_seg);
	char want[32];
	snprintf(want, sizeof(want), "/sbc-%d", (int)getpid());
	assert_string_equal(ctl_bus_name(f->ctx.bus), want);
	assert_int_equal(h->workers[SHM_ROLE_SIGNAL], 2);
	assert_int_equal(h->workers[SHM_ROLE_MEDIA], 1);
	size_t bytes = 0;
	assert_non_null(shm_seg_region(f->child_seg, "media.sessions", &bytes));
	assert_true(bytes >= 4096 + 25 * 1024);
	int fds[80];
	assert_int_equal(ctl_bus_inherit_fds(f->ctx.bus, fds, 80), 4); /* control + 2 signal + 1 media */
}

static void test_hello_and_config_changed(void **state)
{
	fixture *f = *state;
	shm_ring_cons c;
	const shm_rec *r;

	/* Stale content from a "dead" child is discarded; HELLO comes first. */
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	assert_int_equal(ctl_bus_notify(f->ctx.bus, SHM_AREA_ROUTES, 7), 7);
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, false);
	ctl_bus_child_reset(f->ctx.bus, SHM_ROLE_SIGNAL);
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	for (unsigned w = 0; w < 2; w++) {
		assert_int_equal(shm_seg_consumer(f->child_seg, &c, SHM_ROLE_CONTROL, 0, SHM_ROLE_SIGNAL, w), 0);
		r = shm_ring_peek(&c);
		assert_non_null(r);
		assert_int_equal(r->type, SBC_MSG_HELLO);
		assert_int_equal(sbc_msg_check(r), 0);
		unsigned bad;
		assert_int_equal(sbc_msg_hello_check((const sbc_msg_hello *)r->data, &bad), 0);
		shm_ring_next(&c, r);
		assert_null(shm_ring_peek(&c));
		shm_ring_release(&c);
	}
	/* The segment mirrors the store's generation; a stale one bumps. */
	assert_int_equal(ctl_bus_notify(f->ctx.bus, SHM_AREA_TRUNKS, 5), 5);
	assert_int_equal(ctl_bus_notify(f->ctx.bus, SHM_AREA_TRUNKS, 5), 6);
	assert_int_equal(shm_seg_gen(shm_seg_header(f->child_seg), SHM_AREA_TRUNKS), 6);
	assert_int_equal(shm_seg_consumer(f->child_seg, &c, SHM_ROLE_CONTROL, 0, SHM_ROLE_SIGNAL, 1), 0);
	for (uint64_t want = 5; want <= 6; want++) {
		r = shm_ring_peek(&c);
		assert_non_null(r);
		assert_int_equal(r->type, SBC_MSG_CONFIG_CHANGED);
		assert_int_equal(sbc_msg_check(r), 0);
		const sbc_msg_config_changed *m = (const void *)r->data;
		assert_int_equal(m->area, SHM_AREA_TRUNKS);
		assert_int_equal(m->generation, want);
		shm_ring_next(&c, r);
	}
	shm_ring_release(&c);
	/* media is not alive: nothing pushed to it */
	assert_int_equal(shm_seg_consumer(f->child_seg, &c, SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, 0), 0);
	assert_null(shm_ring_peek(&c));
}

static void test_full_ring_is_counted_not_blocking(void **state)
{
	fixture *f = *state;
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_MEDIA, true);
	/* 16 KiB ring, 24-byte records: a thousand notices overflow it. */
	for (unsigned i = 0; i < 1000; i++)
		ctl_bus_notify(f->ctx.bus, SHM_AREA_TLS, 0);
	assert_true(f->ctx.counters.ring_full > 0);
	assert_int_equal(shm_seg_gen(shm_seg_header(f->child_seg), SHM_AREA_TLS), 1000);
	/* DRAIN goes to signal workers only. */
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	assert_int_equal(ctl_bus_drain(f->ctx.bus, 1234), 2);
}

static void stats_cb(json_t *res, void *arg)
{
	fixture *f = arg;
	f->stats = res;
}

static void test_stats_merge_and_timeout(void **state)
{
	fixture *f = *state;
	shm_ring_cons c;
	shm_ring_prod p;

	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_MEDIA, false);
	assert_int_equal(ctl_bus_stats(f->ctx.bus, 300, stats_cb, f), 0);
	assert_null(f->stats);
	/* Signal worker 0 answers; worker 1 stays silent; media is not running. */
	assert_int_equal(shm_seg_consumer(f->child_seg, &c, SHM_ROLE_CONTROL, 0, SHM_ROLE_SIGNAL, 0), 0);
	const shm_rec *r;
	uint64_t id = 0;
	while ((r = shm_ring_peek(&c)) != NULL) {
		if (r->type == SBC_MSG_STATS_REQUEST)
			id = ((const sbc_msg_text *)r->data)->request_id;
		shm_ring_next(&c, r);
	}
	shm_ring_release(&c);
	assert_true(id > 0);
	assert_int_equal(shm_seg_producer(f->child_seg, &p, SHM_ROLE_SIGNAL, 0, SHM_ROLE_CONTROL, 0), 0);
	const char *txt = "{\"calls\":3}";
	assert_int_equal(sbc_msg_push_text(&p, SBC_MSG_STATS_REPLY, id, txt, (uint32_t)strlen(txt)), 0);
	/* A malformed reply from the same worker after it is ignored (already answered). */
	assert_int_equal(sbc_msg_push_text(&p, SBC_MSG_STATS_REPLY, id, "nope", 4), 0);
	uint64_t t0 = uv_now(&f->loop);
	while (!f->stats)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_update_time(&f->loop);
	assert_true(uv_now(&f->loop) - t0 >= 250); /* waited for the silent worker */
	json_t *sig = json_object_get(f->stats, "signal");
	assert_int_equal(json_array_size(sig), 2);
	json_t *w0 = json_array_get(sig, 0), *w1 = json_array_get(sig, 1);
	assert_true(json_is_true(json_object_get(w0, "available")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(w0, "stats"), "calls")), 3);
	assert_true(json_is_false(json_object_get(w1, "available")));
	assert_string_equal(json_string_value(json_object_get(w1, "error")), "no reply in time");
	json_t *med = json_array_get(json_object_get(f->stats, "media"), 0);
	assert_string_equal(json_string_value(json_object_get(med, "error")), "not running");
	json_decref(f->stats);
	f->stats = NULL;

	/* A child that dies while asked completes the request at once. */
	assert_int_equal(ctl_bus_stats(f->ctx.bus, 10000, stats_cb, f), 0);
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, false);
	assert_non_null(f->stats);
	w0 = json_array_get(json_object_get(f->stats, "signal"), 0);
	assert_string_equal(json_string_value(json_object_get(w0, "error")), "process exited");
}

static void test_bad_messages_counted(void **state)
{
	fixture *f = *state;
	shm_ring_prod p;
	assert_int_equal(shm_seg_producer(f->child_seg, &p, SHM_ROLE_MEDIA, 0, SHM_ROLE_CONTROL, 0), 0);
	uint8_t junk[16] = {0};
	assert_int_equal(shm_ring_push(&p, 60, 1, junk, sizeof(junk)), 0);               /* unknown type */
	assert_int_equal(shm_ring_push(&p, SBC_MSG_HELLO, 99, junk, sizeof(junk)), 0);   /* bad version */
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_MEDIA, 0);
	h.sizes[SBC_MSG_MEDIA_CREATE]++;                                                 /* other build */
	assert_int_equal(shm_ring_push(&p, SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)), 0);
	for (int i = 0; i < 20 && f->ctx.counters.ring_bad_messages < 3; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->ctx.counters.ring_bad_messages, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_segment_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_and_config_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_is_counted_not_blocking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_merge_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_messages_counted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
