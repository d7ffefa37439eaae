/* sbc-signal — SIP transactions (RFC 3261 section 17): client and server,
 * INVITE and non-INVITE, with timers A, B, D, E, F, G, H, I, J, K.
 *
 * Caveats:
 *  1. The clock and the timer wheel are injected (txn_env): the layer calls
 *     env->arm(t, timer, ms) and env->cancel(t, timer); the owner calls
 *     txn_timer_fire() when an armed timer expires. A fire for a timer that
 *     is not armed (stale) is ignored; one before its deadline by env->now_ms
 *     is re-armed for the remainder. Unit tests drive time by hand.
 *  2. Reliable transports (TCP, TLS): no retransmissions (A, E, G never
 *     armed) and D, I, J, K are zero (the transaction ends at once).
 *  3. Ownership: the table owns every transaction. A transaction that
 *     reaches Terminated gets env->on_terminated() and is freed when the
 *     entry point that terminated it returns, so a txn pointer is valid
 *     until then and inside every callback. Callbacks may call back into the
 *     table (also for the same transaction); they must not free anything.
 *  4. Matching (17.1.3, 17.2.3): a response matches a client transaction by
 *     top Via branch + CSeq method; a request matches a server transaction by
 *     top Via branch + sent-by + method, with ACK matching the INVITE
 *     transaction (the ACK to a 2xx has a new branch and matches nothing: it
 *     belongs to the dialog). Branches without the z9hG4bK cookie (RFC 2543)
 *     are matched on Call-ID + CSeq + From tag + sent-by instead.
 *  5. 2xx to INVITE (RFC 6026 "Accepted" state, with one addition): the
 *     server transaction keeps the 2xx and retransmits it itself over UDP
 *     (T1 doubling up to T2, reusing timer G) until the ACK arrives or
 *     Timer L (64*T1) fires (on_timeout: the TU ends the dialog with BYE).
 *     The ACK to a 2xx has its own branch: it is matched on Call-ID, CSeq
 *     number and From tag and reported with env->on_ack (txn_recv_request
 *     returns TXN_RX_ACK_2XX); it stops the 2xx retransmission, but the
 *     transaction stays Accepted until Timer L, absorbing duplicates of the
 *     INVITE (which must never become a new call) and passing further ACKs
 *     up; L after the ACK ends it silently (no on_timeout). The client
 *     transaction stays Accepted until Timer M (64*T1) and passes every
 *     further 2xx (retransmissions, other forks) up, so the TU re-ACKs.
 *     Sending the ACK to a 2xx is the TU's job (it is a new request).
 *  6. Errors: negative sbc codes; -ENOMEM when a copy cannot be made (the
 *     caller answers 503), never an abort.
 */
#ifndef TXN_LAYER_H
#define TXN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "sip_msg.h"

typedef struct txn txn;
typedef struct txn_table txn_table;

enum txn_kind {
	TXN_CLIENT_INVITE = 0,
	TXN_CLIENT_NON_INVITE,
	TXN_SERVER_INVITE,
	TXN_SERVER_NON_INVITE,
};

enum txn_state {
	TXN_S_CALLING = 1, /* client INVITE */
	TXN_S_TRYING,      /* non-INVITE */
	TXN_S_PROCEEDING,
	TXN_S_COMPLETED,
	TXN_S_CONFIRMED, /* server INVITE */
	TXN_S_TERMINATED,
	TXN_S_ACCEPTED, /* INVITE after a 2xx (RFC 6026) */
};

enum txn_timer {
	TXN_T_A = 0, TXN_T_B, TXN_T_D, TXN_T_E, TXN_T_F, TXN_T_G, TXN_T_H, TXN_T_I, TXN_T_J, TXN_T_K,
	TXN_T_L, TXN_T_M, /* RFC 6026: Accepted state, server / client */
	TXN_T_MAX_,
};

typedef struct txn_env {
	void *ctx;
	uint64_t (*now_ms)(void *ctx);
	void (*arm)(void *ctx, txn *t, enum txn_timer tm, uint32_t ms);
	void (*cancel)(void *ctx, txn *t, enum txn_timer tm);
	/* Sends bytes to the transaction's peer over its transport; <0 is a
	 * transport error (the transaction then times out, 17.1.4). */
	int (*send)(void *ctx, txn *t, const char *buf, size_t len);
	/* Client: a response for the TU (never a retransmission). */
	void (*on_response)(void *ctx, txn *t, const sip_msg *rsp);
	/* Timer B/F (client: act as 408), H (server: no ACK), transport error. */
	void (*on_timeout)(void *ctx, txn *t);
	void (*on_terminated)(void *ctx, txn *t);
	/* Server INVITE: an ACK to our 2xx arrived, the first or a repeat
	 * (may be NULL). */
	void (*on_ack)(void *ctx, txn *t, const sip_msg *ack);
} txn_env;

