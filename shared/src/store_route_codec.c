/* sbc — store: route key/value codec and the ancestor-mask index.
 *
 * Key: the prefix (at most 16 characters: '+' and 15 digits, all of E.164)
 * packed into 8 bytes, a nibble per character, big endian, zero padded, so
 * one 64-bit comparison orders two keys (store.c sets that comparator).
 * Value: u8 version, u8 count, u32 ancestor mask (LE), then per route:
 *   u32 trunk id, u16 priority, u16 weight, u8 strip, u8 prepend_len,
 *   prepend bytes (all little endian).
 * The ancestor mask lets a lookup finish in one seek plus at most one get
 * (store_route.c); writers keep it right with x__route_fix_masks().
 */
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"
#include "store-route.h"

static inline uint64_t nib(char c) { return c == '+' ? 1u : (uint64_t)(c - '0') + 2u; }

size_t x__route_key(const char *s, size_t n, uint8_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n > STORE_PREFIX_MAX)
		n = STORE_PREFIX_MAX;
	for (i = 0; i < n; i++)
		v |= nib(s[i]) << (60 - 4 * i);
	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
	return 8;
}

int x__route_key_str(const MDB_val *k, char out[STORE_PREFIX_MAX + 1])
{
	static const char chars[16] = {0, '+', '0', '1', '2', '3', '4', '5',
				       '6', '7', '8', '9', 0, 0, 0, 0};
	const uint8_t *p = k->mv_data;
	uint64_t v = 0;
	size_t i, n = 0;

	if (k->mv_size != 8)
		return -1;
	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	for (i = 0; i < STORE_PREFIX_MAX; i++) {
		unsigned c = (unsigned)(v >> (60 - 4 * i)) & 15;

		if (c == 0)
			break;
		if (!chars[c] || (c == 1 && i != 0))
			return -1;
		out[n++] = chars[c];
	}
	if (n < STORE_PREFIX_MAX && (v << (4 * n)) != 0)
		return -1; /* something after the padding */
	out[n] = '\0';
	return (int)n;
}

uint32_t x__route_mask(const MDB_val *v)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size < ROUTE_HDR)
		return 0;
	return (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
}

static void put_mask(uint8_t *buf, uint32_t mask)
{
	buf[2] = (uint8_t)mask;
	buf[3] = (uint8_t)(mask >> 8);
	buf[4] = (uint8_t)(mask >> 16);
	buf[5] = (uint8_t)(mask >> 24);
}

int x__route_decode(const MDB_val *v, rentry *out, size_t max)
{
	const uint8_t *p = v->mv_data, *end = p + v->mv_size;
	size_t i, n;

	if (v->mv_size < ROUTE_HDR || p[0] != ROUTE_VAL_VERSION)
		return SBC_E_PARSE;
	n = p[1];
	p += ROUTE_HDR;
	for (i = 0; i < n; i++) {
		uint8_t xlen;

		if (end - p < ROUTE_ENTRY_FIXED)
			return SBC_E_PARSE;
		xlen = p[9];
		if (xlen > STORE_PREPEND_MAX || (size_t)(end - p) < ROUTE_ENTRY_FIXED + (size_t)xlen)
			return SBC_E_PARSE;
		if (i < max) {
			rentry *e = &out[i];

			e->tid = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				 (uint32_t)p[3] << 24;
			e->priority = (uint16_t)(p[4] | p[5] << 8);
			e->weight = (uint16_t)(p[6] | p[7] << 8);
			e->strip = p[8];
			memcpy(e->prepend, p + ROUTE_ENTRY_FIXED, xlen);
			e->prepend[xlen] = '\0';
		}
		p += ROUTE_ENTRY_FIXED + xlen;
	}
	if (p != end || n == 0)
		return SBC_E_PARSE;
	return (int)n;
}

