/* sbc — LMDB configuration store (types and on-disk layout: store-t.h).
 *
 * Caveats (read these first):
 *  1. sbc-control is the only writer (store_open without STORE_RDONLY); the
 *     children open with STORE_RDONLY. Every write function is ONE write
 *     transaction: it validates, writes, bumps the area's generation and
 *     commits, or changes nothing. Writes are not thread-safe: call them from
 *     one thread (LMDB would serialise them anyway).
 *  2. Reads go through a store_reader, one per thread (not shareable). Each
 *     read call is its own short read transaction (renew/reset of a kept
 *     LMDB txn: no allocation, no lock), unless the caller brackets several
 *     calls with store_reader_begin/end to see one snapshot (a SIP worker
 *     can bracket one loop iteration: it saves the txn renew per call). A
 *     reader never parses a whole table to answer one call (the trunk
 *     snapshot is loaded once per trunks generation, not per call).
 *  3. Errors: negative sbc codes (sbc/err.h): SBC_E_INVAL (bad field),
 *     SBC_E_NOT_FOUND, SBC_E_EXISTS, SBC_E_STATE (e.g. trunk still in use),
 *     SBC_E_SCHEMA, SBC_E_PARSE (bad import line or damaged record), SBC_E_LIMIT,
 *     -ENOMEM / -EIO / ... Where a function takes err/errlen it writes one
 *     sentence naming the field (or line) and the reason; err may be NULL.
 *  4. The LMDB files are created mode 0600 (directory 0700); an existing
 *     store's files are chmod'ed to 0600 by the writer.
 *  5. Private keys live in the tls database. store_tls_to_json() leaves the
 *     key out unless include_key is true; nothing here logs key material.
 *  6. Strings in the structs are NUL-terminated and bounded by the limits in
 *     store-t.h; every text input is validated (hostile input is an error,
 *     never a crash).
 */
#ifndef SBC_STORE_H
#define SBC_STORE_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "sbc/store-t.h"

/* ---- environment ------------------------------------------------------- */

/* Opens (STORE_CREATE: creates) the store directory at path. map_bytes is
 * the LMDB map size (0: 4 GiB; the file only grows as used); every process
 * should pass the same value (a reader whose map is smaller than what the
 * writer later grows to gets errors until it reopens). A writer
 * initialises an empty store with STORE_SCHEMA_VERSION; any open of a store
 * with another schema version fails with SBC_E_SCHEMA and an err naming both
 * versions. A read-only open of a store that was never initialised fails with
 * SBC_E_NOT_FOUND. */
int store_open(const char *path, unsigned flags, size_t map_bytes, store **out, char *err,
	       size_t errlen);
void store_close(store *st);
bool store_is_rdonly(const store *st);
const char *store_path(const store *st);

/* Frees the reader slots of processes that died (a child killed while it
 * held a read transaction pins old pages until then). sbc-control calls it
 * after reaping a child; store_open does it for the writer. Returns the
 * number of slots freed or a negative error. */
int store_reader_check(store *st);

/* A read context for the calling thread (it also caches trunk id -> name
 * for route results). Free it before store_close. */
int store_reader_open(store *st, store_reader **out);
void store_reader_close(store_reader *r);

/* Optional: make the following read calls on r see one snapshot until
 * store_reader_end (nestable; keep it short, a reader pins old pages). */
int store_reader_begin(store_reader *r);
void store_reader_end(store_reader *r);

/* The area's generation: 0 for a new store, +1 after every committed change
 * to that area. Returns 0 as well when the read fails. */
uint64_t store_generation(store_reader *r, enum store_area area);

/* All three generations at once, read in one snapshot. */
int store_generations(store_reader *r, uint64_t gen[STORE_AREA_MAX_]);

const char *store_area_name(enum store_area area); /* "trunks", "routes", "tls" */

/* ---- small parsers shared by the areas (pure, no store needed) --------- */

