/* sbc — LMDB store: environment, readers, generations, small parsers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"

#define STORE_DEFAULT_MAP ((size_t)4 << 30)

static const char *const area_names[STORE_AREA_MAX_] = {"trunks", "routes", "tls"};

bool x__store_strlcpy(char *dst, const char *s, size_t size)
{
	size_t n = strlen(s);

	if (n >= size)
		return false;
	memcpy(dst, s, n + 1);
	return true;
}

int x__store_list_begin(store_reader *r, MDB_dbi dbi, const char *after, MDB_cursor **cur)
{
	MDB_txn *txn;
	int rc, ret;

	if (after && !store_name_valid(after))
		return SBC_E_INVAL;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((rc = mdb_cursor_open(txn, dbi, cur)) != 0) {
		x__store_rd_end(r);
		return x__store_mdb_err(rc);
	}
	return 0;
}

int x__store_cursor_after(MDB_cursor *cur, const char *after, MDB_val *k, MDB_val *v)
{
	int rc;

	if (!after)
		return mdb_cursor_get(cur, k, v, MDB_FIRST);
	k->mv_size = strlen(after);
	k->mv_data = (void *)after;
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == strlen(after) && memcmp(k->mv_data, after, k->mv_size) == 0)
		rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
	return rc;
}

int x__store_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return SBC_E_NOT_FOUND;
	case MDB_KEYEXIST:
		return SBC_E_EXISTS;
	case MDB_MAP_FULL:
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_DBS_FULL:
		return SBC_E_LIMIT;
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		return SBC_E_SCHEMA;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return SBC_E_PARSE;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

json_t *x__store_json_load(const MDB_val *v)
{
	json_error_t jerr;

	return json_loadb(v->mv_data, v->mv_size, JSON_REJECT_DUPLICATES, &jerr);
}

const char *store_area_name(enum store_area area)
{
	return (unsigned)area < STORE_AREA_MAX_ ? area_names[area] : "?";
}

/* ---- environment --------------------------------------------------------- */

/* The routes' key order, equal to LMDB's default (memcmp, then shorter
 * first) so mdb_dump and friends agree, but without a libc call per probe:
 * keys are 8 bytes (store_route_codec.c), one 64-bit compare each. */
static int route_key_cmp(const MDB_val *a, const MDB_val *b)
{
	const unsigned char *x = a->mv_data, *y = b->mv_data;
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;

	if (a->mv_size == 8 && b->mv_size == 8) { /* every well-formed key */
		uint64_t u, v;

		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		if (u == v)
			return 0;
		u = __builtin_bswap64(u);
		v = __builtin_bswap64(v);
		return u < v ? -1 : 1;
	}
	while (n >= 8) {
		uint64_t u, v;

		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		if (u != v) {
			u = __builtin_bswap64(u);
			v = __builtin_bswap64(v);
			return u < v ? -1 : 1;
		}
		x += 8;
		y += 8;
		n -= 8;
	}
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

static int open_dbis(store *st, MDB_txn *txn, char *err, size_t errlen)
{
	static const char *const names[] = {"meta", "trunks", "routes", "tls"};
	MDB_dbi *dbis[] = {&st->dbi_meta, &st->dbi_trunks, &st->dbi_routes, &st->dbi_tls};
	unsigned flags = (st->flags & STORE_RDONLY) ? 0 : MDB_CREATE;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		rc = mdb_dbi_open(txn, names[i], flags, dbis[i]);
		if (rc == MDB_NOTFOUND) {
			x__store_seterr(err, errlen,
					"store %s is not initialised (no '%s' database); "
					"start sbc-control first",
					st->path, names[i]);
			return SBC_E_NOT_FOUND;
		}
		if (rc) {
			x__store_seterr(err, errlen, "store %s: opening database '%s': %s",
					st->path, names[i], mdb_strerror(rc));
			return x__store_mdb_err(rc);
		}
	}
	mdb_set_compare(txn, st->dbi_routes, route_key_cmp);
	return 0;
}

