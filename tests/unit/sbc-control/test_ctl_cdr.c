/* sbc-control: call records of an sbc-signal process that ended. Its calls
 * are gone with it and no end event will come: sbc-control ends their
 * records itself after reading what the process left on its rings (a record
 * it ended itself keeps its own end), every open one whatever pid its HELLO
 * named; a successor is spawned only afterwards, so its calls are its own.
 * Long calls stay in the table however many short ones follow. This
 * process plays the signal workers on the other end of the rings. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/msg.h"
#include "sbc/shm.h"
#include "../../../sbc-control/src/ctl_bus.h"
#include "../../../sbc-control/src/ctl_cdr.h"
#include "../../../sbc-control/src/ctl_methods.h"
#include "ctl_bus_testutil.h"

#define OLD_PID 4001
#define NEW_PID 4002

typedef struct fixture {
	ctl_ctx ctx;
	uv_loop_t loop;
	shm_seg *child_seg;
	shm_ring_prod to_ctl[2]; /* signal worker i -> control */
	char dir[64];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f || ctb_open(&f->ctx, &f->loop, 2, 1, &f->child_seg) != 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sbc-test-cdr-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->ctx.cfg.data_dir, sizeof(f->ctx.cfg.data_dir), "%s", f->dir);
	for (unsigned w = 0; w < 2; w++)
		if (shm_seg_producer(f->child_seg, &f->to_ctl[w], SHM_ROLE_SIGNAL, w, SHM_ROLE_CONTROL, 0) != 0)
			return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char path[128];
	ctb_close(&f->ctx, &f->loop, f->child_seg);
	ctl_cdr_free();
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cdr.jsonl.1", f->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/file", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Worker w of process pid says HELLO, as each worker thread does first. */
static void hello(fixture *f, unsigned w, pid_t pid)
{
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, w);
	h.pid = (uint32_t)pid;
	assert_int_equal(shm_ring_push(&f->to_ctl[w], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)), 0);
}

static void event(fixture *f, unsigned w, const char *kind, const char *id, const char *extra)
{
	char text[512];
	int n = snprintf(text, sizeof(text),
			 "{\"event\":\"%s\",\"id\":\"%s\",\"time_ms\":1700000000500,\"start_ms\":1700000000000,"
			 "\"trunk_in\":\"carrier-a\",\"trunk_out\":\"carrier-b\",\"to\":\"4930123\"%s}",
			 kind, id, extra ? extra : "");
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(sbc_msg_push_text(&f->to_ctl[w], SBC_MSG_CALL_EVENT, 0, text, (uint32_t)n), 0);
}

