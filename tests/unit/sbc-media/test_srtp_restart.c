/* sbc-media: SRTP restart state — a relay that loses its libsrtp2 sessions
 * (SIGKILL) and comes back with only the med_srtp_state it kept in shared
 * memory must carry on every stream: same bytes out as a relay that never
 * restarted (so the ROC and SRTCP index are right and no keystream is
 * reused), no authentication failures in, and replays of pre-restart packets
 * refused. Every suite, across sequence-number wraps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-media/src/srtp.h"

#define SSRC 0x0badcafeu

static void make_key(unsigned suite, uint8_t *key, int len)
{
	for (int i = 0; i < len; i++)
		key[i] = (uint8_t)(i * 7 + suite * 11 + 3);
}

static int rtp(uint8_t *pkt, uint16_t seq, uint32_t n)
{
	pkt[0] = 0x80;
	pkt[1] = 0;
	pkt[2] = (uint8_t)(seq >> 8);
	pkt[3] = (uint8_t)seq;
	pkt[4] = (uint8_t)(n >> 24), pkt[5] = (uint8_t)(n >> 16);
	pkt[6] = (uint8_t)(n >> 8), pkt[7] = (uint8_t)n;
	pkt[8] = (uint8_t)(SSRC >> 24), pkt[9] = (uint8_t)(SSRC >> 16);
	pkt[10] = (uint8_t)(SSRC >> 8), pkt[11] = (uint8_t)SSRC;
	for (int i = 12; i < 12 + 160; i++)
		pkt[i] = (uint8_t)(i + n);
	return 12 + 160;
}

static int rtcp(uint8_t *pkt, uint32_t n)
{
	pkt[0] = 0x80;
	pkt[1] = 200;
	pkt[2] = 0;
	pkt[3] = 6;
	pkt[4] = (uint8_t)(SSRC >> 24), pkt[5] = (uint8_t)(SSRC >> 16);
	pkt[6] = (uint8_t)(SSRC >> 8), pkt[7] = (uint8_t)SSRC;
	for (int i = 8; i < 28; i++)
		pkt[i] = (uint8_t)(i * 3 + n);
	return 28;
}

typedef struct rig {
	unsigned suite;
	uint8_t key[64];
	int klen;
	med_srtp_ctx ref;      /* outbound that never restarts */
	med_srtp_state ref_st;
	med_srtp_ctx out, in;  /* the relay's contexts ... */
	med_srtp_state out_st, in_st; /* ... and their state "in shared memory" */
	uint16_t seq;
	uint32_t n;
	uint8_t last[2][256];  /* two protected pre-restart packets */
	int last_len[2];
	uint8_t last_rtcp[256];
	int last_rtcp_len;
} rig;

static void rig_init(rig *r, unsigned suite, uint16_t seq)
{
	memset(r, 0, sizeof(*r));
	r->suite = suite;
	r->klen = med_srtp_key_len(suite);
	make_key(suite, r->key, r->klen);
	assert_int_equal(med_srtp_ctx_init(&r->ref, suite, r->key, (size_t)r->klen, true, &r->ref_st), 0);
	assert_int_equal(med_srtp_ctx_init(&r->out, suite, r->key, (size_t)r->klen, true, &r->out_st), 0);
	assert_int_equal(med_srtp_ctx_init(&r->in, suite, r->key, (size_t)r->klen, false, &r->in_st), 0);
	r->seq = seq;
}

/* One RTP packet through ref and out (must be identical) and into in. */
static void send_rtp(rig *r)
{
	uint8_t a[256], b[256];
	int na = rtp(a, r->seq, r->n), nb = rtp(b, r->seq, r->n);

	assert_int_equal(med_srtp_protect(&r->ref, a, &na, sizeof(a)), 0);
	assert_int_equal(med_srtp_protect(&r->out, b, &nb, sizeof(b)), 0);
	assert_int_equal(na, nb);
	if (memcmp(a, b, (size_t)na) != 0)
		fail_msg("%s: seq %u: restarted sender differs from reference",
			 med_srtp_suite_name(r->suite), r->seq);
	memcpy(r->last[0], r->last[1], sizeof(r->last[0]));
	r->last_len[0] = r->last_len[1];
	memcpy(r->last[1], b, (size_t)nb);
	r->last_len[1] = nb;
	int rc = med_srtp_unprotect(&r->in, b, &nb);
	if (rc != 0)
		fail_msg("%s: seq %u: unprotect %s", med_srtp_suite_name(r->suite), r->seq,
			 sbc_strerror(rc));
	assert_int_equal(nb, 172);
	r->seq++;
	r->n++;
}

