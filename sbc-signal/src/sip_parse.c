/* sbc-signal — SIP message parser (RFC 3261 section 7, 20, 25). See sip_msg.h.
 *
 * The parser is a set of cursor functions over sip_sv; each returns 0 (or a
 * count) on success and sbc_err_sip(4xx) on failure, setting a static
 * reason. No recursion, no allocation, every index checked against the
 * view's length. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sbc/err.h"
#include "sip_msg.h"
#include "word_scan.h"

#define E400 sbc_err_sip(400)

/* ---- character classes -------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int hexval(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

/* RFC 3261 token characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" /
 * "+" / "`" / "'" / "~" */
static const unsigned char token_tab[256] = {
	['-'] = 1, ['.'] = 1, ['!'] = 1, ['%'] = 1, ['*'] = 1, ['_'] = 1, ['+'] = 1, ['`'] = 1, ['\''] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
	['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
	['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
	['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
	['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static inline int is_token(char c) { return token_tab[(unsigned char)c]; }

/* The end of the token characters in p[i..n): eight table loads ANDed per
 * branch (header names of 8..19 bytes: Max-Forwards, Content-Length,
 * P-Asserted-Identity), then byte by byte. */
static inline size_t token_span(const char *s, size_t i, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	while (i + 8 <= n && (token_tab[p[i]] & token_tab[p[i + 1]] & token_tab[p[i + 2]] & token_tab[p[i + 3]] &
			      token_tab[p[i + 4]] & token_tab[p[i + 5]] & token_tab[p[i + 6]] & token_tab[p[i + 7]]))
		i += 8;
	while (i < n && token_tab[p[i]])
		i++;
	return i;
}

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

/* ---- string views --------------------------------------------------------- */

/* Case-insensitive compare with a literal (its length from sizeof). */
#define SV_IEQ(a, lit) sip_sv_ieq_n((a), (lit), sizeof(lit) - 1)

/* a equals lc[0..n), lower-case letters only, in any case: OR-ing 0x20
 * maps A-Z onto a-z, and the only bytes it maps onto a lower-case letter
 * are that letter and its capital. Two overlapping words for 4..16 bytes
 * instead of a byte loop folding both sides; lc is a literal, so its words
 * are constants. For parameter names and schemes (branch, transport...).
 * PRECONDITION: lc is lower-case letters a-z only. There is no control-byte
 * check (fold4_eq has one), so for any other byte it is wrong: CR | 0x20 is
 * '-', 0x10..0x19 | 0x20 are the digits, '_' never matches. SV_IEQ_A
 * enforces it at build time. */
static inline int sv_ieq_alpha(sip_sv a, const char *lc, size_t n)
{
	if (a.n != n)
		return 0;
	if (n >= 8 && n <= 16) {
		uint64_t x, y, k, l;
		memcpy(&x, a.p, 8), memcpy(&y, a.p + n - 8, 8);
		memcpy(&k, lc, 8), memcpy(&l, lc + n - 8, 8);
		return ((x | 0x2020202020202020ull) == k) & ((y | 0x2020202020202020ull) == l);
	}
	if (n >= 4 && n < 8) {
		uint32_t x, y, k, l;
		memcpy(&x, a.p, 4), memcpy(&y, a.p + n - 4, 4);
		memcpy(&k, lc, 4), memcpy(&l, lc + n - 4, 4);
		return ((x | 0x20202020u) == k) & ((y | 0x20202020u) == l);
	}
	for (size_t i = 0; i < n; i++)
		if ((a.p[i] | 0x20) != lc[i])
			return 0;
	return 1;
}
/* SV_IEQ_A(a, "literal"): sv_ieq_alpha with its precondition checked at
 * build time. Byte i of a string literal is not an integer constant
 * expression in C (no _Static_assert), but the optimiser folds it: in every
 * optimised build (-O1 and up, normal and SAN=1) a literal with anything
 * but a-z (or longer than the 16 bytes checked) leaves the call to
 * sv_ieq_a_not_letters in place and gcc stops with its error attribute;
 * the check itself folds to nothing. -O0 (DEBUG=1) does not fold, and __builtin_constant_p skips it
 * there. */
void sv_ieq_a_not_letters(void) __attribute__((error("SV_IEQ_A: the literal must be lower-case letters a-z")));
#define LC_AT_(lit, i)                                                                                 \
	((i) >= sizeof(lit) - 1 ||                                                                     \
	 ((lit)[(i) < sizeof(lit) - 1 ? (i) : 0] >= 'a' && (lit)[(i) < sizeof(lit) - 1 ? (i) : 0] <= 'z'))
#define LC_LIT_(lit)                                                                                   \
	(sizeof(lit) - 1 <= 16 && LC_AT_(lit, 0) && LC_AT_(lit, 1) && LC_AT_(lit, 2) && LC_AT_(lit, 3) && \
	 LC_AT_(lit, 4) && LC_AT_(lit, 5) && LC_AT_(lit, 6) && LC_AT_(lit, 7) && LC_AT_(lit, 8) &&     \
	 LC_AT_(lit, 9) && LC_AT_(lit, 10) && LC_AT_(lit, 11) && LC_AT_(lit, 12) && LC_AT_(lit, 13) && \
	 LC_AT_(lit, 14) && LC_AT_(lit, 15))
#define SV_IEQ_A(a, lit)                                                                               \
	(__extension__({                                                                               \
		if (__builtin_constant_p(LC_LIT_(lit)) && !LC_LIT_(lit))                               \
			sv_ieq_a_not_letters();                                                        \
		sv_ieq_alpha((a), (lit), sizeof(lit) - 1);                                             \
	}))

int sip_sv_eq_sv(sip_sv a, sip_sv b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

int sip_sv_ieq_sv(sip_sv a, sip_sv b)
{
	if (a.n != b.n)
		return 0;
	for (size_t i = 0; i < a.n; i++)
		if (lower(a.p[i]) != lower(b.p[i]))
			return 0;
	return 1;
}

static inline sip_sv sv_trim(sip_sv s)
{
	while (s.n && is_ws(s.p[0]))
		s.p++, s.n--;
	while (s.n && is_ws(s.p[s.n - 1]))
		s.n--;
	return s;
}

static sip_sv sv_sub(sip_sv s, size_t from, size_t to) { return (sip_sv){s.p + from, to - from}; }

static int all_token(sip_sv s)
{
	if (s.n == 0)
		return 0;
	for (size_t i = 0; i < s.n; i++)
		if (!is_token(s.p[i]))
			return 0;
	return 1;
}

/* Parses 1..10 decimal digits into *out (<= max). */
static int parse_uint(sip_sv s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (s.n == 0 || s.n > 10)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return -1;
		v = v * 10 + (unsigned long)(s.p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Length of a quoted string starting at s.p[0] == '"' (quotes included), or
 * 0 when it is not terminated or holds a bad escape. */
static size_t quoted_len(sip_sv s)
{
	size_t i = 1;
	while (i < s.n) {
		char c = s.p[i];
		if (c == '\\') {
			if (i + 1 >= s.n || s.p[i + 1] == '\r' || s.p[i + 1] == '\n')
				return 0;
			i += 2;
			continue;
		}
		if (c == '"')
			return i + 1;
		i++;
	}
	return 0;
}

int sip_unquote(sip_sv q, char *out, size_t cap)
{
	size_t n = 0;
	if (q.n < 2 || q.p[0] != '"' || quoted_len(q) != q.n)
		return E400;
	for (size_t i = 1; i + 1 < q.n; i++) {
		char c = q.p[i];
		if (c == '\\')
			c = q.p[++i];
		if (n + 1 >= cap)
			return -ENOSPC;
		out[n++] = c;
	}
	if (cap)
		out[n] = 0;
	return (int)n;
}

int sip_unescape(sip_sv in, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < in.n; i++) {
		char c = in.p[i];
		if (c == '%') {
			if (i + 2 >= in.n || !is_hex(in.p[i + 1]) || !is_hex(in.p[i + 2]))
				return E400;
			c = (char)(hexval(in.p[i + 1]) * 16 + hexval(in.p[i + 2]));
			i += 2;
		}
		if (n + 1 >= cap)
			return -ENOSPC;
		out[n++] = c;
	}
	if (cap)
		out[n] = 0;
	return (int)n;
}

/* ---- methods and header names --------------------------------------------- */

static const char *const method_names[SIP_M_MAX_] = {
	[SIP_M_UNKNOWN] = "",	     [SIP_M_INVITE] = "INVITE",	  [SIP_M_ACK] = "ACK",
	[SIP_M_BYE] = "BYE",	     [SIP_M_CANCEL] = "CANCEL",	  [SIP_M_OPTIONS] = "OPTIONS",
	[SIP_M_REGISTER] = "REGISTER", [SIP_M_PRACK] = "PRACK",	  [SIP_M_UPDATE] = "UPDATE",
	[SIP_M_INFO] = "INFO",	     [SIP_M_SUBSCRIBE] = "SUBSCRIBE", [SIP_M_NOTIFY] = "NOTIFY",
	[SIP_M_REFER] = "REFER",     [SIP_M_MESSAGE] = "MESSAGE", [SIP_M_PUBLISH] = "PUBLISH",
};

enum sip_method sip_method_from_sv(sip_sv name)
{
	/* Methods are case-sensitive (RFC 3261 7.1); dispatch on the first
	 * letter, then compare. */
	static const uint8_t by_letter[26][3] = {
		['A' - 'A'] = {SIP_M_ACK},
		['B' - 'A'] = {SIP_M_BYE},
		['C' - 'A'] = {SIP_M_CANCEL},
		['I' - 'A'] = {SIP_M_INVITE, SIP_M_INFO},
		['M' - 'A'] = {SIP_M_MESSAGE},
		['N' - 'A'] = {SIP_M_NOTIFY},
		['O' - 'A'] = {SIP_M_OPTIONS},
		['P' - 'A'] = {SIP_M_PRACK, SIP_M_PUBLISH},
		['R' - 'A'] = {SIP_M_REGISTER, SIP_M_REFER},
		['S' - 'A'] = {SIP_M_SUBSCRIBE},
		['U' - 'A'] = {SIP_M_UPDATE},
	};
	if (name.n < 3 || name.p[0] < 'A' || name.p[0] > 'Z')
		return SIP_M_UNKNOWN;
	for (int k = 0; k < 3; k++) {
		int m = by_letter[name.p[0] - 'A'][k];
		if (m == 0)
			break;
		if (sip_sv_eq(name, method_names[m]))
			return (enum sip_method)m;
	}
	return SIP_M_UNKNOWN;
}

const char *sip_method_name(enum sip_method m)
{
	return (m > 0 && m < SIP_M_MAX_) ? method_names[m] : "";
}

static const struct {
	const char *name;
	char compact;
} header_names[SIP_H_MAX_] = {
	[SIP_H_OTHER] = {"", 0},
#define SIP_HDR_NAME_(id, name, compact) [id] = {name, compact},
	SIP_HEADER_MAP(SIP_HDR_NAME_)
#undef SIP_HDR_NAME_
};

static const unsigned char header_len[SIP_H_MAX_] = {
	[SIP_H_OTHER] = 0,
#define SIP_HDR_LEN_(id, name, compact) [id] = sizeof(name) - 1,
	SIP_HEADER_MAP(SIP_HDR_LEN_)
#undef SIP_HDR_LEN_
};

const char *sip_header_name(enum sip_hdr_id id)
{
	return (id > 0 && id < SIP_H_MAX_) ? header_names[id].name : "";
}

/* Header-name lookup: a 128-slot open-addressing table keyed on the first
 * letter, the last letter and the length, with the names in lower case for
 * the compare below. Built before main (a constructor: the table is
 * read-only from then on) rather than through a pthread_once per lookup,
 * which cost a PLT call and a load per header line. */
static uint8_t hdr_slot[128];
#define SIP_HDR_LC_MAX 24
static char hdr_lc[SIP_H_MAX_][SIP_HDR_LC_MAX]; /* lower-case names, zero-padded */
/* hdr_build writes and hdr_name_eq reads a known name's whole length here */
#define SIP_HDR_FITS_(id, name, compact) \
	_Static_assert(sizeof(name) - 1 <= SIP_HDR_LC_MAX, "header name " name " longer than hdr_lc's row");
SIP_HEADER_MAP(SIP_HDR_FITS_)
#undef SIP_HDR_FITS_

static unsigned hdr_hash(const char *p, size_t n)
{
	return ((unsigned)lower(p[0]) * 31u + (unsigned)lower(p[n - 1]) * 7u + (unsigned)n) & 127u;
}

__attribute__((constructor)) static void hdr_build(void)
{
	for (int i = 1; i < SIP_H_MAX_; i++) {
		unsigned h = hdr_hash(header_names[i].name, header_len[i]);
		while (hdr_slot[h])
			h = (h + 1) & 127u;
		hdr_slot[h] = (uint8_t)i;
		for (unsigned k = 0; k < header_len[i]; k++)
			hdr_lc[i][k] = lower(header_names[i].name[k]);
	}
}

/* Eight bytes of a name against eight of a lower-case known name (letters
 * and '-' only): OR-ing 0x20 folds A-Z onto a-z and leaves '-'; the only
 * other byte it would turn into one of those is CR (0x0d -> '-'), so a
 * control byte never matches. */
static inline int fold8_eq(const char *name, const char *lc)
{
	uint64_t a, k;
	memcpy(&a, name, 8);
	memcpy(&k, lc, 8);
	return (a | 0x2020202020202020ull) == k && !sip_ctl8(name);
}

/* fold8_eq on four bytes */
static inline int fold4_eq(const char *name, const char *lc)
{
	uint32_t a, k;
	memcpy(&a, name, 4);
	memcpy(&k, lc, 4);
	return (a | 0x20202020u) == k && !((a - 0x20202020u) & ~a & 0x80808080u);
}

/* name[0..n) against the known name id (same length n), any case: words
 * that overlap at the end rather than a byte loop for the tail (most names
 * are 3..7 bytes: Via, From, CSeq, Call-ID, Contact). */
static int hdr_name_eq(const char *name, size_t n, unsigned id)
{
	const char *lc = hdr_lc[id];
	if (n < 4) {
		for (size_t i = 0; i < n; i++)
			if (lower(name[i]) != lc[i])
				return 0;
		return 1;
	}
	if (n < 8)
		return fold4_eq(name, lc) && fold4_eq(name + n - 4, lc + n - 4);
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		if (!fold8_eq(name + i, lc + i))
			return 0;
	/* the last eight bytes again, overlapping: no read past the name */
	return i == n || fold8_eq(name + n - 8, lc + n - 8);
}

enum sip_hdr_id sip_header_id(sip_sv name)
{
	if (name.n == 0)
		return SIP_H_OTHER;
	if (name.n == 1) {
		char c = lower(name.p[0]);
		for (int i = 1; i < SIP_H_MAX_; i++)
			if (header_names[i].compact == c)
				return (enum sip_hdr_id)i;
		return SIP_H_OTHER;
	}
	for (unsigned h = hdr_hash(name.p, name.n);; h = (h + 1) & 127u) {
		unsigned id = hdr_slot[h];
		if (id == 0)
			return SIP_H_OTHER;
		if (header_len[id] == name.n && hdr_name_eq(name.p, name.n, id))
			return (enum sip_hdr_id)id;
	}
}

/* ---- parameters ------------------------------------------------------------- */

/* Reads the next ";name[=value]" from *rest (which starts at ';' after
 * optional LWS). Returns 1, 0 at the end, or -1 on a syntax error. Values are
 * tokens, quoted strings, or IPv6 references / bare IPv6 (received=). */
static int param_next(sip_sv *rest, sip_sv *name, sip_sv *value)
{
	sip_sv s = *rest;
	size_t i = 0, st;

	while (i < s.n && is_ws(s.p[i]))
		i++;
	if (i == s.n) {
		*rest = (sip_sv){s.p + i, 0};
		return 0;
	}
	if (s.p[i] != ';')
		return -1;
	i++;
	while (i < s.n && is_ws(s.p[i]))
		i++;
	st = i;
	while (i < s.n && is_token(s.p[i]))
		i++;
	if (i == st)
		return -1;
	*name = sv_sub(s, st, i);
	*value = (sip_sv){s.p + i, 0};
	size_t j = i;
	while (j < s.n && is_ws(s.p[j]))
		j++;
	if (j < s.n && s.p[j] == '=') {
		j++;
		while (j < s.n && is_ws(s.p[j]))
			j++;
		if (j < s.n && s.p[j] == '"') {
			size_t q = quoted_len(sv_sub(s, j, s.n));
			if (q == 0)
				return -1;
			*value = sv_sub(s, j, j + q);
			i = j + q;
		} else {
			st = j;
			while (j < s.n && (is_token(s.p[j]) || s.p[j] == ':' || s.p[j] == '[' ||
					   s.p[j] == ']'))
				j++;
			if (j == st)
				return -1;
			*value = sv_sub(s, st, j);
			i = j;
		}
	}
	*rest = sv_sub(s, i, s.n);
	return 1;
}

int sip_param_find(sip_sv params, const char *pname, sip_sv *value)
{
	sip_sv n, v;
	int r;
	while ((r = param_next(&params, &n, &v)) == 1) {
		if (sip_sv_ieq(n, pname)) {
			if (value)
				*value = v;
			return 1;
		}
	}
	return 0;
}

/* ---- values ------------------------------------------------------------------- */

static const unsigned char value_special[256] = {['"'] = 1, ['<'] = 1, ['>'] = 1, ['['] = 1, [']'] = 1,
						 [','] = 1};

int sip_next_value(sip_sv *rest, sip_sv *out)
{
	sip_sv s = *rest;
	size_t i = 0, st;
	int angle = 0, bracket = 0;

	while (i < s.n && is_ws(s.p[i]))
		i++;
	if (i == s.n) {
		*rest = (sip_sv){s.p + s.n, 0};
		return 0;
	}
	st = i;
	while (i < s.n) {
		/* skip the ordinary characters quickly: eight table loads ORed
		 * per branch, then byte by byte up to the special one */
		const unsigned char *u = (const unsigned char *)s.p;
		while (i + 8 <= s.n && !(value_special[u[i]] | value_special[u[i + 1]] | value_special[u[i + 2]] |
					 value_special[u[i + 3]] | value_special[u[i + 4]] | value_special[u[i + 5]] |
					 value_special[u[i + 6]] | value_special[u[i + 7]]))
			i += 8;
		while (i < s.n && !value_special[u[i]])
			i++;
		if (i == s.n)
			break;
		char c = s.p[i];
		if (c == '"') {
			size_t q = quoted_len(sv_sub(s, i, s.n));
			if (q == 0)
				return E400;
			i += q;
			continue;
		}
		if (c == '<')
			angle++;
		else if (c == '>') {
			if (!angle)
				return E400;
			angle--;
		} else if (c == '[' && !angle)
			bracket++;
		else if (c == ']' && !angle && bracket)
			bracket--;
		else if (c == ',' && !angle && !bracket)
			break;
		i++;
	}
	if (angle || bracket)
		return E400;
	*out = sv_trim(sv_sub(s, st, i));
	if (out->n == 0)
		return E400;
	if (i < s.n) { /* skip the comma; a trailing comma is an empty element */
		i++;
		sip_sv tail = sv_trim(sv_sub(s, i, s.n));
		if (tail.n == 0)
			return E400;
	}
	*rest = sv_sub(s, i, s.n);
	return 1;
}

/* ---- hosts and URIs ------------------------------------------------------------- */

/* An IPv6 reference "[...]" at the start of s: the bytes it takes (both
 * brackets included), or 0 when it is not one. Out of line: its buffers
 * would give hostport a stack-protector canary on every call, IPv4 and
 * hostnames included. */
static __attribute__((noinline)) size_t v6_reference(sip_sv s)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;
	size_t i = 0;
	while (i < s.n && s.p[i] != ']')
		i++;
	if (i == s.n || i - 1 == 0 || i - 1 > INET6_ADDRSTRLEN)
		return 0;
	memcpy(tmp, s.p + 1, i - 1);
	tmp[i - 1] = 0;
	if (inet_pton(AF_INET6, tmp, &a6) != 1)
		return 0;
	return i + 1;
}

/* Hostname bytes: digits, letters, '.' and '-'. */
static const unsigned char host_tab[256] = {
	['0' ... '9'] = 1, ['.'] = 1, ['-'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1,
};

static inline unsigned digit_at(const char *p, size_t n, size_t i)
{
	return i < n ? (unsigned)(unsigned char)p[i] - '0' : 10u; /* > 9: not a digit */
}

/* The usual host, a dotted quad, octet by octet (a few instructions per
 * digit, where the general loop in hostport keeps five flags per byte):
 * returns its length when p[0..n) starts with a valid one that no further
 * hostname byte follows, else 0, and the general loop decides (a longer
 * name, a bad quad: the same result as before, from the same code). */
static size_t ipv4_quad(const char *p, size_t n)
{
	size_t i = 0;
	for (int k = 0; k < 4; k++) {
		if (k) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
		/* 1..3 digits, unrolled; no leading zero, <= 255 */
		unsigned v = digit_at(p, n, i), d;
		if (v > 9)
			return 0;
		if ((d = digit_at(p, n, ++i)) <= 9) {
			if (v == 0)
				return 0;
			v = v * 10 + d;
			if ((d = digit_at(p, n, ++i)) <= 9) {
				v = v * 10 + d;
				i++;
				if (v > 255)
					return 0;
			}
		}
	}
	return i < n && host_tab[(unsigned char)p[i]] ? 0 : i;
}

/* Parses host[:port] at the start of s: stores host (no brackets), port and
 * returns the bytes used, or -1. */
static long hostport(sip_sv s, sip_sv *host, uint8_t *v6, uint16_t *port)
{
	size_t i = 0;
	*v6 = 0;
	*port = 0;
	if (s.n && s.p[0] == '[') {
		if ((i = v6_reference(s)) == 0)
			return -1;
		*host = sv_sub(s, 1, i - 1);
		*v6 = 1;
	} else if ((i = ipv4_quad(s.p, s.n)) != 0) {
		*host = sv_sub(s, 0, i);
	} else {
		/* one pass: hostname characters, and the dotted-quad rules in
		 * case it turns out to be all digits and dots */
		unsigned dots = 0, alpha = 0, val = 0, digits = 0, bad4 = 0;
		for (; i < s.n; i++) {
			char c = s.p[i];
			if (c >= '0' && c <= '9') {
				if (digits == 1 && val == 0)
					bad4 = 1; /* leading zero */
				val = val * 10 + (unsigned)(c - '0');
				digits++;
			} else if (c == '.') {
				bad4 |= digits == 0 || digits > 3 || val > 255;
				dots++;
				val = digits = 0;
			} else if (is_alpha(c) || c == '-') {
				alpha = 1;
			} else {
				break;
			}
		}
		if (i == 0 || s.p[0] == '.' || s.p[0] == '-')
			return -1;
		*host = sv_sub(s, 0, i);
		if (!alpha && dots) { /* looks like IPv4: must be one */
			bad4 |= digits == 0 || digits > 3 || val > 255;
			if (bad4 || dots != 3)
				return -1;
		}
	}
	if (i < s.n && s.p[i] == ':') {
		/* 1..10 digits, 1..65535 (parse_uint's rules, in the one loop) */
		size_t st = ++i;
		unsigned long p = 0;
		while (i < s.n && is_digit(s.p[i]))
			p = p * 10 + (unsigned long)(s.p[i++] - '0');
		if (i == st || i - st > 10 || p > 65535 || p == 0)
			return -1;
		*port = (uint16_t)p;
	}
	return (long)i;
}

/* Characters acceptable inside a URI (never white space, quotes or <>):
 * 0x21..0x7e except " < > \\ ^ ` { | }; 2 marks '%' (an escape follows). */
static const unsigned char uri_tab[256] = {
	[0x21] = 1, [0x23 ... 0x24] = 1, [0x25] = 2, [0x26 ... 0x3b] = 1, [0x3d] = 1, [0x3f ... 0x5b] = 1,
	[0x5d] = 1, [0x5f] = 1, [0x61 ... 0x7a] = 1, [0x7e] = 1,
};

/* Every character allowed and every %HH complete. Eight table lookups
 * ANDed per step: they are all 1 exactly when none is 0 or '%' (2), and the
 * usual URI has neither, so one branch per eight bytes instead of eight. */
static int uri_chars_ok(sip_sv s)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0;
	while (i < s.n) {
		if (i + 8 <= s.n &&
		    (uri_tab[p[i]] & uri_tab[p[i + 1]] & uri_tab[p[i + 2]] & uri_tab[p[i + 3]] & uri_tab[p[i + 4]] &
		     uri_tab[p[i + 5]] & uri_tab[p[i + 6]] & uri_tab[p[i + 7]]) == 1) {
			i += 8;
			continue;
		}
		unsigned char k = uri_tab[p[i]];
		if (k != 1 && (k == 0 || i + 2 >= s.n || !is_hex(s.p[i + 1]) || !is_hex(s.p[i + 2])))
			return 0;
		i++;
	}
	return 1;
}

/* All-zero values to clear the parsed structs with: a struct copy from
 * one compiles to a few vector moves, where memset of the same size became
 * a rep stos (tens of cycles to start) four or five times per message. */
static const sip_uri uri_zero;
static const sip_naddr naddr_zero;
static const sip_via via_zero;
/* sip_parse clears sip_msg in byte ranges that run from one skipped part
 * (hdr[], via[]) or whole-struct copy (ruri, from, to) to the next, so a
 * member added anywhere in between is cleared with its neighbours, padding
 * included (test_sip_parse_diff parses into 0xA5 and zero fill and compares
 * every byte). from and to are copied as one pair: nothing between them. */
_Static_assert(offsetof(sip_msg, to) == offsetof(sip_msg, from) + sizeof(sip_naddr),
	       "sip_msg: from and to must stay adjacent (sip_parse copies them whole)");
/* the offset just past member a: a cleared range starts there */
#define MSG_AFTER(a) (offsetof(sip_msg, a) + sizeof(((sip_msg *)0)->a))
_Static_assert(sizeof(sip_msg) - MSG_AFTER(to) <= sizeof(sip_naddr),
	       "sip_msg: the tail after to is cleared from naddr_zero's bytes");

int sip_uri_parse(sip_sv t, sip_uri *u)
{
	size_t i = 0, st;
	*u = uri_zero;

	while (i < t.n && (is_alnum(t.p[i]) || t.p[i] == '+' || t.p[i] == '-' || t.p[i] == '.'))
		i++;
	if (i == 0 || i == t.n || t.p[i] != ':' || !is_alpha(t.p[0]))
		return E400;
	sip_sv scheme = sv_sub(t, 0, i);
	if (!uri_chars_ok(t))
		return E400;
	if (SV_IEQ_A(scheme, "sip"))
		u->scheme = SIP_URI_SIP;
	else if (SV_IEQ_A(scheme, "sips"))
		u->scheme = SIP_URI_SIPS;
	else if (SV_IEQ_A(scheme, "tel"))
		u->scheme = SIP_URI_TEL;
	else
		return sbc_err_sip(416);
	st = ++i;

	if (u->scheme == SIP_URI_TEL) {
		while (i < t.n && t.p[i] != ';' && t.p[i] != '?')
			i++;
		u->user = sv_sub(t, st, i);
		if (u->user.n == 0)
			return E400;
		for (size_t k = 0; k < u->user.n; k++) {
			char c = u->user.p[k];
			if (!(is_hex(c) || c == '+' || c == '-' || c == '.' || c == '(' || c == ')' ||
			      c == '*' || c == '#' || c == 'p' || c == 'w' || c == 'P' || c == 'W'))
				return E400;
		}
	} else {
		/* userinfo ends at the one '@' (never legal unescaped elsewhere) */
		const char *at = memchr(t.p + st, '@', t.n - st);
		if (at) {
			size_t ue = (size_t)(at - t.p);
			const char *colon = memchr(t.p + st, ':', ue - st);
			if (memchr(at + 1, '@', t.n - ue - 1))
				return E400;
			if (colon) {
				u->user = sv_sub(t, st, (size_t)(colon - t.p));
				u->password = sv_sub(t, (size_t)(colon - t.p) + 1, ue);
			} else {
				u->user = sv_sub(t, st, ue);
			}
			if (u->user.n == 0)
				return E400;
			i = ue + 1;
		}
		long used = hostport(sv_sub(t, i, t.n), &u->host, &u->host_v6, &u->port);
		if (used < 0)
			return E400;
		i += (size_t)used;
	}
	st = i;
	while (i < t.n && t.p[i] != '?')
		i++;
	u->params = sv_sub(t, st, i);
	if (u->params.n && u->params.p[0] != ';')
		return E400;
	if (i < t.n)
		u->headers = sv_sub(t, i + 1, t.n);
	/* one pass: syntax and the parameters we keep (first one wins) */
	sip_sv rest = u->params, pn, pv;
	int r, seen_user = 0, seen_transport = 0;
	while ((r = param_next(&rest, &pn, &pv)) == 1) {
		if (pn.n == 9 && !seen_transport && SV_IEQ_A(pn, "transport")) {
			if (pv.n == 0)
				return E400;
			u->transport = pv;
			seen_transport = 1;
		} else if (pn.n == 5 && !u->maddr.p && SV_IEQ_A(pn, "maddr")) {
			u->maddr = pv;
		} else if (pn.n == 4 && !seen_user && SV_IEQ_A(pn, "user")) {
			u->user_phone = SV_IEQ_A(pv, "phone");
			seen_user = 1;
		} else if (pn.n == 2 && SV_IEQ_A(pn, "lr")) {
			u->lr = 1;
		}
	}
	return r < 0 ? E400 : 0;
}

/* ---- name-addr ------------------------------------------------------------------ */

int sip_naddr_parse(sip_sv text, int allow_star, sip_naddr *na)
{
	sip_sv s = sv_trim(text);
	size_t i = 0;
	int r;

	*na = naddr_zero;
	na->raw = s;
	if (s.n == 0)
		return E400;
	if (allow_star && s.n == 1 && s.p[0] == '*') {
		na->star = 1;
		return 0;
	}
	/* Find a top-level '<' (outside the display name's quotes). */
	size_t lt = s.n;
	for (i = 0; i < s.n; i++) {
		if (s.p[i] == '"') {
			size_t q = quoted_len(sv_sub(s, i, s.n));
			if (q == 0)
				return E400;
			i += q - 1;
			continue;
		}
		if (s.p[i] == '<') {
			lt = i;
			break;
		}
	}
	if (lt < s.n) {
		sip_sv disp = sv_trim(sv_sub(s, 0, lt));
		if (disp.n) {
			if (disp.p[0] == '"') {
				if (quoted_len(disp) != disp.n)
					return E400;
			} else {
				for (size_t k = 0; k < disp.n; k++)
					if (!is_token(disp.p[k]) && !is_ws(disp.p[k]))
						return E400;
			}
		}
		na->display = disp;
		const char *gt = memchr(s.p + lt, '>', s.n - lt);
		if (!gt)
			return E400;
		na->uri_text = sv_sub(s, lt + 1, (size_t)(gt - s.p));
		i = (size_t)(gt - s.p) + 1;
	} else {
		/* addr-spec: the URI ends at the first ';' (RFC 3261 20.10) */
		i = 0;
		while (i < s.n && s.p[i] != ';' && !is_ws(s.p[i]))
			i++;
		na->uri_text = sv_sub(s, 0, i);
		/* an addr-spec with '?' or ',' must have been in <> (20.10) */
		if (memchr(na->uri_text.p, '?', na->uri_text.n) || memchr(na->uri_text.p, ',', na->uri_text.n))
			return E400;
	}
	na->params = sv_trim(sv_sub(s, i, s.n));
	if (na->params.n && na->params.p[0] != ';')
		return E400;
	{
		sip_sv rest = na->params, pn, pv;
		int pr;
		while ((pr = param_next(&rest, &pn, &pv)) == 1)
			if (pn.n == 3 && !na->has_tag && SV_IEQ_A(pn, "tag")) {
				if (pv.n == 0)
					return E400;
				na->tag = pv;
				na->has_tag = 1;
			}
		if (pr < 0)
			return E400;
	}
	r = sip_uri_parse(na->uri_text, &na->uri);
	if (r == sbc_err_sip(416)) {
		/* another absoluteURI scheme: legal in From/To/Contact */
		na->uri = uri_zero;
	} else if (r < 0) {
		return r;
	}
	return 0;
}

/* ---- Via -------------------------------------------------------------------------- */

int sip_via_parse(sip_sv text, sip_via *v)
{
	sip_sv s = sv_trim(text);
	size_t i = 0, st;
	sip_sv part[3];

	*v = via_zero;
	v->raw = s;
	for (int k = 0; k < 3; k++) {
		while (i < s.n && is_ws(s.p[i]))
			i++;
		st = i;
		while (i < s.n && is_token(s.p[i]))
			i++;
		if (i == st)
			return E400;
		part[k] = sv_sub(s, st, i);
		while (i < s.n && is_ws(s.p[i]))
			i++;
		if (k < 2) {
			if (i == s.n || s.p[i] != '/')
				return E400;
			i++;
		}
	}
	if (!SV_IEQ_A(part[0], "sip") || !sip_sv_eq(part[1], "2.0"))
		return E400;
	v->transport = part[2];
	if (i == st + part[2].n) /* no LWS before sent-by */
		return E400;
	long used = hostport(sv_sub(s, i, s.n), &v->host, &v->host_v6, &v->port);
	if (used < 0)
		return E400;
	i += (size_t)used;
	v->params = sv_trim(sv_sub(s, i, s.n));
	if (v->params.n && v->params.p[0] != ';')
		return E400;
	sip_sv rest = v->params, pn, val;
	int r;
	while ((r = param_next(&rest, &pn, &val)) == 1) {
		if (pn.n == 6 && !v->branch.p && SV_IEQ_A(pn, "branch")) {
			if (val.n == 0)
				return E400;
			v->branch = val;
		} else if (pn.n == 8 && !v->received.p && SV_IEQ_A(pn, "received")) {
			v->received = val;
		} else if (pn.n == 5 && !v->maddr.p && SV_IEQ_A(pn, "maddr")) {
			v->maddr = val;
		} else if (pn.n == 5 && !v->rport_present && SV_IEQ_A(pn, "rport")) {
			unsigned long p;
			v->rport_present = 1;
			v->rport = -1;
			if (val.n) {
				if (parse_uint(val, 65535, &p) < 0)
					return E400;
				v->rport = (int32_t)p;
			}
		}
	}
	if (r < 0)
		return E400;
	return 0;
}

/* ---- the message ----------------------------------------------------------------------- */

static int fail(sip_msg *m, int err, const char *why)
{
	m->err_reason = why;
	return err;
}

/* Finds the end of the line starting at pos: *eol is the index of CR or LF,
 * the return value the index after the line break, or 0 when there is none. */
static size_t line_end(const char *b, size_t len, size_t pos, size_t *eol)
{
	const char *nl = memchr(b + pos, '\n', len - pos);
	if (!nl)
		return 0;
	size_t e = (size_t)(nl - b);
	*eol = (e > pos && b[e - 1] == '\r') ? e - 1 : e;
	return e + 1;
}

/* line_end for header lines, in one pass instead of a memchr for the LF
 * and two more over the value (NUL, bare CR): sets *bad when [pos, *eol)
 * holds a NUL or a CR not followed by LF, and leaves it alone otherwise.
 * Ordinary bytes go eight at a time; other controls (tab...) are allowed,
 * as before. Returns the index after the line break, or 0 when none. */
static size_t line_scan(const char *b, size_t len, size_t pos, size_t *eol, int *bad)
{
	size_t j = pos;
	while ((j = ctl_skip(b, len, j)) < len) {
		char c = b[j];
		if (c == '\n') { /* a bare LF: a CR before it returned below */
			*eol = j;
			return j + 1;
		}
		if (c == '\r') {
			if (j + 1 < len && b[j + 1] == '\n') {
				*eol = j;
				return j + 2;
			}
			*bad = 1;
		} else if (c == 0) {
			*bad = 1;
		}
		j++;
	}
	return 0;
}

/* No control byte but HTAB, no DEL, in p[0..n): eight bytes per step (the
 * usual start line has none), the byte rule only for a word that holds a
 * candidate. */
static int start_line_clean(const char *p, size_t n)
{
	size_t k = 0;
	for (; k + 8 <= n; k += 8) {
		uint64_t x, d;
		memcpy(&x, p + k, 8);
		d = x ^ 0x7f7f7f7f7f7f7f7full; /* DEL becomes a zero byte */
		if (!sip_ctl8(p + k) && !((d - 0x0101010101010101ull) & ~d & 0x8080808080808080ull))
			continue;
		break;
	}
	for (; k < n; k++)
		if (((unsigned char)p[k] < 0x20 && p[k] != '\t') || p[k] == 0x7f)
			return 0;
	return 1;
}

static int parse_start_line(sip_msg *m, sip_sv line)
{
	if (line.n >= 4 && memcmp(line.p, "SIP/", 4) == 0) {
		/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
		const char *sp = memchr(line.p, ' ', line.n);
		if (!sp)
			return fail(m, E400, "bad status line");
		sip_sv ver = sv_sub(line, 0, (size_t)(sp - line.p));
		if (!SV_IEQ(ver, "SIP/2.0"))
			return fail(m, sbc_err_sip(505), "version not supported");
		size_t i = (size_t)(sp - line.p) + 1;
		unsigned long st;
		if (i + 3 > line.n || parse_uint(sv_sub(line, i, i + 3), 699, &st) < 0 || st < 100)
			return fail(m, E400, "bad status code");
		i += 3;
		if (i < line.n && line.p[i] != ' ')
			return fail(m, E400, "bad status code");
		m->status = (int)st;
		m->reason = i < line.n ? sv_sub(line, i + 1, line.n) : (sip_sv){line.p + i, 0};
		m->is_request = 0;
		return 0;
	}
	/* Request-Line = Method SP Request-URI SP SIP-Version */
	const char *sp1 = memchr(line.p, ' ', line.n);
	if (!sp1)
		return fail(m, E400, "bad request line");
	size_t a = (size_t)(sp1 - line.p);
	const char *sp2 = memchr(sp1 + 1, ' ', line.n - a - 1);
	if (!sp2)
		return fail(m, E400, "bad request line");
	size_t b = (size_t)(sp2 - line.p);
	m->method_name = sv_sub(line, 0, a);
	m->ruri_text = sv_sub(line, a + 1, b);
	sip_sv ver = sv_sub(line, b + 1, line.n);
	if (!all_token(m->method_name))
		return fail(m, E400, "bad method");
	if (m->ruri_text.n == 0)
		return fail(m, E400, "bad request line");
	if (ver.n < 5 || !SV_IEQ(sv_sub(ver, 0, 4), "SIP/"))
		return fail(m, E400, "bad request line");
	for (size_t k = 4; k < ver.n; k++)
		if (!is_digit(ver.p[k]) && ver.p[k] != '.')
			return fail(m, E400, "bad request line");
	if (!SV_IEQ(ver, "SIP/2.0"))
		return fail(m, sbc_err_sip(505), "version not supported");
	m->is_request = 1;
	m->method = (uint8_t)sip_method_from_sv(m->method_name);
	int r = sip_uri_parse(m->ruri_text, &m->ruri);
	if (r == sbc_err_sip(416))
		return fail(m, r, "unsupported URI scheme");
	if (r < 0)
		return fail(m, r, "bad Request-URI");
	return 0;
}

static int parse_headers(sip_msg *m, size_t pos, size_t *body_start)
{
	const char *b = m->buf;
	size_t len = m->len;

	for (;;) {
		size_t eol, next;
		int bad = 0; /* NUL or bare CR in this header's lines */
		if (pos >= len)
			return fail(m, E400, "no empty line after headers");
		next = line_scan(b, len, pos, &eol, &bad);
		if (!next)
			return fail(m, E400, "no empty line after headers");
		if (eol == pos) { /* empty line */
			*body_start = next;
			return 0;
		}
		if (b[pos] == ' ' || b[pos] == '\t')
			return fail(m, E400, "continuation line without a header");
		/* header-name *(SP/HTAB) ":" */
		size_t i = token_span(b, pos, eol);
		if (i == pos)
			return fail(m, E400, "bad header name");
		sip_sv name = {b + pos, i - pos};
		while (i < eol && (b[i] == ' ' || b[i] == '\t'))
			i++;
		if (i == eol || b[i] != ':')
			return fail(m, E400, "bad header line");
		size_t vstart = i + 1, vend = eol;
		/* folded continuation lines */
		while (next < len && (b[next] == ' ' || b[next] == '\t')) {
			size_t e2, n2 = line_scan(b, len, next, &e2, &bad);
			if (!n2)
				return fail(m, E400, "no empty line after headers");
			vend = e2;
			next = n2;
		}
		/* NUL anywhere in the value, or a CR that does not start a fold
		 * (CRLF). line_scan flagged them over the whole lines, but the
		 * name, the blanks and ':' before vstart passed the checks
		 * above, so a flag can only come from the value. */
		if (bad)
			return fail(m, E400, "bad character in header");
		if (m->n_hdr == SIP_MAX_HEADERS)
			return fail(m, sbc_err_sip(513), "too many headers");
		sip_hdr *h = &m->hdr[m->n_hdr];
		h->name = name;
		h->id = (uint16_t)sip_header_id(name);
		h->value = sv_trim((sip_sv){b + vstart, vend - vstart});
		h->line = (sip_sv){b + pos, vend - pos};
		if (m->first[h->id] < 0)
			m->first[h->id] = (int16_t)m->n_hdr;
		m->n_of[h->id]++; /* n_hdr <= SIP_MAX_HEADERS (96): fits */
		m->n_hdr++;
		pos = next;
	}
}

static unsigned count_id(const sip_msg *m, enum sip_hdr_id id) { return m->n_of[id]; }

static int single_header(sip_msg *m, enum sip_hdr_id id, const char *missing, const char *dup, sip_sv *out)
{
	unsigned n = count_id(m, id);
	if (n == 0)
		return fail(m, E400, missing);
	if (n > 1)
		return fail(m, E400, dup);
	*out = m->hdr[m->first[id]].value;
	return 0;
}

static int parse_single_naddr(sip_msg *m, enum sip_hdr_id id, sip_naddr *na, const char *missing,
			      const char *dup, const char *bad)
{
	sip_sv v, rest, one;
	int r;
	if ((r = single_header(m, id, missing, dup, &v)) < 0)
		return r;
	/* A second value (an unquoted ',' outside <>) cannot parse as one
	 * name-addr, so the fast path is one parse; the value split only runs
	 * on failure, to name the error. */
	if (sip_naddr_parse(v, 0, na) == 0 && !na->star)
		return 0;
	rest = v;
	if (sip_next_value(&rest, &one) == 1 && sip_next_value(&rest, &one) == 1)
		return fail(m, E400, dup);
	return fail(m, E400, bad);
}

static int parse_core(sip_msg *m)
{
	sip_sv v, rest, one;
	int r;
	unsigned long num;

	/* Via: every line, every value (from the first: none before it) */
	for (unsigned i = m->first[SIP_H_VIA] < 0 ? m->n_hdr : (unsigned)m->first[SIP_H_VIA]; i < m->n_hdr; i++) {
		if (m->hdr[i].id != SIP_H_VIA)
			continue;
		rest = m->hdr[i].value;
		if (rest.n == 0)
			return fail(m, E400, "bad Via");
		while ((r = sip_next_value(&rest, &one)) == 1) {
			if (m->n_via == SIP_MAX_VIA)
				return fail(m, sbc_err_sip(513), "too many Via");
			if (sip_via_parse(one, &m->via[m->n_via]) < 0)
				return fail(m, E400, "bad Via");
			m->n_via++;
		}
		if (r < 0)
			return fail(m, E400, "bad Via");
	}
	if (m->n_via == 0)
		return fail(m, E400, "missing Via");

	if ((r = parse_single_naddr(m, SIP_H_FROM, &m->from, "missing From", "multiple From", "bad From")) < 0)
		return r;
	if ((r = parse_single_naddr(m, SIP_H_TO, &m->to, "missing To", "multiple To", "bad To")) < 0)
		return r;

	if ((r = single_header(m, SIP_H_CALL_ID, "missing Call-ID", "multiple Call-ID", &v)) < 0)
		return r;
	if (v.n == 0 || v.n > 512)
		return fail(m, E400, "bad Call-ID");
	unsigned ats = 0;
	for (size_t k = 0; k < v.n; k++) {
		unsigned char c = (unsigned char)v.p[k];
		ats += c == '@';
		if (c <= 0x20 || c == 0x7f || c == ',' || c == ';')
			return fail(m, E400, "bad Call-ID");
	}
	if (ats > 1 || v.p[0] == '@' || v.p[v.n - 1] == '@')
		return fail(m, E400, "bad Call-ID");
	m->call_id = v;

	if ((r = single_header(m, SIP_H_CSEQ, "missing CSeq", "multiple CSeq", &v)) < 0)
		return r;
	{
		size_t i = 0;
		while (i < v.n && is_digit(v.p[i]))
			i++;
		if (parse_uint(sv_sub(v, 0, i), 0x7fffffffUL, &num) < 0 || i == v.n || !is_ws(v.p[i]))
			return fail(m, E400, "bad CSeq");
		m->cseq = (uint32_t)num;
		sip_sv meth = sv_trim(sv_sub(v, i, v.n));
		if (!all_token(meth))
			return fail(m, E400, "bad CSeq");
		m->cseq_method_name = meth;
		m->cseq_method = (uint8_t)sip_method_from_sv(meth);
		if (m->is_request && !sip_sv_eq_sv(meth, m->method_name))
			return fail(m, E400, "CSeq method does not match");
	}

	m->max_forwards = -1;
	if (count_id(m, SIP_H_MAX_FORWARDS)) {
		if ((r = single_header(m, SIP_H_MAX_FORWARDS, "", "multiple Max-Forwards", &v)) < 0)
			return r;
		if (parse_uint(v, 255, &num) < 0)
			return fail(m, E400, "bad Max-Forwards");
		m->max_forwards = (int)num;
	}
	m->content_length = -1;
	if (count_id(m, SIP_H_CONTENT_LENGTH)) {
		if ((r = single_header(m, SIP_H_CONTENT_LENGTH, "", "multiple Content-Length", &v)) < 0)
			return r;
		if (parse_uint(v, 1u << 24, &num) < 0)
			return fail(m, E400, "bad Content-Length");
		m->content_length = (long)num;
	}
	/* Contact values must parse */
	for (unsigned i = 0; m->n_of[SIP_H_CONTACT] && i < m->n_hdr; i++) {
		if (m->hdr[i].id != SIP_H_CONTACT)
			continue;
		sip_naddr na;
		rest = m->hdr[i].value;
		while ((r = sip_next_value(&rest, &one)) == 1) {
			if (sip_naddr_parse(one, 1, &na) < 0)
				return fail(m, E400, "bad Contact");
			if (na.star && (m->n_contact || rest.n))
				return fail(m, E400, "bad Contact");
			m->n_contact++;
		}
		if (r < 0)
			return fail(m, E400, "bad Contact");
	}
	/* Route / Record-Route: each value must be a name-addr */
	for (unsigned i = 0; (m->n_of[SIP_H_ROUTE] || m->n_of[SIP_H_RECORD_ROUTE]) && i < m->n_hdr; i++) {
		if (m->hdr[i].id != SIP_H_ROUTE && m->hdr[i].id != SIP_H_RECORD_ROUTE)
			continue;
		sip_naddr na;
		rest = m->hdr[i].value;
		while ((r = sip_next_value(&rest, &one)) == 1)
			if (sip_naddr_parse(one, 0, &na) < 0 || !memchr(one.p, '<', one.n)) {
				r = -1;
				break;
			}
		if (r != 0)
			return fail(m, E400, m->hdr[i].id == SIP_H_ROUTE ? "bad Route" : "bad Record-Route");
	}
	return 0;
}

int sip_parse(const char *buf, size_t len, sip_msg *m)
{
	size_t pos = 0, eol, next, body_start = 0;
	int r;

	/* everything but hdr[] and via[] (read only up to n_hdr and n_via, so
	 * they stay as they were) is cleared first: the URI and name-addr
	 * structs from the all-zero values, the rest as fixed-size byte ranges
	 * between them (a few vector stores each, where a memset of the head
	 * and one of the tail were two rep stos). The ranges run from member
	 * to member, not over named members, so a member added anywhere is
	 * cleared too (see MSG_AFTER above). */
	memset(m, 0, offsetof(sip_msg, ruri));
	m->ruri = uri_zero;
	memset((char *)m + MSG_AFTER(ruri), 0, offsetof(sip_msg, hdr) - MSG_AFTER(ruri));
	memset((char *)m + MSG_AFTER(hdr), 0, offsetof(sip_msg, first) - MSG_AFTER(hdr));
	memset(m->first, 0xff, sizeof(m->first));
	memset((char *)m + MSG_AFTER(first), 0, offsetof(sip_msg, via) - MSG_AFTER(first));
	memset((char *)m + MSG_AFTER(via), 0, offsetof(sip_msg, from) - MSG_AFTER(via));
	m->from = naddr_zero;
	m->to = naddr_zero;
	/* the tail from zero bytes too: its memset (88 bytes, unaligned)
	 * became a rep stos */
	memcpy((char *)m + MSG_AFTER(to), &naddr_zero, sizeof(*m) - MSG_AFTER(to));
	m->buf = buf;
	m->len = len;
	m->max_forwards = -1;
	m->content_length = -1;

	if (!buf || len == 0)
		return fail(m, E400, "empty message");
	/* RFC 3261 7.5: tolerate CRLFs before the start line. */
	while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	next = pos < len ? line_end(buf, len, pos, &eol) : 0;
	if (!next)
		return fail(m, E400, "no start line");
	if (!start_line_clean(buf + pos, eol - pos))
		return fail(m, E400, "bad character in start line");
	if ((r = parse_start_line(m, (sip_sv){buf + pos, eol - pos})) < 0)
		return r;
	if ((r = parse_headers(m, next, &body_start)) < 0)
		return r;
	if ((r = parse_core(m)) < 0)
		return r;
	if (m->content_length >= 0) {
		if ((size_t)m->content_length > len - body_start)
			return fail(m, E400, "Content-Length larger than the body");
		m->body = (sip_sv){buf + body_start, (size_t)m->content_length};
		m->len = body_start + (size_t)m->content_length;
	} else {
		m->body = (sip_sv){buf + body_start, len - body_start};
	}
	m->err_reason = NULL;
	return 0;
}

/* ---- rebasing onto a copy ------------------------------------------------ */

typedef struct rebase {
	uintptr_t lo, hi; /* the old buffer, hi included (an empty value at its end) */
	const char *nbuf;
} rebase;

static void rb_sv(const rebase *rb, sip_sv *v)
{
	uintptr_t a = (uintptr_t)v->p;
	if (v->p && a >= rb->lo && a <= rb->hi) /* literals and NULL stay */
		v->p = rb->nbuf + (a - rb->lo);
}

static void rb_uri(const rebase *rb, sip_uri *u)
{
	rb_sv(rb, &u->user);
	rb_sv(rb, &u->password);
	rb_sv(rb, &u->host);
	rb_sv(rb, &u->params);
	rb_sv(rb, &u->headers);
	rb_sv(rb, &u->transport);
	rb_sv(rb, &u->maddr);
}

static void rb_naddr(const rebase *rb, sip_naddr *na)
{
	rb_sv(rb, &na->raw);
	rb_sv(rb, &na->display);
	rb_sv(rb, &na->uri_text);
	rb_uri(rb, &na->uri);
	rb_sv(rb, &na->params);
	rb_sv(rb, &na->tag);
}

void sip_msg_rebase(sip_msg *m, const char *nbuf)
{
	rebase rb = {(uintptr_t)m->buf, (uintptr_t)m->buf + m->len, nbuf};
	rb_sv(&rb, &m->method_name);
	rb_sv(&rb, &m->ruri_text);
	rb_uri(&rb, &m->ruri);
	rb_sv(&rb, &m->reason);
	for (unsigned i = 0; i < m->n_hdr && i < SIP_MAX_HEADERS; i++) {
		rb_sv(&rb, &m->hdr[i].name);
		rb_sv(&rb, &m->hdr[i].value);
		rb_sv(&rb, &m->hdr[i].line);
	}
	for (unsigned i = 0; i < m->n_via && i < SIP_MAX_VIA; i++) {
		sip_via *v = &m->via[i];
		rb_sv(&rb, &v->raw);
		rb_sv(&rb, &v->transport);
		rb_sv(&rb, &v->host);
		rb_sv(&rb, &v->branch);
		rb_sv(&rb, &v->received);
		rb_sv(&rb, &v->maddr);
		rb_sv(&rb, &v->params);
	}
	rb_naddr(&rb, &m->from);
	rb_naddr(&rb, &m->to);
	rb_sv(&rb, &m->call_id);
	rb_sv(&rb, &m->cseq_method_name);
	rb_sv(&rb, &m->body);
	m->buf = nbuf;
}

const sip_hdr *sip_hdr_get(const sip_msg *m, enum sip_hdr_id id, unsigned idx)
{
	if (id <= SIP_H_OTHER || id >= SIP_H_MAX_ || m->first[id] < 0)
		return NULL;
	for (unsigned i = (unsigned)m->first[id]; i < m->n_hdr; i++)
		if (m->hdr[i].id == id && idx-- == 0)
			return &m->hdr[i];
	return NULL;
}

const sip_hdr *sip_hdr_find(const sip_msg *m, const char *name)
{
	sip_sv n = {name, strlen(name)};
	enum sip_hdr_id id = n.n ? sip_header_id(n) : SIP_H_OTHER;
	if (id != SIP_H_OTHER)
		return sip_hdr_get(m, id, 0);
	for (unsigned i = 0; i < m->n_hdr; i++)
		if (sip_sv_ieq(m->hdr[i].name, name))
			return &m->hdr[i];
	return NULL;
}
