/* sbc — the configuration loader shared by the three processes (types in
 * config-t.h).
 *
 * Caveats:
 *  1. Every key is declared once, in the table in shared/src/config.c; the
 *     loader walks the JSON against it. Errors are one line naming the key
 *     path ("signal.listen[1].address: ...") and return SBC_E_CONFIG.
 *  2. reader says which process loads: a key another process reads is
 *     skipped unchecked (sbc-media does not look at "signal"); a key nobody
 *     declared is an error, except at the top level of runtime.json where the
 *     children only warn (sbc-control may be newer than they are). For
 *     SBC_CFG_CONTROL a key only a child reads is unknown: sbc-control could
 *     not pass it on.
 *  3. Applying is all or nothing: on error the config is left untouched.
 *  4. Cross-field rules (port range span, duplicate listeners, ...) are in
 *     sbc_config_check(), run after the last apply.
 *  5. Adding a key: a field in sbc_config (config-t.h), one line in the
 *     table (readers C|S or C|M makes sbc-control accept it and pass it on
 *     in runtime.json, and system.reload restart that child when it
 *     changes), and the copy into the child's own struct (sig_config.c,
 *     sbc-media's config.c). Document it in sbc-control/README.md.
 *
 * Return convention: 0, SBC_E_CONFIG with a sentence in err, or -ENOMEM.
 */
#ifndef SBC_CONFIG_H
#define SBC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "sbc/config-t.h"

/* Every key's default from the table (arrays empty: sbc-control adds its
 * embedded listeners itself). */
void sbc_config_defaults(sbc_config *c);

/* Applies a JSON object over c as reader reads it. */
int sbc_config_apply_json(sbc_config *c, json_t *root, unsigned reader, char *err, size_t errlen);

/* Reads path (duplicate keys refused) and applies it. Errors begin with the
 * file: "path:line:column: ..." for a syntax error, "path: <key>: ..." for
 * a bad key; a file that cannot be read names path and the reason. */
int sbc_config_load_file(sbc_config *c, const char *path, unsigned reader, char *err, size_t errlen);

/* Rules across keys, for what reader reads: media.port_min..port_max spans
 * at least 4 ports, at least one listener and none twice; CONTROL:
 * backoff_initial_ms <= backoff_max_ms, the rings the worker counts need
 * fit in the segment. */
int sbc_config_check(const sbc_config *c, unsigned reader, char *err, size_t errlen);

/* Whether a and b differ in a key reader reads (sbc-control: restart a
 * child after a reload only when its settings changed). */
bool sbc_config_differs(const sbc_config *a, const sbc_config *b, unsigned reader);

/* runtime.json for the children (new reference, NULL on ENOMEM): every key
 * sbc-control reads that a child reads too, in table order. */
json_t *sbc_config_runtime_json(const sbc_config *c);

/* The key table (for tests and documentation). */
const sbc_cfg_key *sbc_config_keys(size_t *n);

#endif
