/* sbc-media — the io_uring data path (the default; the other is epoll +
 * recvmmsg/sendmmsg in relay.c): one multishot recvmsg per socket into a
 * ring of provided buffers, the packet processed in its buffer, and a
 * SENDMSG per packet, all of a loop turn submitted with one io_uring_enter.
 * The buffer goes back to the ring when its send completes. The sockets are
 * registered files (slot 4 * session + 2 * leg + rtcp): no file lookup and
 * reference count per receive and per send.
 *
 * SBC_MEDIA_IO=epoll selects the other path, also the fallback where
 * io_uring is refused (worker.c says why).
 * Same rules as relay.c: no allocation, no log, no lock per packet.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <liburing.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "media.h"

#define U_NBUFS 16384u /* power of two; 32 MB a worker: a turn's receives never run dry */
#define U_BUF 2048u
#define U_BGID 1
#define U_SQ 4096u

/* user_data: type(2) | gen(16) | bid(16) | local(24) | leg(1) | rtcp(1) */
enum { UT_RECV = 1, UT_SEND = 2, UT_BELL = 3 };

static inline uint64_t ud_make(unsigned type, unsigned gen, unsigned bid, unsigned local, unsigned leg, unsigned rtcp)
{
	return (uint64_t)type << 62 | (uint64_t)(gen & 0xffff) << 42 | (uint64_t)(bid & 0xffff) << 26 |
	       (uint64_t)(local & 0xffffff) << 2 | (uint64_t)leg << 1 | rtcp;
}
#define UD_TYPE(u) ((unsigned)((u) >> 62))
#define UD_GEN(u) ((unsigned)(((u) >> 42) & 0xffff))
#define UD_BID(u) ((unsigned)(((u) >> 26) & 0xffff))
#define UD_LOCAL(u) ((unsigned)(((u) >> 2) & 0xffffff))
#define UD_LEG(u) ((unsigned)(((u) >> 1) & 1))
#define UD_RTCP(u) ((unsigned)((u) & 1))

struct med_uring {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	unsigned recycled; /* buffers added since the last advance */
	struct msghdr rtmpl; /* recvmsg template: name + control sizes */
	struct {
		struct msghdr mh;
		struct iovec iov;
	} sd[U_NBUFS];
	uint64_t rearm_needed; /* multishot recvs that ended (counted) */
	bool fixed;            /* sockets are registered files (else plain fds) */
};

/* A socket's registered-file slot. */
static inline unsigned fslot(const med_worker *w, const med_sess *s, unsigned leg, unsigned rtcp)
{
	return (unsigned)(s - w->sess) * 4 + leg * 2 + rtcp;
}

/* Points sqe at the socket: its registered slot, or its descriptor. */
static inline void sqe_socket(const med_worker *w, struct io_uring_sqe *sqe, const med_sess *s, unsigned leg,
			      unsigned rtcp)
{
	if (w->uring->fixed) {
		sqe->fd = (int)fslot(w, s, leg, rtcp);
		sqe->flags |= IOSQE_FIXED_FILE;
	} else {
		sqe->fd = s->fd[leg][rtcp];
	}
}

static struct io_uring_sqe *get_sqe(med_uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void recycle(med_uring *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * U_BUF, U_BUF, (unsigned short)bid,
			      io_uring_buf_ring_mask(U_NBUFS), (int)u->recycled);
	u->recycled++;
}

static void flush_recycled(med_uring *u)
{
	if (u->recycled) {
		io_uring_buf_ring_advance(u->br, (int)u->recycled);
		u->recycled = 0;
	}
}

static int arm_recv(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp)
{
	med_uring *u = w->uring;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, s->fd[leg][rtcp], &u->rtmpl, 0);
	sqe_socket(w, sqe, s, leg, rtcp);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = U_BGID;
	io_uring_sqe_set_data64(sqe, ud_make(UT_RECV, s->gen, 0, (unsigned)(s - w->sess), leg, rtcp));
	return 0;
}

int med_uring_arm(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp)
{
	med_uring *u = w->uring;
	if (u->fixed) {
		int fd = s->fd[leg][rtcp];
		int ret = io_uring_register_files_update(&u->ring, fslot(w, s, leg, rtcp), &fd, 1);
		if (ret < 0)
			return ret;
	}
	return arm_recv(w, s, leg, rtcp);
}