/* Validates a trunk/profile name: 1..STORE_NAME_MAX of [A-Za-z0-9._-]. */
bool store_name_valid(const char *name);

/* Normalises a called number: drops visual separators (space - . ( )),
 * keeps one leading '+', requires at least one digit and only digits
 * otherwise. Returns its length or SBC_E_INVAL. */
int store_number_normalise(const char *in, char out[STORE_NUMBER_MAX + 1]);

/* Validates a route prefix: "" or optional '+' then digits, <= STORE_PREFIX_MAX. */
bool store_prefix_valid(const char *prefix);

int store_srtp_suite_parse(const char *name, uint8_t *suite); /* 0 or SBC_E_INVAL */
const char *store_srtp_suite_name(unsigned suite);            /* "?" when unknown */
int store_srtp_mode_parse(const char *name, uint8_t *mode);   /* off|optional|required */
const char *store_srtp_mode_name(unsigned mode);
int store_transport_parse(const char *name, uint8_t *tp);     /* udp|tcp|tls */
const char *store_transport_name(unsigned tp);                /* "any" for STORE_TP_ANY */

/* ---- routes ------------------------------------------------------------- */

/* Longest-prefix match of number (normalised first) against the route
 * prefixes. Fills out[] with the routes of the longest matching prefix only,
 * ordered by priority then trunk name (apply store_route_order for the
 * weighted choice). Returns the number written (<= max), 0 when no prefix
 * matches, SBC_E_INVAL for a number that does not normalise, SBC_E_PARSE for
 * a damaged record. If the prefix has more than max routes, the first max
 * are returned. Prefixes have at most STORE_PREFIX_MAX (16) characters, so a
 * longer number matches on its first 16. Cost: one B-tree seek, plus one
 * exact get when a longer sibling prefix sits between (see store_route.c). */
int store_route_lookup(store_reader *r, const char *number, store_route *out, size_t max);

/* Orders routes[0..n) by priority, and within one priority draws a weighted
 * random order: each place is drawn with probability weight/sum of the rest;
 * weight-0 routes come after the weighted ones, in trunk name order.
 * rnd supplies random 32-bit values (pass the same sequence for a repeatable
 * order in tests). */
void store_route_order(store_route *routes, size_t n, uint32_t (*rnd)(void *arg), void *arg);

/* Applies route->strip and route->prepend to number (normalised first).
 * Returns the length written to out or SBC_E_INVAL (bad number, strip longer
 * than the digits, result empty or longer than STORE_NUMBER_MAX). */
int store_route_apply(const store_route *route, const char *number,
		      char out[STORE_NUMBER_MAX + 1]);

/* Validates a route's fields (prefix, trunk name syntax, strip <= STORE_STRIP_MAX,
 * prepend syntax). Does not check that the trunk exists. */
int store_route_validate(const store_route *route, char *err, size_t errlen);

/* JSON form: {"prefix","trunk","priority","weight","strip","prepend"}.
 * from_json: prefix and trunk required, others optional (defaults above);
 * unknown keys are errors naming the key. */
int store_route_from_json(const json_t *obj, store_route *out, char *err, size_t errlen);
json_t *store_route_to_json(const store_route *route);

/* Adds one route (a trunk that does not exist: SBC_E_NOT_FOUND; the same
 * prefix+trunk already present: SBC_E_EXISTS; more than
 * STORE_ROUTES_PER_PREFIX_MAX on a prefix: SBC_E_LIMIT). */
int store_route_add(store *st, const store_route *route, char *err, size_t errlen);

/* Removes the route prefix+trunk, or every route of prefix when trunk is NULL
 * or "". Returns the number removed (>= 1) or SBC_E_NOT_FOUND. */
int store_route_remove(store *st, const char *prefix, const char *trunk, char *err,
		       size_t errlen);

/* Lists routes in (prefix, trunk) order, starting after the route
 * (after_prefix, after_trunk) (both NULL: from the start; after_trunk NULL:
 * after every route of after_prefix). Writes at most max routes to out and
 * sets *more when routes follow. Returns the number written. The last
 * route's prefix and trunk are the cursor for the next page. */