static int check_schema(store *st, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = {6, (void *)"schema"}, v;
	uint32_t ver = STORE_SCHEMA_VERSION, have;
	int rc;

	rc = mdb_get(txn, st->dbi_meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		if (st->flags & STORE_RDONLY) {
			x__store_seterr(err, errlen, "store %s has no schema version; start "
					"sbc-control first", st->path);
			return SBC_E_NOT_FOUND;
		}
		v.mv_size = sizeof(ver);
		v.mv_data = &ver;
		rc = mdb_put(txn, st->dbi_meta, &k, &v, 0);
		if (rc) {
			x__store_seterr(err, errlen, "store %s: writing schema version: %s",
					st->path, mdb_strerror(rc));
			return x__store_mdb_err(rc);
		}
		return 0;
	}
	if (rc) {
		x__store_seterr(err, errlen, "store %s: reading schema version: %s", st->path,
				mdb_strerror(rc));
		return x__store_mdb_err(rc);
	}
	if (v.mv_size != sizeof(have)) {
		x__store_seterr(err, errlen, "store %s: schema version record is damaged "
				"(%zu bytes)", st->path, v.mv_size);
		return SBC_E_SCHEMA;
	}
	memcpy(&have, v.mv_data, sizeof(have));
	if (have != STORE_SCHEMA_VERSION) {
		x__store_seterr(err, errlen,
				"store %s has schema version %u but this build expects %u; "
				"export the routes with the old build and import them into a new store",
				st->path, have, STORE_SCHEMA_VERSION);
		return SBC_E_SCHEMA;
	}
	return 0;
}

static void fix_modes(const char *dir)
{
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	char p[PATH_MAX + 16];
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		(void)chmod(p, 0600);
	}
}

int store_open(const char *path, unsigned flags, size_t map_bytes, store **out, char *err,
	       size_t errlen)
{
	store *st = NULL;
	MDB_txn *txn = NULL;
	unsigned envflags = MDB_NOTLS;
	struct stat sb;
	int rc, ret;

	*out = NULL;
	if (!path || !*path || strlen(path) >= PATH_MAX) {
		x__store_seterr(err, errlen, "store path: empty or too long");
		return SBC_E_INVAL;
	}
	if ((flags & STORE_RDONLY) && (flags & STORE_CREATE)) {
		x__store_seterr(err, errlen, "store %s: cannot create a read-only store", path);
		return SBC_E_INVAL;
	}
	if (flags & STORE_CREATE) {
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			ret = -errno;
			x__store_seterr(err, errlen, "store %s: mkdir: %s", path, strerror(errno));
			return ret;
		}
	}
	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		x__store_seterr(err, errlen, "store %s: not a directory%s", path,
				(flags & STORE_CREATE) ? "" : " (not created yet?)");
		return SBC_E_NOT_FOUND;
	}
	if (!(st = calloc(1, sizeof(*st)))) {
		x__store_seterr(err, errlen, "store %s: out of memory", path);
		return -ENOMEM;
	}
	st->flags = flags;
	memcpy(st->path, path, strlen(path) + 1);

	if ((rc = mdb_env_create(&st->env)) != 0) {
		x__store_seterr(err, errlen, "store %s: %s", path, mdb_strerror(rc));
		ret = x__store_mdb_err(rc);
		st->env = NULL;
		goto Exit;
	}
	mdb_env_set_maxdbs(st->env, 8);
	mdb_env_set_maxreaders(st->env, 510);
	mdb_env_set_mapsize(st->env, map_bytes ? map_bytes : STORE_DEFAULT_MAP);
	if (flags & STORE_RDONLY)
		envflags |= MDB_RDONLY;
	if (flags & STORE_NOSYNC)
		envflags |= MDB_NOSYNC;
	if ((rc = mdb_env_open(st->env, path, envflags, 0600)) != 0) {
		x__store_seterr(err, errlen, "store %s: %s", path, mdb_strerror(rc));
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
	if (!(flags & STORE_RDONLY)) {
		int dead = 0;

		fix_modes(path);
		mdb_reader_check(st->env, &dead); /* slots of readers that died */
	}

	if ((rc = mdb_txn_begin(st->env, NULL, (flags & STORE_RDONLY) ? MDB_RDONLY : 0, &txn))) {
		x__store_seterr(err, errlen, "store %s: %s", path, mdb_strerror(rc));
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
	if ((ret = open_dbis(st, txn, err, errlen)) != 0)
		goto Exit;
	if ((ret = check_schema(st, txn, err, errlen)) != 0)
		goto Exit;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		x__store_seterr(err, errlen, "store %s: commit: %s", path, mdb_strerror(rc));
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
	*out = st;
	return 0;

Exit:
	if (txn)
		mdb_txn_abort(txn);
	if (st->env)
		mdb_env_close(st->env);
	free(st);
	return ret;
}

void store_close(store *st)
{
	if (!st)
		return;
	mdb_env_close(st->env);
	free(st);
}

int store_reader_check(store *st)
{
	int dead = 0, rc = mdb_reader_check(st->env, &dead);

	return rc ? x__store_mdb_err(rc) : dead;
}

bool store_is_rdonly(const store *st) { return (st->flags & STORE_RDONLY) != 0; }

const char *store_path(const store *st) { return st->path; }

/* ---- readers and write transactions --------------------------------------- */

int store_reader_open(store *st, store_reader **out)
{
	store_reader *r;
	int rc;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->st = st;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn)) != 0) {
		free(r);
		return x__store_mdb_err(rc);
	}
	mdb_txn_reset(r->txn);
	*out = r;
	return 0;
}

