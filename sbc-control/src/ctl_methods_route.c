/* sbc-control — route.* methods. Import and export run in the libuv thread
 * pool: a million-route import must not stall the other clients. While an
 * import runs, write requests queue behind it (ctl_rpc.c, CTL_M_WRITE). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/store.h"
#include "ctl_methods.h"

#define LOOKUP_MAX STORE_ROUTES_PER_PREFIX_MAX

CTL_METHOD_DECL(ctl_m_route_add)
{
	store_route r;
	char e[512] = "";
	int ret = store_route_from_json(params, &r, e, sizeof(e));
	if (ret < 0)
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s", e[0] ? e : sbc_strerror(ret));
	ret = store_route_add(ctx->st, &r, e, sizeof(e));
	if (ret < 0)
		return ctl_rpc_fail_store(err, ret, e);
	ctl_config_changed(ctx, STORE_AREA_ROUTES);
	*result = store_route_to_json(&r);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_route_remove)
{
	const char *prefix = json_string_value(json_object_get(params, "prefix"));
	const char *trunk = json_string_value(json_object_get(params, "trunk"));
	char e[512] = "";
	if (!store_prefix_valid(prefix))
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS,
				    "params.prefix: \"%s\" is not a prefix (optional +, then digits)", prefix);
	int ret = store_route_remove(ctx->st, prefix, trunk, e, sizeof(e));
	if (ret == SBC_E_NOT_FOUND)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "no route for prefix \"%s\"%s%s%s", prefix,
				    trunk && *trunk ? " and trunk \"" : "", trunk && *trunk ? trunk : "",
				    trunk && *trunk ? "\"" : "");
	if (ret < 0)
		return ctl_rpc_fail_store(err, ret, e);
	ctl_config_changed(ctx, STORE_AREA_ROUTES);
	*result = json_pack("{s:i}", "removed", ret);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_route_list)
{
	const char *ap = json_string_value(json_object_get(params, "after_prefix"));
	const char *at = json_string_value(json_object_get(params, "after_trunk"));
	json_t *lim = json_object_get(params, "limit");
	size_t max = lim ? (size_t)json_integer_value(lim) : CTL_LIST_DEFAULT;
	bool more = false;

	if (at && !ap)
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.after_trunk: needs params.after_prefix");
	store_route *rs = calloc(max, sizeof(*rs));
	if (!rs)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	int n = store_route_list(ctx->rd, ap, at, rs, max, &more);
	if (n < 0) {
		free(rs);
		return ctl_rpc_fail_store(err, n, NULL);
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, store_route_to_json(&rs[i]));
	*result = json_pack("{s:o, s:b}", "routes", arr, "more", more);
	if (more && n > 0)
		json_object_set_new(*result, "next",
				    json_pack("{s:s, s:s}", "after_prefix", rs[n - 1].prefix, "after_trunk", rs[n - 1].trunk));
	free(rs);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_route_lookup)
{
	const char *number = json_string_value(json_object_get(params, "number"));
	char norm[STORE_NUMBER_MAX + 1];
	store_route rs[LOOKUP_MAX];

	if (store_number_normalise(number, norm) < 0)
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS,
				    "params.number: \"%.64s\" is not a telephone number (optional +, digits, "
				    "separators)", number);
	int n = store_route_lookup(ctx->rd, norm, rs, LOOKUP_MAX);
	if (n < 0)
		return ctl_rpc_fail_store(err, n, NULL);
	json_t *arr = json_array();
	for (int i = 0; i < n; i++) {
		char out[STORE_NUMBER_MAX + 1];
		json_t *o = store_route_to_json(&rs[i]);
		if (store_route_apply(&rs[i], norm, out) >= 0)
			json_object_set_new(o, "dial", json_string(out));
		else
			json_object_set_new(o, "dial", json_null());
		json_array_append_new(arr, o);
	}
	*result = json_pack("{s:s, s:s, s:o}", "number", number, "normalised", norm, "routes", arr);
	if (n > 0)
		json_object_set_new(*result, "prefix", json_string(rs[0].prefix));
	else
		json_object_set_new(*result, "prefix", json_null());
	return CTL_RPC_OK;
}

/* ---- import / export in the thread pool ---------------------------------- */

