/* sbc-signal — B2BUA dialogs and cross-leg message building. See b2b_call.h. */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sbc/err.h"
#include "b2b_call.h"
#include "sip_build.h"

static int copy_sv(char *dst, size_t cap, sip_sv s)
{
	if (s.n >= cap || (s.n && memchr(s.p, 0, s.n)))
		return -ENOSPC;
	if (s.n)
		memcpy(dst, s.p, s.n);
	dst[s.n] = 0;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n >= cap)
		return -ENOSPC;
	memcpy(dst, s, n + 1);
	return 0;
}

static sip_sv sv_of(const char *s) { return (sip_sv){s, s ? strlen(s) : 0}; }

/* Contact URI of m (first value), or empty. */
static int contact_target(const sip_msg *m, char *out, size_t cap)
{
	const sip_hdr *h = sip_hdr_get(m, SIP_H_CONTACT, 0);
	sip_sv rest, one;
	sip_naddr na;
	out[0] = 0;
	if (!h)
		return 0;
	rest = h->value;
	if (sip_next_value(&rest, &one) != 1 || sip_naddr_parse(one, 0, &na) < 0 || na.uri.scheme == SIP_URI_NONE)
		return sbc_err_sip(400);
	return copy_sv(out, cap, na.uri_text) < 0 ? sbc_err_sip(400) : 0;
}

/* Record-Route values of m in order (reverse for a UAC's view) into
 * out[] (at most cap). Returns the count, -E2BIG past cap, or
 * sbc_err_sip(400). */
static int rr_values(const sip_msg *m, int reverse, sip_sv *out, unsigned cap)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->n_hdr; i++) {
		if (m->hdr[i].id != SIP_H_RECORD_ROUTE)
			continue;
		sip_sv rest = m->hdr[i].value, one;
		int r;
		while ((r = sip_next_value(&rest, &one)) == 1) {
			if (n == cap)
				return -E2BIG;
			if (!one.n || memchr(one.p, 0, one.n))
				return sbc_err_sip(400);
			out[n++] = one;
		}
		if (r < 0)
			return sbc_err_sip(400);
	}
	for (unsigned i = 0; reverse && i < n / 2; i++) {
		sip_sv t = out[i];
		out[i] = out[n - 1 - i];
		out[n - 1 - i] = t;
	}
	return (int)n;
}

/* The route set of d from m's Record-Route (reversed for a UAC), packed
 * into route_buf. -E2BIG: it does not fit (d keeps no route set). */
static int route_set(b2b_dialog *d, const sip_msg *m, int reverse)
{
	sip_sv v[B2B_RSET_MAX];
	size_t used = 0;
	int n = rr_values(m, reverse, v, B2B_RSET_MAX);
	d->n_route = 0;
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (v[i].n >= sizeof(d->route_buf) - used) {
			d->n_route = 0;
			return -E2BIG;
		}
		memcpy(d->route_buf + used, v[i].p, v[i].n);
		d->route_buf[used + v[i].n] = 0;
		d->route_off[i] = (uint16_t)used;
		used += v[i].n + 1;
		d->n_route = (unsigned)i + 1;
	}
	return 0;
}

/* Zeroes d but for route_buf (4 of its 5.5 KB), which is read only through
 * route_off[] below n_route: a call sets up two dialogs, and the memset of
 * whole dialogs was a visible part of the per-call wipes (see call_alloc in
 * b2b_engine.c). */
static void dialog_clear(b2b_dialog *d)
{
	char *p = (char *)d;
	size_t r0 = offsetof(b2b_dialog, route_buf), r1 = r0 + sizeof(d->route_buf);
	memset(p, 0, r0);
	memset(p + r1, 0, sizeof(*d) - r1);
}

