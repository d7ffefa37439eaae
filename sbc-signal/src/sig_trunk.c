/* sbc-signal — trunks at the transport layer (see sig_trunk.h). */
#include "sig_trunk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/log.h"
#include "sbc/store.h"
#include "sig_store.h"
#include "sig_tls_profile.h"

struct sig_trunks {
	const char *path;
	store_reader *rd;
	store_trunk_snapshot *snap;
	uint64_t gen;
	uint64_t last_check_ms;
	int any, any_cert;
	size_t n;
	const store_trunk **ptr; /* sorted by address, for name lookups */
	const char **name;       /* interned names, same order */
};

sig_trunks *sig_trunks_open(const char *store_path)
{
	sig_trunks *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->gen = UINT64_MAX;
	t->path = store_path;
	sig_trunks_refresh(t, 0, 1);
	return t;
}

void sig_trunks_close(sig_trunks *t)
{
	if (!t)
		return;
	if (t->snap)
		store_trunk_snapshot_unref(t->snap);
	free(t->ptr);
	free(t->name);
	if (t->rd)
		store_reader_close(t->rd);
	free(t);
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const store_trunk *const *)a;
	uintptr_t y = (uintptr_t) * (const store_trunk *const *)b;
	return x < y ? -1 : x > y;
}

void sig_trunks_refresh(sig_trunks *t, uint64_t now_ms, int force)
{
	if (!force && now_ms - t->last_check_ms < 1000)
		return;
	t->last_check_ms = now_ms;
	if (!t->rd) { /* the store may appear after we started */
		store *st = sig_store_get(t->path);
		if (!st || store_reader_open(st, &t->rd) < 0) {
			t->rd = NULL;
			return;
		}
	}
	uint64_t g = store_generation(t->rd, STORE_AREA_TRUNKS);
	if (g == t->gen)
		return;
	store_trunk_snapshot *s = NULL;
	if (store_trunk_snapshot_load(t->rd, &s) < 0) {
		SBC_WARN("trunks: reload failed; keeping generation %llu", (unsigned long long)t->gen);
		return;
	}
	size_t n = store_trunk_snapshot_count(s);
	const store_trunk **ptr = calloc(n ? n : 1, sizeof(*ptr));
	const char **name = calloc(n ? n : 1, sizeof(*name));
	if (!ptr || !name) {
		free(ptr);
		free(name);
		store_trunk_snapshot_unref(s);
		return;
	}
	int any_cert = 0;
	for (size_t i = 0; i < n; i++) {
		ptr[i] = store_trunk_snapshot_at(s, i);
		any_cert |= ptr[i]->enabled && ptr[i]->n_certs > 0;
	}
	qsort(ptr, n, sizeof(*ptr), cmp_ptr);
	for (size_t i = 0; i < n; i++)
		name[i] = sig_tls_intern(ptr[i]->name);
	if (t->snap)
		store_trunk_snapshot_unref(t->snap);
	free(t->ptr);
	free(t->name);
	t->snap = s;
	t->ptr = ptr;
	t->name = name;
	t->n = n;
	t->any = n > 0;
	t->any_cert = any_cert;
	t->gen = store_trunk_snapshot_generation(s);
}

int sig_trunks_any(const sig_trunks *t) { return t && t->any; }
int sig_trunks_any_cert(const sig_trunks *t) { return t && t->any_cert; }
uint64_t sig_trunks_generation(const sig_trunks *t) { return t ? t->gen : 0; }

