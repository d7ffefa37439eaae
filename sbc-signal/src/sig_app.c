/* sbc-signal — main thread (see sig_app.h).
 *
 * Signals: SIGTERM/SIGINT stop (exit 0), SIGHUP reloads TLS material,
 * SIGUSR1 logs the counters as one JSON line ("stats {...}").
 */
#include "sig_app.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/msg-t.h"
#include "sbc/shm.h"
#include "b2b_engine.h"
#include "sig_store.h"
#include "sig_worker.h"

#define PENDING_MAX 16

typedef struct app {
	uv_loop_t loop;
	uv_signal_t sigterm, sigint, sighup, sigusr1;
	uv_async_t reload;
	uv_timer_t rotate, grace;
	const char *runtime_path;
	sig_server srv;
	uint64_t tls_gen;
	struct {
		sig_tls_set *set;
		uint64_t due_ms;
	} pending[PENDING_MAX];
	unsigned n_pending;
} app;

static int needs_tls(const sig_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_listen; i++)
		if (cfg->listen[i].tp == SIG_TP_TLS)
			return 1;
	return 0;
}

static void retire(app *a, sig_tls_set *old)
{
	if (!old)
		return;
	if (a->n_pending == PENDING_MAX) { /* oldest is long past its grace */
		sig_tls_set_unref(a->pending[0].set);
		memmove(&a->pending[0], &a->pending[1], sizeof(a->pending[0]) * (PENDING_MAX - 1));
		a->n_pending--;
	}
	a->pending[a->n_pending].set = old;
	a->pending[a->n_pending].due_ms = uv_now(&a->loop) + SIG_TLS_GRACE_MS;
	a->n_pending++;
}

static void grace_cb(uv_timer_t *t)
{
	app *a = t->data;
	uint64_t now = uv_now(&a->loop);
	unsigned k = 0;
	for (unsigned i = 0; i < a->n_pending; i++) {
		if (a->pending[i].due_ms <= now)
			sig_tls_set_unref(a->pending[i].set);
		else
			a->pending[k++] = a->pending[i];
	}
	a->n_pending = k;
}

/* Re-reads TLS material and publishes a new snapshot; on failure the old
 * one stays in service. */
static void do_reload(app *a, uint64_t gen)
{
	sig_config cfg;
	char err[512] = "";
	int r = sig_config_load(a->runtime_path, &cfg, err, sizeof(err));
	if (r < 0) {
		SBC_ERROR("tls reload: %s (keeping the current certificates)", err);
		return;
	}
	sig_tls_set *s = NULL;
	r = sig_tls_set_build(&cfg, gen, &s, err, sizeof(err));
	sig_config_free(&cfg);
	if (r < 0) {
		SBC_ERROR("tls reload: %s (keeping the current certificates)", err);
		return;
	}
	retire(a, sig_tls_publish(s));
	a->tls_gen = gen;
	SBC_NOTICE("tls reload: %u profile(s) in service, generation %llu", s->n,
		   (unsigned long long)gen);
}

static void reload_cb(uv_async_t *h)
{
	app *a = h->data;
	uint64_t want = atomic_load(&a->srv.tls_gen_wanted);
	if (want > a->tls_gen)
		do_reload(a, want);
}

static void rotate_cb(uv_timer_t *t)
{
	(void)t;
	sig_tls_rotate_ticket_keys();
	SBC_INFO("tls ticket keys rotated");
}

static void signal_cb(uv_signal_t *h, int signum)
{
	app *a = h->data;
	if (signum == SIGHUP) {
		do_reload(a, a->tls_gen + 1);
	} else if (signum == SIGUSR1) {
		char buf[SBC_MSG_TEXT_MAX];
		int n = sig_worker_stats_json(&a->srv, buf, sizeof(buf));
		if (n > 0)
			SBC_NOTICE("stats %.*s", n, buf);
	} else {
		SBC_NOTICE("signal %d: stopping", signum);
		uv_stop(&a->loop);
	}
}