int b2b_dialog_uas_init(b2b_dialog *d, const sip_msg *req, const char *local_tag, uint32_t first_cseq)
{
	int r;
	dialog_clear(d);
	if (!req->is_request || !req->from.has_tag || req->to.has_tag)
		return sbc_err_sip(400);
	if (copy_sv(d->call_id, sizeof(d->call_id), req->call_id) < 0 ||
	    copy_sv(d->remote_tag, sizeof(d->remote_tag), req->from.tag) < 0 ||
	    copy_str(d->local_tag, sizeof(d->local_tag), local_tag) < 0 ||
	    copy_sv(d->remote_hdr, sizeof(d->remote_hdr), req->from.raw) < 0)
		return sbc_err_sip(400);
	/* "<To>;tag=<ours>" without snprintf (its format machinery showed in
	 * profiles of the live path); the NUL fits as snprintf's did */
	size_t tn = strlen(d->local_tag);
	if (req->to.raw.n + 5 + tn >= sizeof(d->local_hdr))
		return sbc_err_sip(400);
	memcpy(d->local_hdr, req->to.raw.p, req->to.raw.n);
	memcpy(d->local_hdr + req->to.raw.n, ";tag=", 5);
	memcpy(d->local_hdr + req->to.raw.n + 5, d->local_tag, tn + 1);
	if ((r = contact_target(req, d->remote_target, sizeof(d->remote_target))) < 0)
		return r;
	if ((r = route_set(d, req, 0)) < 0)
		return sbc_err_sip(400); /* a route set we could not keep: refused up front */
	d->remote_cseq = req->cseq;
	d->local_cseq = first_cseq;
	d->state = B2B_DLG_EARLY;
	d->uac = 0;
	return 0;
}

int b2b_dialog_uac_init(b2b_dialog *d, const char *call_id, const char *local_tag, const char *from_value,
			const char *to_value, const char *request_uri, uint32_t cseq)
{
	dialog_clear(d);
	if (copy_str(d->call_id, sizeof(d->call_id), call_id) < 0 ||
	    copy_str(d->local_tag, sizeof(d->local_tag), local_tag) < 0 ||
	    copy_str(d->local_hdr, sizeof(d->local_hdr), from_value) < 0 ||
	    copy_str(d->remote_hdr, sizeof(d->remote_hdr), to_value) < 0 ||
	    copy_str(d->remote_target, sizeof(d->remote_target), request_uri) < 0)
		return -ENOSPC;
	d->local_cseq = cseq;
	d->invite_cseq = cseq;
	d->uac = 1;
	d->state = B2B_DLG_INIT;
	return 0;
}

int b2b_dialog_uac_update(b2b_dialog *d, const sip_msg *rsp)
{
	int r;
	if (rsp->is_request || !d->uac || !sip_sv_eq(rsp->call_id, d->call_id))
		return SBC_E_INVAL;
	if (d->state == B2B_DLG_TERMINATED)
		return SBC_E_STATE;
	if (rsp->status >= 300) {
		if (d->state != B2B_DLG_CONFIRMED)
			d->state = B2B_DLG_TERMINATED;
		return 0;
	}
	if (!rsp->to.has_tag)
		return rsp->status < 200 ? 0 : sbc_err_sip(400);
	if (d->remote_tag[0]) {
		if (!sip_sv_eq(rsp->to.tag, d->remote_tag))
			return SBC_E_EXISTS; /* another fork */
	}
	if (d->state == B2B_DLG_CONFIRMED)
		return 0; /* 2xx retransmission */
	if (!d->remote_tag[0]) {
		if (copy_sv(d->remote_tag, sizeof(d->remote_tag), rsp->to.tag) < 0 ||
		    copy_sv(d->remote_hdr, sizeof(d->remote_hdr), rsp->to.raw) < 0)
			return sbc_err_sip(400);
	}
	char target[B2B_HDR_MAX + 1];
	if ((r = contact_target(rsp, target, sizeof(target))) < 0)
		return r;
	if (target[0])
		memcpy(d->remote_target, target, sizeof(target));
	r = route_set(d, rsp, 1);
	if (r < 0 && r != -E2BIG)
		return r;
	/* too long a route set: the dialog stands (the 2xx must be ACKed and
	 * BYEd) but cannot carry requests of its own */
	d->rset_overflow = r == -E2BIG;
	d->state = rsp->status >= 200 ? B2B_DLG_CONFIRMED : B2B_DLG_EARLY;
	return r;
}

int b2b_dialog_uac_take_fork(b2b_dialog *d, const sip_msg *rsp)
{
	if (!d->uac || d->state == B2B_DLG_CONFIRMED || d->state == B2B_DLG_TERMINATED || rsp->is_request ||
	    rsp->status < 200 || rsp->status >= 300)
		return SBC_E_STATE;
	d->remote_tag[0] = 0;
	d->remote_cseq = 0; /* the answering fork numbers its requests on its own */
	d->state = B2B_DLG_INIT;
	return b2b_dialog_uac_update(d, rsp);
}

int b2b_dialog_match(const b2b_dialog *d, const sip_msg *m)
{
	if (!sip_sv_eq(m->call_id, d->call_id))
		return 0;
	if (m->is_request) {
		if (m->method == SIP_M_CANCEL || (m->method == SIP_M_ACK && !m->to.has_tag))
			return sip_sv_eq(m->from.tag, d->remote_tag);
		return m->to.has_tag && sip_sv_eq(m->to.tag, d->local_tag) && sip_sv_eq(m->from.tag, d->remote_tag);
	}
	return sip_sv_eq(m->from.tag, d->local_tag);
}

