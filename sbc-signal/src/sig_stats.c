/* sbc-signal — counters (see sig_stats.h). */
#include "sig_stats.h"
#include "sig_trunk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const stat_names[] = {
#define SIG_STAT_NAME_(n) #n,
	SIG_STATS_MAP(SIG_STAT_NAME_)
#undef SIG_STAT_NAME_
};

void sig_stats_sum(sig_stats *const *blocks, unsigned n, uint64_t out[SIG_TP_MAX_][SIG_ST_MAX_])
{
	memset(out, 0, sizeof(uint64_t) * SIG_TP_MAX_ * SIG_ST_MAX_);
	for (unsigned w = 0; w < n; w++)
		for (unsigned t = 0; t < SIG_TP_MAX_; t++)
			for (unsigned s = 0; s < SIG_ST_MAX_; s++)
				out[t][s] += atomic_load_explicit(&blocks[w]->v[t][s],
								  memory_order_relaxed);
}

int sig_stats_json(sig_stats *const *blocks, unsigned n, char *buf, size_t cap)
{
	uint64_t sum[SIG_TP_MAX_][SIG_ST_MAX_];
	size_t len = 0;
	int k;
	sig_stats_sum(blocks, n, sum);
#define PUT_(...)                                                              \
	do {                                                                   \
		k = snprintf(buf + len, cap - len, __VA_ARGS__);               \
		if (k < 0 || (size_t)k >= cap - len)                           \
			return -ENOSPC;                                        \
		len += (size_t)k;                                              \
	} while (0)
	PUT_("{\"workers\":%u", n);
	for (unsigned t = 0; t < SIG_TP_MAX_; t++) {
		PUT_(",\"%s\":{", sig_tp_name(t));
		int first = 1;
		for (unsigned s = 0; s < SIG_ST_MAX_; s++) {
			if (!sum[t][s] && s != SIG_ST_conns_open && s != SIG_ST_msgs_in)
				continue;
			PUT_("%s\"%s\":%" PRIu64, first ? "" : ",", stat_names[s], sum[t][s]);
			first = 0;
		}
		PUT_("}");
	}
	PUT_("}");
#undef PUT_
	return (int)len;
}

int sig_stats_json2(sig_stats *const *blocks, struct sig_trunk_stats *const *tblocks, unsigned n,
		    char *buf, size_t cap)
{
	int len = sig_stats_json(blocks, n, buf, cap);
	if (len < 0 || !tblocks)
		return len;
	/* reopen the object: {...} -> {... ,"trunks":{...}} */
	int t = sig_trunk_stats_json((sig_trunk_stats *const *)tblocks, n, buf + len - 1,
				     cap - (size_t)len + 1);
	if (t < 0 || (size_t)(len - 1 + t) + 2 > cap) {
		buf[len - 1] = '}'; /* no room: the transport counters alone */
		buf[len] = 0;
		return len;
	}
	len = len - 1 + t;
	buf[len++] = '}';
	buf[len] = 0;
	return len;
}