typedef struct txn_cfg {
	uint32_t t1_ms, t2_ms, t4_ms; /* 0: RFC defaults 500, 4000, 5000 */
} txn_cfg;

/* buckets: hash size (rounded up to a power of two). NULL cfg: defaults.
 * Returns NULL on allocation failure (boot). */
txn_table *txn_table_create(const txn_env *env, const txn_cfg *cfg, unsigned buckets);
/* Frees every transaction without callbacks (shutdown). */
void txn_table_destroy(txn_table *tbl);
unsigned txn_table_count(const txn_table *tbl);
/* Lookups that walked a hash chain over 64 entries: with the keyed hash
 * that needs a table far over its size; anything else is a hash failure. */
unsigned long txn_table_long_walks(const txn_table *tbl);
/* Internal, for the unit tests: the chain hash of key[0..n) in tbl (its
 * bucket is the low bits). */
uint32_t x__txn_key_hash(const txn_table *tbl, const char *key, size_t n);

/* Starts a client transaction for the request req[0..len) (copied; must
 * parse and carry a Via branch): sends it and arms the timers. Returns 0
 * with *out set, SBC_E_EXISTS when a transaction with that key exists,
 * -ENOMEM, or a parse error. */
int txn_client_start(txn_table *tbl, const char *req, size_t len, int reliable, void *user, txn **out);

/* Hands a received response to its client transaction. Returns 1 when it
 * matched (passed up or absorbed), 0 when it matched nothing. */
int txn_recv_response(txn_table *tbl, const sip_msg *rsp);

enum txn_rx {
	TXN_RX_NEW = 1,     /* a new server transaction *out: the TU handles the request */
	TXN_RX_ABSORBED,    /* a retransmission (or ACK to a non-2xx): handled here */
	TXN_RX_NO_MATCH,    /* ACK that matches no transaction (stray or late) */
	TXN_RX_ACK_2XX,     /* an ACK to a 2xx: env->on_ack ran, the transaction lingers until L */
};

/* Hands a received request to the layer: matches a server transaction or
 * creates one (never for ACK). Returns enum txn_rx or a negative error. */
int txn_recv_request(txn_table *tbl, const sip_msg *req, int reliable, void *user, txn **out);

/* The TU sends a response through server transaction t (copied for
 * retransmission). Returns 0, SBC_E_STATE when t cannot send it (already
 * final), or the transport's error. */
int txn_respond(txn_table *tbl, txn *t, int status, const char *buf, size_t len);

/* The INVITE server transaction a CANCEL targets (same branch, sent-by),
 * or NULL. */
txn *txn_find_cancel_target(txn_table *tbl, const sip_msg *cancel);

/* Called by the timer owner when an armed timer expires. */
void txn_timer_fire(txn_table *tbl, txn *t, enum txn_timer tm);

/* Client INVITE t: the TU sent a CANCEL for it. If no final response
 * comes within 64*T1 (from now in Proceeding, Timer B's own deadline in
 * Calling), t terminates without on_timeout (RFC 3261 9.1): a peer that
 * ignores the CANCEL and never answers no longer keeps it for ever. */
void txn_client_cancelled(txn_table *tbl, txn *t);

/* The client transaction for a request with this CSeq method and top Via
 * branch (what a response would match, 17.1.3), or NULL. */
txn *txn_find_client(txn_table *tbl, sip_sv method, sip_sv branch);

/* The transport under t failed (connection closed, ICMP): 17.1.4/17.2.4. */
void txn_transport_error(txn_table *tbl, txn *t);

enum txn_kind txn_get_kind(const txn *t);
enum txn_state txn_get_state(const txn *t);
int txn_last_status(const txn *t); /* last response sent or received, 0: none */
void *txn_user(const txn *t);
void txn_set_user(txn *t, void *user);
/* Client transactions: the request as sent (for CANCEL, ACK, failover). */
const char *txn_request(const txn *t, size_t *len);

const char *txn_state_name(enum txn_state s);
const char *txn_timer_name(enum txn_timer tm);

#endif