/* Lets the bus read everything pushed so far (the doorbell wakes it). */
static void pump(fixture *f)
{
	for (int i = 0; i < 20; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
}

static json_t *call_get(fixture *f, const char *id)
{
	json_t *params = json_pack("{s:s}", "id", id), *res = NULL;
	ctl_rpc_err err = {0};
	int ret = ctl_m_call_get(&f->ctx, NULL, params, &res, &err);
	json_decref(params);
	return ret == CTL_RPC_OK ? res : NULL;
}

static const char *state_of(json_t *rec) { return json_string_value(json_object_get(rec, "state")); }

/* call.list ids, newest first, space-separated; active only if asked. */
static void list_ids(fixture *f, int active, char *out, size_t len)
{
	json_t *params = json_pack("{s:b}", "active", active), *res = NULL;
	ctl_rpc_err err = {0};
	assert_int_equal(ctl_m_call_list(&f->ctx, NULL, params, &res, &err), CTL_RPC_OK);
	json_t *calls = json_object_get(res, "calls"), *c;
	size_t i;
	out[0] = '\0';
	json_array_foreach(calls, i, c) {
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s", used ? " " : "", json_string_value(json_object_get(c, "id")));
	}
	json_decref(params);
	json_decref(res);
}

/* The cdr.jsonl lines that are end events, as "<id>:<cause>:<reason>" joined
 * by '|'. */
static void end_lines(fixture *f, char *out, size_t len)
{
	char path[128], line[2048];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	out[0] = '\0';
	while (fgets(line, sizeof(line), fp)) {
		json_error_t je;
		json_t *ev = json_loads(line, 0, &je);
		assert_non_null(ev);
		if (!strcmp(json_string_value(json_object_get(ev, "event")), "end")) {
			size_t used = strlen(out);
			const char *why = json_string_value(json_object_get(ev, "reason"));
			snprintf(out + used, len - used, "%s%s:%lld:%s", used ? "|" : "",
				 json_string_value(json_object_get(ev, "id")),
				 (long long)json_integer_value(json_object_get(ev, "cause")), why ? why : "");
			/* an end line has the times of a normal one */
			assert_true(json_integer_value(json_object_get(ev, "time_ms")) > 0);
			assert_true(json_integer_value(json_object_get(ev, "start_ms")) > 0);
		}
		json_decref(ev);
	}
	fclose(fp);
}

static void test_dead_process_calls_ended(void **state)
{
	fixture *f = *state;
	char got[1024];

	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	hello(f, 0, OLD_PID);
	hello(f, 1, OLD_PID);
	event(f, 0, "start", "0-a1", NULL);
	event(f, 0, "answer", "0-a1", ",\"answer_ms\":1700000000400");
	event(f, 1, "start", "1-b1", NULL); /* still ringing */
	event(f, 0, "start", "0-c1", NULL);
	event(f, 0, "end", "0-c1", ",\"cause\":486,\"reason\":\"busy\"");
	pump(f);
	json_t *a = call_get(f, "0-a1");
	assert_string_equal(state_of(a), "answered");
	assert_int_equal(json_integer_value(json_object_get(a, "signal_pid")), OLD_PID);
	json_decref(a);

	/* Published by the old process before it died but not read yet: its
	 * last answer, and an end of its own that must not be overwritten. */
	event(f, 1, "answer", "1-b1", ",\"answer_ms\":1700000000600");
	event(f, 0, "start", "0-d1", NULL);
	event(f, 0, "end", "0-d1", ",\"cause\":200,\"reason\":\"BYE from caller\"");
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, false);
	ctl_bus_child_exited(f->ctx.bus, SHM_ROLE_SIGNAL, OLD_PID,
			     "sbc-signal exited (killed by signal 9 (Killed)): call state lost");
	/* the successor starts only now (ctl_super.c spawns it after the
	 * close-out): its calls are its own */
	hello(f, 0, NEW_PID);
	event(f, 0, "start", "0-e2", NULL);
	event(f, 0, "answer", "0-e2", ",\"answer_ms\":1700000001000");
	pump(f);

	a = call_get(f, "0-a1");
	assert_non_null(a);
	assert_string_equal(state_of(a), "ended");
	assert_int_equal(json_integer_value(json_object_get(a, "cause")), CTL_CDR_LOST_CAUSE);
	assert_string_equal(json_string_value(json_object_get(a, "reason")),
			    "sbc-signal exited (killed by signal 9 (Killed)): call state lost");
	assert_int_equal(json_integer_value(json_object_get(a, "answer_ms")), 1700000000400);
	assert_string_equal(json_string_value(json_object_get(a, "trunk_out")), "carrier-b");
	json_decref(a);
	json_t *b = call_get(f, "1-b1");
	assert_string_equal(state_of(b), "ended");
	assert_int_equal(json_integer_value(json_object_get(b, "answer_ms")), 1700000000600); /* read first */
	assert_int_equal(json_integer_value(json_object_get(b, "worker")), 1);
	json_decref(b);
	json_t *d = call_get(f, "0-d1");
	assert_int_equal(json_integer_value(json_object_get(d, "cause")), 200); /* its own end kept */
	json_decref(d);
	json_t *e = call_get(f, "0-e2");
	assert_string_equal(state_of(e), "answered"); /* the successor's call untouched */
	assert_int_equal(json_integer_value(json_object_get(e, "signal_pid")), NEW_PID);
	json_decref(e);

	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "0-e2");
	list_ids(f, 0, got, sizeof(got)); /* ended calls stay listed (rings read in worker order) */
	assert_string_equal(got, "0-e2 0-d1 1-b1 0-c1 0-a1");
	end_lines(f, got, sizeof(got));
	assert_string_equal(got, "0-c1:486:busy|0-d1:200:BYE from caller|"
				 "0-a1:500:sbc-signal exited (killed by signal 9 (Killed)): call state lost|"
				 "1-b1:500:sbc-signal exited (killed by signal 9 (Killed)): call state lost");

	/* call.hangup: an error for the dead process's call, naming why it
	 * ended; the successor's call is asked of its worker */
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	json_t *params = json_pack("{s:s}", "id", "0-a1"), *res = NULL;
	ctl_rpc_err err = {0};
	assert_int_equal(ctl_m_call_hangup(&f->ctx, NULL, params, &res, &err), CTL_RPC_FAIL);
	assert_int_equal(err.code, CTL_RPC_NOT_FOUND);
	assert_non_null(strstr(err.msg, "has ended (sbc-signal exited"));
	assert_null(res);
	json_decref(params);
	params = json_pack("{s:s}", "id", "0-e2");
	assert_int_equal(ctl_m_call_hangup(&f->ctx, NULL, params, &res, &err), CTL_RPC_OK);
	assert_true(json_is_true(json_object_get(res, "requested")));
	json_decref(res);
	json_decref(params);

	/* The successor's own death ends its call, and nothing else again. */
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, false);
	ctl_bus_child_exited(f->ctx.bus, SHM_ROLE_SIGNAL, NEW_PID, "sbc-signal exited (exit 1): call state lost");
	e = call_get(f, "0-e2");
	assert_string_equal(state_of(e), "ended");
	json_decref(e);
	end_lines(f, got, sizeof(got));
	assert_non_null(strstr(got, "|0-e2:500:sbc-signal exited (exit 1): call state lost"));
	assert_null(strstr(strstr(got, "|0-e2:") + 1, "|")); /* the last line, and the only new one */
}

