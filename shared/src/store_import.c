/* sbc — store: bulk route import (CSV / JSON lines) and export.
 *
 * Import is one write transaction: parse every line into compact records
 * (offsets into the text, trunk as an index into the sorted trunk names),
 * sort by (prefix, trunk, line), reject duplicates, then write one value per
 * prefix. With STORE_IMPORT_REPLACE the routes database is emptied first and
 * the keys are appended in order (MDB_APPEND), which is what makes a million
 * routes load in about a second.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"
#include "store-route.h"

typedef struct imp_rec {
	uint32_t line;
	uint32_t tidx;
	uint32_t poff; /* prefix offset in base */
	uint32_t xoff; /* prepend offset in base */
	uint16_t prio;
	uint16_t weight;
	uint8_t plen;
	uint8_t xlen;
	uint8_t strip;
} imp_rec;

typedef struct imp {
	store *st;
	MDB_txn *txn;
	const char *base; /* CSV: the data; JSONL: arena */
	char *arena;
	size_t arena_len, arena_cap;
	imp_rec *recs;
	size_t n, cap;
	char **tnames; /* sorted trunk names */
	size_t ntrunks;
	int64_t *tref; /* routes added per trunk */
	uint32_t *tids; /* ids of tnames[] */
	char *err;
	size_t errlen;
	size_t *bad_line;
} imp;

