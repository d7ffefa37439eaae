/* Unit tests for the LMDB store: open/create, file modes, schema version
 * check, generations, routes (longest-prefix match against a brute-force
 * reference, priority/weight order, strip/prepend), add/remove, paging, bulk
 * import (all or nothing, line numbers), export round trip, and a read-only
 * reader in another process seeing committed changes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store_testutil.h"

typedef struct fx {
	char base[256];
	store *st;
	store_reader *r;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	f->st = tsu_open_new(f->base, sizeof(f->base));
	assert_int_equal(store_reader_open(f->st, &f->r), 0);
	assert_int_equal(tsu_add_trunk(f->st, "a"), 0);
	assert_int_equal(tsu_add_trunk(f->st, "b"), 0);
	assert_int_equal(tsu_add_trunk(f->st, "c"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;

	store_reader_close(f->r);
	store_close(f->st);
	tsu_rmtree(f->base);
	free(f);
	return 0;
}

static void add(fx *f, const char *prefix, const char *trunk, int prio, int weight)
{
	store_route r = {.priority = (uint16_t)prio, .weight = (uint16_t)weight};
	char err[256];
	int ret;

	strcpy(r.prefix, prefix);
	strcpy(r.trunk, trunk);
	ret = store_route_add(f->st, &r, err, sizeof(err));
	if (ret)
		fprintf(stderr, "route_add %s %s: %s\n", prefix, trunk, err);
	assert_int_equal(ret, 0);
}

/* ---- environment ---- */

static void test_open_modes_and_reopen(void **state)
{
	char base[256], path[512], p[600], err[256];
	store *st = NULL;
	struct stat sb;
	(void)state;

	tsu_tmpdir(base, sizeof(base), path, sizeof(path));
	/* a read-only open of a store that does not exist fails with a reason */
	assert_true(store_open(path, STORE_RDONLY, 0, &st, err, sizeof(err)) < 0);
	assert_null(st);
	assert_int_equal(store_open(path, STORE_CREATE, 0, &st, err, sizeof(err)), 0);
	assert_false(store_is_rdonly(st));
	store_close(st);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/data.mdb", path);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(p, sizeof(p), "%s/lock.mdb", path);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* a loosened mode is put back by the writer */
	snprintf(p, sizeof(p), "%s/data.mdb", path);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(store_open(path, 0, 0, &st, err, sizeof(err)), 0);
	store_close(st);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* read-only open works now; writes through it are refused */
	assert_int_equal(store_open(path, STORE_RDONLY, 0, &st, err, sizeof(err)), 0);
	assert_true(store_is_rdonly(st));
	{
		store_trunk t;

		store_trunk_init(&t, "x");
		assert_int_equal(store_trunk_put(st, &t, true, err, sizeof(err)), -EROFS);
	}
	store_close(st);
	tsu_rmtree(base);
}

static void test_schema_mismatch(void **state)
{
	char base[256], path[512], err[256];
	store *st = NULL;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	uint32_t v99 = 99;
	MDB_val k = {6, (void *)"schema"}, v = {4, &v99};
	(void)state;

	tsu_tmpdir(base, sizeof(base), path, sizeof(path));
	assert_int_equal(store_open(path, STORE_CREATE, 0, &st, err, sizeof(err)), 0);
	store_close(st);
	/* rewrite the schema version behind the store's back */
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	err[0] = '\0';
	assert_int_equal(store_open(path, 0, 0, &st, err, sizeof(err)), SBC_E_SCHEMA);
	assert_null(st);
	assert_non_null(strstr(err, "schema version 99"));
	{
		char want[32];

		snprintf(want, sizeof(want), "expects %u", STORE_SCHEMA_VERSION);
		assert_non_null(strstr(err, want));
	}
	assert_int_equal(store_open(path, STORE_RDONLY, 0, &st, err, sizeof(err)), SBC_E_SCHEMA);
	tsu_rmtree(base);
}

static void test_generations(void **state)
{
	fx *f = *state;
	uint64_t g[STORE_AREA_MAX_];
	char err[256];

	assert_int_equal(store_generations(f->r, g), 0);
	assert_int_equal(g[STORE_AREA_TRUNKS], 3); /* three trunks added in setup */
	assert_int_equal(g[STORE_AREA_ROUTES], 0);
	assert_int_equal(g[STORE_AREA_TLS], 0);
	add(f, "1", "a", 1, 1);
	assert_int_equal(store_generation(f->r, STORE_AREA_ROUTES), 1);
	/* a failed change does not bump */
	{
		store_route r = {.prefix = "1", .trunk = "a"};

		assert_int_equal(store_route_add(f->st, &r, err, sizeof(err)), SBC_E_EXISTS);
		assert_non_null(strstr(err, "already exists"));
	}
	assert_int_equal(store_generation(f->r, STORE_AREA_ROUTES), 1);
	assert_int_equal(store_generation(f->r, STORE_AREA_TRUNKS), 3);
	assert_string_equal(store_area_name(STORE_AREA_TLS), "tls");
}

/* ---- parsers ---- */

