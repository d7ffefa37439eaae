/* Differential test of the SIP parser: the optimised sip_parse.c against the
 * parser as it stood before (sip_parse_ref.inc, a verbatim copy with every
 * public name renamed ref_*). Both must return the same status and reason
 * on every input, and on success the same fields: every view at the same
 * address with the same length, every number equal. Inputs: a set of valid
 * messages (requests and responses, compact forms, folds, IPv6, tel:,
 * quoted strings, several Via/Contact/Route values), the malformed corpus
 * (tests/corpus/sip) and deterministic mutations of all of them; then the
 * value parsers on their own (URI, name-addr, Via, value split, header
 * names) over mutated texts. Each input is an exact-size heap copy, so a
 * read past its end shows under SAN=1. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sip_msg.h"

/* ---- the reference parser, renamed --------------------------------------- */

#define sip_sv_eq_sv ref_sip_sv_eq_sv
#define sip_sv_ieq_sv ref_sip_sv_ieq_sv
#define sip_unquote ref_sip_unquote
#define sip_unescape ref_sip_unescape
#define sip_method_from_sv ref_sip_method_from_sv
#define sip_method_name ref_sip_method_name
#define sip_header_name ref_sip_header_name
#define sip_header_id ref_sip_header_id
#define sip_param_find ref_sip_param_find
#define sip_next_value ref_sip_next_value
#define sip_uri_parse ref_sip_uri_parse
#define sip_naddr_parse ref_sip_naddr_parse
#define sip_via_parse ref_sip_via_parse
#define sip_parse ref_sip_parse
#define sip_msg_rebase ref_sip_msg_rebase
#define sip_hdr_get ref_sip_hdr_get
#define sip_hdr_find ref_sip_hdr_find
/* sip_msg.h was included above (its guard keeps it out below): the renamed
 * functions need their own prototypes */
int sip_sv_eq_sv(sip_sv a, sip_sv b);
int sip_sv_ieq_sv(sip_sv a, sip_sv b);
int sip_unquote(sip_sv quoted, char *out, size_t cap);
int sip_unescape(sip_sv in, char *out, size_t cap);
enum sip_method sip_method_from_sv(sip_sv name);
const char *sip_method_name(enum sip_method m);
const char *sip_header_name(enum sip_hdr_id id);
enum sip_hdr_id sip_header_id(sip_sv name);
int sip_param_find(sip_sv params, const char *name, sip_sv *value);
int sip_next_value(sip_sv *rest, sip_sv *out);
int sip_uri_parse(sip_sv text, sip_uri *uri);
int sip_naddr_parse(sip_sv text, int allow_star, sip_naddr *na);
int sip_via_parse(sip_sv text, sip_via *via);
int sip_parse(const char *buf, size_t len, sip_msg *msg);
void sip_msg_rebase(sip_msg *msg, const char *nbuf);
const sip_hdr *sip_hdr_get(const sip_msg *msg, enum sip_hdr_id id, unsigned idx);
const sip_hdr *sip_hdr_find(const sip_msg *msg, const char *name);
#include "sip_parse_ref.inc"
#undef sip_sv_eq_sv
#undef sip_sv_ieq_sv
#undef sip_unquote
#undef sip_unescape
#undef sip_method_from_sv
#undef sip_method_name
#undef sip_header_name
#undef sip_header_id
#undef sip_param_find
#undef sip_next_value
#undef sip_uri_parse
#undef sip_naddr_parse
#undef sip_via_parse
#undef sip_parse
#undef sip_msg_rebase
#undef sip_hdr_get
#undef sip_hdr_find
/* the reference's own copies of the header helpers end here */
#include "parse_ref_helpers_end.inc"

/* after the reference: its fail() is not cmocka's */
#include <cmocka.h>
#include "diff_harness.h"
#include "sip_samples.h"

/* ---- field comparison ------------------------------------------------------ */

static const char *what; /* the input under test, for the failure message */
static unsigned compared;

