/* sbc-signal — called number, route lookup outcome, failover decisions.
 * See b2b_route.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "b2b_route.h"

int b2b_called_number(const sip_msg *inv, char out[STORE_NUMBER_MAX + 1])
{
	sip_sv user = SIP_SV_NULL;
	char raw[STORE_NUMBER_MAX * 3 + 1];
	int n;

	if (inv->is_request && inv->ruri.scheme != SIP_URI_NONE && inv->ruri.user.n)
		user = inv->ruri.user;
	else if (inv->to.uri.scheme != SIP_URI_NONE && inv->to.uri.user.n)
		user = inv->to.uri.user;
	if (user.n == 0)
		return sbc_err_sip(404);
	/* user-part parameters (RFC 4694 ;npdi;rn=) are not part of the number */
	const char *semi = memchr(user.p, ';', user.n);
	if (semi)
		user.n = (size_t)(semi - user.p);
	if (user.n == 0 || user.n >= sizeof(raw))
		return sbc_err_sip(404);
	if ((n = sip_unescape(user, raw, sizeof(raw))) < 0 || memchr(raw, 0, (size_t)n))
		return sbc_err_sip(404);
	if ((n = store_number_normalise(raw, out)) < 0)
		return sbc_err_sip(404);
	return n;
}

static unsigned digits(const char *s)
{
	unsigned d = 0;
	for (; *s; s++)
		d += (*s >= '0' && *s <= '9');
	return d;
}

/* Overlap dialling: some route prefix starts with number and is longer. */
static int incomplete(store_reader *r, const char *number)
{
	store_route next;
	bool more;
	if (!store_prefix_valid(number))
		return 0;
	if (store_route_list(r, number, NULL, &next, 1, &more) != 1)
		return 0;
	size_t n = strlen(number);
	return strlen(next.prefix) > n && strncmp(next.prefix, number, n) == 0;
}

int b2b_route_lookup(store_reader *r, const char *number, const b2b_route_opts *o, store_route *out,
		     size_t max, uint32_t (*rnd)(void *arg), void *arg)
{
	char norm[STORE_NUMBER_MAX + 1];
	int n;

	if (store_number_normalise(number, norm) < 0)
		return sbc_err_sip(404);
	if (o && o->min_digits && digits(norm) < o->min_digits)
		return sbc_err_sip(484);
	n = store_route_lookup(r, norm, out, max);
	if (n == SBC_E_INVAL)
		return sbc_err_sip(404);
	if (n < 0)
		return sbc_err_sip(500);
	if (n == 0)
		return incomplete(r, norm) ? sbc_err_sip(484) : sbc_err_sip(404);
	if (rnd)
		store_route_order(out, (size_t)n, rnd, arg);
	return n;
}

int b2b_route_number(const store_route *rt, const char *number, char out[STORE_NUMBER_MAX + 1])
{
	int n = store_route_apply(rt, number, out);
	return n < 0 ? sbc_err_sip(404) : n;
}

/* ---- failover ------------------------------------------------------------ */

void b2b_failover_init(b2b_failover *fo, unsigned max_attempts)
{
	memset(fo, 0, sizeof(*fo));
	fo->max_attempts = max_attempts;
}

static int rank(int status)
{
	if (status >= 600)
		return 5;
	if (status == 408)
		return 1;
	if (status >= 500)
		return 2;
	if (status == 488)
		return 3;
	return 4; /* 3xx, 4xx */
}

static void remember(b2b_failover *fo, int status)
{
	if (fo->best == 0 || rank(status) > rank(fo->best))
		fo->best = status;
}

enum b2b_fo_action b2b_failover_on_final(b2b_failover *fo, int status, int retry_after, const char *peer_id)
{
	fo->attempts++;
	switch (status) {
	case B2B_FO_LOCAL_TIMEOUT:
		status = 408;
		break;
	case B2B_FO_LOCAL_TRANSPORT:
		status = 503;
		break;
	case B2B_FO_LOCAL_SRTP:
		remember(fo, 488);
		goto Next;
	case B2B_FO_LOCAL_OFFER:
		status = 502;
		break;
	default:
		if (status < 300 || status > 699)
			status = 500;
		break;
	}
	remember(fo, status);
	if (status >= 600)
		return B2B_FO_RELAY;
	if (status == 503 && retry_after >= 0 && peer_id && !b2b_failover_skip(fo, peer_id) &&
	    fo->n_blocked < B2B_FO_MAX_BLOCKED) {
		snprintf(fo->blocked[fo->n_blocked], sizeof(fo->blocked[0]), "%s", peer_id);
		fo->n_blocked++;
	}
	if (status != 408 && (status < 500 || status > 599))
		return B2B_FO_RELAY;
Next:
	if (fo->max_attempts && fo->attempts >= fo->max_attempts)
		return B2B_FO_RELAY;
	return B2B_FO_NEXT;
}

int b2b_failover_skip(const b2b_failover *fo, const char *peer_id)
{
	for (unsigned i = 0; i < fo->n_blocked; i++)
		if (strncmp(fo->blocked[i], peer_id, sizeof(fo->blocked[0]) - 1) == 0)
			return 1;
	return 0;
}

int b2b_failover_result(const b2b_failover *fo) { return fo->best ? fo->best : 408; }

int b2b_retry_after(const sip_msg *rsp)
{
	const sip_hdr *h = sip_hdr_get(rsp, SIP_H_RETRY_AFTER, 0);
	unsigned long v = 0;
	size_t i = 0;
	if (!h)
		return -1;
	/* Retry-After = delta-seconds [ comment ] *( SEMI retry-param ) */
	while (i < h->value.n && h->value.p[i] >= '0' && h->value.p[i] <= '9') {
		v = v * 10 + (unsigned long)(h->value.p[i] - '0');
		if (v > 0x7fffffffUL)
			return -1;
		i++;
	}
	return i == 0 ? -1 : (int)v;
}
