/* libFuzzer driver for the read-back of cdr.jsonl at sbc-control's start
 * (sbc-control/src/ctl_cdr_boot.c): whatever the file, no crash, no leak,
 * figures that add up, and the end lines it appends are whole lines that
 * close what it found open: a second read-back of the same file finds
 * nothing open (unless some open call's lines were refused by jansson, or
 * the cap was hit). Not part of `make`; build and run by hand (seeds: any
 * cdr.jsonl, e.g. one of tests/integration's data dirs):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
 *     -Ishared/include $(pkg-config --cflags libuv) tests/fuzz/fuzz_cdr_boot.c \
 *     sbc-control/src/ctl_cdr_boot.c sbc-control/src/ctl_methods_call.c \
 *     shared/src/log.c shared/src/clock.c shared/src/err.c -ljansson -o /tmp/fuzz_cdr_boot
 *   mkdir -p /tmp/fuzz-cdr && /tmp/fuzz_cdr_boot -max_total_time=60 /tmp/fuzz-cdr
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbc/log.h"
#include "../../sbc-control/src/ctl_bus.h"
#include "../../sbc-control/src/ctl_cdr.h"
#include "../../sbc-control/src/ctl_rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ctl_methods_call.c's bus and method-table neighbours, not linked here */
int ctl_bus_command(ctl_bus *bus, enum shm_role role, unsigned idx, const char *json, size_t len)
{
	(void)bus, (void)role, (void)idx, (void)json, (void)len;
	return -1;
}

int ctl_rpc_fail(ctl_rpc_err *err, int code, const char *fmt, ...)
{
	(void)err, (void)code, (void)fmt;
	return -1;
}

static ctl_ctx ctx;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path[0]) {
		char dir[] = "/tmp/fuzz-cdr-boot-XXXXXX";
		if (!mkdtemp(dir))
			abort();
		snprintf(ctx.cfg.data_dir, sizeof(ctx.cfg.data_dir), "%s", dir);
		snprintf(path, sizeof(path), "%s/cdr.jsonl", dir);
		sbc_log_set_level(SBC_LOG_ERROR); /* the warnings of each input */
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) != 0)
		abort();
	ctl_cdr_recovery r, again;
	int n = x__ctl_cdr_recover(&ctx, "fuzz", 8, &r);
	if (n < 0 || (unsigned)n != r.ended || r.ended > r.open || r.open > 8 || r.bad_lines > r.lines ||
	    r.bytes != size)
		abort();
	ctl_cdr_free();
	if (r.ended == r.open && !r.over_cap) {
		if (x__ctl_cdr_recover(&ctx, "fuzz", 8, &again) != 0 || again.open != 0)
			abort();
		ctl_cdr_free();
	}
	return 0;
}