#define SAME(a, b, field)                                                                      \
	do {                                                                                   \
		if ((a) != (b)) {                                                              \
			print_error("%s: %s differs (new %lld, ref %lld)\n", what, field,      \
				    (long long)(a), (long long)(b));                           \
			fail();                                                                \
		}                                                                              \
	} while (0)

static void same_sv(sip_sv a, sip_sv b, const char *field)
{
	if (a.p != b.p || a.n != b.n) {
		print_error("%s: %s differs (new %p+%zu '%.*s', ref %p+%zu '%.*s')\n", what, field, (const void *)a.p,
			    a.n, (int)(a.p ? a.n : 0), a.p ? a.p : "", (const void *)b.p, b.n, (int)(b.p ? b.n : 0),
			    b.p ? b.p : "");
		fail();
	}
}

static void same_uri(const sip_uri *a, const sip_uri *b)
{
	SAME(a->scheme, b->scheme, "uri.scheme");
	SAME(a->host_v6, b->host_v6, "uri.host_v6");
	SAME(a->user_phone, b->user_phone, "uri.user_phone");
	SAME(a->lr, b->lr, "uri.lr");
	SAME(a->port, b->port, "uri.port");
	same_sv(a->user, b->user, "uri.user");
	same_sv(a->password, b->password, "uri.password");
	same_sv(a->host, b->host, "uri.host");
	same_sv(a->params, b->params, "uri.params");
	same_sv(a->headers, b->headers, "uri.headers");
	same_sv(a->transport, b->transport, "uri.transport");
	same_sv(a->maddr, b->maddr, "uri.maddr");
}

static void same_naddr(const sip_naddr *a, const sip_naddr *b)
{
	same_sv(a->raw, b->raw, "naddr.raw");
	same_sv(a->display, b->display, "naddr.display");
	same_sv(a->uri_text, b->uri_text, "naddr.uri_text");
	same_uri(&a->uri, &b->uri);
	same_sv(a->params, b->params, "naddr.params");
	same_sv(a->tag, b->tag, "naddr.tag");
	SAME(a->star, b->star, "naddr.star");
	SAME(a->has_tag, b->has_tag, "naddr.has_tag");
}

static void same_via(const sip_via *a, const sip_via *b)
{
	same_sv(a->raw, b->raw, "via.raw");
	same_sv(a->transport, b->transport, "via.transport");
	same_sv(a->host, b->host, "via.host");
	SAME(a->port, b->port, "via.port");
	SAME(a->host_v6, b->host_v6, "via.host_v6");
	SAME(a->rport_present, b->rport_present, "via.rport_present");
	SAME(a->rport, b->rport, "via.rport");
	same_sv(a->branch, b->branch, "via.branch");
	same_sv(a->received, b->received, "via.received");
	same_sv(a->maddr, b->maddr, "via.maddr");
	same_sv(a->params, b->params, "via.params");
}

static void same_reason(int r, const char *a, const char *b)
{
	if (r != 0 && (!a || !b || strcmp(a, b) != 0)) {
		print_error("%s: reason differs (new '%s', ref '%s')\n", what, a ? a : "(null)", b ? b : "(null)");
		fail();
	}
}

static sip_msg M, R;

/* Parses buf[0..len) (an exact-size copy is made) with both parsers and
 * compares everything. Returns the status. */
