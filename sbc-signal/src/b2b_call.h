/* sbc-signal — B2BUA call model: the dialog of each leg, the B-leg INVITE
 * built from the A-leg one with topology hiding, responses mapped back, and
 * in-dialog requests (BYE, re-INVITE, UPDATE, PRACK, INFO, ACK) built on a leg.
 *
 * Caveats:
 *  1. Each leg is its own dialog (RFC 3261 12) with its own Call-ID, tags,
 *     CSeq space, Via and Contact: nothing of one leg's identifiers reaches
 *     the other.
 *  2. Topology hiding: a header crosses from one leg to the other only if it
 *     is on the allow list below; P-Asserted-Identity (and Remote-Party-ID)
 *     values cross with their host replaced by ours. Everything else (Via,
 *     Route, Record-Route, Contact, Call-ID, User-Agent, Server, Diversion,
 *     History-Info, Warning, X-*, P-* other than PAI/Preferred...) is
 *     dropped. The body crosses only as the SDP the caller rewrote.
 *       requests:  Supported, Require, Allow, Session-Expires, Min-SE,
 *                  Privacy, Accept, Content-Disposition (with a body), Reason
 *       responses: the same plus RSeq, Unsupported, Retry-After
 *     Reason (RFC 3326) crosses value by value: only well-formed values
 *     (b2b_reason_check), at most B2B_REASON_VALUES per message, after
 *     the other headers; a line left with none is dropped (all of them
 *     when they do not fit), the message goes all the same. BYE and
 *     CANCEL are built anew on the other leg, so the engine carries their
 *     Reason over with b2b_reason_lines().
 *  3. Strings are bounded (B2B_*_MAX): a value that does not fit makes the
 *     function fail with sbc_err_sip(400) (inbound) or -ENOSPC (building),
 *     never truncation.
 *  4. Forking: a UAC dialog follows the first To tag that reaches it; later
 *     early dialogs with another tag are reported by b2b_dialog_uac_update()
 *     as SBC_E_EXISTS (the caller may CANCEL/BYE them).
 */
/* How the B2BUA modules fit (the call object that drives them is the next
 * step; see also b2b_sdp.h for the media sequence):
 *
 *   inbound INVITE (sig_* worker: bytes, transport, peer, TLS identity)
 *     sip_parse                       400/416/505/513 via sig_sip_response
 *     txn_recv_request                TXN_RX_NEW -> the call; else absorbed
 *     store_trunk_snapshot_match_*    unknown source: 403 or drop
 *     b2b_limit_admit                 503 + Retry-After
 *     b2b_called_number, b2b_route_lookup     404 / 484
 *     b2b_dialog_uas_init             A leg (our To tag)
 *     b2b_sdp_offer                   488 when A's SRTP policy refuses
 *     MEDIA_CREATE per m= line  ->  replies: relay addresses per leg
 *   for each route (b2b_failover_skip, b2b_health_usable):
 *     b2b_route_number, b2b_sdp_build_offer, b2b_build_bleg_invite,
 *     b2b_dialog_uac_init, txn_client_start
 *     responses: txn_recv_response -> on_response:
 *       1xx/2xx: b2b_dialog_uac_update; with SDP: b2b_sdp_answer (488:
 *         CANCEL/BYE that leg, B2B_FO_LOCAL_SRTP), MEDIA_UPDATE,
 *         b2b_sdp_build_answer; b2b_build_mirrored_response, txn_respond
 *       2xx: ACK on the B leg (b2b_build_in_dialog(SIP_M_ACK))
 *       3xx-6xx / on_timeout: b2b_failover_on_final -> next route or
 *         relay b2b_failover_result(); b2b_health_record
 *   in-dialog requests: b2b_dialog_match picks the leg, b2b_dialog_check_cseq,
 *     b2b_build_in_dialog on the other leg (PRACK: b2b_map_rack), the
 *     response mirrored back; CANCEL: txn_find_cancel_target, 200 to the
 *     CANCEL, sip_build_cancel(txn_request()) toward B, 487 to A.
 *   end: BYE both legs, MEDIA_DELETE, b2b_limit_release, b2b_sdp_wipe.
 */
#ifndef B2B_CALL_H
#define B2B_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "sip_msg.h"

#define B2B_ID_MAX 128    /* Call-ID, tags */
#define B2B_HDR_MAX 320   /* From/To values, URIs */
#define B2B_ROUTES_MAX 8    /* routes (trunks) tried for one call */
/* A dialog's route set (Record-Route): carriers chain many proxies, so it
 * is kept packed (each value NUL-terminated in route_buf) rather than in
 * fixed slots. A route set beyond these bounds still gets its 2xx ACKed and
 * BYEd with b2b_build_in_dialog_rr (routes taken from the 2xx itself). */
