/* Unit tests for the transaction layer (txn_layer.h): every timer path of
 * the four state machines over UDP and over a reliable transport, driven by
 * a virtual clock; matching of responses and requests; CANCEL targeting;
 * stale timers; re-entrant callbacks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/txn_layer.h"

#define MAXT 1200

typedef struct fake {
	uint64_t now;
	struct {
		txn *t;
		int tm;
		uint64_t at;
		int live;
	} tmr[MAXT];
	int sends;
	uint64_t send_at[128];
	char last[4096];
	size_t last_len;
	int up, up_status, timeouts, terminated, acks;
	int send_fail;
	int error_in_callback; /* on_response: transport error on the same txn */
	txn_table *tbl;
} fake;

static fake F;

static uint64_t f_now(void *ctx) { return ((fake *)ctx)->now; }

static void f_arm(void *ctx, txn *t, enum txn_timer tm, uint32_t ms)
{
	fake *f = ctx;
	int free_slot = -1;
	for (int i = 0; i < MAXT; i++) {
		if (f->tmr[i].live && f->tmr[i].t == t && f->tmr[i].tm == (int)tm) {
			f->tmr[i].at = f->now + ms;
			return;
		}
		if (!f->tmr[i].live && free_slot < 0)
			free_slot = i;
	}
	assert_true(free_slot >= 0);
	f->tmr[free_slot].t = t;
	f->tmr[free_slot].tm = (int)tm;
	f->tmr[free_slot].at = f->now + ms;
	f->tmr[free_slot].live = 1;
}

static void f_cancel(void *ctx, txn *t, enum txn_timer tm)
{
	fake *f = ctx;
	for (int i = 0; i < MAXT; i++)
		if (f->tmr[i].live && f->tmr[i].t == t && f->tmr[i].tm == (int)tm)
			f->tmr[i].live = 0;
}

static int f_send(void *ctx, txn *t, const char *buf, size_t len)
{
	fake *f = ctx;
	(void)t;
	if (f->send_fail)
		return -ECONNRESET;
	if (f->sends < 128)
		f->send_at[f->sends] = f->now;
	f->sends++;
	assert_true(len < sizeof(f->last));
	memcpy(f->last, buf, len);
	f->last[len] = 0;
	f->last_len = len;
	return 0;
}

static void f_on_response(void *ctx, txn *t, const sip_msg *rsp)
{
	fake *f = ctx;
	f->up++;
	f->up_status = rsp->status;
	if (f->error_in_callback)
		txn_transport_error(f->tbl, t);
}

static void f_on_timeout(void *ctx, txn *t)
{
	(void)t;
	((fake *)ctx)->timeouts++;
}

static void f_on_ack(void *ctx, txn *t, const sip_msg *ack)
{
	(void)t;
	assert_int_equal(ack->method, SIP_M_ACK);
	((fake *)ctx)->acks++;
}

static void f_on_terminated(void *ctx, txn *t)
{
	fake *f = ctx;
	f->terminated++;
	for (int i = 0; i < MAXT; i++) /* nothing may stay armed for a dead txn */
		assert_false(f->tmr[i].live && f->tmr[i].t == t);
}

static int live_timers(void)
{
	int n = 0;
	for (int i = 0; i < MAXT; i++)
		n += F.tmr[i].live;
	return n;
}

static int armed(txn *t, enum txn_timer tm)
{
	for (int i = 0; i < MAXT; i++)
		if (F.tmr[i].live && F.tmr[i].t == t && F.tmr[i].tm == (int)tm)
			return 1;
	return 0;
}

/* Fires every timer due up to now + ms, in deadline order. */
static void advance(uint64_t ms)
{
	uint64_t target = F.now + ms;
	for (;;) {
		int best = -1;
		for (int i = 0; i < MAXT; i++)
			if (F.tmr[i].live && F.tmr[i].at <= target && (best < 0 || F.tmr[i].at < F.tmr[best].at))
				best = i;
		if (best < 0)
			break;
		F.now = F.tmr[best].at;
		F.tmr[best].live = 0;
		txn_timer_fire(F.tbl, F.tmr[best].t, (enum txn_timer)F.tmr[best].tm);
	}
	F.now = target;
}

/* The transaction's last timer (D, I, K or M) ends it exactly ms from now:
 * not a millisecond earlier, and as a normal end (no timeout reported). */
static void assert_ends_after(uint64_t ms)
{
	advance(ms - 1);
	assert_int_equal(F.terminated, 0);
	advance(1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(F.timeouts, 0);
}

static int setup(void **state)
{
	(void)state;
	memset(&F, 0, sizeof(F));
	F.now = 1000000;
	txn_env env = {.ctx = &F, .now_ms = f_now, .arm = f_arm, .cancel = f_cancel, .send = f_send,
		       .on_response = f_on_response, .on_timeout = f_on_timeout, .on_terminated = f_on_terminated,
		       .on_ack = f_on_ack};
	F.tbl = txn_table_create(&env, NULL, 64);
	return F.tbl ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	txn_table_destroy(F.tbl);
	return 0;
}

static char reqbuf[2048];

static const char *request(const char *method, const char *branch, const char *sentby)
{
	snprintf(reqbuf, sizeof(reqbuf),
		 "%s sip:b@198.51.100.1 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP %s;branch=%s\r\n"
		 "From: <sip:a@192.0.2.1>;tag=f1\r\n"
		 "To: <sip:b@198.51.100.1>\r\n"
		 "Call-ID: txn-test\r\n"
		 "CSeq: 1 %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 method, sentby, branch, method);
	return reqbuf;
}

static sip_msg P; /* parsed message handed to the layer */

static sip_msg *response(int status, const char *method, const char *branch)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf),
		 "SIP/2.0 %d X\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.1;branch=%s\r\n"
		 "From: <sip:a@192.0.2.1>;tag=f1\r\n"
		 "To: <sip:b@198.51.100.1>;tag=t9\r\n"
		 "Call-ID: txn-test\r\n"
		 "CSeq: 1 %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 status, branch, method);
	assert_int_equal(sip_parse(buf, strlen(buf), &P), 0);
	return &P;
}

