/* sbc-media: a HELLO with a new pid on a signal worker's ring deletes the
 * sessions the ring's previous process created (a killed sbc-signal's
 * calls are gone; nothing else would end their relay), and only those.
 * A real shared segment with real rings; one media worker driven in this
 * thread (med_worker__poll_rings), its sessions on real loopback ports. */
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
#include "sbc/msg.h"
#include "sbc/shm.h"
#include "../../../sbc-media/src/media.h"
#include "med_test_setup.h"

static med_config cfg;
static void *region;
static size_t region_bytes;
static med_worker *w;
static _Atomic int stop_flag;
static shm_seg *seg;
static char seg_name[64];
static shm_ring_prod to_media[2]; /* from signal worker 0 and 1 */
static shm_ring_cons from_media[2];
static shm_ring_prod ctl_to_media;

static int worker_up(void)
{
	w = calloc(1, sizeof(*w));
	return w ? med_worker_init(w, 0, &cfg, seg, region, &stop_flag) : -1;
}

static void worker_down(void)
{
	med_worker_fini(w);
	free(w);
	w = NULL;
}

static int setup(void **state)
{
	char err[256];
	(void)state;
	/* a port range of our own (16 sessions), apart from the other tests' */
	if (med_test_setup(&cfg, (uint16_t)(30000 + (getpid() % 40) * 64), 64, 65536, &region, &region_bytes))
		return -1;
	shm_seg_config sc = {.signal_workers = 2, .media_workers = 1, .ring_bytes = 1u << 16,
			     .ctl_ring_bytes = 4096};
	snprintf(seg_name, sizeof(seg_name), "/sbc-test-orphans-%d", (int)getpid());
	if (shm_seg_create(seg_name, &sc, &seg, err, sizeof(err)) != 0) {
		fprintf(stderr, "segment: %s\n", err);
		return -1;
	}
	for (unsigned i = 0; i < 2; i++)
		if (shm_seg_producer(seg, &to_media[i], SHM_ROLE_SIGNAL, i, SHM_ROLE_MEDIA, 0) != 0 ||
		    shm_seg_consumer(seg, &from_media[i], SHM_ROLE_MEDIA, 0, SHM_ROLE_SIGNAL, i) != 0)
			return -1;
	if (shm_seg_producer(seg, &ctl_to_media, SHM_ROLE_CONTROL, 0, SHM_ROLE_MEDIA, 0) != 0)
		return -1;
	setenv("SBC_MEDIA_IO", "epoll", 1);
	return worker_up();
}

static int teardown(void **state)
{
	(void)state;
	if (w)
		worker_down();
	shm_seg_detach(seg);
	shm_seg_unlink(seg_name);
	free(region);
	return 0;
}

static void hello(unsigned sig, uint32_t pid)
{
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, sig);
	h.pid = pid;
	assert_int_equal(shm_ring_push(&to_media[sig], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)), 0);
}

static void create(unsigned sig, uint64_t id)
{
	sbc_msg_media m;
	memset(&m, 0, sizeof(m));
	m.session_id = id;
	m.request_id = id;
	sbc_addr_parse("127.0.0.1:9", -1, &m.leg[0].remote_rtp);
	sbc_addr_parse("127.0.0.1:7", -1, &m.leg[1].remote_rtp);
	assert_int_equal(shm_ring_push(&to_media[sig], SBC_MSG_MEDIA_CREATE, SBC_MSG_V_MEDIA, &m, sizeof(m)), 0);
}

/* Everything pushed so far handled; every reply on sig's ring read: the
 * number of successful ones. */
static unsigned run(unsigned sig)
{
	const shm_rec *r;
	unsigned ok = 0;
	while (med_worker__poll_rings(w))
		;
	med_worker__publish_all(w);
	for (unsigned i = 0; i < 2; i++) {
		while ((r = shm_ring_peek(&from_media[i])) != NULL) {
			if (i == sig && r->type == SBC_MSG_MEDIA_REPLY &&
			    ((const sbc_msg_media_reply *)r->data)->status == 0)
				ok++;
			shm_ring_next(&from_media[i], r);
		}
		shm_ring_release(&from_media[i]);
	}
	return ok;
}

