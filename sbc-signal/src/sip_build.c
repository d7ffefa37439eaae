/* sbc-signal — SIP message builder. See sip_build.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sip_build.h"

void sip_buf_init(sip_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->cap = cap;
	b->len = 0;
	b->err = 0;
	if (cap)
		mem[0] = 0;
}

void x__sip_copy_long(char *d, const char *s, size_t n) { memcpy(d, s, n); }

void sip_buf_u64(sip_buf *b, uint64_t v)
{
	char t[SIP_U64_DIGITS];
	const char *p = sip_u64_dec(v, t);
	sip_buf_put(b, p, (size_t)(t + sizeof(t) - p));
}

void sip_buf_json(sip_buf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0; /* the plain bytes from here on are not copied yet */
	sip_buf_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			continue;
		sip_buf_put(b, p + run, i - run);
		run = i + 1;
		if (ch == '"' || ch == '\\') {
			const char e[2] = {'\\', (char)ch};
			sip_buf_put(b, e, sizeof(e));
		} else {
			const char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			sip_buf_put(b, e, sizeof(e));
		}
	}
	sip_buf_put(b, p + run, n - run);
	sip_buf_put(b, "\"", 1);
}

void sip_buf_printf(sip_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		b->err = -ENOSPC;
		if (b->len < b->cap)
			b->p[b->len] = 0;
		return;
	}
	b->len += (size_t)n;
}

/* No NUL, every CR followed by LF and every LF by SP/HTAB (a fold). One
 * pass, eight bytes at a time (it runs over every header value built). */
static int value_safe(sip_sv v)
{
	const char *p = v.p, *e = v.p + v.n;
	while (p < e) {
		if (e - p >= 8 && !sip_ctl8(p)) {
			p += 8;
			continue;
		}
		char c = *p;
		if (c == 0)
			return 0;
		if (c == '\r' && (p + 1 >= e || p[1] != '\n'))
			return 0;
		if (c == '\n' && (p + 1 >= e || (p[1] != ' ' && p[1] != '\t')))
			return 0;
		p++;
	}
	return 1;
}

void x__sip_buf_hdr(sip_buf *b, const char *name, size_t name_len, sip_sv value)
{
	if (b->err)
		return;
	if (!value_safe(value)) {
		b->err = -EINVAL;
		return;
	}
	sip_buf_put(b, name, name_len);
	sip_buf_put(b, ": ", 2);
	sip_buf_sv(b, value);
	sip_buf_put(b, "\r\n", 2);
}

int sip_buf_end(sip_buf *b)
{
	if (b->err)
		return b->err;
	if (b->len < b->cap)
		b->p[b->len] = 0;
	return (int)b->len;
}

const char *sip_reason_phrase(int status)
{
	switch (status) {
	case 100: return "Trying";
	case 180: return "Ringing";
	case 181: return "Call Is Being Forwarded";
	case 182: return "Queued";
	case 183: return "Session Progress";
	case 200: return "OK";
	case 202: return "Accepted";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Moved Temporarily";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Unsupported URI Scheme";
	case 420: return "Bad Extension";
	case 421: return "Extension Required";
	case 422: return "Session Interval Too Small";
	case 480: return "Temporarily Unavailable";
	case 481: return "Call/Transaction Does Not Exist";
	case 482: return "Loop Detected";
	case 483: return "Too Many Hops";
	case 484: return "Address Incomplete";
	case 486: return "Busy Here";
	case 487: return "Request Terminated";
	case 488: return "Not Acceptable Here";
	case 491: return "Request Pending";
	case 500: return "Server Internal Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Server Time-out";
	case 505: return "Version Not Supported";
	case 513: return "Message Too Large";
	case 600: return "Busy Everywhere";
	case 603: return "Decline";
	case 604: return "Does Not Exist Anywhere";
	case 606: return "Not Acceptable";
	default: return "Unknown";
	}
}

static void put_body(sip_buf *b, sip_sv type, sip_sv body)
{
	if (body.n && type.n)
		sip_buf_hdr(b, "Content-Type", type);
	sip_buf_str(b, "Content-Length: ");
	sip_buf_u64(b, body.n);
	sip_buf_put(b, "\r\n\r\n", 4);
	sip_buf_sv(b, body);
}

