/* sbc-signal — one offer/answer exchange across the two legs: SRTP policy
 * per leg, one media session per m= line, and the SDP each leg sees.
 *
 * Legs: 0 is the A leg (the caller's trunk, policy srtp_in), 1 the B leg
 * (the routed trunk, policy srtp_out); media messages always put leg 0 in
 * sbc_msg_media.leg[0]. An offer may come from either leg (initial INVITE
 * from A; re-INVITE or UPDATE from either side); the answer comes from the
 * other one.
 *
 * Sequence:
 *  1. b2b_sdp_offer(): the offerer's SDP -> SRTP answer for the offerer's
 *     leg (488 when its policy refuses) and an SRTP offer for the other
 *     leg; fills one sbc_msg_media per active m= line (session_id 0 for
 *     a declined line: no session). The caller sends MEDIA_CREATE (or
 *     UPDATE) for each and keeps the replies.
 *  2. b2b_sdp_build_offer(): the SDP toward the answerer, on the relay's
 *     addresses for that leg (reply.local_rtp[answerer]).
 *  3. b2b_sdp_answer(): the answerer's SDP -> checks it (same number of m=
 *     lines, SRTP answer valid for our offer: else 488, the call fails over)
 *     and completes every media message (MEDIA_UPDATE).
 *  4. b2b_sdp_build_answer(): the SDP toward the offerer.
 *  The per-leg o= state lives in the b2b_sdp and survives re-offers (version
 *  bumped only when the content changes). Keys: b2b_sdp_wipe() at the end.
 *  Each new offer gets fresh SRTP keys on both legs. Both legs latch
 *  (symmetric RTP); msgs passed to steps 3 are the ones step 1 filled.
 *  sizeof(b2b_sdp) is about 16 KiB: one per call, never on a deep stack.
 */
#ifndef B2B_SDP_H
#define B2B_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/msg-t.h"
#include "sbc/store-t.h"
#include "sdes_policy.h"
#include "sdp_session.h"

typedef struct b2b_sdp_stream {
	uint8_t active;      /* offered with a port and accepted so far */
	uint8_t rtp;         /* RTP media: SRTP policy applies */
	uint8_t mux_offered; /* the offerer asked for rtcp-mux */
	uint8_t offer_savp;  /* the offered profile was secure (kept on declined lines) */
	uint8_t offer_hold;  /* the offer puts the line on hold (sdp_media_on_hold) */
	sdes_result off_res; /* offerer's leg: our SRTP answer to its offer */
	sdes_offer ans_off;  /* answerer's leg: our SRTP offer */
	sdes_result ans_res; /* answerer's leg: its answer, checked */
} b2b_sdp_stream;

struct sig_self;

typedef struct b2b_sdp {
	const store_srtp_policy *pol[2]; /* per leg; RO */
	const struct sig_self *self;     /* our own endpoints, never a media peer (NULL: not checked) */
	sdes_rand_fn rnd;
	void *rnd_arg;
	sdp_origin origin[2]; /* our o= toward each leg */
	uint8_t offerer;      /* leg that sent the current offer */
	uint8_t n_agreed;     /* m= lines of the last exchange answered: a re-offer has no fewer (RFC 3264 8) */
	uint8_t agreed;       /* bit per line active in that exchange: the session as it stands */
	/* s[0..n_dirty) may hold an exchange's state (keys); the streams past
	 * it are all zero. The wipes cover only those: a call has one or two
	 * m= lines of the SDP_MAX_MEDIA (8) streams, each 1.9 KB, and three
	 * whole-array passes (init, offer, end) were ~46 KB of memset per
	 * call. */
	uint8_t n_dirty;
	unsigned n_media;
	b2b_sdp_stream s[SDP_MAX_MEDIA]; /* last: b2b_sdp_init clears what precedes it */
} b2b_sdp;