static int fail(imp *im, size_t line, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(imp *im, size_t line, int code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		x__store_seterr(im->err, im->errlen, "line %zu: %s", line, msg);
	else
		x__store_seterr(im->err, im->errlen, "%s", msg);
	if (im->bad_line)
		*im->bad_line = line;
	return code;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_trunks(imp *im)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t cap = 16;
	int rc;

	if (!(im->tnames = calloc(cap, sizeof(char *))))
		return -ENOMEM;
	if ((rc = mdb_cursor_open(im->txn, im->st->dbi_trunks, &cur)) != 0)
		return x__store_mdb_err(rc);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char *s;

		if (im->ntrunks == cap) {
			char **nn = realloc(im->tnames, cap * 2 * sizeof(char *));

			if (!nn) {
				rc = ENOMEM;
				break;
			}
			im->tnames = nn;
			cap *= 2;
		}
		if (!(s = strndup(k.mv_data, k.mv_size))) {
			rc = ENOMEM;
			break;
		}
		im->tnames[im->ntrunks++] = s;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return x__store_mdb_err(rc);
	/* LMDB order is memcmp order, equal to strcmp for these names */
	qsort(im->tnames, im->ntrunks, sizeof(char *), cmp_str);
	if (!(im->tref = calloc(im->ntrunks ? im->ntrunks : 1, sizeof(int64_t))) ||
	    !(im->tids = calloc(im->ntrunks ? im->ntrunks : 1, sizeof(uint32_t))))
		return -ENOMEM;
	for (size_t i = 0; i < im->ntrunks; i++) {
		int ret = x__store_tid_get(im->st, im->txn, im->tnames[i], &im->tids[i]);

		if (ret)
			return ret == SBC_E_NOT_FOUND ? SBC_E_PARSE : ret;
	}
	return 0;
}

static long find_trunk(const imp *im, const char *name, size_t len)
{
	size_t lo = 0, hi = im->ntrunks;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *t = im->tnames[mid];
		int c = strncmp(t, name, len);

		if (c == 0)
			c = t[len] ? 1 : 0;
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static imp_rec *new_rec(imp *im)
{
	if (im->n == im->cap) {
		size_t nc = im->cap ? im->cap * 2 : 4096;
		imp_rec *nr = realloc(im->recs, nc * sizeof(*nr));

		if (!nr)
			return NULL;
		im->recs = nr;
		im->cap = nc;
	}
	return &im->recs[im->n++];
}

/* ---- CSV -------------------------------------------------------------------- */

enum { COL_PREFIX, COL_TRUNK, COL_PRIORITY, COL_WEIGHT, COL_STRIP, COL_PREPEND, COL_N };
static const char *const col_names[COL_N] = {"prefix", "trunk", "priority",
					     "weight", "strip",  "prepend"};

typedef struct field {
	const char *p;
	size_t len;
} field;

/* Splits line[0..len) at commas into f[]; strips spaces and one pair of
 * double quotes. Returns the field count, or -1 when more than max or a
 * quote is malformed. */
static int split(const char *line, size_t len, field *f, int max)
{
	size_t i = 0;
	int n = 0;

	for (;;) {
		size_t s = i, e;

		while (i < len && line[i] != ',')
			i++;
		e = i;
		while (s < e && (line[s] == ' ' || line[s] == '\t'))
			s++;
		while (e > s && (line[e - 1] == ' ' || line[e - 1] == '\t'))
			e--;
		if (e > s && line[s] == '"') {
			if (e - s < 2 || line[e - 1] != '"')
				return -1;
			s++;
			e--;
		}
		if (memchr(line + s, '"', e - s))
			return -1;
		if (n == max)
			return -1;
		f[n].p = line + s;
		f[n].len = e - s;
		n++;
		if (i >= len)
			return n;
		i++;
	}
}

static int parse_uint(const field *f, unsigned long max, unsigned long dflt, unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (f->len == 0) {
		*out = dflt;
		return 0;
	}
	if (f->len > 6)
		return -1;
	for (i = 0; i < f->len; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(f->p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static bool digits_ok(const char *p, size_t len, size_t max)
{
	size_t i;

	if (len > max)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] == '+' && i == 0)
			continue;
		if (p[i] < '0' || p[i] > '9')
			return false;
	}
	return true;
}

/* Fills a record from fields; the strings must live in im->base. */
static int add_rec(imp *im, size_t line, const field *prefix, const field *trunk,
		   unsigned long prio, unsigned long weight, unsigned long strip, const field *prep)
{
	imp_rec *r;
	long t;
	char tn[STORE_NAME_MAX + 1];

	if (!digits_ok(prefix->p, prefix->len, STORE_PREFIX_MAX))
		return fail(im, line, SBC_E_INVAL,
			    "prefix: '%.*s' is not an optional '+' then digits, %d characters "
			    "at most",
			    (int)(prefix->len > 40 ? 40 : prefix->len), prefix->p, STORE_PREFIX_MAX);
	if (trunk->len == 0)
		return fail(im, line, SBC_E_INVAL, "trunk: missing");
	if (trunk->len > STORE_NAME_MAX)
		return fail(im, line, SBC_E_INVAL, "trunk: name too long");
	memcpy(tn, trunk->p, trunk->len);
	tn[trunk->len] = '\0';
	if (!store_name_valid(tn))
		return fail(im, line, SBC_E_INVAL, "trunk: '%s' is not a valid name", tn);
	if ((t = find_trunk(im, tn, trunk->len)) < 0)
		return fail(im, line, SBC_E_NOT_FOUND, "trunk: '%s' does not exist", tn);
	if (!digits_ok(prep->p, prep->len, STORE_PREPEND_MAX))
		return fail(im, line, SBC_E_INVAL,
			    "prepend: not an optional '+' then up to %d digits", STORE_PREPEND_MAX);
	if (!(r = new_rec(im)))
		return fail(im, 0, -ENOMEM, "out of memory");
	r->line = (uint32_t)line;
	r->tidx = (uint32_t)t;
	r->poff = (uint32_t)(prefix->p - im->base);
	r->plen = (uint8_t)prefix->len;
	r->xoff = (uint32_t)(prep->p - im->base);
	r->xlen = (uint8_t)prep->len;
	r->prio = (uint16_t)prio;
	r->weight = (uint16_t)weight;
	r->strip = (uint8_t)strip;
	return 0;
}

static int parse_csv(imp *im, const char *data, size_t len)
{
	int cols[COL_N], ncols = 0, i, nf, ret;
	size_t pos = 0, line = 0;
	bool header = false;
	field f[COL_N + 1];
	static const field empty = {"", 0};

	im->base = data;
	while (pos < len) {
		const char *l = data + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		unsigned long v[COL_N];

		pos += ll + (nl ? 1 : 0);
		line++;
		if (ll && l[ll - 1] == '\r')
			ll--;
		while (ll && (l[0] == ' ' || l[0] == '\t')) {
			l++;
			ll--;
		}
		if (ll == 0 || l[0] == '#')
			continue;
		if (memchr(l, '\0', ll))
			return fail(im, line, SBC_E_PARSE, "NUL byte in line");
		nf = split(l, ll, f, COL_N + 1);
		if (!header) {
			bool seen[COL_N] = {false};

			if (nf < 0 || nf > COL_N)
				return fail(im, line, SBC_E_PARSE,
					    "header: expected prefix,trunk[,priority,weight,strip,"
					    "prepend]");
			for (i = 0; i < nf; i++) {
				int c;

				for (c = 0; c < COL_N; c++)
					if (f[i].len == strlen(col_names[c]) &&
					    strncasecmp(f[i].p, col_names[c], f[i].len) == 0)
						break;
				if (c == COL_N)
					return fail(im, line, SBC_E_PARSE,
						    "header: unknown column '%.*s'",
						    (int)(f[i].len > 40 ? 40 : f[i].len), f[i].p);
				if (seen[c])
					return fail(im, line, SBC_E_PARSE,
						    "header: column '%s' twice", col_names[c]);
				seen[c] = true;
				cols[i] = c;
			}
			if (!seen[COL_PREFIX] || !seen[COL_TRUNK])
				return fail(im, line, SBC_E_PARSE,
					    "header: the columns prefix and trunk are required");
			ncols = nf;
			header = true;
			continue;
		}
		if (nf != ncols) {
			char a[16], b[16];

			snprintf(a, sizeof(a), "%d", nf < 0 ? COL_N + 1 : nf);
			snprintf(b, sizeof(b), "%d", ncols);
			return fail(im, line, SBC_E_PARSE, "%s fields where the header has %s", a,
				    b);
		}
		{
			const field *fp[COL_N] = {&empty, &empty, &empty, &empty, &empty, &empty};
			static const unsigned long maxv[COL_N] = {0, 0, 65535, 65535,
								  STORE_STRIP_MAX, 0};
			static const unsigned long dflt[COL_N] = {0, 0, STORE_ROUTE_DEFAULT_PRIORITY,
								  STORE_ROUTE_DEFAULT_WEIGHT, 0, 0};

			for (i = 0; i < ncols; i++)
				fp[cols[i]] = &f[i];
			for (i = COL_PRIORITY; i <= COL_STRIP; i++) {
				if (parse_uint(fp[i], maxv[i], dflt[i], &v[i]) != 0) {
					char m[16];

					snprintf(m, sizeof(m), "%lu", maxv[i]);
					return fail(im, line, SBC_E_INVAL,
						    "%s: must be an integer 0..%s", col_names[i], m);
				}
			}
			if ((ret = add_rec(im, line, fp[COL_PREFIX], fp[COL_TRUNK], v[COL_PRIORITY],
					   v[COL_WEIGHT], v[COL_STRIP], fp[COL_PREPEND])) != 0)
				return ret;
		}
	}
	if (!header)
		return fail(im, 0, SBC_E_PARSE, "no CSV header line (prefix,trunk,...)");
	return 0;
}

/* ---- JSON lines --------------------------------------------------------------- */

static int arena_put(imp *im, const char *s, size_t len, uint32_t *off)
{
	if (im->arena_len + len + 1 > im->arena_cap) {
		size_t nc = im->arena_cap ? im->arena_cap * 2 : 65536;
		char *na;

		while (nc < im->arena_len + len + 1)
			nc *= 2;
		if (nc > UINT32_MAX || !(na = realloc(im->arena, nc)))
			return -ENOMEM;
		im->arena = na;
		im->arena_cap = nc;
	}
	memcpy(im->arena + im->arena_len, s, len);
	*off = (uint32_t)im->arena_len;
	im->arena_len += len;
	im->arena[im->arena_len++] = '\0';
	return 0;
}

/* Fast path for the plain lines export writes: a flat object of known keys
 * with unescaped string and plain integer values that passes validation.
 * Returns false for anything else (the caller then uses jansson), so it
 * accepts nothing jansson + store_route_from_json would refuse. */
static bool fast_route_line(const char *p, size_t len, store_route *rt)
{
	const char *end = p + len;
	unsigned seen = 0;

	memset(rt, 0, sizeof(*rt));
	rt->priority = STORE_ROUTE_DEFAULT_PRIORITY;
	rt->weight = STORE_ROUTE_DEFAULT_WEIGHT;
#define WS() while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++
	WS();
	if (p == end || *p++ != '{')
		return false;
	WS();
	if (p < end && *p == '}')
		return false; /* empty object: let the slow path name the missing key */
	for (;;) {
		const char *k, *v;
		size_t kl, vl;
		int col;

		if (p == end || *p++ != '"')
			return false;
		for (k = p; p < end && *p >= 'a' && *p <= 'z'; p++)
			;
		kl = (size_t)(p - k);
		if (p == end || *p++ != '"')
			return false;
		for (col = 0; col < COL_N; col++)
			if (kl == strlen(col_names[col]) && memcmp(k, col_names[col], kl) == 0)
				break;
		if (col == COL_N || (seen & (1u << col)))
			return false;
		seen |= 1u << col;
		WS();
		if (p == end || *p++ != ':')
			return false;
		WS();
		if (p == end)
			return false;
		if (col == COL_PREFIX || col == COL_TRUNK || col == COL_PREPEND) {
			char *dst = col == COL_PREFIX ? rt->prefix
				    : col == COL_TRUNK ? rt->trunk : rt->prepend;
			size_t cap = col == COL_TRUNK ? sizeof(rt->trunk) : sizeof(rt->prefix);

			if (*p++ != '"')
				return false;
			for (v = p; p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 &&
				    (unsigned char)*p < 0x80;
			     p++)
				;
			vl = (size_t)(p - v);
			if (p == end || *p++ != '"' || vl >= cap)
				return false;
			memcpy(dst, v, vl);
			dst[vl] = '\0';
		} else {
			unsigned long n = 0;

			for (v = p; p < end && *p >= '0' && *p <= '9'; p++)
				n = n * 10 + (unsigned long)(*p - '0');
			vl = (size_t)(p - v);
			if (vl == 0 || vl > 5 || (vl > 1 && *v == '0') ||
			    (p < end && (*p == '.' || *p == 'e' || *p == 'E')))
				return false;
			if (col == COL_STRIP) {
				if (n > STORE_STRIP_MAX)
					return false;
				rt->strip = (uint8_t)n;
			} else {
				if (n > 65535)
					return false;
				if (col == COL_PRIORITY)
					rt->priority = (uint16_t)n;
				else
					rt->weight = (uint16_t)n;
			}
		}
		WS();
		if (p == end)
			return false;
		if (*p == ',') {
			p++;
			WS();
			continue;
		}
		if (*p++ != '}')
			return false;
		break;
	}
	WS();
#undef WS
	if (p != end || !(seen & (1u << COL_PREFIX)) || !(seen & (1u << COL_TRUNK)))
		return false;
	return store_route_validate(rt, NULL, 0) == 0;
}

static int parse_jsonl(imp *im, const char *data, size_t len)
{
	size_t pos = 0, line = 0, i;
	char msg[200];
	int ret;

	while (pos < len) {
		const char *l = data + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos;
		json_error_t jerr;
		store_route rt;
		json_t *o;
		uint32_t poff, xoff;
		imp_rec *r;
		long t;

		pos += ll + (nl ? 1 : 0);
		line++;
		for (i = 0; i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'); i++)
			;
		if (i == ll)
			continue;
		if (!fast_route_line(l, ll, &rt)) {
			/* anything unusual: jansson and the full checks, for their errors */
			if (!(o = json_loadb(l, ll, JSON_REJECT_DUPLICATES, &jerr)))
				return fail(im, line, SBC_E_PARSE, "invalid JSON: %s", jerr.text);
			ret = store_route_from_json(o, &rt, msg, sizeof(msg));
			json_decref(o);
			if (ret)
				return fail(im, line, ret, "%s", msg);
		}
		if ((t = find_trunk(im, rt.trunk, strlen(rt.trunk))) < 0)
			return fail(im, line, SBC_E_NOT_FOUND, "trunk: '%s' does not exist",
				    rt.trunk);
		if (arena_put(im, rt.prefix, strlen(rt.prefix), &poff) ||
		    arena_put(im, rt.prepend, strlen(rt.prepend), &xoff) || !(r = new_rec(im)))
			return fail(im, 0, -ENOMEM, "out of memory");
		r->line = (uint32_t)line;
		r->tidx = (uint32_t)t;
		r->poff = poff;
		r->plen = (uint8_t)strlen(rt.prefix);
		r->xoff = xoff;
		r->xlen = (uint8_t)strlen(rt.prepend);
		r->prio = rt.priority;
		r->weight = rt.weight;
		r->strip = rt.strip;
	}
	im->base = im->arena ? im->arena : "";
	return 0;
}

/* ---- sort, check, write ------------------------------------------------------------ */

static int cmp_rec(const void *a, const void *b, void *arg)
{
	const imp_rec *x = a, *y = b;
	const char *g_base = arg;
	size_t m = x->plen < y->plen ? x->plen : y->plen;
	int c = memcmp(g_base + x->poff, g_base + y->poff, m);

	if (c)
		return c;
	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	if (x->tidx != y->tidx)
		return x->tidx < y->tidx ? -1 : 1;
	return x->line < y->line ? -1 : (x->line > y->line);
}

static int drop_refs(imp *im)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(im->txn, im->st->dbi_meta, &cur)) != 0)
		return x__store_mdb_err(rc);
	for (;;) {
		k.mv_size = 4;
		k.mv_data = (void *)"ref.";
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc || k.mv_size < 4 || memcmp(k.mv_data, "ref.", 4) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : x__store_mdb_err(rc);
}

static int write_all(imp *im, bool replace)
{
	uint8_t buf[ROUTE_VAL_MAX], kb[ROUTE_KEY_MAX];
	rentry es[STORE_ROUTES_PER_PREFIX_MAX];
	size_t i = 0, j, x;
	int rc;

	while (i < im->n) {
		const imp_rec *r0 = &im->recs[i];
		const char *pfx = im->base + r0->poff;
		size_t cnt;
		int nex = 0, e;
		MDB_val k, v;

		for (j = i; j < im->n && im->recs[j].plen == r0->plen &&
			    memcmp(im->base + im->recs[j].poff, pfx, r0->plen) == 0;
		     j++)
			;
		k.mv_size = x__route_key(pfx, r0->plen, kb);
		k.mv_data = kb;
		if (!replace) {
			rc = mdb_get(im->txn, im->st->dbi_routes, &k, &v);
			if (rc == 0) {
				nex = x__route_decode(&v, es, STORE_ROUTES_PER_PREFIX_MAX);
				if (nex < 0 || nex > STORE_ROUTES_PER_PREFIX_MAX)
					return fail(im, r0->line, SBC_E_PARSE,
						    "stored routes of prefix '%.*s' are damaged",
						    (int)r0->plen, pfx);
			} else if (rc != MDB_NOTFOUND) {
				return fail(im, r0->line, x__store_mdb_err(rc), "store read: %s",
					    mdb_strerror(rc));
			}
		}
		if ((size_t)nex + (j - i) > STORE_ROUTES_PER_PREFIX_MAX) {
			char m[16];

			snprintf(m, sizeof(m), "%d", STORE_ROUTES_PER_PREFIX_MAX);
			return fail(im, im->recs[i + STORE_ROUTES_PER_PREFIX_MAX - (size_t)nex].line,
				    SBC_E_LIMIT, "prefix '%.*s': more than %s routes",
				    (int)r0->plen, pfx, m);
		}
		cnt = (size_t)nex;
		for (x = i; x < j; x++) {
			const imp_rec *r = &im->recs[x];
			rentry *ne = &es[cnt++];

			for (e = 0; e < nex; e++)
				if (es[e].tid == im->tids[r->tidx])
					return fail(im, r->line, SBC_E_EXISTS,
						    "duplicate: route prefix '%.*s' trunk '%s' "
						    "already exists",
						    (int)r0->plen, pfx, im->tnames[r->tidx]);
			ne->tid = im->tids[r->tidx];
			ne->priority = r->prio;
			ne->weight = r->weight;
			ne->strip = r->strip;
			memcpy(ne->prepend, im->base + r->xoff, r->xlen);
			ne->prepend[r->xlen] = '\0';
			im->tref[r->tidx]++;
		}
		v.mv_size = x__route_encode(es, cnt, 0, buf);
		v.mv_data = buf;
		rc = mdb_put(im->txn, im->st->dbi_routes, &k, &v, replace ? MDB_APPEND : 0);
		if (rc)
			return fail(im, r0->line, x__store_mdb_err(rc), "store write: %s%s",
				    mdb_strerror(rc),
				    rc == MDB_MAP_FULL ? " (the store map size is too small)" : "");
		i = j;
	}
	return 0;
}

static int check_dups(imp *im)
{
	size_t i, best = 0;
	const imp_rec *bad = NULL, *first = NULL;

	for (i = 1; i < im->n; i++) {
		const imp_rec *a = &im->recs[i - 1], *b = &im->recs[i];

		if (a->tidx == b->tidx && a->plen == b->plen &&
		    memcmp(im->base + a->poff, im->base + b->poff, a->plen) == 0 &&
		    (!bad || b->line < best)) {
			bad = b;
			first = a;
			best = b->line;
		}
	}
	if (bad) {
		char m[80];

		snprintf(m, sizeof(m), "'%.*s' trunk '%s' (first at line %u)", (int)bad->plen,
			 im->base + bad->poff, im->tnames[bad->tidx], first->line);
		return fail(im, bad->line, SBC_E_EXISTS, "duplicate route: prefix %s", m);
	}
	return 0;
}

int64_t store_route_import(store *st, enum store_fmt fmt, const char *data, size_t len,
			   unsigned flags, size_t *bad_line, char *err, size_t errlen)
{
	imp im = {.st = st, .err = err, .errlen = errlen, .bad_line = bad_line};
	bool replace = (flags & STORE_IMPORT_REPLACE) != 0;
	int64_t ret, added = 0;
	size_t i;
	int rc;

	if (bad_line)
		*bad_line = 0;
	if (len > UINT32_MAX) {
		x__store_seterr(err, errlen, "import data larger than 4 GiB");
		return SBC_E_LIMIT;
	}
	if ((ret = x__store_wr_begin(st, &im.txn, err, errlen)) != 0)
		return ret;
	if ((ret = load_trunks(&im)) != 0) {
		fail(&im, 0, (int)ret, "reading trunks failed");
		goto Abort;
	}
	ret = fmt == STORE_FMT_CSV ? parse_csv(&im, data, len) : parse_jsonl(&im, data, len);
	if (ret)
		goto Abort;
	if (im.n)
		qsort_r(im.recs, im.n, sizeof(imp_rec), cmp_rec, (void *)im.base);
	if ((ret = check_dups(&im)) != 0)
		goto Abort;
	if (replace) {
		if ((rc = mdb_drop(im.txn, st->dbi_routes, 0)) != 0 || (rc = drop_refs(&im)) != 0) {
			ret = rc > 0 ? x__store_mdb_err(rc) : rc;
			fail(&im, 0, (int)ret, "emptying the routes failed");
			goto Abort;
		}
	}
	{
		/* into an empty table, merging is appending: the fast path */
		MDB_stat ms;
		bool empty = !replace && mdb_stat(im.txn, st->dbi_routes, &ms) == 0 &&
			     ms.ms_entries == 0;

		if ((ret = write_all(&im, replace || empty)) != 0)
			goto Abort;
	}
	if ((rc = x__route_fix_masks(im.txn, st->dbi_routes, "", 0)) != 0) {
		ret = rc;
		fail(&im, 0, rc, "updating the prefix index failed");
		goto Abort;
	}
	for (i = 0; i < im.ntrunks; i++) {
		if (im.tref[i] && (rc = x__store_ref_add(st, im.txn, im.tnames[i], im.tref[i]))) {
			ret = rc;
			fail(&im, 0, rc, "updating route counters failed");
			goto Abort;
		}
		added += im.tref[i];
	}
	if ((rc = x__store_nroutes_add(st, im.txn, added, replace)) != 0) {
		ret = rc;
		goto Abort;
	}
	ret = x__store_wr_commit(st, im.txn, STORE_AREA_ROUTES, err, errlen);
	im.txn = NULL;
	if (ret == 0)
		ret = added;
	goto Exit;
Abort:
	mdb_txn_abort(im.txn);
Exit:
	for (i = 0; i < im.ntrunks; i++)
		free(im.tnames[i]);
	free(im.tnames);
	free(im.tref);
	free(im.tids);
	free(im.recs);
	free(im.arena);
	return ret;
}

int64_t store_route_import_file(store *st, enum store_fmt fmt, FILE *in, unsigned flags,
				size_t *bad_line, char *err, size_t errlen)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, got;
	int64_t ret;

	if (bad_line)
		*bad_line = 0;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 1 << 20;
			if (cap > ((size_t)4 << 30) || !(nb = realloc(buf, cap))) {
				free(buf);
				x__store_seterr(err, errlen, "import: input too large or out of memory");
				return -ENOMEM;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, in);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(in)) {
		free(buf);
		x__store_seterr(err, errlen, "import: read error");
		return -EIO;
	}
	ret = store_route_import(st, fmt, buf ? buf : "", len, flags, bad_line, err, errlen);
	free(buf);
	return ret;
}

