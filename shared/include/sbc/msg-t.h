/* sbc — messages carried on the rings: types only.
 *
 * Rules:
 *  1. Each message is a fixed-layout struct; the ring record carries its type
 *     and version. A receiver checks both, and the length, with
 *     sbc_msg_check(); a mismatch is counted and logged, never guessed at.
 *  2. Changing a struct's layout bumps its version (SBC_MSG_V_*). Retired
 *     types keep their number as a placeholder; numbers are never reused.
 *  3. The first message on every ring in each direction is HELLO, carrying
 *     sizeof() of every message type as the sender was built; the receiver
 *     refuses a peer whose sizes differ (sbc_msg_hello_check()).
 *  4. SRTP keys travel only in MEDIA_CREATE/UPDATE; nobody logs those.
 */
#ifndef SBC_MSG_T_H
#define SBC_MSG_T_H

#include <stdint.h>

#include "sbc/sockaddr.h"

enum sbc_msg_type {
	SBC_MSG_PAD_ = 0, /* reserved: ring padding */
	SBC_MSG_HELLO = 1,
	SBC_MSG_CONFIG_CHANGED = 2, /* control -> children: an area's generation moved */
	SBC_MSG_DRAIN = 3,          /* control -> signal: stop taking calls, finish the rest */
	SBC_MSG_STATS_REQUEST = 4,  /* control -> child */
	SBC_MSG_STATS_REPLY = 5,    /* child -> control: JSON text fragment */
	SBC_MSG_MEDIA_CREATE = 16,  /* signal -> media */
	SBC_MSG_MEDIA_UPDATE = 17,  /* signal -> media */
	SBC_MSG_MEDIA_DELETE = 18,  /* signal -> media */
	SBC_MSG_MEDIA_REPLY = 19,   /* media -> signal: result of create/update/delete */
	SBC_MSG_MEDIA_EVENT = 20,   /* media -> signal: timeout, latched address */
	SBC_MSG_MEDIA_QUERY = 21,   /* signal -> media: sbc_msg_media_delete layout; answered by REPLY */
	SBC_MSG_CALL_EVENT = 32,    /* signal -> control: call record event */
	SBC_MSG_COMMAND = 33,       /* control -> child: JSON command (e.g. call.hangup) */
	SBC_MSG_COMMAND_REPLY = 34, /* child -> control: JSON reply */
	SBC_MSG_TYPE_MAX = 64,
};

#define SBC_MSG_V_HELLO 1
#define SBC_MSG_V_CONFIG_CHANGED 1
#define SBC_MSG_V_DRAIN 1
#define SBC_MSG_V_STATS 1
#define SBC_MSG_V_MEDIA 2 /* v2: reply carries per-leg stats; MEDIA_QUERY */
#define SBC_MSG_V_CALL_EVENT 1
#define SBC_MSG_V_COMMAND 1

typedef struct sbc_msg_hello {
	uint32_t pid;
	uint8_t role, idx;
	uint16_t _reserved;
	uint16_t sizes[SBC_MSG_TYPE_MAX]; /* sizeof each message, 0 when unused */
} sbc_msg_hello;

typedef struct sbc_msg_config_changed {
	uint32_t area; /* enum shm_area */
	uint32_t _reserved;
	uint64_t generation;
} sbc_msg_config_changed;

typedef struct sbc_msg_drain {
	uint32_t deadline_ms; /* after which the remaining calls are ended */
	uint32_t _reserved;
} sbc_msg_drain;

/* Text messages (stats, commands, call events) carry JSON of up to this size. */
#define SBC_MSG_TEXT_MAX 3800

typedef struct sbc_msg_text {
	uint64_t request_id; /* echoes the request in replies */
	uint32_t len;        /* bytes used in text[], no NUL */
	uint32_t _reserved;
	char text[SBC_MSG_TEXT_MAX];
} sbc_msg_text;

/* SRTP suites: numbering shared by signal (SDP names) and media (libsrtp2). */
enum sbc_srtp_suite {
	SBC_SRTP_NONE = 0, /* plain RTP */
	SBC_SRTP_AES_CM_128_HMAC_SHA1_80 = 1,
	SBC_SRTP_AES_CM_128_HMAC_SHA1_32 = 2,
	SBC_SRTP_AES_256_CM_HMAC_SHA1_80 = 3,
	SBC_SRTP_AES_256_CM_HMAC_SHA1_32 = 4,
	SBC_SRTP_AEAD_AES_128_GCM = 5,
	SBC_SRTP_AEAD_AES_256_GCM = 6,
	SBC_SRTP_NULL_HMAC_SHA1_80 = 7, /* NULL cipher, authenticated */
	SBC_SRTP_SUITE_MAX_,
};

/* Master key + salt, concatenated as in SDES inline: (16|32) + (14|12) bytes. */
#define SBC_SRTP_KEY_MAX 46

