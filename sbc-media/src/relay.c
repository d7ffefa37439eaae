/* sbc-media — the packet path: receive a batch from one socket, check,
 * transcrypt, count, and send the batch out of the other leg's socket.
 *
 * Rules: no allocation, no logging, no locks, no blocking. Every packet that
 * is not forwarded is counted under one enum med_drop reason.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "media.h"

void med_rtp_rx_update(med_rtp_rx *r, uint16_t seq, uint32_t ts, uint32_t ssrc, uint64_t now_ns)
{
	if (!r->started || r->ssrc != ssrc) {
		memset(r, 0, sizeof(*r));
		r->started = 1;
		r->ssrc = ssrc;
		r->base_seq = seq;
		r->max_seq = seq;
		r->received = 1;
		r->prev_ts = ts;
		r->prev_arrival_ns = now_ns;
		return;
	}
	uint16_t udelta = (uint16_t)(seq - r->max_seq);
	if (udelta < 3000) {
		if (seq < r->max_seq)
			r->cycles += 65536;
		r->max_seq = seq;
	} else if (udelta <= 65536 - 100) {
		/* A jump: the sender restarted its sequence. Start over from here,
		 * keeping what was lost so far. */
		uint32_t lost = med_rtp_rx_lost(r);
		r->base_seq = seq;
		r->max_seq = seq;
		r->cycles = 0;
		r->received = 0;
		r->expected_prior = lost; /* reused: loss carried over */
	}
	/* else: duplicate or reordered, counted as received */
	r->received++;
	/* RFC 3550 A.8: D = (Rj - Ri) - (Sj - Si), clock assumed 8 kHz. */
	int64_t d = (int64_t)(now_ns - r->prev_arrival_ns) - (int64_t)(int32_t)(ts - r->prev_ts) * 125000;
	if (d < 0)
		d = -d;
	r->jitter_ns16 += (uint64_t)d - ((r->jitter_ns16 + 8) >> 4);
	r->prev_ts = ts;
	r->prev_arrival_ns = now_ns;
}

uint32_t med_rtp_rx_lost(const med_rtp_rx *r)
{
	if (!r->started)
		return 0;
	int64_t expected = (int64_t)r->cycles + r->max_seq - r->base_seq + 1;
	int64_t lost = expected - (int64_t)r->received;
	if (lost < 0)
		lost = 0;
	return (uint32_t)lost + r->expected_prior;
}

uint32_t med_rtp_rx_jitter_us(const med_rtp_rx *r)
{
	return (uint32_t)((r->jitter_ns16 >> 4) / 1000);
}

static inline bool is_rtcp_pt(const uint8_t *p)
{
	return p[1] >= 192 && p[1] <= 223; /* RFC 5761 section 4 */
}

void med_relay_cmsg(med_sess *s, unsigned leg, unsigned rtcp, const struct cmsghdr *c, uint64_t *rx_ns)
{
	if (c->cmsg_level != SOL_SOCKET)
		return;
	if (c->cmsg_type == SO_RXQ_OVFL) {
		uint32_t v;
		memcpy(&v, CMSG_DATA(c), sizeof(v));
		if (v != s->ovfl[leg][rtcp]) {
			s->slot->rt[leg].drops[MED_DROP_KERNEL] += (uint32_t)(v - s->ovfl[leg][rtcp]);
			s->ovfl[leg][rtcp] = v;
		}
	} else if (c->cmsg_type == SCM_TIMESTAMPNS) {
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		*rx_ns = sbc_ts_to_ns(&ts);
	}
}

static inline int xc_err_reason(int err)
{
	switch (err) {
	case SBC_E_AUTH: return MED_DROP_AUTH;
	case SBC_E_REPLAY: return MED_DROP_REPLAY;
	case SBC_E_PARSE: return MED_DROP_PARSE;
	default: return MED_DROP_SRTP;
	}
}

