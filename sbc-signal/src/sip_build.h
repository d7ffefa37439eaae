/* sbc-signal — SIP message builder with a bounded output buffer.
 *
 * Caveats:
 *  1. Nothing ever writes past cap. A sip_buf remembers the first failure
 *     (sticky): -ENOSPC when the output does not fit, -EINVAL when a value
 *     would inject a line break (CR/LF not followed by SP/HTAB, i.e. not a
 *     fold). sip_buf_end() returns it.
 *  2. Values copied from a parsed message (sip_sv) are written as they are;
 *     folds stay folds. Values that come from configuration or the other leg
 *     must go through sip_buf_hdr(), which checks for injection.
 *  3. Content-Length is always written, from the body given.
 */
#ifndef SIP_BUILD_H
#define SIP_BUILD_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sip_msg.h"

typedef struct sip_buf {
	char *p;
	size_t cap;
	size_t len;
	int err; /* 0 or the first failure */
} sip_buf;

/* v in decimal at the end of buf (no NUL; any uint64_t fits in
 * SIP_U64_DIGITS); returns where the digits start. For writers that are not
 * a sip_buf (SDP rewrite, transaction keys). */
#define SIP_U64_DIGITS 20
static inline const char *sip_u64_dec(uint64_t v, char buf[SIP_U64_DIGITS])
{
	/* two digits a step: half the chain of dependent divisions (call
	 * records carry 13-digit millisecond times, three per record) */
	static const char d2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				    "8081828384858687888990919293949596979899";
	char *p = buf + SIP_U64_DIGITS;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		p -= 2;
		memcpy(p, d2 + 2 * r, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, d2 + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	return p;
}

/* n bytes from s to d (both loads before the stores). Up to 16 bytes with
 * two fixed-size moves each, which the compiler inlines, overlapping in
 * the middle; longer ones and constant lengths through memcpy. Most pieces
 * a builder appends are a few bytes long (numbers, tags, ports, separators
 * of variable length): a libc memcpy for each, through the PLT and its
 * size dispatch, cost more than the copy (~70 per call in the live path). */
/* always_inline: with the small-copy branches gcc stopped inlining
 * sip_buf_str, and the strlen of every literal came back */
#define SIP_INLINE static inline __attribute__((always_inline))
void x__sip_copy_long(char *d, const char *s, size_t n); /* memcpy, out of line */
SIP_INLINE void sip_copy(char *d, const char *s, size_t n)
{
	if (__builtin_constant_p(n)) {
		memcpy(d, s, n);
	} else if (n > 16) {
		/* out of line: inlined here, gcc's bounds check (-Warray-bounds,
		 * the sanitizer build) flagged this branch at call sites whose
		 * source is a small array it cannot tell n fits */
		x__sip_copy_long(d, s, n);
	} else if (n >= 8) {
		uint64_t a, z;
		memcpy(&a, s, 8);
		memcpy(&z, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &z, 8);
	} else if (n >= 4) {
		uint32_t a, z;
		memcpy(&a, s, 4);
		memcpy(&z, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &z, 4);
	} else if (n) {
		char a = s[0], m = s[n / 2], z = s[n - 1];
		d[0] = a;
		d[n / 2] = m;
		d[n - 1] = z;
	}
}

/* A 64-bit hash of p[0..n) to tell whether a body changed (SDP o= version,
 * a repeated answer), eight bytes a step: multiply and fold, as FNV-1a
 * does per byte (its multiply per byte was ~4 cycles a byte). Each step is
 * a bijection of the state for a given word and of the word for a given
 * state, so bodies that differ in one word always differ. Not keyed: only
 * for bodies compared with each other, never for a table a peer can fill.
 * Never 0. */
static inline uint64_t sip_hash64(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n, t = 0;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	if (n)
		memcpy(&t, p, n);
	h = (h ^ t) * 0x100000001b3ull;
	h ^= h >> 32;
	return h ? h : 1;
}

void sip_buf_init(sip_buf *b, char *mem, size_t cap);
/* put, str and sv are inline: builders call them a few dozen times per
 * message, mostly with literals, whose strlen the compiler then folds
 * (out of line each was a call plus a libc strlen). */
SIP_INLINE void sip_buf_put(sip_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		b->err = -ENOSPC;
		return;
	}
	sip_copy(b->p + b->len, p, n);
	b->len += n;
}
SIP_INLINE void sip_buf_str(sip_buf *b, const char *s) { sip_buf_put(b, s, strlen(s)); }
SIP_INLINE void sip_buf_sv(sip_buf *b, sip_sv s) { sip_buf_put(b, s.p, s.n); }
void sip_buf_u64(sip_buf *b, uint64_t v);
void sip_buf_printf(sip_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string: quoted, '"' and '\\' escaped, bytes outside printable
 * ASCII as \u00XX (call records). Plain runs go in one copy, no printf. */
void sip_buf_json(sip_buf *b, const char *p, size_t n);
/* "Name: value\r\n", refusing a value with a bare CR or LF (-EINVAL).
 * (The name's length is taken inline: a literal's folds.) */
void x__sip_buf_hdr(sip_buf *b, const char *name, size_t name_len, sip_sv value);
static inline void sip_buf_hdr(sip_buf *b, const char *name, sip_sv value)
{
	x__sip_buf_hdr(b, name, strlen(name), value);
}
/* NUL-terminates when there is room (not counted). Returns len or the error. */
int sip_buf_end(sip_buf *b);

/* Standard reason phrase for a status ("Unknown" for unlisted codes). */
const char *sip_reason_phrase(int status);

typedef struct sip_resp_opts {
	sip_sv to_tag;      /* added when the request's To has no tag and status > 100 */
	sip_sv contact;     /* Contact value (e.g. "<sip:sbc@192.0.2.1:5060>") or empty */
	const sip_sv *extra; /* more header lines, "Name: value" without CRLF */
	unsigned n_extra;
	sip_sv content_type;
	sip_sv body;
} sip_resp_opts;

/* Builds a response to req (RFC 3261 8.2.6): every Via in order, From, To
 * (+tag), Call-ID, CSeq, then o's headers and body. reason NULL: the
 * standard phrase. o may be NULL. Returns the length or -ENOSPC/-EINVAL. */
int sip_build_response(const sip_msg *req, int status, const char *reason, const sip_resp_opts *o,
		       char *out, size_t cap);

typedef struct sip_req_spec {
	int method;          /* enum sip_method; SIP_M_UNKNOWN: method_name */
	sip_sv method_name;
	sip_sv ruri;
	sip_sv via_transport; /* "UDP", "TCP", "TLS" */
	sip_sv via_host;      /* as it goes on the wire: "192.0.2.1", "[2001:db8::1]" */
	uint16_t via_port;    /* 0: omitted */
	sip_sv branch;        /* full branch incl. z9hG4bK */
	int rport;            /* add ";rport" */
	sip_sv from, to;      /* full values (with tags) */
	sip_sv call_id;
	uint32_t cseq;
	int max_forwards;     /* < 0: 70 */
	sip_sv contact;       /* value or empty */
	const sip_sv *route;  /* Route values, in order */
	unsigned n_route;
	const sip_sv *extra;  /* header lines without CRLF */
	unsigned n_extra;
	sip_sv content_type;
	sip_sv body;
} sip_req_spec;

/* Builds a new request. Returns the length or -ENOSPC/-EINVAL. */
int sip_build_request(const sip_req_spec *s, char *out, size_t cap);

/* ACK for a non-2xx final response (RFC 3261 17.1.1.3) or CANCEL (9.1) of
 * the request inv: same Request-URI, top Via, From, Call-ID, CSeq number,
 * Route; To from resp (ACK) or inv (CANCEL, resp NULL). */
int sip_build_ack_non2xx(const sip_msg *inv, const sip_msg *resp, char *out, size_t cap);
int sip_build_cancel(const sip_msg *inv, char *out, size_t cap);
/* CANCEL with more header lines ("Name: value" without CRLF, e.g. an RFC
 * 3326 Reason) before Content-Length. Returns like sip_build_request. */
int sip_build_cancel_ex(const sip_msg *inv, const sip_sv *extra, unsigned n_extra, char *out, size_t cap);

/* prefix + 16 hex digits of a and b each, e.g. a branch "z9hG4bK..." or a
 * tag. Returns the length or -ENOSPC. */
int sip_gen_token(const char *prefix, uint64_t a, uint64_t b, char *out, size_t cap);

#endif
