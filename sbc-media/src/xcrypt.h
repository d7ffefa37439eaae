/* sbc-media — the relay's view of SRTP: one context per leg and direction.
 *
 * A thin seam between the packet path and the SRTP module (srtp.h): the
 * relay calls only these functions, so the crypto provider can change
 * without touching the data path.
 *
 * Caveats:
 *  1. med_xc_global_init() once per process before any context (it installs
 *     the crypto provider and runs its self-checks; fails closed).
 *  2. A context is either outbound (protect) or inbound (unprotect); it
 *     carries SRTP and SRTCP for one leg in one direction.
 *  3. Per-packet calls never allocate or log. Returns are 0, SBC_E_AUTH
 *     (authentication failed), SBC_E_REPLAY, SBC_E_PARSE (too short /
 *     malformed) or SBC_E_SRTP (anything else).
 *  4. med_xc_state is what a restarted relay needs to carry on a stream
 *     (SSRC, roll-over counter, SRTCP index); it lives in shared memory and
 *     is kept current by every packet that passes.
 */
#ifndef MED_XCRYPT_H
#define MED_XCRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/msg-t.h"
#include "srtp.h"

typedef struct med_xc med_xc;

/* Restart state of one direction of one leg (the srtp module's layout),
 * kept in the session's shared slot and updated by every packet. */
typedef med_srtp_state med_xc_state;

/* Bytes an outbound context may add to an RTP / RTCP packet at most. */
#define MED_XC_MAX_TRAILER 148

int med_xc_global_init(char *errbuf, size_t errlen);

/* Expected master key+salt length for a suite, 0 for NONE, -1 unknown. */
int med_xc_key_len(unsigned suite);
const char *med_xc_suite_name(unsigned suite);

/* p->suite must not be SBC_SRTP_NONE. st: the restart state (in shared
 * memory); zeroed for a new stream, or as a previous process left it, in
 * which case the context carries the stream on. Returns 0, SBC_E_INVAL (bad
 * suite or key length), SBC_E_SRTP or -ENOMEM. */
int med_xc_create(med_xc **out, const sbc_srtp_params *p, bool outbound, med_xc_state *st);
void med_xc_destroy(med_xc *x);

/* Outbound: protect in place (cap: buffer size); inbound: unprotect. */
int med_xc_rtp(med_xc *x, uint8_t *pkt, int *len, int cap);
int med_xc_rtcp(med_xc *x, uint8_t *pkt, int *len, int cap);


#endif
