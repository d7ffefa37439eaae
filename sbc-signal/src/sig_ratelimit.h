/* sbc-signal — per-source-address admission: open connections and a
 * handshake token bucket, checked before any TLS work is done.
 *
 * Caveats:
 *  1. One table per worker (WRITER: that worker), no sharing. With
 *     SO_REUSEPORT one source's connections spread over the workers, so the
 *     configured limits are divided by the worker count when the table is made.
 *  2. Fixed memory: a power-of-two open-addressed table; an entry with no
 *     open connection and a full bucket is free for reuse. When no slot is
 *     found within the probe limit the source is admitted (fail open) and the
 *     miss is counted: a full table must not lock carriers out.
 */
#ifndef SIG_RATELIMIT_H
#define SIG_RATELIMIT_H

#include <stdint.h>

#include "sbc/sockaddr.h"

typedef struct sig_rl sig_rl;

enum sig_rl_verdict {
	SIG_RL_OK = 0,
	SIG_RL_TOO_MANY_CONNS = 1,
	SIG_RL_TOO_FAST = 2,
};

/* slots: power of two. max_conns: per source; rate, burst: handshakes per second. */
sig_rl *sig_rl_create(uint32_t slots, uint32_t max_conns, uint32_t rate, uint32_t burst);
void sig_rl_destroy(sig_rl *rl);

/* Admits a new connection from a at now_ms (counting it as open and taking a
 * handshake token when handshake is set). Returns a verdict; on SIG_RL_OK
 * *ticket identifies the entry for sig_rl_release(). */
int sig_rl_admit(sig_rl *rl, const sbc_addr *a, uint64_t now_ms, int handshake, uint32_t *ticket);

/* The connection admitted with ticket closed. */
void sig_rl_release(sig_rl *rl, uint32_t ticket);

uint64_t sig_rl_misses(const sig_rl *rl);

#endif