const sbc_addr *med_relay_packet(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp_sock, uint8_t *p,
				 int *plen, int cap, bool truncated, const sbc_addr *src, uint64_t now_ns,
				 uint64_t rx_ns, bool *out_rtcp)
{
	med_slot *sl = s->slot;
	med_leg_rt *in = &sl->rt[leg];
	unsigned o = leg ^ 1;
	med_leg_rt *out = &sl->rt[o];
	int len = *plen;
	bool rtcp = rtcp_sock;
	int err;

	/* Waited in the kernel's queue longer than any jitter buffer holds:
	 * the relay is behind; shed it (counted) so the queue drains. */
	if (rx_ns && w->now_real_ns > rx_ns + MED_STALE_NS) {
		in->drops[MED_DROP_SHED]++;
		return NULL;
	}
	if (len < 8 || (p[0] & 0xc0) != 0x80 || truncated)
		goto Parse;
	if (!rtcp && (sl->flags & SBC_MEDIA_F_RTCP_MUX) && is_rtcp_pt(p))
		rtcp = true;
	if (!rtcp && len < 12)
		goto Parse;

	/* Once latched, only the latched peer may send on this leg. */
	if (sl->cfg[leg].latch) {
		uint8_t latched = rtcp && !(sl->flags & SBC_MEDIA_F_RTCP_MUX) ? in->latched_rtcp : in->latched;
		const sbc_addr *peer = rtcp && !(sl->flags & SBC_MEDIA_F_RTCP_MUX) ? &in->peer_rtcp : &in->peer_rtp;
		if (latched && !sbc_addr_equal(src, peer)) {
			in->drops[MED_DROP_SOURCE]++;
			return NULL;
		}
	}
	if (s->xc_rx[leg]) {
		err = rtcp ? med_xc_rtcp(s->xc_rx[leg], p, &len, cap) : med_xc_rtp(s->xc_rx[leg], p, &len, cap);
		if (err) {
			in->drops[xc_err_reason(err)]++;
			return NULL;
		}
	}
	/* Authentic (or plain): learn the address. */
	if (sl->cfg[leg].latch) {
		if (rtcp && !(sl->flags & SBC_MEDIA_F_RTCP_MUX)) {
			if (!in->latched_rtcp) {
				in->peer_rtcp = *src;
				in->latched_rtcp = 1;
			}
		} else if (!in->latched) {
			in->peer_rtp = *src;
			in->latched = 1;
			if (sl->flags & SBC_MEDIA_F_RTCP_MUX) {
				in->peer_rtcp = *src;
				in->latched_rtcp = 1;
			}
			w->tot.latches++;
			med_worker_event(w, s, SBC_MEDIA_EV_LATCHED, leg, src);
		}
	}
	in->last_rx_ms = w->now_ms;
	if (rtcp) {
		in->rtcp_in++;
	} else {
		in->packets_in++;
		in->bytes_in += (uint64_t)len;
		med_rtp_rx_update(&in->rx, (uint16_t)(p[2] << 8 | p[3]),
				  (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7],
				  (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11],
				  rx_ns ? rx_ns : now_ns); /* the kernel's arrival time when there is one */
	}
	const sbc_addr *dst = rtcp && !(sl->flags & SBC_MEDIA_F_RTCP_MUX) ? &out->peer_rtcp : &out->peer_rtp;
	if (dst->sa.sa_family == 0) {
		in->drops[MED_DROP_NO_PEER]++;
		return NULL;
	}
	if (s->xc_tx[o]) {
		err = rtcp ? med_xc_rtcp(s->xc_tx[o], p, &len, cap) : med_xc_rtp(s->xc_tx[o], p, &len, cap);
		if (err) {
			in->drops[MED_DROP_SRTP]++;
			return NULL;
		}
	}
	*plen = len;
	*out_rtcp = rtcp;
	return dst;
Parse:
	in->drops[MED_DROP_PARSE]++;
	return NULL;
}

/* recvmmsg/sendmmsg straight through syscall(): glibc's wrappers are
 * thread cancellation points and switch asynchronous cancellation on and
 * off around every call, work this thread (never cancelled) does not need
 * on every packet. */
static inline int rx_mmsg(int fd, struct mmsghdr *m, unsigned n)
{
	return (int)syscall(SYS_recvmmsg, fd, m, n, MSG_DONTWAIT, NULL);
}

static inline int tx_mmsg(int fd, struct mmsghdr *m, unsigned n)
{
	return (int)syscall(SYS_sendmmsg, fd, m, n, MSG_DONTWAIT);
}

static void send_batch(med_worker *w, med_sess *s, unsigned o, int fd, unsigned k, bool rtcp)
{
	med_leg_rt *out = &s->slot->rt[o];
	unsigned sent = 0;
	while (sent < k) {
		int r = tx_mmsg(fd, w->smsg + sent, k - sent);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* Buffer full or the peer unreachable: shed, counted on the
			 * leg the packets came from. */
			s->slot->rt[o ^ 1].drops[MED_DROP_SEND] += k - sent;
			break;
		}
		for (unsigned j = sent; j < sent + (unsigned)r; j++) {
			if (rtcp) {
				out->rtcp_out++;
			} else {
				out->packets_out++;
				out->bytes_out += w->smsg[j].msg_hdr.msg_iov->iov_len;
			}
		}
		sent += (unsigned)r;
	}
}

