/* The bus fixture of the sbc-control bus tests (test_ctl_bus,
 * test_ctl_bus_ask): a control context with its shared segment and rings
 * for the given worker counts, and this process attached to the segment as
 * well, playing the children on the other end of the rings. Header-only;
 * each test is one binary. */
#ifndef SBC_TEST_CTL_BUS_UTIL_H
#define SBC_TEST_CTL_BUS_UTIL_H

#include <stdio.h>

#include "sbc/shm.h"
#include "../../../sbc-control/src/ctl_bus.h"

/* ctl_bus.c calls these from ctl_app.c, which the tests do not link. */
void ctl_config_changed(ctl_ctx *ctx, unsigned area) { (void)ctx, (void)area; }
void ctl_shutdown(ctl_ctx *ctx, const char *why) { (void)ctx, (void)why; }

/* Sets up ctx on loop (defaults, 16 KB control rings, media ports
 * 40000-40099) with the bus, and child attached to its segment. Returns 0,
 * or -1 with the reason on stderr. */
static inline int ctb_open(ctl_ctx *ctx, uv_loop_t *loop, unsigned signal_workers, unsigned media_workers,
			   shm_seg **child)
{
	char err[256];
	uv_loop_init(loop);
	ctx->loop = loop;
	ctl_config_defaults(&ctx->cfg);
	ctx->cfg.signal.workers = signal_workers;
	ctx->cfg.media.workers = media_workers;
	ctx->cfg.control.ctl_ring_bytes = 16384;
	ctx->cfg.media.port_min = 40000;
	ctx->cfg.media.port_max = 40099;
	if (ctl_bus_create(ctx, &ctx->bus, err, sizeof(err)) != 0) {
		fprintf(stderr, "bus: %s\n", err);
		return -1;
	}
	if (shm_seg_attach(ctl_bus_name(ctx->bus), child, err, sizeof(err)) != 0) {
		fprintf(stderr, "attach: %s\n", err);
		return -1;
	}
	return 0;
}

/* Undoes ctb_open: detaches child, destroys the bus (its handles close in
 * the loop run) and closes the loop. */
static inline void ctb_close(ctl_ctx *ctx, uv_loop_t *loop, shm_seg *child)
{
	shm_seg_detach(child);
	ctl_bus_destroy(ctx->bus);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
}

#endif