void med_uring_cancel(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp)
{
	med_uring *u = w->uring;
	struct io_uring_sqe *sqe = get_sqe(u);
	if (sqe) {
		/* The socket's one armed request is its multishot recv, found by
		 * its user_data: the kernel looks a poll request up by user_data
		 * in a hash, where a cancel by fd (IORING_ASYNC_CANCEL_FD) walks
		 * every armed request: with 3,000 sessions 1 ms a DELETE, and
		 * seconds to minutes for a purge of thousands. Sends in flight
		 * complete on their own. */
		io_uring_prep_cancel64(sqe, ud_make(UT_RECV, s->gen, 0, (unsigned)(s - w->sess), leg, rtcp), 0);
		io_uring_sqe_set_data64(sqe, 0);
		/* submitted now, and the deferred work run (DEFER_TASKRUN: the
		 * cancelled recv completes, dropping its reference to the
		 * socket, only then), so that the close() that follows drops
		 * the last reference and the port is free at once: with a plain
		 * submit it stayed bound until the next loop turn's wait, and a
		 * CREATE in between skipped the block as busy (a purge's chunk
		 * followed by its successor's CREATEs: 909 of 1,000 refused) */
		io_uring_submit_and_get_events(&u->ring);
	}
	if (u->fixed) {
		int none = -1; /* the table's reference goes too */
		io_uring_register_files_update(&u->ring, fslot(w, s, leg, rtcp), &none, 1);
	}
}

static void arm_bell(med_worker *w)
{
	struct io_uring_sqe *sqe;
	if (w->bell < 0 || !(sqe = get_sqe(w->uring)))
		return;
	io_uring_prep_poll_multishot(sqe, w->bell, POLLIN);
	io_uring_sqe_set_data64(sqe, ud_make(UT_BELL, 0, 0, 0, 0, 0));
}

int med_uring_init(med_worker *w)
{
	med_uring *u = calloc(1, sizeof(*u));
	struct io_uring_params p;
	int ret;
	if (!u)
		return -ENOMEM;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = 4 * U_SQ;
	if ((ret = io_uring_queue_init_params(U_SQ, &u->ring, &p)) < 0) {
		free(u);
		return ret;
	}
	u->br_bytes = U_NBUFS * sizeof(struct io_uring_buf);
	u->br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	u->bufs = malloc((size_t)U_NBUFS * U_BUF);
	if (u->br == MAP_FAILED || !u->bufs) {
		ret = -ENOMEM;
		goto Fail;
	}
	io_uring_buf_ring_init(u->br);
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)u->br, .ring_entries = U_NBUFS, .bgid = U_BGID};
	if ((ret = io_uring_register_buf_ring(&u->ring, &reg, 0)) < 0)
		goto Fail;
	/* one registered-file slot per socket the worker may open; a kernel
	 * that refuses leaves plain descriptors (same path, a lookup more) */
	ret = io_uring_register_files_sparse(&u->ring, 4 * (w->slot_hi - w->slot_lo));
	u->fixed = ret == 0;
	if (ret < 0) /* e.g. EMFILE: the table is bounded by RLIMIT_NOFILE */
		SBC_NOTICE("worker %u: io_uring refused %u registered files (%s): plain descriptors", w->idx,
			   4 * (w->slot_hi - w->slot_lo), strerror(-ret));
	for (unsigned b = 0; b < U_NBUFS; b++)
		recycle(u, b);
	flush_recycled(u);
	/* a multiple of 8: the control messages that follow the name in the
	 * buffer must be aligned for struct cmsghdr */
	u->rtmpl.msg_namelen = (sizeof(sbc_addr) + 7) & ~7u;
	u->rtmpl.msg_controllen = CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct timespec));
	w->uring = u;
	arm_bell(w);
	/* sessions restored before the ring existed */
	uint32_t n = w->slot_hi - w->slot_lo;
	for (uint32_t i = 0; i < n; i++)
		if (w->sess[i].active)
			for (unsigned l = 0; l < 2; l++)
				for (unsigned r = 0; r < 2; r++)
					med_uring_arm(w, &w->sess[i], l, r);
	io_uring_submit(&u->ring);
	return 0;
Fail:
	if (u->br != MAP_FAILED && u->br)
		munmap(u->br, u->br_bytes);
	free(u->bufs);
	io_uring_queue_exit(&u->ring);
	free(u);
	return ret;
}

void med_uring_fini(med_worker *w)
{
	med_uring *u = w->uring;
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	munmap(u->br, u->br_bytes);
	free(u->bufs);
	free(u);
	w->uring = NULL;
}

static med_sess *sess_of(med_worker *w, uint64_t ud)
{
	unsigned local = UD_LOCAL(ud);
	if (local >= w->slot_hi - w->slot_lo)
		return NULL;
	med_sess *s = &w->sess[local];
	return s->active && s->gen == UD_GEN(ud) ? s : NULL;
}

