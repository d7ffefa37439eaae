/* sbc-signal — SIP framing (see sig_framing.h). */
#include "sig_framing.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "sbc/err.h"
#include "sip_msg.h"
#include "word_scan.h"

static const char *const why_names[] = {
	[SIG_FRAME_OK] = "ok",
	[SIG_FRAME_E_GARBAGE] = "garbage",
	[SIG_FRAME_E_HDR_TOO_BIG] = "header_too_big",
	[SIG_FRAME_E_BODY_TOO_BIG] = "body_too_big",
	[SIG_FRAME_E_NO_CLEN] = "no_content_length",
	[SIG_FRAME_E_BAD_CLEN] = "bad_content_length",
	[SIG_FRAME_E_SHORT_BODY] = "short_body",
};

const char *sig_frame_why_name(unsigned why)
{
	return why < sizeof(why_names) / sizeof(why_names[0]) ? why_names[why] : "unknown";
}

static int frame_fail(sig_frame *f, unsigned why)
{
	f->why = (uint8_t)why;
	return sbc_err_sip(400);
}

/* A byte that may appear in a header line (tab and printable, UTF-8 allowed). */
static inline int hdr_byte_ok(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline uint64_t word_special(const char *p);

/* 0 when buf[i..n) up to its first CR holds only header bytes, else -1.
 * Eight bytes per step while none is special (word_special), byte by byte
 * over a word that holds one: the start line was a byte loop of its own
 * before find_hdr_end's scan. */
static int line_bytes_ok(const char *buf, size_t i, size_t n)
{
	while (i < n) {
		if (i + 8 <= n && !word_special(buf + i)) {
			i += 8;
			continue;
		}
		if (buf[i] == '\r')
			return 0;
		if (!hdr_byte_ok((unsigned char)buf[i]))
			return -1;
		i++;
	}
	return 0;
}

/* Checks the (possibly incomplete) start line in buf[0..n): a request line
 * "METHOD SP ..." with a token method starting with a letter, or
 * "SIP/2.0 ". Returns 0 when it is plausible so far, -1 when it is
 * garbage. Methods are case-sensitive tokens (RFC 3261 7.1, 25.1): a
 * lower-case one (`invite`, `ack`) is a request with a method we do not
 * know, to be answered 501 by the B2BUA, not garbage dropped unanswered
 * (UDP) or closed with 400 (TCP/TLS). */
static int start_line_plausible(const char *buf, size_t n)
{
	size_t i = 0;
	if (n == 0)
		return 0;
	if (n >= 4 && memcmp(buf, "SIP/", 4) == 0) {
		static const char st[] = "SIP/2.0 ";
		size_t m = n < 8 ? n : 8;
		if (memcmp(buf, st, m) != 0)
			return -1;
		for (i = 8; i < n && i < 11; i++)
			if (buf[i] < '0' || buf[i] > '9')
				return -1;
		return line_bytes_ok(buf, i, n);
	}
	/* method token: letters, digits, '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~' */
	for (i = 0; i < n && buf[i] != ' '; i++) {
		char c = buf[i];
		int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		if (!(alpha || (c >= '0' && c <= '9') || (c && strchr("-.!%*_+`'~", c))))
			return -1;
		if (i == 0 && !alpha)
			return -1;
		if (i > 32)
			return -1;
	}
	if (i == 0 && n > 0)
		return -1;
	return line_bytes_ok(buf, i, n);
}

/* Eight bytes at a time: nonzero when one of them is below 0x20 (CR, LF,
 * tab and the forbidden controls) or is DEL, i.e. when the byte loop has to
 * look. Bytes >= 0x80 (UTF-8) are ordinary: the borrow trick only flags
 * bytes whose top bit is clear. Framing scans every header byte of every
 * message, so this is the hot loop of sbc-signal's input path. */
static inline uint64_t word_special(const char *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof(x));
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t d = x ^ (ones * 0x7f);
	uint64_t del = (d - ones) & ~d & highs;
	return sip_ctl8(p) | del;
}

/* Lines that may be Content-Length ("Content-Length" or "l": they start
 * with c, C, l or L), noted by find_hdr_end as it passes their line breaks,
 * so that find_content_length looks at those few lines without a memchr per
 * line of its own. More than CL_MAX of them (many Contact or Call-Info
 * lines): every line is looked at, as before this list existed. */
#define CL_MAX 8
typedef struct cl_lines {
	uint32_t start[CL_MAX], end[CL_MAX]; /* [start, end): end is the line's CR */
	unsigned n;
	int open;     /* the last noted line has no end yet */
	int overflow; /* more than CL_MAX */
} cl_lines;

