/* sbc-media — internal types and functions shared by the worker's files.
 *
 * Map: main.c (wiring) -> config.c (runtime.json) -> session.c (the shared
 * table "media.sessions", sockets, SRTP contexts; control path) ->
 * worker.c (one pinned thread: rings from control and every signal worker,
 * replies, events, stats/command JSON, the epoll loop) -> relay.c (the
 * packet path: checks, latching, RFC 3550 counters, transcryption via
 * xcrypt.h onto the srtp module; epoll + recvmmsg/sendmmsg) and uring.c
 * (the same packet path on io_uring: multishot recvmsg + batched sendmsg)
 * and xdp_wire.c (the AF_XDP backend of xdp_backend.h plugged into the
 * worker: media.backend "xdp" on media.xdp_interfaces; see its caveats).
 *
 * Control commands (SBC_MSG_COMMAND on a worker's control ring, answered
 * with SBC_MSG_COMMAND_REPLY): {"method":"media.stats"} (the STATS_REPLY
 * object) and {"method":"media.sessions","offset":N} (a page of sessions
 * with per-leg counters; "next" is the offset of the next page or null).
 *
 * Environment knobs (measurement aids, not configuration):
 *   SBC_MEDIA_IO=uring       the io_uring data path instead of epoll
 *   SBC_MEDIA_COALESCE_US=n  epoll path: wait n us after a small wake-up
 *   SBC_MEDIA_ORPHANS=keep   a HELLO with a new pid deletes nothing (tests of
 *                            sbc-signal's fallback: a TIMEOUT for a session
 *                            no call holds is answered with DELETE)
 *
 * Caveats:
 *  1. A med_worker is one pinned thread. Everything it touches (its
 *     sessions, sockets, rings, buffers) is owned by it alone: no locks.
 *  2. The packet path (relay.c) never allocates, never logs, never blocks;
 *     drops are counted per session leg and reason (enum med_drop).
 *  3. Sessions live in the shared region (med_slot); med_sess is the
 *     worker's private companion (sockets, SRTP contexts), rebuilt from the
 *     slot after a restart.
 */
#ifndef MED_MEDIA_H
#define MED_MEDIA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "sbc/msg.h"
#include "sbc/shm.h"
#include "config.h"
#include "table-t.h"
#include "xcrypt.h"

#define MED_BATCH 32
/* Overload: a worker that has not once found its sockets empty for
 * MED_OVERLOAD_MS is behind. Then a socket that yields a full batch (one
 * call's stream at 50 packets/s queues 32 only after 640 ms) has only its
 * newest MED_KEEP packets relayed; the rest are shed (counted), so that the
 * relay catches up at once instead of relaying stale audio for seconds. A
 * burst on an otherwise keeping-up worker is relayed whole. */
#define MED_KEEP 4
#define MED_OVERLOAD_MS 50
/* A packet that waited this long in the kernel's receive queue (by its
 * SO_TIMESTAMPNS) is shed: no jitter buffer would still play it. */
#define MED_STALE_NS (200 * 1000000ull)
#define MED_PKT_BUF 2048
#define MED_MAX_EVENTS 256
#define MED_SWEEP_MS 200
/* A dead sbc-signal's sessions are deleted this many a loop turn (its
 * successor's HELLO can find thousands: their sockets' cancels and closes
 * in one turn froze the relay for seconds). */
#define MED_PURGE_CHUNK 64

typedef struct med_uring med_uring;
typedef struct med_xdp med_xdp;
typedef struct med_xdp_worker med_xdp_worker;
/* epoll tag of the AF_XDP sockets' fds (BELL_TAG is UINT64_MAX) */
#define MED_XDP_TAG (UINT64_MAX - 1)

typedef struct med_sess {
	med_slot *slot;   /* in the shared region */
	uint32_t gidx;    /* global slot index: decides the ports */
	int fd[2][2];     /* [leg][0 RTP, 1 RTCP] */
	med_xc *xc_rx[2]; /* unprotect packets from leg's peer; NULL: plain */
	med_xc *xc_tx[2]; /* protect packets to leg's peer; NULL: plain */
	uint32_t ovfl[2][2]; /* last SO_RXQ_OVFL value seen per socket */
	uint16_t gen;     /* bumped per use of the slot: io_uring completions of a
			   * previous session are recognised and ignored */
	uint8_t active;
	uint64_t timeout_sent_ms; /* when its last TIMEOUT event went out (med_worker__sweep) */
} med_sess;

/* One peer (control or a signal worker) with its ring in each direction. */
typedef struct med_peer {
	shm_ring_cons in;
	shm_ring_prod out;
	uint8_t role, idx;
	uint8_t ok;        /* rings found */
	uint8_t bad;       /* HELLO refused: ignore its messages */
	uint8_t got_hello;
	/* pid of the process on the other end: from its last HELLO, or (after
	 * our restart, whose HELLO we read before it) the creator of the ring's
	 * newest restored session; 0 unknown. New sessions record it. */
	uint32_t pid;
	/* A purge under way (worker.c hello_from): the ring's sessions marked
	 * orphaned are deleted, w->purge_chunk a loop turn, from slot
	 * purge_cursor on. */
	uint8_t purging;
	uint32_t purge_cursor;
	uint32_t purge_gone, purge_count; /* for the log line at its end */
} med_peer;

