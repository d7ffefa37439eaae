/* sbc-signal — SIP message parser (RFC 3261), zero-copy.
 *
 * Caveats:
 *  1. Every sip_sv points into the caller's buffer: the buffer must outlive
 *     the sip_msg. Nothing is allocated; a sip_msg is a plain struct (about
 *     8 KiB), so keep one per worker or per transaction, not on deep stacks.
 *  2. Header values are raw: folded lines (CRLF followed by SP/HTAB) stay in
 *     the value; every value parser here treats CR and LF as white space.
 *  3. Errors are sbc_err_sip(4xx): 400 for syntax (reason names the header),
 *     416 for an unsupported Request-URI scheme, 505 for a SIP version other
 *     than 2.0, 513 for too many headers/Via values. The short reason is in
 *     msg->err_reason (static text) and is suitable for the response line.
 *  4. Only the headers a proxy/B2BUA needs are parsed into structures (Via,
 *     From, To, Call-ID, CSeq, Max-Forwards, Content-Length, Contact count);
 *     Contact, Route and Record-Route values are validated (name-addr, URI)
 *     but not stored; every header is indexed by id (compact forms mapped)
 *     and by name. Deliberate strictness: a NUL byte anywhere in the
 *     headers (even as a quoted-pair) is a 400; more than SIP_MAX_HEADERS
 *     header lines or SIP_MAX_VIA Via values is a 513; a Call-ID longer
 *     than 512 is a 400.
 *  5. The body is Content-Length bytes after the empty line. Bytes beyond it
 *     are ignored (RFC 3261 18.3, datagrams); fewer is an error. Without a
 *     Content-Length the body is the rest of the buffer (datagram rule; the
 *     stream framer requires the header before handing a message here).
 */
#ifndef SIP_MSG_H
#define SIP_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sip_sv {
	const char *p;
	size_t n;
} sip_sv;

#define SIP_SV(lit) ((sip_sv){(lit), sizeof(lit) - 1})
#define SIP_SV_NULL ((sip_sv){NULL, 0})

enum sip_method {
	SIP_M_UNKNOWN = 0, /* extension method: see msg->method_name */
	SIP_M_INVITE,
	SIP_M_ACK,
	SIP_M_BYE,
	SIP_M_CANCEL,
	SIP_M_OPTIONS,
	SIP_M_REGISTER,
	SIP_M_PRACK,
	SIP_M_UPDATE,
	SIP_M_INFO,
	SIP_M_SUBSCRIBE,
	SIP_M_NOTIFY,
	SIP_M_REFER,
	SIP_M_MESSAGE,
	SIP_M_PUBLISH,
	SIP_M_MAX_,
};

