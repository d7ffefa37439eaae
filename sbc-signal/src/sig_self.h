/* sbc-signal — this SBC's own media and SIP endpoints, which a peer's SDP
 * must never name as the address to send its media to.
 *
 * sbc-media relays to whatever address an SDP names. Named as one of its
 * own relay ports (media.address, media.port_min..port_max), it relays into
 * itself: the callee answering with the relay port we offered it had the
 * caller's RTP echoed back to the caller (measured before this check), and
 * another call's relay port would get this call's media, where a leg not
 * yet latched to its own peer may latch onto it. Named as our SIP listener,
 * it would send RTP payloads, which a carrier chooses, into our SIP port
 * from our own address. Such SDP is refused with 488 (b2b_sdp.c).
 *
 * A listener on a wildcard address (0.0.0.0, ::) is not matched: which
 * local addresses it covers is not known here. */
#ifndef SIG_SELF_H
#define SIG_SELF_H

#include <stdint.h>

#include "sbc/sockaddr.h"
#include "sig_config.h"

typedef struct sig_self {
	sbc_addr relay; /* media.address; family 0: none known */
	uint16_t relay_min, relay_max;
	sbc_addr sip[SIG_MAX_LISTEN]; /* the listeners with a specific address */
	unsigned n_sip;
} sig_self;

void sig_self_init(sig_self *s, const sig_config *cfg);

/* Whether a (a v4-mapped IPv6 address counts as the IPv4 one) is one of
 * our relay ports or SIP listeners; 0 for family 0 (no address). */
int sig_self_is_ours(const sig_self *s, const sbc_addr *a);

#endif
