/* sbc-control — call records and call.* methods (see ctl_cdr.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sbc/clock.h"
#include "sbc/log.h"
#include "ctl_bus.h"
#include "ctl_cdr.h"
#include "ctl_methods.h"

static json_t *g_calls; /* id -> merged record */
static json_t *g_order; /* ids, oldest first */
static size_t g_open;   /* records in g_calls not ended */
static size_t g_compact_at; /* g_order's size that triggers cdr_compact() */

void ctl_cdr_free(void)
{
	json_decref(g_calls);
	json_decref(g_order);
	g_calls = g_order = NULL;
	g_open = g_compact_at = 0;
}

static FILE *cdr_open(ctl_ctx *ctx, char *path, size_t len)
{
	snprintf(path, len, "%s/cdr.jsonl", ctx->cfg.data_dir);
	FILE *f = fopen(path, "ae");
	if (!f)
		SBC_WARN("call records: %s: %s", path, strerror(errno));
	return f;
}

static void cdr_close(FILE *f, const char *path)
{
	if (f && fclose(f) != 0)
		SBC_WARN("call records: %s: %s", path, strerror(errno));
}

static int is_ended(json_t *rec)
{
	const char *state = json_string_value(json_object_get(rec, "state"));
	return state && !strcmp(state, "ended");
}

/* Shrinks the table to CTL_CDR_KEEP records in one walk: the oldest ended
 * records go first, and an open one only past CTL_CDR_OPEN_MAX (its end
 * could not be written when its process dies: logged). Run every
 * CTL_CDR_KEEP / 4 new records rather than per record, so that a table
 * full of long calls costs no walk per call. */
static void cdr_compact(void)
{
	size_t n = json_array_size(g_order), drop_ended = 0, drop_open = 0;
	if (n > CTL_CDR_KEEP)
		drop_ended = n - CTL_CDR_KEEP;
	if (g_open > CTL_CDR_OPEN_MAX)
		drop_open = g_open - CTL_CDR_OPEN_MAX;
	json_t *keep = json_array();
	size_t dropped_open = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *id = json_array_get(g_order, i);
		json_t *rec = json_object_get(g_calls, json_string_value(id));
		int ended = is_ended(rec);
		if (!rec)
			continue; /* no record under that id: nothing to keep */
		if (ended && drop_ended) {
			drop_ended--;
		} else if (!ended && drop_open) {
			drop_open--;
			dropped_open++;
			if (drop_ended)
				drop_ended--;
			g_open--;
		} else {
			json_array_append(keep, id);
			continue;
		}
		json_object_del(g_calls, json_string_value(id));
	}
	if (dropped_open)
		SBC_WARN("call records: %zu open call(s) dropped from the table (more than %u open): "
			 "their ends are not recorded if their sbc-signal dies", dropped_open, CTL_CDR_OPEN_MAX);
	json_decref(g_order);
	g_order = keep;
	g_compact_at = json_array_size(g_order) + CTL_CDR_KEEP / 4;
}

/* Appends ev (an event object: "event", "id", ...) to cdr.jsonl and merges
 * it into the call's record. batch: f is cdr.jsonl opened by the caller for
 * many lines (NULL: it could not be, logged), else it is opened for this
 * line. Takes ev's reference. */
static void cdr_apply(ctl_ctx *ctx, bool batch, FILE *f, unsigned worker, pid_t pid, json_t *ev,
		      const char *id)
{
	json_object_set_new(ev, "worker", json_integer(worker));
	if (pid > 0)
		json_object_set_new(ev, "signal_pid", json_integer(pid));
	else
		json_object_del(ev, "signal_pid"); /* ours to say, not the event's */
	char *line = json_dumps(ev, JSON_COMPACT);
	if (line) {
		char path[PATH_MAX + 16];
		FILE *own = batch ? NULL : cdr_open(ctx, path, sizeof(path));
		FILE *out = batch ? f : own;
		if (out) {
			fputs(line, out);
			fputc('\n', out);
		}
		cdr_close(own, path);
		free(line);
	}
	if (!g_calls) {
		g_calls = json_object();
		g_order = json_array();
		g_compact_at = CTL_CDR_KEEP + CTL_CDR_KEEP / 4;
	}
	json_t *rec = json_object_get(g_calls, id);
	if (!rec) {
		rec = json_object();
		json_object_set_new(g_calls, id, rec);
		json_array_append_new(g_order, json_string(id));
		g_open++;
	} else if (is_ended(rec)) {
		g_open++; /* undone below: an event after the end */
	}
	const char *kind = json_string_value(json_object_get(ev, "event"));
	json_object_update(rec, ev);
	json_object_del(rec, "event");
	json_object_del(rec, "time_ms");
	json_object_set_new(rec, "state", json_string(kind && !strcmp(kind, "end") ? "ended"
						      : kind && !strcmp(kind, "answer") ? "answered" : "calling"));
	if (is_ended(rec))
		g_open--;
	json_decref(ev);
	if (json_array_size(g_order) >= g_compact_at)
		cdr_compact();
}

