/* sbc-control — start-up, run and shutdown (see ctl_app.h). */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/shm.h"
#include "ctl_app.h"
#include "ctl_bus.h"
#include "ctl_cdr.h"
#include "ctl_default.h"
#include "ctl_methods.h"
#include "ctl_rpc.h"
#include "ctl_super.h"

typedef struct ctl_app {
	ctl_ctx ctx;
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sighup;
	int exit_code;
} ctl_app;

void ctl_config_changed(ctl_ctx *ctx, unsigned area)
{
	ctx->counters.config_changes++;
	uint64_t gen = store_generation(ctx->rd, (enum store_area)area);
	if (ctx->bus)
		ctl_bus_notify(ctx->bus, area, gen);
}

static void stopped_cb(ctl_ctx *ctx)
{
	ctl_app *app = (ctl_app *)ctx;
	SBC_NOTICE("children stopped; removing %s and %s", ctl_bus_name(ctx->bus), ctx->cfg.control.socket);
	ctl_bus_destroy(ctx->bus);
	ctx->bus = NULL;
	ctl_cdr_free();
	ctl_rpc_destroy(ctx->rpc);
	ctx->rpc = NULL;
	ctl_super_destroy(ctx->super);
	ctx->super = NULL;
	uv_close((uv_handle_t *)&app->sigterm, NULL);
	uv_close((uv_handle_t *)&app->sigint, NULL);
	uv_close((uv_handle_t *)&app->sighup, NULL);
}