static sip_msg *parsed_request(const char *method, const char *branch, const char *sentby)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf), "%s", request(method, branch, sentby));
	assert_int_equal(sip_parse(buf, strlen(buf), &P), 0);
	return &P;
}

static txn *start_client(const char *method, const char *branch, int reliable)
{
	txn *t = NULL;
	const char *r = request(method, branch, "192.0.2.1");
	assert_int_equal(txn_client_start(F.tbl, r, strlen(r), reliable, NULL, &t), 0);
	assert_non_null(t);
	return t;
}

/* ---- client INVITE ---------------------------------------------------------- */

static void test_client_invite_timer_a_b_udp(void **state)
{
	(void)state;
	uint64_t t0 = F.now;
	txn *t = start_client("INVITE", "z9hG4bKci1", 0);
	assert_int_equal(txn_get_state(t), TXN_S_CALLING);
	assert_true(armed(t, TXN_T_A));
	assert_true(armed(t, TXN_T_B));
	advance(31999);
	/* sends at 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s (A doubles, no cap) */
	assert_int_equal(F.sends, 7);
	static const uint64_t at[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
	for (int i = 0; i < 7; i++)
		assert_int_equal(F.send_at[i] - t0, at[i]);
	assert_int_equal(F.timeouts, 0);
	advance(1); /* B = 64*T1 */
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(txn_table_count(F.tbl), 0);
	assert_int_equal(live_timers(), 0);
}

static void test_client_invite_reliable_no_retransmit(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKci2", 1);
	assert_false(armed(t, TXN_T_A));
	assert_true(armed(t, TXN_T_B));
	advance(31999);
	assert_int_equal(F.sends, 1);
	advance(1);
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(txn_table_count(F.tbl), 0);
}

static void test_client_invite_provisional_then_2xx(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKci3", 0);
	advance(600); /* one retransmission */
	assert_int_equal(F.sends, 2);
	assert_int_equal(txn_recv_response(F.tbl, response(180, "INVITE", "z9hG4bKci3")), 1);
	assert_int_equal(txn_get_state(t), TXN_S_PROCEEDING);
	assert_int_equal(F.up, 1);
	assert_int_equal(live_timers(), 0); /* A and B stop in Proceeding */
	advance(60000);
	assert_int_equal(F.sends, 2);
	assert_int_equal(F.timeouts, 0);
	assert_int_equal(txn_recv_response(F.tbl, response(200, "INVITE", "z9hG4bKci3")), 1);
	assert_int_equal(F.up, 2);
	assert_int_equal(F.up_status, 200);
	assert_int_equal(txn_get_state(t), TXN_S_ACCEPTED);
	assert_true(armed(t, TXN_T_M));
	/* RFC 6026: a 2xx retransmission (or another fork's) goes up again */
	assert_int_equal(txn_recv_response(F.tbl, response(200, "INVITE", "z9hG4bKci3")), 1);
	assert_int_equal(F.up, 3);
	/* a late error is not */
	assert_int_equal(txn_recv_response(F.tbl, response(500, "INVITE", "z9hG4bKci3")), 1);
	assert_int_equal(F.up, 3);
	assert_int_equal(F.sends, 2); /* the transaction never ACKs a 2xx */
	assert_ends_after(32000); /* M = 64*T1 */
	assert_int_equal(txn_recv_response(F.tbl, response(200, "INVITE", "z9hG4bKci3")), 0);
}

static void test_client_invite_non2xx_ack_and_timer_d(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKci4", 0);
	assert_int_equal(txn_recv_response(F.tbl, response(486, "INVITE", "z9hG4bKci4")), 1);
	assert_int_equal(txn_get_state(t), TXN_S_COMPLETED);
	assert_int_equal(txn_last_status(t), 486);
	assert_int_equal(F.up, 1);
	assert_int_equal(F.sends, 2); /* INVITE + ACK */
	assert_non_null(strstr(F.last, "ACK sip:b@198.51.100.1 SIP/2.0\r\n"));
	assert_non_null(strstr(F.last, "branch=z9hG4bKci4"));
	assert_non_null(strstr(F.last, "CSeq: 1 ACK\r\n"));
	assert_non_null(strstr(F.last, ";tag=t9"));
	assert_true(armed(t, TXN_T_D));
	/* retransmitted 486: ACK again, not passed up */
	assert_int_equal(txn_recv_response(F.tbl, response(486, "INVITE", "z9hG4bKci4")), 1);
	assert_int_equal(F.sends, 3);
	assert_int_equal(F.up, 1);
	assert_ends_after(32000); /* D = 32 s */
	assert_int_equal(live_timers(), 0);
}

static void test_client_invite_non2xx_reliable_d_zero(void **state)
{
	(void)state;
	start_client("INVITE", "z9hG4bKci5", 1);
	assert_int_equal(txn_recv_response(F.tbl, response(503, "INVITE", "z9hG4bKci5")), 1);
	assert_int_equal(F.sends, 2); /* ACK still sent */
	assert_int_equal(F.up, 1);
	assert_int_equal(F.terminated, 1); /* D = 0 */
	assert_int_equal(txn_table_count(F.tbl), 0);
	assert_int_equal(live_timers(), 0);
}

/* ---- client non-INVITE ---------------------------------------------------------- */

static void test_client_non_invite_timer_e_f_udp(void **state)
{
	(void)state;
	uint64_t t0 = F.now;
	start_client("OPTIONS", "z9hG4bKcn1", 0);
	advance(31999);
	/* E: 0.5, 1, 2, 4, 4, 4 ... capped at T2 */
	static const uint64_t at[] = {0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
	assert_int_equal(F.sends, 11);
	for (int i = 0; i < 11; i++)
		assert_int_equal(F.send_at[i] - t0, at[i]);
	advance(1); /* F */
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(live_timers(), 0);
}

static void test_client_non_invite_proceeding_then_k(void **state)
{
	(void)state;
	uint64_t t0 = F.now;
	txn *t = start_client("BYE", "z9hG4bKcn2", 0);
	advance(600);
	assert_int_equal(txn_recv_response(F.tbl, response(100, "BYE", "z9hG4bKcn2")), 1);
	assert_int_equal(txn_get_state(t), TXN_S_PROCEEDING);
	assert_int_equal(F.up, 1);
	advance(6000); /* to 6.6 s */
	/* 0, 0.5, then at 1.5 (E was armed for 1 s before the 100), then every T2 */
	assert_int_equal(F.sends, 4);
	assert_int_equal(F.send_at[2] - t0, 1500);
	assert_int_equal(F.send_at[3] - t0, 5500);
	advance(4000);
	assert_int_equal(F.sends, 5);
	assert_int_equal(F.send_at[4] - t0, 9500);
	assert_int_equal(txn_recv_response(F.tbl, response(200, "BYE", "z9hG4bKcn2")), 1);
	assert_int_equal(txn_get_state(t), TXN_S_COMPLETED);
	assert_int_equal(F.up, 2);
	assert_true(armed(t, TXN_T_K));
	assert_false(armed(t, TXN_T_E));
	assert_false(armed(t, TXN_T_F));
	/* retransmitted 200 absorbed */
	assert_int_equal(txn_recv_response(F.tbl, response(200, "BYE", "z9hG4bKcn2")), 1);
	assert_int_equal(F.up, 2);
	assert_ends_after(5000); /* K = T4 */
}

static void test_client_non_invite_reliable(void **state)
{
	(void)state;
	txn *t = start_client("BYE", "z9hG4bKcn3", 1);
	assert_false(armed(t, TXN_T_E));
	assert_true(armed(t, TXN_T_F));
	assert_int_equal(txn_recv_response(F.tbl, response(200, "BYE", "z9hG4bKcn3")), 1);
	assert_int_equal(F.terminated, 1); /* K = 0 */
	assert_int_equal(F.sends, 1);
	/* and F fires over TCP too */
	start_client("BYE", "z9hG4bKcn4", 1);
	advance(32000);
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(F.sends, 2);
}

/* ---- server INVITE ------------------------------------------------------------------ */

static const char RESP486[] = "SIP/2.0 486 Busy Here\r\n...";
static const char RESP100[] = "SIP/2.0 100 Trying\r\n...";
static const char RESP200[] = "SIP/2.0 200 OK\r\n...";

static txn *new_server(const char *method, const char *branch, int reliable)
{
	txn *t = NULL;
	assert_int_equal(txn_recv_request(F.tbl, parsed_request(method, branch, "192.0.2.9:5070"), reliable, NULL, &t),
			 TXN_RX_NEW);
	assert_non_null(t);
	return t;
}

static void test_server_invite_timer_g_h_udp(void **state)
{
	(void)state;
	txn *t = new_server("INVITE", "z9hG4bKsi1", 0), *again;
	uint64_t t0 = F.now;
	assert_int_equal(txn_get_state(t), TXN_S_PROCEEDING);
	/* retransmitted INVITE before any response: absorbed silently */
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKsi1", "192.0.2.9:5070"), 0, NULL, &again),
			 TXN_RX_ABSORBED);
	assert_ptr_equal(again, t);
	assert_int_equal(F.sends, 0);
	assert_int_equal(txn_respond(F.tbl, t, 100, RESP100, sizeof(RESP100) - 1), 0);
	assert_int_equal(F.sends, 1);
	/* retransmitted INVITE in Proceeding: the 100 again */
	txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKsi1", "192.0.2.9:5070"), 0, NULL, &again);
	assert_int_equal(F.sends, 2);
	assert_string_equal(F.last, RESP100);
	assert_int_equal(txn_respond(F.tbl, t, 486, RESP486, sizeof(RESP486) - 1), 0);
	assert_int_equal(txn_get_state(t), TXN_S_COMPLETED);
	assert_int_equal(F.sends, 3);
	assert_int_equal(txn_respond(F.tbl, t, 500, RESP486, sizeof(RESP486) - 1), SBC_E_STATE);
	advance(31999);
	/* G: 0.5, 1, 2, 4, 4, ... capped at T2 -> at .5 1.5 3.5 7.5 11.5 ... 31.5 */
	assert_int_equal(F.sends, 3 + 10);
	assert_int_equal(F.send_at[3] - t0, 500);
	assert_int_equal(F.send_at[12] - t0, 31500);
	assert_string_equal(F.last, RESP486);
	assert_int_equal(F.timeouts, 0);
	advance(1); /* H: no ACK */
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(live_timers(), 0);
}

static void test_server_invite_ack_timer_i(void **state)
{
	(void)state;
	txn *t = new_server("INVITE", "z9hG4bKsi2", 0), *m;
	txn_respond(F.tbl, t, 486, RESP486, sizeof(RESP486) - 1);
	advance(700);
	assert_int_equal(F.sends, 2);
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKsi2", "192.0.2.9:5070"), 0, NULL, &m),
			 TXN_RX_ABSORBED);
	assert_ptr_equal(m, t);
	assert_int_equal(txn_get_state(t), TXN_S_CONFIRMED);
	assert_false(armed(t, TXN_T_G));
	assert_false(armed(t, TXN_T_H));
	assert_true(armed(t, TXN_T_I));
	/* more ACKs and INVITE retransmissions are absorbed silently */
	txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKsi2", "192.0.2.9:5070"), 0, NULL, &m);
	txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKsi2", "192.0.2.9:5070"), 0, NULL, &m);
	assert_int_equal(F.sends, 2);
	assert_ends_after(5000); /* I = T4 */
}

