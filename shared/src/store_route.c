/* sbc — store: routes (longest-prefix match, add/remove/list, order, apply).
 *
 * Layout: key = ':' + normalised prefix (LMDB refuses empty keys, so the
 * default route "" is the key ":"); value = packed entries, sorted by trunk
 * name:
 *   u8 version (1), u8 count, then count times:
 *   u16 priority, u16 weight (little endian), u8 strip, u8 trunk_len,
 *   u8 prepend_len, trunk bytes, prepend bytes.
 * Lookup: every prefix of the number sorts at or before the number, and any
 * key between a prefix p of the number and the number starts with p. So the
 * greatest key <= number (MDB_SET_RANGE + MDB_PREV) is either the answer or
 * shares with the number a common prefix that contains the answer; repeat
 * with that common prefix. One or two cursor seeks in practice.
 * Import and export live in store_import.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"
#include "store-route.h"

/* ---- value codec ---------------------------------------------------------------- */

int x__route_decode(const MDB_val *k, const MDB_val *v, store_route *out, size_t max)
{
	const uint8_t *p = v->mv_data, *end = p + v->mv_size;
	size_t plen = k->mv_size - 1, i, n;

	if (k->mv_size < 1 || plen > STORE_PREFIX_MAX || ((const char *)k->mv_data)[0] != ':')
		return SBC_E_PARSE;
	if (v->mv_size < ROUTE_HDR || p[0] != ROUTE_VAL_VERSION)
		return SBC_E_PARSE;
	n = p[1];
	p += ROUTE_HDR;
	for (i = 0; i < n; i++) {
		uint8_t tlen, xlen;
		store_route *r = i < max ? &out[i] : NULL;

		if (end - p < 7)
			return SBC_E_PARSE;
		tlen = p[5];
		xlen = p[6];
		if (tlen == 0 || tlen > STORE_NAME_MAX || xlen > STORE_PREPEND_MAX ||
		    (size_t)(end - p) < 7u + tlen + xlen)
			return SBC_E_PARSE;
		if (r) {
			memcpy(r->prefix, (const char *)k->mv_data + 1, plen);
			r->prefix[plen] = '\0';
			r->priority = (uint16_t)(p[0] | (p[1] << 8));
			r->weight = (uint16_t)(p[2] | (p[3] << 8));
			r->strip = p[4];
			memcpy(r->trunk, p + 7, tlen);
			r->trunk[tlen] = '\0';
			memcpy(r->prepend, p + 7 + tlen, xlen);
			r->prepend[xlen] = '\0';
		}
		p += 7u + tlen + xlen;
	}
	if (p != end)
		return SBC_E_PARSE;
	return (int)n;
}

size_t x__route_encode_one(uint8_t *p, uint16_t prio, uint16_t weight, uint8_t strip,
			   const char *trunk, size_t tlen, const char *prepend, size_t xlen)
{
	p[0] = (uint8_t)prio;
	p[1] = (uint8_t)(prio >> 8);
	p[2] = (uint8_t)weight;
	p[3] = (uint8_t)(weight >> 8);
	p[4] = strip;
	p[5] = (uint8_t)tlen;
	p[6] = (uint8_t)xlen;
	memcpy(p + 7, trunk, tlen);
	memcpy(p + 7 + tlen, prepend, xlen);
	return 7 + tlen + xlen;
}

void x__route_hdr(uint8_t *buf, size_t count, uint32_t mask)
{
	buf[0] = ROUTE_VAL_VERSION;
	buf[1] = (uint8_t)count;
	buf[2] = (uint8_t)mask;
	buf[3] = (uint8_t)(mask >> 8);
	buf[4] = (uint8_t)(mask >> 16);
	buf[5] = (uint8_t)(mask >> 24);
}

