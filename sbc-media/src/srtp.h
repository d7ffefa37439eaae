/* sbc-media — SRTP/SRTCP contexts: libsrtp2 for the protocol, BoringSSL for
 * the per-packet crypto.
 *
 * Debian's libsrtp2 is built on NSS (about 1.6 us per packet, growing with
 * the number of live sessions). med_srtp_global_init() keeps libsrtp2 for
 * key derivation, ROC, replay database and SRTCP but installs BoringSSL
 * implementations of its AES-ICM (128/256), AES-GCM (128/256) and HMAC-SHA1
 * types with srtp_replace_cipher_type()/srtp_replace_auth_type().
 *
 * Caveats:
 *  1. Call med_srtp_global_init() once per process, from one thread, before
 *     any context exists (the replacement is process-global and must happen
 *     before the first srtp_create). It checks the libsrtp2 version and runs
 *     a protect/unprotect self-check per suite and direction (RTP and RTCP)
 *     through the replaced types against known answers; on any failure it
 *     fails closed: it returns an error, med_srtp_ready() stays false and
 *     every med_srtp_ctx_init() returns SBC_E_STATE. The process must refuse
 *     to run: there is no silent fallback to NSS.
 *  2. One context = one leg in one direction: outbound (protect) or inbound
 *     (unprotect), for RTP and RTCP both. A context belongs to one thread;
 *     different contexts may be used on different threads at once.
 *  3. Per-packet calls never log and never allocate, except once per new
 *     SSRC (libsrtp2 clones its stream template; on inbound only after the
 *     first packet of that SSRC authenticated).
 *  4. Returns: 0; SBC_E_AUTH (authentication failed: drop and count it);
 *     SBC_E_REPLAY (replayed or too old: drop); SBC_E_PARSE (not an RTP/RTCP
 *     packet libsrtp2 accepts, too short); SBC_E_LIMIT (cap too small for
 *     the trailer); SBC_E_INVAL (bad argument); SBC_E_STATE (global init not
 *     done or failed); SBC_E_SRTP (any other libsrtp2 failure).
 *  5. Replay protection is on (libsrtp2 default window of 128 packets).
 *  6. Restart (see med_srtp_state): the context writes the state a restarted
 *     relay needs into a med_srtp_state the caller may keep in shared memory,
 *     after every packet that passed (a few plain stores, no syscall).
 *     After a restart, med_srtp_ctx_init() with the same suite, key and that
 *     state carries on the stream:
 *       - RTP: the first packet's roll-over counter is estimated against the
 *         saved highest index (RFC 3711 3.3.1) and handed to libsrtp2 with
 *         srtp_set_stream_roc(); packets of that SSRC at or below the saved
 *         index are refused as replays (SBC_E_REPLAY), by us until
 *         libsrtp2's own 128-packet window has moved past them;
 *       - outbound SRTCP continues after the saved SRTCP index (libsrtp2 has
 *         no setter: init runs that many header-only protects, ~0.15 us
 *         each, refused above 2^24), so no index and no keystream is reused;
 *       - inbound SRTCP refuses indices at or below the saved one.
 *     The state is only as fresh as its last store: a packet processed after
 *     it is lost with the process, which the replay floor covers.
 *     How to use it: keep one med_srtp_state per context in the shared
 *     segment; zero it for a new call leg (or a new stream); pass it to
 *     med_srtp_ctx_init() at create and again after a restart. On a re-key
 *     of a continuing stream keep it (ROC and SRTCP index carry on); zero it
 *     when the stream starts over. A corrupt or absurd state (SRTCP index
 *     above 2^24) makes init fail with SBC_E_LIMIT: zero it and start
 *     afresh (the peer may then drop our SRTCP until its index catches up).
 */
#ifndef MED_SRTP_H
#define MED_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/msg-t.h"

/* Bytes protect may add at most: RTP 16 (GCM tag), RTCP 16 + 4 (E|index). */
#define MED_SRTP_MAX_TRAILER 20

/* Restart state of one context (one direction of one leg): the latest RTP
 * and RTCP SSRC it carried. Plain data, fixed layout (24 bytes), safe to keep
 * in shared memory. WRITER: the thread that owns the context; fields are
 * stored so that a reader (or a restart after SIGKILL) never sees an index
 * from one SSRC with another SSRC. Host byte order. Zeroed = no state. */
typedef struct med_srtp_state {
	uint64_t rtp_index;   /* (ROC << 16) | highest RTP sequence number */
	uint32_t rtp_ssrc;
	uint32_t rtcp_ssrc;
	uint32_t rtcp_index;  /* highest SRTCP index processed (31 bits) */
	uint8_t have_rtp;     /* 1: rtp_ssrc/rtp_index valid */
	uint8_t have_rtcp;    /* 1: rtcp_ssrc/rtcp_index valid */
	uint8_t _reserved[2];
} med_srtp_state;

/* A context; embed it where you like (it is not in shared memory: its
 * libsrtp2 session is private heap). It may be moved (memcpy) between
 * packets. Fields starting with _ are private. */
typedef struct med_srtp_ctx {
	void *_srtp;             /* srtp_t */
	med_srtp_state *_st;     /* caller's state, or NULL: _own */
	med_srtp_state _own;
	uint64_t _floor_rtp;     /* restored: RTP index at or below is refused */
	uint32_t _floor_rtcp;    /* restored: SRTCP index at or below is refused */
	uint32_t _floor_rtp_ssrc;
	uint32_t _floor_rtcp_ssrc;
	uint8_t _suite;          /* enum sbc_srtp_suite */
	uint8_t _outbound;
	uint8_t _rtp_trailer;    /* bytes protect adds to RTP */
	uint8_t _rtcp_trailer;   /* bytes protect adds to RTCP (tag + 4) */
	uint8_t _floor_rtp_on;   /* restored RTP stream: floor applies */
	uint8_t _floor_rtcp_on;
	uint8_t _resume_rtp;     /* restored RTP stream: set its ROC on next packet */
	uint8_t _reserved;
} med_srtp_ctx;