typedef struct med_totals {
	uint64_t sessions_created, sessions_deleted, sessions_restored, sessions_lost;
	uint64_t timeouts, latches;
	uint64_t ports_busy; /* session port blocks a CREATE skipped: another socket held one */
	uint64_t ctl_msgs, ctl_bad, replies_dropped, events_dropped;
	/* counters of deleted sessions, so that totals never go backwards */
	uint64_t packets_in, bytes_in, packets_out, bytes_out, rtcp_in, rtcp_out;
	uint64_t drops[MED_DROP_MAX_];
	uint64_t xdp_foreign; /* AF_XDP: a packet for no session of this worker */
	/* sessions deleted because a new process said HELLO on their ring */
	uint64_t orphans_deleted;
} med_totals;

typedef struct med_worker {
	unsigned idx;
	int cpu; /* pinned to, or -1 */
	const med_config *cfg;
	shm_seg *seg;
	med_region_hdr *region;
	med_slot *slots;   /* slot 0 of the region */
	uint32_t slot_lo, slot_hi; /* owned: [lo, hi) */
	uint32_t cursor;   /* next slot to try for a new session */
	med_sess *sess;    /* [slot_hi - slot_lo] */
	uint32_t nactive;
	int epfd;
	int bell; /* doorbell eventfd, or -1 */
	med_peer peers[1 + SHM_MAX_WORKERS];
	unsigned npeers;
	med_totals tot;
	/* Sessions a purge deletes per loop turn at most (MED_PURGE_CHUNK): the
	 * loop relays and reaps completions between chunks. */
	unsigned purge_chunk;
	bool keep_orphans; /* SBC_MEDIA_ORPHANS=keep: no purge at all */
	uint64_t now_ms; /* monotonic, refreshed per loop turn */
	uint64_t now_ns;      /* monotonic, refreshed per loop turn (socket path) */
	/* Session sockets are edge-triggered: one left with packets queued
	 * (MED_RELAY_ROUNDS full batches read) is read again next turn. */
	uint64_t pending[2 * MED_MAX_EVENTS];
	unsigned npending;
	uint64_t now_real_ns; /* CLOCK_REALTIME of the current batch (packet ages) */
	uint64_t next_sweep_ms;
	uint64_t idle_ms;  /* last time epoll found nothing to do */
	bool overloaded;   /* busy without a break for MED_OVERLOAD_MS */
	uint32_t coalesce_ns; /* experiment: SBC_MEDIA_COALESCE_US */
	bool use_uring;       /* SBC_MEDIA_IO=uring: the io_uring data path */
	med_uring *uring;     /* set up by the worker thread itself */
	med_xdp *xdp;         /* AF_XDP backend in use, or NULL (sockets) */
	med_xdp_worker *xw;   /* this worker's AF_XDP sockets, or NULL */
	uint64_t xdp_now_ns;  /* monotonic time of the current AF_XDP batch */
	_Atomic int *stop;
	pthread_t thread;
	int start_ret; /* set by the thread */
	/* Packet buffers: received in place, forwarded from the same memory. */
	struct mmsghdr rmsg[MED_BATCH];
	struct iovec riov[MED_BATCH];
	sbc_addr rsrc[MED_BATCH];
	uint8_t rctl[MED_BATCH][64];
	struct mmsghdr smsg[MED_BATCH];
	struct iovec siov[MED_BATCH];
	_Alignas(64) uint8_t buf[MED_BATCH][MED_PKT_BUF];
} med_worker;

/* CLOCK_REALTIME in ns: the clock of SO_TIMESTAMPNS. */
static inline uint64_t med_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- session.c ---- */

/* Prepares the region: reuse when it matches cfg (restart), format otherwise.
 * mem/bytes: the shared region, or private memory. */
int med_region_open(void *mem, size_t bytes, const med_config *cfg, unsigned workers,
		    bool *reused, char *errbuf, size_t errlen);
uint32_t med_region_slots_for(const med_config *cfg);

/* Rebuilds the sockets and SRTP contexts of every live slot the worker owns. */
void med_sessions_restore(med_worker *w);
med_sess *med_sess_find(med_worker *w, uint64_t session_id);
/* The live session of this worker that owns local port, and which leg and
 * socket (0 RTP, 1 RTCP) the port is; NULL when none. O(1): ports follow
 * from slots. For data paths that see packets by destination port (AF_XDP:
 * its callback calls med_relay_packet() with what this returns). */
med_sess *med_sess_by_port(med_worker *w, uint16_t port, unsigned *leg, unsigned *rtcp);
int med_sess_create(med_worker *w, const sbc_msg_media *m, unsigned role, unsigned idx,
		    med_sess **out);