static void test_server_invite_reliable(void **state)
{
	(void)state;
	txn *t = new_server("INVITE", "z9hG4bKsi3", 1), *m;
	txn_respond(F.tbl, t, 486, RESP486, sizeof(RESP486) - 1);
	assert_false(armed(t, TXN_T_G));
	assert_true(armed(t, TXN_T_H));
	advance(10000);
	assert_int_equal(F.sends, 1);
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKsi3", "192.0.2.9:5070"), 1, NULL, &m),
			 TXN_RX_ABSORBED);
	assert_int_equal(F.terminated, 1); /* I = 0 */
	/* H over TCP */
	t = new_server("INVITE", "z9hG4bKsi4", 1);
	txn_respond(F.tbl, t, 603, RESP486, sizeof(RESP486) - 1);
	advance(32000);
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(F.terminated, 2);
}

static void test_server_invite_2xx_and_ack_2xx(void **state)
{
	(void)state;
	txn *t = new_server("INVITE", "z9hG4bKsi5", 0), *m;
	uint64_t t0 = F.now;
	txn_respond(F.tbl, t, 180, RESP100, sizeof(RESP100) - 1);
	assert_int_equal(txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1), 0);
	assert_int_equal(txn_get_state(t), TXN_S_ACCEPTED);
	assert_true(armed(t, TXN_T_G));
	assert_true(armed(t, TXN_T_L));
	/* the 2xx is retransmitted until the ACK: at .5 and 1.5 s */
	advance(2000);
	assert_int_equal(F.sends, 4);
	assert_int_equal(F.send_at[3] - t0, 1500);
	assert_string_equal(F.last, RESP200);
	/* an INVITE retransmission is absorbed silently */
	txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKsi5", "192.0.2.9:5070"), 0, NULL, &m);
	assert_int_equal(F.sends, 4);
	/* a second 2xx from the TU is allowed, anything else is not */
	assert_int_equal(txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1), 0);
	assert_int_equal(F.sends, 5);
	assert_int_equal(txn_respond(F.tbl, t, 486, RESP486, sizeof(RESP486) - 1), SBC_E_STATE);
	/* the ACK to the 2xx has its own branch: matched on the dialog */
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKack2xx", "192.0.2.9:5070"), 0, NULL, &m),
			 TXN_RX_ACK_2XX);
	assert_null(m);
	assert_int_equal(F.acks, 1);
	/* RFC 6026: still Accepted until Timer L, no more 2xx retransmission */
	assert_int_equal(F.terminated, 0);
	assert_int_equal(txn_get_state(t), TXN_S_ACCEPTED);
	assert_false(armed(t, TXN_T_G));
	assert_true(armed(t, TXN_T_L));
	assert_int_equal(txn_table_count(F.tbl), 1);
	/* a duplicate of the INVITE after the ACK is absorbed by this
	 * transaction (never TXN_RX_NEW: that would be a new call) */
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKsi5", "192.0.2.9:5070"), 0, NULL, &m),
			 TXN_RX_ABSORBED);
	assert_ptr_equal(m, t);
	advance(8000);
	assert_int_equal(F.sends, 5);
	/* a second ACK (the caller saw a 2xx again) goes up too */
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKack2xx", "192.0.2.9:5070"), 0, NULL, &m),
			 TXN_RX_ACK_2XX);
	assert_int_equal(F.acks, 2);
	/* L (64*T1 from the first 2xx) ends it, silently: the call is fine */
	advance(32000 - (F.now - t0) - 1);
	assert_int_equal(F.terminated, 0);
	advance(1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(F.timeouts, 0);
	assert_int_equal(F.sends, 5);
	assert_int_equal(live_timers(), 0);
	assert_int_equal(txn_table_count(F.tbl), 0);
	/* now a late ACK matches nothing */
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKack2xx", "192.0.2.9:5070"), 0, NULL, &m),
			 TXN_RX_NO_MATCH);
}