static uint32_t val_mask(const MDB_val *v)
{
	const uint8_t *p = v->mv_data;

	if (v->mv_size < ROUTE_HDR)
		return 0;
	return (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
}

/* Bit (len - 1) of a key's mask: a proper prefix of that length is stored. */
static inline uint32_t len_bit(size_t len) { return len ? 1u << (len - 1) : 0; }

int x__route_fix_masks(MDB_txn *txn, MDB_dbi dbi, const char *root, size_t rootlen)
{
	struct {
		size_t len;
		uint32_t mask; /* bits of this element and all its ancestors */
	} stk[STORE_PREFIX_MAX + 2];
	char kb[STORE_PREFIX_MAX + 2], chain[STORE_PREFIX_MAX + 1];
	uint8_t buf[ROUTE_VAL_MAX];
	uint32_t base = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t depth = 0, l;
	int rc;

	kb[0] = ':';
	memcpy(kb + 1, root, rootlen);
	/* ancestors of root outside the subtree */
	for (l = 1; l < rootlen; l++) {
		k.mv_size = l + 1;
		k.mv_data = kb;
		if (mdb_get(txn, dbi, &k, &v) == 0)
			base |= len_bit(l);
	}
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return x__store_mdb_err(rc);
	k.mv_size = rootlen + 1;
	k.mv_data = kb;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *s = (const char *)k.mv_data + 1;
		size_t n = k.mv_size - 1;
		uint32_t mask, old;

		if (k.mv_size < 1 || n > STORE_PREFIX_MAX || n < rootlen ||
		    memcmp(k.mv_data, kb, rootlen + 1) != 0)
			break;
		while (depth && !(stk[depth - 1].len <= n && memcmp(chain, s, stk[depth - 1].len) == 0))
			depth--;
		mask = depth ? stk[depth - 1].mask : base;
		stk[depth].len = n;
		stk[depth].mask = mask | len_bit(n);
		depth++;
		memcpy(chain, s, n);
		old = val_mask(&v);
		if (old != mask && v.mv_size >= ROUTE_HDR && v.mv_size <= sizeof(buf)) {
			memcpy(buf, v.mv_data, v.mv_size);
			x__route_hdr(buf, buf[1], mask);
			v.mv_data = buf;
			if ((rc = mdb_cursor_put(cur, &k, &v, MDB_CURRENT)) != 0)
				break;
		}
	}
	mdb_cursor_close(cur);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : x__store_mdb_err(rc);
}

static size_t encode(const store_route *rs, size_t n, uint8_t *buf, uint32_t mask)
{
	size_t i, off = ROUTE_HDR;

	x__route_hdr(buf, n, mask);
	for (i = 0; i < n; i++)
		off += x__route_encode_one(buf + off, rs[i].priority, rs[i].weight, rs[i].strip,
					   rs[i].trunk, strlen(rs[i].trunk), rs[i].prepend,
					   strlen(rs[i].prepend));
	return off;
}

static void sort_by_priority(store_route *rs, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		store_route tmp = rs[i];

		for (j = i; j > 0; j--) {
			const store_route *a = &rs[j - 1];

			if (a->priority < tmp.priority ||
			    (a->priority == tmp.priority && strcmp(a->trunk, tmp.trunk) <= 0))
				break;
			rs[j] = rs[j - 1];
		}
		rs[j] = tmp;
	}
}

/* ---- lookup ------------------------------------------------------------------ */

/* Finds the longest stored prefix of num. The greatest key k <= num is found
 * with one seek; if k is not a prefix of num, the answer is the longest
 * stored prefix of k no longer than lcp(k, num), and k's ancestor mask says
 * which lengths exist, so one more exact get finishes. */
static int lpm(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, const char *num, size_t len,
	       MDB_val *k_out, MDB_val *v_out)
{
	char kb[STORE_NUMBER_MAX + 2];
	size_t l, lcp;
	uint32_t mask;
	MDB_val k, v;
	int rc;

	kb[0] = ':';
	memcpy(kb + 1, num, len);
	k.mv_size = len + 1;
	k.mv_data = kb;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == len + 1 && memcmp(k.mv_data, kb, len + 1) == 0)
		goto Found;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return x__store_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return x__store_mdb_err(rc);
	if (k.mv_size <= len + 1 && memcmp(k.mv_data, kb, k.mv_size) == 0)
		goto Found; /* k < num and a prefix of it */
	for (l = 0; l < k.mv_size && l < len + 1 && ((char *)k.mv_data)[l] == kb[l]; l++)
		;
	if (l == 0)
		return 0; /* not a route key: nothing sorts before the routes */
	lcp = l - 1;     /* common digits */
	mask = val_mask(&v);
	if (lcp < 32)
		mask &= (lcp ? (2u << (lcp - 1)) - 1 : 0); /* lengths 1..lcp */
	k.mv_size = mask ? (size_t)(32 - __builtin_clz(mask)) + 1 : 1; /* else the default */
	k.mv_data = kb;
	/* Through the cursor, so k points into the map, not at kb (which goes
	 * out of scope when we return). */
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return x__store_mdb_err(rc);
Found:
	*k_out = k;
	*v_out = v;
	return 1;
}