#define B2B_RSET_MAX 32
#define B2B_RSET_BUF 4096

enum b2b_dialog_state {
	B2B_DLG_INIT = 0, /* UAC: request sent, no tag yet */
	B2B_DLG_EARLY,
	B2B_DLG_CONFIRMED,
	B2B_DLG_TERMINATED,
};

typedef struct b2b_dialog {
	uint8_t state; /* enum b2b_dialog_state */
	uint8_t uac;   /* 1: we sent the initial request on this leg */
	char call_id[B2B_ID_MAX + 1];
	char local_tag[B2B_ID_MAX + 1];
	char remote_tag[B2B_ID_MAX + 1];
	char local_hdr[B2B_HDR_MAX + 1];  /* our From (uac) / To (uas) value, with our tag */
	char remote_hdr[B2B_HDR_MAX + 1]; /* the peer's, with its tag once known */
	char remote_target[B2B_HDR_MAX + 1]; /* peer Contact URI */
	char route_buf[B2B_RSET_BUF];     /* route set values "<sip:..;lr>", packed */
	uint16_t route_off[B2B_RSET_MAX]; /* where each starts in route_buf */
	unsigned n_route;
	uint8_t rset_overflow; /* the 2xx's route set did not fit (n_route 0) */
	uint32_t local_cseq;
	uint32_t remote_cseq;
	uint32_t invite_cseq; /* CSeq of the last INVITE we sent (for ACK/CANCEL) */
} b2b_dialog;

/* Route set value i (< n_route) of d. */
static inline const char *b2b_dialog_route(const b2b_dialog *d, unsigned i)
{
	return d->route_buf + d->route_off[i];
}

/* The leg as UAS: from the initial request received (A leg). local_tag is
 * ours (put in every response). Returns 0 or sbc_err_sip(400). */
int b2b_dialog_uas_init(b2b_dialog *d, const sip_msg *req, const char *local_tag, uint32_t first_cseq);

/* The leg as UAC (B leg) before sending the INVITE: from_value/to_value
 * are full header values (from_value with our tag). Returns 0 or -ENOSPC. */
int b2b_dialog_uac_init(b2b_dialog *d, const char *call_id, const char *local_tag, const char *from_value,
			const char *to_value, const char *request_uri, uint32_t cseq);

/* A response to our INVITE on a UAC leg: a 1xx with To tag makes the dialog
 * early, a 2xx confirms it (remote tag, target from Contact, route set from
 * Record-Route reversed). 3xx-6xx terminate an early/init dialog. Returns 0,
 * SBC_E_EXISTS for another fork's tag, or sbc_err_sip(400); -E2BIG when the
 * route set exceeds B2B_RSET_MAX/B2B_RSET_BUF: the dialog is updated all
 * the same but marked rset_overflow (b2b_build_in_dialog refuses it; the
 * 2xx can only be ACKed and BYEd with b2b_build_in_dialog_rr). */
int b2b_dialog_uac_update(b2b_dialog *d, const sip_msg *rsp);

/* A 2xx from another fork than the one whose provisional made the dialog
 * early: the 2xx decides (RFC 3261 13.2.2.4), the early dialog is replaced
 * by the 2xx's (remote tag, target, route set). Returns like
 * b2b_dialog_uac_update, or SBC_E_STATE (confirmed already, not a 2xx). */
int b2b_dialog_uac_take_fork(b2b_dialog *d, const sip_msg *rsp);

/* Whether m belongs to this dialog: requests by Call-ID + To tag (ours) +
 * From tag (theirs); responses by Call-ID + From tag (ours). */
int b2b_dialog_match(const b2b_dialog *d, const sip_msg *m);

/* Checks and records the CSeq of an in-dialog request from the peer:
 * returns 0, or sbc_err_sip(500) for a lower CSeq (RFC 3261 12.2.2). ACK
 * and CANCEL are not checked. */
int b2b_dialog_check_cseq(b2b_dialog *d, const sip_msg *req);

/* Our Via for a request we originate on a leg. */
typedef struct b2b_via {
	const char *transport; /* "UDP", "TCP", "TLS" */
	const char *host;      /* our address as it goes on the wire ("[v6]") */
	uint16_t port;
	const char *branch;    /* z9hG4bK... */
} b2b_via;

typedef struct b2b_body {
	const char *type; /* "application/sdp" */
	const char *data;
	size_t len;
} b2b_body;