/* Process-global set-up (caveat 1). Returns 0 or SBC_E_SRTP with a reason in
 * err (NUL-terminated, truncated to len). A second call returns the result
 * of the first. */
int med_srtp_global_init(char *err, size_t len);

/* true once med_srtp_global_init() succeeded. */
bool med_srtp_ready(void);

/* --- suites ----------------------------------------------------------------
 * SDES (RFC 4568 / 7714) names <-> enum sbc_srtp_suite, and key sizes.
 * key_len is master key + master salt as carried in an SDES inline key:
 * 30 (AES_CM_128, NULL), 46 (AES_256_CM), 28 (AEAD_AES_128_GCM),
 * 44 (AEAD_AES_256_GCM). */

/* Name of a suite, "NONE" for SBC_SRTP_NONE, NULL when out of range. */
const char *med_srtp_suite_name(unsigned suite);

/* Suite for an SDES crypto-suite name (len bytes, case-sensitive as in the
 * RFCs), or SBC_E_UNSUPPORTED. "NONE" is not a name: it returns an error. */
int med_srtp_suite_from_name(const char *name, size_t len);

/* Master key + salt bytes; 0 for SBC_SRTP_NONE; SBC_E_INVAL out of range. */
int med_srtp_key_len(unsigned suite);
int med_srtp_master_key_len(unsigned suite);
int med_srtp_master_salt_len(unsigned suite);

/* Bytes protect adds to an RTP / RTCP packet (auth tag; RTCP: + 4). */
int med_srtp_rtp_overhead(unsigned suite);
int med_srtp_rtcp_overhead(unsigned suite);

/* --- contexts --------------------------------------------------------------- */

/* Sets up c for suite (not SBC_SRTP_NONE) with key (master key || salt,
 * key_len == med_srtp_key_len(suite)); outbound: protect, else unprotect.
 * st: where the restart state lives (NULL: inside c). If st holds a state
 * (have_rtp or have_rtcp set), the context continues that stream (caveat 6);
 * pass a zeroed st for a new stream. Never logs the key.
 * Returns 0, SBC_E_STATE, SBC_E_INVAL, SBC_E_SRTP or -ENOMEM; on failure c
 * is left zeroed (destroy is harmless). */
int med_srtp_ctx_init(med_srtp_ctx *c, unsigned suite, const uint8_t *key,
		      size_t key_len, bool outbound, med_srtp_state *st);

/* Frees the libsrtp2 session and wipes keys. Safe on a zeroed or destroyed
 * context. Does not touch *st. */
void med_srtp_ctx_destroy(med_srtp_ctx *c);

/* Protect an RTP/RTCP packet in place: *len bytes in, *len bytes out; cap is
 * the buffer size (needs *len + overhead). Outbound contexts only. */
int med_srtp_protect(med_srtp_ctx *c, uint8_t *pkt, int *len, int cap);
int med_srtp_protect_rtcp(med_srtp_ctx *c, uint8_t *pkt, int *len, int cap);

/* Unprotect an SRTP/SRTCP packet in place; *len shrinks by the trailer.
 * Inbound contexts only. On failure the packet must be dropped (its bytes
 * may have been changed). */
int med_srtp_unprotect(med_srtp_ctx *c, uint8_t *pkt, int *len);
int med_srtp_unprotect_rtcp(med_srtp_ctx *c, uint8_t *pkt, int *len);

/* Copy of the current restart state (what is in *st). */
void med_srtp_ctx_state(const med_srtp_ctx *c, med_srtp_state *out);

/* Roll-over counter libsrtp2 holds for ssrc (cross-check for tests and
 * diagnostics). Returns 0 or SBC_E_NOT_FOUND. */
int med_srtp_ctx_roc(med_srtp_ctx *c, uint32_t ssrc, uint32_t *roc);

/* --- internal: for srtp_*.c and their tests only ---------------------------- */

/* Installs the BoringSSL cipher and auth types into libsrtp2 (after
 * srtp_init). Returns 0 or SBC_E_SRTP with a reason in err. */
int med_srtp__install_boring(char *err, size_t len);

/* true for the libsrtp2 versions (srtp_get_version() encoding) whose
 * calling conventions srtp_boring.c follows: 2.4.0 .. 2.6.x. */
bool med_srtp__version_ok(unsigned v);

/* Fault injection for the fail-closed tests, before med_srtp_global_init():
 * MED_SRTP_FAULT_KAT corrupts the expected answers of the per-suite
 * self-check; MED_SRTP_FAULT_HMAC makes the BoringSSL HMAC type compute wrong
 * tags (libsrtp2's own type self-test must then refuse it). */
/* Runs the self-check traffic of one suite through whatever cipher types
 * libsrtp2 has installed (stock ones too: the tests compare) and returns the
 * SHA-256 of the protected packets. Needs srtp_init(). 0 or an sbc error
 * with a reason in err. */
int med_srtp__suite_digest(unsigned suite, uint8_t digest[32], char *err, size_t len);

enum { MED_SRTP_FAULT_KAT = 1u << 0, MED_SRTP_FAULT_HMAC = 1u << 1 };
void med_srtp__inject_fault(unsigned faults);
extern unsigned med_srtp__faults;

#endif
