/* sbc — store: routes (longest-prefix match, add/remove/list, order, apply).
 *
 * Key/value layout: store_route_codec.c. Lookup: every prefix of the number
 * sorts at or before the number, and any key between a prefix p of the
 * number and the number starts with p. So the greatest key k <= number
 * (MDB_SET_RANGE + MDB_PREV) is the answer when it is a prefix of the
 * number; otherwise the answer is the longest stored prefix of k no longer
 * than their common prefix, and k's ancestor mask says which lengths exist:
 * one more exact get. Import and export live in store_import.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"
#include "store-route.h"

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

static inline uint64_t key_u64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

/* Characters in a key: nibbles up to the last non-zero one. */
static inline size_t key_len(uint64_t k) { return k ? 16 - (size_t)__builtin_ctzll(k) / 4 : 0; }

/* Longest stored prefix of num[0..len): 1 and its value (pointing into the
 * map; valid until the txn ends) with the prefix in pfx, or 0. Keys are
 * compared as 64-bit numbers: the common prefix of two keys is the count of
 * equal leading nibbles, and the prefix string is num's own head. */
static int lpm(MDB_txn *txn, MDB_dbi dbi, MDB_cursor *cur, const char *num, size_t len,
	       MDB_val *v_out, char pfx[STORE_PREFIX_MAX + 1])
{
	uint8_t kb[ROUTE_KEY_MAX];
	size_t l, lcp;
	uint64_t t, kv;
	uint32_t mask;
	MDB_val k, v;
	int rc;

	x__route_key(num, len, kb); /* its first STORE_PREFIX_MAX characters */
	t = key_u64(kb);
	k.mv_size = 8;
	k.mv_data = kb;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && k.mv_size == 8 && key_u64(k.mv_data) == t) {
		l = len < STORE_PREFIX_MAX ? len : STORE_PREFIX_MAX;
		goto Found;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return x__store_mdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return x__store_mdb_err(rc);
	if (k.mv_size != 8)
		return SBC_E_PARSE;
	kv = key_u64(k.mv_data);
	lcp = (size_t)__builtin_clzll(kv ^ t) / 4; /* kv != t here */
	l = key_len(kv);
	if (l <= lcp)
		goto Found; /* k < num and a prefix of it */
	mask = x__route_mask(&v);
	if (lcp < 32)
		mask &= (1u << lcp) - 1; /* lengths 1..lcp */
	l = mask ? (size_t)(32 - __builtin_clz(mask)) : 0; /* 0: the default route */
	k.mv_size = x__route_key(num, l, kb);
	k.mv_data = kb;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return x__store_mdb_err(rc);
Found:
	memcpy(pfx, num, l);
	pfx[l] = '\0';
	*v_out = v;
	return 1;
}