/* Builds an in-dialog request on leg d (BYE, re-INVITE, UPDATE, INFO,
 * PRACK, ACK for a 2xx). The CSeq is ++local_cseq, except ACK, which reuses
 * invite_cseq; INVITE records invite_cseq. CANCEL is not built here (it
 * must copy the INVITE as sent: sip_build_cancel(txn_request())). extra: more header
 * lines ("Name: value", e.g. RAck, Reason), may be NULL. Returns the length
 * or -ENOSPC / -EINVAL / SBC_E_STATE (no remote target yet). */
int b2b_build_in_dialog(b2b_dialog *d, enum sip_method m, const b2b_via *via, const char *contact,
			const char *const *extra, unsigned n_extra, const b2b_body *body, char *out,
			size_t cap);

/* ACK or BYE on a UAC dialog whose route set is taken from the 2xx rsp
 * itself (its Record-Route reversed, up to B2B_RR_WIRE_MAX values), not
 * from d: for a 2xx we only end (one of an attempt given up, or one whose
 * route set d could not hold). body: the ACK's answer (to an offer in that
 * 2xx), or NULL. Returns like b2b_build_in_dialog. */
#define B2B_RR_WIRE_MAX 256
int b2b_build_in_dialog_rr(b2b_dialog *d, const sip_msg *rsp, enum sip_method m, const b2b_via *via,
			   const b2b_body *body, char *out, size_t cap);

typedef struct b2b_bleg_spec {
	const char *request_uri; /* sip:<number>@<carrier>;user=phone ... */
	b2b_via via;
	const char *local_host; /* our host for From and the PAI rewrite */
	const char *from_tag;
	const char *to_value;   /* "<sip:+4930123@carrier.example>" */
	const char *call_id;
	uint32_t cseq;
	const char *contact;    /* "<sip:sbc@203.0.113.5:5061;transport=tls>" */
	b2b_body body;          /* the rewritten SDP */
	const char *const *extra; /* our own extra lines (User-Agent...) */
	unsigned n_extra;
	/* Supported crosses without the 100rel option tag (a line left empty,
	 * or one that does not parse, is dropped): for a delayed offer, so the
	 * callee's offer cannot come in a reliable provisional (RFC 3262: only
	 * to a UAC that supports 100rel), whose answer in a PRACK we do not
	 * build. A's Require: 100rel still crosses. */
	uint8_t no_100rel;
} b2b_bleg_spec;

/* The B-leg INVITE for the A-leg INVITE a (caveat 2). From keeps A's
 * display name and user (the calling number) with our host and tag; Max-
 * Forwards is A's minus one (A's 0 is the caller's 483). Returns the length,
 * sbc_err_sip(483), or -ENOSPC/-EINVAL. When from_out is not NULL it gets
 * the From value used (for b2b_dialog_uac_init). */
int b2b_build_bleg_invite(const sip_msg *a, const b2b_bleg_spec *s, char *out, size_t cap, char *from_out,
			  size_t from_cap);

typedef struct b2b_resp_spec {
	const char *to_tag;     /* our tag on the A leg */
	const char *contact;    /* ours on the A leg; sent with 1xx (with tag) and 2xx */
	const char *local_host; /* for the PAI rewrite */
	b2b_body body;
	const char *const *extra;
	unsigned n_extra;
} b2b_resp_spec;

/* The response on the A leg (to request a) that mirrors the B-leg response
 * r: same status; r's reason phrase if it is plain text, else the standard
 * one; allow-listed headers (caveat 2); our To tag, Contact and body.
 * Returns the length or -ENOSPC/-EINVAL. */
int b2b_build_mirrored_response(const sip_msg *a, const sip_msg *r, const b2b_resp_spec *s, char *out,
				size_t cap);

/* RFC 3326 Reason = "Reason" HCOLON reason-value *(COMMA reason-value);
 * reason-value = protocol *(SEMI reason-params). A value can name no
 * address, but it comes from a peer: bounded and checked before it crosses. */
#define B2B_REASON_MAX 256       /* bytes of one reason-value; longer: dropped */
#define B2B_REASON_LINE_MAX 1024 /* bytes of one Reason line; longer: dropped whole */
#define B2B_REASON_VALUES 4      /* reason-values relayed per message; the rest dropped */

/* Checks one reason-value v (trimmed): protocol a token, each parameter
 * a token with an optional "=" token / host / quoted-string; "cause" once,
 * with 1..9 digits (a Q.850 cause 1..127, a SIP one a status 100..699);
 * "text" once, a quoted-string; no control character outside a fold or
 * HTAB; at most B2B_REASON_MAX bytes. Returns -1 when malformed, the cause
 * (1..127) of a well-formed Q.850 value with one, else 0. */