/* A duplicate INVITE (same branch) right after the ACK, for every
 * transport: matched and absorbed, also over TCP where nothing is
 * retransmitted; a transport error while lingering is no timeout. */
static void test_server_invite_duplicate_after_ack(void **state)
{
	(void)state;
	for (int reliable = 0; reliable <= 1; reliable++) {
		const char *br = reliable ? "z9hG4bKdupT" : "z9hG4bKdupU";
		txn *t = new_server("INVITE", br, reliable), *m = NULL;
		int sends = F.sends, term = F.terminated;
		assert_int_equal(txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1), 0);
		assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKa", "192.0.2.9:5070"), reliable,
						  NULL, &m),
				 TXN_RX_ACK_2XX);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", br, "192.0.2.9:5070"), reliable,
							  NULL, &m),
					 TXN_RX_ABSORBED);
			assert_ptr_equal(m, t);
		}
		assert_int_equal(F.sends, sends + 1); /* only the first 2xx */
		assert_int_equal(F.terminated, term);
		if (reliable) {
			/* the connection drops while lingering: ended, no on_timeout
			 * (which would make the TU hang up a confirmed call) */
			txn_transport_error(F.tbl, t);
			assert_int_equal(F.terminated, term + 1);
		} else {
			advance(32000);
			assert_int_equal(F.terminated, term + 1);
		}
		assert_int_equal(F.timeouts, 0);
		assert_int_equal(txn_table_count(F.tbl), 0);
	}
	assert_int_equal(live_timers(), 0);
}

