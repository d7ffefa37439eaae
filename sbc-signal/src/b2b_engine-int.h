/* sbc-signal — B2BUA engine: functions shared by its modules.
 *
 * The small helpers every module uses (string assembly, our tokens and
 * branches, the clock, send_to) as static inlines, and the prototypes of
 * the functions one module calls in another: b2b_engine.c (worker hooks,
 * rings, commands, calls, new_call), b2b_ctx.c (transaction contexts,
 * timer wheel), b2b_records.c (call records, call end), b2b_outbound.c
 * (routing, failover, the B-leg INVITE and its responses), b2b_indialog.c
 * (in-dialog requests, re-INVITE/UPDATE relay, session timer),
 * b2b_delayed.c (delayed offer).
 *
 * Caveats:
 *  1. Private to the engine's files; not an API (b2b_engine.h is).
 *  2. Worker-thread only, like the objects they take. */
#ifndef B2B_ENGINE_INT_H
#define B2B_ENGINE_INT_H

#include <openssl/siphash.h>
#include <string.h>

#include "b2b_engine-t.h"
#include "b2b_engine.h"
#include "sig_sip.h"
#include "sip_build.h"

/* String assembly without snprintf: some 20 snprintf calls per call (host
 * strings, Contact, R-URI, Call-ID, names copied with "%s") showed as
 * 1.5-2 % of sbc-signal's CPU at 4000 calls/s in the format machinery.
 * put_s appends s at out[n] like snprintf would: truncated to cap - 1,
 * out always terminated when cap > 0; returns the untruncated length. */
static inline size_t put_s(char *out, size_t cap, size_t n, const char *s)
{
	size_t l = strlen(s);
	if (n + 1 < cap) {
		size_t room = cap - 1 - n;
		size_t w = l < room ? l : room;
		memcpy(out + n, s, w);
		out[n + w] = '\0';
	} else if (cap) {
		out[cap - 1] = '\0';
	}
	return n + l;
}

static inline size_t put_u(char *out, size_t cap, size_t n, unsigned v)
{
	char d[12];
	size_t i = sizeof(d) - 1;
	d[i] = '\0';
	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return put_s(out, cap, n, d + i);
}

/* snprintf(out, cap, "%s", s) */
static inline void copy_s(char *out, size_t cap, const char *s) { put_s(out, cap, 0, s); }

/* <sip:sbc@host:port;transport=..> */
static inline void contact_of(char *out, size_t cap, const char *host, unsigned port, const char *tpp)
{
	size_t n = put_s(out, cap, 0, "<sip:sbc@");
	n = put_s(out, cap, n, host);
	n = put_s(out, cap, n, ":");
	n = put_u(out, cap, n, port);
	n = put_s(out, cap, n, tpp);
	put_s(out, cap, n, ">");
}

/* ---- helpers -------------------------------------------------------------- */

static inline uint32_t hash_sv(sip_sv s)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < s.n; i++)
		h = (h ^ (uint8_t)s.p[i]) * 16777619u;
	return h & (B2B_BUCKETS - 1);
}

static inline const char *tp_via(unsigned tp) { return tp == SIG_TP_TLS ? "TLS" : tp == SIG_TP_TCP ? "TCP" : "UDP"; }

/* The URI parameter naming tp in our R-URIs and Contacts ("" for UDP). */
static inline const char *tp_uri_param(unsigned tp)
{
	return tp == SIG_TP_TLS ? ";transport=tls" : tp == SIG_TP_TCP ? ";transport=tcp" : "";
}

static inline void host_of(const sbc_addr *a, char *out, size_t cap) { x__b2b_host_of(a, out, cap); }

#define B2B_ID_BITS 52
#define B2B_ID_MASK ((1ull << B2B_ID_BITS) - 1)
#define B2B_SEQ_SHIFT 8 /* 256 ns per number */

static inline void token(b2b_wk *k, const char *prefix, char *out, size_t cap)
{
	sip_gen_token(prefix, k->seed, ++k->seq, out, cap);
}

/* A Via branch for a request we start: the token (worker seed, sequence
 * number: unique, but the seed is in every tag and Call-ID we send, and
 * the sequence counts up) plus 64 bits no one can predict, a keyed hash of
 * the sequence number. An ICMP error fails a transaction only when it
 * quotes its branch (sig_udp.c udp_drain_errors, RFC 5927 4.1): with 64
 * secret bits, an off-path attacker cannot forge one that does. */