static void send_rtcp(rig *r)
{
	uint8_t a[256], b[256];
	int na = rtcp(a, r->n), nb = rtcp(b, r->n);

	assert_int_equal(med_srtp_protect_rtcp(&r->ref, a, &na, sizeof(a)), 0);
	assert_int_equal(med_srtp_protect_rtcp(&r->out, b, &nb, sizeof(b)), 0);
	assert_int_equal(na, nb);
	if (memcmp(a, b, (size_t)na) != 0)
		fail_msg("%s: SRTCP differs from reference (index reused?)",
			 med_srtp_suite_name(r->suite));
	memcpy(r->last_rtcp, b, (size_t)nb);
	r->last_rtcp_len = nb;
	assert_int_equal(med_srtp_unprotect_rtcp(&r->in, b, &nb), 0);
	assert_int_equal(nb, 28);
	r->n++;
}

/* SIGKILL: the libsrtp2 sessions vanish (no clean-up runs in a real kill;
 * destroy here only frees memory), the states survive; then restart. */
static void kill_and_restart(rig *r)
{
	med_srtp_state so = r->out_st, si = r->in_st;

	med_srtp_ctx_destroy(&r->out);
	med_srtp_ctx_destroy(&r->in);
	memset(&r->out, 0xee, sizeof(r->out));
	memset(&r->in, 0xee, sizeof(r->in));
	assert_memory_equal(&so, &r->out_st, sizeof(so)); /* destroy leaves state alone */
	assert_int_equal(med_srtp_ctx_init(&r->out, r->suite, r->key, (size_t)r->klen, true, &r->out_st), 0);
	assert_int_equal(med_srtp_ctx_init(&r->in, r->suite, r->key, (size_t)r->klen, false, &r->in_st), 0);
	assert_memory_equal(&si, &r->in_st, sizeof(si));
}

static void rig_done(rig *r)
{
	med_srtp_ctx_destroy(&r->ref);
	med_srtp_ctx_destroy(&r->out);
	med_srtp_ctx_destroy(&r->in);
}

static void check_replays(rig *r)
{
	uint8_t b[256];
	int n;

	for (int i = 0; i < 2; i++) {
		memcpy(b, r->last[i], (size_t)r->last_len[i]);
		n = r->last_len[i];
		int rc = med_srtp_unprotect(&r->in, b, &n);
		if (rc != SBC_E_REPLAY)
			fail_msg("%s: pre-restart packet %d: %s, want replay",
				 med_srtp_suite_name(r->suite), i, sbc_strerror(rc));
	}
	if (r->last_rtcp_len == 0)
		return;
	memcpy(b, r->last_rtcp, (size_t)r->last_rtcp_len);
	n = r->last_rtcp_len;
	assert_int_equal(med_srtp_unprotect_rtcp(&r->in, b, &n), SBC_E_REPLAY);
}

/* State fields track what libsrtp2 holds. */
static void check_state(rig *r, uint32_t roc)
{
	uint32_t lroc = 99;

	assert_int_equal(r->out_st.have_rtp, 1);
	assert_int_equal(r->in_st.have_rtp, 1);
	assert_int_equal(r->out_st.rtp_ssrc, SSRC);
	assert_int_equal(r->out_st.rtp_index, ((uint64_t)roc << 16) | (uint16_t)(r->seq - 1));
	assert_int_equal(r->in_st.rtp_index, r->out_st.rtp_index);
	assert_int_equal(med_srtp_ctx_roc(&r->in, SSRC, &lroc), 0);
	assert_int_equal(lroc, roc);
	assert_int_equal(med_srtp_ctx_roc(&r->out, SSRC, &lroc), 0);
	assert_int_equal(lroc, roc);
	assert_int_equal(med_srtp_ctx_roc(&r->in, 0x12345678, &lroc), SBC_E_NOT_FOUND);
}

