/* sbc-signal — B2BUA engine: private types shared by its modules.
 *
 * The worker (b2b_wk), the call (b2b_cl), the transaction context
 * (tx_ctx) and the relayed re-INVITE (b2b_reinv), with the constants that
 * size them. Only the engine's own files (b2b_engine.c and the b2b_ctx,
 * b2b_records, b2b_outbound, b2b_indialog, b2b_delayed modules) include
 * this; the rest of sbc-signal sees b2b_engine.h.
 *
 * Caveats:
 *  1. Types and constants only; functions are in b2b_engine-int.h.
 *  2. Every field is the owning worker's (no locks): a call, its ctxs and
 *     its worker are touched only on that worker's loop thread. */
#ifndef B2B_ENGINE_T_H
#define B2B_ENGINE_T_H

#include <stdint.h>

#include "b2b_call.h"
#include "b2b_health.h"
#include "b2b_limits.h"
#include "b2b_media.h"
#include "b2b_route.h"
#include "b2b_sdp.h"
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "sbc/store.h"
#include "sig_self.h"
#include "sip_msg.h"
#include "sig_dns.h"
#include "sig_sip.h"
#include "sig_worker.h"
#include "txn_layer.h"

#define B2B_BUCKETS 4096u
#define B2B_MEDIA_MAX 16
#define B2B_MSG_MAX 8192
#define B2B_BODY_MAX 4096
#define B2B_RAW_INLINE 2048 /* an A-leg INVITE with SDP: ~1 KB */
#define B2B_ACK_INLINE 768  /* our ACK on the B leg: ~400 bytes */
#define B2B_LIMITS_MAX 128
/* RFC 3263 targets kept per call for failover within a trunk's DNS name */
#define B2B_TARGETS_MAX 8
#define T_NO_RESPONSE TXN_T_MAX_
/* The same slot on an A-leg INVITE's ctx: its 100 (Trying) is due. RFC 3261
 * 17.2.1 asks for a 100 when no other response goes out within 200 ms; a
 * carrier that rings or answers sooner (most do) gets no 100 at all: one
 * message fewer per call to build, keep in the transaction, encrypt and
 * send (and for the peer to read). */
#define T_TRYING T_NO_RESPONSE
#define B2B_TRYING_MS 100
/* Trunk health: OPTIONS to the first destination of every enabled trunk. */
#define B2B_PING_MS 5000
#define B2B_PING_FIRST_MS 500
#define B2B_HEALTH_MAX 64

typedef struct b2b_wk b2b_wk;
typedef struct b2b_cl b2b_cl;

typedef struct cid_node {
	b2b_cl *c;
	int leg;
	int linked;
	struct cid_node *next;
} cid_node;

/* CTX_SESSION: a call's own session timer (b2b_cl.se), no transaction */
enum ctx_role { CTX_A_INVITE = 1, CTX_B_INVITE, CTX_OTHER, CTX_REINV_IN, CTX_REINV_OUT, CTX_PING, CTX_SESSION };

/* Per transaction: its timers (its earliest deadline on the worker's
 * timer wheel), the peer it talks to, and the call it belongs to. */
typedef struct tx_ctx {
	struct tx_ctx *wnext, *wprev; /* timer wheel slot wslot (WHEEL_NONE: none) */
	uint32_t wslot;
	uint64_t wdue; /* the deadline it is filed under */
	b2b_wk *wk;
	txn *t;
	b2b_cl *call;
	uint8_t role; /* enum ctx_role */
	uint8_t tp;
	sig_conn_id conn;
	sbc_addr dst;
	char profile[STORE_NAME_MAX + 1];
	int16_t ping; /* CTX_PING: index into the worker's health table */
	uint8_t cancel_sent; /* CTX_B_INVITE: our CANCEL for it is out */
	uint8_t starting;    /* inside b2b_client_start: its caller frees it on failure */
	uint8_t lost;        /* its request was lost at the transport (send-failed hook) */
	uint8_t lost_icmp;   /* ... as an ICMP error said: no word on the trunk's health */
	uint64_t sent_ns;    /* client: uv_hrtime() as it was started (b2b_send_failed matches only older ones) */
	uint32_t stray_tag;  /* CTX_B_INVITE given up: hash of the To tag last BYEd (0: none) */
	uint64_t due[TXN_T_MAX_ + 1]; /* + our own: no response to a B-leg INVITE */
	struct tx_ctx *next, *prev; /* every live ctx of the worker */
	struct tx_ctx *cl_next, *cl_prev; /* the ctxs bound to the same call */
} tx_ctx;

enum call_state { CS_MEDIA = 1, CS_CALLING, CS_EARLY, CS_CONFIRMED, CS_ENDED };