void store_reader_close(store_reader *r)
{
	if (!r)
		return;
	if (r->rcur)
		mdb_cursor_close(r->rcur);
	mdb_txn_abort(r->txn);
	free(r);
}

int x__store_rd_begin(store_reader *r, MDB_txn **txn)
{
	int rc;

	*txn = r->txn;
	if (r->depth == 0) {
		if ((rc = mdb_txn_renew(r->txn)) != 0)
			return x__store_mdb_err(rc);
	}
	r->depth++;
	*txn = r->txn;
	return 0;
}

void x__store_rd_end(store_reader *r)
{
	if (r->depth > 0 && --r->depth == 0) {
		mdb_txn_reset(r->txn);
		r->rcur_ok = false;
	}
}

int x__store_rd_cursor(store_reader *r, MDB_txn *txn, MDB_cursor **cur)
{
	int rc;

	if (!r->rcur)
		rc = mdb_cursor_open(txn, r->st->dbi_routes, &r->rcur);
	else if (!r->rcur_ok)
		rc = mdb_cursor_renew(txn, r->rcur);
	else
		rc = 0;
	if (rc)
		return x__store_mdb_err(rc);
	r->rcur_ok = true;
	*cur = r->rcur;
	return 0;
}

int store_reader_begin(store_reader *r)
{
	MDB_txn *txn;

	return x__store_rd_begin(r, &txn);
}

void store_reader_end(store_reader *r) { x__store_rd_end(r); }

int x__store_wr_begin(store *st, MDB_txn **txn, char *err, size_t errlen)
{
	int rc;

	if (st->flags & STORE_RDONLY) {
		x__store_seterr(err, errlen, "store is open read-only");
		return -EROFS;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, 0, txn)) != 0) {
		x__store_seterr(err, errlen, "store: begin write: %s", mdb_strerror(rc));
		return x__store_mdb_err(rc);
	}
	return 0;
}

static int gen_key(enum store_area area, char buf[16], MDB_val *k)
{
	int n = snprintf(buf, 16, "gen.%s", store_area_name(area));

	k->mv_size = (size_t)n;
	k->mv_data = buf;
	return 0;
}