static void test_server_invite_2xx_timer_l(void **state)
{
	(void)state;
	txn *t = new_server("INVITE", "z9hG4bKsi6", 0), *m;
	txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1);
	advance(31999);
	assert_int_equal(F.sends, 1 + 10); /* G schedule as for a final error */
	assert_int_equal(F.timeouts, 0);
	advance(1); /* L: no ACK -> the TU sends BYE */
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(F.terminated, 1);
	/* reliable: no retransmission, the ACK ends it */
	t = new_server("INVITE", "z9hG4bKsi7", 1);
	txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1);
	assert_false(armed(t, TXN_T_G));
	assert_true(armed(t, TXN_T_L));
	advance(10000);
	assert_int_equal(F.sends, 12);
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("ACK", "z9hG4bKother", "192.0.2.9:5070"), 1, NULL, &m),
			 TXN_RX_ACK_2XX);
	assert_int_equal(F.acks, 1);
	/* Timer L applies over reliable transports too (RFC 6026) */
	assert_int_equal(F.terminated, 1);
	assert_true(armed(t, TXN_T_L));
	advance(22000);
	assert_int_equal(F.terminated, 2);
	assert_int_equal(F.timeouts, 1);
	assert_string_equal(txn_state_name(TXN_S_ACCEPTED), "accepted");
	assert_string_equal(txn_timer_name(TXN_T_M), "M");
}

/* ---- server non-INVITE ---------------------------------------------------------------- */

static void test_server_non_invite_timer_j(void **state)
{
	(void)state;
	txn *t = new_server("BYE", "z9hG4bKsn1", 0), *m;
	assert_int_equal(txn_get_state(t), TXN_S_TRYING);
	txn_recv_request(F.tbl, parsed_request("BYE", "z9hG4bKsn1", "192.0.2.9:5070"), 0, NULL, &m);
	assert_int_equal(F.sends, 0); /* Trying: absorbed */
	txn_respond(F.tbl, t, 100, RESP100, sizeof(RESP100) - 1);
	assert_int_equal(txn_get_state(t), TXN_S_PROCEEDING);
	txn_recv_request(F.tbl, parsed_request("BYE", "z9hG4bKsn1", "192.0.2.9:5070"), 0, NULL, &m);
	assert_int_equal(F.sends, 2);
	txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1);
	assert_int_equal(txn_get_state(t), TXN_S_COMPLETED);
	assert_true(armed(t, TXN_T_J));
	txn_recv_request(F.tbl, parsed_request("BYE", "z9hG4bKsn1", "192.0.2.9:5070"), 0, NULL, &m);
	assert_int_equal(F.sends, 4);
	assert_string_equal(F.last, RESP200);
	advance(31999);
	assert_int_equal(F.terminated, 0);
	assert_int_equal(F.sends, 4); /* no retransmission timer for non-INVITE */
	advance(1);
	assert_int_equal(F.terminated, 1);
	/* reliable: J = 0; the response goes out (sent from the caller's
	 * buffer: nothing keeps a copy) and the transaction is gone */
	t = new_server("BYE", "z9hG4bKsn2", 1);
	unsigned count = txn_table_count(F.tbl);
	txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1);
	assert_int_equal(F.sends, 5);
	assert_string_equal(F.last, RESP200);
	assert_int_equal(F.terminated, 2);
	assert_int_equal(txn_table_count(F.tbl), count - 1);
	assert_int_equal(live_timers(), 0);
	/* after a provisional, too */
	t = new_server("BYE", "z9hG4bKsn3", 1);
	txn_respond(F.tbl, t, 100, RESP100, sizeof(RESP100) - 1);
	assert_int_equal(txn_get_state(t), TXN_S_PROCEEDING);
	txn_respond(F.tbl, t, 200, RESP200, sizeof(RESP200) - 1);
	assert_int_equal(F.sends, 7);
	assert_string_equal(F.last, RESP200);
	assert_int_equal(F.terminated, 3);
	assert_int_equal(live_timers(), 0);
}

/* ---- matching -------------------------------------------------------------------------------- */

