/* libFuzzer driver for the configuration loader (shared/src/config.c):
 * whatever the JSON, each reader's apply returns 0 or a clean SBC_E_CONFIG
 * with a message and leaves the config untouched on error; a config that
 * loads and passes the checks for sbc-control gives a runtime.json that each
 * child loads back into the same values. Not part of `make`; build and run
 * by hand (seeds: any runtime.json, e.g. `sbc-control --check-config`):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
 *     -Ishared/include tests/fuzz/fuzz_config.c shared/src/config.c \
 *     shared/src/err.c shared/src/log.c shared/src/clock.c shared/src/sockaddr.c \
 *     -ljansson -o /tmp/fuzz_config
 *   mkdir -p /tmp/fuzz-config && /tmp/fuzz_config -max_total_time=60 /tmp/fuzz-config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/config.h"
#include "sbc/err.h"
#include "sbc/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sbc_config cfg, before, back;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned readers[] = {SBC_CFG_CONTROL, SBC_CFG_SIGNAL, SBC_CFG_MEDIA};
	json_error_t je;
	char err[512];
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);

	sbc_log_set_level(SBC_LOG_ERROR); /* the children's warnings about unknown keys */
	if (!root)
		return 0;
	for (unsigned r = 0; r < sizeof(readers) / sizeof(readers[0]); r++) {
		sbc_config_defaults(&cfg);
		before = cfg;
		err[0] = 0;
		int ret = sbc_config_apply_json(&cfg, root, readers[r], err, sizeof(err));
		if (ret != 0 && (ret != SBC_E_CONFIG || !err[0] || memcmp(&cfg, &before, sizeof(cfg)) != 0))
			abort();
		if (ret != 0 || readers[r] != SBC_CFG_CONTROL ||
		    sbc_config_check(&cfg, SBC_CFG_CONTROL, err, sizeof(err)) != 0)
			continue;
		/* sbc-control's runtime.json, read back by each child */
		json_t *rt = sbc_config_runtime_json(&cfg);
		if (!rt)
			abort();
		for (unsigned c = 1; c < sizeof(readers) / sizeof(readers[0]); c++) {
			sbc_config_defaults(&back);
			if (sbc_config_apply_json(&back, rt, readers[c], err, sizeof(err)) != 0 ||
			    sbc_config_differs(&back, &cfg, readers[c]))
				abort();
		}
		json_decref(rt);
	}
	json_decref(root);
	return 0;
}
