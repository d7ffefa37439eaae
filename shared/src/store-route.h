/* sbc — store internals: route keys and values (see store_route_codec.c). */
#ifndef SBC_STORE_ROUTE_H
#define SBC_STORE_ROUTE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/store-t.h"

struct store_reader;

#define ROUTE_VAL_VERSION 3
#define ROUTE_HDR 6          /* version, count, u32 ancestor mask */
#define ROUTE_ENTRY_FIXED 10 /* tid u32, priority u16, weight u16, strip, prepend_len */
#define ROUTE_ENTRY_MAX (ROUTE_ENTRY_FIXED + STORE_PREPEND_MAX)
#define ROUTE_VAL_MAX (ROUTE_HDR + STORE_ROUTES_PER_PREFIX_MAX * ROUTE_ENTRY_MAX)
#define ROUTE_KEY_MAX 8 /* every key is 8 bytes */

/* One stored route of a prefix, trunk as its id. */
typedef struct rentry {
	uint32_t tid;
	uint16_t priority;
	uint16_t weight;
	uint8_t strip;
	char prepend[STORE_PREPEND_MAX + 1];
} rentry;

/* Key of the string s[0..n): its first STORE_PREFIX_MAX (16) characters, a
 * nibble each, packed into 8 bytes big endian ('+' = 1, '0'..'9' = 2..11, 0
 * pads). Order-preserving: byte order of keys = string order, and a prefix
 * sorts before its extensions. "" is eight zero bytes. Returns 8. */
size_t x__route_key(const char *s, size_t n, uint8_t *out);

/* The prefix string of a key; returns its length or -1 for a bad key. */
int x__route_key_str(const MDB_val *k, char out[STORE_PREFIX_MAX + 1]);

/* Decodes a value into out[0..max); returns the entry count of the record
 * (may exceed max) or SBC_E_PARSE. */
int x__route_decode(const MDB_val *v, rentry *out, size_t max);

/* Encodes n entries with the ancestor mask; returns the value size. */
size_t x__route_encode(const rentry *e, size_t n, uint32_t mask, uint8_t *buf);

/* The ancestor mask of a value: bit (len - 1) set when a proper prefix of
 * that length is stored. */
uint32_t x__route_mask(const MDB_val *v);

/* Recomputes the masks of every key whose prefix starts with root (root
 * included), rewriting only values that change; root "" sweeps the table.
 * Call after creating or deleting a prefix. */
int x__route_fix_masks(MDB_txn *txn, MDB_dbi dbi, const char *root, size_t rootlen);

/* rentry -> store_route: names from the reader's cache (r != NULL) or the
 * meta table. */
int x__route_public(store *st, struct store_reader *r, MDB_txn *txn, const char *prefix,
		    const rentry *e, store_route *out);

/* The routes of one key/value, named, sorted by trunk name; returns the
 * count (<= STORE_ROUTES_PER_PREFIX_MAX) or an error. */
int x__route_named(struct store_reader *r, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
		   store_route *out);

/* Sorts routes by trunk name (list/export order within a prefix). */
void x__route_sort_by_name(store_route *rs, size_t n);

#endif