/* Restart mid-ROC-1 with SRTCP history; then run through the next wrap. */
static void restart_after_wrap(void **state)
{
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		rig r;
		rig_init(&r, s, 65000);
		for (int i = 0; i < 600; i++) { /* wraps at i = 536: ROC 1 */
			send_rtp(&r);
			if (i % 150 == 0)
				send_rtcp(&r);
		}
		check_state(&r, 1);
		assert_int_equal(r.out_st.have_rtcp, 1);
		assert_int_equal(r.out_st.rtcp_index, 4);
		assert_int_equal(r.in_st.rtcp_index, 4);
		kill_and_restart(&r);
		check_replays(&r);
		send_rtp(&r); /* first packet after restart */
		check_replays(&r);
		send_rtcp(&r); /* index 5 on both: same bytes as the reference */
		assert_int_equal(r.out_st.rtcp_index, 5);
		/* a post-restart packet replayed: libsrtp2's own replay DB */
		uint8_t b[256];
		int n = r.last_len[1];
		memcpy(b, r.last[1], (size_t)n);
		assert_int_equal(med_srtp_unprotect(&r.in, b, &n), SBC_E_REPLAY);
		/* the rest of ROC 1 and into ROC 2 */
		while (r.seq != 10)
			send_rtp(&r);
		check_state(&r, 2);
		n = r.last_len[0];
		memcpy(b, r.last[0], (size_t)n);
		assert_int_equal(med_srtp_unprotect(&r.in, b, &n), SBC_E_REPLAY);
		rig_done(&r);
	}
}

/* Snapshot on the last packet before a wrap; the first packet after the
 * restart is seq 0 of the next ROC. Then a second restart right after. */
static void restart_on_the_wrap(void **state)
{
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		rig r;
		rig_init(&r, s, 65500);
		while (r.seq != 0)
			send_rtp(&r);
		check_state(&r, 0);
		kill_and_restart(&r);
		check_replays(&r);
		for (int i = 0; i < 5; i++)
			send_rtp(&r);
		check_state(&r, 1);
		kill_and_restart(&r); /* twice in a row */
		for (int i = 0; i < 5; i++)
			send_rtp(&r);
		check_state(&r, 1);
		rig_done(&r);
	}
}

/* Packets sent while the relay was down are lost; the stream resumes at a
 * later index. A packet from just before the snapshot arriving late after
 * the restart is refused; the next ones pass. ROC 0 streams too. */
static void restart_with_gap_and_late_packet(void **state)
{
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		rig r;
		uint8_t late[256];
		int late_len, n;

		rig_init(&r, s, 100);
		for (int i = 0; i < 50; i++)
			send_rtp(&r);
		late_len = r.last_len[0]; /* seq 148, processed */
		memcpy(late, r.last[0], (size_t)late_len);
		kill_and_restart(&r);
		n = late_len;
		assert_int_equal(med_srtp_unprotect(&r.in, late, &n), SBC_E_REPLAY);
		/* the sender went on while we were down: 1000 packets never seen */
		for (int i = 0; i < 1000; i++) {
			uint8_t a[256];
			int na = rtp(a, r.seq, r.n);
			assert_int_equal(med_srtp_protect(&r.ref, a, &na, sizeof(a)), 0);
			r.seq++;
			r.n++;
		}
		/* our own outbound skipped them too: the restarted sender must still
		 * produce the reference bytes at the later index */
		for (int i = 0; i < 5; i++)
			send_rtp(&r);
		check_state(&r, 0);
		rig_done(&r);
	}
}

/* After a restart another SSRC speaks first (it takes the saved state's
 * place); the restored SSRC must still resume with the right ROC, its
 * pre-restart packets stay refused, also long after (libsrtp2's window). */