static const char *name_of(const sig_trunks *t, const store_trunk *tr)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (t->ptr[mid] == tr)
			return t->name[mid];
		if ((uintptr_t)t->ptr[mid] < (uintptr_t)tr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *sig_trunk_by_addr(sig_trunks *t, const sbc_addr *src)
{
	if (!t || !t->snap)
		return NULL;
	const store_trunk *tr = store_trunk_snapshot_match_addr(t->snap, src);
	return tr ? name_of(t, tr) : NULL;
}

const char *sig_trunk_by_cert(sig_trunks *t, const sig_peer_id *id, const sbc_addr *src)
{
	if (!t || !t->snap || !id)
		return NULL;
	const store_trunk *tr = store_trunk_snapshot_match_cert(t->snap, id->subject, id->sans,
								id->n_sans, id->sha256, src);
	return tr ? name_of(t, tr) : NULL;
}

const char *sig_trunk_name(const sig_trunks *t, const store_trunk *tr) { return t && tr ? name_of(t, tr) : NULL; }

const store_trunk *sig_trunk_get(sig_trunks *t, const char *name)
{
	if (!t || !t->snap || !name)
		return NULL;
	return store_trunk_snapshot_find(t->snap, name);
}

store_reader *sig_trunks_reader(sig_trunks *t) { return t ? t->rd : NULL; }

const store_trunk *sig_trunk_at(sig_trunks *t, size_t i)
{
	if (!t || !t->snap || i >= store_trunk_snapshot_count(t->snap))
		return NULL;
	return store_trunk_snapshot_at(t->snap, i);
}

void sig_trunk_stat(sig_trunk_stats *s, const char *trunk, enum sig_trunk_stat st, uint64_t n)
{
	if (!trunk)
		return;
	uint32_t h = (uint32_t)(((uintptr_t)trunk >> 4) * 2654435761u);
	for (unsigned p = 0; p < SIG_TRUNK_STATS_MAX; p++) {
		unsigned i = (h + p) % SIG_TRUNK_STATS_MAX;
		const char *cur = atomic_load_explicit(&s->name[i], memory_order_relaxed);
		if (!cur) {
			/* single writer (the owning worker): plain release store */
			atomic_store_explicit(&s->name[i], trunk, memory_order_release);
			cur = trunk;
		}
		if (cur == trunk) {
			_Atomic uint64_t *c = &s->v[i][st];
			atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
					      memory_order_relaxed);
			return;
		}
	}
}

int sig_trunk_stats_json(sig_trunk_stats *const *blocks, unsigned n, char *buf, size_t cap)
{
	static const char *const names[SIG_TS_MAX_] = {"conns", "handshakes", "msgs_in", "refused",
							       "transport_errors", "timeouts"};
	const char *seen[SIG_TRUNK_STATS_MAX];
	uint64_t sum[SIG_TRUNK_STATS_MAX][SIG_TS_MAX_];
	unsigned ns = 0;
	memset(sum, 0, sizeof(sum));
	for (unsigned b = 0; b < n; b++)
		for (unsigned i = 0; i < SIG_TRUNK_STATS_MAX; i++) {
			const char *nm = atomic_load_explicit(&blocks[b]->name[i], memory_order_acquire);
			if (!nm)
				continue;
			unsigned k;
			for (k = 0; k < ns && seen[k] != nm; k++)
				;
			if (k == ns) {
				if (ns == SIG_TRUNK_STATS_MAX)
					continue;
				seen[ns++] = nm;
			}
			for (unsigned s = 0; s < SIG_TS_MAX_; s++)
				sum[k][s] += atomic_load_explicit(&blocks[b]->v[i][s], memory_order_relaxed);
		}
	size_t len = 0;
	int w = snprintf(buf, cap, ",\"trunks\":{");
	if (w < 0 || (size_t)w >= cap)
		return -ENOSPC;
	len = (size_t)w;
	for (unsigned k = 0; k < ns; k++) {
		char one[256];
		int o = snprintf(one, sizeof(one), "%s\"%s\":{", k ? "," : "", seen[k]);
		for (unsigned s = 0; s < SIG_TS_MAX_ && o > 0 && (size_t)o < sizeof(one); s++)
			o += snprintf(one + o, sizeof(one) - (size_t)o, "%s\"%s\":%" PRIu64, s ? "," : "",
				      names[s], sum[k][s]);
		if (o <= 0 || (size_t)o >= sizeof(one) - 2)
			continue;
		one[o++] = '}';
		one[o] = 0;
		if (len + (size_t)o + 2 >= cap)
			break; /* out of room: the rest is left out, never a broken object */
		memcpy(buf + len, one, (size_t)o + 1);
		len += (size_t)o;
	}
	if (len + 2 > cap)
		return -ENOSPC;
	buf[len++] = '}';
	buf[len] = 0;
	return (int)len;
}