typedef struct route_job {
	uv_work_t work;
	ctl_ctx *ctx;
	ctl_req *req;
	enum store_fmt fmt;
	bool is_import;
	unsigned flags;
	char *path;        /* NULL: inline */
	json_t *data;      /* inline import text (kept alive by the reference) */
	/* results */
	int64_t count;
	size_t bad_line;
	int err_code;
	char err[1024];
	char *out;         /* inline export text */
	size_t out_len, out_cap;
	uint64_t ms;
} route_job;

static int parse_format(json_t *params, const char *path, enum store_fmt *fmt, ctl_rpc_err *err)
{
	const char *f = json_string_value(json_object_get(params, "format"));
	if (!f && path) {
		size_t n = strlen(path);
		f = (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) || (n > 5 && strcmp(path + n - 5, ".json") == 0)
			    ? "jsonl"
			    : "csv";
	}
	if (!f || strcmp(f, "csv") == 0)
		*fmt = STORE_FMT_CSV;
	else if (strcmp(f, "jsonl") == 0)
		*fmt = STORE_FMT_JSONL;
	else
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.format: \"%s\" is not csv or jsonl", f);
	return 0;
}

static int append_cb(const char *line, size_t len, void *arg)
{
	route_job *j = arg;
	if (j->out_len + len + 1 > j->out_cap) {
		size_t ncap = j->out_cap ? j->out_cap * 2 : 65536;
		while (ncap < j->out_len + len + 1)
			ncap *= 2;
		char *n = realloc(j->out, ncap);
		if (!n)
			return -ENOMEM;
		j->out = n;
		j->out_cap = ncap;
	}
	memcpy(j->out + j->out_len, line, len);
	j->out_len += len;
	j->out[j->out_len] = 0;
	return 0;
}

static void job_work_cb(uv_work_t *w)
{
	route_job *j = w->data;
	uint64_t t0 = sbc_mono_ms();
	if (j->is_import) {
		if (j->path) {
			FILE *f = fopen(j->path, "re");
			if (!f) {
				j->err_code = -errno;
				snprintf(j->err, sizeof(j->err), "params.path: cannot open %.900s: %s (sbc-control reads it; sbcctl --inline sends the content instead)", j->path, strerror(errno));
				return;
			}
			j->count = store_route_import_file(j->ctx->st, j->fmt, f, j->flags, &j->bad_line, j->err,
							   sizeof(j->err));
			fclose(f);
		} else {
			j->count = store_route_import(j->ctx->st, j->fmt, json_string_value(j->data),
						      json_string_length(j->data), j->flags, &j->bad_line, j->err,
						      sizeof(j->err));
		}
	} else {
		store_reader *r = NULL;
		int ret = store_reader_open(j->ctx->st, &r);
		if (ret < 0) {
			j->count = ret;
			return;
		}
		if (j->path) {
			char tmp[4200];
			snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
			FILE *f = fopen(tmp, "we");
			if (!f) {
				j->count = -errno;
				snprintf(j->err, sizeof(j->err), "params.path: cannot create %.900s: %s", tmp, strerror(errno));
			} else {
				j->count = store_route_export_file(r, j->fmt, f);
				if (fclose(f) != 0 && j->count >= 0) {
					j->count = -errno;
					snprintf(j->err, sizeof(j->err), "params.path: writing %.900s: %s", tmp, strerror(errno));
				}
				if (j->count >= 0 && rename(tmp, j->path) != 0) {
					j->count = -errno;
					snprintf(j->err, sizeof(j->err), "params.path: rename to %.900s: %s", j->path,
						 strerror(errno));
				}
				if (j->count < 0)
					unlink(tmp);
			}
		} else {
			j->count = store_route_export(r, j->fmt, append_cb, j);
		}
		store_reader_close(r);
	}
	j->ms = sbc_mono_ms() - t0;
}

