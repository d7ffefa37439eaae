/* Helpers for the store unit tests: a temporary store directory under /tmp
 * that is removed at the end. Header-only (static functions). */
#ifndef SBC_TEST_STORE_UTIL_H
#define SBC_TEST_STORE_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbc/store.h"

static int tsu_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void tsu_rmtree(const char *dir)
{
	nftw(dir, tsu_rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Makes /tmp/sbc-store-test-XXXXXX and returns "<it>/store" in path. */
static inline void tsu_tmpdir(char *base, size_t blen, char *path, size_t plen)
{
	snprintf(base, blen, "/tmp/sbc-store-test-XXXXXX");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, plen, "%s/store", base);
}

/* Opens a fresh writable store; aborts the test on failure. */
static inline store *tsu_open_new(char *base, size_t blen)
{
	char path[512], err[256];
	store *st = NULL;

	tsu_tmpdir(base, blen, path, sizeof(path));
	if (store_open(path, STORE_CREATE | STORE_NOSYNC, 64u << 20, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_open: %s\n", err);
		exit(1);
	}
	return st;
}

static inline int tsu_add_trunk(store *st, const char *name)
{
	store_trunk t;
	char err[256];
	int ret;

	store_trunk_init(&t, name);
	ret = store_trunk_put(st, &t, true, err, sizeof(err));
	if (ret)
		fprintf(stderr, "trunk_put %s: %s\n", name, err);
	return ret;
}

#endif