#define B2B_BRANCH_MAX 64 /* "z9hG4bK" + 48 hex digits + NUL fits */
static inline void new_branch(b2b_wk *k, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	token(k, "z9hG4bK", out, cap);
	size_t n = strlen(out);
	if (n + 17 > cap)
		return; /* the token alone: unique still (callers pass B2B_BRANCH_MAX) */
	uint64_t seq = k->seq;
	uint64_t mac = SIPHASH_24(k->branch_key, (const uint8_t *)&seq, sizeof(seq));
	for (int i = 15; i >= 0; i--, mac >>= 4)
		out[n + (size_t)i] = hex[mac & 15];
	out[n + 16] = 0;
}

static inline uint64_t now_ms(b2b_wk *k) { return uv_now(sig_worker_loop(k->w)); }

/* Line i is active in the current offer but has no media session or no
 * relay port toward leg yet (deleted with a decline, refused, or its reply
 * given up). */
static inline int line_unrelayed(const b2b_cl *c, unsigned i, int leg)
{
	return c->sdp.s[i].active && (!c->created[i] || !c->relay[leg][i].sa.sa_family);
}

/* A B-leg INVITE without any response (not even 100) after
 * signal.timers.no_response_ms is given up and the next route tried (Timer
 * B alone would wait 64*T1); one with a provisional but no final response
 * no_answer_ms after the last provisional is CANCELled and the next route
 * tried (Timer C, RFC 3261 16.6 step 11). Their defaults have one home,
 * the shared configuration table (shared/src/config.c), which every
 * sig_config comes from (sig_config_load, sig_config_defaults). */
static inline uint32_t no_response_ms(const b2b_wk *k) { return k->w->srv->cfg.no_response_ms; }

static inline uint32_t no_answer_ms(const b2b_wk *k) { return k->w->srv->cfg.no_answer_ms; }

static inline int send_to(b2b_wk *k, unsigned tp, sig_conn_id conn, const sbc_addr *dst, const char *profile,
		   const void *buf, size_t len)
{
	if (tp != SIG_TP_UDP && conn)
		return sig_send_conn(k->w, conn, buf, len);
	return sig_send_addr(k->w, (enum sig_tp)tp, dst, profile && profile[0] ? profile : NULL, NULL, buf, len);
}


/* b2b_engine.c */
b2b_limit *b2b_limit_for(const char *trunk);
int inbound_get(const char *trunk, int tp, inb_conn *out);
void inbound_forget(const char *trunk, sig_conn_id conn);
int inbound_tp(const store_dest *d);
int media_hello(b2b_wk *k, unsigned j);
int media_push(b2b_wk *k, unsigned j, unsigned type, const void *m, uint32_t len);
void media_delete_all(b2b_cl *c);
void cid_link(b2b_cl *c, int leg);
void cid_unlink(b2b_cl *c, int leg);
b2b_cl *b2b_find_by_cid(b2b_wk *k, sip_sv cid, int *leg);
b2b_cl *b2b_find_by_id(b2b_wk *k, uint64_t id);
void reinv_done(b2b_cl *c);
void dly_done(b2b_cl *c);
void call_unref(b2b_cl *c);
void answer_plain(b2b_wk *k, const sig_rx *rx, txn *t, const sip_msg *req, int status, const char *extra);
int b2b_server_txn(b2b_wk *k, const sig_rx *rx, const sip_msg *req, txn **t, tx_ctx **x);
int media_create(b2b_cl *c);
int media_create_new_streams(b2b_cl *c);
void media_drop_declined(b2b_cl *c);
void media_wait_arm(b2b_cl *c);
void media_wait_check(b2b_cl *c, tx_ctx *a, uint64_t now);
void reinv_media_lost(b2b_cl *c);
void bye_both_legs(b2b_cl *c, int cause, const char *reason, const char *rsn);
int b2b_token_owner(sip_sv t, size_t prefix);
void b2b_ring_hook(sig_worker *w, void *arg);