int b2b_dialog_check_cseq(b2b_dialog *d, const sip_msg *req)
{
	if (req->method == SIP_M_ACK || req->method == SIP_M_CANCEL)
		return 0;
	if (d->remote_cseq && req->cseq <= d->remote_cseq)
		return sbc_err_sip(500);
	d->remote_cseq = req->cseq;
	return 0;
}

/* The request on d with the route set rs (n values, in the order they go
 * on the wire, first = next hop). */
static int build_in_dialog(b2b_dialog *d, const sip_sv *rs, unsigned n, enum sip_method m, const b2b_via *via,
			   const char *contact, const char *const *extra, unsigned n_extra, const b2b_body *body,
			   char *out, size_t cap)
{
	static _Thread_local sip_sv routes[B2B_RR_WIRE_MAX + 1];
	sip_sv ex[16];
	char last_route[B2B_HDR_MAX + 3];
	const char *ruri = d->remote_target;
	unsigned nr = 0;
	uint32_t cseq;

	if (m == SIP_M_CANCEL || m == SIP_M_UNKNOWN || n_extra > 16 || n > B2B_RR_WIRE_MAX)
		return -EINVAL; /* CANCEL: sip_build_cancel() of the INVITE as sent */
	if (!d->remote_target[0] || d->state == B2B_DLG_TERMINATED)
		return SBC_E_STATE;
	if (n) {
		sip_naddr first;
		if (sip_naddr_parse(rs[0], 0, &first) < 0)
			return -EINVAL;
		if (first.uri.lr) {
			for (unsigned i = 0; i < n; i++)
				routes[nr++] = rs[i];
		} else { /* strict routing (RFC 3261 12.2.1.1) */
			static _Thread_local char strict_ruri[B2B_HDR_MAX + 1];
			if (copy_sv(strict_ruri, sizeof(strict_ruri), first.uri_text) < 0)
				return -ENOSPC;
			ruri = strict_ruri;
			for (unsigned i = 1; i < n; i++)
				routes[nr++] = rs[i];
			snprintf(last_route, sizeof(last_route), "<%s>", d->remote_target);
			routes[nr++] = sv_of(last_route);
		}
	}
	if (m == SIP_M_ACK) {
		cseq = d->invite_cseq;
	} else {
		cseq = ++d->local_cseq;
		if (m == SIP_M_INVITE)
			d->invite_cseq = cseq;
	}
	for (unsigned i = 0; i < n_extra; i++)
		ex[i] = sv_of(extra[i]);
	sip_req_spec s = {
		.method = m,
		.ruri = sv_of(ruri),
		.via_transport = sv_of(via->transport),
		.via_host = sv_of(via->host),
		.via_port = via->port,
		.branch = sv_of(via->branch),
		.rport = 1,
		.from = sv_of(d->local_hdr),
		.to = sv_of(d->remote_hdr),
		.call_id = sv_of(d->call_id),
		.cseq = cseq,
		.max_forwards = 70,
		.contact = sv_of(contact),
		.route = routes,
		.n_route = nr,
		.extra = ex,
		.n_extra = n_extra,
	};
	if (body && body->len) {
		s.content_type = sv_of(body->type);
		s.body = (sip_sv){body->data, body->len};
	}
	return sip_build_request(&s, out, cap);
}

int b2b_build_in_dialog(b2b_dialog *d, enum sip_method m, const b2b_via *via, const char *contact,
			const char *const *extra, unsigned n_extra, const b2b_body *body, char *out, size_t cap)
{
	sip_sv rs[B2B_RSET_MAX];
	if (d->rset_overflow)
		return SBC_E_STATE; /* its route set was not kept: see b2b_build_in_dialog_rr */
	for (unsigned i = 0; i < d->n_route; i++)
		rs[i] = sv_of(b2b_dialog_route(d, i));
	return build_in_dialog(d, rs, d->n_route, m, via, contact, extra, n_extra, body, out, cap);
}