static void restart_other_ssrc_first(void **state)
{
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		rig r;
		uint8_t pre[256], b[256], o[256];
		int pre_len, n;

		rig_init(&r, s, 65400);
		for (int i = 0; i < 300; i++) /* into ROC 1 */
			send_rtp(&r);
		pre_len = r.last_len[0]; /* processed before the restart */
		memcpy(pre, r.last[0], (size_t)pre_len);
		kill_and_restart(&r);
		/* SSRC 0x77 from a separate sender with the same key speaks first */
		med_srtp_ctx other;
		assert_int_equal(med_srtp_ctx_init(&other, s, r.key, (size_t)r.klen, true, NULL), 0);
		for (uint16_t q = 0; q < 3; q++) {
			n = rtp(o, q, q);
			o[8] = o[9] = o[10] = 0;
			o[11] = 0x77;
			assert_int_equal(med_srtp_protect(&other, o, &n, sizeof(o)), 0);
			assert_int_equal(med_srtp_unprotect(&r.in, o, &n), 0);
		}
		med_srtp_ctx_destroy(&other);
		assert_int_equal(r.in_st.rtp_ssrc, 0x77);
		memcpy(b, pre, (size_t)pre_len);
		n = pre_len;
		assert_int_equal(med_srtp_unprotect(&r.in, b, &n), SBC_E_REPLAY);
		/* the restored SSRC resumes with ROC 1 and runs on */
		for (int i = 0; i < 300; i++)
			send_rtp(&r);
		memcpy(b, pre, (size_t)pre_len);
		n = pre_len;
		assert_int_equal(med_srtp_unprotect(&r.in, b, &n), SBC_E_REPLAY);
		rig_done(&r);
	}
}

/* A context with no caller state keeps it inside; a zeroed state is "new". */
static void state_inside_context(void **state)
{
	uint8_t key[30], pkt[256];
	med_srtp_ctx c;
	med_srtp_state st;
	int n;

	make_key(1, key, 30);
	assert_int_equal(med_srtp_ctx_init(&c, SBC_SRTP_AES_CM_128_HMAC_SHA1_80, key, 30, true, NULL), 0);
	n = rtp(pkt, 7, 0);
	assert_int_equal(med_srtp_protect(&c, pkt, &n, sizeof(pkt)), 0);
	med_srtp_ctx_state(&c, &st);
	assert_int_equal(st.have_rtp, 1);
	assert_int_equal(st.rtp_ssrc, SSRC);
	assert_int_equal(st.rtp_index, 7);
	assert_int_equal(st.have_rtcp, 0);
	assert_int_equal(sizeof(med_srtp_state), 24);
	/* moved while idle (e.g. a table grown with realloc): still tracks */
	med_srtp_ctx moved;
	memcpy(&moved, &c, sizeof(c));
	memset(&c, 0xee, sizeof(c));
	n = rtp(pkt, 8, 1);
	assert_int_equal(med_srtp_protect(&moved, pkt, &n, sizeof(pkt)), 0);
	med_srtp_ctx_state(&moved, &st);
	assert_int_equal(st.rtp_index, 8);
	memcpy(&c, &moved, sizeof(c));
	med_srtp_ctx_destroy(&c);
	/* outbound SRTCP fast-forward has a ceiling */
	memset(&st, 0, sizeof(st));
	st.have_rtcp = 1;
	st.rtcp_ssrc = SSRC;
	st.rtcp_index = 0x7fffffff;
	assert_int_equal(med_srtp_ctx_init(&c, SBC_SRTP_AES_CM_128_HMAC_SHA1_80, key, 30, true, &st),
			 SBC_E_LIMIT);
	assert_null(c._srtp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restart_after_wrap),
		cmocka_unit_test(restart_on_the_wrap),
		cmocka_unit_test(restart_with_gap_and_late_packet),
		cmocka_unit_test(restart_other_ssrc_first),
		cmocka_unit_test(state_inside_context),
	};
	char err[256];

	if (med_srtp_global_init(err, sizeof(err)) != 0) {
		printf("SRTP set-up failed: %s\n", err);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
