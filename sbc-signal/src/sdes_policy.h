/* sbc-signal — SDES (RFC 4568) a=crypto and the per-trunk SRTP policy.
 *
 * Caveats:
 *  1. Keys are secret: nothing here logs, and sdes_format_redacted() is the
 *     only way to print sbc_srtp_params. SDP bodies go to a debug log only
 *     through sdp_redact() (sdp_session.h).
 *  2. Policy (store_srtp_policy from the trunk, per direction):
 *     off       no SRTP. An offer with RTP/SAVP is refused (488); a=crypto in
 *               an RTP/AVP offer is ignored; a=crypto in an answer to our
 *               offer is an error (488, the caller fails over).
 *     optional  we offer RTP/AVP with a=crypto ("best effort" SDES) and accept
 *               an answer with or without crypto; answering, we take SRTP when
 *               an allowed suite is offered, plain RTP otherwise.
 *     required  we offer RTP/SAVP; an offer or answer without an acceptable
 *               crypto line is refused with 488.
 *  3. Answering picks the FIRST offered crypto line (the offerer's
 *     preference) whose suite the policy allows and that we can use, keeps
 *     its tag, and answers with a fresh key of ours. Lines with an MKI, more
 *     than one key, KDR other than 0, UNENCRYPTED_SRTP/SRTCP,
 *     UNAUTHENTICATED_SRTP or an unknown mandatory session parameter are
 *     not usable (the media protocol has no MKI; libsrtp's defaults apply).
 *  4. Direction of keys: the key in a side's a=crypto protects what that
 *     side sends. So for a leg: rx = the peer's key, tx = ours.
 *  5. Random bytes come from an injected function (sdes_rand_boringssl by
 *     default: BoringSSL RAND_bytes) so tests can be deterministic.
 */
#ifndef SDES_POLICY_H
#define SDES_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/msg-t.h"
#include "sbc/store-t.h"
#include "sip_msg.h"

typedef int (*sdes_rand_fn)(void *arg, uint8_t *buf, size_t n);

/* RAND_bytes; returns 0 or SBC_E_SRTP. */
int sdes_rand_boringssl(void *arg, uint8_t *buf, size_t n);

/* SDES suite names <-> enum sbc_srtp_suite. Unknown: SBC_SRTP_NONE / "". */
enum sbc_srtp_suite sdes_suite_from_name(sip_sv name);
const char *sdes_suite_name(enum sbc_srtp_suite s);
/* Master key + salt length in bytes (30, 46, 28, 44), 0 for NONE/unknown. */
unsigned sdes_key_len(enum sbc_srtp_suite s);

typedef struct sdes_crypto {
	uint32_t tag;
	uint8_t suite; /* enum sbc_srtp_suite; NONE when unknown */
	uint8_t key_len;
	uint8_t key[SBC_SRTP_KEY_MAX];
	sip_sv suite_name;
} sdes_crypto;

/* Parses an a=crypto value ("1 AES_CM_128_HMAC_SHA1_80 inline:KEY|2^31").
 * Returns 0 when usable, SBC_E_UNSUPPORTED when well-formed but not usable
 * by us (unknown suite, MKI, session params: caveat 3), SBC_E_PARSE on a
 * syntax error or a key of the wrong length for its suite. */
int sdes_parse(sip_sv value, sdes_crypto *c);

/* "tag SUITE inline:base64" into out. Returns the length or -ENOSPC. */
int sdes_format(uint32_t tag, const sbc_srtp_params *p, char *out, size_t cap);
/* "SUITE key=<N bytes redacted>" or "none"; returns buf. */
char *sdes_format_redacted(const sbc_srtp_params *p, char *buf, size_t cap);

/* What we put in an offer toward a leg. */
typedef struct sdes_offer {
	uint8_t mode;     /* enum store_srtp_mode of the policy used */
	uint8_t savp;     /* profile of our m= line */
	uint8_t n;
	uint32_t tag[SBC_SRTP_SUITE_MAX_];
	sbc_srtp_params p[SBC_SRTP_SUITE_MAX_]; /* our keys (tx if chosen) */
	char line[SBC_SRTP_SUITE_MAX_][128];   /* a=crypto values, secret */
} sdes_offer;

/* Builds the offer for pol (tags 1..n, one per allowed suite, fresh keys).
 * Returns 0, SBC_E_CONFIG for a policy with SRTP on and no usable suite, or
 * the RNG's error. */
int sdes_make_offer(const store_srtp_policy *pol, sdes_rand_fn rnd, void *arg, sdes_offer *out);

/* The SRTP outcome for one leg's media stream. */
typedef struct sdes_result {
	uint8_t srtp; /* 0: plain RTP */
	uint8_t savp; /* profile for the m= line we send on this leg */
	uint32_t tag;
	sbc_srtp_params rx; /* packets from the peer */
	sbc_srtp_params tx; /* packets to the peer */
	char line[128];     /* answering: our a=crypto value (secret); "" when plain */
} sdes_result;

/* Answers an offer received on a leg whose policy is pol. offer_savp: the
 * offered profile is secure; crypto[0..n): the offered a=crypto values.
 * Returns 0 or sbc_err_sip(488) (caveat 2). */
int sdes_answer(const store_srtp_policy *pol, int offer_savp, const sip_sv *crypto, unsigned n,
		sdes_rand_fn rnd, void *arg, sdes_result *out);

/* Checks the answer to our offer on a leg. Returns 0 or sbc_err_sip(488):
 * crypto while the policy is off, a tag we did not offer or with another
 * suite or key length, more than one line, none when required, or a
 * profile other than the one we offered. */
int sdes_check_answer(const sdes_offer *offer, int answer_savp, const sip_sv *crypto, unsigned n,
		      sdes_result *out);

#endif