int store_route_list(store_reader *r, const char *after_prefix, const char *after_trunk,
		     store_route *out, size_t max, bool *more);

/* Number of routes (a counter kept in meta; O(1)). */
int64_t store_route_count(store_reader *r);

/* Bulk import of the text in data[0..len) in ONE write transaction: all
 * routes or none. Every line is checked (syntax, fields, trunk exists, no
 * duplicate prefix+trunk within the data or with existing routes unless
 * STORE_IMPORT_REPLACE). CSV needs the header line; JSONL ignores empty lines.
 * On error *bad_line is the 1-based line number (0 when not line-specific)
 * and err reads "line N: <reason>". Returns the number of routes imported. */
int64_t store_route_import(store *st, enum store_fmt fmt, const char *data, size_t len,
			   unsigned flags, size_t *bad_line, char *err, size_t errlen);

/* Same, reading the whole stream first. */
int64_t store_route_import_file(store *st, enum store_fmt fmt, FILE *in, unsigned flags,
				size_t *bad_line, char *err, size_t errlen);

/* Exports every route in one snapshot, one line at a time, in list order
 * (prefix, trunk)
 * (CSV starts with the header line). Each line ends with '\n'. A non-zero
 * return from cb stops the export and is returned. Returns the number of
 * routes exported or a negative error. */
typedef int (*store_line_cb)(const char *line, size_t len, void *arg);
int64_t store_route_export(store_reader *r, enum store_fmt fmt, store_line_cb cb, void *arg);
int64_t store_route_export_file(store_reader *r, enum store_fmt fmt, FILE *out);

/* ---- trunks ------------------------------------------------------------- */

/* Sets t to the defaults: enabled, no match, no destination, SRTP off both
 * ways, no limits. */
void store_trunk_init(store_trunk *t, const char *name);

/* JSON -> struct with validation. partial_update=false: out is reset to the
 * defaults first and "name" is required. partial_update=true: out holds the
 * existing trunk and only the keys present change ("name", if present, must
 * equal it). Unknown keys, wrong types and bad values fail with err naming
 * the field, e.g. "destinations[1].port: must be 1..65535".
 * Keys: name, enabled, cidrs[], certs[] ({"type":"subject|san|fingerprint",
 * "value":..}), destinations[] ({"host","port","transport"} or the string
 * "[transport:]host[:port]"), tls_profile, srtp_inbound / srtp_outbound
 * ({"mode":"off|optional|required","suites":[names]}), max_calls, max_cps,
 * reuse_inbound (bool, default false: absent in records written before it).
 * A policy with mode optional/required and no suites gets the default list
 * (AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM,
 * AEAD_AES_256_GCM, AES_256_CM_HMAC_SHA1_80, AES_256_CM_HMAC_SHA1_32). */
int store_trunk_from_json(const json_t *obj, store_trunk *out, bool partial_update, char *err,
			  size_t errlen);

/* struct -> JSON (the canonical form, also what is stored). NULL on ENOMEM. */
json_t *store_trunk_to_json(const store_trunk *t);

/* Full validation of a struct (what from_json checks, plus consistency:
 * a destination with transport tls needs a tls_profile). */
int store_trunk_validate(const store_trunk *t, char *err, size_t errlen);

/* Adds (create=true: SBC_E_EXISTS if present) or replaces (create=false:
 * SBC_E_NOT_FOUND if absent) a trunk. A tls_profile that does not exist:
 * SBC_E_NOT_FOUND naming it. */
int store_trunk_put(store *st, const store_trunk *t, bool create, char *err, size_t errlen);

/* Removes a trunk. Choice: a trunk that routes still name is NOT removed:
 * SBC_E_STATE with "trunk X is used by N routes". */
int store_trunk_remove(store *st, const char *name, char *err, size_t errlen);

int store_trunk_get(store_reader *r, const char *name, store_trunk *out);