int store_route_lookup(store_reader *r, const char *number, store_route *out, size_t max)
{
	char num[STORE_NUMBER_MAX + 1];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int len, ret;

	if ((len = store_number_normalise(number, num)) < 0)
		return len;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((ret = x__store_rd_cursor(r, txn, &cur)) != 0)
		goto Exit;
	if ((ret = lpm(txn, r->st->dbi_routes, cur, num, (size_t)len, &k, &v)) <= 0)
		goto Exit;
	if ((ret = x__route_decode(&k, &v, out, max)) < 0)
		goto Exit;
	if ((size_t)ret > max)
		ret = (int)max;
	sort_by_priority(out, (size_t)ret);
Exit:
	x__store_rd_end(r);
	return ret;
}

void store_route_order(store_route *rs, size_t n, uint32_t (*rnd)(void *arg), void *arg)
{
	size_t i = 0, j, k;

	sort_by_priority(rs, n);
	while (i < n) {
		/* group [i, j) has one priority; draw its order by weight */
		for (j = i + 1; j < n && rs[j].priority == rs[i].priority; j++)
			;
		for (k = i; k + 1 < j; k++) {
			uint64_t total = 0, pick, run = 0;
			size_t x, sel = k;

			for (x = k; x < j; x++)
				total += rs[x].weight;
			if (total == 0)
				break; /* all remaining weights 0: keep name order */
			pick = (uint64_t)rnd(arg) % total + 1;
			for (x = k; x < j; x++) {
				run += rs[x].weight;
				if (run >= pick) {
					sel = x;
					break;
				}
			}
			if (sel != k) {
				store_route tmp = rs[sel];

				memmove(&rs[k + 1], &rs[k], (sel - k) * sizeof(*rs));
				rs[k] = tmp;
			}
		}
		i = j;
	}
}

int store_route_apply(const store_route *route, const char *number,
		      char out[STORE_NUMBER_MAX + 1])
{
	char num[STORE_NUMBER_MAX + 1];
	const char *p;
	size_t plen, rest;
	int len;

	if ((len = store_number_normalise(number, num)) < 0)
		return len;
	p = num;
	if (route->strip > 0) {
		if (*p == '+')
			p++;
		if (strlen(p) < route->strip)
			return SBC_E_INVAL;
		p += route->strip;
	}
	plen = strlen(route->prepend);
	rest = strlen(p);
	if (plen + rest == 0 || plen + rest > STORE_NUMBER_MAX)
		return SBC_E_INVAL;
	memmove(out + plen, p, rest + 1);
	memcpy(out, route->prepend, plen);
	/* "+" prepended to a number that already starts with '+' is invalid */
	if (store_number_normalise(out, num) < 0)
		return SBC_E_INVAL;
	return (int)(plen + rest);
}

/* ---- validation and JSON ---------------------------------------------------------- */

int store_route_validate(const store_route *r, char *err, size_t errlen)
{
	if (!store_prefix_valid(r->prefix)) {
		x__store_seterr(err, errlen, "prefix: must be empty or an optional '+' then up to "
				"%d digits", STORE_PREFIX_MAX);
		return SBC_E_INVAL;
	}
	if (!store_name_valid(r->trunk)) {
		x__store_seterr(err, errlen, "trunk: must be 1..%d characters of A-Z a-z 0-9 . _ -",
				STORE_NAME_MAX);
		return SBC_E_INVAL;
	}
	if (r->strip > STORE_PREFIX_MAX) {
		x__store_seterr(err, errlen, "strip: must be 0..%d", STORE_PREFIX_MAX);
		return SBC_E_INVAL;
	}
	if (strlen(r->prepend) > STORE_PREPEND_MAX || !store_prefix_valid(r->prepend)) {
		x__store_seterr(err, errlen, "prepend: must be an optional '+' then up to %d digits",
				STORE_PREPEND_MAX);
		return SBC_E_INVAL;
	}
	return 0;
}