static void test_number_normalise(void **state)
{
	char out[STORE_NUMBER_MAX + 1];
	(void)state;

	assert_int_equal(store_number_normalise("+44 (20) 7123-4567", out), 13);
	assert_string_equal(out, "+442071234567");
	assert_int_equal(store_number_normalise("0044.20", out), 6);
	assert_int_equal(store_number_normalise("", out), SBC_E_INVAL);
	assert_int_equal(store_number_normalise("+", out), SBC_E_INVAL);
	assert_int_equal(store_number_normalise("12+3", out), SBC_E_INVAL);
	assert_int_equal(store_number_normalise("44a", out), SBC_E_INVAL);
	assert_int_equal(store_number_normalise("++1", out), SBC_E_INVAL);
	assert_int_equal(store_number_normalise(
				 "12345678901234567890123456789012345678901234567890123456789012345",
				 out),
			 SBC_E_INVAL);
	assert_true(store_prefix_valid(""));
	assert_true(store_prefix_valid("+"));
	assert_true(store_prefix_valid("+44"));
	assert_false(store_prefix_valid("4+4"));
	assert_false(store_prefix_valid("44x"));
	assert_false(store_prefix_valid("123456789012345678901234567890123"));
	assert_true(store_prefix_valid("+123456789012345")); /* 16: the maximum */
	assert_false(store_prefix_valid("12345678901234567"));
}

/* ---- lookup ---- */

static void test_lpm_basic(void **state)
{
	fx *f = *state;
	store_route out[8];

	add(f, "", "a", 1, 1);
	add(f, "4", "a", 1, 1);
	add(f, "44", "b", 1, 1);
	add(f, "4420", "c", 1, 1);
	add(f, "+44", "c", 1, 1);
	add(f, "45", "a", 1, 1);
	assert_int_equal(store_route_lookup(f->r, "442071234567", out, 8), 1);
	assert_string_equal(out[0].prefix, "4420");
	assert_string_equal(out[0].trunk, "c");
	assert_int_equal(store_route_lookup(f->r, "4430", out, 8), 1);
	assert_string_equal(out[0].prefix, "44");
	assert_int_equal(store_route_lookup(f->r, "46", out, 8), 1);
	assert_string_equal(out[0].prefix, "4");
	assert_int_equal(store_route_lookup(f->r, "5", out, 8), 1);
	assert_string_equal(out[0].prefix, "");
	assert_int_equal(store_route_lookup(f->r, "+4420", out, 8), 1);
	assert_string_equal(out[0].prefix, "+44");
	assert_int_equal(store_route_lookup(f->r, "+1", out, 8), 1);
	assert_string_equal(out[0].prefix, "");
	assert_int_equal(store_route_lookup(f->r, "44", out, 8), 1); /* exact */
	assert_string_equal(out[0].prefix, "44");
	assert_int_equal(store_route_lookup(f->r, "4x", out, 8), SBC_E_INVAL);
	/* numbers longer than the longest prefix: the first 16 characters decide */
	add(f, "+442012345678901", "b", 1, 1); /* 16 characters */
	assert_int_equal(store_route_lookup(f->r, "+44201234567890123456", out, 8), 1);
	assert_string_equal(out[0].prefix, "+442012345678901");
	assert_int_equal(store_route_lookup(f->r, "+44201234567890", out, 8), 1);
	assert_string_equal(out[0].prefix, "+44");
	assert_int_equal(store_route_lookup(f->r, "44201234567890123456789", out, 8), 1);
	assert_string_equal(out[0].prefix, "4420");
	/* without the default route a number may match nothing */
	assert_int_equal(store_route_remove(f->st, "", NULL, NULL, 0), 1);
	assert_int_equal(store_route_lookup(f->r, "5", out, 8), 0);
	assert_int_equal(store_route_lookup(f->r, "+1", out, 8), 0);
	assert_int_equal(store_route_lookup(f->r, "0", out, 8), 0);
	assert_int_equal(store_route_lookup(f->r, "99999", out, 8), 0);
}

static uint64_t xs_state = 88172645463325252ull;
static uint32_t xs(void *arg)
{
	(void)arg;
	xs_state ^= xs_state << 13;
	xs_state ^= xs_state >> 7;
	xs_state ^= xs_state << 17;
	return (uint32_t)xs_state;
}

static void test_lpm_matches_brute_force(void **state)
{
	fx *f = *state;
	enum { NP = 3000, NQ = 20000 };
	static char prefixes[NP][16];
	char *csv = malloc(NP * 32 + 64), num[24];
	size_t len = 0, bad = 0;
	char err[256];
	int np = 0, i, q;
	store_route out[4];

	len += (size_t)sprintf(csv, "prefix,trunk\n");
	for (i = 0; i < NP; i++) {
		int l = 1 + (int)(xs(NULL) % 7), j, dup = 0;

		for (j = 0; j < l; j++)
			prefixes[np][j] = (char)('0' + xs(NULL) % 4); /* dense: many nested */
		prefixes[np][l] = '\0';
		for (j = 0; j < np; j++)
			dup |= strcmp(prefixes[j], prefixes[np]) == 0;
		if (dup)
			continue;
		len += (size_t)sprintf(csv + len, "%s,b\n", prefixes[np]);
		np++;
	}
	assert_int_equal(store_route_import(f->st, STORE_FMT_CSV, csv, len, 0, &bad, err,
					    sizeof(err)),
			 np);
	for (q = 0; q < NQ; q++) {
		int l = 1 + (int)(xs(NULL) % 10), j, best = -1, bl = -1, ret;

		for (j = 0; j < l; j++)
			num[j] = (char)('0' + xs(NULL) % 5);
		num[l] = '\0';
		for (j = 0; j < np; j++) {
			int pl = (int)strlen(prefixes[j]);

			if (pl <= l && pl > bl && memcmp(prefixes[j], num, (size_t)pl) == 0) {
				best = j;
				bl = pl;
			}
		}
		ret = store_route_lookup(f->r, num, out, 4);
		if (best < 0) {
			assert_int_equal(ret, 0);
		} else {
			assert_int_equal(ret, 1);
			assert_string_equal(out[0].prefix, prefixes[best]);
		}
	}
	free(csv);
}

