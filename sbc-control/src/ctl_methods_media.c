/* sbc-control — media.stats and media.sessions: SBC_MSG_COMMANDs to the
 * sbc-media workers over the control rings (ctl_bus_ask), their replies
 * merged.
 *
 * Caveats:
 *  1. Either every media worker answers within control.stats_timeout_ms or
 *     the request fails with -32010 naming the worker and the reason (not
 *     running, no reply in time, exited): partial totals would lie.
 *  2. media.sessions numbers sessions globally: worker 0's first, then worker
 *     1's, ... Counts come from one media.stats round, then pages are asked
 *     worker by worker ({"method":"media.sessions","offset":local}; a page is
 *     as many sessions as fit in one ring message). Sessions created or
 *     deleted between two calls shift the numbering: a page is a snapshot,
 *     not a cursor.
 *  3. sbc-media's session JSON carries suites, ports, peers and counters,
 *     never keys; the handler still deletes any member whose name contains
 *     "key" or "salt" before answering (defence in depth).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/log.h"
#include "ctl_bus.h"
#include "ctl_methods.h"

#define MEDIA_ROUNDS_MAX 4096 /* page requests per media.sessions call */

typedef struct media_job {
	ctl_ctx *ctx;
	ctl_req *req;
	json_int_t offset, limit;
	json_int_t total;
	json_int_t counts[SHM_MAX_WORKERS];
	unsigned nworkers;
	unsigned worker;      /* asked next */
	json_int_t local;     /* offset within worker */
	unsigned rounds;
	json_t *sessions;
} media_job;

/* Fails the request: worker w of sbc-media is unavailable (or refused). */
static void job_fail(media_job *job, int code, unsigned w, const char *why)
{
	ctl_rpc_err err = {0};
	ctl_rpc_fail(&err, code, "sbc-media worker %u %s: %s", w,
		     code == CTL_RPC_UNAVAILABLE ? "unavailable" : "refused the command", why);
	err.data = json_pack("{s:I, s:s}", "worker", (json_int_t)w, "reason", why);
	ctl_rpc_complete(job->req, NULL, &err);
	json_decref(job->sessions);
	free(job);
}

/* The per-worker replies of one ask, or NULL after failing the job. */
static json_t *replies_or_fail(media_job *job, json_t *res, int only)
{
	json_t *arr = json_object_get(res, "media");
	size_t i;
	json_t *e;
	if (job->ctx->shutting_down) {
		ctl_rpc_err err = {0};
		ctl_rpc_fail(&err, CTL_RPC_SHUTTING_DOWN, "sbc-control is shutting down");
		ctl_rpc_complete(job->req, NULL, &err);
		json_decref(job->sessions);
		free(job);
		return NULL;
	}
	if (json_array_size(arr) == 0) {
		job_fail(job, CTL_RPC_UNAVAILABLE, 0, "not configured");
		return NULL;
	}
	json_array_foreach(arr, i, e)
	{
		if (only >= 0 && i != (size_t)only)
			continue;
		if (!json_is_true(json_object_get(e, "available"))) {
			const char *why = json_string_value(json_object_get(e, "error"));
			job_fail(job, CTL_RPC_UNAVAILABLE, (unsigned)i, why ? why : "unknown");
			return NULL;
		}
		json_t *rep = json_object_get(e, "reply");
		const char *merr = json_string_value(json_object_get(rep, "error"));
		if (merr) {
			job_fail(job, CTL_RPC_INTERNAL, (unsigned)i, merr);
			return NULL;
		}
	}
	return arr;
}

/* Adds the integers of src into dst (and one level of objects: "drops"). */
static void sum_into(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v)
	{
		if (!strcmp(k, "worker") || !strcmp(k, "cpu"))
			continue;
		if (json_is_integer(v)) {
			json_t *d = json_object_get(dst, k);
			json_object_set_new(dst, k, json_integer(json_integer_value(d) + json_integer_value(v)));
		} else if (json_is_object(v)) {
			json_t *d = json_object_get(dst, k);
			if (!json_is_object(d)) {
				d = json_object();
				json_object_set_new(dst, k, d);
			}
			sum_into(d, v);
		}
	}
}

static void stats_cb(json_t *res, void *arg)
{
	media_job *job = arg;
	json_t *arr = replies_or_fail(job, res, -1);
	if (!arr) {
		json_decref(res);
		return;
	}
	json_t *workers = json_array(), *totals = json_object(), *e;
	const char *io = NULL, *backend = NULL;
	size_t i;
	json_array_foreach(arr, i, e)
	{
		json_t *st = json_object_get(e, "reply");
		const char *wio = json_string_value(json_object_get(st, "io"));
		if (wio)
			io = !io || !strcmp(io, wio) ? wio : "mixed";
		/* the data path a worker really uses (it may fall back from the configured one) */
		const char *wb = json_string_value(json_object_get(st, "backend"));
		if (wb)
			backend = !backend || !strcmp(backend, wb) ? wb : "mixed";
		sum_into(totals, st);
		json_array_append(workers, st);
	}
	json_object_set_new(totals, "kernel_drops",
			    json_integer(json_integer_value(json_object_get(json_object_get(totals, "drops"), "kernel"))));
	json_t *out = json_pack("{s:s, s:s, s:s, s:o, s:o}", "backend", backend ? backend : job->ctx->cfg.media.backend,
				"configured_backend", job->ctx->cfg.media.backend, "io", io ? io : "",
				"totals", totals, "workers", workers);
	json_decref(res);
	ctl_rpc_complete(job->req, out, NULL);
	free(job);
}