/* Whether the RTP port of the session's leg 0 can be bound (by us). */
static bool port_free(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), ret;
	assert_true(fd >= 0);
	ret = bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return ret == 0;
}

static med_sess *by_id(uint64_t id)
{
	return med_sess_find(w, id);
}

static void new_pid_deletes_the_rings_previous_sessions_only(void **state)
{
	(void)state;
	hello(0, 100);
	create(0, 1);
	create(0, 2);
	hello(1, 200);
	create(1, 3);
	assert_int_equal(run(0), 2);
	assert_int_equal(w->nactive, 3);
	assert_int_equal(by_id(1)->slot->creator_pid, 100);
	assert_int_equal(by_id(3)->slot->creator_pid, 200);
	uint16_t port1 = med_sess_port(w, by_id(1), 0, 0), port2 = med_sess_port(w, by_id(2), 0, 0);
	assert_false(port_free(port1));
	assert_false(port_free(port2));

	/* the same process again: nothing deleted */
	hello(0, 100);
	run(0);
	assert_int_equal(w->nactive, 3);
	assert_int_equal(w->tot.orphans_deleted, 0);

	/* signal worker 0 restarted (pid 101), and at once reuses id 1: the
	 * predecessor's records before its HELLO, its own after; both read in
	 * one turn */
	hello(0, 101);
	create(0, 1);
	assert_int_equal(run(0), 1); /* id 1 created anew, not refused as another call's */
	assert_int_equal(w->tot.orphans_deleted, 2);
	assert_int_equal(w->tot.sessions_deleted, 2);
	assert_null(by_id(2));
	assert_non_null(by_id(3)); /* another ring's: untouched */
	assert_int_equal(by_id(1)->slot->creator_pid, 101);
	assert_int_equal(w->nactive, 2);
	/* the deleted sessions' ports are back (the new session 1 took the
	 * next free block, after session 3's) */
	assert_true(port_free(port1));
	assert_true(port_free(port2));
	assert_int_not_equal(med_sess_port(w, by_id(1), 0, 0), port1);
}

static void restart_keeps_the_rings_pid(void **state)
{
	char err[256];
	bool reused;
	(void)state;
	/* session 1 is pid 101's (ring 0), session 3 pid 200's (ring 1) */
	worker_down();
	assert_int_equal(med_region_open(region, region_bytes, &cfg, 1, &reused, err, sizeof(err)), 0);
	assert_true(reused);
	assert_int_equal(worker_up(), 0);
	assert_int_equal(w->tot.sessions_restored, 2);
	/* the HELLOs were read before the restart; the pids follow from the
	 * restored sessions: a CREATE now is stamped with its process */
	create(1, 4);
	assert_int_equal(run(1), 1);
	assert_int_equal(by_id(4)->slot->creator_pid, 200);
	hello(1, 200); /* same process: nothing */
	run(1);
	assert_int_equal(w->nactive, 3);
	hello(1, 201);
	hello(0, 102);
	run(0);
	assert_int_equal(w->tot.orphans_deleted, 3);
	assert_int_equal(w->nactive, 0);
}

static void unknown_pid_sessions_go_with_the_next_process(void **state)
{
	char err[256];
	bool reused;
	(void)state;
	/* restart with no session: the ring's pid is unknown, a CREATE
	 * without a HELLO before it (that was read before our restart) */
	worker_down();
	assert_int_equal(med_region_open(region, region_bytes, &cfg, 1, &reused, err, sizeof(err)), 0);
	assert_int_equal(worker_up(), 0);
	assert_int_equal(w->nactive, 0);
	create(0, 5);
	assert_int_equal(run(0), 1);
	assert_int_equal(by_id(5)->slot->creator_pid, 0);
	hello(0, 300);
	create(0, 6);
	assert_int_equal(run(0), 1);
	assert_null(by_id(5));
	assert_non_null(by_id(6));
	assert_int_equal(w->tot.orphans_deleted, 1);
	/* a HELLO on the control ring (sbc-control's, with another pid after
	 * its restart) deletes nothing */
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_CONTROL, 0);
	h.pid = 400;
	assert_int_equal(shm_ring_push(&ctl_to_media, SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)), 0);
	run(0);
	assert_int_equal(w->nactive, 1);
	assert_int_equal(w->tot.orphans_deleted, 1);
}