/* Known headers; compact forms map onto these. */
#define SIP_HEADER_MAP(X)                                                      \
	X(SIP_H_VIA, "Via", 'v')                                               \
	X(SIP_H_FROM, "From", 'f')                                             \
	X(SIP_H_TO, "To", 't')                                                 \
	X(SIP_H_CALL_ID, "Call-ID", 'i')                                       \
	X(SIP_H_CSEQ, "CSeq", 0)                                               \
	X(SIP_H_CONTACT, "Contact", 'm')                                       \
	X(SIP_H_MAX_FORWARDS, "Max-Forwards", 0)                               \
	X(SIP_H_CONTENT_LENGTH, "Content-Length", 'l')                         \
	X(SIP_H_CONTENT_TYPE, "Content-Type", 'c')                             \
	X(SIP_H_CONTENT_ENCODING, "Content-Encoding", 'e')                     \
	X(SIP_H_ROUTE, "Route", 0)                                             \
	X(SIP_H_RECORD_ROUTE, "Record-Route", 0)                               \
	X(SIP_H_SUPPORTED, "Supported", 'k')                                   \
	X(SIP_H_REQUIRE, "Require", 0)                                         \
	X(SIP_H_PROXY_REQUIRE, "Proxy-Require", 0)                             \
	X(SIP_H_ALLOW, "Allow", 0)                                             \
	X(SIP_H_SUBJECT, "Subject", 's')                                       \
	X(SIP_H_EVENT, "Event", 'o')                                           \
	X(SIP_H_ALLOW_EVENTS, "Allow-Events", 'u')                             \
	X(SIP_H_REFER_TO, "Refer-To", 'r')                                     \
	X(SIP_H_REFERRED_BY, "Referred-By", 'b')                               \
	X(SIP_H_SESSION_EXPIRES, "Session-Expires", 'x')                       \
	X(SIP_H_MIN_SE, "Min-SE", 0)                                           \
	X(SIP_H_ACCEPT_CONTACT, "Accept-Contact", 'a')                         \
	X(SIP_H_REJECT_CONTACT, "Reject-Contact", 'j')                         \
	X(SIP_H_REQUEST_DISPOSITION, "Request-Disposition", 'd')               \
	X(SIP_H_IDENTITY, "Identity", 'y')                                     \
	X(SIP_H_IDENTITY_INFO, "Identity-Info", 'n')                           \
	X(SIP_H_RSEQ, "RSeq", 0)                                               \
	X(SIP_H_RACK, "RAck", 0)                                               \
	X(SIP_H_RETRY_AFTER, "Retry-After", 0)                                 \
	X(SIP_H_USER_AGENT, "User-Agent", 0)                                   \
	X(SIP_H_SERVER, "Server", 0)                                           \
	X(SIP_H_P_ASSERTED_IDENTITY, "P-Asserted-Identity", 0)                 \
	X(SIP_H_PRIVACY, "Privacy", 0)                                         \
	X(SIP_H_REASON, "Reason", 0)                                           \
	X(SIP_H_UNSUPPORTED, "Unsupported", 0)                                 \
	X(SIP_H_ACCEPT, "Accept", 0)                                           \
	X(SIP_H_AUTHORIZATION, "Authorization", 0)                             \
	X(SIP_H_PROXY_AUTHORIZATION, "Proxy-Authorization", 0)                 \
	X(SIP_H_WWW_AUTHENTICATE, "WWW-Authenticate", 0)                       \
	X(SIP_H_PROXY_AUTHENTICATE, "Proxy-Authenticate", 0)                   \
	X(SIP_H_EXPIRES, "Expires", 0)                                         \
	X(SIP_H_DIVERSION, "Diversion", 0)                                     \
	X(SIP_H_HISTORY_INFO, "History-Info", 0)                               \
	X(SIP_H_WARNING, "Warning", 0)

enum sip_hdr_id {
	SIP_H_OTHER = 0,
#define SIP_HDR_ENUM_(id, name, compact) id,
	SIP_HEADER_MAP(SIP_HDR_ENUM_)
#undef SIP_HDR_ENUM_
	SIP_H_MAX_,
};

enum sip_scheme {
	SIP_URI_NONE = 0,
	SIP_URI_SIP,
	SIP_URI_SIPS,
	SIP_URI_TEL,
};

typedef struct sip_uri {
	uint8_t scheme;  /* enum sip_scheme */
	uint8_t host_v6; /* host is an IPv6 reference; host excludes the brackets */
	uint8_t user_phone; /* ;user=phone */
	uint8_t lr;         /* ;lr */
	uint16_t port;      /* 0: absent */
	sip_sv user;        /* raw (may hold %HH escapes); tel: the number */
	sip_sv password;
	sip_sv host;
	sip_sv params;    /* ";a=b;c" raw, leading ';' included, or empty */
	sip_sv headers;   /* after '?', raw, or empty */
	sip_sv transport; /* ;transport= value or empty */
	sip_sv maddr;
} sip_uri;

typedef struct sip_naddr {
	sip_sv raw;     /* the whole value */
	sip_sv display; /* raw display name (quotes kept) or empty */
	sip_sv uri_text;
	sip_uri uri;
	sip_sv params; /* header params ";tag=..;x" raw, or empty */
	sip_sv tag;    /* empty when absent */
	uint8_t star;  /* Contact: * */
	uint8_t has_tag;
} sip_naddr;

