/* sbc-media: port block leases (msg-t.h, sbc_msg_media rule 7) in process:
 * granted blocks are bound (their ports taken) and not handed out again,
 * a CREATE naming one gets that very block, another worker's lease or a
 * lease of this instance that was taken back is refused or re-bound by its
 * rules, an earlier instance's lease is honoured when its block is free,
 * and a HELLO's reclaim closes every lease of that signal worker. */
#include <errno.h>
#include <netinet/in.h>
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

#include "sbc/err.h"
#include "../../../sbc-media/src/media.h"

static med_config cfg;
static void *region;
static med_worker *w;
static _Atomic int stop_flag;

static int setup(void **state)
{
	char err[256];
	bool reused;
	(void)state;
	if (med_xc_global_init(err, sizeof(err)) != 0)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	sbc_addr_parse("127.0.0.1", 0, &cfg.address);
	/* 16 blocks of our own somewhere in 20000-35359 (other media tests
	 * use 41000 and up) */
	cfg.port_min = (uint16_t)(20000 + (getpid() % 240) * 64);
	cfg.port_max = (uint16_t)(cfg.port_min + 63);
	cfg.rtp_timeout_ms = 30000;
	cfg.rcvbuf = 65536;
	snprintf(cfg.backend, sizeof(cfg.backend), "socket");
	size_t bytes = MED_SESSION_REGION_BYTES(med_region_slots_for(&cfg));
	region = calloc(1, bytes);
	if (med_region_open(region, bytes, &cfg, 1, &reused, err, sizeof(err)))
		return -1;
	w = calloc(1, sizeof(*w));
	setenv("SBC_MEDIA_IO", "epoll", 1);
	return med_worker_init(w, 0, &cfg, NULL, region, &stop_flag);
}

static int teardown(void **state)
{
	(void)state;
	med_worker_fini(w);
	free(w);
	free(region);
	return 0;
}