static void test_media_exit_ends_no_call(void **state)
{
	fixture *f = *state;
	char got[256];
	hello(f, 0, OLD_PID);
	event(f, 0, "start", "0-f1", NULL);
	pump(f);
	/* sbc-media's death does not end calls: sbc-signal still holds them */
	ctl_bus_child_exited(f->ctx.bus, SHM_ROLE_MEDIA, OLD_PID, "sbc-media exited (exit 1): call state lost");
	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "0-f1");
	ctl_bus_child_exited(f->ctx.bus, SHM_ROLE_SIGNAL, OLD_PID, "sbc-signal exited (exit 1): call state lost");
	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "");
}

/* The pid waitpid reaps is not the HELLO's (a --signal-bin wrapper that
 * forks, a garbled HELLO): the records are ended all the same (every open
 * record is the dead process's: no successor runs yet), and keep the HELLO's
 * pid as information. Fails before: nothing was ended. */
static void test_wrapper_pid_calls_ended(void **state)
{
	fixture *f = *state;
	char got[512];
	hello(f, 0, OLD_PID);
	event(f, 0, "start", "0-g1", NULL);
	event(f, 1, "start", "1-h1", NULL); /* before any HELLO on its ring */
	pump(f);
	ctl_bus_child_exited(f->ctx.bus, SHM_ROLE_SIGNAL, NEW_PID, "sbc-signal exited (exit 1): call state lost");
	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "");
	json_t *g = call_get(f, "0-g1");
	assert_string_equal(state_of(g), "ended");
	assert_int_equal(json_integer_value(json_object_get(g, "signal_pid")), OLD_PID);
	json_decref(g);
	end_lines(f, got, sizeof(got));
	assert_string_equal(got, "0-g1:500:sbc-signal exited (exit 1): call state lost|"
				 "1-h1:500:sbc-signal exited (exit 1): call state lost");
}

/* One answered call, then more than CTL_CDR_KEEP short calls (at 50 calls/s
 * that call is 200 s old): its record is kept, and a death ends it. Fails
 * before: the table kept the newest CTL_CDR_KEEP records, open or not. */
static void test_long_call_kept(void **state)
{
	fixture *f = *state;
	char got[512], id[32];
	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, true);
	hello(f, 0, OLD_PID);
	event(f, 0, "start", "0-10ng", NULL);
	event(f, 0, "answer", "0-10ng", ",\"answer_ms\":1700000000400");
	pump(f);
	unsigned total = CTL_CDR_KEEP + CTL_CDR_KEEP / 2;
	for (unsigned i = 0; i < total; i++) {
		snprintf(id, sizeof(id), "0-%x", 0x100000 + i);
		event(f, 0, "start", id, NULL);
		event(f, 0, "end", id, ",\"cause\":200,\"reason\":\"BYE from caller\"");
		if (i % 32 == 31)
			pump(f); /* the ring holds a few dozen */
	}
	pump(f);
	json_t *l = call_get(f, "0-10ng");
	assert_non_null(l);
	assert_string_equal(state_of(l), "answered");
	json_decref(l);
	/* the newest short calls are kept, the oldest ones evicted */
	snprintf(id, sizeof(id), "0-%x", 0x100000 + total - 1);
	l = call_get(f, id);
	assert_non_null(l);
	json_decref(l);
	assert_null(call_get(f, "0-100000"));
	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "0-10ng");

	ctl_bus_child_alive(f->ctx.bus, SHM_ROLE_SIGNAL, false);
	ctl_bus_child_exited(f->ctx.bus, SHM_ROLE_SIGNAL, OLD_PID, "sbc-signal exited (exit 1): call state lost");
	l = call_get(f, "0-10ng");
	assert_string_equal(state_of(l), "ended");
	assert_int_equal(json_integer_value(json_object_get(l, "cause")), CTL_CDR_LOST_CAUSE);
	json_decref(l);
	/* its end is cdr.jsonl's last line */
	char path[128], line[2048], last[2048] = "";
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		memcpy(last, line, sizeof(last));
	fclose(fp);
	assert_non_null(strstr(last, "\"id\":\"0-10ng\""));
	assert_non_null(strstr(last, "\"event\":\"end\""));
	assert_non_null(strstr(last, "\"cause\":500"));
}

/* The close-out writes its batch of end lines with one open of cdr.jsonl,
 * not one per call (10000 calls took 173 ms on the loop, before the
 * successor starts). inotify counts the opens. Fails before: 50 opens. */