int b2b_build_in_dialog_rr(b2b_dialog *d, const sip_msg *rsp, enum sip_method m, const b2b_via *via,
			   const b2b_body *body, char *out, size_t cap)
{
	static _Thread_local sip_sv rs[B2B_RR_WIRE_MAX];
	if (!d->uac || rsp->is_request || (m != SIP_M_ACK && m != SIP_M_BYE))
		return -EINVAL;
	int n = rr_values(rsp, 1, rs, B2B_RR_WIRE_MAX);
	if (n < 0)
		return n == -E2BIG ? -ENOSPC : n;
	return build_in_dialog(d, rs, (unsigned)n, m, via, NULL, NULL, 0, body, out, cap);
}

/* ---- topology hiding ------------------------------------------------------------- */

static int allowed_hdr(const sip_hdr *h, int response, int has_body)
{
	switch (h->id) {
	case SIP_H_SUPPORTED:
	case SIP_H_REQUIRE:
	case SIP_H_ALLOW:
	case SIP_H_SESSION_EXPIRES:
	case SIP_H_MIN_SE:
	case SIP_H_PRIVACY:
	case SIP_H_ACCEPT:
		return 1;
	case SIP_H_REASON:
		return 0; /* allowed, but value by value: collect_reasons */
	case SIP_H_RSEQ:
	case SIP_H_UNSUPPORTED:
	case SIP_H_RETRY_AFTER:
		return response;
	case SIP_H_OTHER:
		return has_body && sip_sv_ieq(h->name, "Content-Disposition");
	default:
		return 0;
	}
}

static int identity_hdr(const sip_hdr *h)
{
	return h->id == SIP_H_P_ASSERTED_IDENTITY || sip_sv_ieq(h->name, "P-Preferred-Identity") ||
	       sip_sv_ieq(h->name, "Remote-Party-ID");
}

/* Writes "Name: v1, v2" with each identity's host replaced by local_host
 * (values that do not parse are left out; the caller drops a header that
 * ends up with none). */
static void put_identity(sip_buf *b, const sip_hdr *h, const char *local_host)
{
	sip_sv rest = h->value, one;
	int first = 1;
	if (h->id == SIP_H_P_ASSERTED_IDENTITY)
		sip_buf_str(b, "P-Asserted-Identity");
	else
		sip_buf_sv(b, h->name);
	sip_buf_str(b, ": ");
	while (sip_next_value(&rest, &one) == 1) {
		sip_naddr na;
		if (sip_naddr_parse(one, 0, &na) < 0 || na.uri.scheme == SIP_URI_NONE)
			continue;
		if (!first)
			sip_buf_str(b, ", ");
		first = 0;
		if (na.display.n) {
			sip_buf_sv(b, na.display);
			sip_buf_str(b, " ");
		}
		sip_buf_str(b, "<");
		if (na.uri.scheme == SIP_URI_TEL) {
			sip_buf_str(b, "tel:");
			sip_buf_sv(b, na.uri.user);
		} else {
			sip_buf_str(b, na.uri.scheme == SIP_URI_SIPS ? "sips:" : "sip:");
			if (na.uri.user.n) {
				sip_buf_sv(b, na.uri.user);
				sip_buf_str(b, "@");
			}
			sip_buf_str(b, local_host);
			if (na.uri.user_phone)
				sip_buf_str(b, ";user=phone");
		}
		sip_buf_str(b, ">");
	}
}

/* ---- RFC 3326 Reason ---------------------------------------------------------- */

/* token characters (RFC 3261 25.1: alphanumerics and -.!%*_+`'~) as a
 * bitmap of the 128 ASCII bytes; host adds ':' '[' ']' (gen-value = token
 * / host / quoted-string). A strchr per byte doubled the cost of a check. */
static const uint64_t TOK_BITS[2] = {0x03ff6ca200000000ull, 0x47ffffff87fffffeull};
static const uint64_t HOST_BITS[2] = {0x07ff6ca200000000ull, 0x47ffffffaffffffeull};
static inline int in_bits(const uint64_t *bits, unsigned char ch)
{
	return ch < 128 && (bits[ch >> 6] >> (ch & 63)) & 1;
}

/* LWS at p[*i]: spaces, tabs and folds (CRLF followed by SP/HTAB); a CR or
 * LF that is not part of a fold stays for the caller to refuse. */
static void skip_lws(const char *p, size_t n, size_t *i)
{
	while (*i < n) {
		if (p[*i] == ' ' || p[*i] == '\t')
			(*i)++;
		else if (p[*i] == '\r' && *i + 2 < n && p[*i + 1] == '\n' && (p[*i + 2] == ' ' || p[*i + 2] == '\t'))
			*i += 3;
		else
			break;
	}
}

/* A token at p[*i] (gen-value: also the host characters ':' '[' ']'):
 * returns its length, *i past it. */
