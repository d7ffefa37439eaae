/* sbc-control — the shared segment as seen from the control side: creating
 * it, the control<->child rings, config-change notices, drain, stats.
 *
 * Caveats:
 *  1. sbc-control is the producer of every control->child ring and the
 *     consumer of every child->control ring; one doorbell (its own eventfd)
 *     wakes its loop for all of them (uv_poll).
 *  2. Before a child (re)starts, ctl_bus_child_reset() discards what its dead
 *     predecessor left unread on the control->child rings (the consumer is
 *     dead, so control may move khead) and pushes HELLO as the first message.
 *  3. A full ring never blocks: the notice is counted (ctx counters.ring_full)
 *     and logged; the change itself stays committed, and the child also sees
 *     the LMDB generation.
 *  4. Messages to a child that is not alive are not pushed (it reads the
 *     generations at start).
 */
#ifndef CTL_BUS_H
#define CTL_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "sbc/shm-t.h"
#include "ctl_ctx.h"

/* Called when a child worker's HELLO arrived (and matched our sizes). */
typedef void (*ctl_bus_hello_cb)(void *arg, enum shm_role role, unsigned idx, pid_t pid);

/* Creates "/sbc-<pid>" with the worker counts and media region of ctx->cfg
 * and starts watching the doorbell. */
int ctl_bus_create(ctl_ctx *ctx, ctl_bus **out, char *err, size_t errlen);

/* Stops watching, answers pending stats requests, unmaps and unlinks. The
 * bus is freed in the handle's close callback: run the loop afterwards. */
void ctl_bus_destroy(ctl_bus *bus);

const char *ctl_bus_name(const ctl_bus *bus);
uint64_t ctl_bus_generation(const ctl_bus *bus, unsigned area);
void ctl_bus_set_hello_cb(ctl_bus *bus, ctl_bus_hello_cb cb, void *arg);

/* Doorbell eventfds a child must inherit; returns the count (<= max). */
unsigned ctl_bus_inherit_fds(const ctl_bus *bus, int *fds, unsigned max);

/* Before spawning role's process: reset its inbound rings, push HELLO. */
void ctl_bus_child_reset(ctl_bus *bus, enum shm_role role);
void ctl_bus_child_alive(ctl_bus *bus, enum shm_role role, bool alive);
/* After role's process pid ended (reaped, before its successor starts):
 * reads what it left on its rings, then ends the call records it held with
 * reason (see ctl_cdr.h caveat 3). */
void ctl_bus_child_exited(ctl_bus *bus, enum shm_role role, pid_t pid, const char *reason);

/* Publishes area's new generation in the segment and pushes CONFIG_CHANGED
 * to every live child worker. gen is the store's generation for the area
 * (so the segment and LMDB agree); 0 or a value not above the current one
 * bumps by one instead. Returns the generation published. */
uint64_t ctl_bus_notify(ctl_bus *bus, unsigned area, uint64_t gen);
/* At start, before the children: the segment mirrors the store. */
void ctl_bus_set_generation(ctl_bus *bus, unsigned area, uint64_t gen);

/* Pushes DRAIN to every signal worker. Returns the number delivered. */
/* Pushes SBC_MSG_COMMAND (JSON text) to one child worker. 0, SBC_E_STATE
 * (not alive / no such worker) or a ring error. */
int ctl_bus_command(ctl_bus *bus, enum shm_role role, unsigned idx, const char *json, size_t len);
unsigned ctl_bus_drain(ctl_bus *bus, uint32_t deadline_ms);

/* Sends STATS_REQUEST to every live child worker and calls cb once with
 * {"signal":[...],"media":[...]} (one entry per worker: available + stats or
 * error) when all answered or after timeout_ms. cb owns the JSON. */
typedef void (*ctl_bus_stats_cb)(json_t *result, void *arg);
int ctl_bus_stats(ctl_bus *bus, unsigned timeout_ms, ctl_bus_stats_cb cb, void *arg);

/* Sends SBC_MSG_COMMAND (JSON text) to every live worker of role (idx < 0)
 * or to worker idx alone, and calls cb once with {"<role>":[...]} (one entry
 * per worker: available + "reply" (the COMMAND_REPLY object) or error; a
 * worker not asked shows "not running") when all answered or after
 * timeout_ms. 0, SBC_E_INVAL (text too long) or -ENOMEM. */
int ctl_bus_ask(ctl_bus *bus, enum shm_role role, int idx, const char *json, size_t len, unsigned timeout_ms,
		ctl_bus_stats_cb cb, void *arg);

/* Ring counters for system.status / stats: {"rings":[...]} (new reference). */
json_t *ctl_bus_ring_json(ctl_bus *bus);

#endif
