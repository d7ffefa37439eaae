/* sbc-control — the process context shared by its modules.
 *
 * Caveats:
 *  1. One libuv loop, one thread for everything but route import/export
 *     (those run in the libuv thread pool, see ctl_methods_route.c); every
 *     field here is owned by the loop thread unless marked otherwise.
 *  2. The modules are created in main.c in this order and destroyed in the
 *     reverse: store, bus (shared segment), rpc server, supervisor.
 */
#ifndef CTL_CTX_H
#define CTL_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "sbc/store.h"
#include "ctl_config.h"

typedef struct ctl_bus ctl_bus;
typedef struct ctl_super ctl_super;
typedef struct ctl_rpc ctl_rpc;

/* Counters of sbc-control itself, reported by stats.get. LOOP thread. */
typedef struct ctl_counters {
	uint64_t rpc_requests;
	uint64_t rpc_errors;
	uint64_t rpc_clients_accepted;
	uint64_t rpc_clients_refused;   /* max_clients reached */
	uint64_t rpc_clients_dropped;   /* closed for not reading / oversized lines */
	uint64_t rpc_rate_limited;
	uint64_t config_changes;
	uint64_t ring_full;             /* CONFIG_CHANGED / STATS_REQUEST not delivered */
	uint64_t ring_bad_messages;
	uint64_t cdr_write_errors;      /* cdr.jsonl lines not written (open/write failed) */
} ctl_counters;

typedef struct ctl_ctx {
	uv_loop_t *loop;
	ctl_config cfg;              /* RO after start (reload swaps it) */
	const char *config_path;     /* NULL: embedded default */
	const char *log_level_override; /* --log-level, kept across reloads */
	char runtime_path[PATH_MAX + 16];
	char bin_dir[PATH_MAX];
	char signal_bin[PATH_MAX];
	char media_bin[PATH_MAX];
	store *st;
	store_reader *rd;            /* the loop thread's reader */
	ctl_bus *bus;
	ctl_super *super;
	ctl_rpc *rpc;
	uint64_t started_ms;         /* monotonic */
	bool shutting_down;
	bool write_busy;             /* a route import runs in the thread pool */
	ctl_counters counters;
} ctl_ctx;

/* Called after every committed change to area (enum store_area/shm_area):
 * bumps the segment's generation and tells every child worker. */
void ctl_config_changed(ctl_ctx *ctx, unsigned area);

/* Starts an orderly shutdown (SIGTERM, SIGINT, system.shutdown). */
void ctl_shutdown(ctl_ctx *ctx, const char *why);

#endif