/* Single adds and removes keep the prefix index right (nested prefixes
 * added and removed in random order, checked against brute force). */
static void test_lpm_after_adds_and_removes(void **state)
{
	fx *f = *state;
	enum { NP = 300 };
	static char pf[NP][8];
	static bool live[NP];
	store_route out[2];
	char num[16];
	int i, j, q, round;

	for (i = 0; i < NP; i++) {
		int l = (int)(xs(NULL) % 6); /* includes the empty prefix */

		for (j = 0; j < l; j++)
			pf[i][j] = (char)('0' + xs(NULL) % 3);
		pf[i][l] = '\0';
		for (j = 0; j < i; j++)
			if (strcmp(pf[j], pf[i]) == 0)
				break;
		live[i] = false;
		if (j < i)
			pf[i][0] = 'x'; /* duplicate: unused */
	}
	for (round = 0; round < 600; round++) {
		i = (int)(xs(NULL) % NP);
		if (pf[i][0] == 'x')
			continue;
		if (live[i])
			assert_int_equal(store_route_remove(f->st, pf[i], "a", NULL, 0), 1);
		else
			add(f, pf[i], "a", 1, 1);
		live[i] = !live[i];
		if (round % 20)
			continue;
		for (q = 0; q < 200; q++) {
			int l = 1 + (int)(xs(NULL) % 7), best = -1, bl = -1;

			for (j = 0; j < l; j++)
				num[j] = (char)('0' + xs(NULL) % 3);
			num[l] = '\0';
			for (j = 0; j < NP; j++) {
				int pl = (int)strlen(pf[j]);

				if (live[j] && pl <= l && pl > bl && memcmp(pf[j], num, (size_t)pl) == 0) {
					best = j;
					bl = pl;
				}
			}
			if (best < 0) {
				assert_int_equal(store_route_lookup(f->r, num, out, 2), 0);
			} else {
				assert_int_equal(store_route_lookup(f->r, num, out, 2), 1);
				assert_string_equal(out[0].prefix, pf[best]);
			}
		}
	}
}

static void test_priority_weight_order(void **state)
{
	fx *f = *state;
	store_route out[8], tmp[8];
	int firsts_b = 0, i;

	add(f, "33", "c", 20, 0);
	add(f, "33", "a", 10, 90);
	add(f, "33", "b", 10, 10);
	assert_int_equal(store_route_lookup(f->r, "3312", out, 8), 3);
	/* priority first, then name */
	assert_string_equal(out[0].trunk, "a");
	assert_string_equal(out[1].trunk, "b");
	assert_string_equal(out[2].trunk, "c");
	assert_int_equal(out[0].priority, 10);
	assert_int_equal(out[0].weight, 90);
	/* max smaller than the set: the best ones */
	assert_int_equal(store_route_lookup(f->r, "3312", tmp, 1), 1);
	assert_string_equal(tmp[0].trunk, "a");
	/* weighted order: b first about 10% of the time, c always last */
	for (i = 0; i < 10000; i++) {
		memcpy(tmp, out, sizeof(out));
		store_route_order(tmp, 3, xs, NULL);
		assert_string_equal(tmp[2].trunk, "c");
		firsts_b += strcmp(tmp[0].trunk, "b") == 0;
	}
	assert_in_range(firsts_b, 800, 1200);
	/* weight 0 goes after the weighted ones; all-zero keeps name order */
	{
		store_route z[3] = {{.trunk = "z0", .priority = 1, .weight = 0},
				    {.trunk = "a0", .priority = 1, .weight = 0},
				    {.trunk = "m5", .priority = 1, .weight = 5}};

		store_route_order(z, 3, xs, NULL);
		assert_string_equal(z[0].trunk, "m5");
		assert_string_equal(z[1].trunk, "a0");
		assert_string_equal(z[2].trunk, "z0");
	}
}

static void test_strip_prepend(void **state)
{
	store_route r = {.prefix = "+44", .trunk = "a", .strip = 2, .prepend = "0"};
	char out[STORE_NUMBER_MAX + 1];
	(void)state;

	assert_int_equal(store_route_apply(&r, "+44 20 7123 4567", out), 11);
	assert_string_equal(out, "02071234567");
	r.strip = 0;
	strcpy(r.prepend, "9");
	assert_int_equal(store_route_apply(&r, "123", out), 4);
	assert_string_equal(out, "9123");
	r.strip = 3;
	r.prepend[0] = '\0';
	assert_int_equal(store_route_apply(&r, "1234", out), 1);
	assert_string_equal(out, "4");
	assert_int_equal(store_route_apply(&r, "123", out), SBC_E_INVAL);  /* nothing left */
	assert_int_equal(store_route_apply(&r, "12", out), SBC_E_INVAL);   /* too short */
	r.strip = 0;
	strcpy(r.prepend, "+");
	assert_int_equal(store_route_apply(&r, "+44", out), SBC_E_INVAL); /* "++44" */
	assert_int_equal(store_route_apply(&r, "44", out), 3);
	assert_string_equal(out, "+44");
	/* stored routes keep strip and prepend */
	{
		fx *f = *state;
		store_route in = {.prefix = "+1", .trunk = "b", .priority = 5, .weight = 7,
				  .strip = 1, .prepend = "00"};
		store_route got[2];

		assert_int_equal(store_route_add(f->st, &in, NULL, 0), 0);
		assert_int_equal(store_route_lookup(f->r, "+15551234", got, 2), 1);
		assert_int_equal(got[0].strip, 1);
		assert_string_equal(got[0].prepend, "00");
		assert_int_equal(store_route_apply(&got[0], "+15551234", out), 9);
		assert_string_equal(out, "005551234");
	}
}

