/* sbc-signal — the built-in responder, in place until the B2BUA (issue 5)
 * installs its handler: OPTIONS gets 200 OK (keep-alive probes, SIPp and
 * monitoring work), ACK and responses are absorbed, any other request gets
 * 501 Not Implemented. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sbc/err.h"
#include "sig_sip.h"
#include "sig_worker.h"

static _Atomic uint64_t g_tag_seq;

static void make_tag(char *buf, size_t n)
{
	uint64_t s = atomic_fetch_add_explicit(&g_tag_seq, 1, memory_order_relaxed);
	snprintf(buf, n, "sbc%llx", (unsigned long long)(s * 0x9e3779b97f4a7c15ull >> 16));
}

void sig_local_handle(const sig_rx *rx, void *arg)
{
	sig_sip_view v;
	char out[4096];
	char tag[32];
	(void)arg;
	if (sig_sip_parse(rx->msg, rx->hdr_len, &v) < 0) {
		int n = sig_local_error_reply(rx->msg, rx->hdr_len, 400, "Bad Request", out, sizeof(out));
		if (n > 0)
			sig_reply(rx, out, (size_t)n);
		return;
	}
	if (v.is_response || sig_sv_eq(v.method, "ACK"))
		return;
	if (!rx->trunk && rx->worker->srv->cfg.drop_unknown && sig_trunks_any(rx->worker->trunks)) {
		/* unknown_sources "drop": a scanner learns nothing, not even that we exist */
		sig_stat_add(rx->worker->stats, rx->tp, SIG_ST_unknown_dropped, 1);
		return;
	}
	make_tag(tag, sizeof(tag));
	int n;
	if (!rx->trunk && sig_trunks_any(rx->worker->trunks)) {
		/* trunks are configured and this source is none of them */
		sig_stat_add(rx->worker->stats, rx->tp, SIG_ST_forbidden, 1);
		n = sig_sip_response(&v, 403, "Forbidden", tag, NULL, out, sizeof(out));
	} else if (sig_sv_eq(v.method, "OPTIONS"))
		n = sig_sip_response(&v, 200, "OK", tag,
				     SIG_SIP_ALLOW "\r\nAccept: application/sdp\r\n",
				     out, sizeof(out));
	else
		n = sig_sip_response(&v, 501, "Not Implemented", tag, NULL, out, sizeof(out));
	if (n > 0)
		sig_reply(rx, out, (size_t)n);
}

int sig_local_error_reply(const char *buf, size_t len, int status, const char *reason, char *out,
			  size_t cap)
{
	/* A proper response needs the request's headers: find their end (within
	 * what we have) and parse; otherwise fall back to a bare status line. */
	const char *end = NULL;
	for (size_t i = 0; i + 3 < len && i < 16384; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			end = buf + i + 4;
			break;
		}
	if (end) {
		sig_sip_view v;
		if (sig_sip_parse(buf, (size_t)(end - buf), &v) == 0) {
			if (v.is_response || sig_sv_eq(v.method, "ACK"))
				return 0;
			int n = sig_sip_response(&v, status, reason, NULL, NULL, out, cap);
			if (n > 0)
				return n;
		}
	}
	return sig_sip_bare_response(status, reason, out, cap);
}
