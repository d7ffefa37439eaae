/* sbc-signal — routing helpers for the B2BUA: the called number, the route
 * lookup with its SIP outcome, and failover decisions.
 *
 * Caveats:
 *  1. The called number is the Request-URI user part (sip/sips) or number
 *     (tel); when the Request-URI has none (e.g. sip:host), To's. %HH escapes
 *     are decoded, user-part parameters (";npdi;rn=...", RFC 4694) dropped,
 *     then store_number_normalise() applies.
 *  2. Outcomes are SIP-carrying errors: no usable number or no route ->
 *     sbc_err_sip(404); a number shorter than opts->min_digits, or one that
 *     is a proper prefix of some route prefix while matching none (overlap
 *     dialling) -> sbc_err_sip(484). Store failures -> sbc_err_sip(500).
 *  3. Failover (b2b_failover_*): next route on 408, on a local timeout or
 *     transport failure, on 5xx, and on our own 488 for an SRTP mismatch
 *     toward that trunk; never after a 6xx (relay it at once); any other
 *     final response is relayed. A 503 with Retry-After marks that peer
 *     blocked for the rest of the call (further routes to the same peer are
 *     skipped: no repeated 503 from one peer) and reports the back-off for
 *     the trunk-health logic. When the routes run out, the response relayed
 *     is the most telling one seen (6xx > 4xx/3xx other than 408 > 5xx >
 *     408), a local timeout counting as 408, a transport failure as 503 and an
 *     SRTP mismatch as 488.
 */
#ifndef B2B_ROUTE_H
#define B2B_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/store-t.h"
#include "sip_msg.h"

/* Extracts and normalises the called number (caveat 1). Returns its length
 * or sbc_err_sip(404). */
int b2b_called_number(const sip_msg *inv, char out[STORE_NUMBER_MAX + 1]);

typedef struct b2b_route_opts {
	unsigned min_digits; /* 0: no minimum */
} b2b_route_opts;

/* Looks up the routes for number, ordered for trying (store_route_order
 * with rnd/arg; rnd NULL keeps priority/name order). Returns n >= 1 or an
 * error of caveat 2. */
int b2b_route_lookup(store_reader *r, const char *number, const b2b_route_opts *o, store_route *out,
		     size_t max, uint32_t (*rnd)(void *arg), void *arg);

/* The number to send on a route (strip/prepend). Returns its length or
 * sbc_err_sip(404) when the route cannot apply to this number. */
int b2b_route_number(const store_route *rt, const char *number, char out[STORE_NUMBER_MAX + 1]);

#define B2B_FO_MAX_BLOCKED 8

typedef struct b2b_failover {
	unsigned attempts;
	unsigned max_attempts; /* 0: no limit */
	int best;              /* response to relay when exhausted; 0 none yet */
	unsigned n_blocked;
	char blocked[B2B_FO_MAX_BLOCKED][96]; /* peer ids with 503 + Retry-After */
} b2b_failover;

enum b2b_fo_action {
	B2B_FO_RELAY = 0, /* stop: relay b2b_failover_result() (or this response) to the caller */
	B2B_FO_NEXT = 1,  /* try the next route */
};

/* Local outcomes passed as status: */
#define B2B_FO_LOCAL_TIMEOUT 0   /* no final response (Timer B, no-answer timer) */
#define B2B_FO_LOCAL_TRANSPORT 1 /* connect/send failure: counts as 503 */
#define B2B_FO_LOCAL_SRTP 2      /* our 488: the answer broke that trunk's SRTP policy */
/* The offer the trunk had to send (its 2xx to our INVITE without SDP, a
 * delayed offer) is missing or unreadable, or came in a reliable
 * provisional we do not answer: counts as 502 Bad Gateway (RFC 3261
 * 21.5.3, an invalid response from the next hop) and fails over like one. */
#define B2B_FO_LOCAL_OFFER 3

void b2b_failover_init(b2b_failover *fo, unsigned max_attempts);

/* Records the final outcome of one attempt toward peer_id (e.g.
 * "host:port": the peer, whichever trunk names it) and decides. status:
 * 300..699, or a B2B_FO_LOCAL_*. retry_after: seconds from a 503's
 * Retry-After, -1 when absent. */
enum b2b_fo_action b2b_failover_on_final(b2b_failover *fo, int status, int retry_after, const char *peer_id);

/* Whether a route toward peer_id must be skipped (blocked by 503 + Retry-After). */
int b2b_failover_skip(const b2b_failover *fo, const char *peer_id);

/* Status to relay when the routes are exhausted (408 when nothing came back). */
int b2b_failover_result(const b2b_failover *fo);

/* Retry-After value of a response in seconds (0..2^31), or -1. */
int b2b_retry_after(const sip_msg *rsp);

#endif