static void test_close_out_one_open(void **state)
{
	fixture *f = *state;
	char id[32];
	hello(f, 0, OLD_PID);
	for (unsigned i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "0-%x", 0x200 + i);
		event(f, 0, "start", id, NULL);
		if (i % 32 == 31)
			pump(f);
	}
	pump(f);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		skip();
	assert_true(inotify_add_watch(in, f->dir, IN_OPEN | IN_CLOSE_WRITE | IN_MODIFY) >= 0);
	assert_int_equal(ctl_cdr_signal_gone(&f->ctx, OLD_PID, "sbc-signal exited (exit 1): call state lost"), 50);
	char buf[64 * (sizeof(struct inotify_event) + 32)] __attribute__((aligned(8)));
	unsigned opens = 0, closes = 0, writes = 0;
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			opens += !!(e->mask & IN_OPEN);
			closes += !!(e->mask & IN_CLOSE_WRITE);
			writes += !!(e->mask & IN_MODIFY);
			p += sizeof(*e) + e->len;
		}
	close(in);
	/* cdr.jsonl stays open from the start events: the 50 end lines are
	 * written (inotify merges repeated IN_MODIFY, so not counted) with
	 * no open or close */
	assert_int_equal(opens, 0);
	assert_int_equal(closes, 0);
	assert_true(writes >= 1);
	char got[64];
	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "");
}

/* The lines of file name in f->dir as "<event>:<id>" joined by ' ' (every
 * line whole JSON ending in '\n'); "" if there is no such file. */
static void file_events(fixture *f, const char *name, char *out, size_t len)
{
	char path[128], line[2048];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	out[0] = '\0';
	FILE *fp = fopen(path, "r");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		assert_true(strlen(line) > 0 && line[strlen(line) - 1] == '\n');
		json_error_t je;
		json_t *ev = json_loads(line, 0, &je);
		assert_non_null(ev);
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s:%s", used ? " " : "",
			 json_string_value(json_object_get(ev, "event")), json_string_value(json_object_get(ev, "id")));
		json_decref(ev);
	}
	fclose(fp);
}

/* start, answer, end of call id on worker 0, read by the bus */
static void one_call(fixture *f, const char *id)
{
	event(f, 0, "start", id, NULL);
	event(f, 0, "answer", id, NULL);
	event(f, 0, "end", id, ",\"cause\":200");
	pump(f);
}

/* inotify events on the fixture's directory since the last call, counted
 * (repeated IN_MODIFY not read yet are merged into one by the kernel). */
static void drain(int in, unsigned *opens, unsigned *closes, unsigned *writes)
{
	char buf[64 * (sizeof(struct inotify_event) + 32)] __attribute__((aligned(8)));
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			*opens += !!(e->mask & IN_OPEN);
			*closes += !!(e->mask & IN_CLOSE_WRITE);
			*writes += !!(e->mask & IN_MODIFY);
			p += sizeof(*e) + e->len;
		}
}

/* One line per event, in order, each written when its event is applied, on
 * one fd opened once. */
static void test_lines_one_write_each(void **state)
{
	fixture *f = *state;
	hello(f, 0, OLD_PID);
	pump(f);
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		skip();
	assert_true(inotify_add_watch(in, f->dir, IN_OPEN | IN_CLOSE_WRITE | IN_MODIFY) >= 0);
	static const char *const kinds[] = { "start", "answer", "end" };
	unsigned opens = 0, closes = 0, writes = 0;
	for (unsigned c = 0; c < 2; c++)
		for (unsigned k = 0; k < 3; k++) {
			unsigned before = writes;
			event(f, 0, kinds[k], c ? "0-a2" : "0-a1", k == 2 ? ",\"cause\":200" : NULL);
			pump(f);
			drain(in, &opens, &closes, &writes);
			assert_int_equal(writes, before + 1); /* on disk at once, not held */
		}
	close(in);
	assert_int_equal(opens, 1);
	assert_int_equal(closes, 0);
	char got[512];
	file_events(f, "cdr.jsonl", got, sizeof(got));
	assert_string_equal(got, "start:0-a1 answer:0-a1 end:0-a1 start:0-a2 answer:0-a2 end:0-a2");
	assert_int_equal(f->ctx.counters.cdr_write_errors, 0);
	ctl_cdr_free(); /* closes it */
	file_events(f, "cdr.jsonl", got, sizeof(got));
	assert_string_equal(got, "start:0-a1 answer:0-a1 end:0-a1 start:0-a2 answer:0-a2 end:0-a2");
}

/* Operator rotates cdr.jsonl (mv, or rm): lines keep going to the old file
 * until the once-a-second check, then to a new cdr.jsonl; none lost or
 * split. */
static void rotated(fixture *f, int by_rename)
{
	char path[128], moved[128], got[512];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	snprintf(moved, sizeof(moved), "%s/cdr.jsonl.1", f->dir);
	hello(f, 0, OLD_PID);
	one_call(f, "0-b1");
	assert_int_equal(by_rename ? rename(path, moved) : unlink(path), 0);
	usleep(1100 * 1000); /* past the check interval */
	one_call(f, "0-b2");
	file_events(f, "cdr.jsonl", got, sizeof(got));
	assert_string_equal(got, "start:0-b2 answer:0-b2 end:0-b2");
	file_events(f, "cdr.jsonl.1", got, sizeof(got));
	assert_string_equal(got, by_rename ? "start:0-b1 answer:0-b1 end:0-b1" : "");
	assert_int_equal(f->ctx.counters.cdr_write_errors, 0);
	json_t *rec = call_get(f, "0-b2");
	assert_string_equal(state_of(rec), "ended");
	json_decref(rec);
}