/* b2b_ctx.c */
tx_ctx *ctx_new(b2b_wk *k);
void wheel_unlink(b2b_wk *k, tx_ctx *c);
void wheel_insert(b2b_wk *k, tx_ctx *c);
void ctx_release_dead(b2b_wk *k, int to_pool);
void ctx_free(tx_ctx *c);
void ctx_bind(tx_ctx *c, b2b_cl *call, enum ctx_role role);
tx_ctx *ctx_for_leg(b2b_cl *c, int leg, b2b_cl *bind, enum ctx_role role);
void ctx_reschedule(tx_ctx *c);
uint64_t b2b_env_now(void *ctx);
void b2b_env_arm(void *ctx, txn *t, enum txn_timer tm, uint32_t ms);
void b2b_env_cancel(void *ctx, txn *t, enum txn_timer tm);
int b2b_env_send(void *ctx, txn *t, const char *buf, size_t len);
void b2b_on_terminated(void *ctx, txn *t);
int b2b_client_start(b2b_wk *k, const char *buf, size_t n, int reliable, tx_ctx *x);

/* b2b_records.c */
uint64_t b2b_wall_ms(void);
void call_event(b2b_cl *c, const char *ev, int cause, const char *reason);
void call_end(b2b_cl *c, int cause, const char *reason);
void wk_flush(b2b_wk *k);
void b2b_flush_cb(uv_prepare_t *h);
void respond_a(b2b_cl *c, int status, const char *extra);
int b2b_local_for(b2b_wk *k, unsigned tp, const sbc_addr *dst, sbc_addr *out);
void leg_request(b2b_cl *c, int leg, enum sip_method m);
void leg_bye(b2b_cl *c, int leg, const char *rsn);
void leg_request_ex(b2b_cl *c, int leg, enum sip_method m, const char *const *ex, unsigned nex,
			   const b2b_body *body);
void fail_a(b2b_cl *c, int status, const char *extra);
int make_offer(b2b_cl *c);

/* b2b_outbound.c */
void trunk_count(b2b_wk *k, const char *trunk, enum sig_trunk_stat st);
void b2b_txn_publish(b2b_wk *k, unsigned live);
void b2b_ping_cb(uv_timer_t *h);
void b2b_ping_closed(uv_handle_t *h);
void out_limit_drop(b2b_cl *c);
int next_route(b2b_cl *c);
void attempt_failed(b2b_cl *c, int status, int retry_after, const sip_msg *rsp);
int next_target(b2b_cl *c);
void send_b_invite(b2b_cl *c);
void mirror_to_a(b2b_cl *c, const sip_msg *rsp, int with_body);
void cancel_b_invite(b2b_wk *k, tx_ctx *x, const char *const *rsn, unsigned n_rsn);
void b2b_on_response(void *ctx, txn *t, const sip_msg *rsp);
void b2b_on_timeout(void *ctx, txn *t);
int bye_a_must_wait(const b2b_cl *c);
void bye_a_hold(b2b_cl *c, const char *const *rl, unsigned n, int cause, const char *reason);
void bye_a_held_send(b2b_cl *c);
void b2b_on_ack(void *ctx, txn *t, const sip_msg *ack);
void b2b_send_failed(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err,
			uint64_t at_ns, const sig_icmp_quote *icmp);

/* b2b_indialog.c */
void session_timer_arm(b2b_cl *c, const sip_msg *rsp);
void session_expired(b2b_cl *c);
void media_event(b2b_wk *k, unsigned j, const sbc_msg_media_event *e);
void call_cancel(b2b_cl *c, const char *const *rsn, unsigned n_rsn);
void reinv_answer(b2b_cl *c, const sip_msg *rsp, int status, const char *sdp, int sdp_len);
int apply_answer(b2b_cl *c, const sdp_session *ans, int leg);
void reinv_ack(b2b_cl *c, txn *t, const sip_msg *ack);
void reinv_streams_ready(b2b_cl *c);
void reinv_response(b2b_cl *c, txn *t, const sip_msg *rsp);
void follow_a_conn(b2b_cl *c, int leg, const sig_rx *rx);
void b2b_in_dialog(b2b_wk *k, const sig_rx *rx, const sip_msg *req);
void b2b_cancel_req(b2b_wk *k, const sig_rx *rx, const sip_msg *req);

/* b2b_delayed.c */
int delayed_offer(b2b_cl *c, const sip_msg *rsp);
int delayed_answer(b2b_cl *c, b2b_reinv *ri, const sip_msg *ack);
void b_offer(b2b_cl *c, tx_ctx *x, const sip_msg *rsp);
void b_offer_to_a(b2b_cl *c);
void dly_answer(b2b_cl *c, const sip_msg *ack);
void b_ack_release(b2b_cl *c);

#endif
