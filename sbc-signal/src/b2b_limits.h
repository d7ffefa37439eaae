/* sbc-signal — per-trunk call and call-per-second limits, shared by all
 * signal workers (lock-free atomics).
 *
 * Caveats:
 *  1. One b2b_limit per trunk, in memory every worker sees (e.g. a table
 *     indexed by trunk id, allocated at boot); the fields are atomics, no
 *     lock. LOCK: none (atomic).
 *  2. Calls: admitted while the number of active calls is below max_calls;
 *     every admitted call must be released exactly once (b2b_limit_release)
 *     when it ends, whatever the outcome.
 *  3. CPS: a fixed one-second window (the window start and the count live in
 *     one 64-bit atomic, so two workers never both take the last slot).
 *  4. A refusal is sbc_err_sip(503) with *retry_after set (seconds to put in
 *     Retry-After): 1 for the CPS limit, retry_calls_s for the call limit.
 */
#ifndef B2B_LIMITS_H
#define B2B_LIMITS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct b2b_limit {
	_Atomic uint32_t calls;  /* active calls admitted */
	_Atomic uint64_t window; /* (second << 24) | count in that second */
	_Atomic uint64_t refused;
} b2b_limit;

void b2b_limit_init(b2b_limit *l);

/* max_calls / max_cps: 0 for no limit. now_ms: a monotonic clock. Returns 0
 * (admitted: release later) or sbc_err_sip(503). */
int b2b_limit_admit(b2b_limit *l, uint32_t max_calls, uint32_t max_cps, uint64_t now_ms, unsigned retry_calls_s,
		    int *retry_after);

void b2b_limit_release(b2b_limit *l);

uint32_t b2b_limit_active(b2b_limit *l);

#endif
