/* sbc-signal — media session messages from SDP + SRTP decisions. See b2b_media.h. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <openssl/mem.h>

#include "sbc/err.h"
#include "b2b_media.h"

int b2b_media_fill_leg(sbc_media_leg *leg, const sdp_session *s, unsigned i, const sdes_result *r, int latch)
{
	int rc;
	OPENSSL_cleanse(leg, sizeof(*leg));
	leg->latch = latch ? 1 : 0;
	if (s) {
		if ((rc = sdp_media_remote(s, i, &leg->remote_rtp, &leg->remote_rtcp)) < 0) {
			memset(leg, 0, sizeof(*leg));
			return rc;
		}
		/* a=rtcp absent and no mux: leave RTCP at family 0 = RTP port + 1 */
		if (!s->media[i].rtcp_mux && s->media[i].rtcp_port < 0)
			memset(&leg->remote_rtcp, 0, sizeof(leg->remote_rtcp));
	}
	if (r && r->srtp) {
		leg->rx = r->rx;
		leg->tx = r->tx;
	}
	return 0;
}

void b2b_media_set_mux(sbc_msg_media *m, const sdp_session *a, unsigned ai, const sdp_session *b, unsigned bi)
{
	int mux = a && b && ai < a->n_media && bi < b->n_media && a->media[ai].rtcp_mux && b->media[bi].rtcp_mux;
	if (mux)
		m->flags |= SBC_MEDIA_F_RTCP_MUX;
	else
		m->flags &= ~(uint32_t)SBC_MEDIA_F_RTCP_MUX;
}

char *b2b_media_format(const sbc_msg_media *m, char *buf, size_t cap)
{
	char a[SBC_ADDR_STRLEN], rx[96], tx[96];
	size_t n = 0;
	int w = snprintf(buf, cap, "id=%llu", (unsigned long long)m->session_id);
	if (w < 0 || (size_t)w >= cap)
		return buf;
	n = (size_t)w;
	for (int i = 0; i < 2; i++) {
		const sbc_media_leg *l = &m->leg[i];
		if (l->remote_rtp.sa.sa_family)
			sbc_addr_format(&l->remote_rtp, a, sizeof(a));
		else
			snprintf(a, sizeof(a), "unknown");
		w = snprintf(buf + n, cap - n, " %sleg%d %s%s rx=%s tx=%s", i ? "| " : "", i, a,
			     l->latch ? " latch" : "", sdes_format_redacted(&l->rx, rx, sizeof(rx)),
			     sdes_format_redacted(&l->tx, tx, sizeof(tx)));
		if (w < 0 || (size_t)w >= cap - n)
			return buf;
		n += (size_t)w;
	}
	return buf;
}

/* rx and tx side by side: one cleanse per leg */
_Static_assert(offsetof(sbc_media_leg, tx) == offsetof(sbc_media_leg, rx) + sizeof(sbc_srtp_params),
	       "b2b_media_wipe: rx and tx adjacent");

void b2b_media_wipe(sbc_msg_media *m)
{
	for (int i = 0; i < 2; i++)
		OPENSSL_cleanse(&m->leg[i].rx, 2 * sizeof(sbc_srtp_params));
}
