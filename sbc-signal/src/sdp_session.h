/* sbc-signal — SDP (RFC 4566) parser and the rewriter that anchors media.
 *
 * Caveats:
 *  1. Zero-copy like sip_msg.h: every sip_sv points into the caller's body.
 *  2. The parser checks the line syntax (<letter>=<value>, v=0 first, o=,
 *     s=, t=, c= and m= field counts) and records what the B2BUA needs; it
 *     keeps every section's raw lines so the rewriter can copy what it does
 *     not understand. Errors: sbc_err_sip(400) with s->err_reason; more than
 *     SDP_MAX_MEDIA m= lines or SDP_MAX_CRYPTO crypto lines: sbc_err_sip(488).
 *  3. The rewriter writes a fresh SDP for the other leg: our own o= (per
 *     leg state, version bumped only when the content changed, RFC 3264 8),
 *     s=-, one session-level c= with the relay's address, the relay's port per
 *     m= line, profile RTP/AVP or RTP/SAVP per the SRTP decision, our
 *     a=crypto lines instead of the peer's, a=rtcp rewritten to the relay's
 *     port + 1; ICE, DTLS (fingerprint/setup), BUNDLE grouping, media-level
 *     c=, i=, u=, e=, p=, k=, z= are dropped. Codecs (rtpmap/fmtp, including
 *     telephone-event), ptime, direction and other attributes are kept.
 */
#ifndef SDP_SESSION_H
#define SDP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/sockaddr.h"
#include "sip_msg.h"

#define SDP_MAX_MEDIA 8
#define SDP_MAX_CRYPTO 12

enum sdp_dir {
	SDP_DIR_NONE = 0, /* not stated: sendrecv by default */
	SDP_DIR_SENDRECV,
	SDP_DIR_SENDONLY,
	SDP_DIR_RECVONLY,
	SDP_DIR_INACTIVE,
};

typedef struct sdp_conn {
	uint8_t present;
	uint8_t v6;
	sip_sv addr; /* without /ttl */
} sdp_conn;

typedef struct sdp_media {
	sip_sv type;  /* audio, video, image, application ... */
	uint16_t port;
	uint16_t n_ports; /* 0: not given */
	sip_sv proto;     /* RTP/AVP, RTP/SAVP, RTP/AVPF, UDP/TLS/RTP/SAVP, udptl ... */
	sip_sv fmts;      /* "0 8 101" */
	uint8_t rtp;      /* proto carries RTP */
	uint8_t savp;     /* proto is a secure RTP profile */
	uint8_t dir;      /* enum sdp_dir, media level */
	uint8_t rtcp_mux;
	uint8_t has_ice;
	int32_t rtcp_port; /* a=rtcp, -1 when absent */
	sdp_conn conn;     /* media-level c= */
	/* values after "a=crypto:", [0, n_crypto) only: sdp_parse fills the
	 * entries as it reads them, those beyond keep stale views into
	 * earlier bodies */
	sip_sv crypto[SDP_MAX_CRYPTO];
	unsigned n_crypto;
	sip_sv lines; /* the raw lines after m= up to the next m= or the end */
} sdp_media;

typedef struct sdp_session {
	sip_sv o_user, o_sess_id, o_version, o_addr;
	sdp_conn conn; /* session-level c= */
	uint8_t dir;   /* session-level direction */
	uint8_t has_ice;
	sip_sv lines; /* raw session-level lines after v= (o=, s=, t=, a= ...) */
	/* [0, n_media) only: sdp_parse clears an entry when its m= line starts
	 * (all of it but crypto[], see there), not the rest: entries beyond
	 * n_media keep stale views into earlier bodies */
	sdp_media media[SDP_MAX_MEDIA];
	unsigned n_media;
	const char *err_reason;
} sdp_session;

/* Parses an SDP body. Returns 0 or an sbc_err_sip() (caveat 2). */
int sdp_parse(const char *buf, size_t len, sdp_session *s);

/* Effective direction of media i (media level, else session level). */
enum sdp_dir sdp_media_dir(const sdp_session *s, unsigned i);

/* The peer's RTP (and RTCP) address for media i: c= (media, else session)
 * with the m= port; RTCP from a=rtcp or port + 1. Returns 0, or
 * SBC_E_NOT_FOUND when the stream is declined (port 0) and -EINVAL when the
 * address is not an IP literal (FQDNs in c= are not resolved) or one no
 * media may be sent to: multicast, broadcast, 0.0.0.0/8 other than
 * 0.0.0.0 itself (the relay would flood a group or the host on a peer's
 * say-so). An unspecified address (0.0.0.0, ::: RFC 2543 hold, RFC 3264
 * 8.4 "send nothing here") returns 0 with *rtp and *rtcp of family 0:
 * no address, as before latching. */
int sdp_media_remote(const sdp_session *s, unsigned i, sbc_addr *rtp, sbc_addr *rtcp);

/* Whether media i is on hold: a direction other than sendrecv, or the
 * unspecified connection address. No RTP need flow either way then. */
int sdp_media_on_hold(const sdp_session *s, unsigned i);

const char *sdp_dir_name(enum sdp_dir d); /* "sendrecv", ... */

/* Our o= line state for one leg (RFC 4566 5.2, RFC 3264 8). */
typedef struct sdp_origin {
	char user[32];
	uint64_t sess_id;
	uint64_t version;
	uint64_t last_hash; /* of the last body built, o= excluded; 0: none yet */
} sdp_origin;

/* user NULL: "-". sess_id: e.g. a random or time-derived number. */
void sdp_origin_init(sdp_origin *o, const char *user, uint64_t sess_id);

typedef struct sdp_media_out {
	uint16_t port;        /* the relay's port for this stream; 0: declined */
	uint8_t savp;         /* RTP profiles: 1 RTP/SAVP(F), 0 RTP/AVP(F) */
	uint8_t rtcp_mux;     /* keep a=rtcp-mux when the input had it */
	uint8_t dir;          /* enum sdp_dir: 0 keeps the input's */
	const char *const *crypto; /* a=crypto values ("1 AES_CM_128_HMAC_SHA1_80 inline:...") */
	unsigned n_crypto;
} sdp_media_out;

typedef struct sdp_rewrite {
	const sbc_addr *addr; /* the relay's address toward this leg (port ignored) */
	sdp_origin *origin;   /* this leg's o= state; updated */
	const char *session_name; /* NULL: "-" */
	sdp_media_out media[SDP_MAX_MEDIA]; /* one per input m= line, same order */
} sdp_rewrite;

/* Writes the SDP for the other leg into out[0..cap). Returns the length,
 * -ENOSPC when it does not fit, -EINVAL on bad arguments. */
int sdp_rewrite_build(const sdp_session *in, const sdp_rewrite *rw, char *out, size_t cap);

/* Copies sdp for a debug log with every "inline:" key replaced by
 * "inline:<redacted>". Returns the length or -ENOSPC. Always NUL-terminates
 * when cap > 0. */
int sdp_redact(sip_sv sdp, char *out, size_t cap);

#endif