static int diff_parse(const char *buf, size_t len)
{
	char *exact = exact_copy(buf, len);
	int a = sip_parse(exact, len, &M);
	int b = ref_sip_parse(exact, len, &R);
	SAME(a, b, "sip_parse status");
	same_reason(a, M.err_reason, R.err_reason);
	if (a == 0) {
		SAME(M.buf == R.buf, 1, "buf");
		SAME(M.len, R.len, "len");
		SAME(M.is_request, R.is_request, "is_request");
		SAME(M.method, R.method, "method");
		same_sv(M.method_name, R.method_name, "method_name");
		same_sv(M.ruri_text, R.ruri_text, "ruri_text");
		same_uri(&M.ruri, &R.ruri);
		SAME(M.status, R.status, "status");
		same_sv(M.reason, R.reason, "reason");
		SAME(M.n_hdr, R.n_hdr, "n_hdr");
		for (unsigned i = 0; i < M.n_hdr; i++) {
			SAME(M.hdr[i].id, R.hdr[i].id, "hdr.id");
			same_sv(M.hdr[i].name, R.hdr[i].name, "hdr.name");
			same_sv(M.hdr[i].value, R.hdr[i].value, "hdr.value");
			same_sv(M.hdr[i].line, R.hdr[i].line, "hdr.line");
		}
		for (unsigned i = 0; i < SIP_H_MAX_; i++) {
			SAME(M.first[i], R.first[i], "first[]");
			SAME(M.n_of[i], R.n_of[i], "n_of[]");
		}
		SAME(M.n_via, R.n_via, "n_via");
		for (unsigned i = 0; i < M.n_via; i++)
			same_via(&M.via[i], &R.via[i]);
		same_naddr(&M.from, &R.from);
		same_naddr(&M.to, &R.to);
		same_sv(M.call_id, R.call_id, "call_id");
		SAME(M.cseq, R.cseq, "cseq");
		SAME(M.cseq_method, R.cseq_method, "cseq_method");
		same_sv(M.cseq_method_name, R.cseq_method_name, "cseq_method_name");
		SAME(M.max_forwards, R.max_forwards, "max_forwards");
		SAME(M.content_length, R.content_length, "content_length");
		SAME(M.n_contact, R.n_contact, "n_contact");
		same_sv(M.body, R.body, "body");
		/* the header lookups over the index */
		for (unsigned id = 1; id < SIP_H_MAX_; id++)
			for (unsigned k = 0; k < 3; k++) {
				const sip_hdr *x = sip_hdr_get(&M, (enum sip_hdr_id)id, k);
				const sip_hdr *y = ref_sip_hdr_get(&R, (enum sip_hdr_id)id, k);
				SAME(x ? x - M.hdr : -1, y ? y - R.hdr : -1, "sip_hdr_get");
			}
	}
	compared++;
	exact_free(exact, len);
	return a;
}

/* ---- inputs ------------------------------------------------------------------ */

