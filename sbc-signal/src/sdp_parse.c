/* sbc-signal — SDP parser (RFC 4566). See sdp_session.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sbc/err.h"
#include "sdp_session.h"
#include "word_scan.h"

static int fail(sdp_session *s, int err, const char *why)
{
	s->err_reason = why;
	return err;
}

/* The first SP or HTAB in v[i..), or v.n: eight bytes per step (a zero
 * byte of x ^ SP or x ^ HTAB; the lowest flagged byte is exact on
 * little-endian x86-64), byte by byte for the last few. */
static inline size_t field_end(sip_sv v, size_t i)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	for (; i + 8 <= v.n; i += 8) {
		uint64_t x, a, b;
		memcpy(&x, v.p + i, 8);
		a = x ^ (ones * ' ');
		b = x ^ (ones * '\t');
		uint64_t k = (((a - ones) & ~a) | ((b - ones) & ~b)) & highs;
		if (k)
			return i + word_first(k);
	}
	while (i < v.n && v.p[i] != ' ' && v.p[i] != '\t')
		i++;
	return i;
}

/* Splits v into at most max space-separated fields; returns the count. The
 * last field takes the rest of the line when there are more. */
static unsigned split(sip_sv v, sip_sv *f, unsigned max)
{
	unsigned n = 0;
	size_t i = 0;
	while (i < v.n && n < max) {
		while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		if (i == v.n)
			break;
		size_t st = i;
		if (n == max - 1) {
			size_t e = v.n;
			while (e > st && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
				e--;
			f[n++] = (sip_sv){v.p + st, e - st};
			break;
		}
		i = field_end(v, i);
		f[n++] = (sip_sv){v.p + st, i - st};
	}
	return n;
}

static int parse_u16(sip_sv s, uint16_t *out)
{
	unsigned long v = 0;
	if (s.n == 0 || s.n > 5)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s.p[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* nettype addrtype address, already split (f[0..3)) */
static int conn_fields(const sip_sv *f, sdp_conn *c)
{
	if (!sip_sv_eq(f[0], "IN"))
		return -1;
	if (sip_sv_eq(f[1], "IP4"))
		c->v6 = 0;
	else if (sip_sv_eq(f[1], "IP6"))
		c->v6 = 1;
	else
		return -1;
	const char *slash = memchr(f[2].p, '/', f[2].n);
	c->addr = (sip_sv){f[2].p, slash ? (size_t)(slash - f[2].p) : f[2].n};
	if (c->addr.n == 0)
		return -1;
	c->present = 1;
	return 0;
}

static int parse_conn(sip_sv v, sdp_conn *c)
{
	sip_sv f[4];
	if (split(v, f, 4) != 3)
		return -1;
	return conn_fields(f, c);
}

static int is_ice_attr(sip_sv name)
{
	static const char *const ice[] = {"candidate", "ice-ufrag", "ice-pwd", "ice-options",
					  "end-of-candidates", "remote-candidates", "ice-lite",
					  "ice-mismatch", "ice-pacing"};
	if (name.n < 7 || (name.p[0] != 'c' && name.p[0] != 'i' && name.p[0] != 'e' && name.p[0] != 'r'))
		return 0;
	for (size_t i = 0; i < sizeof(ice) / sizeof(ice[0]); i++)
		if (ice[i][0] == name.p[0] && sip_sv_eq(name, ice[i]))
			return 1;
	return 0;
}

static enum sdp_dir dir_of(sip_sv name)
{
	if (name.n != 8)
		return SDP_DIR_NONE;
	if (sip_sv_eq(name, "sendrecv"))
		return SDP_DIR_SENDRECV;
	if (sip_sv_eq(name, "sendonly"))
		return SDP_DIR_SENDONLY;
	if (sip_sv_eq(name, "recvonly"))
		return SDP_DIR_RECVONLY;
	if (sip_sv_eq(name, "inactive"))
		return SDP_DIR_INACTIVE;
	return SDP_DIR_NONE;
}

static int parse_attr(sdp_session *s, sdp_media *m, sip_sv v)
{
	const char *colon = memchr(v.p, ':', v.n);
	sip_sv name = {v.p, colon ? (size_t)(colon - v.p) : v.n};
	sip_sv val = colon ? (sip_sv){colon + 1, v.n - name.n - 1} : (sip_sv){v.p + v.n, 0};
	enum sdp_dir d;

	if (name.n == 0)
		return fail(s, sbc_err_sip(400), "bad SDP attribute");
	if ((d = dir_of(name)) != SDP_DIR_NONE) {
		if (m)
			m->dir = (uint8_t)d;
		else
			s->dir = (uint8_t)d;
		return 0;
	}
	if (is_ice_attr(name)) {
		if (m)
			m->has_ice = 1;
		else
			s->has_ice = 1;
		return 0;
	}
	if (!m)
		return 0;
	if (sip_sv_eq(name, "rtcp-mux")) {
		m->rtcp_mux = 1;
	} else if (sip_sv_eq(name, "rtcp")) {
		sip_sv f[2];
		uint16_t port;
		if (split(val, f, 2) < 1 || parse_u16(f[0], &port) < 0)
			return fail(s, sbc_err_sip(400), "bad SDP a=rtcp");
		m->rtcp_port = port;
	} else if (sip_sv_eq(name, "crypto")) {
		if (m->n_crypto == SDP_MAX_CRYPTO)
			return fail(s, sbc_err_sip(488), "too many SDP crypto lines");
		if (val.n == 0)
			return fail(s, sbc_err_sip(400), "bad SDP a=crypto");
		m->crypto[m->n_crypto++] = val;
	}
	return 0;
}

/* Whether the four bytes pat occur in s (a profile: "RTP/SAVP"): a word
 * compare per position, where memmem cost a call and its set-up. */
static int has4(sip_sv s, const char *pat)
{
	uint32_t w, k;
	memcpy(&k, pat, 4);
	for (size_t i = 0; i + 4 <= s.n; i++) {
		memcpy(&w, s.p + i, 4);
		if (w == k)
			return 1;
	}
	return 0;
}

static int parse_media_line(sdp_session *s, sdp_media *m, sip_sv v)
{
	sip_sv f[4];
	unsigned nf = split(v, f, 4);
	if (nf < 3)
		return fail(s, sbc_err_sip(400), "bad SDP m= line");
	m->type = f[0];
	const char *slash = memchr(f[1].p, '/', f[1].n);
	sip_sv port = {f[1].p, slash ? (size_t)(slash - f[1].p) : f[1].n};
	if (parse_u16(port, &m->port) < 0)
		return fail(s, sbc_err_sip(400), "bad SDP m= port");
	if (slash && parse_u16((sip_sv){slash + 1, f[1].n - port.n - 1}, &m->n_ports) < 0)
		return fail(s, sbc_err_sip(400), "bad SDP m= port");
	m->proto = f[2];
	m->fmts = nf == 4 ? f[3] : (sip_sv){f[2].p + f[2].n, 0};
	for (size_t i = 0; i < m->proto.n; i++) {
		char c = m->proto.p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
		      c == '.' || c == '-' || c == '_'))
			return fail(s, sbc_err_sip(400), "bad SDP m= proto");
	}
	m->rtp = has4(m->proto, "RTP/");
	m->savp = m->rtp && has4(m->proto, "SAVP");
	m->rtcp_port = -1;
	return 0;
}

/* The line at pos: *eol is where it ends (its LF, or a CR before that LF,
 * or len), *next where the next starts. Returns 1 when the line holds a
 * NUL or a CR that does not end it. One pass, eight bytes per step over
 * ordinary bytes (ctl_skip), instead of a memchr for the LF and a byte
 * loop for NUL and CR. */
static int sdp_line(const char *b, size_t len, size_t pos, size_t *eol, size_t *next)
{
	size_t j = pos;
	int bad = 0;
	while ((j = ctl_skip(b, len, j)) < len) {
		char c = b[j];
		if (c == '\n') {
			*eol = j, *next = j + 1;
			return bad;
		}
		if (c == '\r') {
			if (j + 1 < len && b[j + 1] == '\n') {
				*eol = j, *next = j + 2;
				return bad;
			}
			if (j + 1 == len) { /* a CR ending the body without LF */
				*eol = j, *next = len;
				return bad;
			}
			bad = 1;
		} else if (c == 0) {
			bad = 1;
		}
		j++;
	}
	*eol = *next = len;
	return bad;
}

static const sdp_media media_zero; /* also the zero bytes for the session's head */
_Static_assert(sizeof(sdp_media) >= offsetof(sdp_session, media), "the session head fits media_zero");
/* sdp_parse clears an sdp_media entry in two byte ranges, before crypto[]
 * and after it to the end (crypto[] is filled only up to n_crypto), so a
 * member added anywhere is cleared too (test_sdp_parse_diff parses into
 * 0xA5 and zero fill and compares every byte) */
#define MEDIA_AFTER_CRYPTO (offsetof(sdp_media, crypto) + sizeof(((sdp_media *)0)->crypto))

int sdp_parse(const char *buf, size_t len, sdp_session *s)
{
	size_t pos = 0;
	int seen_v = 0, seen_o = 0;
	sdp_media *m = NULL;
	const char *sess_start = NULL;

	/* the media array (most of the struct: 2.6 kB) is zeroed one entry
	 * at a time as m= lines start it; nothing reads past n_media */
	memcpy(s, &media_zero, offsetof(sdp_session, media)); /* zero bytes, vector moves */
	memset(&s->n_media, 0, sizeof(*s) - offsetof(sdp_session, n_media));
	if (!buf || len == 0)
		return fail(s, sbc_err_sip(400), "empty SDP");
	while (pos < len) {
		size_t eol, next;
		int bad = sdp_line(buf, len, pos, &eol, &next);
		sip_sv line = {buf + pos, eol - pos};
		size_t lstart = pos;
		pos = next;
		if (line.n == 0)
			continue;
		if (bad)
			return fail(s, sbc_err_sip(400), "bad character in SDP");
		if (line.n < 2 || line.p[1] != '=' || line.p[0] < 'a' || line.p[0] > 'z')
			return fail(s, sbc_err_sip(400), "bad SDP line");
		char t = line.p[0];
		sip_sv v = {line.p + 2, line.n - 2};
		if (!seen_v) {
			if (t != 'v' || !sip_sv_eq(v, "0"))
				return fail(s, sbc_err_sip(400), "SDP must start with v=0");
			seen_v = 1;
			sess_start = buf + next;
			continue;
		}
		if (m) /* extend the current media section */
			m->lines.n = (size_t)(buf + next - m->lines.p);
		switch (t) {
		case 'v':
			return fail(s, sbc_err_sip(400), "bad SDP line");
		case 'o': {
			sip_sv f[7];
			if (m || seen_o || split(v, f, 7) != 6)
				return fail(s, sbc_err_sip(400), "bad SDP o= line");
			sdp_conn oc;
			/* six fields (the last is not "the rest"): f[3..5] are what
			 * splitting their span again would give */
			if (conn_fields(&f[3], &oc) < 0)
				return fail(s, sbc_err_sip(400), "bad SDP o= line");
			s->o_user = f[0];
			s->o_sess_id = f[1];
			s->o_version = f[2];
			s->o_addr = f[5];
			seen_o = 1;
			break;
		}
		case 'c':
			if (parse_conn(v, m ? &m->conn : &s->conn) < 0)
				return fail(s, sbc_err_sip(400), "bad SDP c= line");
			break;
		case 'm':
			if (!seen_o)
				return fail(s, sbc_err_sip(400), "SDP without o= line");
			if (s->n_media == SDP_MAX_MEDIA)
				return fail(s, sbc_err_sip(488), "too many SDP m= lines");
			if (!m)
				s->lines = (sip_sv){sess_start, (size_t)(buf + lstart - sess_start)};
			m = &s->media[s->n_media++];
			/* the bytes before the crypto lines from the all-zero
			 * value (vector moves; memset of the 300 bytes was a rep
			 * stos), those after them (n_crypto, lines) zeroed;
			 * crypto[] only up to n_crypto as it fills */
			memcpy(m, &media_zero, offsetof(sdp_media, crypto));
			memset((char *)m + MEDIA_AFTER_CRYPTO, 0, sizeof(*m) - MEDIA_AFTER_CRYPTO);
			if (parse_media_line(s, m, v) < 0)
				return sbc_err_sip(400);
			m->lines = (sip_sv){buf + next, 0};
			break;
		case 'a': {
			int r = parse_attr(s, m, v);
			if (r < 0)
				return r;
			break;
		}
		case 's': case 'i': case 'u': case 'e': case 'p': case 'b': case 't': case 'r': case 'z':
		case 'k':
			break;
		default:
			return fail(s, sbc_err_sip(400), "unknown SDP line type");
		}
	}
	if (!seen_v)
		return fail(s, sbc_err_sip(400), "empty SDP");
	if (!seen_o)
		return fail(s, sbc_err_sip(400), "SDP without o= line");
	if (!m)
		s->lines = (sip_sv){sess_start, (size_t)(buf + len - sess_start)};
	for (unsigned i = 0; i < s->n_media; i++)
		if (s->media[i].port != 0 && !s->media[i].conn.present && !s->conn.present)
			return fail(s, sbc_err_sip(400), "SDP media without c= line");
	s->err_reason = NULL;
	return 0;
}

enum sdp_dir sdp_media_dir(const sdp_session *s, unsigned i)
{
	if (i < s->n_media && s->media[i].dir)
		return (enum sdp_dir)s->media[i].dir;
	return s->dir ? (enum sdp_dir)s->dir : SDP_DIR_SENDRECV;
}

const char *sdp_dir_name(enum sdp_dir d)
{
	switch (d) {
	case SDP_DIR_SENDONLY: return "sendonly";
	case SDP_DIR_RECVONLY: return "recvonly";
	case SDP_DIR_INACTIVE: return "inactive";
	default: return "sendrecv";
	}
}

enum media_addr_kind { MA_USABLE, MA_UNSPECIFIED, MA_REFUSED };

static enum media_addr_kind media_addr_kind(const sbc_addr *a)
{
	if (a->sa.sa_family == AF_INET) {
		uint32_t v = ntohl(a->in4.sin_addr.s_addr);
		if (v == 0)
			return MA_UNSPECIFIED;
		if ((v >> 24) == 0 || (v >> 28) == 0xE || v == 0xFFFFFFFFu)
			return MA_REFUSED; /* "this network", multicast, limited broadcast */
		return MA_USABLE;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr))
		return MA_UNSPECIFIED;
	if (IN6_IS_ADDR_MULTICAST(&a->in6.sin6_addr))
		return MA_REFUSED;
	if (IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		sbc_addr v4 = {.in4 = {.sin_family = AF_INET}};
		memcpy(&v4.in4.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
		return media_addr_kind(&v4);
	}
	return MA_USABLE;
}

/* The connection line of media i (media level, else session level), or NULL. */
static const sdp_conn *media_conn(const sdp_session *s, unsigned i)
{
	const sdp_conn *c = s->media[i].conn.present ? &s->media[i].conn : &s->conn;
	return c->present ? c : NULL;
}

int sdp_media_on_hold(const sdp_session *s, unsigned i)
{
	if (i >= s->n_media)
		return 0;
	if (sdp_media_dir(s, i) != SDP_DIR_SENDRECV)
		return 1;
	sbc_addr rtp, rtcp;
	return s->media[i].port && sdp_media_remote(s, i, &rtp, &rtcp) == 0 && !rtp.sa.sa_family;
}

int sdp_media_remote(const sdp_session *s, unsigned i, sbc_addr *rtp, sbc_addr *rtcp)
{
	char txt[INET6_ADDRSTRLEN + 1];
	const sdp_conn *c;
	if (i >= s->n_media)
		return -EINVAL;
	const sdp_media *m = &s->media[i];
	if (m->port == 0)
		return SBC_E_NOT_FOUND;
	c = media_conn(s, i);
	if (!c || c->addr.n >= sizeof(txt))
		return -EINVAL;
	memcpy(txt, c->addr.p, c->addr.n);
	txt[c->addr.n] = 0;
	if (sbc_addr_parse(txt, m->port, rtp) < 0)
		return -EINVAL;
	if ((rtp->sa.sa_family == AF_INET6) != (c->v6 != 0))
		return -EINVAL;
	switch (media_addr_kind(rtp)) {
	case MA_REFUSED:
		return -EINVAL;
	case MA_UNSPECIFIED:
		memset(rtp, 0, sizeof(*rtp));
		if (rtcp)
			memset(rtcp, 0, sizeof(*rtcp));
		return 0;
	case MA_USABLE:
		break;
	}
	sbc_addr_set_port(rtp, m->port);
	if (rtcp) {
		*rtcp = *rtp;
		if (m->rtcp_mux)
			sbc_addr_set_port(rtcp, m->port);
		else
			sbc_addr_set_port(rtcp, m->rtcp_port >= 0 ? (uint16_t)m->rtcp_port : (uint16_t)(m->port + 1));
	}
	return 0;
}
