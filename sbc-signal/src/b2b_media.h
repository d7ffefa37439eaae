/* sbc-signal — the media session message for sbc-media, filled from the
 * SDP and the SRTP decisions of each leg (sbc_msg_media in msg-t.h).
 *
 * Sequence for one m= line of a call A -> B (one media session each):
 *  1. A's offer: sdp_parse, sdes_answer(A's srtp_in) -> a_res; the A leg is
 *     complete: b2b_media_fill_leg(&m.leg[0], A offer, i, &a_res, latch).
 *  2. sdes_make_offer(B's srtp_out); the B leg is still unknown:
 *     b2b_media_fill_leg(&m.leg[1], NULL, 0, NULL, 1) (latched, plain until
 *     the answer). MEDIA_CREATE; the reply's local_rtp[0]/[1] are the relay
 *     addresses for the SDP toward A and toward B (sdp_rewrite_build).
 *  3. B's answer (183 or 200): sdp_parse, sdes_check_answer -> b_res (488:
 *     fail over); b2b_media_fill_leg(&m.leg[1], B answer, i, &b_res, latch);
 *     MEDIA_UPDATE; then the answer toward A with a_res.line.
 *  4. After the message went onto the ring: b2b_media_wipe() (keys).
 */
#ifndef B2B_MEDIA_H
#define B2B_MEDIA_H

#include <stddef.h>

#include "sbc/msg-t.h"
#include "sdes_policy.h"
#include "sdp_session.h"

/* Fills one leg from media i of s (NULL: address unknown yet) and the SRTP
 * outcome r (NULL: plain). Returns 0, SBC_E_NOT_FOUND for a declined
 * stream (port 0), -EINVAL for an address that is not an IP literal. */
int b2b_media_fill_leg(sbc_media_leg *leg, const sdp_session *s, unsigned i, const sdes_result *r, int latch);

/* Sets SBC_MEDIA_F_RTCP_MUX when both sides' media i offered/accepted it. */
void b2b_media_set_mux(sbc_msg_media *m, const sdp_session *a, unsigned ai, const sdp_session *b, unsigned bi);

/* Debug text without key material: "id=.. leg0 198.51.100.20:40000
 * rx=AES_CM_128_HMAC_SHA1_80 key=<30 bytes redacted> tx=... | leg1 ...".
 * Returns buf. */
char *b2b_media_format(const sbc_msg_media *m, char *buf, size_t cap);

/* Wipes the keys of m (after it was copied onto the ring). */
void b2b_media_wipe(sbc_msg_media *m);

#endif
