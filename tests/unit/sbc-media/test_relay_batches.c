/* sbc-media: med_relay_readable() on real loopback sockets, the batch level
 * of the socket path: a socket with more queued than one turn reads (4
 * batches of MED_BATCH) is reported as not emptied, so that the worker
 * reads it again next turn (its sockets are edge-triggered: no new event
 * would come for what is already queued); an overloaded worker relays only
 * the newest MED_KEEP packets of a full batch and counts the rest as shed;
 * every packet relayed arrives, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "../../../sbc-media/src/media.h"
#include "med_test_setup.h"

static med_config cfg;
static void *region;
static med_worker *w;
static _Atomic int stop_flag;
static int tx_fd, rx_fd; /* our caller (into leg 0) and callee (leg 1's peer) */
static sbc_addr rx_addr;

static int setup(void **state)
{
	size_t bytes;
	(void)state;
	/* a port range of our own, below the ephemeral range and away from
	 * test_media_relay_path's (41000-56999); rcvbuf: room for every packet
	 * these tests queue */
	if (med_test_setup(&cfg, (uint16_t)(20000 + (getpid() % 40) * 256), 256, 4 << 20, &region, &bytes))
		return -1;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	setenv("SBC_MEDIA_IO", "epoll", 1);
	if (med_worker_init(w, 0, &cfg, NULL, region, &stop_flag))
		return -1;
	tx_fd = socket(AF_INET, SOCK_DGRAM, 0);
	rx_fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 4 << 20;
	setsockopt(rx_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	sbc_addr_parse("127.0.0.1:0", -1, &rx_addr);
	socklen_t al = sizeof(rx_addr);
	if (bind(rx_fd, &rx_addr.sa, sizeof(rx_addr.in4)) || getsockname(rx_fd, &rx_addr.sa, &al))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	med_worker_fini(w);
	free(w);
	free(region);
	close(tx_fd);
	close(rx_fd);
	return 0;
}

static med_sess *plain_session(uint64_t id)
{
	sbc_msg_media m;
	med_sess *s = NULL;
	memset(&m, 0, sizeof(m));
	m.session_id = id;
	sbc_addr_parse("127.0.0.1:9", -1, &m.leg[0].remote_rtp);
	m.leg[1].remote_rtp = rx_addr;
	assert_int_equal(med_sess_create(w, &m, SHM_ROLE_CONTROL, 0, &s), 0);
	assert_non_null(s);
	return s;
}

static void send_rtp(med_sess *s, uint16_t seq0, unsigned count)
{
	sbc_addr to = cfg.address;
	sbc_addr_set_port(&to, med_sess_port(w, s, 0, 0));
	for (unsigned i = 0; i < count; i++) {
		uint8_t p[172] = {0x80, 0};
		uint16_t seq = (uint16_t)(seq0 + i);
		p[2] = (uint8_t)(seq >> 8);
		p[3] = (uint8_t)seq;
		p[11] = 7; /* SSRC */
		assert_int_equal(sendto(tx_fd, p, sizeof(p), 0, &to.sa, sizeof(to.in4)), (ssize_t)sizeof(p));
	}
}

/* What arrived at the callee: how many, their sequence numbers in order. */
static unsigned received(uint16_t *seqs, unsigned cap)
{
	uint8_t p[2048];
	unsigned n = 0;
	ssize_t r;
	while ((r = recv(rx_fd, p, sizeof(p), MSG_DONTWAIT)) >= 0) {
		assert_int_equal(r, 172);
		if (n < cap)
			seqs[n] = (uint16_t)(p[2] << 8 | p[3]);
		n++;
	}
	return n;
}

static void turn_clock(void)
{
	w->now_ns = sbc_mono_ns();
	w->now_ms = w->now_ns / SBC_NS_PER_MS;
	w->now_real_ns = med_real_ns();
}

static void more_than_a_turn_is_read_again(void **state)
{
	(void)state;
	med_sess *s = plain_session(1);
	const unsigned total = 4 * MED_BATCH + 40;
	uint16_t seqs[4 * MED_BATCH + 40];
	send_rtp(s, 100, total);
	usleep(20000); /* loopback delivery is synchronous; a margin anyway */
	w->overloaded = false;
	turn_clock();
	/* one turn: 4 full batches, and packets are left */
	assert_false(med_relay_readable(w, s, 0, 0));
	assert_int_equal(s->slot->rt[0].packets_in, 4 * MED_BATCH);
	/* the next turn empties it */
	turn_clock();
	assert_true(med_relay_readable(w, s, 0, 0));
	assert_int_equal(s->slot->rt[0].packets_in, total);
	assert_int_equal(s->slot->rt[1].packets_out, total);
	/* nothing left: an empty socket reports emptied */
	assert_true(med_relay_readable(w, s, 0, 0));
	assert_int_equal(received(seqs, total), total);
	for (unsigned i = 0; i < total; i++)
		assert_int_equal(seqs[i], 100 + i);
	for (unsigned d = 0; d < MED_DROP_MAX_; d++)
		assert_int_equal(s->slot->rt[0].drops[d], 0);
	med_sess_delete(w, s);
}

static void overloaded_full_batches_keep_the_newest(void **state)
{
	(void)state;
	med_sess *s = plain_session(2);
	uint16_t seqs[64];
	send_rtp(s, 1000, 2 * MED_BATCH + 3);
	usleep(20000);
	w->overloaded = true;
	turn_clock();
	assert_true(med_relay_readable(w, s, 0, 0));
	/* two full batches: MED_KEEP of each relayed; the short one whole */
	unsigned kept = 2 * MED_KEEP + 3;
	assert_int_equal(s->slot->rt[0].packets_in, kept);
	assert_int_equal(s->slot->rt[0].drops[MED_DROP_SHED], 2 * (MED_BATCH - MED_KEEP));
	assert_int_equal(received(seqs, 64), kept);
	unsigned k = 0;
	for (unsigned b = 0; b < 2; b++)
		for (unsigned i = MED_BATCH - MED_KEEP; i < MED_BATCH; i++)
			assert_int_equal(seqs[k++], 1000 + b * MED_BATCH + i);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(seqs[k++], 1000 + 2 * MED_BATCH + i);
	/* load gone: everything relayed again */
	w->overloaded = false;
	send_rtp(s, 2000, MED_BATCH);
	usleep(20000);
	turn_clock();
	assert_true(med_relay_readable(w, s, 0, 0));
	assert_int_equal(received(seqs, 64), MED_BATCH);
	assert_int_equal(seqs[0], 2000);
	assert_int_equal(seqs[MED_BATCH - 1], 2000 + MED_BATCH - 1);
	med_sess_delete(w, s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(more_than_a_turn_is_read_again),
		cmocka_unit_test(overloaded_full_batches_keep_the_newest),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