static void test_rotated_by_rename(void **state) { rotated(*state, 1); }
static void test_rotated_by_delete(void **state) { rotated(*state, 0); }

/* rm between two events, no pause: the next line goes to a new cdr.jsonl
 * at once (the deleted file's is seen on every write), not into the
 * deleted file for up to a second. */
static void test_deleted_next_line_kept(void **state)
{
	fixture *f = *state;
	char path[128], got[512];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	hello(f, 0, OLD_PID);
	event(f, 0, "start", "0-d1", NULL);
	pump(f);
	assert_int_equal(unlink(path), 0);
	event(f, 0, "end", "0-d1", ",\"cause\":200");
	pump(f);
	file_events(f, "cdr.jsonl", got, sizeof(got));
	assert_string_equal(got, "end:0-d1");
}

/* A write that stops short (file size limit: EFBIG, as a full disk gives
 * ENOSPC) leaves part of a line: it is counted, and the next record starts
 * on a line of its own, whole. */
static void test_short_write_next_line_whole(void **state)
{
	fixture *f = *state;
	char path[128], buf[4096];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	hello(f, 0, OLD_PID);
	event(f, 0, "start", "0-s1", NULL);
	pump(f);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 20; /* the next line stops after 20 bytes */
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	event(f, 0, "answer", "0-s1", NULL);
	pump(f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, was);
	assert_int_equal(f->ctx.counters.cdr_write_errors, 1);
	event(f, 0, "end", "0-s1", ",\"cause\":200");
	pump(f);
	assert_int_equal(f->ctx.counters.cdr_write_errors, 1);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* start, 20 bytes of the answer, end */
	char *l1 = buf, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
	assert_int_equal(l3 - l2, 21);
	assert_non_null(strstr(l1, "\"start\""));
	assert_int_equal(buf[n - 1], '\n');
	buf[n - 1] = '\0';
	json_error_t je;
	json_t *end = json_loads(l3, 0, &je);
	assert_non_null(end);
	assert_string_equal(json_string_value(json_object_get(end, "event")), "end");
	json_decref(end);
}

/* data_dir/cdr.jsonl cannot be created (data_dir is a file: fails as root
 * too): one warning naming the path and errno, every line counted, and the
 * record table still has the call. */
static void test_unwritable_dir(void **state)
{
	fixture *f = *state;
	char file[128], logp[128];
	snprintf(file, sizeof(file), "%s/file", f->dir);
	FILE *fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(f->ctx.cfg.data_dir, sizeof(f->ctx.cfg.data_dir), "%s", file);
	/* the warnings go to stderr: capture them in a file */
	snprintf(logp, sizeof(logp), "%s/cdr.jsonl.1", f->dir);
	int lfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(lfd >= 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0 && dup2(lfd, STDERR_FILENO) == STDERR_FILENO);
	hello(f, 0, OLD_PID);
	one_call(f, "0-c1");
	one_call(f, "0-c2");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(lfd);
	assert_int_equal(f->ctx.counters.cdr_write_errors, 6);
	json_t *rec = call_get(f, "0-c2");
	assert_non_null(rec);
	assert_string_equal(state_of(rec), "ended");
	json_decref(rec);
	char log[4096] = "";
	fp = fopen(logp, "r");
	assert_non_null(fp);
	size_t n = fread(log, 1, sizeof(log) - 1, fp);
	log[n] = '\0';
	fclose(fp);
	char want[160];
	snprintf(want, sizeof(want), "%s/cdr.jsonl", file);
	const char *hit = strstr(log, want);
	assert_non_null(hit);
	assert_non_null(strstr(log, strerror(ENOTDIR)));
	/* rate-limited: one warning for the six lines lost */
	assert_null(strstr(hit + 1, want));
	/* data_dir changed (back) to a writable one: its cdr.jsonl opened at
	 * once for the next line */
	snprintf(f->ctx.cfg.data_dir, sizeof(f->ctx.cfg.data_dir), "%s", f->dir);
	one_call(f, "0-c3");
	char got[256];
	file_events(f, "cdr.jsonl", got, sizeof(got));
	assert_string_equal(got, "start:0-c3 answer:0-c3 end:0-c3");
	assert_int_equal(f->ctx.counters.cdr_write_errors, 6);
}

/* ---- cdr.jsonl read back at start (ctl_cdr_recover) ---- */

#define BOOT_REASON "sbc-control restarted: call state lost (previous sbc-control did not end its calls)"

