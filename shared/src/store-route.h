/* sbc — store internals: the packed route value (see store_route.c). */
#ifndef SBC_STORE_ROUTE_H
#define SBC_STORE_ROUTE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/store-t.h"

#define ROUTE_VAL_VERSION 2
#define ROUTE_HDR 6 /* version, count, u32 ancestor mask */
#define ROUTE_ENTRY_MAX (7 + STORE_NAME_MAX + STORE_PREPEND_MAX)
#define ROUTE_VAL_MAX (ROUTE_HDR + STORE_ROUTES_PER_PREFIX_MAX * ROUTE_ENTRY_MAX)

/* Writes the header (the mask is recomputed by x__route_fix_masks). */
void x__route_hdr(uint8_t *buf, size_t count, uint32_t mask);

/* Recomputes the ancestor masks of every key that starts with root (root
 * itself included), rewriting only the values that change. root "" sweeps
 * the whole table. Call after creating or deleting a prefix key. */
int x__route_fix_masks(MDB_txn *txn, MDB_dbi dbi, const char *root, size_t rootlen);

/* Decodes the value of key k into out[0..max) (prefix from the key). Returns
 * the number of entries in the record (may exceed max) or SBC_E_PARSE. */
int x__route_decode(const MDB_val *k, const MDB_val *v, store_route *out, size_t max);

/* Writes one entry at p; returns its size. */
size_t x__route_encode_one(uint8_t *p, uint16_t prio, uint16_t weight, uint8_t strip,
			   const char *trunk, size_t tlen, const char *prepend, size_t xlen);

#endif