static size_t take_token(const char *p, size_t n, size_t *i, int host)
{
	const uint64_t *bits = host ? HOST_BITS : TOK_BITS;
	size_t st = *i;
	while (*i < n && in_bits(bits, (unsigned char)p[*i]))
		(*i)++;
	return *i - st;
}

/* A quoted-string at p[*i] (RFC 3261 25.1: qdtext or quoted-pair, no
 * control character but HTAB, UTF-8 bytes as they are): returns 1 with *i
 * past the closing quote, or 0. */
static int take_quoted(const char *p, size_t n, size_t *i)
{
	size_t j = *i;
	if (j >= n || p[j] != '"')
		return 0;
	for (j++; j < n; j++) {
		unsigned char ch = (unsigned char)p[j];
		if (ch == '"') {
			*i = j + 1;
			return 1;
		}
		if (ch == '\\') {
			/* quoted-pair: any byte but CR, LF (and here NUL, DEL) */
			if (++j >= n || p[j] == '\r' || p[j] == '\n' || p[j] == 0 || p[j] == 0x7f)
				return 0;
			continue;
		}
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return 0;
}

int b2b_reason_check(sip_sv v)
{
	const char *p = v.p;
	size_t n = v.n, i = 0;
	if (!p || n == 0 || n > B2B_REASON_MAX)
		return -1;
	/* protocol = "SIP" / "Q.850" / token */
	size_t pl = take_token(p, n, &i, 0);
	if (!pl)
		return -1;
	sip_sv proto = {p, pl};
	int q850 = sip_sv_ieq(proto, "Q.850"), sip = sip_sv_ieq(proto, "SIP");
	int cause = -1, text = 0;
	for (;;) {
		skip_lws(p, n, &i);
		if (i == n)
			break;
		if (p[i] != ';')
			return -1; /* "SIP cause=200", a comma left by a bad split, a CR */
		i++;
		skip_lws(p, n, &i);
		size_t ns = i, nl = take_token(p, n, &i, 0);
		if (!nl)
			return -1;
		sip_sv name = {p + ns, nl};
		skip_lws(p, n, &i);
		if (i == n || p[i] != '=') {
			if (sip_sv_ieq(name, "cause") || sip_sv_ieq(name, "text"))
				return -1; /* both need a value */
			continue;   /* a flag: generic-param */
		}
		i++;
		skip_lws(p, n, &i);
		size_t vs = i;
		if (sip_sv_ieq(name, "cause")) {
			/* cause = 1*DIGIT, once; as the protocol defines it: a Q.850
			 * cause value is 1..127, a SIP one a status code 100..699 */
			unsigned long c = 0;
			while (i < n && p[i] >= '0' && p[i] <= '9' && i - vs < 9)
				c = c * 10 + (unsigned long)(p[i++] - '0');
			if (i == vs || (i < n && p[i] >= '0' && p[i] <= '9') || cause >= 0)
				return -1;
			if ((q850 && (c < 1 || c > 127)) || (sip && (c < 100 || c > 699)))
				return -1;
			cause = (int)c;
		} else if (sip_sv_ieq(name, "text")) {
			if (text || !take_quoted(p, n, &i)) /* reason-text = "text" EQUAL quoted-string */
				return -1;
			text = 1;
		} else if (i < n && p[i] == '"') {
			if (!take_quoted(p, n, &i))
				return -1;
		} else if (!take_token(p, n, &i, 1)) {
			return -1;
		}
	}
	return q850 && cause > 0 ? cause : 0;
}

/* Writes "Reason: v1, v2" with the well-formed values of h (at most
 * *budget of them, taken from it). Returns how many were written; the
 * caller drops a line that got none. *q850 gets the first Q.850 cause. */
static unsigned put_reason(sip_buf *b, const sip_hdr *h, unsigned *budget, int *q850)
{
	sip_sv rest = h->value, one;
	unsigned n = 0;
	int r;
	if (h->value.n > B2B_REASON_LINE_MAX)
		return 0; /* not even split: an oversized line is dropped whole */
	sip_buf_str(b, "Reason: ");
	while (*budget && (r = sip_next_value(&rest, &one)) == 1) {
		int c = b2b_reason_check(one);
		if (c < 0)
			continue;
		if (c > 0 && q850 && !*q850)
			*q850 = c;
		if (n)
			sip_buf_str(b, ", ");
		sip_buf_sv(b, one);
		n++;
		(*budget)--;
	}
	return n;
}

int b2b_q850_of_status(int status, const char **text)
{
	static const struct {
		short status, cause;
		const char *text;
	} map[] = {
		{400, 41, "Temporary failure"},       {403, 21, "Call rejected"},
		{404, 1, "Unallocated number"},       {408, 102, "Recovery on timer expiry"},
		{420, 127, "Interworking, unspecified"}, {480, 18, "No user responding"},
		{484, 28, "Invalid number format"},   {486, 17, "User busy"},
		{488, 88, "Incompatible destination"}, {500, 41, "Temporary failure"},
		{502, 38, "Network out of order"},    {503, 41, "Temporary failure"},
		{504, 102, "Recovery on timer expiry"}, {513, 127, "Interworking, unspecified"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].status == status) {
			if (text)
				*text = map[i].text;
			return map[i].cause;
		}
	return 0;
}

int b2b_reason_lines(const sip_msg *m, char *buf, size_t cap, const char **lines, unsigned max, int *q850)
{
	sip_buf b;
	unsigned n = 0, budget = B2B_REASON_VALUES;
	if (q850)
		*q850 = 0;
	sip_buf_init(&b, buf, cap);
	for (unsigned i = 0; i < m->n_hdr && n < max; i++) {
		if (m->hdr[i].id != SIP_H_REASON)
			continue;
		size_t start = b.len;
		if (!put_reason(&b, &m->hdr[i], &budget, q850)) {
			b.len = start;
			continue;
		}
		sip_buf_put(&b, "", 1); /* each line NUL-terminated for extra[] */
		if (b.err)
			return b.err;
		lines[n++] = buf + start;
	}
	return (int)n;
}

/* RFC 3326 Reason for collect: only well-formed values cross, a bounded
 * number, in a pass of its own over buf (the rest of collect's scratch),
 * made only for a message with Reason (the parser's count): collect's
 * loop, which every INVITE and response goes through, stays as it was.
 * Appends to lines[n..max) what fits; returns the new n. */
__attribute__((cold, noinline)) static int collect_reasons(const sip_msg *m, char *buf, size_t cap, sip_sv *lines,
							    unsigned n, unsigned max)
{
	const char *rl[B2B_REASON_VALUES];
	int r = b2b_reason_lines(m, buf, cap, rl, B2B_REASON_VALUES, NULL);
	/* no room left for them: the message goes without its Reason */
	for (int i = 0; i < r && n < max; i++)
		lines[n++] = sv_of(rl[i]);
	return (int)n;
}

/* Writes "Supported: v1, v2" without the 100rel option tag. Returns the
 * number of values written, or < 0 when the value does not parse. */
static int put_supported_no_100rel(sip_buf *b, sip_sv value)
{
	sip_sv rest = value, one;
	int n = 0, r;
	sip_buf_str(b, "Supported: ");
	while ((r = sip_next_value(&rest, &one)) == 1) {
		if (sip_sv_ieq(one, "100rel"))
			continue;
		if (n++)
			sip_buf_str(b, ", ");
		sip_buf_sv(b, one);
	}
	return r < 0 ? r : n;
}

/* Collects the allow-listed header lines of m into scratch; lines[] views.
 * no_100rel: Supported without 100rel (b2b_bleg_spec). */
static int collect(const sip_msg *m, int response, int has_body, const char *local_host, char *scratch,
		   size_t cap, sip_sv *lines, unsigned max, const char *const *extra, unsigned n_extra, int no_100rel)
{
	sip_buf b;
	unsigned n = 0;
	sip_buf_init(&b, scratch, cap);
	for (unsigned i = 0; i < m->n_hdr; i++) {
		const sip_hdr *h = &m->hdr[i];
		size_t start = b.len;
		if (identity_hdr(h)) {
			put_identity(&b, h, local_host);
			/* an identity header with no usable value ends in ": " */
			if (!b.err && b.len - start >= 2 && scratch[b.len - 1] == ' ' && scratch[b.len - 2] == ':') {
				b.len = start;
				continue;
			}
		} else if (no_100rel && h->id == SIP_H_SUPPORTED) {
			if (put_supported_no_100rel(&b, h->value) <= 0 && !b.err) {
				b.len = start; /* nothing left, or unreadable: no line */
				continue;
			}
		} else if (allowed_hdr(h, response, has_body)) {
			const char *name = sip_header_name((enum sip_hdr_id)h->id);
			if (name[0])
				sip_buf_str(&b, name);
			else
				sip_buf_sv(&b, h->name);
			sip_buf_str(&b, ": ");
			sip_buf_sv(&b, h->value);
		} else {
			continue;
		}
		if (b.err)
			return b.err;
		if (n == max)
			return -ENOSPC;
		lines[n++] = (sip_sv){scratch + start, b.len - start};
	}
	if (m->n_of[SIP_H_REASON] && !b.err)
		n = (unsigned)collect_reasons(m, scratch + b.len, cap - b.len, lines, n, max);
	for (unsigned i = 0; i < n_extra; i++) {
		if (n == max)
			return -ENOSPC;
		lines[n++] = sv_of(extra[i]);
	}
	return (int)n;
}

int b2b_build_bleg_invite(const sip_msg *a, const b2b_bleg_spec *s, char *out, size_t cap, char *from_out,
			  size_t from_cap)
{
	char scratch[4096], from[B2B_HDR_MAX + 1];
	sip_sv lines[48];
	int n, mf;

	if (!a->is_request || a->method != SIP_M_INVITE)
		return -EINVAL;
	if (a->max_forwards == 0)
		return sbc_err_sip(483);
	mf = a->max_forwards < 0 ? 70 : a->max_forwards - 1;
	/* From: A's display name and user, our host and tag */
	sip_buf fb;
	sip_buf_init(&fb, from, sizeof(from));
	if (a->from.display.n) {
		sip_buf_sv(&fb, a->from.display);
		sip_buf_str(&fb, " ");
	}
	sip_buf_str(&fb, "<sip:");
	if (a->from.uri.user.n && a->from.uri.scheme != SIP_URI_NONE)
		sip_buf_sv(&fb, a->from.uri.user);
	else
		sip_buf_str(&fb, "anonymous");
	sip_buf_str(&fb, "@");
	sip_buf_str(&fb, s->local_host);
	if (a->from.uri.user_phone || a->from.uri.scheme == SIP_URI_TEL)
		sip_buf_str(&fb, ";user=phone");
	sip_buf_str(&fb, ">;tag=");
	sip_buf_str(&fb, s->from_tag);
	if ((n = sip_buf_end(&fb)) < 0)
		return n;
	if (from_out && copy_str(from_out, from_cap, from) < 0)
		return -ENOSPC;

	n = collect(a, 0, s->body.len > 0, s->local_host, scratch, sizeof(scratch), lines, 48, s->extra,
		    s->n_extra, s->no_100rel);
	if (n < 0)
		return n;
	sip_req_spec rq = {
		.method = SIP_M_INVITE,
		.ruri = sv_of(s->request_uri),
		.via_transport = sv_of(s->via.transport),
		.via_host = sv_of(s->via.host),
		.via_port = s->via.port,
		.branch = sv_of(s->via.branch),
		.rport = 1,
		.from = sv_of(from),
		.to = sv_of(s->to_value),
		.call_id = sv_of(s->call_id),
		.cseq = s->cseq,
		.max_forwards = mf,
		.contact = sv_of(s->contact),
		.extra = lines,
		.n_extra = (unsigned)n,
	};
	if (s->body.len) {
		rq.content_type = sv_of(s->body.type);
		rq.body = (sip_sv){s->body.data, s->body.len};
	}
	return sip_build_request(&rq, out, cap);
}

int b2b_build_mirrored_response(const sip_msg *a, const sip_msg *r, const b2b_resp_spec *s, char *out,
				size_t cap)
{
	char scratch[4096], reason[80];
	sip_sv lines[48];
	const char *why = NULL;
	int n;

	if (!a->is_request || r->is_request)
		return -EINVAL;
	/* the reason phrase crosses when it is short plain text */
	if (r->reason.n && r->reason.n < sizeof(reason)) {
		int ok = 1;
		for (size_t i = 0; i < r->reason.n; i++) {
			unsigned char c = (unsigned char)r->reason.p[i];
			if (c < 0x20 || c == 0x7f)
				ok = 0;
		}
		if (ok) {
			memcpy(reason, r->reason.p, r->reason.n);
			reason[r->reason.n] = 0;
			why = reason;
		}
	}
	n = collect(r, 1, s->body.len > 0, s->local_host, scratch, sizeof(scratch), lines, 48, s->extra,
		    s->n_extra, 0);
	if (n < 0)
		return n;
	sip_resp_opts o = {
		.to_tag = sv_of(s->to_tag),
		.contact = (r->status > 100 && r->status < 300) ? sv_of(s->contact) : SIP_SV_NULL,
		.extra = lines,
		.n_extra = (unsigned)n,
	};
	if (s->body.len) {
		o.content_type = sv_of(s->body.type);
		o.body = (sip_sv){s->body.data, s->body.len};
	}
	return sip_build_response(a, r->status, why, &o, out, cap);
}

int b2b_map_rack(const sip_msg *prack, uint32_t other_invite_cseq, char *out, size_t cap)
{
	const sip_hdr *h = sip_hdr_get(prack, SIP_H_RACK, 0);
	unsigned long rseq = 0;
	size_t i = 0, digits = 0;
	if (!h || sip_hdr_get(prack, SIP_H_RACK, 1))
		return sbc_err_sip(400);
	/* RAck = response-num LWS CSeq-num LWS Method (RFC 3262 7.2) */
	while (i < h->value.n && h->value.p[i] >= '0' && h->value.p[i] <= '9' && digits < 10) {
		rseq = rseq * 10 + (unsigned long)(h->value.p[i] - '0');
		i++, digits++;
	}
	if (digits == 0 || rseq == 0 || rseq > 0xffffffffUL || i == h->value.n ||
	    (h->value.p[i] != ' ' && h->value.p[i] != '\t'))
		return sbc_err_sip(400);
	int n = snprintf(out, cap, "RAck: %lu %u INVITE", rseq, other_invite_cseq);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

uint64_t b2b_session_bye_ms(uint32_t secs, uint32_t floor_s, uint32_t *interval_s)
{
	/* a floor: an interval shorter than the operator allows (a peer's
	 * 1 s) is timed as the floor, never cleared sooner */
	if (secs < floor_s)
		secs = floor_s;
	if (interval_s)
		*interval_s = secs;
	uint64_t ms = (uint64_t)secs * 1000u, before = ms / 3 < 32000 ? ms / 3 : 32000;
	return ms - before;
}

int b2b_session_expires(const sip_msg *m, uint32_t *secs, int *refresher)
{
	const sip_hdr *h = sip_hdr_get(m, SIP_H_SESSION_EXPIRES, 0);
	uint64_t v = 0;
	size_t i = 0;
	if (!h)
		return 0;
	if (sip_hdr_get(m, SIP_H_SESSION_EXPIRES, 1))
		return sbc_err_sip(400); /* RFC 4028 4: one at most */
	const char *p = h->value.p;
	size_t n = h->value.n;
	/* delta-seconds; digits are counted so that a long run cannot wrap v */
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(p[i] - '0');
		if (v > B2B_SE_MAX)
			return sbc_err_sip(400);
	}
	if (i == 0 || v == 0)
		return sbc_err_sip(400);
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] != ';')
		return sbc_err_sip(400); /* "1800, 900", "1800x", "90s" */
	int who = B2B_REFRESHER_NONE;
	sip_sv r;
	if (i < n && sip_param_find((sip_sv){p + i, n - i}, "refresher", &r)) {
		if (sip_sv_ieq(r, "uac"))
			who = B2B_REFRESHER_UAC;
		else if (sip_sv_ieq(r, "uas"))
			who = B2B_REFRESHER_UAS;
		else
			return sbc_err_sip(400);
	}
	*secs = (uint32_t)v;
	if (refresher)
		*refresher = who;
	return 1;
}