static void test_add_remove_validation(void **state)
{
	fx *f = *state;
	store_route r = {.prefix = "12", .trunk = "nope"};
	store_route out[4];
	char err[256];

	assert_int_equal(store_route_add(f->st, &r, err, sizeof(err)), SBC_E_NOT_FOUND);
	assert_non_null(strstr(err, "trunk: 'nope' does not exist"));
	strcpy(r.prefix, "1a");
	strcpy(r.trunk, "a");
	assert_int_equal(store_route_add(f->st, &r, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "prefix"));
	strcpy(r.prefix, "12");
	strcpy(r.prepend, "x");
	assert_int_equal(store_route_add(f->st, &r, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "prepend"));
	r.prepend[0] = '\0';
	r.strip = 40;
	assert_int_equal(store_route_add(f->st, &r, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "strip"));
	r.strip = 0;
	add(f, "12", "a", 1, 1);
	add(f, "12", "b", 1, 1);
	assert_int_equal(store_route_count(f->r), 2);
	assert_int_equal(store_trunk_route_refs(f->r, "a"), 1);
	/* a trunk that routes name cannot be removed */
	assert_int_equal(store_trunk_remove(f->st, "a", err, sizeof(err)), SBC_E_STATE);
	assert_non_null(strstr(err, "used by 1 route"));
	assert_int_equal(store_route_remove(f->st, "12", "c", err, sizeof(err)), SBC_E_NOT_FOUND);
	assert_int_equal(store_route_remove(f->st, "13", NULL, err, sizeof(err)), SBC_E_NOT_FOUND);
	assert_int_equal(store_route_remove(f->st, "12", "a", err, sizeof(err)), 1);
	assert_int_equal(store_route_lookup(f->r, "123", out, 4), 1);
	assert_string_equal(out[0].trunk, "b");
	assert_int_equal(store_trunk_remove(f->st, "a", err, sizeof(err)), 0);
	assert_int_equal(store_route_remove(f->st, "12", NULL, err, sizeof(err)), 1);
	assert_int_equal(store_route_lookup(f->r, "123", out, 4), 0);
	assert_int_equal(store_route_count(f->r), 0);
	assert_int_equal(store_trunk_route_refs(f->r, "b"), 0);
}

