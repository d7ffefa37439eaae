/* sbc-signal — minimal SIP views and responses (see sig_sip.h). */
#include "sig_sip.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sbc/err.h"

int sig_sv_eq(sig_sv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int name_is(const char *p, size_t n, const char *longname, char compact)
{
	size_t ln = strlen(longname);
	if (n == ln && strncasecmp(p, longname, ln) == 0)
		return 1;
	return compact && n == 1 && (p[0] == compact || p[0] == (compact ^ 0x20));
}

int sig_sip_parse(const char *hdr, size_t hdr_len, sig_sip_view *v)
{
	memset(v, 0, sizeof(*v));
	const char *end = hdr + hdr_len;
	const char *eol = memchr(hdr, '\r', hdr_len);
	if (!eol)
		return sbc_err_sip(400);
	if (hdr_len > 8 && memcmp(hdr, "SIP/2.0 ", 8) == 0) {
		v->is_response = 1;
		v->status = 0;
		for (const char *q = hdr + 8; q < eol && q < hdr + 11; q++)
			v->status = v->status * 10 + (*q - '0');
	} else {
		const char *sp = memchr(hdr, ' ', (size_t)(eol - hdr));
		if (!sp)
			return sbc_err_sip(400);
		v->method.p = hdr;
		v->method.n = (size_t)(sp - hdr);
	}
	const char *p = eol + 2;
	sig_sv *last = NULL;
	while (p < end) {
		const char *le = p;
		while (le + 1 < end && !(le[0] == '\r' && le[1] == '\n'))
			le++;
		if (le == p)
			break;
		if ((*p == ' ' || *p == '\t') && last) {
			last->n = (size_t)(le - last->p); /* folded: extend */
			p = le + 2;
			continue;
		}
		last = NULL;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (colon) {
			const char *ne = colon;
			while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
				ne--;
			size_t nn = (size_t)(ne - p);
			sig_sv line = {p, (size_t)(le - p)};
			if (name_is(p, nn, "via", 'v')) {
				if (v->n_via < SIG_SIP_MAX_VIA) {
					v->via[v->n_via] = line;
					last = &v->via[v->n_via++];
				}
			} else if (name_is(p, nn, "from", 'f')) {
				v->from = line;
				last = &v->from;
			} else if (name_is(p, nn, "to", 't')) {
				v->to = line;
				last = &v->to;
			} else if (name_is(p, nn, "call-id", 'i')) {
				v->call_id = line;
				last = &v->call_id;
			} else if (name_is(p, nn, "cseq", 0)) {
				v->cseq = line;
				last = &v->cseq;
			}
		}
		p = le + 2;
	}
	if (v->to.p) {
		for (size_t i = 0; i + 4 <= v->to.n; i++)
			if (strncasecmp(v->to.p + i, ";tag", 4) == 0) {
				v->to_has_tag = 1;
				break;
			}
	}
	if (!v->n_via || !v->from.p || !v->to.p || !v->call_id.p || !v->cseq.p)
		return sbc_err_sip(400);
	return 0;
}

typedef struct outbuf {
	char *p;
	size_t cap, len;
	int overflow;
} outbuf;

static void ob_put(outbuf *o, const char *s, size_t n)
{
	if (o->overflow || o->len + n > o->cap) {
		o->overflow = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void ob_str(outbuf *o, const char *s) { ob_put(o, s, strlen(s)); }

int sig_sip_response(const sig_sip_view *req, int status, const char *reason, const char *to_tag,
		     const char *extra, char *out, size_t cap)
{
	outbuf o = {out, cap, 0, 0};
	char line[64];
	int n = snprintf(line, sizeof(line), "SIP/2.0 %03d ", status);
	ob_put(&o, line, (size_t)n);
	ob_str(&o, reason);
	ob_str(&o, "\r\n");
	for (unsigned i = 0; i < req->n_via; i++) {
		ob_put(&o, req->via[i].p, req->via[i].n);
		ob_str(&o, "\r\n");
	}
	ob_put(&o, req->from.p, req->from.n);
	ob_str(&o, "\r\n");
	ob_put(&o, req->to.p, req->to.n);
	if (!req->to_has_tag && to_tag) {
		ob_str(&o, ";tag=");
		ob_str(&o, to_tag);
	}
	ob_str(&o, "\r\n");
	ob_put(&o, req->call_id.p, req->call_id.n);
	ob_str(&o, "\r\n");
	ob_put(&o, req->cseq.p, req->cseq.n);
	ob_str(&o, "\r\n");
	if (extra)
		ob_str(&o, extra);
	ob_str(&o, "Server: sbc\r\nContent-Length: 0\r\n\r\n");
	if (o.overflow)
		return -ENOSPC;
	return (int)o.len;
}

int sig_sip_bare_response(int status, const char *reason, char *out, size_t cap)
{
	int n = snprintf(out, cap, "SIP/2.0 %03d %s\r\nContent-Length: 0\r\n\r\n", status, reason);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}