static void write_file(fixture *f, const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* A cdr.jsonl line as ctl_cdr_event writes it. */
static int rec_line(char *out, size_t len, const char *kind, const char *id, const char *extra)
{
	return snprintf(out, len,
			"{\"event\":\"%s\",\"id\":\"%s\",\"time_ms\":1700000000500,\"start_ms\":1700000000000,"
			"\"trunk_in\":\"carrier-a\",\"trunk_out\":\"carrier-b\",\"to\":\"4930123\"%s,\"worker\":1,"
			"\"signal_pid\":%d}\n", kind, id, extra ? extra : "", OLD_PID);
}

/* The end lines of cdr.jsonl that parse, "<id>:<cause>:<reason>" joined by
 * '|' (bad lines skipped, unlike end_lines); *bad: lines that do not. */
static void parsed_ends(fixture *f, char *out, size_t len, unsigned *bad)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *ln = NULL;
	size_t cap = 0;
	out[0] = '\0';
	*bad = 0;
	while (getline(&ln, &cap, fp) > 0) {
		if (ln[0] == '\n')
			continue; /* empty: not a line */
		json_error_t je;
		json_t *ev = json_loads(ln, 0, &je);
		const char *kind = json_string_value(json_object_get(ev, "event"));
		if (!kind || !json_is_string(json_object_get(ev, "id"))) {
			(*bad)++;
		} else if (!strcmp(kind, "end")) {
			size_t used = strlen(out);
			const char *why = json_string_value(json_object_get(ev, "reason"));
			snprintf(out + used, len - used, "%s%s:%lld:%s", used ? "|" : "",
				 json_string_value(json_object_get(ev, "id")),
				 (long long)json_integer_value(json_object_get(ev, "cause")), why ? why : "");
		}
		json_decref(ev);
	}
	free(ln);
	fclose(fp);
}

/* Runs fn's recovery with stderr captured into log (NUL-terminated). */
static int recover_logged(fixture *f, size_t max_open, ctl_cdr_recovery *r, char *log, size_t len)
{
	char logp[128];
	snprintf(logp, sizeof(logp), "%s/file", f->dir);
	int lfd = open(logp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(lfd >= 0);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0 && dup2(lfd, STDERR_FILENO) == STDERR_FILENO);
	int ret = x__ctl_cdr_recover(&f->ctx, BOOT_REASON, max_open, r);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(lfd, log, len - 1, 0);
	log[n > 0 ? n : 0] = '\0';
	close(lfd);
	return ret;
}

/* Calls left open by a dead sbc-control (start, or start and answer, no
 * end after) get an end line each, with their merged fields, and are ended
 * in call.get; closed ones (an end, two ends, an end after a restart of the
 * id) get none; bad lines (garbage, a partial line in the middle, an "id"
 * that is not top-level, JSON that is not an object) are skipped and
 * counted in one warning. Fails before: nothing read back. */
static void test_recover_ends_open_calls(void **state)
{
	fixture *f = *state;
	char text[8192] = "", got[2048], log[4096];
	size_t k = 0;
#define L(kind, id, extra) k += (size_t)rec_line(text + k, sizeof(text) - k, kind, id, extra)
#define RAW(s) k += (size_t)snprintf(text + k, sizeof(text) - k, "%s", s)
	L("start", "1-a1", NULL);
	L("start", "1-b1", NULL);
	L("answer", "1-a1", ",\"answer_ms\":1700000000400,\"srtp_in\":\"AES_CM_128_HMAC_SHA1_80\"");
	L("end", "1-b1", ",\"cause\":486,\"reason\":\"busy\"");
	RAW("garbage that is no json\n");
	RAW("{\"event\":\"end\",\"id\":\"1-a1\",\"time_ms\":17000\n"); /* a partial line: no end */
	RAW("{\"x\":{\"event\":\"end\",\"id\":\"1-a1\"}}\n");          /* not top-level */
	RAW("[\"event\",\"end\",\"id\",\"1-a1\"]\n");
	RAW("{\"event\":\"end\",\"id\":\"1-zz\",\"from\":\"\\\"id\\\":\\\"1-a1\\\"\"}\n"); /* id in a string */
	RAW("{\"event\":\"end\",\"id\":1}\n");
	L("start", "1-c1", NULL); /* ended twice */
	L("end", "1-c1", ",\"cause\":200,\"reason\":\"BYE from caller\"");
	L("end", "1-c1", ",\"cause\":200,\"reason\":\"BYE from caller\"");
	L("start", "1-d1", NULL); /* ended, then the id again (left open) */
	L("end", "1-d1", ",\"cause\":200");
	L("start", "1-d1", ",\"trunk_in\":\"carrier-x\"");
	RAW("\n"); /* empty: not a line */
	L("start", "1-e1", NULL); /* still ringing */
#undef L
#undef RAW
	write_file(f, "cdr.jsonl", text);

	ctl_cdr_recovery r;
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), 3);
	assert_int_equal(r.open, 3);
	assert_int_equal(r.ended, 3);
	assert_int_equal(r.bad_lines, 5);
	assert_int_equal(r.lines, 17);
	assert_int_equal(r.over_cap, 0);
	assert_int_equal(r.bytes, strlen(text));
	/* one warning for the bad lines, one for the calls ended */
	assert_non_null(strstr(log, "5 bad line(s) of 17 skipped"));
	assert_null(strstr(strstr(log, "bad line(s)") + 1, "bad line(s)"));
	assert_non_null(strstr(log, "3 call(s) left open in"));
	assert_non_null(strstr(log, BOOT_REASON));

	unsigned bad;
	parsed_ends(f, got, sizeof(got), &bad);
	assert_int_equal(bad, 5); /* garbage, partial, nested, array, id 1: the same lines */
	assert_string_equal(got, "1-b1:486:busy|1-zz:0:|1-c1:200:BYE from caller|1-c1:200:BYE from caller|"
				 "1-d1:200:|1-a1:500:" BOOT_REASON "|1-d1:500:" BOOT_REASON "|1-e1:500:" BOOT_REASON);
	json_t *a = call_get(f, "1-a1");
	assert_non_null(a);
	assert_string_equal(state_of(a), "ended");
	assert_int_equal(json_integer_value(json_object_get(a, "cause")), CTL_CDR_LOST_CAUSE);
	assert_string_equal(json_string_value(json_object_get(a, "reason")), BOOT_REASON);
	assert_int_equal(json_integer_value(json_object_get(a, "answer_ms")), 1700000000400); /* merged */
	assert_string_equal(json_string_value(json_object_get(a, "srtp_in")), "AES_CM_128_HMAC_SHA1_80");
	assert_int_equal(json_integer_value(json_object_get(a, "worker")), 1);
	assert_int_equal(json_integer_value(json_object_get(a, "signal_pid")), OLD_PID);
	json_decref(a);
	json_t *d = call_get(f, "1-d1");
	assert_string_equal(json_string_value(json_object_get(d, "trunk_in")), "carrier-x"); /* its latest start */
	assert_int_equal(json_integer_value(json_object_get(d, "cause")), CTL_CDR_LOST_CAUSE);
	json_decref(d);
	assert_null(call_get(f, "1-b1")); /* closed calls are not loaded */
	list_ids(f, 1, got, sizeof(got));
	assert_string_equal(got, "");
	list_ids(f, 0, got, sizeof(got));
	assert_string_equal(got, "1-e1 1-d1 1-a1");

	/* the next start finds nothing open: each call gets one end */
	ctl_cdr_free();
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), 0);
	assert_int_equal(r.open, 0);
	parsed_ends(f, got, sizeof(got), &bad);
	assert_non_null(strstr(got, "|1-e1:500:" BOOT_REASON));
	assert_null(strstr(strstr(got, "|1-e1:500:") + 1, "|"));
	assert_null(strstr(log, "left open in"));
}

