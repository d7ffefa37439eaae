/* sbc-media: the per-packet path in process (med_relay_packet): checks,
 * transcryption, latching, counters by drop reason. Real SRTP contexts from
 * the srtp module; sessions opened on real (loopback) ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-media/src/media.h"
#include "med_test_setup.h"

static med_config cfg;
static void *region;
static med_worker *w;
static _Atomic int stop_flag;
static uint8_t key[30];

static int setup(void **state)
{
	size_t bytes;
	(void)state;
	/* a port range of our own: 64 slots somewhere in 41000-56999 */
	if (med_test_setup(&cfg, (uint16_t)(41000 + (getpid() % 60) * 256), 256, 65536, &region, &bytes))
		return -1;
	w = calloc(1, sizeof(*w));
	setenv("SBC_MEDIA_IO", "epoll", 1);
	return med_worker_init(w, 0, &cfg, NULL, region, &stop_flag);
}

static int teardown(void **state)
{
	med_worker_fini(w);
	free(w);
	free(region);
	return 0;
}

static sbc_msg_media session_msg(uint64_t id, bool srtp_leg0, bool latch0, bool peer1)
{
	sbc_msg_media m;
	memset(&m, 0, sizeof(m));
	m.session_id = id;
	sbc_addr_parse("127.0.0.1:9", -1, &m.leg[0].remote_rtp);
	if (peer1)
		sbc_addr_parse("127.0.0.1:7", -1, &m.leg[1].remote_rtp);
	if (srtp_leg0) {
		m.leg[0].rx.suite = m.leg[0].tx.suite = SBC_SRTP_AES_CM_128_HMAC_SHA1_80;
		m.leg[0].rx.key_len = m.leg[0].tx.key_len = 30;
		memcpy(m.leg[0].rx.key, key, 30);
		memcpy(m.leg[0].tx.key, key, 30);
	}
	m.leg[0].latch = latch0;
	return m;
}

static int make_rtp(uint8_t *p, uint16_t seq, uint32_t ssrc)
{
	memset(p, 0, 12);
	p[0] = 0x80;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[8] = (uint8_t)(ssrc >> 24);
	p[11] = (uint8_t)ssrc;
	for (int i = 0; i < 160; i++)
		p[12 + i] = (uint8_t)(i ^ seq);
	return 172;
}

static const sbc_addr *relay(med_sess *s, unsigned leg, uint8_t *p, int *len, const sbc_addr *src, uint64_t rx_ns)
{
	bool rtcp = false;
	w->now_real_ns = med_real_ns();
	return med_relay_packet(w, s, leg, 0, p, len, MED_PKT_BUF, false, src, 1000, rx_ns, &rtcp);
}