static void test_json_route(void **state)
{
	store_route r;
	char err[256];
	json_t *o;
	(void)state;

	o = json_loads("{\"prefix\":\"+49\",\"trunk\":\"b\",\"strip\":3}", 0, NULL);
	assert_int_equal(store_route_from_json(o, &r, err, sizeof(err)), 0);
	assert_int_equal(r.priority, STORE_ROUTE_DEFAULT_PRIORITY);
	assert_int_equal(r.weight, STORE_ROUTE_DEFAULT_WEIGHT);
	assert_int_equal(r.strip, 3);
	json_decref(o);

	/* rejected, each with the reason naming the key (as test_store_trunk's
	 * trunk cases) */
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{"{\"prefix\":\"49\",\"trunk\":\"b\",\"priority\":70000}", "priority: must be 0..65535"},
		{"{\"prefix\":\"49\",\"trunk\":\"b\",\"colour\":1}", "colour: unknown key"},
		{"{\"trunk\":\"b\"}", "prefix: missing"},
		{"{\"prefix\":49,\"trunk\":\"b\"}", "prefix: must be a string"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_loads(bad[i].json, 0, NULL);
		assert_non_null(o);
		err[0] = '\0';
		assert_int_equal(store_route_from_json(o, &r, err, sizeof(err)), SBC_E_INVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: err '%s' lacks '%s'", i, err, bad[i].msg);
		json_decref(o);
	}
}

/* ---- paging ---- */

static void test_paging(void **state)
{
	fx *f = *state;
	char csv[40000], ap[STORE_PREFIX_MAX + 1] = "", at[STORE_NAME_MAX + 1] = "";
	store_route page[64];
	size_t len = 0;
	int i, n, total = 0, pages = 0;
	bool more = true, first = true;
	char last[128] = "";

	len += (size_t)sprintf(csv, "prefix,trunk,priority\n");
	for (i = 0; i < 250; i++) {
		len += (size_t)sprintf(csv + len, "%d,a,1\n", 1000 + i);
		if (i % 5 == 0)
			len += (size_t)sprintf(csv + len, "%d,c,2\n", 1000 + i);
	}
	assert_int_equal(store_route_import(f->st, STORE_FMT_CSV, csv, len, 0, NULL, NULL, 0), 300);
	while (more) {
		n = store_route_list(f->r, first ? NULL : ap, first ? NULL : at, page, 64, &more);
		assert_true(n >= 0);
		for (i = 0; i < n; i++) {
			char cur[128];

			assert_true(snprintf(cur, sizeof(cur), "%s/%s", page[i].prefix, page[i].trunk) < 128);
			assert_true(strcmp(cur, last) > 0); /* strictly increasing: no repeats */
			strcpy(last, cur);
		}
		total += n;
		pages++;
		if (n) {
			strcpy(ap, page[n - 1].prefix);
			strcpy(at, page[n - 1].trunk);
		}
		first = false;
	}
	assert_int_equal(total, 300);
	assert_int_equal(pages, 5);
	/* after_trunk NULL skips the whole prefix */
	n = store_route_list(f->r, "1000", NULL, page, 2, &more);
	assert_int_equal(n, 2);
	assert_string_equal(page[0].prefix, "1001");
	assert_true(more);
}

/* ---- import ---- */

static int64_t imp(fx *f, enum store_fmt fmt, const char *text, unsigned flags, size_t *line,
		   char *err)
{
	return store_route_import(f->st, fmt, text, strlen(text), flags, line, err, 256);
}

static void test_import_errors_all_or_nothing(void **state)
{
	fx *f = *state;
	static const struct {
		enum store_fmt fmt;
		const char *text;
		size_t line;
		int code;
		const char *msg;
	} cases[] = {
		{STORE_FMT_CSV, "prefix,trunk\n1,a\n2,zz\n", 3, SBC_E_NOT_FOUND,
		 "line 3: trunk: 'zz' does not exist"},
		{STORE_FMT_CSV, "prefix,trunk\n1,a\n2,b\n1,a\n", 4, SBC_E_EXISTS,
		 "line 4: duplicate route"},
		{STORE_FMT_CSV, "prefix,trunk\n1,a\n12x,b\n", 3, SBC_E_INVAL, "line 3: prefix"},
		{STORE_FMT_CSV, "prefix,trunk,priority\n1,a,5\n2,b,-1\n", 3, SBC_E_INVAL,
		 "line 3: priority: must be an integer"},
		{STORE_FMT_CSV, "prefix,trunk,weight\n1,a,70000\n", 2, SBC_E_INVAL,
		 "line 2: weight"},
		{STORE_FMT_CSV, "prefix,trunk,strip\n1,a,99\n", 2, SBC_E_INVAL, "line 2: strip"},
		{STORE_FMT_CSV, "prefix,trunk\n1,a\n2,b,3\n", 3, SBC_E_PARSE,
		 "line 3: 3 fields where the header has 2"},
		{STORE_FMT_CSV, "prefix,carrier\n1,a\n", 1, SBC_E_PARSE,
		 "line 1: header: unknown column 'carrier'"},
		{STORE_FMT_CSV, "prefix,priority\n1,1\n", 1, SBC_E_PARSE, "header: the columns"},
		{STORE_FMT_CSV, "", 0, SBC_E_PARSE, "no CSV header"},
		{STORE_FMT_CSV, "prefix,trunk\n1,a\n2,\"b\n", 3, SBC_E_PARSE, "line 3"},
		{STORE_FMT_CSV, "prefix,trunk,prepend\n1,a,0x\n", 2, SBC_E_INVAL, "prepend"},
		{STORE_FMT_JSONL, "{\"prefix\":\"1\",\"trunk\":\"a\"}\n{\"prefix\":\"2\"\n", 2,
		 SBC_E_PARSE, "line 2: invalid JSON"},
		{STORE_FMT_JSONL, "{\"prefix\":\"1\",\"trunk\":\"a\"}\n\n{\"prefix\":\"2\","
				  "\"trunk\":\"q\"}\n", 3, SBC_E_NOT_FOUND,
		 "line 3: trunk: 'q' does not exist"},
		{STORE_FMT_JSONL, "{\"prefix\":\"1\",\"trunk\":\"a\",\"x\":1}\n", 1, SBC_E_INVAL,
		 "line 1: x: unknown key"},
		{STORE_FMT_JSONL, "{\"prefix\":\"1\",\"trunk\":\"a\"}\n{\"prefix\":\"1\","
				  "\"trunk\":\"a\"}\n", 2, SBC_E_EXISTS, "line 2: duplicate"},
	};
	store_route out[4];
	char err[256];
	size_t line, i;

	add(f, "9", "c", 1, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t gen = store_generation(f->r, STORE_AREA_ROUTES);

		err[0] = '\0';
		line = 12345;
		assert_int_equal(imp(f, cases[i].fmt, cases[i].text, 0, &line, err), cases[i].code);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: err '%s' lacks '%s'", i, err, cases[i].msg);
		assert_int_equal(line, cases[i].line);
		/* nothing changed */
		assert_int_equal(store_generation(f->r, STORE_AREA_ROUTES), gen);
		assert_int_equal(store_route_count(f->r), 1);
		assert_int_equal(store_route_lookup(f->r, "1", out, 4), 0);
		/* and not with REPLACE either */
		assert_int_equal(imp(f, cases[i].fmt, cases[i].text, STORE_IMPORT_REPLACE, &line,
				     err),
				 cases[i].code);
		assert_int_equal(store_route_lookup(f->r, "9", out, 4), 1);
	}
	/* duplicate with an existing route (merge mode) names the line */
	assert_int_equal(imp(f, STORE_FMT_CSV, "prefix,trunk\n5,a\n9,c\n", 0, &line, err),
			 SBC_E_EXISTS);
	assert_int_equal(line, 3);
	assert_non_null(strstr(err, "already exists"));
}

/* JSON lines: the fast path and jansson agree on what is accepted. */
static void test_import_jsonl_variants(void **state)
{
	fx *f = *state;
	static const struct {
		const char *line;
		int code;
		const char *msg;
	} bad[] = {
		{"{\"prefix\":\"3\",\"trunk\":\"a\",\"priority\":1.0}", SBC_E_INVAL,
		 "priority: must be an integer"},
		{"{\"prefix\":\"4\",\"trunk\":\"a\",\"weight\":007}", SBC_E_PARSE, "invalid JSON"},
		{"{\"prefix\":\"5\",\"trunk\":\"a\",\"strip\":40}", SBC_E_INVAL, "strip: must be"},
		{"{\"prefix\":\"6\",\"trunk\":\"a\"} x", SBC_E_PARSE, "invalid JSON"},
		{"{\"prefix\":\"7\",\"trunk\":\"a\",\"prefix\":\"8\"}", SBC_E_PARSE, "invalid JSON"},
		{"{\"prefix\":\"9\",\"trunk\":\"a\",\"priority\":-1}", SBC_E_INVAL, "priority"},
		{"{\"prefix\":\"10\",\"trunk\":\"a\",\"priority\":true}", SBC_E_INVAL,
		 "priority: must be an integer"},
		{"{\"prefix\":\"11\",\"trunk\":\"a\",\"weight\":65536}", SBC_E_INVAL, "weight"},
		{"{\"prefix\":\"1a\",\"trunk\":\"a\"}", SBC_E_INVAL, "prefix"},
		{"{\"prefix\":\"12\"}", SBC_E_INVAL, "trunk: missing"},
		{"{}", SBC_E_INVAL, "prefix: missing"},
		{"[1]", SBC_E_INVAL, "route: must be a JSON object"},
		{"{\"prefix\":\"13\",\"trunk\":\"a\",\"Prefix\":\"1\"}", SBC_E_INVAL,
		 "Prefix: unknown key"},
	};
	store_route out[2];
	char err[256], text[256];
	size_t i, line;

	assert_int_equal(imp(f, STORE_FMT_JSONL,
			     "{\"prefix\":\"1\",\"trunk\":\"a\",\"priority\":5,\"strip\":0}\n"
			     " { \"trunk\" : \"b\" , \"prefix\" : \"\\u0032\", \"weight\": 0 }\r\n"
			     "{\"prefix\":\"+3\",\"trunk\":\"c\",\"prepend\":\"00\",\"strip\":2}",
			     0, &line, err),
			 3);
	assert_int_equal(store_route_lookup(f->r, "10", out, 2), 1);
	assert_int_equal(out[0].priority, 5);
	assert_int_equal(out[0].weight, STORE_ROUTE_DEFAULT_WEIGHT);
	assert_int_equal(store_route_lookup(f->r, "20", out, 2), 1);
	assert_string_equal(out[0].trunk, "b");
	assert_int_equal(out[0].weight, 0);
	assert_int_equal(store_route_lookup(f->r, "+30", out, 2), 1);
	assert_string_equal(out[0].prepend, "00");
	assert_int_equal(out[0].strip, 2);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"prefix\":\"77\",\"trunk\":\"a\"}\n%s\n", bad[i].line);
		err[0] = '\0';
		assert_int_equal(imp(f, STORE_FMT_JSONL, text, 0, &line, err), bad[i].code);
		if (!strstr(err, bad[i].msg) || line != 2)
			fail_msg("case %zu: line %zu err '%s' lacks '%s'", i, line, err, bad[i].msg);
	}
	assert_int_equal(store_route_lookup(f->r, "77", out, 2), 0);
}