/* Transaction timers: one hashed wheel per worker (B2B_WHEEL_SLOTS slots of
 * B2B_TICK_MS), driven by one uv_timer that runs while the wheel holds a
 * ctx. A ctx sits in the slot of its earliest deadline; one further away
 * than a revolution is passed over until its round comes. Before, each ctx
 * had its own uv_timer (152 bytes, restarted in libuv's heap on every arm
 * and cancel, closed through the loop): at 1000 calls/s some 130k of them
 * lingered per worker. Deadlines are late by up to one tick, which SIP's
 * timers (T1 = 500 ms) do not notice. */
#define B2B_TICK_MS 8
/* A MEDIA_DELETE nobody waits for is published with the next record that
 * matters or after this long, whichever comes first (media_push). */
#define B2B_LAZY_MS 20
/* How long a call waits for sbc-media's MEDIA_CREATE replies (normally
 * well under a millisecond): a stopped or hung sbc-media left every new
 * call at 100 Trying until the caller gave up; after this it gets 503 with
 * Retry-After, which a carrier routes around. A re-offer adding a stream
 * gets 500 likewise. */
#define B2B_MEDIA_WAIT_MS 2000
#define B2B_WHEEL_SLOTS 4096 /* power of two: 32.8 s */
#define WHEEL_NONE UINT32_MAX
#define WHEEL_FIRING B2B_WHEEL_SLOTS /* the list wheel_cb is working through */

/* A call: everything it needs while it lives (the A-leg INVITE, both
 * dialogs, routes, the SDP state with its keys, media messages: ~44 KB).
 * Its transactions outlive it (Timers J, K, L, M: 32 s over UDP) but need
 * nothing of it once it ended: the end detaches them (call_reap) and the
 * object goes back to the worker's free list within the loop iteration,
 * so a finished call costs only its transactions and their contexts. */