/* Trunks in name order after `after` (NULL: from the start). */
int store_trunk_list(store_reader *r, const char *after, store_trunk *out, size_t max,
		     bool *more);

/* Routes naming this trunk (kept as a counter; O(1)). */
int64_t store_trunk_route_refs(store_reader *r, const char *name);

/* Trunk snapshot for inbound matching (sbc-signal): all trunks parsed once,
 * with the trunks generation it was read at. Immutable and reference
 * counted (atomic), so one snapshot can be shared by worker threads; reload
 * it when store_generation(r, STORE_AREA_TRUNKS) differs from
 * store_trunk_snapshot_generation(). */
int store_trunk_snapshot_load(store_reader *r, store_trunk_snapshot **out);
store_trunk_snapshot *store_trunk_snapshot_ref(store_trunk_snapshot *s);
void store_trunk_snapshot_unref(store_trunk_snapshot *s);
uint64_t store_trunk_snapshot_generation(const store_trunk_snapshot *s);
size_t store_trunk_snapshot_count(const store_trunk_snapshot *s);
const store_trunk *store_trunk_snapshot_at(const store_trunk_snapshot *s, size_t i);
const store_trunk *store_trunk_snapshot_find(const store_trunk_snapshot *s, const char *name);

/* The enabled trunk whose CIDR matches src (the longest matching CIDR wins;
 * ties: trunk name order), or NULL. The port is ignored; an IPv4-mapped IPv6
 * address (dual-stack socket) matches IPv4 CIDRs. Walks a flat, longest-first
 * list of all CIDRs: O(CIDRs), no allocation, no store access. */
const store_trunk *store_trunk_snapshot_match_addr(const store_trunk_snapshot *s,
						   const sbc_addr *src);

/* The enabled trunk that names this client certificate, or NULL. Any of
 * subject (one-line RFC 2253 text), sans[0..n_sans) or fingerprint (raw 32
 * bytes, may be NULL) may match. When src is not NULL and the trunk also has
 * CIDRs, src must match one of them too. */
const store_trunk *store_trunk_snapshot_match_cert(const store_trunk_snapshot *s,
						   const char *subject, const char *const *sans,
						   size_t n_sans, const uint8_t fingerprint[32],
						   const sbc_addr *src);

/* ---- TLS profiles ------------------------------------------------------- */

/* Zeroes p (defaults: verify_depth 4, min_version 1.2); store_tls_clear frees
 * the PEM strings (the key is wiped first). */
void store_tls_init(store_tls_profile *p, const char *name);
void store_tls_clear(store_tls_profile *p);

/* JSON -> struct. Keys: name, cert_pem (or "certificate"), key_pem (or
 * "private_key"), ca_pem, verify_depth (0..16), require_client_cert, sni[],
 * min_version ("1.2"|"1.3"), ciphers. partial_update as for trunks (p holds
 * the existing profile). Only syntax here: that the PEM parses and the key
 * matches is checked with BoringSSL in sbc-control (ctl_tls.h). */
int store_tls_from_json(const json_t *obj, store_tls_profile *p, bool partial_update, char *err,
			size_t errlen);

/* struct -> JSON. The private key is included only when include_key. */
json_t *store_tls_to_json(const store_tls_profile *p, bool include_key);

/* Adds (create=true) or replaces a profile. cert_pem and key_pem required. */
int store_tls_put(store *st, const store_tls_profile *p, bool create, char *err, size_t errlen);

/* Removes a profile; one that a trunk names is not removed (SBC_E_STATE). */
int store_tls_remove(store *st, const char *name, char *err, size_t errlen);

/* Reads a profile (caller frees with store_tls_clear). */
int store_tls_get(store_reader *r, const char *name, store_tls_profile *out);

/* Profile names in order after `after` (NULL: from the start); names is an
 * array of max entries. */
int store_tls_list(store_reader *r, const char *after, char (*names)[STORE_NAME_MAX + 1],
		   size_t max, bool *more);

#endif