static void job_after_cb(uv_work_t *w, int status)
{
	route_job *j = w->data;
	ctl_ctx *ctx = j->ctx;
	ctl_rpc_err err = {0};
	json_t *res = NULL;

	if (j->is_import)
		ctx->write_busy = false;
	if (status < 0 && j->count >= 0) {
		j->count = status;
		snprintf(j->err, sizeof(j->err), "cancelled");
	}
	if (j->count < 0 || j->err_code < 0) {
		int e = j->err_code < 0 ? j->err_code : (int)j->count;
		if (j->err_code == -ENOENT || j->err_code == -EACCES)
			ctl_rpc_fail(&err, CTL_RPC_NOT_FOUND, "%s", j->err);
		else
			ctl_rpc_fail_store(&err, e, j->err);
		if (j->bad_line)
			err.data = json_pack("{s:I}", "line", (json_int_t)j->bad_line);
		SBC_WARN("route.%s failed: %s", j->is_import ? "import" : "export", err.msg);
		ctl_rpc_complete(j->req, NULL, &err);
	} else if (j->is_import) {
		SBC_NOTICE("route.import: %lld routes in %llu ms", (long long)j->count, (unsigned long long)j->ms);
		ctl_config_changed(ctx, STORE_AREA_ROUTES);
		res = json_pack("{s:I, s:I}", "imported", (json_int_t)j->count, "ms", (json_int_t)j->ms);
		ctl_rpc_complete(j->req, res, NULL);
	} else {
		res = json_pack("{s:s, s:I}", "format", j->fmt == STORE_FMT_CSV ? "csv" : "jsonl", "count",
				(json_int_t)j->count);
		if (j->path)
			json_object_set_new(res, "path", json_string(j->path));
		else
			json_object_set_new(res, "data", json_stringn(j->out ? j->out : "", j->out_len));
		ctl_rpc_complete(j->req, res, NULL);
	}
	json_decref(j->data);
	free(j->path);
	free(j->out);
	free(j);
	if (ctx->rpc)
		ctl_rpc_run_deferred(ctx->rpc);
}

static int start_job(ctl_ctx *ctx, ctl_req *req, json_t *params, bool is_import, ctl_rpc_err *err)
{
	const char *path = json_string_value(json_object_get(params, "path"));
	json_t *data = json_object_get(params, "data");
	route_job *j;

	if (path && data)
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.data: give either path or data, not both");
	if (is_import && !path && !data)
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.path: missing (or give params.data inline)");
	if (path && path[0] != '/')
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS,
				    "params.path: must be absolute (sbc-control reads it, not the client)");
	j = calloc(1, sizeof(*j));
	if (!j)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	if (parse_format(params, path, &j->fmt, err) != 0) {
		free(j);
		return CTL_RPC_FAIL;
	}
	j->ctx = ctx;
	j->req = req;
	j->is_import = is_import;
	j->flags = json_is_true(json_object_get(params, "replace")) ? STORE_IMPORT_REPLACE : 0;
	j->path = path ? strdup(path) : NULL;
	j->data = data ? json_incref(data) : NULL;
	j->work.data = j;
	int ret = uv_queue_work(ctx->loop, &j->work, job_work_cb, job_after_cb);
	if (ret < 0) {
		json_decref(j->data);
		free(j->path);
		free(j);
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "cannot start: %s", uv_strerror(ret));
	}
	if (is_import)
		ctx->write_busy = true;
	return CTL_RPC_PENDING;
}

CTL_METHOD_DECL(ctl_m_route_import) { return start_job(ctx, req, params, true, err); }

CTL_METHOD_DECL(ctl_m_route_export) { return start_job(ctx, req, params, false, err); }