int sig_app_run(const char *shm_name, const char *runtime_path)
{
	static app a;
	sig_config cfg;
	char err[512] = "";
	int r;
	shm_seg *seg = NULL;

	sbc_log_init("sbc-signal", SBC_LOG_INFO, false);
	signal(SIGPIPE, SIG_IGN);
	r = sig_config_load(runtime_path, &cfg, err, sizeof(err));
	if (r < 0) {
		SBC_ERROR("fatal: configuration: %s", err);
		return 2;
	}
	sbc_log_set_level(cfg.log_level);
	sig_raise_nofile();
	if (sig_tls_init() < 0) {
		SBC_ERROR("fatal: tls init failed");
		return 2;
	}
	{
		/* always: outbound TLS (client role) needs the profiles even
		 * without a TLS listener */
		sig_tls_set *s = NULL;
		r = sig_tls_set_build(&cfg, 0, &s, err, sizeof(err));
		if (r < 0 && needs_tls(&cfg)) {
			SBC_ERROR("fatal: %s", err);
			return 2;
		}
		if (r < 0) {
			SBC_WARN("tls profiles: %s (no TLS until a reload succeeds)", err);
			sig_config empty;
			sig_config_defaults(&empty);
			if (sig_tls_set_build(&empty, 0, &s, err, sizeof(err)) < 0) {
				SBC_ERROR("fatal: %s", err);
				return 2;
			}
		}
		for (unsigned i = 0; i < cfg.n_listen; i++)
			if (cfg.listen[i].tp == SIG_TP_TLS && sig_tls_set_find(s, cfg.listen[i].profile) < 0)
				/* not fatal: handshakes on it fail (counted) until the
				 * profile is added and the TLS area reloads */
				SBC_WARN("listener tls profile \"%s\" is not defined (yet)",
					 cfg.listen[i].profile);
		sig_tls_publish(s);
	}
	if (shm_name) {
		r = shm_seg_attach(shm_name, &seg, err, sizeof(err));
		if (r < 0) {
			SBC_ERROR("fatal: shared segment %s: %s", shm_name, err);
			return 2;
		}
	}
	a.runtime_path = runtime_path;
	uv_loop_init(&a.loop);
	uv_async_init(&a.loop, &a.reload, reload_cb);
	a.reload.data = &a;
	r = sig_server_init(&a.srv, &cfg, seg, err, sizeof(err));
	if (r < 0) {
		SBC_ERROR("fatal: %s", err[0] ? err : sbc_strerror(r));
		return 2;
	}
	a.srv.reload_async = &a.reload;
	uv_signal_t *sigs[] = {&a.sigterm, &a.sigint, &a.sighup, &a.sigusr1};
	int nums[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	for (unsigned i = 0; i < 4; i++) {
		uv_signal_init(&a.loop, sigs[i]);
		sigs[i]->data = &a;
		uv_signal_start(sigs[i], signal_cb, nums[i]);
	}
	uv_timer_init(&a.loop, &a.rotate);
	uv_timer_start(&a.rotate, rotate_cb, (uint64_t)cfg.lim.ticket_rotate_s * 1000,
		       (uint64_t)cfg.lim.ticket_rotate_s * 1000);
	uv_timer_init(&a.loop, &a.grace);
	a.grace.data = &a;
	uv_timer_start(&a.grace, grace_cb, 500, 500);
	b2b_engine_install();
	r = sig_server_start(&a.srv);
	if (r < 0) {
		SBC_ERROR("fatal: starting workers: %s", sbc_strerror(r));
		return 2;
	}
	SBC_NOTICE("started: %u worker(s), %u listener(s)%s", a.srv.n_workers, cfg.n_listen,
		   shm_name ? "" : ", standalone");
	uv_run(&a.loop, UV_RUN_DEFAULT);
	sig_server_stop(&a.srv);
	sig_server_destroy(&a.srv);
	for (unsigned i = 0; i < a.n_pending; i++)
		sig_tls_set_unref(a.pending[i].set);
	sig_tls_set_unref(sig_tls_publish(NULL));
	sig_config_free(&a.srv.cfg); /* the server's copy owns the strings of cfg */
	sig_store_close();
	sig_peer_cache_clear();
	if (seg)
		shm_seg_detach(seg);
	SBC_NOTICE("stopped");
	return 0;
}