int x__store_wr_commit(store *st, MDB_txn *txn, enum store_area area, char *err, size_t errlen)
{
	char kb[16];
	MDB_val k, v;
	uint64_t gen = 0;
	int rc;

	gen_key(area, kb, &k);
	rc = mdb_get(txn, st->dbi_meta, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(gen))
		memcpy(&gen, v.mv_data, sizeof(gen));
	else if (rc != 0 && rc != MDB_NOTFOUND)
		goto Fail;
	gen++;
	v.mv_size = sizeof(gen);
	v.mv_data = &gen;
	if ((rc = mdb_put(txn, st->dbi_meta, &k, &v, 0)) != 0)
		goto Fail;
	if ((rc = mdb_txn_commit(txn)) != 0) {
		x__store_seterr(err, errlen, "store: commit: %s", mdb_strerror(rc));
		return x__store_mdb_err(rc);
	}
	return 0;
Fail:
	mdb_txn_abort(txn);
	x__store_seterr(err, errlen, "store: generation bump: %s", mdb_strerror(rc));
	return x__store_mdb_err(rc);
}

static uint64_t gen_read(store *st, MDB_txn *txn, enum store_area area)
{
	char kb[16];
	MDB_val k, v;
	uint64_t gen = 0;

	gen_key(area, kb, &k);
	if (mdb_get(txn, st->dbi_meta, &k, &v) == 0 && v.mv_size == sizeof(gen))
		memcpy(&gen, v.mv_data, sizeof(gen));
	return gen;
}

uint64_t store_generation(store_reader *r, enum store_area area)
{
	MDB_txn *txn;
	uint64_t gen;

	if ((unsigned)area >= STORE_AREA_MAX_ || x__store_rd_begin(r, &txn) != 0)
		return 0;
	gen = gen_read(r->st, txn, area);
	x__store_rd_end(r);
	return gen;
}

int store_generations(store_reader *r, uint64_t gen[STORE_AREA_MAX_])
{
	MDB_txn *txn;
	int ret, a;

	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	for (a = 0; a < STORE_AREA_MAX_; a++)
		gen[a] = gen_read(r->st, txn, (enum store_area)a);
	x__store_rd_end(r);
	return 0;
}

/* Route reference counters: meta "ref.<trunk>" -> int64. */
static void ref_key(const char *trunk, char buf[STORE_NAME_MAX + 8], MDB_val *k)
{
	int n = snprintf(buf, STORE_NAME_MAX + 8, "ref.%s", trunk);

	k->mv_size = (size_t)n;
	k->mv_data = buf;
}

int64_t x__store_ref_get(store *st, MDB_txn *txn, const char *trunk)
{
	char kb[STORE_NAME_MAX + 8];
	MDB_val k, v;
	int64_t n = 0;

	ref_key(trunk, kb, &k);
	if (mdb_get(txn, st->dbi_meta, &k, &v) == 0 && v.mv_size == sizeof(n))
		memcpy(&n, v.mv_data, sizeof(n));
	return n;
}

int x__store_ref_add(store *st, MDB_txn *txn, const char *trunk, int64_t delta)
{
	char kb[STORE_NAME_MAX + 8];
	MDB_val k, v;
	int64_t n = x__store_ref_get(st, txn, trunk) + delta;
	int rc;

	ref_key(trunk, kb, &k);
	if (n <= 0) {
		rc = mdb_del(txn, st->dbi_meta, &k, NULL);
		return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : x__store_mdb_err(rc);
	}
	v.mv_size = sizeof(n);
	v.mv_data = &n;
	rc = mdb_put(txn, st->dbi_meta, &k, &v, 0);
	return x__store_mdb_err(rc);
}

/* ---- trunk ids ------------------------------------------------------------- */

static void tid_key(const char *name, char buf[STORE_NAME_MAX + 8], MDB_val *k)
{
	int n = snprintf(buf, STORE_NAME_MAX + 8, "tid.%s", name);

	k->mv_size = (size_t)n;
	k->mv_data = buf;
}

static void tnm_key(uint32_t tid, char buf[8], MDB_val *k)
{
	memcpy(buf, "tnm.", 4);
	buf[4] = (char)(tid >> 24);
	buf[5] = (char)(tid >> 16);
	buf[6] = (char)(tid >> 8);
	buf[7] = (char)tid;
	k->mv_size = 8;
	k->mv_data = buf;
}