static const char *const seeds[] = {
	SIP_SAMPLE_A_INVITE_HEAD SIP_SAMPLE_A_INVITE_CARRIER
	"Content-Type: application/sdp\r\n"
	"Content-Length: 10\r\n"
	"\r\n"
	"v=0\r\ns=-\r\n",
	"SIP/2.0 180 Ringing\r\n"
	"Via: SIP/2.0/TLS 203.0.113.5:5061;branch=z9hG4bKsbc00000000;rport=5061\r\n"
	"From: \"Alice\" <sip:+15550001111@203.0.113.5>;tag=sbc-b\r\n"
	"To: <sip:0030123456@192.0.2.81>;tag=b9\r\n"
	"Call-ID: sbc-1@203.0.113.5\r\n"
	"CSeq: 1 INVITE\r\n"
	"Contact: <sip:gw@192.0.2.80:5061;transport=tls>\r\n"
	"Content-Length: 0\r\n\r\n",
	SIP_SAMPLE_V6_COMPACT_INVITE,
	"REGISTER sips:registrar.example.com SIP/2.0\r\n"
	"v: SIP/2.0/TLS [2001:db8::20]:5061 ;branch=z9hG4bKr1 ;received=[2001:db8::99];maddr=239.1.1.1\r\n"
	"v: SIP/2.0/tcp proxy.example.com;branch=\"z9hG4bK,q\";x=\"a\\\"b\"\r\n"
	"t: sips:bob@example.com\r\n"
	"f: Bob Smith <sips:bob:secret@example.com;transport=tcp;maddr=10.0.0.1?subject=x>;tag=456\r\n"
	"i: reg-1\r\n"
	"CSeq: 2 REGISTER\r\n"
	"m: <sips:bob@[2001:db8::20]:5061>;q=0.7, \"B, S\" <sip:bob@192.0.2.4>;expires=3600\r\n"
	"m: <sip:bob@h3>\r\n"
	"Record-Route: <sip:rr1.example.com;lr>,\r\n <sip:rr2.example.com;lr>\r\n"
	"Expires: 7200\r\n"
	"Content-Length: 0\r\n\r\n",
	"BYE tel:+1-555-123-4567;phone-context=example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKbye;rport=0\r\n"
	"Via: SIP/2.0/UDP 10.1.1.2;branch=z9hG4bKbye2, SIP/2.0/UDP 10.1.1.3:1;branch=z9hG4bKbye3\r\n"
	"From: <tel:+15550001>;tag=x\r\n"
	"To: \"Callee\" <mailto:someone@example.com>;tag=y\r\n"
	"Call-ID: bye@host\r\n"
	"CSeq: 7 BYE\r\n"
	"Max-Forwards: 0\r\n"
	"X-Custom: folded\r\n\tvalue\r\n"
	"Content-Length: 0\r\n\r\n",
	"REGISTER sip:example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs\r\n"
	"From: sip:a@example.com;tag=1\r\n"
	"To: sip:a@example.com\r\n"
	"Call-ID: star\r\n"
	"CSeq: 1 REGISTER\r\n"
	"Contact: *\r\n"
	"Expires: 0\r\n\r\n",
	"SIP/2.0 200 OK\r\n"
	"Via   :   SIP / 2.0 / UDP   192.0.2.5:5070 ; branch = z9hG4bKsp ; rport = 5070\r\n"
	"FROM: <sip:a@192.0.2.5>;TAG=ft\r\n"
	"to: <sip:b@192.0.2.6>;tag=tt\r\n"
	"CALL-ID: sp@192.0.2.5\r\n"
	"cseq: 99 OPTIONS\r\n"
	"Accept: application/sdp\r\n"
	"Allow: INVITE\r\n"
	"Supported: x\r\n"
	"Content-Length: 3\r\n\r\nabcdef",
	"OPTIONS sip:gw.example.com;transport=udp;lr;maddr=[2001:db8::1] SIP/2.0\n"
	"Via: SIP/2.0/UDP gw1.example.com:5060;branch=z9hG4bKlf\n"
	"From: <sip:%61lice@example.com>;tag=lf\n"
	"To: <sip:gw.example.com>\n"
	"Call-ID: lf\n"
	"CSeq: 1 OPTIONS\n"
	"\n",
	"\r\n\r\nACK sip:b@192.0.2.6:5060 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKack\r\n"
	"Route: <sip:192.0.2.9;lr>\r\n"
	"Route: <sip:192.0.2.10;lr>;x=y\r\n"
	"From: \"\" <sip:a@192.0.2.5>;tag=1\r\n"
	"To: <sip:b@192.0.2.6>;tag=2\r\n"
	"Call-ID: ack\r\n"
	"CSeq: 1 ACK\r\n"
	"Content-Length: 0\r\n\r\n",
	"SIP/2.0 486 Busy Here\r\n"
	"Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKb;received=192.0.2.77\r\n"
	"From: <sip:a@192.0.2.5>;tag=1\r\n"
	"To: <sip:b@192.0.2.6>;tag=2\r\n"
	"Call-ID: busy\r\n"
	"CSeq: 1 INVITE\r\n"
	"Retry-After: 60\r\n"
	"Warning: 399 h \"x, y\"\r\n"
	"Reason: SIP;cause=486;text=\"Busy\"\r\n"
	"\r\n",
	"MESSAGE sip:user@example.com SIP/2.0\r\n"
	"Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKm\r\n"
	"From: sip:x@example.com;tag=9\r\n"
	"To: sip:user@example.com\r\n"
	"Call-ID: m@example.com\r\n"
	"CSeq: 5 MESSAGE\r\n"
	"Content-Type: text/plain\r\n"
	"l: 2\r\n\r\nhi",
};

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t next_rand(void) { return diff_rand(&rng); }