/* Sets up receive header i. The kernel only writes back msg_namelen,
 * msg_controllen, msg_flags and msg_len of the entries it filled, and the
 * iovecs are never changed (sends use their own), so after a receive only
 * those n entries are reset, not the whole batch: at 50 packets/s per
 * socket a receive mostly returns one packet. */
static inline void reset_rmsg(med_worker *w, unsigned i)
{
	struct msghdr *mh = &w->rmsg[i].msg_hdr;
	mh->msg_namelen = sizeof(w->rsrc[i]);
	mh->msg_controllen = sizeof(w->rctl[i]);
	mh->msg_flags = 0;
}

void med_relay_init_batch(med_worker *w)
{
	for (unsigned i = 0; i < MED_BATCH; i++) {
		struct msghdr *mh = &w->rmsg[i].msg_hdr;
		w->riov[i].iov_base = w->buf[i];
		w->riov[i].iov_len = MED_PKT_BUF - MED_XC_MAX_TRAILER;
		mh->msg_name = &w->rsrc[i];
		mh->msg_iov = &w->riov[i];
		mh->msg_iovlen = 1;
		mh->msg_control = w->rctl[i];
		reset_rmsg(w, i);
	}
}

bool med_relay_readable(med_worker *w, med_sess *s, unsigned leg, unsigned rtcp)
{
	int fd = s->fd[leg][rtcp];
	unsigned o = leg ^ 1;

	/* At most 4 batches, then the other sockets get their turn. A short
	 * batch means the queue is empty (UDP receives stop at EAGAIN). */
	for (int round = 0; round < 4; round++) {
		int n = rx_mmsg(fd, w->rmsg, MED_BATCH);
		if (n <= 0)
			return n < 0 && errno == EINTR ? false : true;
		/* One clock read per worker turn (w->now_ns, set by the loop)
		 * instead of two per receive: a packet's own arrival time is
		 * its SO_TIMESTAMPNS; this is only for the counters. */
		uint64_t now_ns = w->now_ns;
		/* Packets of one receive batch all leave through one socket; RTP
		 * and RTCP muxed on one port are sent in order, in runs. */
		unsigned k = 0, first = 0;
		bool run_rtcp = false;
		if (n == MED_BATCH && w->overloaded) {
			first = MED_BATCH - MED_KEEP;
			s->slot->rt[leg].drops[MED_DROP_SHED] += first;
			for (unsigned i = 0; i < first; i++) { /* their kernel drop counts still matter */
				uint64_t rx_ns;
				struct msghdr *mh = &w->rmsg[i].msg_hdr;
				for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
					med_relay_cmsg(s, leg, rtcp, c, &rx_ns);
				reset_rmsg(w, i);
			}
		}
		for (unsigned i = first; i < (unsigned)n; i++) {
			bool is_rtcp = false;
			int len = (int)w->rmsg[i].msg_len;
			uint64_t rx_ns = 0;
			struct msghdr *mh = &w->rmsg[i].msg_hdr;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
				med_relay_cmsg(s, leg, rtcp, c, &rx_ns);
			const sbc_addr *dst =
				med_relay_packet(w, s, leg, rtcp, w->buf[i], &len, MED_PKT_BUF,
						 (mh->msg_flags & MSG_TRUNC) != 0, &w->rsrc[i], now_ns, rx_ns, &is_rtcp);
			reset_rmsg(w, i);
			if (!dst)
				continue;
			if (k && (is_rtcp != run_rtcp)) {
				int pfd = s->fd[o][run_rtcp && !(s->slot->flags & SBC_MEDIA_F_RTCP_MUX) ? 1 : 0];
				send_batch(w, s, o, pfd, k, run_rtcp);
				k = 0;
			}
			run_rtcp = is_rtcp;
			struct msghdr *sh = &w->smsg[k].msg_hdr;
			w->siov[k] = (struct iovec){w->buf[i], (size_t)len};
			sh->msg_name = (void *)dst;
			sh->msg_namelen = sbc_addr_len(dst);
			sh->msg_iov = &w->siov[k];
			sh->msg_iovlen = 1;
			sh->msg_control = NULL;
			sh->msg_controllen = 0;
			sh->msg_flags = 0;
			k++;
		}
		if (k) {
			int pfd = s->fd[o][run_rtcp && !(s->slot->flags & SBC_MEDIA_F_RTCP_MUX) ? 1 : 0];
			send_batch(w, s, o, pfd, k, run_rtcp);
		}
		if (n < MED_BATCH)
			return true;
	}
	return false;
}
