/* sbc — store internals: the packed route value (see store_route.c). */
#ifndef SBC_STORE_ROUTE_H
#define SBC_STORE_ROUTE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/store-t.h"

#define ROUTE_VAL_VERSION 1
#define ROUTE_ENTRY_MAX (7 + STORE_NAME_MAX + STORE_PREPEND_MAX)
#define ROUTE_VAL_MAX (2 + STORE_ROUTES_PER_PREFIX_MAX * ROUTE_ENTRY_MAX)

/* Decodes the value of key k into out[0..max) (prefix from the key). Returns
 * the number of entries in the record (may exceed max) or SBC_E_PARSE. */
int x__route_decode(const MDB_val *k, const MDB_val *v, store_route *out, size_t max);

/* Writes one entry at p; returns its size. */
size_t x__route_encode_one(uint8_t *p, uint16_t prio, uint16_t weight, uint8_t strip,
			   const char *trunk, size_t tlen, const char *prepend, size_t xlen);

#endif