int b2b_reason_check(sip_sv v);

/* The Reason of m as it crosses to the other leg: for each Reason line of
 * m with well-formed values (at most B2B_REASON_VALUES in all), "Reason:
 * v1, v2" NUL-terminated in buf, lines[] pointing at each (for extra[] of
 * b2b_build_in_dialog). *q850 (may be NULL) gets the first Q.850 cause
 * relayed, or 0. Returns the number of lines (0..max) or -ENOSPC. */
#define B2B_REASON_BUF (B2B_REASON_VALUES * (B2B_REASON_MAX + 2) + 16 * 4)
int b2b_reason_lines(const sip_msg *m, char *buf, size_t cap, const char **lines, unsigned max, int *q850);

/* The Q.850 cause (ISUP) a final status of our own stands for, after RFC
 * 3398 8.2.6.1 (SIP -> ISUP), and its Q.850 name in *text; 0 when there is
 * none to give (2xx, 487, or no mapping). 488 maps to 88 "Incompatible
 * destination" as carriers send it for an SDP/SRTP mismatch (RFC 3398
 * leaves 488 to the Warning header). For the Reason header of our own
 * error responses (RFC 6432). */
int b2b_q850_of_status(int status, const char **text);

/* 100rel across the legs: RSeq values cross unchanged (allow-listed), so
 * the RAck of a PRACK from one leg maps to the other by replacing the CSeq
 * number with that leg's INVITE CSeq. Writes "RAck: <rseq> <cseq> INVITE"
 * (no CRLF) into out. Returns the length, sbc_err_sip(400) for a PRACK
 * without a valid RAck, or -ENOSPC. */
int b2b_map_rack(const sip_msg *prack, uint32_t other_invite_cseq, char *out, size_t cap);

/* RFC 4028 session timer: the Session-Expires of m (compact form x) =
 * delta-seconds *(;se-params), with refresher=uac|uas if given. Returns 1
 * with *secs (1..B2B_SE_MAX) and *refresher (B2B_REFRESHER_*; may be
 * NULL) set, 0 when m has none, or sbc_err_sip(400) for one that does not
 * parse: 0 or no digits, more than B2B_SE_MAX (2^31 - 1: no deadline
 * anyone means), anything but a parameter after the number, a refresher
 * other than uac/uas, or two Session-Expires lines. The caller treats 400
 * as no session timer at all: clearing a call on a value we cannot read
 * would be worse than not timing it. */
#define B2B_SE_MAX 0x7fffffffu
enum { B2B_REFRESHER_NONE = 0, B2B_REFRESHER_UAC, B2B_REFRESHER_UAS };
int b2b_session_expires(const sip_msg *m, uint32_t *secs, int *refresher);

/* When the B2BUA, the side that does not refresh on either leg, sends its
 * BYE for a session interval of secs (raised to floor_s when shorter):
 * milliseconds after the 2xx that set it, the expiry minus the smaller of
 * 32 s and a third of the interval (RFC 4028 10). *interval_s (may be
 * NULL) gets the interval timed. */
uint64_t b2b_session_bye_ms(uint32_t secs, uint32_t floor_s, uint32_t *interval_s);

/* RFC 3261 8.2.1, method inspection before anything else: 0 for a method
 * in our Allow (SIG_SIP_ALLOW: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE,
 * PRACK, INFO), 405 (Method Not Allowed) for one we know and do not take
 * (REGISTER, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH), 501 (Not
 * Implemented) for any other, an extension method or a known one in
 * another case (methods are case-sensitive, 7.1: `invite`, `ack`). Both
 * refusals carry Allow. */
int b2b_method_status(enum sip_method m);

/* RFC 3311 5.2, an UPDATE carrying an offer in the early dialog: 0 when
 * the INVITE's offer/answer is complete (its answer came in a reliable
 * provisional, RFC 3262: answered_reliably), so a new exchange may start
 * (relayed); else 491 when the UPDATE came from the callee (we sent the
 * INVITE's offer and have no answer yet: from_callee), 500 from the caller
 * (we received its offer and have not answered it yet), to go with
 * b2b_retry_after_s(). */
int b2b_early_update_offer_status(int from_callee, int answered_reliably);

/* A Retry-After value for a 500 that says "not now" (RFC 3261 14.2,
 * RFC 3311 5.2: "randomly chosen value between 0 and 10 seconds"), drawn
 * from the request's branch so that two sides in glare pick different
 * values without an RNG on the path. */
unsigned b2b_retry_after_s(const sip_msg *req);

#endif