static void test_matching(void **state)
{
	(void)state;
	txn *inv = start_client("INVITE", "z9hG4bKm1", 0);
	txn *can = start_client("CANCEL", "z9hG4bKm1", 0); /* same branch, other method */
	assert_ptr_not_equal(inv, can);
	/* unknown branch, or the right branch with another method: no match */
	assert_int_equal(txn_recv_response(F.tbl, response(200, "INVITE", "z9hG4bKother")), 0);
	assert_int_equal(txn_recv_response(F.tbl, response(200, "BYE", "z9hG4bKm1")), 0);
	/* 200 to the CANCEL goes to the CANCEL transaction only */
	assert_int_equal(txn_recv_response(F.tbl, response(200, "CANCEL", "z9hG4bKm1")), 1);
	assert_int_equal(txn_get_state(can), TXN_S_COMPLETED);
	assert_int_equal(txn_get_state(inv), TXN_S_CALLING);
	assert_int_equal(txn_recv_response(F.tbl, response(487, "INVITE", "z9hG4bKm1")), 1);
	assert_int_equal(txn_get_state(inv), TXN_S_COMPLETED);
	/* the same key twice is refused */
	txn *dup;
	const char *r = request("OPTIONS", "z9hG4bKm2", "192.0.2.1");
	assert_int_equal(txn_client_start(F.tbl, r, strlen(r), 0, NULL, &dup), 0);
	assert_int_equal(txn_client_start(F.tbl, r, strlen(r), 0, NULL, &dup), SBC_E_EXISTS);
	/* server: same branch from another sent-by is another transaction */
	txn *s1 = NULL, *s2 = NULL;
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKm3", "192.0.2.9:5070"), 0, NULL, &s1),
			 TXN_RX_NEW);
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKm3", "192.0.2.10:5070"), 0, NULL, &s2),
			 TXN_RX_NEW);
	assert_ptr_not_equal(s1, s2);
	/* sent-by host compares case-insensitively */
	txn *s3 = NULL;
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKm4", "PBX.Example.com"), 0, NULL, &s3),
			 TXN_RX_NEW);
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKm4", "pbx.example.COM"), 0, NULL, &s2),
			 TXN_RX_ABSORBED);
	assert_ptr_equal(s2, s3);
	/* CANCEL: its own server transaction, and it finds the INVITE */
	txn *c = NULL;
	sip_msg *cm = parsed_request("CANCEL", "z9hG4bKm3", "192.0.2.9:5070");
	assert_ptr_equal(txn_find_cancel_target(F.tbl, cm), s1);
	assert_int_equal(txn_recv_request(F.tbl, cm, 0, NULL, &c), TXN_RX_NEW);
	assert_int_equal(txn_get_kind(c), TXN_SERVER_NON_INVITE);
	assert_null(txn_find_cancel_target(F.tbl, parsed_request("CANCEL", "z9hG4bKnone", "192.0.2.9:5070")));
	assert_null(txn_find_cancel_target(F.tbl, parsed_request("BYE", "z9hG4bKm3", "192.0.2.9:5070")));
	/* RFC 2543 branch (no cookie): matched on Call-ID/CSeq/From tag/sent-by */
	txn *o1 = NULL, *o2 = NULL;
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "old1", "192.0.2.20"), 0, NULL, &o1), TXN_RX_NEW);
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "old2", "192.0.2.20"), 0, NULL, &o2),
			 TXN_RX_ABSORBED);
	assert_ptr_equal(o1, o2);
	/* a client request without a branch cannot start a transaction */
	const char *nob = "OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
			  "Call-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
	assert_int_equal(txn_client_start(F.tbl, nob, strlen(nob), 0, NULL, &dup), SBC_E_INVAL);
	assert_int_equal(txn_client_start(F.tbl, "garbage", 7, 0, NULL, &dup), sbc_err_sip(400));
}

/* ---- robustness ------------------------------------------------------------------------------- */

static void test_stale_and_early_timers(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKst1", 0);
	/* a timer that is not armed: ignored */
	txn_timer_fire(F.tbl, t, TXN_T_D);
	txn_timer_fire(F.tbl, t, TXN_T_MAX_);
	assert_int_equal(txn_get_state(t), TXN_S_CALLING);
	assert_int_equal(F.sends, 1);
	/* an early fire of A is re-armed for the remainder */
	F.now += 200;
	txn_timer_fire(F.tbl, t, TXN_T_A);
	assert_int_equal(F.sends, 1);
	assert_true(armed(t, TXN_T_A));
	advance(300);
	assert_int_equal(F.sends, 2);
}

static void test_transport_errors(void **state)
{
	(void)state;
	txn *t;
	/* send fails at start: timeout reported, nothing left behind */
	F.send_fail = 1;
	const char *r = request("INVITE", "z9hG4bKte1", "192.0.2.1");
	assert_int_equal(txn_client_start(F.tbl, r, strlen(r), 1, NULL, &t), -ECONNRESET);
	assert_null(t);
	assert_int_equal(F.timeouts, 1);
	assert_int_equal(txn_table_count(F.tbl), 0);
	F.send_fail = 0;
	/* the TU kills the transaction from inside its own callback */
	t = start_client("INVITE", "z9hG4bKte2", 0);
	F.error_in_callback = 1;
	assert_int_equal(txn_recv_response(F.tbl, response(183, "INVITE", "z9hG4bKte2")), 1);
	F.error_in_callback = 0;
	assert_int_equal(F.timeouts, 2);
	assert_int_equal(txn_table_count(F.tbl), 0);
	assert_int_equal(live_timers(), 0);
	/* server response send failure */
	t = new_server("INVITE", "z9hG4bKte3", 1);
	F.send_fail = 1;
	assert_int_equal(txn_respond(F.tbl, t, 486, RESP486, sizeof(RESP486) - 1), -ECONNRESET);
	F.send_fail = 0;
	assert_int_equal(F.timeouts, 3);
	assert_int_equal(txn_table_count(F.tbl), 0);
	/* many transactions: the table grows and empties */
	char br[32];
	for (int i = 0; i < 500; i++) {
		snprintf(br, sizeof(br), "z9hG4bKmany%d", i);
		start_client("OPTIONS", br, 1);
	}
	assert_int_equal(txn_table_count(F.tbl), 500);
	advance(32000);
	assert_int_equal(txn_table_count(F.tbl), 0);
	assert_string_equal(txn_state_name(TXN_S_CONFIRMED), "confirmed");
	assert_string_equal(txn_timer_name(TXN_T_K), "K");
}