int med_sess_update(med_worker *w, med_sess *s, const sbc_msg_media *m);
void med_sess_delete(med_worker *w, med_sess *s);
void med_sess_fill_reply(med_worker *w, med_sess *s, sbc_msg_media_reply *r);
uint16_t med_sess_port(const med_worker *w, const med_sess *s, unsigned leg, unsigned rtcp);

/* ---- relay.c ---- */
/* Reads leg's RTP (rtcp 0) or RTCP socket and relays what came; false when
 * packets may be left in it (read it again: it is edge-triggered). */
bool med_relay_readable(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp);
/* Sets up the worker's receive headers once (med_worker_init does). */
void med_relay_init_batch(med_worker *w);
/* One packet p (*plen bytes, buffer of cap bytes) that arrived on leg's RTP
 * (rtcp_sock 0) or RTCP socket from src: checked, unprotected, counted,
 * protected for the other leg in place. Returns where to send it (*plen
 * updated, *out_rtcp: send as RTCP), or NULL when dropped (counted). */
const sbc_addr *med_relay_packet(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp_sock, uint8_t *p,
				 int *plen, int cap, bool truncated, const sbc_addr *src, uint64_t now_ns,
				 uint64_t rx_ns, bool *out_rtcp);
/* One control message of a received packet: kernel drops (SO_RXQ_OVFL) are
 * counted on the leg, the kernel receive time goes to *rx_ns. */
void med_relay_cmsg(med_sess *s, unsigned leg, unsigned rtcp, const struct cmsghdr *c, uint64_t *rx_ns);
void med_rtp_rx_update(med_rtp_rx *r, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t now_ns);
uint32_t med_rtp_rx_lost(const med_rtp_rx *r);
uint32_t med_rtp_rx_jitter_us(const med_rtp_rx *r);

/* ---- uring.c ---- */
int med_uring_init(med_worker *w);
void med_uring_fini(med_worker *w);
int med_uring_arm(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp);
void med_uring_cancel(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp);
void med_uring_loop(med_worker *w);
uint64_t med_uring_rearms(med_worker *w);

/* ---- xdp_wire.c ---- */
/* media.backend "xdp": opens the backend for `workers` workers, or logs why
 * not and returns NULL (the socket backend carries on). */
med_xdp *med_xdp_backend_open(const med_config *cfg, unsigned workers);
/* Records (and logs) why XDP is not used after all, for media.stats. */
void med_xdp_backend_failed(const char *why);
const char *med_xdp_unused_why(void);
/* After med_worker_init(): the worker's AF_XDP sockets on queue w->idx,
 * into its epoll; restored sessions' ports enabled. */
int med_worker_xdp_attach(med_worker *w, med_xdp *x, char *why, size_t whylen);
void med_worker_xdp_detach(med_worker *w);
/* Session ports on/off in the XDP program's port filter (no-op on sockets). */
void med_xdp_sess_ports(med_worker *w, med_sess *s, bool on);
/* Next hops of the session's peers resolved now (blocking, bounded). */
void med_xdp_sess_resolve(med_worker *w, med_sess *s);
/* One round of the AF_XDP rings (no sleep); packets received. */
unsigned med_worker_xdp_poll(med_worker *w);
/* {"backend":..., "xdp_mode":..., "xdp":{...}} merged into media.stats. */
struct json_t *med_worker_xdp_json(med_worker *w);

/* ---- worker.c ---- */
unsigned med_worker__poll_rings(med_worker *w);
/* Up to max records of p's ring handled, the ring released after each HELLO
 * (never read twice, even after our crash) but not at the end: the caller
 * releases (poll_rings does). Returns the count. */
unsigned med_worker__poll_ring(med_worker *w, med_peer *p, unsigned max);
/* One chunk of the purges under way; returns the sessions deleted, or 1 when
 * a purge only walked (more to do next turn). */
unsigned med_worker__purge_step(med_worker *w);
/* The session's ports out of the XDP filter, then the session deleted. */
void med_worker__drop(med_worker *w, med_sess *s);
/* The peer of that ring, or NULL. */
med_peer *med_worker__peer(med_worker *w, unsigned role, unsigned idx);
bool med_worker__prepare_sleep(med_worker *w);
void med_worker__cancel_sleep(med_worker *w);
void med_worker__sweep(med_worker *w);
void med_worker__publish_all(med_worker *w);
int med_worker_init(med_worker *w, unsigned idx, const med_config *cfg, shm_seg *seg,
		    med_region_hdr *region, _Atomic int *stop);
int med_worker_start(med_worker *w);
void med_worker_wake(med_worker *w);
void med_worker_fini(med_worker *w);
/* Pushes an event to the session's creator; counted when the ring is full. */
void med_worker_event(med_worker *w, med_sess *s, unsigned kind, unsigned leg,
		      const sbc_addr *addr);
const char *med_drop_name(unsigned reason);

#endif
