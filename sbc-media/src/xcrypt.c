/* sbc-media — SRTP seam onto the srtp module (srtp.h: libsrtp2 for the
 * protocol, BoringSSL for the per-packet crypto). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "xcrypt.h"

struct med_xc {
	med_srtp_ctx c;
	bool outbound;
};

int med_xc_key_len(unsigned suite)
{
	int n = med_srtp_key_len(suite);
	return n < 0 ? -1 : n;
}

const char *med_xc_suite_name(unsigned suite)
{
	const char *n = med_srtp_suite_name(suite);
	return n ? n : "?";
}

int med_xc_global_init(char *errbuf, size_t errlen)
{
	return med_srtp_global_init(errbuf, errlen);
}

int med_xc_create(med_xc **out, const sbc_srtp_params *p, bool outbound, med_xc_state *st)
{
	med_xc *x;
	int ret;
	if (p->suite == SBC_SRTP_NONE || p->suite >= SBC_SRTP_SUITE_MAX_ || med_srtp_key_len(p->suite) != p->key_len)
		return SBC_E_INVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->outbound = outbound;
	if ((ret = med_srtp_ctx_init(&x->c, p->suite, p->key, p->key_len, outbound, st)) != 0) {
		free(x);
		return ret;
	}
	*out = x;
	return 0;
}

void med_xc_destroy(med_xc *x)
{
	if (!x)
		return;
	med_srtp_ctx_destroy(&x->c);
	free(x);
}

int med_xc_rtp(med_xc *x, uint8_t *pkt, int *len, int cap)
{
	return x->outbound ? med_srtp_protect(&x->c, pkt, len, cap) : med_srtp_unprotect(&x->c, pkt, len);
}

int med_xc_rtcp(med_xc *x, uint8_t *pkt, int *len, int cap)
{
	return x->outbound ? med_srtp_protect_rtcp(&x->c, pkt, len, cap) : med_srtp_unprotect_rtcp(&x->c, pkt, len);
}