/* The CRLF at i ends the line noted last, if it is still open. */
static inline void cl_close(cl_lines *cl, size_t i)
{
	if (cl->open) {
		cl->end[cl->n - 1] = (uint32_t)i;
		cl->open = 0;
	}
}

static inline void cl_note(cl_lines *cl, const char *buf, size_t i)
{
	/* buf[i], buf[i + 1] is a CRLF that is not the end of the headers */
	cl_close(cl, i);
	char c = buf[i + 2];
	if (c != 'c' && c != 'C' && c != 'l' && c != 'L')
		return;
	if (cl->n == CL_MAX) {
		cl->overflow = 1;
		return;
	}
	cl->start[cl->n++] = (uint32_t)(i + 2);
	cl->open = 1;
}

/* Finds the end of the headers ("\r\n\r\n") in buf[0..n); returns the offset
 * just past it, or 0 when absent. Also reports a forbidden byte: a control
 * other than tab, DEL, a CR not followed by LF or an LF not preceded by CR.
 * Notes the Content-Length candidates in *cl on the way. */
static size_t find_hdr_end(const char *buf, size_t n, int *bad, cl_lines *cl)
{
	*bad = 0;
	size_t i = 0;
	while (i + 3 < n) {
		if (i + 8 <= n) {
			uint64_t k = word_special(buf + i);
			if (!k) {
				i += 8;
				continue;
			}
			/* straight to the first special byte (little-endian: the
			 * lowest flagged byte is exact) */
			i += word_first(k);
			if (i + 3 >= n)
				break; /* the tail loop below checks it */
		}
		unsigned char c = (unsigned char)buf[i];
		if (c == '\r') {
			if (buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
				cl_close(cl, i);
				return i + 4;
			}
			if (buf[i + 1] != '\n') {
				*bad = 1;
				return 0;
			}
			cl_note(cl, buf, i);
		} else if (c == '\n') {
			if (i == 0 || buf[i - 1] != '\r') {
				*bad = 1;
				return 0;
			}
		} else if (!hdr_byte_ok(c)) {
			*bad = 1;
			return 0;
		}
		i++;
	}
	/* bytes past the last full window still need checking for binaries */
	for (i = n >= 3 ? n - 3 : 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c != '\r' && c != '\n' && !hdr_byte_ok(c)) {
			*bad = 1;
			return 0;
		}
	}
	return 0;
}

/* One header line ls..le (no CRLF). Returns 1 with *x when it is a
 * Content-Length, 0 when it is another header (or a continuation), -1 when
 * it is a malformed Content-Length. */
static int clen_line(const char *ls, const char *le, uint64_t *x)
{
	if (le == ls)
		return 0;
	char c0 = *ls;
	if (c0 != 'c' && c0 != 'C' && c0 != 'l' && c0 != 'L')
		return 0; /* neither name form: also skips folded continuations */
	const char *ne = memchr(ls, ':', (size_t)(le - ls));
	if (!ne)
		return 0; /* no colon: not our business here */
	const char *nend = ne;
	while (nend > ls && (nend[-1] == ' ' || nend[-1] == '\t'))
		nend--;
	size_t nlen = (size_t)(nend - ls);
	if (!((nlen == 14 && strncasecmp(ls, "content-length", 14) == 0) || (nlen == 1 && (c0 == 'l' || c0 == 'L'))))
		return 0;
	const char *v = ne + 1;
	while (v < le && (*v == ' ' || *v == '\t'))
		v++;
	if (v == le || *v < '0' || *v > '9')
		return -1;
	uint64_t val = 0;
	while (v < le && *v >= '0' && *v <= '9') {
		val = val * 10 + (uint64_t)(*v - '0');
		if (val > 0xffffffffull)
			return -1;
		v++;
	}
	while (v < le && (*v == ' ' || *v == '\t'))
		v++;
	if (v != le)
		return -1;
	*x = val;
	return 1;
}

/* One header line [ls, le) into a Content-Length search: a Content-Length
 * sets *val (and *found), a second one must repeat it. Returns -1 when the
 * line is a malformed Content-Length or conflicts with the one found. */
static int clen_merge(const char *ls, const char *le, int *found, uint64_t *val)
{
	uint64_t x = 0;
	int r = clen_line(ls, le, &x);
	if (r < 0 || (r && *found && x != *val))
		return -1;
	if (r) {
		*found = 1;
		*val = x;
	}
	return 0;
}

/* Parses Content-Length among the header lines in hdr[0..len) (start line
 * included, final empty line included): the lines find_hdr_end noted in cl,
 * or every line when it noted too many. Returns 1 found (*out), 0 absent,
 * -1 malformed or conflicting. find_hdr_end has checked that every CR is
 * followed by LF and every LF preceded by CR. */