/* The last line without its newline: a partial one (a crash in mid-write)
 * is a bad line and our end starts on a line of its own; a whole one
 * counts (it is a line once the next starts with a newline). */
static void test_recover_partial_last_line(void **state)
{
	fixture *f = *state;
	char text[2048], got[1024], log[4096];
	size_t k = 0;
	k += (size_t)rec_line(text + k, sizeof(text) - k, "start", "1-p1", NULL);
	k += (size_t)rec_line(text + k, sizeof(text) - k, "start", "1-p2", NULL);
	k += (size_t)rec_line(text + k, sizeof(text) - k, "end", "1-p2", ",\"cause\":200");
	snprintf(text + k, sizeof(text) - k, "{\"event\":\"end\",\"id\":\"1-p1\",\"cau");
	write_file(f, "cdr.jsonl", text);
	ctl_cdr_recovery r;
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), 1);
	assert_int_equal(r.bad_lines, 1);
	assert_int_equal(r.lines, 4);
	unsigned bad;
	parsed_ends(f, got, sizeof(got), &bad);
	assert_int_equal(bad, 1);
	assert_string_equal(got, "1-p2:200:|1-p1:500:" BOOT_REASON);

	/* whole, no newline: its end counts; nothing ended, nothing written */
	ctl_cdr_free();
	text[k - 1] = '\0'; /* the p2 end line loses its newline, the partial line goes */
	write_file(f, "cdr.jsonl", text);
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), 1);
	assert_int_equal(r.bad_lines, 0);
	assert_int_equal(r.lines, 3);
	parsed_ends(f, got, sizeof(got), &bad);
	assert_int_equal(bad, 0);
	assert_string_equal(got, "1-p2:200:|1-p1:500:" BOOT_REASON);
}

/* Many calls, a tenth left open: each of those ended, in the order of
 * their first lines; a line longer than the read buffer is a bad line and
 * what follows it is read. With a cap on the open ids kept: those past it
 * are counted and logged, the others ended. */