/* \x10 and \x1f: controls sip_ctl8 flags only with its exact constant */
static const char alphabet[] = "\r\n :;,<>\"\\@[]=%?/0aZ\t*.-+\x7f\x80\x10\x1f";

/* 1..4 random edits (replace, delete, insert, a run of up to 8 bytes
 * duplicated) of src into out (cap >= n + 64), stopping once it grew by
 * more than 48. Returns the new length. */
static const diff_mut mut_rule = {alphabet, sizeof(alphabet) - 1, 4, 4, 8, 48};
static size_t mutate(const char *src, size_t n, char *out) { return diff_mutate(&rng, &mut_rule, src, n, out); }

static void test_seeds_parse_same(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		what = seeds[i];
		int r = diff_parse(seeds[i], strlen(seeds[i]));
		if (r != 0)
			print_error("seed %zu: %s\n", i, M.err_reason);
		assert_int_equal(r, 0); /* every seed is valid */
		/* every prefix: the truncations a stream or a short datagram gives */
		for (size_t n = 0; n < strlen(seeds[i]); n++)
			diff_parse(seeds[i], n);
	}
}

/* ---- sip_parse clears every byte it does not document as stale ----------- */

/* sip_parse reuses the caller's sip_msg (the engine parses hostile input
 * into the same struct again and again) and clears it in byte ranges, not
 * with one memset. Parsing into a struct full of 0xA5 and into a zeroed one
 * must give the same bytes everywhere but the parts sip_msg.h documents as
 * valid only up to a count: hdr[] from n_hdr on, via[] from n_via on (and
 * sip_hdr's padding after id, which the parser never writes). A member
 * added anywhere and not cleared by sip_parse fails here. */
_Static_assert(offsetof(sip_hdr, name) == 8 && sizeof(sip_hdr) == 8 + 3 * sizeof(sip_sv),
	       "sip_hdr changed: teach parse_into_fills its padding");
static sip_msg FILL_A5, FILL_00;
static unsigned char stale[sizeof(sip_msg)];

static void parse_into_fills(const char *buf, size_t len)
{
	char *e = exact_copy(buf, len);
	memset(&FILL_A5, 0xa5, sizeof(FILL_A5));
	memset(&FILL_00, 0, sizeof(FILL_00));
	int a = sip_parse(e, len, &FILL_A5);
	int b = sip_parse(e, len, &FILL_00);
	SAME(a, b, "status into 0xA5 / zero fill");
	SAME(FILL_A5.n_hdr, FILL_00.n_hdr, "n_hdr");
	SAME(FILL_A5.n_via, FILL_00.n_via, "n_via");
	memset(stale, 0, sizeof(stale));
	for (size_t i = 0; i < SIP_MAX_HEADERS; i++) {
		size_t at = offsetof(sip_msg, hdr) + i * sizeof(sip_hdr);
		if (i >= FILL_00.n_hdr)
			memset(stale + at, 1, sizeof(sip_hdr));
		else /* the padding between id and name */
			memset(stale + at + sizeof(uint16_t), 1, offsetof(sip_hdr, name) - sizeof(uint16_t));
	}
	for (size_t i = FILL_00.n_via; i < SIP_MAX_VIA; i++)
		memset(stale + offsetof(sip_msg, via) + i * sizeof(sip_via), 1, sizeof(sip_via));
	diff_cleared(&FILL_A5, &FILL_00, stale, sizeof(sip_msg), what, "sip_msg");
	exact_free(e, len);
}

static void test_parse_clears_whole(void **state)
{
	char buf[2048];
	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		what = seeds[i];
		size_t n = strlen(seeds[i]);
		parse_into_fills(seeds[i], n);
		assert_int_equal(sip_parse(seeds[i], n, &FILL_00), 0);
		/* the failure paths: every 7th prefix and some mutations */
		for (size_t k = 0; k < n; k += 7)
			parse_into_fills(seeds[i], k);
		for (int it = 0; it < 50; it++)
			parse_into_fills(buf, mutate(seeds[i], n, buf));
	}
}