struct b2b_cl {
	b2b_wk *wk;
	uint64_t id;
	int refs;
	tx_ctx *ctxs; /* bound to this call (cl_next); detached when it ended */
	uint8_t state; /* enum call_state */
	uint8_t cancelled, b_sdp_done, hangup;
	uint8_t b_sdp_rel;  /* that answer came in a reliable provisional (RFC 3262): the INVITE's offer/answer is complete */
	uint8_t b_upd_oa;   /* an offer/answer in an early UPDATE since (early_oa_done): it stands, not the 2xx's SDP */
	uint8_t a_acked;    /* A's ACK to our 2xx arrived (b2b_on_ack) */
	uint8_t bye_a_held; /* the call ended before that ACK: our BYE to A waits for it (RFC 3261 15) */
	uint8_t held_rsn_n; /* Reason lines of that BYE, NUL-separated in held_rsn (malloc'd) */
	char *held_rsn;
	int16_t held_cause;    /* the call record's end once that BYE goes (bye_a_hold) */
	char held_reason[96];  /* ... and its reason (a copy: session_expired's is on its stack) */
	uint8_t new_pending;   /* streams a re-offer adds whose MEDIA_CREATE awaits its reply (bit per m= line) */
	uint8_t new_lost;      /* ... whose reply was given up (reinv_media_lost): a late one still comes */
	int16_t q850; /* Q.850 cause of the Reason that ended the call (relayed or ours), 0: none */
	/* Delayed offer (RFC 3261 13.2.1): A's INVITE came without SDP, so ours
	 * goes without; B's 2xx brings the offer (kept in dly), A's ACK the
	 * answer. b_ack_due: that 2xx is not ACKed yet, our ACK carries A's
	 * answer; anything that BYEs B first ACKs it (leg_request_ex). */
	uint8_t a_no_offer, b_ack_due;
	const char *attempt_why; /* the current attempt's local failure, for the call record (attempt_failed) */
	uint64_t b_sdp_hash; /* of the B answer applied (b_sdp_done) */
	const char *trunk_in; /* interned */
	uint64_t start_ms, answer_ms; /* wall clock */
	uint64_t media_due_ms;        /* CS_MEDIA: the MEDIA_CREATE replies are given up then (media_wait_arm) */
	char number_out[STORE_NUMBER_MAX + 1];
	b2b_cl *id_next;
	cid_node cn[2];
	/* A leg */
	char *a_raw;
	size_t a_len;
	sip_msg a;
	sdp_session a_sdp;
	txn *a_txn;
	uint8_t a_tp;
	sig_conn_id a_conn;
	sbc_addr a_src, a_local;
	char a_tag[48];
	b2b_dialog da;
	b2b_limit *lim;     /* the calling trunk's limits, taken at arrival */
	b2b_limit *lim_out; /* the current attempt's trunk's, taken by next_route */
	int out_limited;    /* seconds of Retry-After when a route was skipped at its limit, else 0 */
	store_srtp_policy pol_in;
	/* routing */
	char number[STORE_NUMBER_MAX + 1];
	store_route routes[B2B_ROUTES_MAX];
	int n_routes, cur;
	b2b_failover fo;
	const char *fo_reason; /* fo.best was a local outcome: which (call record), else NULL */
	uint8_t b_no_answer;   /* the attempt failing now rang but did not answer in time */
	/* B leg (current attempt) */
	store_srtp_policy pol_out;
	char trunk_out[STORE_NAME_MAX + 1];
	char b_profile[STORE_NAME_MAX + 1];
	uint8_t b_need_dns;   /* the destination is a DNS name: resolve first */
	uint8_t b_tn, b_ti;   /* RFC 3263 targets of the current route's name; next to try */
	sig_target b_tg[B2B_TARGETS_MAX];
	int b_tpreq;          /* enum sig_tp, -1: RFC 3263 chooses */
	uint16_t b_port;      /* 0: none given */
	char b_host[STORE_HOST_MAX + 1];
	uint8_t b_tp;
	uint8_t b_no_reuse;   /* this attempt: the trunk's inbound connection failed */
	sig_conn_id b_conn;   /* a connection the trunk opened to us (reuse_inbound), else 0 */
	sbc_addr b_dst, b_local;
	char b_callid[128], b_tag[48];
	char b_from[B2B_HDR_MAX + 1];
	b2b_dialog db;
	txn *b_txn;
	char *b_ack;
	size_t b_ack_len;
	uint8_t b_ack_body; /* b_ack carries an answer (a=crypto keys): wiped wherever it lies */
	/* media */
	unsigned media_w;
	unsigned pending;
	b2b_sdp sdp;
	sbc_msg_media msgs[SDP_MAX_MEDIA];
	uint64_t created[SDP_MAX_MEDIA];
	sbc_addr relay[2][SDP_MAX_MEDIA];
	char a_answer[B2B_BODY_MAX]; /* the SDP of our 2xx to A (our offer when a_no_offer) */
	int a_answer_len;
	/* a_raw and b_ack when they fit (most do): a malloc and free fewer
	 * each per call; read only up to a_len / b_ack_len (call_alloc skips
	 * them) */
	char a_raw_buf[B2B_RAW_INLINE];
	char b_ack_buf[B2B_ACK_INLINE];
	struct b2b_reinv *ri; /* the re-INVITE being relayed, or NULL */
	struct b2b_reinv *dly; /* a_no_offer: B's 2xx with the offer, from its arrival to A's ACK */
	/* RFC 4028 session timer (session_timer_arm): the interval in force
	 * (0: none), and its deadline on the worker's timer wheel while
	 * se_armed. se is a ctx of its own (role CTX_SESSION, no transaction)
	 * inside the object: the wheel takes it like any other, and a call
	 * without Session-Expires never touches it (call_alloc skips it). */
	uint32_t se_s;
	uint8_t se_armed;
	tx_ctx se;
};

/* A re-INVITE relayed from leg `leg` to the other one (hold, resume, new
 * SDP): one at a time per call (491 otherwise). */
typedef struct b2b_reinv {
	char *raw;
	sip_msg m;
	sdp_session offer;
	int has_sdp;
	uint8_t leg;
	uint8_t method; /* SIP_M_INVITE or SIP_M_UPDATE */
	txn *in;  /* server INVITE transaction on `leg` */
	txn *out; /* client INVITE transaction on the other leg */
	/* delayed offer (a re-INVITE without SDP): the other leg's offer came
	 * in its 2xx (copied to ob, parsed into offer) and went to `leg` in our
	 * 2xx; its answer comes in leg's ACK, our ACK to the other leg waits
	 * for it (await_ack) */
	char *ob;
	size_t ob_len;
	uint8_t await_ack;
	/* b2b_cl.dly, the first INVITE's delayed offer: raw/m are B's 2xx
	 * (relayed to A once the media sessions exist), offer is parsed from
	 * its body (has_sdp once it parsed); in/out stay NULL */
	uint8_t initial;
	uint8_t cancel_due; /* `leg` cancelled it before `out` had a provisional: our CANCEL waits for one */
	/* the offer adds a stream (an m= line appended, or a port-0 one taken
	 * up again: RFC 3264 8.1): its media session is being made, the
	 * relayed offer waits for the relay's ports (reinv_streams_ready) */
	uint8_t creating;
	uint8_t create_failed;
} b2b_reinv;

/* request_id of a MEDIA_CREATE for a stream a re-offer adds: the session
 * id with this bit, which no id has (worker index < 64 in the top byte),
 * so its reply is told from an UPDATE's. */
#define B2B_REQ_NEW_STREAM (1ull << 63)