/* Reopens the region and starts the worker again, as a restarted sbc-media
 * does (the rings are read on from what was released). */
static void restart(void)
{
	char err[256];
	bool reused;
	worker_down();
	assert_int_equal(med_region_open(region, region_bytes, &cfg, 1, &reused, err, sizeof(err)), 0);
	assert_true(reused);
	assert_int_equal(worker_up(), 0);
}

/* Thousands of orphans must not stall the relay: a purge deletes
 * w->purge_chunk sessions a loop turn (here 2), spares what the successor
 * creates meanwhile, and a CREATE reusing an orphan's id gets a new session
 * at once. */
static void purge_goes_in_chunks_and_spares_the_successor(void **state)
{
	(void)state;
	restart(); /* a worker of our own: purge_chunk back to the default after */
	w->purge_chunk = 2;
	unsigned before = w->nactive, orphans = (unsigned)w->tot.orphans_deleted;
	hello(1, 500);
	for (uint64_t id = 20; id < 25; id++)
		create(1, id);
	assert_int_equal(run(1), 5);
	uint16_t port20 = med_sess_port(w, by_id(20), 0, 0);
	assert_int_equal(w->nactive, before + 5);

	hello(1, 501);
	create(1, 30);
	create(1, 24); /* the successor reuses an orphan's id */
	assert_true(med_worker__poll_rings(w) > 0); /* one loop turn */
	/* 24 replaced at once, then one chunk of 2 */
	assert_int_equal(w->tot.orphans_deleted, orphans + 3);
	assert_int_equal(by_id(24)->slot->creator_pid, 501);
	assert_int_equal(by_id(30)->slot->creator_pid, 501);
	assert_true(med_worker__poll_rings(w) > 0); /* a purge under way: the loop does not sleep */
	assert_int_equal(w->tot.orphans_deleted, orphans + 5);
	assert_true(med_worker__poll_rings(w) > 0 || !w->peers[2].purging);
	while (med_worker__poll_rings(w))
		;
	assert_false(w->peers[2].purging);
	assert_int_equal(w->tot.orphans_deleted, orphans + 5);
	for (uint64_t id = 20; id < 24; id++)
		assert_null(by_id(id));
	assert_int_equal(w->nactive, before + 2);
	assert_true(port_free(port20));
	run(1);
	w->purge_chunk = 0;
}

/* A batch of records is released once handled, so after our crash it is
 * read again. [CREATE 10 (pid 600), HELLO 601, CREATE 11] handled, then a
 * crash before the batch's release: the HELLO and what came before it must
 * not come back (CREATE 10 replayed under pid 601 would be a dead call's
 * media relaying again), and the purge the HELLO began goes on after the
 * restart. */
static void crash_after_hello_replays_nothing_before_it(void **state)
{
	(void)state;
	restart();
	hello(0, 600);
	run(0);
	unsigned orphans = (unsigned)w->tot.orphans_deleted;
	create(0, 10);
	hello(0, 601);
	create(0, 11);
	med_peer *p = med_worker__peer(w, SHM_ROLE_SIGNAL, 0);
	assert_non_null(p);
	assert_int_equal(med_worker__poll_ring(w, p, 64), 3); /* handled; purge not begun; no final release */
	assert_non_null(by_id(10));
	assert_int_equal(w->tot.orphans_deleted, orphans);
	unsigned live = w->nactive;
	restart(); /* crash: nothing after the HELLO's own release */
	/* the orphan the HELLO marked went at the restart */
	assert_null(by_id(10));
	assert_int_equal(w->nactive, live - 1);
	/* the replies to CREATE 10 and 11 from before the crash, and one to
	 * CREATE 11 read again (answered with the session): CREATE 10 not */
	assert_int_equal(run(0), 3);
	assert_null(by_id(10));
	assert_non_null(by_id(11));
	assert_int_equal(by_id(11)->slot->creator_pid, 601);
	assert_int_equal(w->nactive, live - 1);
}