/* pol_a / pol_b: the A trunk's srtp_in and the B trunk's srtp_out. self:
 * an SDP naming one of these as its media address is refused with 488
 * (sig_self.h; NULL: no check). rnd NULL: BoringSSL. sess_id: for our o=
 * lines. x: zeroed memory (calloc, static, = {0}) or a b2b_sdp used
 * before, whose keys this wipes. */
void b2b_sdp_init(b2b_sdp *x, const store_srtp_policy *pol_a, const store_srtp_policy *pol_b,
		  const struct sig_self *self, sdes_rand_fn rnd, void *rnd_arg, uint64_t sess_id);

/* After step 1: line i is declined by us (port 0 toward the answerer, and
 * in the answer to the offerer), its media message wiped: a line we cannot
 * give a media session now. */
void b2b_sdp_decline(b2b_sdp *x, unsigned i, sbc_msg_media msgs[SDP_MAX_MEDIA]);

/* Step 1. offerer: 0 or 1. msgs[i] for m= line i (session_id = base + i,
 * or 0 when declined). Returns the number of active streams (0 is valid:
 * everything declined), or sbc_err_sip(488). */
int b2b_sdp_offer(b2b_sdp *x, unsigned offerer, const sdp_session *offer, uint64_t session_id_base,
		  sbc_msg_media msgs[SDP_MAX_MEDIA]);

/* Step 2. relay[i]: the relay's address toward the answerer for line i
 * (ignored for declined lines). All active lines must share one IP.
 * Returns the SDP length, -ENOSPC or -EINVAL. */
int b2b_sdp_build_offer(b2b_sdp *x, const sdp_session *offer, const sbc_addr relay[SDP_MAX_MEDIA], char *out,
			size_t cap);

/* The RTP timeout asked of sbc-media (sbc_msg_media.timeout_ms) for a line
 * the offer or the answer puts on hold (sdp_media_on_hold: sendonly,
 * recvonly, inactive or c=0.0.0.0), where no RTP need flow either way (a
 * holder that plays no music sends nothing): an hour (as rtpengine's
 * silent-timeout) instead of sbc-media's media.rtp_timeout_ms; 0 (that
 * default) for the other lines. */
#define B2B_SDP_HOLD_TIMEOUT_MS 3600000u

/* Step 3. Returns 0 or sbc_err_sip(488). Lines the answerer declined get
 * session_id 0 in msgs: no UPDATE; their sessions stay until the call ends
 * (the engine ignores their RTP timeouts). */
int b2b_sdp_answer(b2b_sdp *x, const sdp_session *answer, sbc_msg_media msgs[SDP_MAX_MEDIA]);

/* Step 4. relay[i]: the relay's address toward the offerer. */
int b2b_sdp_build_answer(b2b_sdp *x, const sdp_session *answer, const sbc_addr relay[SDP_MAX_MEDIA], char *out,
			 size_t cap);

/* An answer to offer (from leg `leg`) that declines every stream: port 0
 * with the offered profile, no a=crypto (RFC 3264 6), c= on addr, our o=
 * toward that leg. For an offer in a 2xx that we must answer in the ACK
 * even though we then end the call (RFC 3261 13.2.2.4: "generate a valid
 * answer in the ACK and then send a BYE"). Reads nothing of x but the
 * origin, so it works after b2b_sdp_offer or b2b_sdp_answer refused.
 * Returns the length, -ENOSPC or -EINVAL. */
int b2b_sdp_build_decline(b2b_sdp *x, unsigned leg, const sdp_session *offer, const sbc_addr *addr, char *out,
			  size_t cap);

/* The SRTP suite used on a leg by the first active stream (call records). */
enum sbc_srtp_suite b2b_sdp_suite(const b2b_sdp *x, unsigned leg);

/* Erases the streams (their keys) with OPENSSL_cleanse: x->s is all zero
 * afterwards, which call_alloc relies on for a recycled call. Only the
 * streams an exchange used are touched (n_dirty). */
void b2b_sdp_wipe(b2b_sdp *x);

#endif
