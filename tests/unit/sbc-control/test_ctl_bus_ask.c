/* sbc-control: ctl_bus_ask() (COMMAND to the media workers, COMMAND_REPLYs
 * merged with a timeout), with this process playing the media workers. */
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
	shm_seg *child_seg;
	json_t *res;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f || ctb_open(&f->ctx, &f->loop, 1, 2, &f->child_seg) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	ctb_close(&f->ctx, &f->loop, f->child_seg);
	json_decref(f->res);
	free(f);
	return 0;
}

static void ask_cb(json_t *res, void *arg)
{
	fixture *f = arg;
	f->res = res;
}

/* The request id of the last COMMAND on control -> media worker idx (0: none),
 * its text copied to text. */
static uint64_t take_command(fixture *f, unsigned idx, char *text, size_t len)
{
	shm_ring_cons c;
	uint64_t id = 0;
	const shm_rec *r;
	assert_int_equal(shm_seg_consumer(f->child_seg, &c, SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, idx), 0);
	while ((r = shm_ring_peek(&c)) != NULL) {
		if (r->type == SBC_MSG_COMMAND) {
			const sbc_msg_text *t = (const sbc_msg_text *)r->data;
			id = t->request_id;
			snprintf(text, len, "%.*s", (int)t->len, t->text);
		}
		shm_ring_next(&c, r);
	}
	shm_ring_release(&c);
	return id;
}

static void reply(fixture *f, unsigned idx, unsigned type, uint64_t id, const char *txt)
{
	shm_ring_prod p;
	assert_int_equal(shm_seg_producer(f->child_seg, &p, SHM_ROLE_MEDIA, idx, SHM_ROLE_CONTROL, 0), 0);
	assert_int_equal(sbc_msg_push_text(&p, (uint16_t)type, id, txt, (uint32_t)strlen(txt)), 0);
}

static void test_ask_all_media_workers(void **state)
{
	fixture *f = *state;
	char text[256];
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_MEDIA, true);
	const char *cmd = "{\"method\":\"media.stats\"}";
	assert_int_equal(ctl_bus_ask(f->ctx.bus, SHM_ROLE_MEDIA, -1, cmd, strlen(cmd), 5000, ask_cb, f), 0);
	uint64_t id0 = take_command(f, 0, text, sizeof(text));
	assert_string_equal(text, cmd);
	uint64_t id1 = take_command(f, 1, text, sizeof(text));
	assert_true(id0 > 0 && id0 == id1);
	/* A STATS_REPLY with the same id is not the answer; a COMMAND_REPLY is. */
	reply(f, 0, SBC_MSG_STATS_REPLY, id0, "{\"wrong\":1}");
	reply(f, 0, SBC_MSG_COMMAND_REPLY, id0, "{\"sessions\":2}");
	for (int i = 0; i < 50 && !f->res; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_null(f->res); /* worker 1 has not answered */
	reply(f, 1, SBC_MSG_COMMAND_REPLY, id1 + 1000, "{\"sessions\":9}"); /* someone else's */
	reply(f, 1, SBC_MSG_COMMAND_REPLY, id1, "{\"sessions\":5}");
	while (!f->res)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_null(json_object_get(f->res, "signal")); /* only the role asked */
	json_t *med = json_object_get(f->res, "media");
	assert_int_equal(json_array_size(med), 2);
	json_t *w0 = json_array_get(med, 0), *w1 = json_array_get(med, 1);
	assert_true(json_is_true(json_object_get(w0, "available")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(w0, "reply"), "sessions")), 2);
	assert_null(json_object_get(json_object_get(w0, "reply"), "wrong"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(w1, "reply"), "sessions")), 5);
	/* the signal ring got nothing */
	shm_ring_cons c;
	assert_int_equal(shm_seg_consumer(f->child_seg, &c, SHM_ROLE_CONTROL, 0, SHM_ROLE_SIGNAL, 0), 0);
	const shm_rec *r;
	while ((r = shm_ring_peek(&c)) != NULL) {
		assert_int_not_equal(r->type, SBC_MSG_COMMAND);
		shm_ring_next(&c, r);
	}
	shm_ring_release(&c);
}

static void test_ask_one_worker_timeout_and_malformed(void **state)
{
	fixture *f = *state;
	char text[256];
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_MEDIA, true);
	const char *cmd = "{\"method\":\"media.sessions\",\"offset\":3}";
	assert_int_equal(ctl_bus_ask(f->ctx.bus, SHM_ROLE_MEDIA, 1, cmd, strlen(cmd), 200, ask_cb, f), 0);
	assert_int_equal(take_command(f, 0, text, sizeof(text)), 0); /* worker 0 not asked */
	uint64_t id = take_command(f, 1, text, sizeof(text));
	assert_true(id > 0);
	assert_string_equal(text, cmd);
	reply(f, 1, SBC_MSG_COMMAND_REPLY, id, "not json");
	while (!f->res)
		uv_run(&f->loop, UV_RUN_ONCE);
	json_t *med = json_object_get(f->res, "media");
	assert_string_equal(json_string_value(json_object_get(json_array_get(med, 0), "error")), "not running");
	assert_string_equal(json_string_value(json_object_get(json_array_get(med, 1), "error")), "malformed reply");
	assert_true(f->ctx.counters.ring_bad_messages >= 1);
	json_decref(f->res);
	f->res = NULL;

	/* silence: the timeout completes it */
	assert_int_equal(ctl_bus_ask(f->ctx.bus, SHM_ROLE_MEDIA, -1, cmd, strlen(cmd), 100, ask_cb, f), 0);
	uint64_t t0 = uv_now(&f->loop);
	while (!f->res)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_update_time(&f->loop);
	assert_true(uv_now(&f->loop) - t0 >= 80);
	med = json_object_get(f->res, "media");
	assert_string_equal(json_string_value(json_object_get(json_array_get(med, 0), "error")), "no reply in time");
	json_decref(f->res);
	f->res = NULL;

	/* media not running: at once */
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_MEDIA, false);
	assert_int_equal(ctl_bus_ask(f->ctx.bus, SHM_ROLE_MEDIA, -1, cmd, strlen(cmd), 10000, ask_cb, f), 0);
	assert_non_null(f->res);
	med = json_object_get(f->res, "media");
	assert_string_equal(json_string_value(json_object_get(json_array_get(med, 1), "error")), "not running");

	/* too long for one ring message */
	char big[SBC_MSG_TEXT_MAX + 2];
	memset(big, ' ', sizeof(big));
	assert_int_equal(ctl_bus_ask(f->ctx.bus, SHM_ROLE_MEDIA, -1, big, sizeof(big), 100, ask_cb, f), SBC_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ask_all_media_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ask_one_worker_timeout_and_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