static int json_uint(const json_t *v, const char *field, unsigned long max, unsigned long *out,
		     char *err, size_t errlen)
{
	json_int_t i;

	if (!json_is_integer(v)) {
		x__store_seterr(err, errlen, "%s: must be an integer", field);
		return SBC_E_INVAL;
	}
	i = json_integer_value(v);
	if (i < 0 || (unsigned long long)i > max) {
		x__store_seterr(err, errlen, "%s: must be 0..%lu", field, max);
		return SBC_E_INVAL;
	}
	*out = (unsigned long)i;
	return 0;
}

static int json_str(const json_t *v, const char *field, char *dst, size_t size, char *err,
		    size_t errlen)
{
	if (!json_is_string(v)) {
		x__store_seterr(err, errlen, "%s: must be a string", field);
		return SBC_E_INVAL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v) ||
	    !x__store_strlcpy(dst, json_string_value(v), size)) {
		x__store_seterr(err, errlen, "%s: too long (at most %zu characters)", field,
				size - 1);
		return SBC_E_INVAL;
	}
	return 0;
}

int store_route_from_json(const json_t *obj, store_route *out, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	unsigned long u;
	bool have_prefix = false, have_trunk = false;
	int ret;

	memset(out, 0, sizeof(*out));
	out->priority = STORE_ROUTE_DEFAULT_PRIORITY;
	out->weight = STORE_ROUTE_DEFAULT_WEIGHT;
	if (!json_is_object(obj)) {
		x__store_seterr(err, errlen, "route: must be a JSON object");
		return SBC_E_INVAL;
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "prefix") == 0) {
			if ((ret = json_str(v, "prefix", out->prefix, sizeof(out->prefix), err,
					    errlen)))
				return ret;
			have_prefix = true;
		} else if (strcmp(key, "trunk") == 0) {
			if ((ret = json_str(v, "trunk", out->trunk, sizeof(out->trunk), err, errlen)))
				return ret;
			have_trunk = true;
		} else if (strcmp(key, "priority") == 0) {
			if ((ret = json_uint(v, "priority", 65535, &u, err, errlen)))
				return ret;
			out->priority = (uint16_t)u;
		} else if (strcmp(key, "weight") == 0) {
			if ((ret = json_uint(v, "weight", 65535, &u, err, errlen)))
				return ret;
			out->weight = (uint16_t)u;
		} else if (strcmp(key, "strip") == 0) {
			if ((ret = json_uint(v, "strip", STORE_PREFIX_MAX, &u, err, errlen)))
				return ret;
			out->strip = (uint8_t)u;
		} else if (strcmp(key, "prepend") == 0) {
			if ((ret = json_str(v, "prepend", out->prepend, sizeof(out->prepend), err,
					    errlen)))
				return ret;
		} else {
			x__store_seterr(err, errlen, "%s: unknown key", key);
			return SBC_E_INVAL;
		}
	}
	if (!have_prefix) {
		x__store_seterr(err, errlen, "prefix: missing");
		return SBC_E_INVAL;
	}
	if (!have_trunk) {
		x__store_seterr(err, errlen, "trunk: missing");
		return SBC_E_INVAL;
	}
	return store_route_validate(out, err, errlen);
}

json_t *store_route_to_json(const store_route *r)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:s}", "prefix", r->prefix, "trunk", r->trunk,
			 "priority", (int)r->priority, "weight", (int)r->weight, "strip",
			 (int)r->strip, "prepend", r->prepend);
}

/* ---- add / remove / list ------------------------------------------------------------ */

static void route_key(const char *prefix, char kb[STORE_PREFIX_MAX + 2], MDB_val *k)
{
	size_t n = strlen(prefix);

	kb[0] = ':';
	memcpy(kb + 1, prefix, n);
	k->mv_size = n + 1;
	k->mv_data = kb;
}

