/* sbc — store: records keyed by name and held as JSON text (trunks, TLS
 * profiles): the write, read, list and delete steps both kinds share. The
 * per-kind checks (validation, references) stay with each kind. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"

static MDB_val name_key(const char *name)
{
	MDB_val k = {.mv_size = strlen(name), .mv_data = (void *)name};
	return k;
}

int x__store_json_text(json_t *o, char **text, char *err, size_t errlen)
{
	*text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!*text) {
		x__store_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int x__store_put_named(MDB_txn *txn, MDB_dbi dbi, const char *what, const char *name, const char *text,
		       bool create, char *err, size_t errlen)
{
	MDB_val k = name_key(name), v;
	int rc;

	if (!create && (rc = mdb_get(txn, dbi, &k, &v)) != 0) {
		x__store_seterr(err, errlen, "%s '%s' does not exist", what, name);
		return x__store_mdb_err(rc);
	}
	v.mv_size = strlen(text);
	v.mv_data = (void *)text;
	if ((rc = mdb_put(txn, dbi, &k, &v, create ? MDB_NOOVERWRITE : 0)) != 0) {
		x__store_seterr(err, errlen, rc == MDB_KEYEXIST ? "%s '%s' already exists" : "%s '%s': store write failed",
				what, name);
		return x__store_mdb_err(rc);
	}
	return 0;
}

int x__store_del_named(MDB_txn *txn, MDB_dbi dbi, const char *what, const char *name, char *err, size_t errlen)
{
	MDB_val k = name_key(name);
	int rc = mdb_del(txn, dbi, &k, NULL);

	if (rc != 0)
		x__store_seterr(err, errlen, "%s '%s' does not exist", what, name);
	return x__store_mdb_err(rc);
}

int x__store_get_named(store_reader *r, MDB_dbi dbi, const char *name,
		       int (*decode)(const MDB_val *v, void *out), void *out)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc, ret;

	if (!store_name_valid(name))
		return SBC_E_INVAL;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	k = name_key(name);
	/* v points into the map: decode before the transaction ends */
	if ((rc = mdb_get(txn, dbi, &k, &v)) != 0)
		ret = x__store_mdb_err(rc);
	else
		ret = decode(&v, out);
	x__store_rd_end(r);
	return ret;
}

int x__store_list_named(store_reader *r, MDB_dbi dbi, const char *after, size_t max, bool *more,
			int (*each)(const MDB_val *k, const MDB_val *v, size_t i, void *arg), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0;
	int rc, ret;

	*more = false;
	if ((ret = x__store_list_begin(r, dbi, after, &cur)) != 0)
		return ret;
	for (rc = x__store_cursor_after(cur, after, &k, &v); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (n == max) {
			*more = true;
			break;
		}
		if ((ret = each(&k, &v, n, arg)) != 0)
			break;
		n++;
	}
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = x__store_mdb_err(rc);
	mdb_cursor_close(cur);
	x__store_rd_end(r);
	return ret ? ret : (int)n;
}