/* A HELLO is checked before it purges: one of another build (message sizes)
 * or of pid 0 deletes nothing. */
static void bad_hello_deletes_nothing(void **state)
{
	(void)state;
	hello(0, 601);
	create(0, 12);
	assert_int_equal(run(0), 1);
	unsigned n = w->nactive, orphans = (unsigned)w->tot.orphans_deleted, bad = (unsigned)w->tot.ctl_bad;
	hello(0, 0);
	run(0);
	assert_int_equal(w->nactive, n);
	assert_int_equal(w->tot.ctl_bad, bad + 1);
	sbc_msg_hello h;
	sbc_msg_hello_fill(&h, SHM_ROLE_SIGNAL, 0);
	h.pid = 602;
	h.sizes[SBC_MSG_MEDIA_CREATE]++;
	assert_int_equal(shm_ring_push(&to_media[0], SBC_MSG_HELLO, SBC_MSG_V_HELLO, &h, sizeof(h)), 0);
	run(0);
	assert_int_equal(w->nactive, n);
	assert_int_equal(w->tot.orphans_deleted, orphans);
	assert_int_equal(med_worker__peer(w, SHM_ROLE_SIGNAL, 0)->pid, 601);
	hello(0, 601); /* the ring's process again: its ring is read again */
	create(0, 13);
	assert_int_equal(run(0), 1);
	assert_non_null(by_id(12));
	assert_non_null(by_id(13));
}

/* A region of the layout before creator_pid (version 1, slots of
 * MED_SLOT_V1_BYTES whose tail is zero) is adopted: its calls survive a
 * media-only upgrade, their creator unknown (0). */
static void region_of_the_older_layout_is_adopted(void **state)
{
	char err[256];
	bool reused;
	(void)state;
	assert_non_null(by_id(12));
	worker_down();
	med_region_hdr *h = region;
	assert_int_equal(h->version, 1);
	h->slot_bytes = (uint32_t)MED_SLOT_V1_BYTES;
	med_slot *slots = (med_slot *)((uint8_t *)region + MED_REGION_HDR_BYTES);
	unsigned live = 0;
	for (uint32_t i = 0; i < h->nslots; i++) {
		med_slot *sl = (med_slot *)((uint8_t *)slots + (size_t)i * MED_SLOT_BYTES);
		/* what that layout left there: zeros */
		memset((uint8_t *)sl + MED_SLOT_V1_BYTES, 0, MED_SLOT_BYTES - MED_SLOT_V1_BYTES);
		live += atomic_load(&sl->state) == MED_SLOT_ACTIVE;
	}
	assert_true(live >= 2);
	assert_int_equal(med_region_open(region, region_bytes, &cfg, 1, &reused, err, sizeof(err)), 0);
	assert_true(reused);
	assert_int_equal(h->slot_bytes, sizeof(med_slot));
	assert_int_equal(worker_up(), 0);
	assert_int_equal(w->tot.sessions_restored, live);
	assert_int_equal(by_id(12)->slot->creator_pid, 0);
	/* unknown creators go with the ring's next process */
	hello(0, 700);
	create(0, 14);
	assert_int_equal(run(0), 1);
	assert_null(by_id(12));
	assert_int_equal(by_id(14)->slot->creator_pid, 700);
	/* another slot size (another layout) is still formatted */
	worker_down();
	h->slot_bytes = (uint32_t)MED_SLOT_V1_BYTES - 8;
	assert_int_equal(med_region_open(region, region_bytes, &cfg, 1, &reused, err, sizeof(err)), 0);
	assert_false(reused);
	assert_int_equal(worker_up(), 0);
	assert_int_equal(w->nactive, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_pid_deletes_the_rings_previous_sessions_only),
		cmocka_unit_test(restart_keeps_the_rings_pid),
		cmocka_unit_test(unknown_pid_sessions_go_with_the_next_process),
		cmocka_unit_test(purge_goes_in_chunks_and_spares_the_successor),
		cmocka_unit_test(crash_after_hello_replays_nothing_before_it),
		cmocka_unit_test(bad_hello_deletes_nothing),
		cmocka_unit_test(region_of_the_older_layout_is_adopted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
