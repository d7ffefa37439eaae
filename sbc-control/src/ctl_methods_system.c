/* sbc-control — system.* and stats.get. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/config.h"
#include "sbc/log.h"
#include "sbc/store.h"
#include "ctl_bus.h"
#include "ctl_methods.h"
#include "ctl_super.h"

static json_t *generations_json(ctl_ctx *ctx)
{
	uint64_t gen[STORE_AREA_MAX_] = {0};
	json_t *o = json_object();
	store_generations(ctx->rd, gen);
	for (unsigned a = 0; a < STORE_AREA_MAX_; a++)
		json_object_set_new(o, store_area_name(a), json_integer((json_int_t)gen[a]));
	return o;
}

CTL_METHOD_DECL(ctl_m_system_status)
{
	json_t *o = json_pack("{s:s, s:I, s:f, s:s, s:s, s:s, s:o, s:s}", "version", CTL_VERSION, "pid",
			      (json_int_t)getpid(), "uptime_s", (double)(sbc_mono_ms() - ctx->started_ms) / 1000.0,
			      "state", ctx->shutting_down ? "stopping" : "running", "data_dir", ctx->cfg.data_dir,
			      "socket", ctx->cfg.control.socket, "config",
			      ctx->config_path ? json_string(ctx->config_path) : json_string("embedded default"),
			      "shm", ctl_bus_name(ctx->bus));
	json_object_set_new(o, "children", ctl_super_status_json(ctx->super));
	json_object_set_new(o, "generations", generations_json(ctx));
	json_object_set_new(o, "clients", json_integer(ctl_rpc_client_count(ctx->rpc)));
	if (json_is_true(json_object_get(params, "counts")))
		json_object_set_new(o, "routes", json_integer(store_route_count(ctx->rd)));
	*result = o;
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_system_version)
{
	*result = json_pack("{s:s, s:s, s:i, s:s}", "name", "sbc-control", "version", CTL_VERSION,
			    "store_schema", (int)STORE_SCHEMA_VERSION, "jsonrpc", "2.0");
	return CTL_RPC_OK;
}

int ctl_reload(ctl_ctx *ctx, json_t **result, ctl_rpc_err *err)
{
	ctl_config next = ctx->cfg;
	json_t *restarted = json_array();
	char e[512];
	int ret;

	if (ctx->config_path) {
		ctl_config_defaults(&next);
		if ((ret = ctl_config_load_file(&next, ctx->config_path, e, sizeof(e))) != 0 ||
		    (ret = ctl_config_finalize(&next, e, sizeof(e))) != 0) {
			json_decref(restarted);
			return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "config: %s", e); /* e names the file */
		}
		/* What lives in the segment cannot change under the children. */
		if (next.signal.workers != ctx->cfg.signal.workers || next.media.workers != ctx->cfg.media.workers ||
		    next.control.ring_bytes != ctx->cfg.control.ring_bytes ||
		    next.control.ctl_ring_bytes != ctx->cfg.control.ctl_ring_bytes ||
		    next.media.port_min != ctx->cfg.media.port_min || next.media.port_max != ctx->cfg.media.port_max) {
			json_decref(restarted);
			return ctl_rpc_fail(err, CTL_RPC_IN_USE,
					    "worker counts, ring sizes and the media port range change only with a "
					    "restart of sbc-control; nothing was changed");
		}
		/* Paths fixed at start (and by the command line) stay. */
		memcpy(next.data_dir, ctx->cfg.data_dir, sizeof(next.data_dir));
		memcpy(next.store_path, ctx->cfg.store_path, sizeof(next.store_path));
		memcpy(next.control.socket, ctx->cfg.control.socket, sizeof(next.control.socket));
		if (ctx->log_level_override)
			snprintf(next.log_level, sizeof(next.log_level), "%s", ctx->log_level_override);
		if ((ret = ctl_config_write_runtime(&next, ctx->runtime_path, e, sizeof(e))) != 0) {
			json_decref(restarted);
			return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "%s", e);
		}
		/* Every key a child reads, from the table: a new key cannot be
		 * forgotten here. */
		bool sig_changed = sbc_config_differs(&next, &ctx->cfg, SBC_CFG_SIGNAL);
		bool med_changed = sbc_config_differs(&next, &ctx->cfg, SBC_CFG_MEDIA);
		ctx->cfg = next;
		enum sbc_log_level lvl;
		if (sbc_log_level_parse(ctx->cfg.log_level, &lvl) == 0)
			sbc_log_set_level(lvl);
		ctl_bus_notify(ctx->bus, SHM_AREA_SYSTEM, 0);
		/* The children read runtime.json at start: restart those it concerns. */
		if (sig_changed && ctl_super_restart(ctx->super, SHM_ROLE_SIGNAL) == 0)
			json_array_append_new(restarted, json_string("sbc-signal"));
		if (med_changed && ctl_super_restart(ctx->super, SHM_ROLE_MEDIA) == 0)
			json_array_append_new(restarted, json_string("sbc-media"));
	}
	unsigned revived = ctl_super_revive(ctx->super);
	SBC_NOTICE("reload: %s; %zu child(ren) restarted for new settings, %u failed one(s) retried",
		   ctx->config_path ? "configuration re-read" : "embedded default (nothing to re-read)",
		   json_array_size(restarted), revived);
	*result = json_pack("{s:b, s:o, s:i}", "reloaded", ctx->config_path != NULL, "restarted", restarted,
			    "revived", (int)revived);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_system_reload) { return ctl_reload(ctx, result, err); }