/* RFC 3261 9.1: the TU CANCELs a ringing INVITE; the peer never sends a
 * final response (nor a 487): the transaction ends 64*T1 after the CANCEL,
 * silently (no timeout for the TU: it gave the INVITE up already). Without
 * the CANCEL, Proceeding waits for ever (that is the TU's Timer C's job). */
static void test_client_invite_cancelled_gives_up(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKcc1", 0);
	txn *u = start_client("INVITE", "z9hG4bKcc2", 0);
	assert_int_equal(txn_recv_response(F.tbl, response(180, "INVITE", "z9hG4bKcc1")), 1);
	assert_int_equal(txn_recv_response(F.tbl, response(180, "INVITE", "z9hG4bKcc2")), 1);
	assert_int_equal(live_timers(), 0);
	advance(10000); /* Timer C's wait: still nothing armed */
	txn_client_cancelled(F.tbl, t);
	txn_client_cancelled(F.tbl, t); /* once only: the deadline is not pushed back */
	assert_true(armed(t, TXN_T_B));
	assert_false(armed(u, TXN_T_B));
	advance(31999);
	assert_int_equal(F.terminated, 0);
	advance(1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(F.timeouts, 0);
	assert_int_equal(txn_table_count(F.tbl), 1); /* u, never cancelled, is still there */
	assert_int_equal(txn_recv_response(F.tbl, response(487, "INVITE", "z9hG4bKcc1")), 0);
	/* a final response after the CANCEL ends it the normal way */
	txn_client_cancelled(F.tbl, u);
	assert_int_equal(txn_recv_response(F.tbl, response(487, "INVITE", "z9hG4bKcc2")), 1);
	assert_false(armed(u, TXN_T_B));
	assert_int_equal(txn_get_state(u), TXN_S_COMPLETED);
	advance(32000); /* D */
	assert_int_equal(txn_table_count(F.tbl), 0);
	assert_int_equal(F.timeouts, 0);
}

/* CANCEL while still Calling (no provisional yet): Timer B from the start
 * stays; when it fires, the cancelled transaction ends without a timeout. */
static void test_client_invite_cancelled_in_calling(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKcc3", 0);
	advance(1000);
	txn_client_cancelled(F.tbl, t);
	advance(30999);
	assert_int_equal(F.terminated, 0);
	advance(1);
	assert_int_equal(F.terminated, 1);
	assert_int_equal(F.timeouts, 0);
	/* a non-INVITE is not affected */
	txn *o = start_client("OPTIONS", "z9hG4bKcc4", 0);
	txn_client_cancelled(F.tbl, o);
	advance(32000); /* F */
	assert_int_equal(F.timeouts, 1);
}

/* txn_find_client: by method and branch, client transactions only. */
static void test_find_client(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKfc1", 0);
	txn *o = start_client("OPTIONS", "z9hG4bKfc1", 0);
	assert_ptr_equal(txn_find_client(F.tbl, sip_sv_from("INVITE", 6), sip_sv_from("z9hG4bKfc1", 10)), t);
	assert_ptr_equal(txn_find_client(F.tbl, sip_sv_from("OPTIONS", 7), sip_sv_from("z9hG4bKfc1", 10)), o);
	assert_null(txn_find_client(F.tbl, sip_sv_from("INVITE", 6), sip_sv_from("z9hG4bKfc", 9)));
	assert_null(txn_find_client(F.tbl, sip_sv_from("BYE", 3), sip_sv_from("z9hG4bKfc1", 10)));
	assert_null(txn_find_client(F.tbl, sip_sv_from("", 0), sip_sv_from("z9hG4bKfc1", 10)));
	/* a server transaction with the same branch is not found */
	txn *s = NULL;
	assert_int_equal(txn_recv_request(F.tbl, parsed_request("INVITE", "z9hG4bKfc2", "192.0.2.9"), 0, NULL, &s),
			 TXN_RX_NEW);
	assert_null(txn_find_client(F.tbl, sip_sv_from("INVITE", 6), sip_sv_from("z9hG4bKfc2", 10)));
}

/* A peer that ignores our CANCEL but repeats its 180 (RFC 3261 13.3.1.1)
 * still loses the transaction 64*T1 after the CANCEL. */
static void test_client_invite_cancelled_then_1xx_again(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKrv1", 0);
	assert_int_equal(txn_recv_response(F.tbl, response(180, "INVITE", "z9hG4bKrv1")), 1);
	txn_client_cancelled(F.tbl, t);
	advance(1000);
	assert_int_equal(txn_recv_response(F.tbl, response(180, "INVITE", "z9hG4bKrv1")), 1);
	assert_true(armed(t, TXN_T_B));
	advance(1000000);
	assert_int_equal(F.terminated, 1);
}

/* CANCELled while still Calling, then the peer's 100: its Timer B stays. */
static void test_client_invite_cancelled_in_calling_then_100(void **state)
{
	(void)state;
	txn *t = start_client("INVITE", "z9hG4bKrv2", 0);
	txn_client_cancelled(F.tbl, t);
	assert_int_equal(txn_recv_response(F.tbl, response(100, "INVITE", "z9hG4bKrv2")), 1);
	assert_true(armed(t, TXN_T_B));
	advance(1000000);
	assert_int_equal(F.terminated, 1);
}

/* ---- hash flooding ---------------------------------------------------------------- */

/* The family of keys that collided for every seed under the unkeyed
 * multiply-xorshift hash (30b68e4): key i flips, for each set bit j of i,
 * bit 63 of 8-byte word 2j+1 (byte 8(2j+1)+7) and bits 31 and 63 of the
 * next word (bytes 8(2j+2)+3 and +7). At offset 8 starts the Call-ID of
 * an 'O' key ("O" "INVITE" 0x01, a Via without the z9hG4bK cookie). */
#define FLOOD_N 1024
#define FLOOD_CID 400

static void flood_callid(char *cid, unsigned i)
{
	memset(cid, 'a', FLOOD_CID);
	cid[FLOOD_CID] = 0;
	for (unsigned j = 0; j < 10; j++)
		if (i >> j & 1) {
			unsigned w = 2 * j + 1; /* key offset = Call-ID offset + 8 */
			cid[8 * w + 7 - 8] ^= (char)0x80;
			cid[8 * (w + 1) + 3 - 8] ^= (char)0x80;
			cid[8 * (w + 1) + 7 - 8] ^= (char)0x80;
		}
}

static void n_arm(void *c, txn *t, enum txn_timer tm, uint32_t ms) { (void)c, (void)t, (void)tm, (void)ms; }
static void n_cancel(void *c, txn *t, enum txn_timer tm) { (void)c, (void)t, (void)tm; }
static int n_send(void *c, txn *t, const char *b, size_t n) { (void)c, (void)t, (void)b, (void)n; return 0; }

/* The keyed hash spreads the family like any keys: over 4096 buckets
 * 1024 random keys fill ~906 (the old hash put all in one). */
static void test_hash_flood_family_spreads(void **state)
{
	(void)state;
	static unsigned short load[4096];
	static char key[8 + FLOOD_CID + 1]; /* flood_callid ends it with a NUL (not hashed) */
	const size_t klen = 8 + FLOOD_CID;
	unsigned used = 0, most = 0;
	memset(load, 0, sizeof(load));
	for (unsigned i = 0; i < FLOOD_N; i++) {
		memcpy(key, "OINVITE\x01", 8);
		flood_callid(key + 8, i);
		unsigned b = x__txn_key_hash(F.tbl, key, klen) & 4095;
		used += load[b]++ == 0;
		if (load[b] > most)
			most = load[b];
	}
	assert_true(used >= 800);
	assert_true(most <= 10);
	/* the family is not special: one key's neighbours differ too */
	memcpy(key, "OINVITE\x01", 8);
	flood_callid(key + 8, 0);
	uint32_t h0 = x__txn_key_hash(F.tbl, key, klen);
	key[8 + 7] ^= (char)0x80, key[16 + 3] ^= (char)0x80, key[16 + 7] ^= (char)0x80;
	assert_int_not_equal(h0, x__txn_key_hash(F.tbl, key, klen));
}

/* The same family as INVITEs through the table: every one a new server
 * transaction, every retransmission found, and no lookup walks a long
 * chain (each walked the whole chain before: 1023 entries at the end). */
static void test_hash_flood_invites(void **state)
{
	(void)state;
	txn_env env = {.now_ms = f_now, .ctx = &F, .arm = n_arm, .cancel = n_cancel, .send = n_send};
	txn_table *tbl = txn_table_create(&env, NULL, 4096);
	static char cid[FLOOD_CID + 1], buf[1024];
	assert_non_null(tbl);
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < FLOOD_N; i++) {
			flood_callid(cid, i);
			int n = snprintf(buf, sizeof(buf),
					 "INVITE sip:b@198.51.100.1 SIP/2.0\r\n"
					 "Via: SIP/2.0/UDP 192.0.2.1;branch=nocookie1\r\n"
					 "From: <sip:a@192.0.2.1>;tag=f1\r\n"
					 "To: <sip:b@198.51.100.1>\r\n"
					 "Call-ID: %s\r\n"
					 "CSeq: 1 INVITE\r\n"
					 "Content-Length: 0\r\n\r\n",
					 cid);
			assert_true(n > 0 && (size_t)n < sizeof(buf));
			assert_int_equal(sip_parse(buf, (size_t)n, &P), 0);
			txn *t = NULL;
			assert_int_equal(txn_recv_request(tbl, &P, 0, NULL, &t), pass ? TXN_RX_ABSORBED : TXN_RX_NEW);
		}
	assert_int_equal(txn_table_count(tbl), FLOOD_N);
	assert_int_equal(txn_table_long_walks(tbl), 0);
	txn_table_destroy(tbl);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_client_invite_timer_a_b_udp),
		T(test_client_invite_reliable_no_retransmit),
		T(test_client_invite_provisional_then_2xx),
		T(test_client_invite_non2xx_ack_and_timer_d),
		T(test_client_invite_non2xx_reliable_d_zero),
		T(test_client_non_invite_timer_e_f_udp),
		T(test_client_non_invite_proceeding_then_k),
		T(test_client_non_invite_reliable),
		T(test_server_invite_timer_g_h_udp),
		T(test_server_invite_ack_timer_i),
		T(test_server_invite_reliable),
		T(test_server_invite_2xx_and_ack_2xx),
		T(test_server_invite_2xx_timer_l),
		T(test_server_invite_duplicate_after_ack),
		T(test_server_non_invite_timer_j),
		T(test_matching),
		T(test_stale_and_early_timers),
		T(test_transport_errors),
		T(test_client_invite_cancelled_gives_up),
		T(test_client_invite_cancelled_in_calling),
		T(test_find_client),
		T(test_client_invite_cancelled_then_1xx_again),
		T(test_client_invite_cancelled_in_calling_then_100),
		T(test_hash_flood_family_spreads),
		T(test_hash_flood_invites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