void ctl_shutdown(ctl_ctx *ctx, const char *why)
{
	if (ctx->shutting_down)
		return;
	ctx->shutting_down = true;
	SBC_NOTICE("shutting down (%s)", why);
	ctl_rpc_stop_listening(ctx->rpc);
	ctl_super_stop(ctx->super, stopped_cb);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	ctl_app *app = h->data;
	if (signum == SIGHUP) {
		json_t *res = NULL;
		ctl_rpc_err err = {0};
		if (app->ctx.shutting_down)
			return;
		if (ctl_reload(&app->ctx, &res, &err) != CTL_RPC_OK)
			SBC_ERROR("SIGHUP reload refused: %s", err.msg);
		json_decref(res);
		json_decref(err.data);
		return;
	}
	ctl_shutdown(&app->ctx, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Segments of sbc-control processes that died without cleaning up. */
static void remove_stale_segments(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		if (strncmp(e->d_name, "sbc-", 4) != 0)
			continue;
		long pid = strtol(e->d_name + 4, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			char name[300];
			snprintf(name, sizeof(name), "/%s", e->d_name);
			if (shm_unlink(name) == 0)
				SBC_NOTICE("removed stale shared segment %s (pid %ld is gone)", name, pid);
		}
	}
	closedir(d);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, mode) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int resolve_bins(ctl_ctx *ctx, const ctl_options *opt)
{
	if (opt->bin_dir) {
		snprintf(ctx->bin_dir, sizeof(ctx->bin_dir), "%s", opt->bin_dir);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = 0;
		snprintf(ctx->bin_dir, sizeof(ctx->bin_dir), "%s", dirname(self));
	}
	if (opt->signal_bin)
		snprintf(ctx->signal_bin, sizeof(ctx->signal_bin), "%s", opt->signal_bin);
	else if (snprintf(ctx->signal_bin, sizeof(ctx->signal_bin), "%s/sbc-signal", ctx->bin_dir) >=
		 (int)sizeof(ctx->signal_bin))
		return -ENAMETOOLONG;
	if (opt->media_bin)
		snprintf(ctx->media_bin, sizeof(ctx->media_bin), "%s", opt->media_bin);
	else if (snprintf(ctx->media_bin, sizeof(ctx->media_bin), "%s/sbc-media", ctx->bin_dir) >=
		 (int)sizeof(ctx->media_bin))
		return -ENAMETOOLONG;
	return 0;
}

static int load_config(ctl_ctx *ctx, const ctl_options *opt, char *err, size_t errlen)
{
	int ret;
	ctl_config_defaults(&ctx->cfg);
	if (opt->config_path && (ret = ctl_config_load_file(&ctx->cfg, opt->config_path, err, errlen)) != 0)
		return ret;
	if (opt->data_dir)
		snprintf(ctx->cfg.data_dir, sizeof(ctx->cfg.data_dir), "%s", opt->data_dir);
	if (opt->socket)
		snprintf(ctx->cfg.control.socket, sizeof(ctx->cfg.control.socket), "%s", opt->socket);
	if (opt->log_level)
		snprintf(ctx->cfg.log_level, sizeof(ctx->cfg.log_level), "%s", opt->log_level);
	enum sbc_log_level lvl;
	if (sbc_log_level_parse(ctx->cfg.log_level, &lvl) != 0) {
		snprintf(err, errlen, "log_level: \"%s\" is not one of error|warn|notice|info|debug", ctx->cfg.log_level);
		return SBC_E_CONFIG;
	}
	sbc_log_set_level(lvl);
	return ctl_config_finalize(&ctx->cfg, err, errlen);
}

int ctl_app_run(const ctl_options *opt)
{
	static ctl_app app; /* one per process; the loop and handles live here */
	ctl_ctx *ctx = &app.ctx;
	char err[1024] = "";
	int ret;

	sbc_log_init("sbc-control", SBC_LOG_INFO, false);
	static char config_abs[PATH_MAX];
	ctx->config_path = opt->config_path;
	if (opt->config_path && realpath(opt->config_path, config_abs))
		ctx->config_path = config_abs; /* status shows it; reload re-reads it */
	ctx->log_level_override = opt->log_level;
	if ((ret = load_config(ctx, opt, err, sizeof(err))) != 0) {
		SBC_ERROR("configuration: %s", err);
		fprintf(stderr, "sbc-control: configuration: %s\n", err);
		return 2;
	}
	if (opt->check_config) {
		json_t *rt = ctl_config_runtime_json(&ctx->cfg);
		char *s = json_dumps(rt, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(rt);
		return 0;
	}
	if ((ret = resolve_bins(ctx, opt)) != 0) {
		SBC_ERROR("cannot find the directory of the child binaries: %s", sbc_strerror(ret));
		return 1;
	}
	if ((ret = mkdir_p(ctx->cfg.data_dir, 0750)) != 0) {
		SBC_ERROR("data directory %s: %s", ctx->cfg.data_dir, sbc_strerror(ret));
		return 1;
	}
	snprintf(ctx->runtime_path, sizeof(ctx->runtime_path), "%s/runtime.json", ctx->cfg.data_dir);
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&app.loop);
	ctx->loop = &app.loop;
	ctx->started_ms = sbc_mono_ms();
	remove_stale_segments();

	ret = store_open(ctx->cfg.store_path, STORE_CREATE, 0, &ctx->st, err, sizeof(err));
	if (ret != 0) {
		SBC_ERROR("store %s: %s", ctx->cfg.store_path, err[0] ? err : sbc_strerror(ret));
		return 1;
	}
	if ((ret = store_reader_open(ctx->st, &ctx->rd)) != 0) {
		SBC_ERROR("store reader: %s", sbc_strerror(ret));
		goto Exit;
	}
	if ((ret = ctl_default_seed(ctx, err, sizeof(err))) != 0) {
		SBC_ERROR("seeding the store: %s", err);
		goto Exit;
	}
	if ((ret = ctl_bus_create(ctx, &ctx->bus, err, sizeof(err))) != 0) {
		SBC_ERROR("shared segment: %s", err);
		goto Exit;
	}
	for (unsigned a = 0; a < STORE_AREA_MAX_; a++)
		ctl_bus_set_generation(ctx->bus, a, store_generation(ctx->rd, a));
	if ((ret = ctl_config_write_runtime(&ctx->cfg, ctx->runtime_path, err, sizeof(err))) != 0) {
		SBC_ERROR("%s", err);
		goto Exit;
	}
	if ((ret = ctl_rpc_create(ctx, ctx->cfg.control.socket, &ctx->rpc, err, sizeof(err))) != 0) {
		SBC_ERROR("%s", err);
		goto Exit;
	}
	uv_signal_init(ctx->loop, &app.sigterm);
	uv_signal_init(ctx->loop, &app.sigint);
	uv_signal_init(ctx->loop, &app.sighup);
	app.sigterm.data = app.sigint.data = app.sighup.data = &app;
	uv_signal_start(&app.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&app.sigint, signal_cb, SIGINT);
	uv_signal_start(&app.sighup, signal_cb, SIGHUP);
	/* Calls a previous sbc-control left open (it died: its sbc-signal got
	 * SIGTERM with it, and nobody wrote their ends): ended before any
	 * sbc-signal of ours can add lines. Only after ctl_rpc_create: it
	 * refuses to start beside a live sbc-control on the same socket, whose
	 * calls are not over. An unreadable file is logged and the start goes
	 * on (ret is reset by the next step). */
	ctl_cdr_recover(ctx, "sbc-control restarted: call state lost (previous sbc-control did not end its calls)",
			NULL);
	if ((ret = ctl_super_create(ctx, &ctx->super)) != 0 || (ret = ctl_super_start(ctx->super)) != 0) {
		SBC_ERROR("supervisor: %s", sbc_strerror(ret));
		goto Exit;
	}
	SBC_NOTICE("sbc-control running: data %s, socket %s, segment %s, config %s", ctx->cfg.data_dir,
		   ctx->cfg.control.socket, ctl_bus_name(ctx->bus), ctx->config_path ? ctx->config_path : "embedded default");
	uv_run(ctx->loop, UV_RUN_DEFAULT);
	ret = 0;
Exit:
	if (ret != 0) {
		/* Start-up failed part-way: undo what exists, in reverse. */
		if (ctx->super) {
			ctl_super_destroy(ctx->super);
			ctx->super = NULL;
		}
		if (ctx->rpc) {
			ctl_rpc_destroy(ctx->rpc);
			ctx->rpc = NULL;
		}
		if (ctx->bus) {
			ctl_bus_destroy(ctx->bus);
			ctx->bus = NULL;
		}
		if (app.sigterm.loop) {
			uv_close((uv_handle_t *)&app.sigterm, NULL);
			uv_close((uv_handle_t *)&app.sigint, NULL);
			uv_close((uv_handle_t *)&app.sighup, NULL);
		}
		uv_run(ctx->loop, UV_RUN_DEFAULT);
	}
	if (ctx->rd)
		store_reader_close(ctx->rd);
	store_close(ctx->st);
	uv_loop_close(ctx->loop);
	if (ret == 0)
		SBC_NOTICE("sbc-control stopped");
	return ret == 0 ? 0 : 1;
}