static int find_content_length(const char *hdr, size_t len, const cl_lines *cl, uint64_t *out)
{
	int found = 0;
	uint64_t val = 0;
	if (!cl->overflow) {
		for (unsigned k = 0; k < cl->n; k++) {
			if (clen_merge(hdr + cl->start[k], hdr + cl->end[k], &found, &val) < 0)
				return -1;
		}
		*out = val;
		return found;
	}
	const char *end = hdr + len;
	/* skip the start line */
	const char *p = memchr(hdr, '\n', len);
	p = p ? p + 1 : end;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		const char *ls = p, *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		p = nl + 1;
		if (le == ls)
			break; /* the empty line */
		if (clen_merge(ls, le, &found, &val) < 0)
			return -1;
	}
	*out = val;
	return found;
}

/* Keep-alive at the front. Returns the kind, or -1 when buf does not start with CRLF. */
static int keepalive(const char *buf, size_t len, sig_frame *f, int datagram)
{
	if (len < 2 || buf[0] != '\r' || buf[1] != '\n')
		return -1;
	if (len >= 4 && buf[2] == '\r' && buf[3] == '\n') {
		f->consumed = 4;
		return SIG_FRAME_PING;
	}
	if (len == 3 && buf[2] == '\r' && !datagram)
		return SIG_FRAME_NEED_MORE; /* maybe the start of a ping */
	f->consumed = 2;
	return SIG_FRAME_PONG;
}

static int frame_headers(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f,
			 uint64_t *clen, int *has_clen)
{
	size_t scan = len < lim->max_header ? len : lim->max_header;
	const char *eol = memchr(buf, '\r', scan);
	if (start_line_plausible(buf, eol ? (size_t)(eol - buf) : scan) < 0)
		return frame_fail(f, SIG_FRAME_E_GARBAGE);
	int bad;
	cl_lines cl;
	cl.n = 0, cl.open = 0, cl.overflow = 0;
	size_t hend = find_hdr_end(buf, scan, &bad, &cl);
	if (bad)
		return frame_fail(f, SIG_FRAME_E_GARBAGE);
	if (hend == 0) {
		if (len >= lim->max_header)
			return frame_fail(f, SIG_FRAME_E_HDR_TOO_BIG);
		return SIG_FRAME_NEED_MORE;
	}
	int r = find_content_length(buf, hend, &cl, clen);
	if (r < 0)
		return frame_fail(f, SIG_FRAME_E_BAD_CLEN);
	*has_clen = r;
	if (r && *clen > lim->max_body)
		return frame_fail(f, SIG_FRAME_E_BODY_TOO_BIG);
	f->hdr_len = (uint32_t)hend;
	return SIG_FRAME_MESSAGE;
}

int sig_frame_stream(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f)
{
	memset(f, 0, sizeof(*f));
	int k = keepalive(buf, len, f, 0);
	if (k >= 0)
		return k;
	uint64_t clen = 0;
	int has_clen = 0;
	int r = frame_headers(buf, len, lim, f, &clen, &has_clen);
	if (r != SIG_FRAME_MESSAGE)
		return r;
	if (!has_clen)
		return frame_fail(f, SIG_FRAME_E_NO_CLEN);
	if (len - f->hdr_len < clen) {
		f->hdr_len = 0;
		return SIG_FRAME_NEED_MORE;
	}
	f->body_len = (uint32_t)clen;
	f->consumed = f->hdr_len + f->body_len;
	return SIG_FRAME_MESSAGE;
}

int sig_frame_datagram(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f)
{
	memset(f, 0, sizeof(*f));
	int k = keepalive(buf, len, f, 1);
	if (k >= 0) {
		f->consumed = (uint32_t)len;
		return k;
	}
	uint64_t clen = 0;
	int has_clen = 0;
	int r = frame_headers(buf, len, lim, f, &clen, &has_clen);
	if (r == SIG_FRAME_NEED_MORE) /* a datagram is all there is */
		return frame_fail(f, SIG_FRAME_E_GARBAGE);
	if (r != SIG_FRAME_MESSAGE)
		return r;
	size_t avail = len - f->hdr_len;
	if (has_clen) {
		if (avail < clen)
			return frame_fail(f, SIG_FRAME_E_SHORT_BODY);
		f->body_len = (uint32_t)clen;
	} else {
		if (avail > lim->max_body)
			return frame_fail(f, SIG_FRAME_E_BODY_TOO_BIG);
		f->body_len = (uint32_t)avail;
	}
	f->consumed = (uint32_t)len;
	return SIG_FRAME_MESSAGE;
}
