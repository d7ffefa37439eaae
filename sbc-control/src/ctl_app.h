/* sbc-control — process lifecycle: start-up in order, run, orderly stop.
 *
 * Start: config -> data dir -> store (+ embedded default seed) -> shared
 * segment (generations mirror the store) -> runtime.json -> control socket
 * -> children. Stop (SIGTERM, SIGINT, system.shutdown): stop accepting on
 * the socket, DRAIN + SIGTERM children (SIGKILL after the deadline), unlink
 * the segment and socket, close the store, exit 0.
 */
#ifndef CTL_APP_H
#define CTL_APP_H

#include <stdbool.h>

typedef struct ctl_options {
	const char *config_path;
	const char *data_dir;
	const char *socket;
	const char *bin_dir;
	const char *signal_bin;
	const char *media_bin;
	const char *log_level;
	bool check_config; /* validate, print the effective runtime.json, exit */
} ctl_options;

/* Returns the process exit status. */
int ctl_app_run(const ctl_options *opt);

#endif