int x__store_tid_get(store *st, MDB_txn *txn, const char *name, uint32_t *tid)
{
	char kb[STORE_NAME_MAX + 8];
	MDB_val k, v;
	int rc;

	tid_key(name, kb, &k);
	if ((rc = mdb_get(txn, st->dbi_meta, &k, &v)) != 0)
		return x__store_mdb_err(rc);
	if (v.mv_size != sizeof(*tid))
		return SBC_E_PARSE;
	memcpy(tid, v.mv_data, sizeof(*tid));
	return 0;
}

int x__store_tid_alloc(store *st, MDB_txn *txn, const char *name, uint32_t *tid)
{
	char kb[STORE_NAME_MAX + 8], nb[8];
	MDB_val k = {8, (void *)"next_tid"}, v;
	uint32_t next = 1;
	int rc;

	if (mdb_get(txn, st->dbi_meta, &k, &v) == 0 && v.mv_size == sizeof(next))
		memcpy(&next, v.mv_data, sizeof(next));
	if (next == 0 || next == UINT32_MAX)
		return SBC_E_LIMIT;
	*tid = next++;
	v.mv_size = sizeof(next);
	v.mv_data = &next;
	if ((rc = mdb_put(txn, st->dbi_meta, &k, &v, 0)) != 0)
		return x__store_mdb_err(rc);
	tid_key(name, kb, &k);
	v.mv_size = sizeof(*tid);
	v.mv_data = tid;
	if ((rc = mdb_put(txn, st->dbi_meta, &k, &v, 0)) != 0)
		return x__store_mdb_err(rc);
	tnm_key(*tid, nb, &k);
	v.mv_size = strlen(name);
	v.mv_data = (void *)name;
	return x__store_mdb_err(mdb_put(txn, st->dbi_meta, &k, &v, 0));
}