static void on_recv(med_worker *w, struct io_uring_cqe *cqe, uint64_t now_ns)
{
	med_uring *u = w->uring;
	uint64_t ud = cqe->user_data;
	med_sess *s = sess_of(w, ud);
	unsigned leg = UD_LEG(ud), rtcp = UD_RTCP(ud);

	if (!(cqe->flags & IORING_CQE_F_MORE) && s) {
		/* the multishot ended (no buffers, or an error): arm it again
		 * (the socket is still in its registered slot) */
		u->rearm_needed++;
		arm_recv(w, s, leg, rtcp);
	}
	if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	uint8_t *buf = u->bufs + (size_t)bid * U_BUF;
	if (!s) {
		recycle(u, bid);
		return;
	}
	struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &u->rtmpl);
	if (!o) {
		s->slot->rt[leg].drops[MED_DROP_PARSE]++;
		recycle(u, bid);
		return;
	}
	uint64_t rx_ns = 0;
	struct cmsghdr *c = io_uring_recvmsg_cmsg_firsthdr(o, &u->rtmpl);
	for (; c; c = io_uring_recvmsg_cmsg_nexthdr(o, &u->rtmpl, c))
		med_relay_cmsg(s, leg, rtcp, c, &rx_ns);
	uint8_t *pay = io_uring_recvmsg_payload(o, &u->rtmpl);
	int len = (int)io_uring_recvmsg_payload_length(o, cqe->res, &u->rtmpl);
	int cap = (int)(buf + U_BUF - pay);
	sbc_addr src;
	memset(&src, 0, sizeof(src));
	memcpy(&src, io_uring_recvmsg_name(o), o->namelen < sizeof(src) ? o->namelen : sizeof(src));
	bool is_rtcp = false;
	const sbc_addr *dst = med_relay_packet(w, s, leg, rtcp, pay, &len, cap, (o->flags & MSG_TRUNC) != 0, &src,
					       now_ns, rx_ns, &is_rtcp);
	if (!dst) {
		recycle(u, bid);
		return;
	}
	unsigned ol = leg ^ 1, ortcp = is_rtcp && !(s->slot->flags & SBC_MEDIA_F_RTCP_MUX);
	struct io_uring_sqe *sqe = get_sqe(u);
	if (!sqe) {
		s->slot->rt[leg].drops[MED_DROP_SEND]++;
		recycle(u, bid);
		return;
	}
	u->sd[bid].iov = (struct iovec){pay, (size_t)len};
	u->sd[bid].mh = (struct msghdr){.msg_name = (void *)dst, .msg_namelen = sbc_addr_len(dst),
					.msg_iov = &u->sd[bid].iov, .msg_iovlen = 1};
	io_uring_prep_sendmsg(sqe, s->fd[ol][ortcp], &u->sd[bid].mh, MSG_DONTWAIT);
	sqe_socket(w, sqe, s, ol, ortcp);
	io_uring_sqe_set_data64(sqe, ud_make(UT_SEND, s->gen, bid, (unsigned)(s - w->sess), ol, is_rtcp));
}

static void on_send(med_worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	med_sess *s = sess_of(w, ud);
	unsigned bid = UD_BID(ud);
	if (s) {
		med_leg_rt *out = &s->slot->rt[UD_LEG(ud)];
		if (cqe->res < 0)
			s->slot->rt[UD_LEG(ud) ^ 1].drops[MED_DROP_SEND]++;
		else if (UD_RTCP(ud))
			out->rtcp_out++;
		else {
			out->packets_out++;
			out->bytes_out += (uint64_t)cqe->res;
		}
	}
	recycle(w->uring, bid);
}

uint64_t med_uring_rearms(med_worker *w) { return w->uring ? w->uring->rearm_needed : 0; }

void med_uring_loop(med_worker *w)
{
	med_uring *u = w->uring;
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		unsigned msgs = med_worker__poll_rings(w);
		unsigned seen = 0, head;
		struct io_uring_cqe *cqe;
		uint64_t now_ns = sbc_mono_ns();
		w->now_ms = now_ns / SBC_NS_PER_MS;
		w->now_real_ns = med_real_ns();
		io_uring_for_each_cqe(&u->ring, head, cqe)
		{
			uint64_t ud = cqe->user_data;
			switch (UD_TYPE(ud)) {
			case UT_RECV: on_recv(w, cqe, now_ns); break;
			case UT_SEND: on_send(w, cqe); break;
			case UT_BELL:
				shm_doorbell_drain(w->bell);
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_bell(w);
				break;
			default: break; /* cancel results */
			}
			seen++;
		}
		io_uring_cq_advance(&u->ring, seen);
		flush_recycled(u);
		if (seen == 0)
			w->idle_ms = w->now_ms;
		w->overloaded = w->now_ms > w->idle_ms + MED_OVERLOAD_MS;
		if (seen == 0 && msgs == 0 && med_worker__prepare_sleep(w)) {
			uint64_t left = w->next_sweep_ms > w->now_ms ? w->next_sweep_ms - w->now_ms : 0;
			struct __kernel_timespec ts = {.tv_sec = (long long)(left / 1000),
						       .tv_nsec = (long long)(left % 1000) * 1000000};
			io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
			med_worker__cancel_sleep(w);
		} else {
			/* the sends of this turn, one system call; and the
			 * deferred receive work runs on the way out */
			io_uring_submit_and_get_events(&u->ring);
		}
		w->now_ms = sbc_mono_ms();
		if (w->now_ms >= w->next_sweep_ms) {
			med_worker__sweep(w);
			w->next_sweep_ms = w->now_ms + MED_SWEEP_MS;
		}
		med_worker__publish_all(w);
	}
}