static void test_mutations_parse_same(void **state)
{
	char buf[2048];
	unsigned ok = 0;
	(void)state;
	what = "a mutated seed";
	for (int iter = 0; iter < 30000; iter++) {
		const char *s = seeds[(size_t)iter % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = mutate(s, strlen(s), buf);
		ok += diff_parse(buf, len) == 0;
	}
	print_message("mutations: %u of 30000 parsed, all alike\n", ok);
	assert_true(ok > 1000);
}

static void test_corpus_parse_same(void **state)
{
	char dir[512], buf[8192 + 64];
	const char *name;
	char *f;
	size_t len;
	unsigned files = 0;
	(void)state;
	DIR *d = corpus_open(dir, sizeof(dir));
	while ((f = corpus_next(d, dir, &len, &name)) != NULL) {
		what = name;
		assert_int_not_equal(diff_parse(f, len), 0);
		for (int k = 0; k < 200 && len < 8192; k++)
			diff_parse(buf, mutate(f, len, buf));
		free(f);
		files++;
	}
	closedir(d);
	assert_true(files >= 40);
}

/* ---- the value parsers on their own ------------------------------------------ */

static const char *const values[] = {
	"<sip:+15550001111@198.51.100.10:5061;transport=tls>",
	"\"Alice\" <sip:+15550001111@198.51.100.10>;tag=a-tag-1",
	"sip:a@example.com;tag=1",
	"Bob Smith <sips:bob:secret@example.com;transport=tcp;maddr=10.0.0.1?subject=x>;tag=456",
	"<sips:bob@[2001:db8::20]:5061>;q=0.7, \"B, S\" <sip:bob@192.0.2.4>;expires=3600",
	"<tel:+1-555-123-4567;phone-context=example.com>",
	"<mailto:x@y>",
	"SIP/2.0/TLS [2001:db8::20]:5061 ;branch=z9hG4bKr1 ;received=[2001:db8::99];maddr=239.1.1.1",
	"SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds;rport, SIP/2.0/TCP h;branch=z9hG4bK2",
	"SIP / 2.0 / UDP   192.0.2.5 : 5070 ; branch = z9hG4bKsp ; rport = 5070",
	"sip:gw.example.com;transport=udp;lr;user=phone;maddr=[2001:db8::1]?h=v&x=y",
	"sip:%61lice@01.2.3.4:65535",
	"*",
};

static void diff_values(const char *text, size_t n)
{
	sip_sv t = {text, n};
	sip_uri ua, ub;
	sip_naddr na, nb;
	sip_via va, vb;
	int a, b;

	memset(&ua, 0x5a, sizeof(ua)), memset(&ub, 0x5a, sizeof(ub));
	a = sip_uri_parse(t, &ua);
	b = ref_sip_uri_parse(t, &ub);
	SAME(a, b, "sip_uri_parse status");
	if (a == 0)
		same_uri(&ua, &ub);
	for (int star = 0; star < 2; star++) {
		a = sip_naddr_parse(t, star, &na);
		b = ref_sip_naddr_parse(t, star, &nb);
		SAME(a, b, "sip_naddr_parse status");
		if (a == 0)
			same_naddr(&na, &nb);
	}
	a = sip_via_parse(t, &va);
	b = ref_sip_via_parse(t, &vb);
	SAME(a, b, "sip_via_parse status");
	if (a == 0)
		same_via(&va, &vb);
	sip_sv ra = t, rb = t, oa, ob;
	for (int k = 0; k < 8; k++) {
		a = sip_next_value(&ra, &oa);
		b = ref_sip_next_value(&rb, &ob);
		SAME(a, b, "sip_next_value status");
		if (a != 1)
			break;
		same_sv(oa, ob, "sip_next_value out");
		same_sv(ra, rb, "sip_next_value rest");
	}
	SAME(sip_header_id(t), ref_sip_header_id(t), "sip_header_id");
	compared++;
}

static void test_value_parsers_same(void **state)
{
	char buf[256];
	(void)state;
	what = "a value";
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		size_t n = strlen(values[i]);
		for (size_t k = 0; k <= n; k++) { /* every prefix, exact size */
			char *e = exact_copy(values[i], k);
			diff_values(e, k);
			exact_free(e, k);
		}
		for (int it = 0; it < 3000; it++) {
			size_t len = mutate(values[i], n, buf);
			char *e = exact_copy(buf, len);
			diff_values(e, len);
			exact_free(e, len);
		}
	}
}