int x__store_tid_del(store *st, MDB_txn *txn, const char *name)
{
	char kb[STORE_NAME_MAX + 8], nb[8];
	uint32_t tid;
	MDB_val k;
	int rc;

	if ((rc = x__store_tid_get(st, txn, name, &tid)) != 0)
		return rc == SBC_E_NOT_FOUND ? 0 : rc;
	tid_key(name, kb, &k);
	if ((rc = mdb_del(txn, st->dbi_meta, &k, NULL)) != 0)
		return x__store_mdb_err(rc);
	tnm_key(tid, nb, &k);
	rc = mdb_del(txn, st->dbi_meta, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : x__store_mdb_err(rc);
}

int x__store_tname(store *st, MDB_txn *txn, uint32_t tid, char name[STORE_NAME_MAX + 1])
{
	char nb[8];
	MDB_val k, v;
	int rc;

	tnm_key(tid, nb, &k);
	if ((rc = mdb_get(txn, st->dbi_meta, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? SBC_E_PARSE : x__store_mdb_err(rc);
	if (v.mv_size == 0 || v.mv_size > STORE_NAME_MAX)
		return SBC_E_PARSE;
	memcpy(name, v.mv_data, v.mv_size);
	name[v.mv_size] = '\0';
	return 0;
}

int x__store_rd_tname(store_reader *r, MDB_txn *txn, uint32_t tid,
		      char name[STORE_NAME_MAX + 1])
{
	size_t slot = tid % (sizeof(r->tcache) / sizeof(r->tcache[0]));
	int ret;

	if (tid != 0 && r->tcache[slot].id == tid) {
		memcpy(name, r->tcache[slot].name, sizeof(r->tcache[slot].name));
		return 0;
	}
	if ((ret = x__store_tname(r->st, txn, tid, name)) != 0)
		return ret;
	r->tcache[slot].id = tid;
	memcpy(r->tcache[slot].name, name, STORE_NAME_MAX + 1);
	return 0;
}

int x__store_nroutes_add(store *st, MDB_txn *txn, int64_t delta, bool reset)
{
	MDB_val k = {7, (void *)"nroutes"}, v;
	int64_t n = 0;

	if (!reset && mdb_get(txn, st->dbi_meta, &k, &v) == 0 && v.mv_size == sizeof(n))
		memcpy(&n, v.mv_data, sizeof(n));
	n += delta;
	if (n < 0)
		n = 0;
	v.mv_size = sizeof(n);
	v.mv_data = &n;
	return x__store_mdb_err(mdb_put(txn, st->dbi_meta, &k, &v, 0));
}

int64_t store_trunk_route_refs(store_reader *r, const char *name)
{
	MDB_txn *txn;
	int64_t n;
	int ret;

	if (!store_name_valid(name))
		return SBC_E_INVAL;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	n = x__store_ref_get(r->st, txn, name);
	x__store_rd_end(r);
	return n;
}

/* ---- small parsers ---------------------------------------------------------- */

bool store_name_valid(const char *name)
{
	size_t i;

	if (!name || !*name)
		return false;
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i >= STORE_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int store_number_normalise(const char *in, char out[STORE_NUMBER_MAX + 1])
{
	size_t n = 0, digits = 0;
	const char *p;

	if (!in)
		return SBC_E_INVAL;
	for (p = in; *p; p++) {
		char c = *p;

		if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
			continue;
		if (c == '+') {
			if (n != 0)
				return SBC_E_INVAL;
		} else if (c >= '0' && c <= '9') {
			digits++;
		} else {
			return SBC_E_INVAL;
		}
		if (n >= STORE_NUMBER_MAX)
			return SBC_E_INVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return digits ? (int)n : SBC_E_INVAL;
}

bool store_prefix_valid(const char *prefix)
{
	size_t i;

	if (!prefix)
		return false;
	for (i = 0; prefix[i]; i++) {
		if (i >= STORE_PREFIX_MAX)
			return false;
		if (prefix[i] == '+' && i == 0)
			continue;
		if (prefix[i] < '0' || prefix[i] > '9')
			return false;
	}
	return true;
}

static const char *const suite_names[SBC_SRTP_SUITE_MAX_] = {
	[SBC_SRTP_NONE] = "NONE",
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_80] = "AES_CM_128_HMAC_SHA1_80",
	[SBC_SRTP_AES_CM_128_HMAC_SHA1_32] = "AES_CM_128_HMAC_SHA1_32",
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_80] = "AES_256_CM_HMAC_SHA1_80",
	[SBC_SRTP_AES_256_CM_HMAC_SHA1_32] = "AES_256_CM_HMAC_SHA1_32",
	[SBC_SRTP_AEAD_AES_128_GCM] = "AEAD_AES_128_GCM",
	[SBC_SRTP_AEAD_AES_256_GCM] = "AEAD_AES_256_GCM",
	[SBC_SRTP_NULL_HMAC_SHA1_80] = "NULL_HMAC_SHA1_80",
};

int store_srtp_suite_parse(const char *name, uint8_t *suite)
{
	unsigned i;

	for (i = 1; i < SBC_SRTP_SUITE_MAX_; i++) {
		if (suite_names[i] && strcmp(name, suite_names[i]) == 0) {
			*suite = (uint8_t)i;
			return 0;
		}
	}
	return SBC_E_INVAL;
}

const char *store_srtp_suite_name(unsigned suite)
{
	return (suite < SBC_SRTP_SUITE_MAX_ && suite_names[suite]) ? suite_names[suite] : "?";
}

static const char *const mode_names[] = {"off", "optional", "required"};

int store_srtp_mode_parse(const char *name, uint8_t *mode)
{
	unsigned i;

	for (i = 0; i < 3; i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*mode = (uint8_t)i;
			return 0;
		}
	}
	return SBC_E_INVAL;
}

const char *store_srtp_mode_name(unsigned mode) { return mode < 3 ? mode_names[mode] : "?"; }

static const char *const tp_names[] = {"any", "udp", "tcp", "tls"};

int store_transport_parse(const char *name, uint8_t *tp)
{
	unsigned i;

	for (i = 1; i < 4; i++) {
		if (strcasecmp(name, tp_names[i]) == 0) {
			*tp = (uint8_t)i;
			return 0;
		}
	}
	return SBC_E_INVAL;
}

const char *store_transport_name(unsigned tp) { return tp < 4 ? tp_names[tp] : "?"; }