static void shutdown_cb(uv_timer_t *t)
{
	ctl_ctx *ctx = t->data;
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
	ctl_shutdown(ctx, "system.shutdown");
}

CTL_METHOD_DECL(ctl_m_system_shutdown)
{
	/* Answer first; stop on the next loop turn. */
	uv_timer_t *t = malloc(sizeof(*t));
	if (!t)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	uv_timer_init(ctx->loop, t);
	t->data = ctx;
	uv_timer_start(t, shutdown_cb, 10, 0);
	*result = json_pack("{s:b}", "stopping", 1);
	return CTL_RPC_OK;
}

typedef struct stats_job {
	ctl_ctx *ctx;
	ctl_req *req;
} stats_job;

static void stats_done_cb(json_t *children, void *arg)
{
	stats_job *job = arg;
	ctl_ctx *ctx = job->ctx;
	const ctl_counters *k = &ctx->counters;
	json_t *control = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "rpc_requests", (json_int_t)k->rpc_requests,
		"rpc_errors", (json_int_t)k->rpc_errors, "rpc_clients", (json_int_t)ctl_rpc_client_count(ctx->rpc),
		"rpc_clients_accepted", (json_int_t)k->rpc_clients_accepted, "rpc_clients_refused",
		(json_int_t)k->rpc_clients_refused, "rpc_clients_dropped", (json_int_t)k->rpc_clients_dropped,
		"rpc_rate_limited", (json_int_t)k->rpc_rate_limited, "config_changes", (json_int_t)k->config_changes,
		"ring_full", (json_int_t)k->ring_full, "ring_bad_messages", (json_int_t)k->ring_bad_messages,
		"cdr_write_errors", (json_int_t)k->cdr_write_errors, "rings",
		ctl_bus_ring_json(ctx->bus));
	json_object_set_new(children, "control", control);
	ctl_rpc_complete(job->req, children, NULL);
	free(job);
}

CTL_METHOD_DECL(ctl_m_stats_get)
{
	stats_job *job = malloc(sizeof(*job));
	if (!job)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	job->ctx = ctx;
	job->req = req;
	if (ctl_bus_stats(ctx->bus, ctx->cfg.control.stats_timeout_ms, stats_done_cb, job) != 0) {
		free(job);
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	}
	return CTL_RPC_PENDING;
}