/* hostport's dotted-quad reader hands anything it does not fully accept to
 * the general loop: every edge of that hand-over, in a URI and in a Via */
static void test_hosts_same(void **state)
{
	static const char *const hosts[] = {
		"1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.256", "01.2.3.4", "1.02.3.4", "1.2.3.04",
		"1.2.3.0", "10.20.30.40", "100.200.250.255", "1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3.4", "1..2.3",
		"1.2.3.4a", "1.2.3.4-x", "1.2.3.a", "a.1.2.3", "1234.1.1.1", "1.2.3.4444", "12345", "1.2.3.4:5060",
		"1.2.3.4:0", "1.2.3.4:65535", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:00005060", "1.2.3.4:12345678901",
		"1.2.3.4;x", "1.2.3.4?h", "1.2.3.4 ", "host-1.example.com", "-h", "h-", "[::1]", "[::1]:5", "[1.2.3.4]",
		"[]", "[::1", "1.2.3.4@x", "9.9.9.9", "199.199.199.199", "200.0.0.1", "249.250.251.252",
	};
	char buf[128];
	(void)state;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		what = hosts[i];
		int n = snprintf(buf, sizeof(buf), "sip:u@%s", hosts[i]);
		for (int k = 0; k <= n; k++) { /* the host cut at every length too */
			char *e = exact_copy(buf, (size_t)k);
			diff_values(e, (size_t)k);
			exact_free(e, (size_t)k);
		}
		n = snprintf(buf, sizeof(buf), "SIP/2.0/UDP %s;branch=z9hG4bK1", hosts[i]);
		char *e = exact_copy(buf, (size_t)n);
		diff_values(e, (size_t)n);
		exact_free(e, (size_t)n);
	}
}

static void test_header_names_same(void **state)
{
	char buf[64];
	(void)state;
	what = "a header name";
	for (unsigned id = 0; id < SIP_H_MAX_; id++) {
		const char *nm = sip_header_name((enum sip_hdr_id)id);
		size_t n = strlen(nm);
		assert_string_equal(nm, ref_sip_header_name((enum sip_hdr_id)id));
		for (int it = 0; it < 400 && n; it++) {
			memcpy(buf, nm, n);
			/* random case, then sometimes one byte changed */
			for (size_t k = 0; k < n; k++)
				if (next_rand() & 1)
					buf[k] = (char)(buf[k] ^ ((buf[k] >= 'A' && buf[k] <= 'z') ? 0x20 : 0));
			if (it & 1)
				buf[next_rand() % n] = (char)(next_rand() & 0xff);
			size_t len = it % 7 == 3 && n > 1 ? n - 1 : n;
			char *e = exact_copy(buf, len);
			sip_sv s = {e, len};
			SAME(sip_header_id(s), ref_sip_header_id(s), "sip_header_id");
			exact_free(e, len);
		}
	}
	for (int c = 0; c < 256; c++) { /* compact forms and every one-byte name */
		char one = (char)c;
		SAME(sip_header_id((sip_sv){&one, 1}), ref_sip_header_id((sip_sv){&one, 1}), "sip_header_id(1)");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds_parse_same),
		cmocka_unit_test(test_mutations_parse_same),
		cmocka_unit_test(test_corpus_parse_same),
		cmocka_unit_test(test_value_parsers_same),
		cmocka_unit_test(test_hosts_same),
		cmocka_unit_test(test_header_names_same),
		cmocka_unit_test(test_parse_clears_whole),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	print_message("%u inputs compared\n", compared);
	return r;
}