static void srtp_in_plain_out_with_every_drop_reason(void **state)
{
	sbc_msg_media m = session_msg(1, true, true, true);
	med_sess *s = NULL;
	assert_int_equal(med_sess_create(w, &m, SHM_ROLE_CONTROL, 0, &s), 0);
	med_leg_rt *in = &s->slot->rt[0];

	med_xc *tx;
	med_xc_state st = {0};
	sbc_srtp_params pp = m.leg[0].rx;
	assert_int_equal(med_xc_create(&tx, &pp, true, &st), 0);
	sbc_addr a, z;
	sbc_addr_parse("127.0.0.1:5004", -1, &a);
	sbc_addr_parse("127.0.0.1:6004", -1, &z);
	uint8_t pkt[MED_PKT_BUF], copy[MED_PKT_BUF];
	int len, clen;

	/* too short */
	len = 5;
	memset(pkt, 0x80, 5);
	assert_null(relay(s, 0, pkt, &len, &a, 0));
	assert_int_equal(in->drops[MED_DROP_PARSE], 1);

	/* authentic: decrypted, forwarded to leg 1's SDP address, latched */
	len = make_rtp(pkt, 100, 0x42);
	assert_int_equal(med_xc_rtp(tx, pkt, &len, MED_PKT_BUF), 0);
	assert_int_equal(len, 182);
	memcpy(copy, pkt, (size_t)len);
	clen = len;
	const sbc_addr *d = relay(s, 0, pkt, &len, &a, 0);
	assert_non_null(d);
	assert_int_equal(sbc_addr_port(d), 7);
	assert_int_equal(len, 172);
	assert_int_equal(pkt[12 + 5], 5 ^ 100);
	assert_true(in->latched);
	assert_true(sbc_addr_equal(&in->peer_rtp, &a));
	assert_int_equal(in->packets_in, 1);
	/* the LATCHED event had nobody to go to (no rings here): counted */
	assert_int_equal(w->tot.events_dropped, 1);
	/* the restart state follows the stream */
	assert_int_equal(in->xs_rx.have_rtp, 1);

	/* replay of the same bytes */
	memcpy(pkt, copy, (size_t)clen);
	len = clen;
	assert_null(relay(s, 0, pkt, &len, &a, 0));
	assert_int_equal(in->drops[MED_DROP_REPLAY], 1);

	/* tampered */
	len = make_rtp(pkt, 101, 0x42);
	assert_int_equal(med_xc_rtp(tx, pkt, &len, MED_PKT_BUF), 0);
	pkt[40] ^= 1;
	assert_null(relay(s, 0, pkt, &len, &a, 0));
	assert_int_equal(in->drops[MED_DROP_AUTH], 1);

	/* authentic but from another address after latching */
	len = make_rtp(pkt, 102, 0x42);
	assert_int_equal(med_xc_rtp(tx, pkt, &len, MED_PKT_BUF), 0);
	assert_null(relay(s, 0, pkt, &len, &z, 0));
	assert_int_equal(in->drops[MED_DROP_SOURCE], 1);

	/* waited 300 ms in the kernel queue: shed */
	len = make_rtp(pkt, 103, 0x42);
	assert_int_equal(med_xc_rtp(tx, pkt, &len, MED_PKT_BUF), 0);
	assert_null(relay(s, 0, pkt, &len, &a, med_real_ns() - 300 * 1000000ull));
	assert_int_equal(in->drops[MED_DROP_SHED], 1);

	/* the other way: plain from leg 1, protected towards the latched A */
	len = make_rtp(pkt, 7, 0x99);
	d = relay(s, 1, pkt, &len, &z, 0);
	assert_non_null(d);
	assert_true(sbc_addr_equal(d, &a));
	assert_int_equal(len, 182);
	/* ... and A's inbound context (same key here) can read it */
	med_xc *rx;
	med_xc_state st2 = {0};
	assert_int_equal(med_xc_create(&rx, &pp, false, &st2), 0);
	assert_int_equal(med_xc_rtp(rx, pkt, &len, MED_PKT_BUF), 0);
	assert_int_equal(len, 172);
	assert_int_equal(pkt[12 + 9], 9 ^ 7);
	med_xc_destroy(rx);
	med_xc_destroy(tx);

	/* counters in the reply */
	sbc_msg_media_reply r;
	memset(&r, 0, sizeof(r));
	med_sess_fill_reply(w, s, &r);
	assert_int_equal(r.stats[0].packets_in, 1);
	assert_int_equal(r.stats[0].drops, 5); /* parse, replay, auth, source, shed */
	assert_int_equal(r.stats[0].latched, 1);
	/* by port: what an AF_XDP callback starts from */
	unsigned bl = 9, br = 9;
	assert_ptr_equal(med_sess_by_port(w, med_sess_port(w, s, 1, 1), &bl, &br), s);
	assert_int_equal(bl, 1);
	assert_int_equal(br, 1);
	assert_ptr_equal(med_sess_by_port(w, med_sess_port(w, s, 0, 0), &bl, &br), s);
	assert_int_equal(bl, 0);
	assert_int_equal(br, 0);
	assert_null(med_sess_by_port(w, 1, &bl, &br));
	med_sess_delete(w, s);
	assert_null(med_sess_find(w, 1));
	assert_null(med_sess_by_port(w, med_sess_port(w, s, 0, 0), &bl, &br));
}

static void no_peer_and_bad_params(void **state)
{
	sbc_msg_media m = session_msg(2, false, false, false);
	med_sess *s = NULL;
	assert_int_equal(med_sess_create(w, &m, SHM_ROLE_CONTROL, 0, &s), 0);
	uint8_t pkt[MED_PKT_BUF];
	sbc_addr a;
	sbc_addr_parse("127.0.0.1:5004", -1, &a);
	int len = make_rtp(pkt, 1, 1);
	assert_null(relay(s, 0, pkt, &len, &a, 0)); /* leg 1 has no address yet */
	assert_int_equal(s->slot->rt[0].drops[MED_DROP_NO_PEER], 1);
	/* an UPDATE gives it one */
	sbc_addr_parse("127.0.0.1:7", -1, &m.leg[1].remote_rtp);
	assert_int_equal(med_sess_update(w, s, &m), 0);
	len = make_rtp(pkt, 2, 1);
	assert_non_null(relay(s, 0, pkt, &len, &a, 0));
	/* key of the wrong size, unknown suite, foreign address family */
	sbc_msg_media bad = session_msg(3, true, false, true);
	bad.leg[0].rx.key_len = 16;
	assert_int_equal(med_sess_create(w, &bad, SHM_ROLE_CONTROL, 0, &s), SBC_E_INVAL);
	bad = session_msg(3, false, false, true);
	bad.leg[1].tx.suite = 99;
	assert_int_equal(med_sess_create(w, &bad, SHM_ROLE_CONTROL, 0, &s), SBC_E_INVAL);
	bad = session_msg(3, false, false, true);
	sbc_addr_parse("[::1]:5000", -1, &bad.leg[1].remote_rtp);
	assert_int_equal(med_sess_create(w, &bad, SHM_ROLE_CONTROL, 0, &s), SBC_E_INVAL);
	assert_null(med_sess_find(w, 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(srtp_in_plain_out_with_every_drop_reason),
		cmocka_unit_test(no_peer_and_bad_params),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