int sip_build_response(const sip_msg *req, int status, const char *reason, const sip_resp_opts *o,
		       char *out, size_t cap)
{
	static const sip_resp_opts none;
	sip_buf b;
	if (!o)
		o = &none;
	if (status < 100 || status > 699 || !req->is_request)
		return -EINVAL;
	sip_buf_init(&b, out, cap);
	sip_buf_str(&b, "SIP/2.0 ");
	sip_buf_u64(&b, (uint64_t)status);
	sip_buf_put(&b, " ", 1);
	{
		const char *r = reason ? reason : sip_reason_phrase(status);
		sip_sv rs = {r, strlen(r)};
		for (size_t i = 0; i < rs.n; i++)
			if (r[i] == '\r' || r[i] == '\n')
				return -EINVAL;
		sip_buf_sv(&b, rs);
		sip_buf_put(&b, "\r\n", 2);
	}
	for (unsigned i = 0; i < req->n_hdr; i++)
		if (req->hdr[i].id == SIP_H_VIA)
			sip_buf_hdr(&b, "Via", req->hdr[i].value);
	sip_buf_hdr(&b, "From", req->from.raw);
	if (!req->to.has_tag && status > 100 && o->to_tag.n) {
		sip_buf_str(&b, "To: ");
		sip_buf_sv(&b, req->to.raw);
		sip_buf_str(&b, ";tag=");
		if (!value_safe(o->to_tag) || memchr(o->to_tag.p, '\n', o->to_tag.n))
			return -EINVAL;
		sip_buf_sv(&b, o->to_tag);
		sip_buf_put(&b, "\r\n", 2);
	} else {
		sip_buf_hdr(&b, "To", req->to.raw);
	}
	sip_buf_hdr(&b, "Call-ID", req->call_id);
	sip_buf_str(&b, "CSeq: ");
	sip_buf_u64(&b, req->cseq);
	sip_buf_put(&b, " ", 1);
	sip_buf_sv(&b, req->cseq_method_name);
	sip_buf_put(&b, "\r\n", 2);
	if (o->contact.n)
		sip_buf_hdr(&b, "Contact", o->contact);
	for (unsigned i = 0; i < o->n_extra; i++) {
		if (!value_safe(o->extra[i]) || !memchr(o->extra[i].p, ':', o->extra[i].n))
			return -EINVAL;
		sip_buf_sv(&b, o->extra[i]);
		sip_buf_put(&b, "\r\n", 2);
	}
	put_body(&b, o->content_type, o->body);
	return sip_buf_end(&b);
}

int sip_build_request(const sip_req_spec *s, char *out, size_t cap)
{
	sip_buf b;
	const char *known = sip_method_name((enum sip_method)s->method);
	sip_sv mname = s->method == SIP_M_UNKNOWN ? s->method_name : (sip_sv){known, strlen(known)};
	if (mname.n == 0 || s->ruri.n == 0 || s->via_host.n == 0 || s->branch.n == 0 ||
	    s->call_id.n == 0 || s->from.n == 0 || s->to.n == 0)
		return -EINVAL;
	for (size_t i = 0; i < s->ruri.n; i++)
		if ((unsigned char)s->ruri.p[i] <= 0x20)
			return -EINVAL;
	sip_buf_init(&b, out, cap);
	sip_buf_sv(&b, mname);
	sip_buf_put(&b, " ", 1);
	sip_buf_sv(&b, s->ruri);
	sip_buf_str(&b, " SIP/2.0\r\nVia: SIP/2.0/");
	sip_buf_sv(&b, s->via_transport.n ? s->via_transport : SIP_SV("UDP"));
	sip_buf_put(&b, " ", 1);
	sip_buf_sv(&b, s->via_host);
	if (s->via_port) {
		sip_buf_put(&b, ":", 1);
		sip_buf_u64(&b, s->via_port);
	}
	sip_buf_str(&b, ";branch=");
	sip_buf_sv(&b, s->branch);
	if (s->rport)
		sip_buf_str(&b, ";rport");
	sip_buf_put(&b, "\r\n", 2);
	sip_buf_str(&b, "Max-Forwards: ");
	sip_buf_u64(&b, (uint64_t)(s->max_forwards < 0 ? 70 : s->max_forwards));
	sip_buf_put(&b, "\r\n", 2);
	for (unsigned i = 0; i < s->n_route; i++)
		sip_buf_hdr(&b, "Route", s->route[i]);
	sip_buf_hdr(&b, "From", s->from);
	sip_buf_hdr(&b, "To", s->to);
	sip_buf_hdr(&b, "Call-ID", s->call_id);
	sip_buf_str(&b, "CSeq: ");
	sip_buf_u64(&b, s->cseq);
	sip_buf_put(&b, " ", 1);
	sip_buf_sv(&b, mname);
	sip_buf_put(&b, "\r\n", 2);
	if (s->contact.n)
		sip_buf_hdr(&b, "Contact", s->contact);
	for (unsigned i = 0; i < s->n_extra; i++) {
		if (!value_safe(s->extra[i]) || !memchr(s->extra[i].p, ':', s->extra[i].n))
			return -EINVAL;
		sip_buf_sv(&b, s->extra[i]);
		sip_buf_put(&b, "\r\n", 2);
	}
	put_body(&b, s->content_type, s->body);
	return sip_buf_end(&b);
}