struct b2b_wk {
	sig_worker *w;
	txn_table *tbl;
	tx_ctx *ctxs;
	tx_ctx *spare;
	b2b_cl *by_id[B2B_BUCKETS];
	cid_node *by_cid[B2B_BUCKETS];
	uint64_t seed, seq;
	uint64_t branch_key[2]; /* secret: the unguessable part of our branches (new_branch()) */
	sig_self self; /* our relay ports and SIP listeners: no SDP may name them (b2b_sdp) */
	unsigned n_media;
	shm_ring_prod to_media[B2B_MEDIA_MAX];
	shm_ring_cons from_media[B2B_MEDIA_MAX];
	unsigned n_wait;    /* MEDIA_CREATE replies awaited (doorbell armed only then) */
	struct {
		uint64_t active, started, answered, failed, failovers, reinvites, forwarded;
	} st;
	uv_timer_t *ping;   /* health pings (own allocation: closed asynchronously) */
	unsigned n_health;
	struct {
		char trunk[STORE_NAME_MAX + 1];
		b2b_health h;
		uint8_t busy; /* a ping is in flight */
	} health[B2B_HEALTH_MAX];
	unsigned txn_pub;     /* live transactions counted in g_txn_live (mem_settle) */
	sig_conn_id inb_last; /* last connection noted in g_inb by this worker */
	unsigned inb_gen;     /* g_inb_forgets when it was noted */
	b2b_cl *free_calls; /* recycled call objects (id_next links them) */
	unsigned n_free;
	unsigned n_objs;    /* call objects in use (not on the free list) */
	b2b_cl *ended;      /* ended this iteration, to be reaped (id_next links them) */
	uv_prepare_t *flush; /* per iteration: ring doorbells, reap ended calls */
	uint32_t to_publish; /* bit j: records reserved on to_media[j], unpublished */
	uint32_t to_publish_lazy; /* bit j: only MEDIA_DELETEs wait there (media_push) */
	uint32_t hello_due;  /* bit j: our HELLO not on to_media[j] yet (ring full): media_hello */
	uv_timer_t *lazy_h;  /* publishes those within B2B_LAZY_MS; own allocation */
	uint8_t stopping;    /* wk_stop: nothing is lazy any more */
	tx_ctx *wheel[B2B_WHEEL_SLOTS + 1]; /* + WHEEL_FIRING */
	uint64_t wheel_tick; /* the last tick worked through */
	unsigned wheel_n;    /* ctxs on the wheel */
	uv_timer_t *wheel_h; /* own allocation: closed asynchronously */
	tx_ctx *dead;        /* freed ctxs (next links them), released in wk_flush */
	tx_ctx *ctx_pool;    /* released ctxs kept for ctx_new (next links them) */
	unsigned n_ctx_pool;
	sip_msg msg, tmp;
	char out[B2B_MSG_MAX];
	char body[B2B_BODY_MAX];
};

typedef struct inb_conn {
	sig_conn_id conn;
	uint8_t tp;
	sbc_addr peer, local;
} inb_conn;

/* RFC 3326 Reason on the BYEs and CANCELs the SBC sends of its own accord
 * (README, "Reason headers"): SIP 408 for our timers (RFC 3398 maps it to
 * Q.850 102, recovery on timer expiry, as the call record's 408 is billed),
 * SIP 488 for an answer our SRTP policy refused, Q.850 where an exchange
 * has the cause: 16 normal clearing for call.hangup, 19 / 18 for a callee
 * that rang / only said 100 and never answered. */
#define RSN_MEDIA "Reason: SIP;cause=408;text=\"media timeout\""
#define RSN_SESSION "Reason: SIP;cause=408;text=\"session timer expired\""
#define RSN_NO_ACK "Reason: SIP;cause=408;text=\"no ACK\""
#define RSN_SRTP "Reason: SIP;cause=488;text=\"answer refused by SRTP policy\""
#define RSN_HANGUP "Reason: Q.850;cause=16;text=\"Normal call clearing (call.hangup)\""
#define RSN_HANGUP_Q850 16
#define RSN_NO_ANSWER "Reason: Q.850;cause=19;text=\"No answer from user\""
#define RSN_NO_USER "Reason: Q.850;cause=18;text=\"No user responding\""
#define RSN_BAD_OFFER "Reason: SIP;cause=502;text=\"delayed offer not usable\""
#define RSN_BAD_ANSWER "Reason: SIP;cause=488;text=\"answer in the ACK not acceptable\""
#define RSN_NO_ANSWER_SDP "Reason: SIP;cause=400;text=\"ACK without an answer\""
#define RSN_LINES 4 /* Reason lines carried from one request (B2B_REASON_VALUES) */


#endif
