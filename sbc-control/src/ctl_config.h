/* sbc-control — configuration: the embedded default, the operator's JSON file
 * (--config), and runtime.json for the children.
 *
 * Caveats:
 *  1. Every key is declared once, in the table in shared/src/config.c (name,
 *     type, default, range, readers); the loader walks the JSON against it,
 *     so an unknown key or a bad value is an error naming the key path
 *     ("signal.workers").
 *  2. The loaded ctl_config is immutable once ctl_config_finalize() ran: the
 *     supervisor and the methods read it, nobody patches it at run time
 *     (system.reload re-reads the file into a fresh snapshot).
 *  3. The "control" section is sbc-control's own; it is not written into
 *     runtime.json (the children do not know it).
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sbc/config-t.h"
#include "sbc/sockaddr.h"

#define CTL_MAX_LISTEN SBC_CFG_MAX_LISTEN
#define CTL_NAME_MAX SBC_CFG_NAME_MAX

/* The keys, their types, defaults and ranges are shared/src/config.c's
 * (one table for the three processes); sbc-control reads them all but
 * signal.tls_profiles. */
typedef sbc_cfg_listen ctl_listen;
typedef sbc_config ctl_config;

/* The embedded default: loopback listeners 5060 udp/tcp + 5061 tls (profile
 * "default"), media on 127.0.0.1 30000-39999, one worker each, data dir
 * "run" (relative; finalize makes it absolute). */
void ctl_config_defaults(ctl_config *c);

/* Applies a JSON object (the --config format) over c. On error returns
 * SBC_E_CONFIG and err holds "<key>: <reason>". */
int ctl_config_apply_json(ctl_config *c, json_t *root, char *err, size_t errlen);

/* Reads and applies a file; parse errors name the line and column. */
int ctl_config_load_file(ctl_config *c, const char *path, char *err, size_t errlen);

/* Cross-field checks and path resolution (relative paths against cwd,
 * store_path defaults to <data_dir>/store, socket to <data_dir>/control.sock). */
int ctl_config_finalize(ctl_config *c, char *err, size_t errlen);

/* The runtime.json object for the children (new reference). */
json_t *ctl_config_runtime_json(const ctl_config *c);

/* Writes runtime.json atomically (temp file + rename), mode 0640. */
int ctl_config_write_runtime(const ctl_config *c, const char *path, char *err, size_t errlen);

#endif