/* 1 when port can be bound (UDP, loopback) now. */
static int port_free(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static sbc_msg_media msg(uint64_t id, uint32_t lease, uint32_t epoch)
{
	sbc_msg_media m;
	memset(&m, 0, sizeof(m));
	m.session_id = id;
	sbc_addr_parse("127.0.0.1:9", -1, &m.leg[0].remote_rtp);
	sbc_addr_parse("127.0.0.1:7", -1, &m.leg[1].remote_rtp);
	m.lease = lease;
	m.lease_epoch = epoch;
	return m;
}

static void granted_block_is_the_created_one(void **state)
{
	(void)state;
	sbc_media_lease l[4];
	assert_int_not_equal(w->lease_epoch, 0);
	assert_int_equal(med_lease_grant(w, 1, l, 4), 4);
	assert_int_equal(w->leased_to[1], 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(l[i].port[1], l[i].port[0] + 2);
		assert_false(port_free(l[i].port[0])); /* bound ahead */
		assert_false(port_free(l[i].port[1] + 1));
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(l[i].id, l[j].id);
	}
	/* a CREATE without a lease never lands on a leased block */
	sbc_msg_media plain = msg(100, 0, 0);
	med_sess *p = NULL;
	assert_int_equal(med_sess_create(w, &plain, SHM_ROLE_SIGNAL, 1, &p), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_not_equal(p->gidx + 1, l[i].id);
	/* the lease's own block, ports as granted */
	sbc_msg_media m = msg(101, l[2].id, w->lease_epoch);
	med_sess *s = NULL;
	assert_int_equal(med_sess_create(w, &m, SHM_ROLE_SIGNAL, 1, &s), 0);
	assert_int_equal(s->gidx + 1, l[2].id);
	assert_int_equal(med_sess_port(w, s, 0, 0), l[2].port[0]);
	assert_int_equal(med_sess_port(w, s, 1, 0), l[2].port[1]);
	assert_int_equal(w->leased_to[1], 3);
	assert_int_equal(w->tot.leases_used, 1);
	sbc_msg_media_reply r;
	memset(&r, 0, sizeof(r));
	med_sess_fill_reply(w, s, &r);
	assert_int_equal(sbc_addr_port(&r.local_rtp[1]), l[2].port[1]);
	/* used once: the same lease again (another session) is refused */
	sbc_msg_media again = msg(102, l[2].id, w->lease_epoch);
	med_sess *t = NULL;
	assert_int_equal(med_sess_create(w, &again, SHM_ROLE_SIGNAL, 1, &t), SBC_E_LIMIT);
	/* another signal worker's lease: refused, still leased to worker 1 */
	sbc_msg_media theirs = msg(103, l[0].id, w->lease_epoch);
	assert_int_equal(med_sess_create(w, &theirs, SHM_ROLE_SIGNAL, 0, &t), SBC_E_LIMIT);
	assert_int_equal(w->leased_to[1], 3);
	/* out of this worker's blocks: refused as invalid */
	sbc_msg_media wild = msg(104, 100000, w->lease_epoch);
	assert_int_equal(med_sess_create(w, &wild, SHM_ROLE_SIGNAL, 1, &t), SBC_E_INVAL);
	/* the worker's HELLO takes the other three back: ports free again */
	assert_int_equal(med_lease_reclaim(w, 1), 3);
	assert_int_equal(w->leased_to[1], 0);
	assert_true(port_free(l[0].port[0]) && port_free(l[3].port[1] + 1));
	assert_false(port_free(l[2].port[0])); /* the session's stays */
	med_sess_delete(w, s);
	med_sess_delete(w, p);
	assert_true(port_free(l[2].port[0]));
}

static void earlier_instance_lease_adopted_when_free(void **state)
{
	(void)state;
	sbc_media_lease l[2];
	assert_int_equal(med_lease_grant(w, 0, l, 2), 2);
	uint32_t old_epoch = w->lease_epoch + 1; /* not ours */
	/* a free block named by an earlier instance's lease: bound on the spot */
	uint32_t free_id = l[1].id + 1;
	sbc_msg_media m = msg(200, free_id, old_epoch);
	med_sess *s = NULL;
	assert_int_equal(med_sess_create(w, &m, SHM_ROLE_SIGNAL, 0, &s), 0);
	assert_int_equal(s->gidx + 1, free_id);
	assert_int_equal(w->tot.leases_adopted, 1);
	/* a block leased out now is never taken by an old lease */
	sbc_msg_media clash = msg(201, l[0].id, old_epoch);
	med_sess *t = NULL;
	assert_int_equal(med_sess_create(w, &clash, SHM_ROLE_SIGNAL, 0, &t), SBC_E_LIMIT);
	/* nor a block in use by a session */
	sbc_msg_media busy = msg(202, free_id, old_epoch);
	assert_int_equal(med_sess_create(w, &busy, SHM_ROLE_SIGNAL, 0, &t), SBC_E_LIMIT);
	/* returned leases close their ports; unknown ids are ignored */
	med_lease_return(w, l[0].id);
	med_lease_return(w, 0);
	med_lease_return(w, 99999);
	assert_true(port_free(l[0].port[0]));
	assert_int_equal(w->leased_to[0], 1);
	assert_int_equal(med_lease_reclaim(w, 0), 1);
	med_sess_delete(w, s);
}

static void grant_stops_when_blocks_run_out(void **state)
{
	(void)state;
	sbc_media_lease l[SBC_MSG_LEASES_MAX];
	uint32_t n = w->slot_hi - w->slot_lo;
	assert_int_equal(med_lease_grant(w, 2, l, SBC_MSG_LEASES_MAX), n < SBC_MSG_LEASES_MAX ? n : SBC_MSG_LEASES_MAX);
	sbc_msg_media m = msg(300, 0, 0);
	med_sess *s = NULL;
	if (n <= SBC_MSG_LEASES_MAX) /* every block leased: a CREATE without one finds none */
		assert_int_equal(med_sess_create(w, &m, SHM_ROLE_SIGNAL, 0, &s), SBC_E_LIMIT);
	assert_int_equal(med_lease_grant(w, 3, l, 4), 0);
	med_lease_reclaim(w, 2);
	assert_int_equal(med_sess_create(w, &m, SHM_ROLE_SIGNAL, 0, &s), 0);
	med_sess_delete(w, s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(granted_block_is_the_created_one),
		cmocka_unit_test(earlier_instance_lease_adopted_when_free),
		cmocka_unit_test(grant_stops_when_blocks_run_out),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
