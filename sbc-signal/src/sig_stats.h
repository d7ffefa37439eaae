/* sbc-signal — counters per worker and transport.
 *
 * Caveats:
 *  1. Each worker owns its block (WRITER: that worker's thread); a counter
 *     is bumped with a relaxed load + store, no locked instruction. Readers
 *     (the stats reply) sum all workers with relaxed loads.
 *  2. The JSON reply must fit in SBC_MSG_TEXT_MAX (3800 bytes): short keys,
 *     zero counters omitted.
 */
#ifndef SIG_STATS_H
#define SIG_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sig_transport.h"

/* X(name) — the JSON key is the name. */
#define SIG_STATS_MAP(X)                                                       \
	X(conns_accepted)                                                      \
	X(conns_opened)                                                        \
	X(conns_closed)                                                        \
	X(conns_open)                                                          \
	X(handshakes)                                                          \
	X(resumed)                                                             \
	X(hs_fail_unknown_ca)                                                  \
	X(hs_fail_bad_cert)                                                    \
	X(hs_fail_no_cert)                                                     \
	X(hs_fail_no_trunk)                                                    \
	X(hs_fail_version)                                                     \
	X(hs_fail_timeout)                                                     \
	X(hs_fail_other)                                                       \
	X(rate_limited)                                                        \
	X(conn_limited)                                                        \
	X(fd_exhausted)                                                        \
	X(bytes_in)                                                            \
	X(bytes_out)                                                           \
	X(msgs_in)                                                             \
	X(msgs_out)                                                            \
	X(pings)                                                               \
	X(frame_errors)                                                        \
	X(stalled)                                                             \
	X(send_errors)                                                         \
	X(forbidden)                                                           \
	X(unknown_dropped)                                                     \
	X(xworker_sends)                                                       \
	X(xworker_full)

enum sig_stat {
#define SIG_STAT_ENUM_(n) SIG_ST_##n,
	SIG_STATS_MAP(SIG_STAT_ENUM_)
#undef SIG_STAT_ENUM_
	SIG_ST_MAX_,
};

typedef struct sig_stats {
	_Atomic uint64_t v[SIG_TP_MAX_][SIG_ST_MAX_];
} sig_stats;

static inline void sig_stat_add(sig_stats *s, unsigned tp, enum sig_stat st, uint64_t n)
{
	_Atomic uint64_t *c = &s->v[tp][st];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void sig_stat_sub(sig_stats *s, unsigned tp, enum sig_stat st, uint64_t n)
{
	_Atomic uint64_t *c = &s->v[tp][st];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

/* Sums n blocks into out (plain numbers). */
void sig_stats_sum(sig_stats *const *blocks, unsigned n, uint64_t out[SIG_TP_MAX_][SIG_ST_MAX_]);

/* Writes {"udp":{...},"tcp":{...},"tls":{...},"workers":n} into buf.
 * Returns the length or -ENOSPC. */
int sig_stats_json(sig_stats *const *blocks, unsigned n, char *buf, size_t cap);

/* The same with the per-trunk counters appended (sig_trunk.h). */
struct sig_trunk_stats;
int sig_stats_json2(sig_stats *const *blocks, struct sig_trunk_stats *const *tblocks, unsigned n,
		    char *buf, size_t cap);

#endif