/* ---- export ---------------------------------------------------------------------- */

int64_t store_route_export(store_reader *r, enum store_fmt fmt, store_line_cb cb, void *arg)
{
	static const char hdr[] = "prefix,trunk,priority,weight,strip,prepend\n";
	store_route rs[STORE_ROUTES_PER_PREFIX_MAX];
	char line[256];
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	int64_t count = 0;
	int rc, n, i, len, ret;

	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((rc = mdb_cursor_open(txn, r->st->dbi_routes, &cur)) != 0) {
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
	if (fmt == STORE_FMT_CSV && (ret = cb(hdr, sizeof(hdr) - 1, arg)) != 0)
		goto Exit;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((n = ret = x__route_named(r, txn, &k, &v, rs)) < 0)
			goto Exit;
		for (i = 0; i < n; i++) {
			const store_route *x = &rs[i];

			if (!store_name_valid(x->trunk) || !store_prefix_valid(x->prepend)) {
				ret = SBC_E_PARSE;
				goto Exit;
			}
			if (fmt == STORE_FMT_CSV)
				len = snprintf(line, sizeof(line), "%s,%s,%u,%u,%u,%s\n", x->prefix,
					       x->trunk, x->priority, x->weight, x->strip,
					       x->prepend);
			else
				len = snprintf(line, sizeof(line),
					       "{\"prefix\":\"%s\",\"trunk\":\"%s\",\"priority\":%u,"
					       "\"weight\":%u,\"strip\":%u,\"prepend\":\"%s\"}\n",
					       x->prefix, x->trunk, x->priority, x->weight, x->strip,
					       x->prepend);
			if ((ret = cb(line, (size_t)len, arg)) != 0)
				goto Exit;
			count++;
		}
	}
	ret = rc == MDB_NOTFOUND ? 0 : x__store_mdb_err(rc);
Exit:
	if (cur)
		mdb_cursor_close(cur);
	x__store_rd_end(r);
	return ret ? ret : count;
}

static int file_cb(const char *line, size_t len, void *arg)
{
	return fwrite(line, 1, len, arg) == len ? 0 : -EIO;
}

int64_t store_route_export_file(store_reader *r, enum store_fmt fmt, FILE *out)
{
	return store_route_export(r, fmt, file_cb, out);
}