static int ack_or_cancel(const sip_msg *inv, const sip_msg *resp, const char *method, const sip_sv *extra,
			 unsigned n_extra, char *out, size_t cap)
{
	sip_buf b;
	if (!inv->is_request || inv->n_via == 0)
		return -EINVAL;
	sip_buf_init(&b, out, cap);
	sip_buf_str(&b, method);
	sip_buf_put(&b, " ", 1);
	sip_buf_sv(&b, inv->ruri_text);
	sip_buf_str(&b, " SIP/2.0\r\n");
	sip_buf_hdr(&b, "Via", inv->via[0].raw);
	sip_buf_str(&b, "Max-Forwards: 70\r\n");
	for (unsigned i = 0; i < inv->n_hdr; i++)
		if (inv->hdr[i].id == SIP_H_ROUTE)
			sip_buf_hdr(&b, "Route", inv->hdr[i].value);
	sip_buf_hdr(&b, "From", inv->from.raw);
	sip_buf_hdr(&b, "To", resp ? resp->to.raw : inv->to.raw);
	sip_buf_hdr(&b, "Call-ID", inv->call_id);
	sip_buf_str(&b, "CSeq: ");
	sip_buf_u64(&b, inv->cseq);
	sip_buf_put(&b, " ", 1);
	sip_buf_str(&b, method);
	sip_buf_put(&b, "\r\n", 2);
	for (unsigned i = 0; i < n_extra; i++) {
		if (!value_safe(extra[i]) || !memchr(extra[i].p, ':', extra[i].n))
			return -EINVAL;
		sip_buf_sv(&b, extra[i]);
		sip_buf_put(&b, "\r\n", 2);
	}
	sip_buf_str(&b, "Content-Length: 0\r\n\r\n");
	return sip_buf_end(&b);
}

int sip_build_ack_non2xx(const sip_msg *inv, const sip_msg *resp, char *out, size_t cap)
{
	if (!resp || resp->is_request)
		return -EINVAL;
	return ack_or_cancel(inv, resp, "ACK", NULL, 0, out, cap);
}

int sip_build_cancel(const sip_msg *inv, char *out, size_t cap)
{
	return ack_or_cancel(inv, NULL, "CANCEL", NULL, 0, out, cap);
}

int sip_build_cancel_ex(const sip_msg *inv, const sip_sv *extra, unsigned n_extra, char *out, size_t cap)
{
	return ack_or_cancel(inv, NULL, "CANCEL", extra, n_extra, out, cap);
}

/* Lower-case hex, 16 digits; by hand: a call makes several tokens (tags,
 * branches, Call-ID) and snprintf's format machinery showed in profiles. */
static void hex16(char *out, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
}

int sip_gen_token(const char *prefix, uint64_t a, uint64_t b, char *out, size_t cap)
{
	size_t pl = strlen(prefix);
	if (pl + 32 >= cap)
		return -ENOSPC;
	memcpy(out, prefix, pl);
	hex16(out + pl, a);
	hex16(out + pl + 16, b);
	out[pl + 32] = 0;
	return (int)(pl + 32);
}