static media_job *job_new(ctl_ctx *ctx, ctl_req *req)
{
	media_job *job = calloc(1, sizeof(*job));
	if (!job)
		return NULL;
	job->ctx = ctx;
	job->req = req;
	return job;
}

static int ask(media_job *job, int idx, const char *text, ctl_bus_stats_cb cb)
{
	return ctl_bus_ask(job->ctx->bus, SHM_ROLE_MEDIA, idx, text, strlen(text), job->ctx->cfg.control.stats_timeout_ms,
			   cb, job);
}

CTL_METHOD_DECL(ctl_m_media_stats)
{
	(void)params;
	media_job *job = job_new(ctx, req);
	if (!job)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	if (ask(job, -1, "{\"method\":\"media.stats\"}", stats_cb) != 0) {
		free(job);
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	}
	return CTL_RPC_PENDING;
}

/* Never let key material out, whatever a worker sends. */
static void scrub(json_t *j)
{
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) scrub(v);
	} else if (json_is_object(j)) {
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(j, tmp, k, v)
		{
			if (strstr(k, "key") || strstr(k, "salt") || strstr(k, "secret"))
				json_object_del(j, k);
			else
				scrub(v);
		}
	}
}

static void sessions_done(media_job *job)
{
	json_int_t n = (json_int_t)json_array_size(job->sessions);
	json_int_t end = job->offset + n;
	json_t *out = json_pack("{s:o, s:I, s:I, s:I, s:o}", "sessions", job->sessions, "offset", job->offset, "total",
				job->total, "count", n, "next", end < job->total && n > 0 ? json_integer(end) : json_null());
	job->sessions = NULL;
	ctl_rpc_complete(job->req, out, NULL);
	free(job);
}

static void page_ask(media_job *job);

static void page_cb(json_t *res, void *arg)
{
	media_job *job = arg;
	unsigned w = job->worker;
	json_t *arr = replies_or_fail(job, res, (int)w);
	if (!arr) {
		json_decref(res);
		return;
	}
	json_t *rep = json_object_get(json_array_get(arr, w), "reply");
	json_t *page = json_object_get(rep, "sessions"), *s;
	json_t *next = json_object_get(rep, "next");
	size_t i;
	json_array_foreach(page, i, s)
	{
		if ((json_int_t)json_array_size(job->sessions) >= job->limit)
			break;
		if (!json_is_object(s))
			continue;
		json_object_set_new(s, "worker", json_integer(w));
		scrub(s);
		json_array_append(job->sessions, s);
	}
	if (json_is_integer(next) && json_integer_value(next) > job->local && json_array_size(page) > 0) {
		job->local = json_integer_value(next);
	} else {
		job->worker++;
		job->local = 0;
	}
	json_decref(res);
	page_ask(job);
}

static void page_ask(media_job *job)
{
	while (job->worker < job->nworkers && job->counts[job->worker] == 0)
		job->worker++;
	if ((json_int_t)json_array_size(job->sessions) >= job->limit || job->worker >= job->nworkers ||
	    ++job->rounds > MEDIA_ROUNDS_MAX) {
		sessions_done(job);
		return;
	}
	char text[96];
	snprintf(text, sizeof(text), "{\"method\":\"media.sessions\",\"offset\":%" PRId64 "}", (int64_t)job->local);
	if (ask(job, (int)job->worker, text, page_cb) != 0) {
		ctl_rpc_err err = {0};
		ctl_rpc_fail(&err, CTL_RPC_INTERNAL, "out of memory");
		ctl_rpc_complete(job->req, NULL, &err);
		json_decref(job->sessions);
		free(job);
	}
}

/* First round: the session count of every worker decides where offset is. */
static void count_cb(json_t *res, void *arg)
{
	media_job *job = arg;
	json_t *arr = replies_or_fail(job, res, -1), *e;
	size_t i;
	if (!arr) {
		json_decref(res);
		return;
	}
	job->nworkers = (unsigned)json_array_size(arr);
	if (job->nworkers > SHM_MAX_WORKERS)
		job->nworkers = SHM_MAX_WORKERS;
	json_array_foreach(arr, i, e)
	{
		if (i >= SHM_MAX_WORKERS)
			break;
		json_int_t c = json_integer_value(json_object_get(json_object_get(e, "reply"), "sessions"));
		job->counts[i] = c > 0 ? c : 0;
		job->total += job->counts[i];
	}
	json_decref(res);
	json_int_t skip = job->offset;
	job->worker = 0;
	while (job->worker < job->nworkers && skip >= job->counts[job->worker])
		skip -= job->counts[job->worker++];
	job->local = skip;
	page_ask(job);
}

CTL_METHOD_DECL(ctl_m_media_sessions)
{
	json_t *off = json_object_get(params, "offset"), *lim = json_object_get(params, "limit");
	media_job *job = job_new(ctx, req);
	if (!job)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	/* null counts as absent (the server's param check lets it through) */
	job->offset = json_is_integer(off) ? json_integer_value(off) : 0;
	job->limit = json_is_integer(lim) ? json_integer_value(lim) : CTL_LIST_DEFAULT;
	job->sessions = json_array();
	if (ask(job, -1, "{\"method\":\"media.stats\"}", count_cb) != 0) {
		json_decref(job->sessions);
		free(job);
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	}
	return CTL_RPC_PENDING;
}
