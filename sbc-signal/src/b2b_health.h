/* sbc-signal — trunk health from OPTIONS pings (and call outcomes): a trunk
 * that stops answering is routed around until it answers again.
 *
 * Rules:
 *  1. Any final response to a ping shows the peer is alive (even 404 or 405:
 *     it parsed our request), except 503: overloaded, a failure. No response
 *     (transaction timeout, transport error: status 0) is a failure.
 *  2. down_after consecutive failures mark the trunk down; up_after
 *     consecutive successes mark it up again.
 *  3. A 503 with Retry-After holds the trunk down until that time passes,
 *     whatever else happens (RFC 3261 21.5.4), also from a call's 503
 *     (b2b_engine puts the same hold on every trunk toward that peer).
 *  4. Pure state: the clock is passed in; one b2b_health per trunk
 *     destination, owned by one worker (LOCK: owning worker).
 */
#ifndef B2B_HEALTH_H
#define B2B_HEALTH_H

#include <stdint.h>

typedef struct b2b_health {
	uint8_t up;
	uint8_t fails, oks;
	uint8_t down_after, up_after;
	uint64_t hold_until_ms; /* 503 Retry-After */
	uint64_t changed_ms;
	uint64_t pings, failures;
} b2b_health;

/* Starts up (a new trunk is tried). 0 for either count: 2 / 1. */
void b2b_health_init(b2b_health *h, unsigned down_after, unsigned up_after);

/* Records one ping or call outcome: status 100..699, or 0 for no response.
 * retry_after: seconds from a 503, -1 when absent. Returns 1 when the
 * up/down state changed (for a log line), else 0. */
int b2b_health_record(b2b_health *h, int status, int retry_after, uint64_t now_ms);

/* Whether calls may be routed to this trunk now. */
int b2b_health_usable(const b2b_health *h, uint64_t now_ms);

#endif