int store_route_add(store *st, const store_route *route, char *err, size_t errlen)
{
	store_route rs[STORE_ROUTES_PER_PREFIX_MAX + 1];
	uint8_t buf[ROUTE_VAL_MAX];
	char kb[STORE_PREFIX_MAX + 2];
	MDB_val k, v;
	MDB_txn *txn;
	uint32_t mask = 0;
	int n = 0, i, rc, ret;

	if ((ret = store_route_validate(route, err, errlen)) != 0)
		return ret;
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		return ret;
	k.mv_size = strlen(route->trunk);
	k.mv_data = (void *)route->trunk;
	if ((rc = mdb_get(txn, st->dbi_trunks, &k, &v)) != 0) {
		ret = x__store_mdb_err(rc);
		x__store_seterr(err, errlen, rc == MDB_NOTFOUND ? "trunk: '%s' does not exist"
								: "trunk: '%s': store read failed",
				route->trunk);
		goto Abort;
	}
	route_key(route->prefix, kb, &k);
	rc = mdb_get(txn, st->dbi_routes, &k, &v);
	if (rc == 0) {
		mask = val_mask(&v);
		if ((n = x__route_decode(&k, &v, rs, STORE_ROUTES_PER_PREFIX_MAX)) < 0 ||
		    n > STORE_ROUTES_PER_PREFIX_MAX) {
			ret = SBC_E_PARSE;
			x__store_seterr(err, errlen, "prefix '%s': stored routes are damaged",
					route->prefix);
			goto Abort;
		}
	} else if (rc != MDB_NOTFOUND) {
		ret = x__store_mdb_err(rc);
		x__store_seterr(err, errlen, "store read: %s", mdb_strerror(rc));
		goto Abort;
	}
	for (i = 0; i < n; i++) {
		int c = strcmp(rs[i].trunk, route->trunk);

		if (c == 0) {
			ret = SBC_E_EXISTS;
			x__store_seterr(err, errlen, "route prefix '%s' trunk '%s' already exists",
					route->prefix, route->trunk);
			goto Abort;
		}
		if (c > 0)
			break;
	}
	if (n >= STORE_ROUTES_PER_PREFIX_MAX) {
		ret = SBC_E_LIMIT;
		x__store_seterr(err, errlen, "prefix '%s' already has %d routes (the maximum)",
				route->prefix, n);
		goto Abort;
	}
	memmove(&rs[i + 1], &rs[i], (size_t)(n - i) * sizeof(rs[0]));
	rs[i] = *route;
	n++;
	v.mv_size = encode(rs, (size_t)n, buf, mask);
	v.mv_data = buf;
	if ((rc = mdb_put(txn, st->dbi_routes, &k, &v, 0)) != 0 ||
	    (n == 1 && (rc = x__route_fix_masks(txn, st->dbi_routes, route->prefix,
						strlen(route->prefix))) != 0) ||
	    (rc = x__store_ref_add(st, txn, route->trunk, 1)) != 0 ||
	    (rc = x__store_nroutes_add(st, txn, 1, false)) != 0) {
		ret = rc > 0 ? x__store_mdb_err(rc) : rc;
		x__store_seterr(err, errlen, "store write failed: %s", sbc_strerror(ret));
		goto Abort;
	}
	return x__store_wr_commit(st, txn, STORE_AREA_ROUTES, err, errlen);
Abort:
	mdb_txn_abort(txn);
	return ret;
}