int store_route_lookup(store_reader *r, const char *number, store_route *out, size_t max)
{
	char num[STORE_NUMBER_MAX + 1], pfx[STORE_PREFIX_MAX + 1];
	rentry es[STORE_ROUTES_PER_PREFIX_MAX];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val v;
	int len, ret, n, i;

	if ((len = store_number_normalise(number, num)) < 0)
		return len;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((ret = x__store_rd_cursor(r, txn, &cur)) != 0)
		goto Exit;
	if ((ret = lpm(txn, r->st->dbi_routes, cur, num, (size_t)len, &v, pfx)) <= 0)
		goto Exit;
	if ((n = x__route_decode(&v, es, STORE_ROUTES_PER_PREFIX_MAX)) < 0 ||
	    n > STORE_ROUTES_PER_PREFIX_MAX) {
		ret = SBC_E_PARSE;
		goto Exit;
	}
	if (max > (size_t)n)
		max = (size_t)n;
	if (max < (size_t)n) {
		/* only the best max routes: order the entries before naming them */
		store_route all[STORE_ROUTES_PER_PREFIX_MAX];

		for (i = 0; i < n; i++)
			if ((ret = x__route_public(r->st, r, txn, pfx, &es[i], &all[i])) != 0)
				goto Exit;
		sort_by_priority(all, (size_t)n);
		memcpy(out, all, max * sizeof(*out));
	} else {
		for (i = 0; i < n; i++)
			if ((ret = x__route_public(r->st, r, txn, pfx, &es[i], &out[i])) != 0)
				goto Exit;
		sort_by_priority(out, (size_t)n);
	}
	ret = (int)max;
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
	if (r->strip > STORE_STRIP_MAX) {
		x__store_seterr(err, errlen, "strip: must be 0..%d", STORE_STRIP_MAX);
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
			if ((ret = json_uint(v, "strip", STORE_STRIP_MAX, &u, err, errlen)))
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

static int load_prefix(store *st, MDB_txn *txn, const char *prefix, uint8_t *kb, MDB_val *k,
		       rentry *es, uint32_t *mask, char *err, size_t errlen)
{
	MDB_val v;
	int rc, n;

	k->mv_size = x__route_key(prefix, strlen(prefix), kb);
	k->mv_data = kb;
	rc = mdb_get(txn, st->dbi_routes, k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc) {
		x__store_seterr(err, errlen, "store read: %s", mdb_strerror(rc));
		return x__store_mdb_err(rc);
	}
	if ((n = x__route_decode(&v, es, STORE_ROUTES_PER_PREFIX_MAX)) < 0 ||
	    n > STORE_ROUTES_PER_PREFIX_MAX) {
		x__store_seterr(err, errlen, "prefix '%s': stored routes are damaged", prefix);
		return SBC_E_PARSE;
	}
	*mask = x__route_mask(&v);
	return n;
}

int store_route_add(store *st, const store_route *route, char *err, size_t errlen)
{
	rentry es[STORE_ROUTES_PER_PREFIX_MAX];
	uint8_t buf[ROUTE_VAL_MAX], kb[ROUTE_KEY_MAX];
	MDB_val k, v;
	MDB_txn *txn;
	uint32_t mask = 0, tid;
	int n, i, rc, ret;

	if ((ret = store_route_validate(route, err, errlen)) != 0)
		return ret;
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		return ret;
	if ((ret = x__store_tid_get(st, txn, route->trunk, &tid)) != 0) {
		x__store_seterr(err, errlen, ret == SBC_E_NOT_FOUND ? "trunk: '%s' does not exist"
								    : "trunk: '%s': store read failed",
				route->trunk);
		goto Abort;
	}
	if ((n = ret = load_prefix(st, txn, route->prefix, kb, &k, es, &mask, err, errlen)) < 0)
		goto Abort;
	for (i = 0; i < n; i++) {
		if (es[i].tid == tid) {
			ret = SBC_E_EXISTS;
			x__store_seterr(err, errlen, "route prefix '%s' trunk '%s' already exists",
					route->prefix, route->trunk);
			goto Abort;
		}
	}
	if (n >= STORE_ROUTES_PER_PREFIX_MAX) {
		ret = SBC_E_LIMIT;
		x__store_seterr(err, errlen, "prefix '%s' already has %d routes (the maximum)",
				route->prefix, n);
		goto Abort;
	}
	es[n].tid = tid;
	es[n].priority = route->priority;
	es[n].weight = route->weight;
	es[n].strip = route->strip;
	memcpy(es[n].prepend, route->prepend, sizeof(es[n].prepend));
	n++;
	v.mv_size = x__route_encode(es, (size_t)n, mask, buf);
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
	rentry es[STORE_ROUTES_PER_PREFIX_MAX];
	uint8_t buf[ROUTE_VAL_MAX], kb[ROUTE_KEY_MAX];
	char name[STORE_NAME_MAX + 1];
	MDB_val k, v;
	MDB_txn *txn;
	uint32_t mask = 0, tid = 0;
	int n, i, kept = 0, removed = 0, rc, ret;
	bool one = trunk && *trunk;

	if (!store_prefix_valid(prefix)) {
		x__store_seterr(err, errlen, "prefix: must be empty or an optional '+' then digits");
		return SBC_E_INVAL;
	}
	if (one && !store_name_valid(trunk)) {
		x__store_seterr(err, errlen, "trunk: not a valid trunk name");
		return SBC_E_INVAL;
	}
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		return ret;
	if (one && (ret = x__store_tid_get(st, txn, trunk, &tid)) != 0) {
		if (ret == SBC_E_NOT_FOUND)
			x__store_seterr(err, errlen, "no route with prefix '%s' and trunk '%s'",
					prefix, trunk);
		goto Abort;
	}
	if ((n = ret = load_prefix(st, txn, prefix, kb, &k, es, &mask, err, errlen)) <= 0) {
		if (n == 0) {
			ret = SBC_E_NOT_FOUND;
			x__store_seterr(err, errlen, "no route with prefix '%s'", prefix);
		}
		goto Abort;
	}
	for (i = 0; i < n; i++) {
		if (one && es[i].tid != tid) {
			es[kept++] = es[i];
			continue;
		}
		if ((ret = x__store_tname(st, txn, es[i].tid, name)) != 0 ||
		    (ret = x__store_ref_add(st, txn, name, -1)) != 0)
			goto Abort;
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
		v.mv_size = x__route_encode(es, (size_t)kept, mask, buf);
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

/* The routes of the key/value, named and sorted by trunk name. */
int x__route_named(store_reader *r, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
		   store_route *out)
{
	rentry es[STORE_ROUTES_PER_PREFIX_MAX];
	char pfx[STORE_PREFIX_MAX + 1];
	int n, i, ret;

	if (x__route_key_str(k, pfx) < 0)
		return SBC_E_PARSE;
	if ((n = x__route_decode(v, es, STORE_ROUTES_PER_PREFIX_MAX)) < 0 ||
	    n > STORE_ROUTES_PER_PREFIX_MAX)
		return SBC_E_PARSE;
	for (i = 0; i < n; i++)
		if ((ret = x__route_public(r->st, r, txn, pfx, &es[i], &out[i])) != 0)
			return ret;
	x__route_sort_by_name(out, (size_t)n);
	return n;
}

int store_route_list(store_reader *r, const char *after_prefix, const char *after_trunk,
		     store_route *out, size_t max, bool *more)
{
	store_route rs[STORE_ROUTES_PER_PREFIX_MAX];
	uint8_t kb[ROUTE_KEY_MAX];
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	size_t got = 0;
	int rc, n, i, ret;
	MDB_cursor_op op = MDB_FIRST;

	*more = false;
	if (after_prefix && !store_prefix_valid(after_prefix))
		return SBC_E_INVAL;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((ret = x__store_rd_cursor(r, txn, &cur)) != 0)
		goto Exit;
	if (after_prefix) {
		k.mv_size = x__route_key(after_prefix, strlen(after_prefix), kb);
		k.mv_data = kb;
		op = MDB_SET_RANGE;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, op); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		bool same;

		if ((n = ret = x__route_named(r, txn, &k, &v, rs)) < 0)
			goto Exit;
		same = after_prefix && strcmp(rs[0].prefix, after_prefix) == 0;
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