int b2b_method_status(enum sip_method m)
{
	switch (m) {
	case SIP_M_INVITE:
	case SIP_M_ACK:
	case SIP_M_BYE:
	case SIP_M_CANCEL:
	case SIP_M_OPTIONS:
	case SIP_M_UPDATE:
	case SIP_M_PRACK:
	case SIP_M_INFO:
		return 0;
	case SIP_M_REGISTER:
	case SIP_M_SUBSCRIBE:
	case SIP_M_NOTIFY:
	case SIP_M_REFER:
	case SIP_M_MESSAGE:
	case SIP_M_PUBLISH:
		return 405;
	default: /* SIP_M_UNKNOWN: the parser matched none, case-sensitively */
		return 501;
	}
}

int b2b_early_update_offer_status(int from_callee, int answered_reliably)
{
	/* toward the callee we are the UAC of the INVITE: our offer in it is
	 * open until its answer came reliably; toward the caller we are its
	 * UAS and its offer is ours to answer, so never 491 there */
	if (answered_reliably)
		return 0; /* the exchange is complete: a new one may start (relayed) */
	return from_callee ? 491 : 500;
}

unsigned b2b_retry_after_s(const sip_msg *req)
{
	sip_sv b = req->n_via ? req->via[0].branch : SIP_SV_NULL;
	return (unsigned)(sip_hash64(b.p ? b.p : "", b.n) % 11u);
}
