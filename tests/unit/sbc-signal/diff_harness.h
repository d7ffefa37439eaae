/* The mutation harness the differential parser tests share
 * (test_sip_parse_diff.c, test_sdp_parse_diff.c, test_sig_framing_diff.c):
 * exact-size heap copies, a seeded xorshift and the byte-edit mutator. Each
 * test keeps its own seed, alphabet and edit rule (diff_mut), so its inputs
 * are the ones it had before this header; and the malformed-SIP corpus
 * reader (test_sip_corpus.c, test_sip_parse_diff.c). Included after
 * cmocka.h (it fails the test with fail_msg), not by the reference parsers. */
#ifndef SBC_TEST_DIFF_HARNESS_H
#define SBC_TEST_DIFF_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An exact-size heap copy of src[0..n): the data ends where its block
 * ends, so a read one byte past it shows under SAN=1; for n == 0 the view
 * starts one past a 1-byte block (malloc(0) may hand out a usable byte).
 * Freed with exact_free(p, n). */
static inline char *exact_copy(const char *src, size_t n)
{
	char *blk = malloc(n ? n : 1);
	if (!blk)
		abort();
	if (n)
		memcpy(blk, src, n);
	return n ? blk : blk + 1;
}

static inline void exact_free(char *p, size_t n) { free(n ? p : p - 1); }

/* xorshift64, the low 32 bits: deterministic from the test's seed */
static inline uint32_t diff_rand(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return (uint32_t)*rng;
}

/* How a test mutates: 1..max_edits edits, each drawn from n_ops kinds
 * (0 replace, 1 delete, 2 insert, 3 a run of 1..max_dup bytes duplicated
 * in place), bytes from alphabet; stop early once the input grew by more
 * than max_grow (0: no limit). */
typedef struct diff_mut {
	const char *alphabet;
	size_t n_alpha; /* without the terminating NUL */
	unsigned max_edits, n_ops, max_dup;
	size_t max_grow;
} diff_mut;

/* src[0..n) edited into out (cap >= n + max_edits * max(1, max_dup)); returns the new length */
static inline size_t diff_mutate(uint64_t *rng, const diff_mut *m, const char *src, size_t n, char *out)
{
	size_t len = n;
	memcpy(out, src, n);
	int edits = 1 + (int)(diff_rand(rng) % m->max_edits);
	for (int e = 0; e < edits && len > 1; e++) {
		size_t pos = diff_rand(rng) % len;
		switch (diff_rand(rng) % m->n_ops) {
		case 0:
			out[pos] = m->alphabet[diff_rand(rng) % m->n_alpha];
			break;
		case 1:
			memmove(out + pos, out + pos + 1, len - pos - 1);
			len--;
			break;
		case 2:
			memmove(out + pos + 1, out + pos, len - pos);
			out[pos] = m->alphabet[diff_rand(rng) % m->n_alpha];
			len++;
			break;
		default: {
			size_t k = 1 + diff_rand(rng) % m->max_dup;
			if (pos + k > len)
				k = len - pos;
			memmove(out + pos + k, out + pos, len - pos);
			len += k;
			break;
		}
		}
		if (m->max_grow && len > n + m->max_grow)
			break;
	}
	return len;
}

/* A parser that reuses the caller's struct must clear every byte it does
 * not document as stale: x and y are the same input parsed into a struct
 * full of 0xA5 and into a zeroed one (n bytes each, type names it); fails
 * the test at the first byte where they differ and stale[] is 0. */
static inline void diff_cleared(const void *x, const void *y, const unsigned char *stale, size_t n,
				const char *what, const char *type)
{
	const unsigned char *a = x, *b = y;
	for (size_t o = 0; o < n; o++)
		if (!stale[o] && a[o] != b[o])
			fail_msg("%s: %s byte %zu (of %zu) not cleared: 0x%02x after 0xA5 fill, 0x%02x after zero fill",
				 what, type, o, n, a[o], b[o]);
}

/* The corpus of malformed SIP (NAME.sip files) in
 * $SBC_SRCDIR/tests/corpus/sip, or tests/corpus/sip from the current
 * directory; dir gets that path. Fails the test when it cannot be opened. */
static inline DIR *corpus_open(char *dir, size_t cap)
{
	const char *root = getenv("SBC_SRCDIR");
	snprintf(dir, cap, "%s/tests/corpus/sip", root ? root : ".");
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("corpus directory %s: %s", dir, strerror(errno));
	return d;
}

/* The next NAME.sip of d (opened on dir) read whole into an exact-size heap
 * block (free() it; a read past the end shows under SAN=1): *len its size,
 * *name its file name. NULL at the end; fails the test when a file cannot
 * be read. */
static inline char *corpus_next(DIR *d, const char *dir, size_t *len, const char **name)
{
	struct dirent *de;
	char path[1024];
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".sip") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "rb");
		if (!f)
			fail_msg("%s: %s", path, strerror(errno));
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		char *p = malloc(n > 0 ? (size_t)n : 1);
		if (!p || n < 0 || (n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n))
			fail_msg("%s: cannot read it", path);
		fclose(f);
		*len = (size_t)n;
		*name = de->d_name;
		return p;
	}
	return NULL;
}

#endif