size_t x__route_encode(const rentry *e, size_t n, uint32_t mask, uint8_t *buf)
{
	size_t i, off = ROUTE_HDR;

	buf[0] = ROUTE_VAL_VERSION;
	buf[1] = (uint8_t)n;
	put_mask(buf, mask);
	for (i = 0; i < n; i++) {
		uint8_t *p = buf + off;
		size_t xlen = strlen(e[i].prepend);

		p[0] = (uint8_t)e[i].tid;
		p[1] = (uint8_t)(e[i].tid >> 8);
		p[2] = (uint8_t)(e[i].tid >> 16);
		p[3] = (uint8_t)(e[i].tid >> 24);
		p[4] = (uint8_t)e[i].priority;
		p[5] = (uint8_t)(e[i].priority >> 8);
		p[6] = (uint8_t)e[i].weight;
		p[7] = (uint8_t)(e[i].weight >> 8);
		p[8] = e[i].strip;
		p[9] = (uint8_t)xlen;
		memcpy(p + ROUTE_ENTRY_FIXED, e[i].prepend, xlen);
		off += ROUTE_ENTRY_FIXED + xlen;
	}
	return off;
}

/* Bit (len - 1): a proper prefix of that length is stored. */
static inline uint32_t len_bit(size_t len) { return len ? 1u << (len - 1) : 0; }

int x__route_fix_masks(MDB_txn *txn, MDB_dbi dbi, const char *root, size_t rootlen)
{
	struct {
		size_t len;
		uint32_t mask; /* bits of this element and all its ancestors */
	} stk[STORE_PREFIX_MAX + 2];
	char chain[STORE_PREFIX_MAX + 1], s[STORE_PREFIX_MAX + 1];
	uint8_t kb[ROUTE_KEY_MAX], buf[ROUTE_VAL_MAX];
	uint32_t base = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t depth = 0, l;
	int rc, n;

	/* ancestors of root outside the subtree */
	for (l = 1; l < rootlen; l++) {
		k.mv_size = x__route_key(root, l, kb);
		k.mv_data = kb;
		if (mdb_get(txn, dbi, &k, &v) == 0)
			base |= len_bit(l);
	}
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return x__store_mdb_err(rc);
	k.mv_size = x__route_key(root, rootlen, kb);
	k.mv_data = kb;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint32_t mask;

		if ((n = x__route_key_str(&k, s)) < 0) {
			rc = MDB_CORRUPTED;
			break;
		}
		if ((size_t)n < rootlen || memcmp(s, root, rootlen) != 0)
			break; /* left the subtree */
		while (depth && !(stk[depth - 1].len <= (size_t)n &&
				  memcmp(chain, s, stk[depth - 1].len) == 0))
			depth--;
		mask = depth ? stk[depth - 1].mask : base;
		stk[depth].len = (size_t)n;
		stk[depth].mask = mask | len_bit((size_t)n);
		depth++;
		memcpy(chain, s, (size_t)n);
		if (x__route_mask(&v) != mask && v.mv_size >= ROUTE_HDR && v.mv_size <= sizeof(buf)) {
			memcpy(buf, v.mv_data, v.mv_size);
			put_mask(buf, mask);
			v.mv_data = buf;
			if ((rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT)) != 0)
				break;
		}
	}
	mdb_cursor_close(cur);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : x__store_mdb_err(rc);
}

int x__route_public(store *st, store_reader *r, MDB_txn *txn, const char *prefix,
		    const rentry *e, store_route *out)
{
	int ret = r ? x__store_rd_tname(r, txn, e->tid, out->trunk)
		    : x__store_tname(st, txn, e->tid, out->trunk);

	if (ret)
		return ret;
	x__store_strlcpy(out->prefix, prefix, sizeof(out->prefix));
	out->priority = e->priority;
	out->weight = e->weight;
	out->strip = e->strip;
	memcpy(out->prepend, e->prepend, sizeof(out->prepend));
	return 0;
}

void x__route_sort_by_name(store_route *rs, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		store_route tmp = rs[i];

		for (j = i; j > 0 && strcmp(rs[j - 1].trunk, tmp.trunk) > 0; j--)
			rs[j] = rs[j - 1];
		rs[j] = tmp;
	}
}