void ctl_cdr_event(ctl_ctx *ctx, unsigned worker, pid_t pid, const sbc_msg_text *t)
{
	json_error_t je;
	json_t *ev = t->len <= SBC_MSG_TEXT_MAX ? json_loadb(t->text, t->len, JSON_REJECT_DUPLICATES, &je) : NULL;
	const char *id = json_string_value(json_object_get(ev, "id"));
	if (!json_is_object(ev) || !id) {
		json_decref(ev);
		ctx->counters.ring_bad_messages++;
		SBC_WARN("signal worker %u: call event that is not a JSON object with an id", worker);
		return;
	}
	cdr_apply(ctx, false, NULL, worker, pid, ev, id);
}

unsigned ctl_cdr_signal_gone(ctl_ctx *ctx, pid_t pid, const char *reason)
{
	unsigned n = 0;
	FILE *f = NULL;
	bool opened = false;
	char path[PATH_MAX + 16] = "";
	/* A copy: cdr_apply may compact g_order. */
	json_t *order = json_copy(g_order);
	size_t total = json_array_size(order);
	for (size_t i = 0; i < total; i++) {
		const char *id = json_string_value(json_array_get(order, i));
		json_t *rec = json_object_get(g_calls, id);
		/* Every open record is the dead process's, whatever its
		 * signal_pid says: a successor is spawned only after this ran
		 * (ctl_super.c), and the pid of a HELLO need not be the one
		 * waitpid saw (a wrapper that forks, a garbled HELLO). */
		if (!rec || is_ended(rec))
			continue;
		/* an end event as sbc-signal would have sent it: the record's
		 * fields (times, trunks, numbers, suites) plus the end's own */
		json_t *ev = json_deep_copy(rec);
		json_object_del(ev, "state");
		json_object_del(ev, "worker");
		json_object_del(ev, "signal_pid");
		json_object_set_new(ev, "event", json_string("end"));
		json_object_set_new(ev, "time_ms", json_integer((json_int_t)sbc_wall_ms()));
		json_object_set_new(ev, "cause", json_integer(CTL_CDR_LOST_CAUSE));
		json_object_set_new(ev, "reason", json_string(reason));
		/* one open of cdr.jsonl for the batch, not one per call: this
		 * runs on the loop before the successor starts (10000 calls:
		 * 60-80 ms of CPU instead of 105-125, bench_cdr_closeout) */
		if (!opened) {
			f = cdr_open(ctx, path, sizeof(path)); /* NULL: logged, still ended */
			opened = true;
		}
		cdr_apply(ctx, true, f, (unsigned)json_integer_value(json_object_get(rec, "worker")),
			  (pid_t)json_integer_value(json_object_get(rec, "signal_pid")), ev, id);
		n++;
	}
	cdr_close(f, path);
	json_decref(order);
	if (n)
		SBC_WARN("sbc-signal pid %d: %u call record(s) left open, ended with cause %d: %s", (int)pid, n,
			 CTL_CDR_LOST_CAUSE, reason);
	return n;
}

CTL_METHOD_DECL(ctl_m_call_list)
{
	(void)ctx, (void)req, (void)err;
	json_t *lim = json_object_get(params, "limit");
	size_t max = lim ? (size_t)json_integer_value(lim) : CTL_LIST_DEFAULT;
	int active = json_is_true(json_object_get(params, "active"));
	json_t *out = json_array();
	size_t n = json_array_size(g_order);
	/* newest first */
	for (size_t i = n; i-- > 0 && json_array_size(out) < max;) {
		json_t *rec = json_object_get(g_calls, json_string_value(json_array_get(g_order, i)));
		if (!rec || (active && !strcmp(json_string_value(json_object_get(rec, "state")), "ended")))
			continue;
		json_array_append(out, rec);
	}
	*result = json_pack("{s:o}", "calls", out);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_call_get)
{
	(void)ctx, (void)req;
	const char *id = json_string_value(json_object_get(params, "id"));
	json_t *rec = g_calls ? json_object_get(g_calls, id) : NULL;
	if (!rec)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "call \"%s\" not found", id);
	*result = json_deep_copy(rec);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_call_hangup)
{
	(void)req;
	const char *id = json_string_value(json_object_get(params, "id"));
	json_t *rec = g_calls ? json_object_get(g_calls, id) : NULL;
	unsigned w = 0;
	uint64_t x = 0;
	if (!rec || sscanf(id, "%u-%" SCNx64, &w, &x) != 2)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "call \"%s\" not found", id);
	if (!strcmp(json_string_value(json_object_get(rec, "state")), "ended")) {
		const char *why = json_string_value(json_object_get(rec, "reason"));
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "call \"%s\" has ended%s%s%s", id, why ? " (" : "",
				    why ? why : "", why ? ")" : "");
	}
	char text[256];
	int n = snprintf(text, sizeof(text), "{\"method\":\"call.hangup\",\"id\":\"%s\"}", id);
	if (n <= 0 || (size_t)n >= sizeof(text) || ctl_bus_command(ctx->bus, SHM_ROLE_SIGNAL, w, text, (size_t)n) < 0)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "call \"%s\": signal worker %u not reachable", id, w);
	*result = json_pack("{s:s, s:b}", "id", id, "requested", 1);
	return CTL_RPC_OK;
}