typedef struct sbc_srtp_params {
	uint8_t suite;   /* enum sbc_srtp_suite */
	uint8_t key_len; /* bytes used in key[] */
	uint8_t _reserved[2];
	uint8_t key[SBC_SRTP_KEY_MAX];
} sbc_srtp_params;

/* One leg of a media session: the peer on that side of the relay. */
typedef struct sbc_media_leg {
	sbc_addr remote_rtp;  /* from the peer's SDP; family 0 when not yet known */
	sbc_addr remote_rtcp; /* family 0: RTP port + 1 */
	sbc_srtp_params rx;   /* how packets FROM this peer are protected */
	sbc_srtp_params tx;   /* how packets TO this peer must be protected */
	uint8_t latch;        /* 1: learn the address from the first authentic packet */
	uint8_t _reserved[7];
} sbc_media_leg;

enum sbc_media_flags {
	SBC_MEDIA_F_RTCP_MUX = 1u << 0,
};

/* The media session protocol (signal -> media worker j, replies on the ring
 * back; sbc-media/src/worker.c is the receiving side):
 *  1. CREATE gets a REPLY with the relay's local RTP address per leg (RTCP
 *     is +1); a CREATE for a session the worker already has is answered
 *     with that session (idempotent: after an sbc-media restart, records it
 *     consumed but had not yet released are seen again) when it is that
 *     session's record (same ring, legs, keys, flags); one that is not
 *     (another call under a live session's id) gets SBC_E_EXISTS and the
 *     session stays as it was. Session ids must therefore not repeat
 *     while a session lives, also across restarts of sbc-signal.
 *  2. UPDATE replaces both legs (re-INVITE): new keys start new SRTP streams,
 *     a new remote address restarts latching; a failed UPDATE leaves the
 *     session as it was. DELETE answers with the final counters, then frees.
 *     QUERY (sbc_msg_media_delete layout) answers with the counters.
 *  3. Sessions belong to the worker that got the CREATE: send UPDATE,
 *     DELETE, QUERY there (session_id % media workers is the suggestion).
 *  4. EVENTs go to the creator: LATCHED once per leg (addr = the far end
 *     learnt from the first authentic packet), TIMEOUT when no RTP came
 *     for timeout_ms, and again every timeout_ms while none comes (one
 *     event can be missed: a call still ringing, an sbc-signal killed
 *     before its DELETE; the session stays until DELETE).
 *  5. A restarted sbc-media sends HELLO again on every ring.
 *  6. Errors: SBC_E_INVAL (suite, key length, address family), SBC_E_LIMIT
 *     (no free ports/slots), SBC_E_NOT_FOUND (unknown session), SBC_E_EXISTS
 *     (CREATE for a live session that is not its own, rule 1). */
typedef struct sbc_msg_media {
	uint64_t session_id; /* chosen by sbc-signal, unique per instance */
	uint64_t request_id;
	uint32_t flags;
	uint32_t timeout_ms; /* RTP inactivity timeout; 0: default */
	sbc_media_leg leg[2];
} sbc_msg_media;

typedef struct sbc_msg_media_delete {
	uint64_t session_id;
	uint64_t request_id;
} sbc_msg_media_delete;

/* Counters of one leg as seen by the relay (packets FROM the peer are "in",
 * packets TO the peer are "out"); loss and jitter per RFC 3550 A.3/A.8. */
typedef struct sbc_media_leg_stats {
	uint64_t packets_in, bytes_in;
	uint64_t packets_out, bytes_out;
	uint64_t drops;     /* every reason: auth, replay, parse, source, shed, send */
	uint32_t lost;      /* cumulative packets lost (RFC 3550 A.3), clamped at 0 */
	uint32_t jitter_us; /* interarrival jitter (RFC 3550 A.8), microseconds */
	sbc_addr peer;      /* where the relay sends to now (latched or SDP) */
	uint8_t latched;
	uint8_t _reserved[7];
} sbc_media_leg_stats;

typedef struct sbc_msg_media_reply {
	uint64_t session_id;
	uint64_t request_id;
	int32_t status; /* 0 or a negative sbc error */
	uint32_t _reserved;
	sbc_addr local_rtp[2]; /* the relay's own address per leg (RTCP is +1) */
	sbc_media_leg_stats stats[2]; /* filled for every status 0 reply */
} sbc_msg_media_reply;

enum sbc_media_event_kind {
	SBC_MEDIA_EV_TIMEOUT = 1,
	SBC_MEDIA_EV_LATCHED = 2,
};

typedef struct sbc_msg_media_event {
	uint64_t session_id;
	uint32_t kind; /* enum sbc_media_event_kind */
	uint32_t leg;
	sbc_addr addr; /* LATCHED: the learned address */
} sbc_msg_media_event;

#endif