typedef struct sip_via {
	sip_sv raw;       /* the whole via-parm */
	sip_sv transport; /* "UDP", "TCP", "TLS", ... (case as sent) */
	sip_sv host;      /* IPv6 without brackets */
	uint16_t port;    /* 0: absent */
	uint8_t host_v6;
	uint8_t rport_present;
	int32_t rport;  /* -1: ";rport" without a value */
	sip_sv branch;  /* empty when absent */
	sip_sv received;
	sip_sv maddr;
	sip_sv params; /* raw ";..." */
} sip_via;

typedef struct sip_hdr {
	uint16_t id; /* enum sip_hdr_id */
	sip_sv name; /* as sent */
	sip_sv value; /* trimmed, folds kept */
	sip_sv line;  /* whole header incl. continuation lines, without the final CRLF */
} sip_hdr;

#define SIP_MAX_HEADERS 96
#define SIP_MAX_VIA 16

/* sip_parse does not memset the whole 8 KiB (nor memsets spanning hdr[] or
 * via[]: those were rep stos): it clears everything but hdr[] and via[],
 * the URI and name-addr members by struct copies from all-zero values, the
 * rest (the head, first[] to 0xff, n_of[], the tail) as fixed-size byte
 * ranges from one of those to the next, so a member added anywhere is
 * cleared with its neighbours (test_sip_parse_diff checks every byte).
 * hdr[] and via[] are valid only in [0, n_hdr) and [0, n_via): entries
 * beyond keep stale views into earlier messages. */
typedef struct sip_msg {
	const char *buf;
	size_t len; /* bytes of the message including its body */

	uint8_t is_request;
	uint8_t method;     /* enum sip_method; requests */
	sip_sv method_name; /* requests */
	sip_sv ruri_text;
	sip_uri ruri; /* requests with sip/sips/tel */
	int status;   /* responses */
	sip_sv reason;

	sip_hdr hdr[SIP_MAX_HEADERS]; /* [0, n_hdr) only (stale beyond) */
	unsigned n_hdr;
	int16_t first[SIP_H_MAX_]; /* index into hdr[] of the first header of each id, or -1 */
	uint8_t n_of[SIP_H_MAX_];  /* header lines of each id (single-header checks need no scan) */

	sip_via via[SIP_MAX_VIA]; /* every Via value, top first; [0, n_via) only */
	unsigned n_via;
	sip_naddr from, to;
	sip_sv call_id;
	uint32_t cseq;
	uint8_t cseq_method; /* enum sip_method */
	sip_sv cseq_method_name;
	int max_forwards;      /* -1: absent */
	long content_length;   /* -1: absent */
	unsigned n_contact;    /* number of Contact values */
	sip_sv body;

	const char *err_reason; /* on failure: short text naming the bad part */
} sip_msg;

/* Parses buf[0..len) as one SIP message. Returns 0, or sbc_err_sip(status)
 * with msg->err_reason set (see caveat 3). Never reads outside the buffer. */
int sip_parse(const char *buf, size_t len, sip_msg *msg);

/* Moves a parsed message onto a copy of its bytes: every sip_sv of msg that
 * points into [msg->buf, msg->buf + msg->len] is made to point at the same
 * offset of nbuf, which holds those msg->len bytes. For a message kept
 * beyond its receive buffer (a call's A-leg INVITE): a struct copy and this
 * cost far less than parsing the copy again. Keep it in step with sip_msg
 * (test_sip_parse compares it against a fresh parse of the copy). */
void sip_msg_rebase(sip_msg *msg, const char *nbuf);

/* ---- helpers over parsed parts ------------------------------------------- */

