/* sbc — store internals shared by store*.c (not a public header). */
#ifndef SBC_STORE_INT_H
#define SBC_STORE_INT_H

#include <limits.h>
#include <lmdb.h>

#include "sbc/err.h"
#include "sbc/store.h"

struct store {
	MDB_env *env;
	MDB_dbi dbi_meta;   /* RO after open */
	MDB_dbi dbi_trunks; /* RO after open */
	MDB_dbi dbi_routes; /* RO after open */
	MDB_dbi dbi_tls;    /* RO after open */
	unsigned flags;
	char path[PATH_MAX];
};

/* OWNER: one thread. txn is kept between calls (reset when depth == 0). */
struct store_reader {
	store *st;
	MDB_txn *txn;
	unsigned depth;
	MDB_cursor *rcur; /* routes cursor, kept; renewed lazily */
	bool rcur_ok;     /* rcur is bound to the current txn */
	/* trunk id -> name, direct-mapped. Ids are never reused, so an entry
	 * never goes stale; id 0 is never assigned (empty slot). */
	struct {
		uint32_t id;
		char name[STORE_NAME_MAX + 1];
	} tcache[64];
};

/* Trunk ids: routes store a u32 id, not the name. meta "tid.<name>" -> id,
 * "tnm." + id (4 bytes big endian) -> name, "next_tid" -> next id. */
int x__store_tid_get(store *st, MDB_txn *txn, const char *name, uint32_t *tid);
int x__store_tid_alloc(store *st, MDB_txn *txn, const char *name, uint32_t *tid);
int x__store_tid_del(store *st, MDB_txn *txn, const char *name);
/* id -> name through the meta table (writer) or the reader's cache. */
int x__store_tname(store *st, MDB_txn *txn, uint32_t tid, char name[STORE_NAME_MAX + 1]);
int x__store_rd_tname(store_reader *r, MDB_txn *txn, uint32_t tid,
		      char name[STORE_NAME_MAX + 1]);

/* The reader's routes cursor, bound to txn (inside a read bracket). */
int x__store_rd_cursor(store_reader *r, MDB_txn *txn, MDB_cursor **cur);

/* Route count kept in meta "nroutes". */
int x__store_nroutes_add(store *st, MDB_txn *txn, int64_t delta, bool reset);

/* Read bracket: renews the reader's txn on the outermost begin. */
int x__store_rd_begin(store_reader *r, MDB_txn **txn);
void x__store_rd_end(store_reader *r);

/* Write txn (fails with -EROFS on a read-only store). */
int x__store_wr_begin(store *st, MDB_txn **txn, char *err, size_t errlen);
/* Bumps area's generation then commits; aborts on failure. */
int x__store_wr_commit(store *st, MDB_txn *txn, enum store_area area, char *err, size_t errlen);

/* Adds delta to the route reference counter of trunk (deleting it at 0). */
int x__store_ref_add(store *st, MDB_txn *txn, const char *trunk, int64_t delta);
int64_t x__store_ref_get(store *st, MDB_txn *txn, const char *trunk);

/* LMDB return code -> sbc error. */
int x__store_mdb_err(int rc);

/* Positions cur on the first key after `after` (a name, for paging), or on
 * the first key when after is NULL. Returns the mdb_cursor_get() code. */
int x__store_cursor_after(MDB_cursor *cur, const char *after, MDB_val *k, MDB_val *v);

/* Starts a paged list of a name-keyed database: checks `after`, opens the
 * reader's transaction and a cursor on dbi. On success the caller closes
 * the cursor and calls x__store_rd_end(). Returns 0 or an sbc error. */
int x__store_list_begin(store_reader *r, MDB_dbi dbi, const char *after, MDB_cursor **cur);

/* Records keyed by name, held as JSON text (store_named.c). `what` names the
 * kind in err ("trunk", "tls profile"). Each returns 0 or an sbc error. */
/* Serialises o (consumed, may be NULL) as the stored text; -ENOMEM. */
int x__store_json_text(json_t *o, char **text, char *err, size_t errlen);
/* Writes text under name in txn: create refuses an existing name, an
 * update a missing one. The caller commits or aborts txn. */
int x__store_put_named(MDB_txn *txn, MDB_dbi dbi, const char *what, const char *name, const char *text,
		       bool create, char *err, size_t errlen);
int x__store_del_named(MDB_txn *txn, MDB_dbi dbi, const char *what, const char *name, char *err, size_t errlen);
/* Reads name's record in the reader's transaction through decode(). */
int x__store_get_named(store_reader *r, MDB_dbi dbi, const char *name,
		       int (*decode)(const MDB_val *v, void *out), void *out);
/* Pages dbi: each(k, v, i, arg) for up to max records after `after` (NULL:
 * from the first); *more when more remain. Returns the count or an error. */
int x__store_list_named(store_reader *r, MDB_dbi dbi, const char *after, size_t max, bool *more,
			int (*each)(const MDB_val *k, const MDB_val *v, size_t i, void *arg), void *arg);

/* The store's name for sbc_errf (err.h). */
#define x__store_seterr sbc_errf

/* Copies s into a fixed buffer; false when it does not fit. */
bool x__store_strlcpy(char *dst, const char *s, size_t size);

/* Reads a JSON text record (trunk/tls value) into a new json_t. */
json_t *x__store_json_load(const MDB_val *v);

#endif
