/* sbc-control — supervision of sbc-signal and sbc-media.
 *
 * Lifecycle of a child (numbered as in libuv's design notes):
 *  1. starting: fork+exec'd as `<bin> --shm NAME --runtime PATH`, with the
 *     doorbell eventfds inherited and every other descriptor above 2 closed;
 *     it becomes running on its HELLO, or after one second alive.
 *  2. running -> (exit) -> backoff: restarted after backoff_initial_ms,
 *     doubling per quick death (one before stable_ms of uptime), capped at
 *     backoff_max_ms. A child that lived stable_ms starts over at one.
 *  3. More than restart_max quick deaths in a row: failed (not restarted
 *     until system.reload or a restart of sbc-control).
 *  4. Shutdown: DRAIN to signal, SIGTERM to signal, then to media once
 *     signal is gone (media keeps relaying while calls drain), SIGKILL to
 *     whatever is left after stop_timeout_ms; then stopped.
 */
#ifndef CTL_SUPER_H
#define CTL_SUPER_H

#include <jansson.h>

#include "sbc/shm-t.h"
#include "ctl_ctx.h"

typedef void (*ctl_super_stopped_cb)(ctl_ctx *ctx);

int ctl_super_create(ctl_ctx *ctx, ctl_super **out);
/* Spawns both children. */
int ctl_super_start(ctl_super *s);
/* Begins the shutdown; cb runs once every child is gone. */
void ctl_super_stop(ctl_super *s, ctl_super_stopped_cb cb);
/* Frees (after the stop completed and handles closed: run the loop after). */
void ctl_super_destroy(ctl_super *s);

/* Restarts children in the failed state (system.reload). Returns how many. */
unsigned ctl_super_revive(ctl_super *s);

/* Restarts role's child on purpose (DRAIN first for signal): SIGTERM, then
 * a respawn at once, not counted as a quick death. A child in backoff or
 * failed starts now. */
int ctl_super_restart(ctl_super *s, enum shm_role role);

/* [{"name","pid","state","restarts","uptime_s","last_exit"}...] */
json_t *ctl_super_status_json(ctl_super *s);

#endif