static void test_import_merge_replace(void **state)
{
	fx *f = *state;
	store_route out[4];
	char err[256];
	size_t line;

	add(f, "9", "c", 1, 1);
	assert_int_equal(imp(f, STORE_FMT_CSV,
			     "# comment\r\nprefix , trunk,priority,weight,strip,prepend\r\n"
			     "\"+44\",a,10,20,3,0\r\n\r\n44,b,,,,\r\n9,a,1,1,0,\r\n",
			     0, &line, err),
		 3);
	assert_int_equal(store_route_count(f->r), 4);
	assert_int_equal(store_route_lookup(f->r, "+4420", out, 4), 1);
	assert_int_equal(out[0].priority, 10);
	assert_int_equal(out[0].weight, 20);
	assert_int_equal(out[0].strip, 3);
	assert_string_equal(out[0].prepend, "0");
	assert_int_equal(store_route_lookup(f->r, "4420", out, 4), 1);
	assert_int_equal(out[0].priority, STORE_ROUTE_DEFAULT_PRIORITY);
	assert_int_equal(store_route_lookup(f->r, "91", out, 4), 2);
	assert_int_equal(store_trunk_route_refs(f->r, "a"), 2);
	/* replace: only the new routes remain, counters follow */
	assert_int_equal(imp(f, STORE_FMT_JSONL, "{\"prefix\":\"7\",\"trunk\":\"b\"}\n",
			     STORE_IMPORT_REPLACE, &line, err),
			 1);
	assert_int_equal(store_route_count(f->r), 1);
	assert_int_equal(store_route_lookup(f->r, "91", out, 4), 0);
	assert_int_equal(store_trunk_route_refs(f->r, "a"), 0);
	assert_int_equal(store_trunk_route_refs(f->r, "c"), 0);
	assert_int_equal(store_trunk_route_refs(f->r, "b"), 1);
	assert_int_equal(store_trunk_remove(f->st, "a", err, sizeof(err)), 0);
}

/* ---- export ---- */

typedef struct sbuf {
	char *p;
	size_t len, cap;
} sbuf;

