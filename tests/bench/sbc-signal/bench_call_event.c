/* Call event path benchmark: the CPU sbc-signal spends per call record
 * event (sig_call_event: reserve on the control ring, copy, and the check
 * that publishes once a quarter of the ring is held), against the bare
 * reserve + copy it replaced, on a 64 KiB ring like the production control
 * ring. A consumer in the same thread takes everything every "tick".
 *  steady: 30 events per tick (a few hundred calls/s), the common path;
 *  burst:  every tenth tick 1000 events (a burst of BYEs) instead of 30,
 *          the consumer taking what is there every 250 events (slower than
 *          the producer): the ring fills, the rest is held in the worker's
 *          backlog and moved on with the next events once the consumer made
 *          room (before: dropped).
 * Target: steady costs at most 1.5x the bare reserve + copy (no syscall
 * per event; both well under 1 µs), and no event is lost in burst.
 * CPU time of this thread, not wall time (other work shares the cores). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbc/msg.h"
#include "sbc/ring.h"
#include "../../../sbc-signal/src/sig_worker.h"

#define RING_BYTES (64u << 10)

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static char g_ev[600];
static size_t g_ev_len;

/* Consumer side: takes every record; returns how many. */
static unsigned drain(shm_ring_cons *c)
{
	const shm_rec *r;
	unsigned n = 0;
	while ((r = shm_ring_peek(c)) != NULL) {
		n += r->type == SBC_MSG_CALL_EVENT;
		shm_ring_next(c, r);
	}
	shm_ring_release(c);
	return n;
}

/* One round: `ticks` ticks, the first with `burst` events (0: none), the
 * others with 30; the consumer takes what is there every drain_every events
 * and after each tick. Returns CPU ns per event; *lost: events that never
 * reached the consumer. */
static double run(sig_worker *w, shm_ring_cons *c, int bare, unsigned burst, unsigned drain_every, unsigned ticks,
		  unsigned long *lost)
{
	unsigned long sent = 0, got = 0;
	double spent = 0;
	for (unsigned t = 0; t < ticks; t++) {
		unsigned per_tick = t % 10 == 0 && burst ? burst : 30;
		double t0 = cpu_ns();
		for (unsigned i = 0; i < per_tick; i++) {
			if (i && i % drain_every == 0) { /* sbc-control catching up */
				spent += cpu_ns() - t0;
				got += drain(c);
				t0 = cpu_ns();
			}
			if (bare) {
				uint32_t total = (uint32_t)offsetof(sbc_msg_text, text) + (uint32_t)g_ev_len;
				sbc_msg_text *m = shm_ring_reserve(&w->ctl_out, SBC_MSG_CALL_EVENT, SBC_MSG_V_CALL_EVENT, total);
				if (m) {
					m->request_id = 0;
					m->len = (uint32_t)g_ev_len;
					m->_reserved = 0;
					memcpy(m->text, g_ev, g_ev_len);
				}
			} else {
				sig_call_event(w, g_ev, g_ev_len);
			}
		}
		shm_ring_publish(&w->ctl_out); /* the tick's publish */
		spent += cpu_ns() - t0;
		sent += per_tick;
		got += drain(c);
	}
	/* what is still held goes with the next event (or tick): more rounds
	 * without counting their CPU */
	while (!bare && w->ev_held_n) {
		sig_call_event(w, g_ev, g_ev_len);
		sent++;
		shm_ring_publish(&w->ctl_out);
		got += drain(c);
	}
	got += drain(c);
	*lost = sent - got;
	return spent / (double)sent;
}

int main(void)
{
	g_ev_len = (size_t)snprintf(g_ev, sizeof(g_ev),
				    "{\"event\":\"end\",\"id\":\"0-3a8234b0d0\",\"time_ms\":1795551485999,"
				    "\"start_ms\":1795551485000,\"answer_ms\":1795551485187,\"trunk_in\":\"carrier-a\","
				    "\"trunk_out\":\"carrier-b\",\"from\":\"15550001111\",\"to_in\":\"+4930123456\","
				    "\"to\":\"4930123456\",\"to_out\":\"004930123456\",\"cause\":200,"
				    "\"reason\":\"BYE from caller\",\"srtp_in\":\"AES_CM_128_HMAC_SHA1_80\","
				    "\"srtp_out\":\"AEAD_AES_256_GCM\"}");
	void *mem = aligned_alloc(64, shm_ring_footprint(RING_BYTES));
	sig_worker *w = calloc(1, sizeof(*w));
	if (!mem || !w || shm_ring_format(mem, RING_BYTES, -1) != 0)
		return 1;
	shm_ring_cons c;
	shm_ring_prod_init(&w->ctl_out, mem);
	shm_ring_cons_init(&c, mem);
	w->has_ctl = 1;

	printf("call event path (%zu-byte event, %u KiB ring), CPU ns per event:\n", g_ev_len, RING_BYTES >> 10);
	unsigned long lost_bare, lost_new;
	for (int rep = 0; rep < 3; rep++) {
		double bare = run(w, &c, 1, 0, 30, 20000, &lost_bare);
		double now = run(w, &c, 0, 0, 30, 20000, &lost_new);
		printf("  steady 30/tick: bare reserve+copy %.0f ns, sig_call_event %.0f ns (%.2fx; target <= 1.5x), "
		       "lost %lu / %lu\n", bare, now, now / bare, lost_bare, lost_new);
	}
	for (int rep = 0; rep < 3; rep++) {
		double bare = run(w, &c, 1, 1000, 250, 3000, &lost_bare);
		double now = run(w, &c, 0, 1000, 250, 3000, &lost_new);
		printf("  burst: bare reserve+copy %.0f ns (lost %lu of %u), sig_call_event %.0f ns "
		       "(lost %lu; target 0)\n", bare, lost_bare, 300u * (1000u + 9u * 30u), now, lost_new);
	}
	free(w->ev_held);
	free(w);
	free(mem);
	return 0;
}
