/* sbc-signal — trunks at the transport layer: which carrier a connection or
 * datagram belongs to (by source address, or by the verified TLS client
 * certificate), per-trunk counters, and refusal of a client certificate that
 * no trunk names (during the handshake, before any SIP is read).
 *
 * Caveats:
 *  1. Each worker keeps its own read-only view of the store's trunks
 *     (store_trunk_snapshot), reloaded when the trunks generation moves
 *     (checked every second and on SBC_MSG_CONFIG_CHANGED).
 *  2. With no store, or a store without trunks, nothing is enforced: every
 *     source is admitted and rx->trunk is NULL.
 *  3. Trunk names handed out are interned (valid for the process lifetime).
 */
#ifndef SIG_TRUNK_H
#define SIG_TRUNK_H

#include <stdatomic.h>
#include <stdint.h>

#include "sbc/sockaddr.h"
#include "sig_transport.h"

struct sig_worker;

#define SIG_TRUNK_STATS_MAX 128

enum sig_trunk_stat {
	SIG_TS_conns = 0,
	SIG_TS_handshakes,
	SIG_TS_msgs_in,
	SIG_TS_refused,
	SIG_TS_transport_errors, /* B2BUA: an attempt toward the trunk lost at the transport */
	SIG_TS_timeouts,         /* B2BUA: an attempt given up (no response, no answer) */
	SIG_TS_MAX_,
};

typedef struct sig_trunk_stats {
	_Atomic(const char *) name[SIG_TRUNK_STATS_MAX]; /* interned; NULL = free */
	_Atomic uint64_t v[SIG_TRUNK_STATS_MAX][SIG_TS_MAX_];
} sig_trunk_stats;

typedef struct sig_trunks sig_trunks;

/* On the worker's thread. store_path may be empty (no trunks). */
sig_trunks *sig_trunks_open(const char *store_path);
void sig_trunks_close(sig_trunks *t);
/* Reloads when the generation moved (force: check now, else at most once a second). */
void sig_trunks_refresh(sig_trunks *t, uint64_t now_ms, int force);

int sig_trunks_any(const sig_trunks *t);      /* any trunk configured */
int sig_trunks_any_cert(const sig_trunks *t); /* any trunk names certificates */
/* The store generation of the trunks in use (moves on each reload). */
uint64_t sig_trunks_generation(const sig_trunks *t);

/* The trunk whose CIDRs match src, or NULL. */
const char *sig_trunk_by_addr(sig_trunks *t, const sbc_addr *src);
/* The trunk naming this certificate identity (and src when it has CIDRs), or NULL. */
const char *sig_trunk_by_cert(sig_trunks *t, const sig_peer_id *id, const sbc_addr *src);

/* For the B2BUA (same thread): the trunk by name in the current snapshot
 * (valid until the next refresh: copy what you keep), and the reader for
 * route lookups. NULL when absent. */
const struct store_trunk *sig_trunk_get(sig_trunks *t, const char *name);
struct store_reader *sig_trunks_reader(sig_trunks *t);
/* The interned name (caveat 3: one pointer per name for the process's
 * life, whatever the snapshot) of tr, a trunk of the current snapshot. */
const char *sig_trunk_name(const sig_trunks *t, const struct store_trunk *tr);
/* The i-th trunk of the current snapshot, or NULL past the end. */
const struct store_trunk *sig_trunk_at(sig_trunks *t, size_t i);

void sig_trunk_stat(sig_trunk_stats *s, const char *trunk, enum sig_trunk_stat st, uint64_t n);
/* Appends ,"trunks":{...} summed over blocks; returns bytes written or -ENOSPC. */
int sig_trunk_stats_json(sig_trunk_stats *const *blocks, unsigned n, char *buf, size_t cap);

#endif
