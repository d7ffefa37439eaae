/* sbc-signal — SDP rewriter: the SDP one leg sees of the other, with media
 * anchored at the relay. See sdp_session.h caveat 3. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sbc/err.h"
#include "sdp_session.h"
#include "sip_build.h"

void sdp_origin_init(sdp_origin *o, const char *user, uint64_t sess_id)
{
	const char *u = user && *user ? user : "-";
	memset(o, 0, sizeof(*o));
	memcpy(o->user, u, strnlen(u, sizeof(o->user) - 1)); /* NUL from the memset */
	for (char *p = o->user; *p; p++)
		if (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t')
			*p = '_';
	o->sess_id = sess_id;
	o->version = sess_id;
}

/* Line iterator over raw SDP lines. */
static int next_line(sip_sv *rest, char *type, sip_sv *val, sip_sv *whole)
{
	while (rest->n) {
		const char *nl = memchr(rest->p, '\n', rest->n);
		size_t adv = nl ? (size_t)(nl - rest->p) + 1 : rest->n;
		size_t e = nl ? (size_t)(nl - rest->p) : rest->n;
		if (e && rest->p[e - 1] == '\r')
			e--;
		sip_sv line = {rest->p, e};
		rest->p += adv;
		rest->n -= adv;
		if (line.n < 2)
			continue;
		*type = line.p[0];
		*val = (sip_sv){line.p + 2, line.n - 2};
		*whole = line;
		return 1;
	}
	return 0;
}

static sip_sv attr_name(sip_sv v)
{
	const char *c = memchr(v.p, ':', v.n);
	return (sip_sv){v.p, c ? (size_t)(c - v.p) : v.n};
}

static int is_dir(sip_sv n)
{
	if (n.n != 8)
		return 0;
	return sip_sv_eq(n, "sendrecv") || sip_sv_eq(n, "sendonly") || sip_sv_eq(n, "recvonly") ||
	       sip_sv_eq(n, "inactive");
}

/* Attributes that never cross: ICE, DTLS-SRTP, SDES (replaced), BUNDLE. */
static int dropped_attr(sip_sv n, sip_sv v)
{
	static const char *const drop[] = {"candidate", "ice-ufrag", "ice-pwd", "ice-options",
					   "end-of-candidates", "remote-candidates", "ice-lite",
					   "ice-mismatch", "ice-pacing", "crypto", "fingerprint",
					   "setup", "tls-id", "rtcp"};
	if (n.n == 0)
		return 0;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (drop[i][0] == n.p[0] && sip_sv_eq(n, drop[i]))
			return 1;
	if (sip_sv_eq(n, "group") && v.n >= 12 && memcmp(v.p, "group:BUNDLE", 12) == 0)
		return 1;
	return 0;
}

static void emit_proto(sip_buf *w, const sdp_media *m, const sdp_media_out *mo)
{
	if (!m->rtp) {
		sip_buf_sv(w, m->proto);
		return;
	}
	int fb = m->proto.n && m->proto.p[m->proto.n - 1] == 'F';
	sip_buf_str(w, mo->savp ? "RTP/SAVP" : "RTP/AVP");
	if (fb)
		sip_buf_str(w, "F");
}

static void emit_rest(sip_buf *w, const sdp_session *in, const sdp_rewrite *rw, const char *ip, int v6)
{
	char t;
	sip_sv v, whole, rest;

	sip_buf_str(w, "s=");
	sip_buf_str(w, rw->session_name ? rw->session_name : "-");
	sip_buf_str(w, "\r\nc=IN ");
	sip_buf_str(w, v6 ? "IP6 " : "IP4 ");
	sip_buf_str(w, ip);
	sip_buf_str(w, "\r\n");
	/* session-level b=, then t=/r=, then a=, each in input order */
	static const char order[] = {'b', 't', 'a'};
	for (size_t k = 0; k < sizeof(order); k++) {
		rest = in->lines;
		while (next_line(&rest, &t, &v, &whole)) {
			int take = (order[k] == 't') ? (t == 't' || t == 'r') : (t == order[k]);
			if (!take)
				continue;
			if (t == 'a' && dropped_attr(attr_name(v), v))
				continue;
			sip_buf_sv(w, whole);
			sip_buf_str(w, "\r\n");
		}
	}
	for (unsigned i = 0; i < in->n_media; i++) {
		const sdp_media *m = &in->media[i];
		const sdp_media_out *mo = &rw->media[i];
		sip_buf_str(w, "m=");
		sip_buf_sv(w, m->type);
		sip_buf_str(w, " ");
		sip_buf_u64(w, mo->port);
		sip_buf_str(w, " ");
		emit_proto(w, m, mo);
		if (m->fmts.n) {
			sip_buf_str(w, " ");
			sip_buf_sv(w, m->fmts);
		}
		sip_buf_str(w, "\r\n");
		if (mo->port == 0)
			continue; /* declined: the m= line alone */
		rest = m->lines;
		while (next_line(&rest, &t, &v, &whole))
			if (t == 'b') {
				sip_buf_sv(w, whole);
				sip_buf_str(w, "\r\n");
			}
		for (unsigned c = 0; c < mo->n_crypto; c++) {
			sip_buf_str(w, "a=crypto:");
			sip_buf_str(w, mo->crypto[c]);
			sip_buf_str(w, "\r\n");
		}
		int had_rtcp = m->rtcp_port >= 0;
		rest = m->lines;
		while (next_line(&rest, &t, &v, &whole)) {
			if (t != 'a')
				continue;
			sip_sv n = attr_name(v);
			if (dropped_attr(n, v))
				continue;
			if (sip_sv_eq(n, "rtcp-mux") && !mo->rtcp_mux)
				continue;
			if (is_dir(n) && mo->dir)
				continue;
			sip_buf_sv(w, whole);
			sip_buf_str(w, "\r\n");
		}
		if (had_rtcp) {
			int mux = mo->rtcp_mux && m->rtcp_mux;
			sip_buf_str(w, "a=rtcp:");
			sip_buf_u64(w, (uint64_t)(mux ? mo->port : (uint16_t)(mo->port + 1)));
			sip_buf_str(w, "\r\n");
		}
		if (mo->dir) {
			sip_buf_str(w, "a=");
			sip_buf_str(w, sdp_dir_name((enum sdp_dir)mo->dir));
			sip_buf_str(w, "\r\n");
		}
	}
}