static void test_recover_many_calls(void **state)
{
	fixture *f = *state;
	enum { N = 20000 };
	char path[128], line[512], id[32], log[4096];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	/* calls overlap: call i starts, call i-50 answers, call i-100 ends */
	for (unsigned i = 0; i < N + 100; i++) {
		if (i < N) {
			snprintf(id, sizeof(id), "0-%x", 0x100000 + i);
			rec_line(line, sizeof(line), "start", id, NULL);
			fputs(line, fp);
		}
		if (i == N / 2) { /* 2 MiB of a line */
			fputs("{\"event\":\"end\",\"id\":\"0-100000\",\"pad\":\"", fp);
			for (unsigned j = 0; j < 2048; j++)
				fprintf(fp, "%01024u", j);
			fputs("\"}\n", fp);
		}
		if (i >= 50 && i - 50 < N) {
			snprintf(id, sizeof(id), "0-%x", 0x100000 + i - 50);
			rec_line(line, sizeof(line), "answer", id, ",\"answer_ms\":1700000000400");
			fputs(line, fp);
		}
		if (i >= 100 && (i - 100) % 10 != 7) {
			snprintf(id, sizeof(id), "0-%x", 0x100000 + i - 100);
			rec_line(line, sizeof(line), "end", id, ",\"cause\":200");
			fputs(line, fp);
		}
	}
	assert_int_equal(fclose(fp), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	off_t before = st.st_size;

	ctl_cdr_recovery r;
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), N / 10);
	assert_int_equal(r.bad_lines, 1);
	assert_int_equal(r.lines, 3 * N - N / 10 + 1); /* starts, answers, ends, the long one */
	/* memory follows the calls open at once (100 overlapping, and those
	 * left open), not the 60000 lines read */
	assert_true(r.peak_open >= N / 10 && r.peak_open <= N / 10 + 101);
	/* the end lines appended, in order: calls 7, 17, 27, ... */
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_int_equal(fseeko(fp, before, SEEK_SET), 0);
	unsigned n = 0;
	while (fgets(line, sizeof(line), fp)) {
		json_error_t je;
		json_t *ev = json_loads(line, 0, &je);
		assert_non_null(ev);
		snprintf(id, sizeof(id), "0-%x", 0x100000 + 10 * n + 7);
		assert_string_equal(json_string_value(json_object_get(ev, "id")), id);
		assert_int_equal(json_integer_value(json_object_get(ev, "cause")), CTL_CDR_LOST_CAUSE);
		assert_int_equal(json_integer_value(json_object_get(ev, "answer_ms")), 1700000000400);
		json_decref(ev);
		n++;
	}
	fclose(fp);
	assert_int_equal(n, N / 10);
	/* the latest are in the table, ended */
	snprintf(id, sizeof(id), "0-%x", 0x100000 + N - 3);
	json_t *rec = call_get(f, id);
	assert_non_null(rec);
	assert_string_equal(state_of(rec), "ended");
	json_decref(rec);

	/* capped: 100 ids kept at once (about 100 open at any time here, plus
	 * the ones left open): the ids past it are not ended, and logged */
	ctl_cdr_free();
	assert_int_equal(truncate(path, before), 0);
	int got = recover_logged(f, 150, &r, log, sizeof(log));
	assert_true(got > 0 && got <= 150);
	assert_true(r.over_cap > 0);
	assert_non_null(strstr(log, "more than 150 calls open at once"));
}

/* No cdr.jsonl: nothing to do, no file made. */
static void test_recover_no_file(void **state)
{
	fixture *f = *state;
	char path[128], log[1024];
	ctl_cdr_recovery r;
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), 0);
	assert_int_equal(r.bytes, 0);
	assert_string_equal(log, "");
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* cdr.jsonl cannot be read (a directory, a symlink loop: fail as root
 * too; mode 0 unless root): an error naming the path and errno, nothing
 * ended, and call events are recorded after it as before. */
static void test_recover_unreadable(void **state)
{
	fixture *f = *state;
	char path[128], want[256], log[4096];
	ctl_cdr_recovery r;
	snprintf(path, sizeof(path), "%s/cdr.jsonl", f->dir);

	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), -EISDIR);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(EISDIR));
	assert_non_null(strstr(log, want));
	assert_int_equal(rmdir(path), 0);

	assert_int_equal(symlink("cdr.jsonl", path), 0);
	assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), -ELOOP);
	snprintf(want, sizeof(want), "%s: open: %s", path, strerror(ELOOP));
	assert_non_null(strstr(log, want));
	assert_int_equal(unlink(path), 0);

	if (geteuid() != 0) {
		char text[512];
		rec_line(text, sizeof(text), "start", "1-u1", NULL);
		write_file(f, "cdr.jsonl", text);
		assert_int_equal(chmod(path, 0), 0);
		assert_int_equal(recover_logged(f, CTL_CDR_OPEN_MAX, &r, log, sizeof(log)), -EACCES);
		snprintf(want, sizeof(want), "%s: open: %s", path, strerror(EACCES));
		assert_non_null(strstr(log, want));
		assert_int_equal(unlink(path), 0);
	}
	/* events go on as before */
	hello(f, 0, OLD_PID);
	one_call(f, "0-u2");
	char got[256];
	file_events(f, "cdr.jsonl", got, sizeof(got));
	assert_string_equal(got, "start:0-u2 answer:0-u2 end:0-u2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dead_process_calls_ended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_media_exit_ends_no_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrapper_pid_calls_ended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_call_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_out_one_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_one_write_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotated_by_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotated_by_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_next_line_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_write_next_line_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_ends_open_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_partial_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_many_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_no_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_unreadable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