static int sbuf_cb(const char *line, size_t len, void *arg)
{
	sbuf *b = arg;

	if (b->len + len + 1 > b->cap) {
		b->cap = (b->len + len + 1) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, line, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

static int stop_cb(const char *line, size_t len, void *arg)
{
	(void)line;
	(void)len;
	(void)arg;
	return -42;
}

static void test_export_round_trip(void **state)
{
	fx *f = *state;
	sbuf a = {0}, b = {0}, j = {0}, j2 = {0};
	size_t line;
	char err[256];
	int fmt;

	add(f, "", "a", 1, 1);
	add(f, "+1", "b", 3, 4);
	{
		store_route r = {.prefix = "44", .trunk = "c", .priority = 9, .weight = 8,
				 .strip = 2, .prepend = "+49"};

		assert_int_equal(store_route_add(f->st, &r, NULL, 0), 0);
	}
	add(f, "44", "a", 1, 0);
	assert_int_equal(store_route_export(f->r, STORE_FMT_CSV, sbuf_cb, &a), 4);
	assert_string_equal(a.p, "prefix,trunk,priority,weight,strip,prepend\n"
				 ",a,1,1,0,\n"
				 "+1,b,3,4,0,\n"
				 "44,a,1,0,0,\n"
				 "44,c,9,8,2,+49\n");
	assert_int_equal(store_route_export(f->r, STORE_FMT_JSONL, sbuf_cb, &j), 4);
	for (fmt = 0; fmt < 2; fmt++) {
		sbuf *src = fmt == 0 ? &a : &j, *dst = fmt == 0 ? &b : &j2;

		assert_int_equal(store_route_import(f->st, (enum store_fmt)fmt, src->p, src->len,
						    STORE_IMPORT_REPLACE, &line, err, sizeof(err)),
				 4);
		assert_int_equal(store_route_export(f->r, (enum store_fmt)fmt, sbuf_cb, dst), 4);
		assert_string_equal(src->p, dst->p);
	}
	/* a callback error stops the export */
	assert_int_equal(store_route_export(f->r, STORE_FMT_CSV, stop_cb, NULL), -42);
	free(a.p);
	free(b.p);
	free(j.p);
	free(j2.p);
}

/* ---- read-only reader in another process ---- */

static void test_rdonly_reader_sees_commits(void **state)
{
	fx *f = *state;
	char path[600];
	int to_child[2], to_parent[2], status;
	pid_t pid;
	char c;

	snprintf(path, sizeof(path), "%s", store_path(f->st));
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(to_parent), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store *ro = NULL;
		store_reader *r = NULL;
		store_route out[4];
		char err[256];
		int rc = 0;

		if (store_open(path, STORE_RDONLY, 0, &ro, err, sizeof(err)) != 0 ||
		    store_reader_open(ro, &r) != 0)
			_exit(10);
		if (store_route_lookup(r, "777", out, 4) != 0)
			rc = 11;
		if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(12);
		/* the same reader, a new call: sees the commit */
		if (store_route_lookup(r, "777", out, 4) != 1 || strcmp(out[0].trunk, "b") != 0)
			rc = 13;
		if (store_generation(r, STORE_AREA_ROUTES) != 1)
			rc = 14;
		store_reader_close(r);
		store_close(ro);
		_exit(rc);
	}
	assert_int_equal(read(to_parent[0], &c, 1), 1);
	add(f, "77", "b", 1, 1);
	assert_int_equal(write(to_child[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

/* kill -9 of the writer in the middle of a large import: the store holds
 * all of it or none of it, and stays usable. */
static void test_import_killed_midway(void **state)
{
	fx *f = *state;
	enum { N = 100000 };
	char *csv = malloc((size_t)N * 24 + 64), path[600];
	size_t len = (size_t)sprintf(csv, "prefix,trunk\n");
	int i, round, status, saw_none = 0, saw_all = 0;
	store_route out[2];

	for (i = 0; i < N; i++)
		len += (size_t)sprintf(csv + len, "%d,b\n", 5000000 + i);
	snprintf(path, sizeof(path), "%s", store_path(f->st));
	/* the parent's handle must not be used across fork by the child: the
	 * child opens its own environment */
	for (round = 0; round < 4; round++) {
		int64_t n;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			store *w = NULL;
			char err[256];

			if (store_open(path, 0, 0, &w, err, sizeof(err)) != 0)
				_exit(3);
			store_route_import(w, STORE_FMT_CSV, csv, len, STORE_IMPORT_REPLACE, NULL,
					   err, sizeof(err));
			pause(); /* committed: wait for the kill */
			_exit(0);
		}
		usleep((useconds_t)(round == 3 ? 1500000 : 10000 + round * 20000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		n = store_route_count(f->r);
		if (n == 0) {
			saw_none++;
			assert_int_equal(store_route_lookup(f->r, "5000001", out, 2), 0);
		} else {
			saw_all++;
			assert_int_equal(n, N);
			assert_int_equal(store_route_lookup(f->r, "5099999", out, 2), 1);
			assert_int_equal(store_trunk_route_refs(f->r, "b"), N);
		}
		/* the store still takes writes */
		add(f, "42", "a", 1, 1);
		assert_int_equal(store_route_remove(f->st, "42", NULL, NULL, 0), 1);
		if (n)
			assert_int_equal(store_route_import(f->st, STORE_FMT_CSV, "prefix,trunk\n", 13,
							    STORE_IMPORT_REPLACE, NULL, NULL, 0),
					 0);
	}
	fprintf(stderr, "killed imports: %d left nothing, %d left everything\n", saw_none,
		saw_all);
	assert_true(store_reader_check(f->st) >= 0);
	assert_true(saw_none + saw_all == 4);
	assert_true(saw_all >= 1); /* the 1.5 s round lets the import finish */
	free(csv);
}

/* Damaged records (hostile bytes in the file) give errors, never crashes. */
static void test_damaged_records(void **state)
{
	fx *f = *state;
	char path[600], err[256];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi routes, trunks;
	store_route out[4];
	store_trunk t;
	static const struct {
		uint8_t key[8];
		size_t klen;
		uint8_t val[16];
		size_t vlen;
	} junk[] = {
		{{0x30}, 8, {9, 1, 0, 0, 0, 0}, 6},          /* "1": bad version */
		{{0x40}, 8, {3, 5, 0, 0, 0, 0, 1}, 7},       /* "2": truncated entries */
		{{0x50}, 8, {3, 1, 0, 0, 0, 0, 99, 0, 0, 0, 1, 0, 1, 0, 0, 0}, 16}, /* "3": no such trunk id */
		{{0xf0}, 8, {3, 0, 0, 0, 0, 0}, 6},          /* bad key nibble */
		{{0x60}, 3, {3, 0, 0, 0, 0, 0}, 6},          /* bad key size */
	};
	size_t i;

	add(f, "1234", "a", 1, 1);
	snprintf(path, sizeof(path), "%s", store_path(f->st));
	store_reader_close(f->r);
	store_close(f->st);
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 8);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "routes", 0, &routes), 0);
	assert_int_equal(mdb_dbi_open(txn, "trunks", 0, &trunks), 0);
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		MDB_val k = {junk[i].klen, (void *)junk[i].key}, v = {junk[i].vlen, (void *)junk[i].val};

		assert_int_equal(mdb_put(txn, routes, &k, &v, 0), 0);
	}
	{
		MDB_val k = {1, (void *)"b"}, v = {9, (void *)"{\"name\":1"};

		assert_int_equal(mdb_put(txn, trunks, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	assert_int_equal(store_open(path, 0, 0, &f->st, err, sizeof(err)), 0);
	assert_int_equal(store_reader_open(f->st, &f->r), 0);

	assert_int_equal(store_route_lookup(f->r, "1", out, 4), SBC_E_PARSE);
	assert_int_equal(store_route_lookup(f->r, "29", out, 4), SBC_E_PARSE);
	assert_int_equal(store_route_lookup(f->r, "39", out, 4), SBC_E_PARSE);
	assert_int_equal(store_route_lookup(f->r, "12345", out, 4), 1); /* the good one */
	{
		bool more;
		FILE *devnull;

		assert_true(store_route_list(f->r, NULL, NULL, out, 4, &more) < 0);
		devnull = fopen("/dev/null", "w");
		assert_true(store_route_export_file(f->r, STORE_FMT_CSV, devnull) < 0);
		fclose(devnull);
	}
	assert_int_equal(store_trunk_get(f->r, "b", &t), SBC_E_PARSE);
	assert_int_equal(store_trunk_get(f->r, "a", &t), 0);
	{
		store_trunk_snapshot *snap;

		assert_int_equal(store_trunk_snapshot_load(f->r, &snap), SBC_E_PARSE);
	}
	/* a write on top of a damaged prefix is refused, not made worse */
	{
		store_route r = {.prefix = "2", .trunk = "a", .priority = 1, .weight = 1};

		assert_int_equal(store_route_add(f->st, &r, err, sizeof(err)), SBC_E_PARSE);
		assert_non_null(strstr(err, "damaged"));
	}
}

/* A store too small for an import: a clear error and nothing changes. */
static void test_import_map_full(void **state)
{
	char base[256], path[512], err[256];
	store *st = NULL;
	store_reader *r;
	char *csv = malloc(200000 * 24);
	size_t len = (size_t)sprintf(csv, "prefix,trunk\n"), line;
	int i;
	(void)state;

	tsu_tmpdir(base, sizeof(base), path, sizeof(path));
	assert_int_equal(store_open(path, STORE_CREATE | STORE_NOSYNC, 1u << 20, &st, err,
				    sizeof(err)),
			 0);
	assert_int_equal(tsu_add_trunk(st, "a"), 0);
	for (i = 0; i < 200000; i++)
		len += (size_t)sprintf(csv + len, "%d,a\n", 10000000 + i);
	assert_int_equal(store_route_import(st, STORE_FMT_CSV, csv, len, 0, &line, err, sizeof(err)),
			 SBC_E_LIMIT);
	assert_non_null(strstr(err, "map size is too small"));
	assert_int_equal(store_reader_open(st, &r), 0);
	assert_int_equal(store_route_count(r), 0);
	assert_int_equal(store_generation(r, STORE_AREA_ROUTES), 0);
	/* and small changes still work */
	assert_int_equal(store_route_import(st, STORE_FMT_CSV, "prefix,trunk\n1,a\n", 16, 0, &line,
					    err, sizeof(err)),
			 1);
	store_reader_close(r);
	store_close(st);
	tsu_rmtree(base);
	free(csv);
}

/* A reader killed inside a read transaction: its slot is freed. */
static void test_dead_reader_slot(void **state)
{
	fx *f = *state;
	char path[600], c;
	int p[2], status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s", store_path(f->st));
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store *ro = NULL;
		store_reader *r = NULL;
		char err[256];

		if (store_open(path, STORE_RDONLY, 0, &ro, err, sizeof(err)) != 0 ||
		    store_reader_open(ro, &r) != 0 || store_reader_begin(r) != 0)
			_exit(3);
		if (write(p[1], "r", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(store_reader_check(f->st) >= 1);
	assert_int_equal(store_reader_check(f->st), 0);
	close(p[0]);
	close(p[1]);
}

static void test_reader_snapshot_bracket(void **state)
{
	fx *f = *state;
	store_route out[2];

	assert_int_equal(store_reader_begin(f->r), 0);
	assert_int_equal(store_route_lookup(f->r, "66", out, 2), 0);
	add(f, "66", "a", 1, 1);
	/* inside the bracket the old snapshot is still seen */
	assert_int_equal(store_route_lookup(f->r, "66", out, 2), 0);
	store_reader_end(f->r);
	assert_int_equal(store_route_lookup(f->r, "66", out, 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_modes_and_reopen),
		cmocka_unit_test(test_schema_mismatch),
		cmocka_unit_test(test_number_normalise),
		cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lpm_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lpm_matches_brute_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lpm_after_adds_and_removes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_weight_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strip_prepend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_remove_validation, setup, teardown),
		cmocka_unit_test(test_json_route),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_errors_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_jsonl_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_merge_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdonly_reader_sees_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_snapshot_bracket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_killed_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_reader_slot, setup, teardown),
		cmocka_unit_test(test_import_map_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