int sdp_rewrite_build(const sdp_session *in, const sdp_rewrite *rw, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN + 1];
	int v6;
	sip_buf w;

	if (!in || !rw || !rw->addr || !rw->origin)
		return -EINVAL;
	v6 = rw->addr->sa.sa_family == AF_INET6;
	if (!v6 && rw->addr->sa.sa_family != AF_INET)
		return -EINVAL;
	sbc_addr_format_ip(rw->addr, ip, sizeof(ip));
	if (rw->session_name)
		for (const char *p = rw->session_name; *p; p++)
			if (*p == '\r' || *p == '\n')
				return -EINVAL;
	for (unsigned i = 0; i < in->n_media; i++)
		for (unsigned c = 0; c < rw->media[i].n_crypto; c++)
			if (strpbrk(rw->media[i].crypto[c], "\r\n"))
				return -EINVAL;

	/* Everything after o= first, then hashed; then the o= line (its
	 * version depends on that hash) goes in front. */
	sip_buf_init(&w, out, cap);
	emit_rest(&w, in, rw, ip, v6);
	int r = sip_buf_end(&w);
	if (r < 0)
		return r;
	/* whether the body changed since the last one built (o= version,
	 * RFC 3264 8): compared only with last_hash of this process */
	uint64_t h = sip_hash64(out, (size_t)r);
	sdp_origin *o = rw->origin;
	uint64_t version = o->version + ((o->last_hash && o->last_hash != h) ? 1 : 0);
	char pre[192];
	sip_buf pb;
	sip_buf_init(&pb, pre, sizeof(pre));
	sip_buf_str(&pb, "v=0\r\no=");
	sip_buf_str(&pb, o->user);
	sip_buf_put(&pb, " ", 1);
	sip_buf_u64(&pb, o->sess_id);
	sip_buf_put(&pb, " ", 1);
	sip_buf_u64(&pb, version);
	sip_buf_str(&pb, v6 ? " IN IP6 " : " IN IP4 ");
	sip_buf_str(&pb, ip);
	sip_buf_put(&pb, "\r\n", 2);
	int plen = sip_buf_end(&pb);
	if (plen < 0 || (size_t)r + (size_t)plen > cap)
		return -ENOSPC;
	memmove(out + plen, out, (size_t)r);
	memcpy(out, pre, (size_t)plen);
	if ((size_t)(r + plen) < cap)
		out[r + plen] = 0;
	o->version = version; /* only a body that went out moves the state */
	o->last_hash = h;
	return r + plen;
}

int sdp_redact(sip_sv sdp, char *out, size_t cap)
{
	sip_buf b;
	size_t i = 0;
	static const char tag[] = "inline:";
	sip_buf_init(&b, out, cap);
	while (i < sdp.n) {
		if (sdp.n - i >= sizeof(tag) - 1 && memcmp(sdp.p + i, tag, sizeof(tag) - 1) == 0) {
			sip_buf_str(&b, "inline:<redacted>");
			i += sizeof(tag) - 1;
			while (i < sdp.n && sdp.p[i] != ' ' && sdp.p[i] != '\r' && sdp.p[i] != '\n' &&
			       sdp.p[i] != ';')
				i++;
			continue;
		}
		sip_buf_put(&b, sdp.p + i, 1);
		i++;
	}
	int r = sip_buf_end(&b);
	if (r < 0 && cap) {
		/* never leave a partial key: cut at the last complete redaction */
		out[0] = 0;
	}
	return r;
}