int store_route_remove(store *st, const char *prefix, const char *trunk, char *err,
		       size_t errlen)
{
	store_route rs[STORE_ROUTES_PER_PREFIX_MAX];
	uint8_t buf[ROUTE_VAL_MAX];
	char kb[STORE_PREFIX_MAX + 2];
	MDB_val k, v;
	MDB_txn *txn;
	int n, i, kept = 0, removed = 0, rc, ret;

	if (!store_prefix_valid(prefix)) {
		x__store_seterr(err, errlen, "prefix: must be empty or an optional '+' then digits");
		return SBC_E_INVAL;
	}
	if (trunk && *trunk && !store_name_valid(trunk)) {
		x__store_seterr(err, errlen, "trunk: not a valid trunk name");
		return SBC_E_INVAL;
	}
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		return ret;
	route_key(prefix, kb, &k);
	if ((rc = mdb_get(txn, st->dbi_routes, &k, &v)) != 0) {
		ret = x__store_mdb_err(rc);
		x__store_seterr(err, errlen, "no route with prefix '%s'", prefix);
		goto Abort;
	}
	if ((n = x__route_decode(&k, &v, rs, STORE_ROUTES_PER_PREFIX_MAX)) < 0 ||
	    n > STORE_ROUTES_PER_PREFIX_MAX) {
		ret = SBC_E_PARSE;
		x__store_seterr(err, errlen, "prefix '%s': stored routes are damaged", prefix);
		goto Abort;
	}
	for (i = 0; i < n; i++) {
		if (trunk && *trunk && strcmp(rs[i].trunk, trunk) != 0) {
			rs[kept++] = rs[i];
			continue;
		}
		if ((rc = x__store_ref_add(st, txn, rs[i].trunk, -1)) != 0) {
			ret = rc;
			goto Abort;
		}
		removed++;
	}
	if (removed == 0) {
		ret = SBC_E_NOT_FOUND;
		x__store_seterr(err, errlen, "no route with prefix '%s' and trunk '%s'", prefix,
				trunk);
		goto Abort;
	}
	if (kept == 0) {
		rc = mdb_del(txn, st->dbi_routes, &k, NULL);
		if (rc == 0)
			rc = x__route_fix_masks(txn, st->dbi_routes, prefix, strlen(prefix));
	} else {
		v.mv_size = encode(rs, (size_t)kept, buf, val_mask(&v));
		v.mv_data = buf;
		rc = mdb_put(txn, st->dbi_routes, &k, &v, 0);
	}
	if (rc != 0 || (rc = x__store_nroutes_add(st, txn, -removed, false)) != 0) {
		ret = rc > 0 ? x__store_mdb_err(rc) : rc;
		x__store_seterr(err, errlen, "store write failed: %s", sbc_strerror(ret));
		goto Abort;
	}
	if ((ret = x__store_wr_commit(st, txn, STORE_AREA_ROUTES, err, errlen)) != 0)
		return ret;
	return removed;
Abort:
	mdb_txn_abort(txn);
	return ret;
}

int store_route_list(store_reader *r, const char *after_prefix, const char *after_trunk,
		     store_route *out, size_t max, bool *more)
{
	store_route rs[STORE_ROUTES_PER_PREFIX_MAX];
	char kb[STORE_PREFIX_MAX + 2];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	size_t got = 0;
	int rc, n, i, ret;
	MDB_cursor_op op;

	*more = false;
	if (after_prefix && !store_prefix_valid(after_prefix))
		return SBC_E_INVAL;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((ret = x__store_rd_cursor(r, txn, &cur)) != 0)
		goto Exit;
	if (after_prefix) {
		route_key(after_prefix, kb, &k);
		op = MDB_SET_RANGE;
	} else {
		op = MDB_FIRST;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, op); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		bool same = after_prefix && k.mv_size == strlen(after_prefix) + 1 &&
			    memcmp((char *)k.mv_data + 1, after_prefix, k.mv_size - 1) == 0;

		if ((n = x__route_decode(&k, &v, rs, STORE_ROUTES_PER_PREFIX_MAX)) < 0 ||
		    n > STORE_ROUTES_PER_PREFIX_MAX) {
			ret = SBC_E_PARSE;
			goto Exit;
		}
		for (i = 0; i < n; i++) {
			if (same && (!after_trunk || strcmp(rs[i].trunk, after_trunk) <= 0))
				continue;
			if (got == max) {
				*more = true;
				goto Done;
			}
			out[got++] = rs[i];
		}
	}
	if (rc != MDB_NOTFOUND) {
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
Done:
	ret = (int)got;
Exit:
	x__store_rd_end(r);
	return ret;
}

int64_t store_route_count(store_reader *r)
{
	MDB_val k = {7, (void *)"nroutes"}, v;
	MDB_txn *txn;
	int64_t n = 0;
	int ret;

	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if (mdb_get(txn, r->st->dbi_meta, &k, &v) == 0 && v.mv_size == sizeof(n))
		memcpy(&n, v.mv_data, sizeof(n));
	x__store_rd_end(r);
	return n;
}