enum sip_method sip_method_from_sv(sip_sv name);
const char *sip_method_name(enum sip_method m); /* "INVITE"..., "" for unknown */
const char *sip_header_name(enum sip_hdr_id id); /* long form, "" for OTHER */
enum sip_hdr_id sip_header_id(sip_sv name);      /* long or compact form, any case */

/* Parses a SIP/SIPS/tel URI. Returns 0, sbc_err_sip(416) for another scheme
 * or sbc_err_sip(400). */
int sip_uri_parse(sip_sv text, sip_uri *uri);

/* Parses name-addr / addr-spec with header params (From, To, Contact,
 * Route values). Returns 0 or sbc_err_sip(400). allow_star: Contact "*". */
int sip_naddr_parse(sip_sv text, int allow_star, sip_naddr *na);

/* Parses one via-parm. Returns 0 or sbc_err_sip(400). */
int sip_via_parse(sip_sv text, sip_via *via);

/* Iterates comma-separated values of a header value (commas inside quoted
 * strings, <...> and [...] do not split). *rest starts as the whole value;
 * each call stores the next trimmed value in *out and returns 1, or returns
 * 0 when none is left, or sbc_err_sip(400) on an unterminated quote/bracket
 * or an empty element. */
int sip_next_value(sip_sv *rest, sip_sv *out);

/* Finds a parameter in a ";a=b;c" list (name case-insensitive). Returns 1
 * with *value set (empty for a flag), or 0. A quoted value keeps its quotes. */
int sip_param_find(sip_sv params, const char *name, sip_sv *value);

/* Header access: the idx-th header line with this id (0: first), or NULL. */
const sip_hdr *sip_hdr_get(const sip_msg *msg, enum sip_hdr_id id, unsigned idx);
/* A header by name (any case, compact forms too), or NULL. */
const sip_hdr *sip_hdr_find(const sip_msg *msg, const char *name);

/* Decodes a quoted-string (with the quotes) into out, resolving
 * backslash escapes. Returns the length or -ENOSPC / sbc_err_sip(400). */
int sip_unquote(sip_sv quoted, char *out, size_t cap);

/* %HH-unescapes a URI user part into out. Returns length or error. */
int sip_unescape(sip_sv in, char *out, size_t cap);

/* Compares with a NUL-terminated string: exact, or ASCII case-insensitive.
 * Inline so that strlen of a literal (the usual second argument: "IN",
 * "sendrecv", "Remote-Party-ID") is folded at compile time; out of line it
 * was a libc strlen per comparison on every message. */
static inline int sip_sv_eq(sip_sv a, const char *lit)
{
	size_t n = strlen(lit);
	return a.n == n && (n == 0 || memcmp(a.p, lit, n) == 0);
}
/* ASCII case-insensitive compare with lit[0..n) */
static inline int sip_sv_ieq_n(sip_sv a, const char *lit, size_t n)
{
	if (a.n != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char x = a.p[i], y = lit[i];
		x = (x >= 'A' && x <= 'Z') ? (char)(x + 32) : x;
		y = (y >= 'A' && y <= 'Z') ? (char)(y + 32) : y;
		if (x != y)
			return 0;
	}
	return 1;
}
static inline int sip_sv_ieq(sip_sv a, const char *lit) { return sip_sv_ieq_n(a, lit, strlen(lit)); }
int sip_sv_eq_sv(sip_sv a, sip_sv b);
int sip_sv_ieq_sv(sip_sv a, sip_sv b);
/* Nonzero when one of the eight bytes at p is a control below 0x20 (NUL,
 * tab, CR, LF, ...); bytes >= 0x80 never count. The lowest set bit is exact
 * (x86-64 is little-endian: byte ctz/8 is the first control); the borrow
 * may flag bytes above it. Scanners skip eight ordinary bytes at a time with it instead
 * of one memchr call per special character. */
static inline uint64_t sip_ctl8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof(x));
	return (x - 0x2020202020202020ull) & ~x & 0x8080808080808080ull;
}

static inline sip_sv sip_sv_from(const char *p, size_t n) { return (sip_sv){p, n}; }

#endif
