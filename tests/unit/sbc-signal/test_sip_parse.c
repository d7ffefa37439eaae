/* Unit tests for the SIP parser and builder (sip_msg.h, sip_build.h):
 * valid messages in many shapes (compact forms, folding, multiple values,
 * quoted strings, IPv6, case rules, torture-style messages inspired by RFC
 * 4475), every error path naming its header, and the bounded builder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sip_build.h"
#include "../../../sbc-signal/src/sip_msg.h"

static sip_msg M; /* large: keep off the stack */

static int parse(const char *text) { return sip_parse(text, strlen(text), &M); }

static void assert_sv(sip_sv s, const char *lit)
{
	if (!sip_sv_eq(s, lit)) {
		print_error("expected '%s', got '%.*s'\n", lit, (int)s.n, s.p ? s.p : "");
		fail();
	}
}

#define INVITE_BASIC                                                                               \
	"INVITE sip:+15551234567@198.51.100.10:5060;user=phone SIP/2.0\r\n"                        \
	"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK776asdhds;rport\r\n"                      \
	"Max-Forwards: 70\r\n"                                                                     \
	"To: <sip:+15551234567@198.51.100.10>\r\n"                                                 \
	"From: \"Alice\" <sip:+15550001111@192.0.2.20>;tag=1928301774\r\n"                        \
	"Call-ID: a84b4c76e66710@pc33.example.com\r\n"                                             \
	"CSeq: 314159 INVITE\r\n"                                                                  \
	"Contact: <sip:alice@192.0.2.20:5060>\r\n"                                                 \
	"Content-Type: application/sdp\r\n"                                                        \
	"Content-Length: 4\r\n"                                                                    \
	"\r\n"                                                                                     \
	"v=0\n"

static void test_basic_invite(void **state)
{
	(void)state;
	assert_int_equal(parse(INVITE_BASIC), 0);
	assert_true(M.is_request);
	assert_int_equal(M.method, SIP_M_INVITE);
	assert_int_equal(M.ruri.scheme, SIP_URI_SIP);
	assert_sv(M.ruri.user, "+15551234567");
	assert_sv(M.ruri.host, "198.51.100.10");
	assert_int_equal(M.ruri.port, 5060);
	assert_true(M.ruri.user_phone);
	assert_int_equal(M.n_via, 1);
	assert_sv(M.via[0].transport, "UDP");
	assert_sv(M.via[0].host, "192.0.2.20");
	assert_int_equal(M.via[0].port, 5060);
	assert_sv(M.via[0].branch, "z9hG4bK776asdhds");
	assert_true(M.via[0].rport_present);
	assert_int_equal(M.via[0].rport, -1);
	assert_sv(M.from.display, "\"Alice\"");
	assert_sv(M.from.tag, "1928301774");
	assert_false(M.to.has_tag);
	assert_sv(M.to.uri.user, "+15551234567");
	assert_sv(M.call_id, "a84b4c76e66710@pc33.example.com");
	assert_int_equal(M.cseq, 314159);
	assert_int_equal(M.cseq_method, SIP_M_INVITE);
	assert_int_equal(M.max_forwards, 70);
	assert_int_equal(M.content_length, 4);
	assert_int_equal(M.n_contact, 1);
	assert_sv(M.body, "v=0\n");
	assert_non_null(sip_hdr_get(&M, SIP_H_CONTENT_TYPE, 0));
	assert_sv(sip_hdr_find(&M, "content-type")->value, "application/sdp");
	assert_sv(sip_hdr_find(&M, "c")->value, "application/sdp");
	assert_null(sip_hdr_find(&M, "X-Nope"));
}

static void test_compact_forms(void **state)
{
	(void)state;
	const char *msg = "OPTIONS sip:sbc.example.net SIP/2.0\r\n"
			  "v: SIP/2.0/TCP client.example.com;branch=z9hG4bKopt1\r\n"
			  "f: <sip:a@example.com>;tag=aa\r\n"
			  "t: sip:b@example.net\r\n"
			  "i: opt-1@client\r\n"
			  "CSeq: 1 OPTIONS\r\n"
			  "m: <sip:a@client.example.com;transport=tcp>\r\n"
			  "k: timer, 100rel\r\n"
			  "s: hello\r\n"
			  "o: presence\r\n"
			  "u: dialog\r\n"
			  "r: <sip:c@example.org>\r\n"
			  "x: 1800;refresher=uac\r\n"
			  "e: gzip\r\n"
			  "c: text/plain\r\n"
			  "l: 0\r\n\r\n";
	assert_int_equal(parse(msg), 0);
	assert_int_equal(M.method, SIP_M_OPTIONS);
	assert_sv(M.via[0].transport, "TCP");
	assert_sv(M.via[0].host, "client.example.com");
	assert_int_equal(M.via[0].port, 0);
	assert_sv(M.from.tag, "aa");
	assert_sv(M.to.uri.user, "b");
	assert_sv(M.call_id, "opt-1@client");
	assert_int_equal(M.content_length, 0);
	assert_sv(sip_hdr_get(&M, SIP_H_SUPPORTED, 0)->value, "timer, 100rel");
	assert_sv(sip_hdr_get(&M, SIP_H_SUBJECT, 0)->value, "hello");
	assert_sv(sip_hdr_get(&M, SIP_H_EVENT, 0)->value, "presence");
	assert_sv(sip_hdr_get(&M, SIP_H_ALLOW_EVENTS, 0)->value, "dialog");
	assert_sv(sip_hdr_get(&M, SIP_H_REFER_TO, 0)->value, "<sip:c@example.org>");
	assert_sv(sip_hdr_get(&M, SIP_H_SESSION_EXPIRES, 0)->value, "1800;refresher=uac");
	assert_sv(sip_hdr_get(&M, SIP_H_CONTENT_ENCODING, 0)->value, "gzip");
	assert_sv(sip_hdr_get(&M, SIP_H_CONTENT_TYPE, 0)->value, "text/plain");
	/* m: parsed as Contact with the transport param */
	sip_naddr na;
	assert_int_equal(sip_naddr_parse(sip_hdr_get(&M, SIP_H_CONTACT, 0)->value, 1, &na), 0);
	assert_sv(na.uri.transport, "tcp");
	assert_sv(M.body, "");
	/* every compact letter maps both ways */
	assert_int_equal(sip_header_id(SIP_SV("I")), SIP_H_CALL_ID);
	assert_int_equal(sip_header_id(SIP_SV("y")), SIP_H_IDENTITY);
	assert_int_equal(sip_header_id(SIP_SV("n")), SIP_H_IDENTITY_INFO);
	assert_int_equal(sip_header_id(SIP_SV("a")), SIP_H_ACCEPT_CONTACT);
	assert_int_equal(sip_header_id(SIP_SV("j")), SIP_H_REJECT_CONTACT);
	assert_int_equal(sip_header_id(SIP_SV("d")), SIP_H_REQUEST_DISPOSITION);
	assert_int_equal(sip_header_id(SIP_SV("b")), SIP_H_REFERRED_BY);
	assert_int_equal(sip_header_id(SIP_SV("q")), SIP_H_OTHER);
	assert_int_equal(sip_header_id(SIP_SV("cALL-id")), SIP_H_CALL_ID);
	assert_string_equal(sip_header_name(SIP_H_CSEQ), "CSeq");
}

/* In the spirit of RFC 4475 3.1.1.1 "wsinv": folding, odd whitespace,
 * escapes, multi-line Via, unknown headers with unusual characters. */
static void test_torture_wsinv(void **state)
{
	(void)state;
	const char *msg = "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
			  "TO :\r\n"
			  " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
			  "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n"
			  "  ;\r\n"
			  "  tag = 98asjd8\r\n"
			  "MaX-fOrWaRdS: 0068\r\n"
			  "Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
			  "Content-Length   : 5\r\n"
			  "cseq: 0009\r\n"
			  "  INVITE\r\n"
			  "Via  : SIP  /   2.0\r\n"
			  " /UDP\r\n"
			  "    192.0.2.2;rport;branch=390skdjuw\r\n"
			  "s :\r\n"
			  "NewFangledHeader:   newfangled value\r\n"
			  " continued newfangled value\r\n"
			  "UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
			  "Content-Type: application/sdp\r\n"
			  "Route:\r\n"
			  " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\r\n"
			  "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n"
			  "  branch  =   z9hG4bK9ikj8  ,\r\n"
			  " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n"
			  " z9hG4bK30239\r\n"
			  "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n"
			  "      newvalue ;\r\n"
			  "  secondparam ; q = 0.33\r\n"
			  "\r\n"
			  "v=0\r\n";
	int r = parse(msg);
	if (r)
		print_error("err %s\n", M.err_reason);
	assert_int_equal(r, 0);
	assert_int_equal(M.n_via, 3);
	assert_sv(M.via[0].transport, "UDP");
	assert_sv(M.via[0].host, "192.0.2.2");
	assert_sv(M.via[0].branch, "390skdjuw");
	assert_sv(M.via[1].transport, "TCP");
	assert_sv(M.via[1].host, "spindle.example.com");
	assert_sv(M.via[1].branch, "z9hG4bK9ikj8");
	assert_sv(M.via[2].host, "192.168.255.111");
	assert_sv(M.via[2].branch, "z9hG4bK30239");
	assert_sv(M.to.tag, "1918181833n");
	assert_sv(M.from.tag, "98asjd8");
	assert_int_equal(M.max_forwards, 68);
	assert_int_equal(M.cseq, 9);
	assert_int_equal(M.cseq_method, SIP_M_INVITE);
	assert_int_equal(M.content_length, 5);
	assert_sv(M.body, "v=0\r\n");
	char disp[64];
	assert_int_equal(sip_unquote(M.from.display, disp, sizeof(disp)), 14);
	assert_string_equal(disp, "J Rosenberg \\\"");
	assert_sv(sip_hdr_find(&M, "newfangledheader")->value, "newfangled value\r\n continued newfangled value");
	const sip_hdr *route = sip_hdr_get(&M, SIP_H_ROUTE, 0);
	sip_naddr na;
	assert_int_equal(sip_naddr_parse(route->value, 0, &na), 0);
	assert_true(na.uri.lr);
	sip_sv v;
	assert_int_equal(sip_param_find(na.uri.params, "unknownwith", &v), 1);
	assert_sv(v, "value");
	assert_int_equal(sip_param_find(na.uri.params, "UNKNOWN-no-value", &v), 1);
	assert_int_equal(v.n, 0);
}

static void test_multiple_values(void **state)
{
	(void)state;
	const char *msg = "SIP/2.0 180 Ringing\r\n"
			  "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKa, SIP/2.0/TLS [2001:db8::5]:5061;branch=z9hG4bKb\r\n"
			  "Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKc;received=198.51.100.7;rport=40000\r\n"
			  "From: <sip:a@example.com>;tag=x\r\n"
			  "To: \"B, the \\\"second\\\"\" <sip:b@example.net>;tag=y\r\n"
			  "Call-ID: m1\r\n"
			  "CSeq: 2 INVITE\r\n"
			  "Contact: <sip:b1@[2001:db8::7]:5080;transport=tls>;q=0.5, \"Two, Three\" <sip:b2@h>\r\n"
			  "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
			  "Record-Route: <sip:[2001:db8::1];lr>\r\n"
			  "Content-Length: 0\r\n\r\n";
	assert_int_equal(parse(msg), 0);
	assert_false(M.is_request);
	assert_int_equal(M.status, 180);
	assert_sv(M.reason, "Ringing");
	assert_int_equal(M.n_via, 3);
	assert_sv(M.via[1].transport, "TLS");
	assert_true(M.via[1].host_v6);
	assert_sv(M.via[1].host, "2001:db8::5");
	assert_int_equal(M.via[1].port, 5061);
	assert_sv(M.via[2].received, "198.51.100.7");
	assert_int_equal(M.via[2].rport, 40000);
	assert_sv(M.to.tag, "y");
	assert_int_equal(M.n_contact, 2);
	/* iterate Record-Route values across two lines */
	unsigned n = 0;
	for (unsigned i = 0; sip_hdr_get(&M, SIP_H_RECORD_ROUTE, i); i++) {
		sip_sv rest = sip_hdr_get(&M, SIP_H_RECORD_ROUTE, i)->value, one;
		while (sip_next_value(&rest, &one) == 1)
			n++;
	}
	assert_int_equal(n, 3);
	sip_sv rest = sip_hdr_get(&M, SIP_H_CONTACT, 0)->value, one;
	sip_naddr na;
	assert_int_equal(sip_next_value(&rest, &one), 1);
	assert_int_equal(sip_naddr_parse(one, 1, &na), 0);
	assert_true(na.uri.host_v6);
	assert_sv(na.uri.host, "2001:db8::7");
	assert_int_equal(na.uri.port, 5080);
	assert_int_equal(sip_next_value(&rest, &one), 1);
	assert_int_equal(sip_naddr_parse(one, 1, &na), 0);
	assert_sv(na.display, "\"Two, Three\"");
	assert_int_equal(sip_next_value(&rest, &one), 0);
	/* empty elements are errors */
	rest = SIP_SV("a,,b");
	assert_int_equal(sip_next_value(&rest, &one), 1);
	assert_int_equal(sip_next_value(&rest, &one), sbc_err_sip(400));
	rest = SIP_SV("a,");
	assert_int_equal(sip_next_value(&rest, &one), sbc_err_sip(400));
	rest = SIP_SV("\"open, a");
	assert_int_equal(sip_next_value(&rest, &one), sbc_err_sip(400));
}

static void test_uris(void **state)
{
	sip_uri u;
	sip_sv v;
	(void)state;
	assert_int_equal(sip_uri_parse(SIP_SV("tel:+1-201-555-0123;phone-context=+1"), &u), 0);
	assert_int_equal(u.scheme, SIP_URI_TEL);
	assert_sv(u.user, "+1-201-555-0123");
	assert_int_equal(sip_param_find(u.params, "phone-context", &v), 1);
	assert_sv(v, "+1");
	assert_int_equal(sip_uri_parse(SIP_SV("SIPS:Bob:secret@Example.COM:5061;Transport=TLS?subject=x"), &u), 0);
	assert_int_equal(u.scheme, SIP_URI_SIPS);
	assert_sv(u.user, "Bob");
	assert_sv(u.password, "secret");
	assert_sv(u.host, "Example.COM");
	assert_int_equal(u.port, 5061);
	assert_sv(u.transport, "TLS");
	assert_sv(u.headers, "subject=x");
	/* ';' and escapes in the user part (RFC 4475 "semiuri"/"esc01") */
	assert_int_equal(sip_uri_parse(SIP_SV("sip:user;par=u%40example.net@example.com"), &u), 0);
	assert_sv(u.user, "user;par=u%40example.net");
	assert_sv(u.host, "example.com");
	char un[64];
	assert_int_equal(sip_unescape(u.user, un, sizeof(un)), 22);
	assert_string_equal(un, "user;par=u@example.net");
	assert_int_equal(sip_uri_parse(SIP_SV("sip:%61lice@atlanta.com;maddr=239.255.255.1;ttl=15"), &u), 0);
	assert_sv(u.maddr, "239.255.255.1");
	assert_int_equal(sip_uri_parse(SIP_SV("sip:[2001:db8::10]:5070;lr"), &u), 0);
	assert_true(u.host_v6);
	assert_true(u.lr);
	assert_int_equal(u.port, 5070);
	assert_int_equal(sip_uri_parse(SIP_SV("sip:[::ffff:192.0.2.1]"), &u), 0);
	/* errors */
	assert_int_equal(sip_uri_parse(SIP_SV("http://example.com/"), &u), sbc_err_sip(416));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@[2001:db8::1"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@[zz::1]"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@host:99999"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@host:"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@300.1.1.1"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@01.1.1.1"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@1.2.3"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@1.2.3.4.5"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@1..3.4"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@1.2.3.1000"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@0.10.100.255:5060"), &u), 0);
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@1.2.3.4a.example"), &u), 0); /* a hostname */
	assert_int_equal(sip_uri_parse(SIP_SV("sip:%G1@host"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a b@host"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:a@b@host"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:@host"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("sip:host;transport="), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("tel:"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV("tel:+1 555"), &u), sbc_err_sip(400));
	assert_int_equal(sip_uri_parse(SIP_SV(":nothing"), &u), sbc_err_sip(400));
}

static void test_ipv6_and_case(void **state)
{
	(void)state;
	const char *msg = "BYE sip:[2001:db8::10]:5070;TRANSPORT=udp SIP/2.0\r\n"
			  "VIA: sip/2.0/udp [2001:db8::9:1];BRANCH=z9hG4bKas3;Received=2001:db8::9:255;RPORT\r\n"
			  "FROM: <sip:a@[2001:db8::9:1]>;TAG=t1\r\n"
			  "to: <sip:b@[2001:db8::10]>;tag=t2\r\n"
			  "CALL-ID: v6call\r\n"
			  "cseq: 2 BYE\r\n"
			  "CONTENT-LENGTH: 0\r\n\r\n";
	assert_int_equal(parse(msg), 0);
	assert_int_equal(M.method, SIP_M_BYE);
	assert_sv(M.ruri.host, "2001:db8::10");
	assert_sv(M.ruri.transport, "udp");
	assert_sv(M.via[0].branch, "z9hG4bKas3");
	assert_sv(M.via[0].received, "2001:db8::9:255");
	assert_true(M.via[0].rport_present);
	assert_sv(M.from.tag, "t1");
	assert_sv(M.to.tag, "t2");
	/* methods are case-sensitive: "bye" is an extension method */
	const char *lc = "bye sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
			 "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 bye\r\n\r\n";
	assert_int_equal(parse(lc), 0);
	assert_int_equal(M.method, SIP_M_UNKNOWN);
	assert_sv(M.method_name, "bye");
}

static void test_tolerated_oddities(void **state)
{
	(void)state;
	/* leading CRLFs, LF-only line ends, unknown method, unknown To scheme,
	 * extra bytes after Content-Length (datagram), empty reason phrase */
	const char *msg = "\r\n\r\nNEWMETHOD sip:x@example.com SIP/2.0\n"
			  "Via: SIP/2.0/SCTP h.example.com;branch=z9hG4bKn\n"
			  "From: <sip:a@example.com>;tag=1\n"
			  "To: <http://example.com/b>\n"
			  "Call-ID: nm\n"
			  "CSeq: 8 NEWMETHOD\n"
			  "Content-Length: 2\n"
			  "\n"
			  "okEXTRA";
	assert_int_equal(parse(msg), 0);
	assert_int_equal(M.method, SIP_M_UNKNOWN);
	assert_int_equal(M.to.uri.scheme, SIP_URI_NONE);
	assert_sv(M.body, "ok");
	assert_int_equal(M.len, strlen(msg) - 5);
	assert_int_equal(parse("SIP/2.0 100 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
			       "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"),
			 0);
	assert_int_equal(M.status, 100);
	assert_int_equal(M.reason.n, 0);
	/* UTF-8 reason phrase */
	assert_int_equal(parse("SIP/2.0 486 Occup\xc3\xa9\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
			       "To: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"),
			 0);
	assert_int_equal(M.status, 486);
	/* no Content-Length: the body is the rest of the datagram */
	assert_int_equal(parse("MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
			       "To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n\r\nhello"),
			 0);
	assert_sv(M.body, "hello");
	assert_int_equal(M.content_length, -1);
}

/* More RFC 4475-style valid messages: an unusual method and URI with every
 * allowed character, control characters as quoted-pairs in a display name,
 * no LWS before '<', an escaped NUL in a URI, an unknown transport, an RFC
 * 2543 Via without branch, long values. (RFC 4475's intmeth also carries a
 * quoted NUL: we refuse any NUL in a header, deliberately.) */
static void test_torture_more(void **state)
{
	(void)state;
	static const char intmeth[] =
		"!interesting-Method0123456789_*+`.%indeed'~ "
		"sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
		"@example.com SIP/2.0\r\n"
		"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
		"To: \"BEL:\\\x07 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n"
		"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="
		"\"\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9\";tag=_token~1'+`*%!-.\r\n"
		"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
		"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"
		"Max-Forwards: 255\r\n"
		"extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb\r\n"
		"Content-Length: 0\r\n\r\n";
	int r = sip_parse(intmeth, sizeof(intmeth) - 1, &M);
	if (r)
		print_error("intmeth: %s\n", M.err_reason);
	assert_int_equal(r, 0);
	assert_int_equal(M.method, SIP_M_UNKNOWN);
	assert_sv(M.method_name, "!interesting-Method0123456789_*+`.%indeed'~");
	assert_sv(M.ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	assert_sv(M.ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
	assert_sv(M.ruri.host, "example.com");
	assert_sv(M.from.tag, "_token~1'+`*%!-.");
	assert_sv(M.from.display, "token1~` token2'+_ token3*%!.-");
	assert_sv(M.via[0].branch, "z9hG4bK-.!%66*_+`'~");
	assert_int_equal(M.max_forwards, 255);
	assert_non_null(sip_hdr_find(&M, "EXTENSIONHEADER-!.%*+_`'~"));

	static const char misc[] = "OPTIONS sip:null-%00-null@example.com SIP/2.0\r\n"
				   "Via: SIP/2.0/UNKNOWN 192.0.2.33\r\n"
				   "From: caller<sip:caller@example.com>;tag=323\r\n"
				   "To: sip:callee@example.com\r\n"
				   "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\r\n"
				   "CSeq: 14398234 OPTIONS\r\n\r\n";
	assert_int_equal(sip_parse(misc, sizeof(misc) - 1, &M), 0);
	assert_sv(M.ruri.user, "null-%00-null");
	assert_sv(M.via[0].transport, "UNKNOWN");
	assert_int_equal(M.via[0].branch.n, 0); /* RFC 2543 style */
	assert_sv(M.from.display, "caller");
	assert_sv(M.from.uri.user, "caller");

	/* long values: an 8 kB header, a 500-character Call-ID, 16 Via lines */
	static char big[24000];
	sip_buf b;
	sip_buf_init(&b, big, sizeof(big));
	sip_buf_str(&b, "INVITE sip:b@example.com SIP/2.0\r\n");
	for (int i = 0; i < SIP_MAX_VIA; i++)
		sip_buf_printf(&b, "Via: SIP/2.0/UDP p%d.example.com;branch=z9hG4bK%d\r\n", i, i);
	sip_buf_str(&b, "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: ");
	for (int i = 0; i < 500; i++)
		sip_buf_put(&b, "x", 1);
	sip_buf_str(&b, "\r\nCSeq: 1 INVITE\r\nX-Long: ");
	for (int i = 0; i < 8000; i++)
		sip_buf_put(&b, "y", 1);
	sip_buf_str(&b, "\r\n\r\n");
	assert_true(sip_buf_end(&b) > 0);
	assert_int_equal(sip_parse(big, b.len, &M), 0);
	assert_int_equal(M.n_via, SIP_MAX_VIA);
	assert_int_equal(M.call_id.n, 500);
	assert_int_equal(sip_hdr_find(&M, "x-long")->value.n, 8000);
}

struct bad_case {
	const char *name;
	int status;
	const char *reason;
	const char *msg;
};

#define VIA "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
#define FROM "From: <sip:a@example.com>;tag=1\r\n"
#define TO "To: <sip:b@example.com>\r\n"
#define CID "Call-ID: c1\r\n"
#define CSEQ "CSeq: 1 INVITE\r\n"
#define RL "INVITE sip:b@example.com SIP/2.0\r\n"

static const struct bad_case bad_cases[] = {
	{"empty", 400, "empty message", ""},
	{"only CRLF", 400, "no start line", "\r\n\r\n"},
	{"missing Call-ID", 400, "missing Call-ID", RL VIA FROM TO CSEQ "\r\n"},
	{"missing Via", 400, "missing Via", RL FROM TO CID CSEQ "\r\n"},
	{"missing From", 400, "missing From", RL VIA TO CID CSEQ "\r\n"},
	{"missing To", 400, "missing To", RL VIA FROM CID CSEQ "\r\n"},
	{"missing CSeq", 400, "missing CSeq", RL VIA FROM TO CID "\r\n"},
	{"two From", 400, "multiple From", RL VIA FROM FROM TO CID CSEQ "\r\n"},
	{"two To values", 400, "multiple To", RL VIA FROM "To: <sip:b@x>, <sip:c@x>\r\n" CID CSEQ "\r\n"},
	{"two Call-ID", 400, "multiple Call-ID", RL VIA FROM TO CID "i: c2\r\n" CSEQ "\r\n"},
	{"Call-ID with space", 400, "bad Call-ID", RL VIA FROM TO "Call-ID: a b\r\n" CSEQ "\r\n"},
	{"Call-ID two @", 400, "bad Call-ID", RL VIA FROM TO "Call-ID: a@b@c\r\n" CSEQ "\r\n"},
	{"CSeq not a number", 400, "bad CSeq", RL VIA FROM TO CID "CSeq: abc INVITE\r\n\r\n"},
	{"CSeq too big", 400, "bad CSeq", RL VIA FROM TO CID "CSeq: 4294967296 INVITE\r\n\r\n"},
	{"CSeq no method", 400, "bad CSeq", RL VIA FROM TO CID "CSeq: 1\r\n\r\n"},
	{"CSeq method mismatch", 400, "CSeq method does not match", RL VIA FROM TO CID "CSeq: 1 ACK\r\n\r\n"},
	{"Content-Length larger", 400, "Content-Length larger than the body",
	 RL VIA FROM TO CID CSEQ "Content-Length: 9999\r\n\r\nv=0"},
	{"negative Content-Length", 400, "bad Content-Length", RL VIA FROM TO CID CSEQ "l: -5\r\n\r\n"},
	{"two Content-Length", 400, "multiple Content-Length",
	 RL VIA FROM TO CID CSEQ "Content-Length: 0\r\nl: 0\r\n\r\n"},
	{"Max-Forwards huge", 400, "bad Max-Forwards", RL VIA FROM TO CID CSEQ "Max-Forwards: 300\r\n\r\n"},
	{"Max-Forwards text", 400, "bad Max-Forwards", RL VIA FROM TO CID CSEQ "Max-Forwards: ten\r\n\r\n"},
	{"version 7", 505, "version not supported", "INVITE sip:b@example.com SIP/7.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"response version 3", 505, "version not supported", "SIP/3.0 200 OK\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"http Request-URI", 416, "unsupported URI scheme", "INVITE http://example.com/ SIP/2.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"angle Request-URI", 400, "bad Request-URI", "INVITE <sip:b@example.com> SIP/2.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"extra spaces in request line", 400, "bad request line",
	 "INVITE  sip:b@example.com SIP/2.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"trailing space after version", 400, "bad request line",
	 "INVITE sip:b@example.com SIP/2.0 \r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"escaped space in ruri", 400, "bad Request-URI", "INVITE sip:b%2@example.com SIP/2.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"no SIP version", 400, "bad request line", "INVITE sip:b@example.com\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"bad method chars", 400, "bad method", "IN(VITE sip:b@example.com SIP/2.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"status 99", 400, "bad status code", "SIP/2.0 99 Low\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"status 700", 400, "bad status code", "SIP/2.0 700 High\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"status 2000", 400, "bad status code", "SIP/2.0 2000 OK\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"Via bad IPv6", 400, "bad Via", RL "Via: SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK1\r\n" FROM TO CID CSEQ "\r\n"},
	{"Via no sent-by", 400, "bad Via", RL "Via: SIP/2.0/UDP\r\n" FROM TO CID CSEQ "\r\n"},
	{"Via bad protocol", 400, "bad Via", RL "Via: SIP/3.0/UDP h;branch=z9hG4bK1\r\n" FROM TO CID CSEQ "\r\n"},
	{"Via empty branch", 400, "bad Via", RL "Via: SIP/2.0/UDP h;branch=\r\n" FROM TO CID CSEQ "\r\n"},
	{"Via bad rport", 400, "bad Via", RL "Via: SIP/2.0/UDP h;rport=99999\r\n" FROM TO CID CSEQ "\r\n"},
	{"Via empty value", 400, "bad Via", RL "Via:\r\n" FROM TO CID CSEQ "\r\n"},
	{"Via trailing comma", 400, "bad Via", RL "Via: SIP/2.0/UDP h;branch=z9hG4bK1,\r\n" FROM TO CID CSEQ "\r\n"},
	{"From unterminated quote", 400, "bad From", RL VIA "From: \"Alice <sip:a@b>;tag=1\r\n" TO CID CSEQ "\r\n"},
	{"To missing >", 400, "bad To", RL VIA FROM "To: <sip:b@example.com\r\n" CID CSEQ "\r\n"},
	{"To stray >", 400, "bad To", RL VIA FROM "To: sip:b@example.com>\r\n" CID CSEQ "\r\n"},
	{"To empty tag", 400, "bad To", RL VIA FROM "To: <sip:b@example.com>;tag=\r\n" CID CSEQ "\r\n"},
	{"To bad display", 400, "bad To", RL VIA FROM "To: Bob@home <sip:b@example.com>\r\n" CID CSEQ "\r\n"},
	{"From junk after >", 400, "bad From", RL VIA "From: <sip:a@b> junk;tag=1\r\n" TO CID CSEQ "\r\n"},
	{"Contact star and more", 400, "bad Contact", RL VIA FROM TO CID CSEQ "Contact: *, <sip:a@b>\r\n\r\n"},
	{"Contact bad uri", 400, "bad Contact", RL VIA FROM TO CID CSEQ "Contact: <sip:a@[::1>\r\n\r\n"},
	{"Route without <>", 400, "bad Route", RL VIA FROM TO CID CSEQ "Route: sip:p@example.com\r\n\r\n"},
	{"Record-Route bad", 400, "bad Record-Route", RL VIA FROM TO CID CSEQ "Record-Route: <sip:p@>\r\n\r\n"},
	{"NUL in header", 400, "bad character in header", RL VIA FROM TO "Call-ID: a\0b\r\n" CSEQ "\r\n"},
	{"header without colon", 400, "bad header line", RL VIA FROM TO CID CSEQ "Garbage line\r\n\r\n"},
	{"empty header name", 400, "bad header name", RL VIA FROM TO CID CSEQ ": value\r\n\r\n"},
	{"continuation first", 400, "continuation line without a header", RL " folded\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"no empty line", 400, "no empty line after headers", RL VIA FROM TO CID CSEQ},
	{"no line end", 400, "no start line", "INVITE sip:b@example.com SIP/2.0"},
	{"control char in start line", 400, "bad character in start line", "INVITE sip:b@exa\x01mple.com SIP/2.0\r\n" VIA FROM TO CID CSEQ "\r\n"},
	{"baddn: comma in display", 400, "multiple From", RL VIA "From: Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43\r\n" TO CID CSEQ "\r\n"},
	{"badaspec: ? outside <>", 400, "bad To", RL VIA FROM "To: sip:user@example.org?Route=%3Csip:example.com%3E\r\n" CID CSEQ "\r\n"},
	{"badinv01: empty Via params", 400, "bad Via", RL "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n" FROM TO CID CSEQ "\r\n"},
	{"Call-ID too long", 400, "bad Call-ID", RL VIA FROM TO "Call-ID: " "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "\r\n" CSEQ "\r\n"},
	{"bare CR in header", 400, "bad character in header", RL VIA FROM TO "Call-ID: a\rb\r\n" CSEQ "\r\n"},
};

static void test_bad_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = strlen(c->msg);
		if (strcmp(c->name, "NUL in header") == 0)
			len = sizeof(RL VIA FROM TO "Call-ID: a\0b\r\n" CSEQ "\r\n") - 1;
		int r = sip_parse(c->msg, len, &M);
		if (r != sbc_err_sip(c->status) || !M.err_reason || strcmp(M.err_reason, c->reason) != 0) {
			print_error("case '%s': got %d (%s), want %d (%s)\n", c->name, sbc_err_sip_status(r),
				    M.err_reason ? M.err_reason : "-", c->status, c->reason);
			fail();
		}
	}
}

static void test_too_many(void **state)
{
	(void)state;
	static char buf[16384];
	sip_buf b;
	sip_buf_init(&b, buf, sizeof(buf));
	sip_buf_str(&b, RL VIA FROM TO CID CSEQ);
	for (int i = 0; i < SIP_MAX_HEADERS; i++)
		sip_buf_printf(&b, "X-H%d: %d\r\n", i, i);
	sip_buf_str(&b, "\r\n");
	assert_true(sip_buf_end(&b) > 0);
	assert_int_equal(sip_parse(buf, b.len, &M), sbc_err_sip(513));
	assert_string_equal(M.err_reason, "too many headers");

	sip_buf_init(&b, buf, sizeof(buf));
	sip_buf_str(&b, RL FROM TO CID CSEQ "Via: SIP/2.0/UDP a;branch=z9hG4bK0");
	for (int i = 1; i <= SIP_MAX_VIA; i++)
		sip_buf_printf(&b, ", SIP/2.0/UDP a%d;branch=z9hG4bK%d", i, i);
	sip_buf_str(&b, "\r\n\r\n");
	assert_true(sip_buf_end(&b) > 0);
	assert_int_equal(sip_parse(buf, b.len, &M), sbc_err_sip(513));
	assert_string_equal(M.err_reason, "too many Via");
}

/* Every prefix of a valid message is either valid or a clean error, and
 * never reads past its end (ASan checks with a heap copy of exact size). */
static void test_truncations(void **state)
{
	(void)state;
	const char *msg = INVITE_BASIC;
	size_t len = strlen(msg);
	unsigned ok = 0;
	for (size_t n = 0; n <= len; n++) {
		char *copy = malloc(n ? n : 1);
		memcpy(copy, msg, n);
		int r = sip_parse(copy, n, &M);
		if (r == 0)
			ok++;
		else
			assert_true(sbc_err_sip_status(r) >= 400);
		free(copy);
	}
	assert_int_equal(ok, 1); /* only the whole message: Content-Length 4 */
}

static void test_build_response(void **state)
{
	(void)state;
	static char req[2048];
	char out[2048];
	strcpy(req, "INVITE sip:b@example.com SIP/2.0\r\n"
		    "Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKa, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb\r\n"
		    "Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKc;rport=5060;received=192.0.2.99\r\n"
		    "From: Alice <sip:a@example.com>;tag=1\r\n" TO CID CSEQ "Max-Forwards: 70\r\n\r\n");
	assert_int_equal(parse(req), 0);
	sip_resp_opts o = {.to_tag = SIP_SV("sbc1"), .contact = SIP_SV("<sip:sbc@192.0.2.50>"),
			   .content_type = SIP_SV("application/sdp"), .body = SIP_SV("v=0\r\n")};
	sip_sv extra[] = {SIP_SV("Server: sbc")};
	o.extra = extra;
	o.n_extra = 1;
	int n = sip_build_response(&M, 200, NULL, &o, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
	assert_non_null(strstr(out, "SIP/2.0 200 OK\r\n"));
	assert_non_null(strstr(out, "To: <sip:b@example.com>;tag=sbc1\r\n"));
	assert_non_null(strstr(out, "Server: sbc\r\n"));
	static sip_msg R;
	assert_int_equal(sip_parse(out, (size_t)n, &R), 0);
	assert_int_equal(R.status, 200);
	assert_int_equal(R.n_via, 3);
	assert_sv(R.via[0].branch, "z9hG4bKa");
	assert_sv(R.via[2].received, "192.0.2.99");
	assert_sv(R.to.tag, "sbc1");
	assert_sv(R.from.tag, "1");
	assert_int_equal(R.cseq, 1);
	assert_sv(R.body, "v=0\r\n");
	/* 100 Trying never gets a tag */
	n = sip_build_response(&M, 100, NULL, &o, out, sizeof(out));
	assert_true(n > 0);
	assert_null(strstr(out, "tag=sbc1"));
	/* bounded: every smaller capacity fails cleanly without overrun */
	int full = sip_build_response(&M, 488, "Not Acceptable Here", &o, out, sizeof(out));
	assert_true(full > 0);
	for (int cap = 0; cap < full; cap++) {
		char small[2048];
		memset(small, 0x5a, sizeof(small));
		assert_int_equal(sip_build_response(&M, 488, "Not Acceptable Here", &o, small, (size_t)cap), -ENOSPC);
		for (size_t k = (size_t)cap; k < sizeof(small); k++)
			assert_int_equal((unsigned char)small[k], 0x5a);
	}
	/* header injection refused */
	assert_int_equal(sip_build_response(&M, 403, "Forbidden\r\nX-Evil: 1", NULL, out, sizeof(out)), -EINVAL);
	sip_sv evil[] = {SIP_SV("X-A: 1\r\nX-Evil: 2")};
	sip_resp_opts oe = {.extra = evil, .n_extra = 1};
	assert_int_equal(sip_build_response(&M, 403, NULL, &oe, out, sizeof(out)), -EINVAL);
	sip_resp_opts ot = {.to_tag = SIP_SV("x\r\nEvil: 1")};
	assert_int_equal(sip_build_response(&M, 403, NULL, &ot, out, sizeof(out)), -EINVAL);
	assert_int_equal(sip_build_response(&M, 99, NULL, NULL, out, sizeof(out)), -EINVAL);
	assert_string_equal(sip_reason_phrase(503), "Service Unavailable");
}

static void test_build_request_ack_cancel(void **state)
{
	(void)state;
	char out[2048], ack[1024], can[1024];
	char branch[64], tag[40];
	assert_int_equal(sip_gen_token("z9hG4bK", 1, 0xabcdef, branch, sizeof(branch)), 39);
	assert_int_equal(sip_gen_token("", 2, 3, tag, sizeof(tag)), 32);
	assert_string_equal(tag, "00000000000000020000000000000003");
	assert_int_equal(sip_gen_token("", UINT64_MAX, 0x0123456789abcdefull, tag, 33), 32);
	assert_string_equal(tag, "ffffffffffffffff0123456789abcdef");
	assert_int_equal(sip_gen_token("", 1, 2, tag, 32), -ENOSPC); /* no room for the NUL */
	assert_int_equal(sip_gen_token("z9hG4bK", 1, 2, branch, 10), -ENOSPC);
	assert_int_equal(sip_gen_token("z9hG4bK", 1, 0xabcdef, branch, sizeof(branch)), 39);
	assert_string_equal(branch, "z9hG4bK00000000000000010000000000abcdef");
	sip_sv routes[] = {SIP_SV("<sip:p1.example.net;lr>")};
	sip_sv extra[] = {SIP_SV("Supported: timer"), SIP_SV("Session-Expires: 1800")};
	sip_req_spec s = {
		.method = SIP_M_INVITE,
		.ruri = SIP_SV("sip:+4930123@carrier.example.net;user=phone"),
		.via_transport = SIP_SV("TLS"),
		.via_host = SIP_SV("[2001:db8::50]"),
		.via_port = 5061,
		.branch = {branch, 39},
		.rport = 1,
		.from = SIP_SV("<sip:+155500011@sbc.example.com>;tag=f1"),
		.to = SIP_SV("<sip:+4930123@carrier.example.net>"),
		.call_id = SIP_SV("b-leg-1@sbc"),
		.cseq = 1,
		.max_forwards = -1,
		.contact = SIP_SV("<sip:sbc@[2001:db8::50]:5061;transport=tls>"),
		.route = routes,
		.n_route = 1,
		.extra = extra,
		.n_extra = 2,
		.content_type = SIP_SV("application/sdp"),
		.body = SIP_SV("v=0\r\n"),
	};
	int n = sip_build_request(&s, out, sizeof(out));
	assert_true(n > 0);
	static sip_msg R, A;
	assert_int_equal(sip_parse(out, (size_t)n, &R), 0);
	assert_int_equal(R.method, SIP_M_INVITE);
	assert_sv(R.via[0].transport, "TLS");
	assert_sv(R.via[0].host, "2001:db8::50");
	assert_int_equal(R.via[0].port, 5061);
	assert_sv(R.via[0].branch, branch);
	assert_int_equal(R.max_forwards, 70);
	assert_int_equal(R.content_length, 5);
	assert_sv(sip_hdr_get(&R, SIP_H_SESSION_EXPIRES, 0)->value, "1800");
	/* bounded */
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(sip_build_request(&s, out + 1024, (size_t)cap), -ENOSPC);
	n = sip_build_request(&s, out, sizeof(out));
	/* ACK for a 486 */
	const char *rsp = "SIP/2.0 486 Busy Here\r\n"
			  "Via: SIP/2.0/TLS [2001:db8::50]:5061;branch=z9hG4bK00000000000000010000000000abcdef;rport\r\n"
			  "From: <sip:+155500011@sbc.example.com>;tag=f1\r\n"
			  "To: <sip:+4930123@carrier.example.net>;tag=callee9\r\n"
			  "Call-ID: b-leg-1@sbc\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(sip_parse(rsp, strlen(rsp), &A), 0);
	int an = sip_build_ack_non2xx(&R, &A, ack, sizeof(ack));
	assert_true(an > 0);
	static sip_msg K;
	assert_int_equal(sip_parse(ack, (size_t)an, &K), 0);
	assert_int_equal(K.method, SIP_M_ACK);
	assert_sv(K.ruri_text, "sip:+4930123@carrier.example.net;user=phone");
	assert_sv(K.via[0].branch, branch);
	assert_sv(K.to.tag, "callee9");
	assert_int_equal(K.cseq, 1);
	assert_int_equal(K.cseq_method, SIP_M_ACK);
	assert_non_null(sip_hdr_get(&K, SIP_H_ROUTE, 0));
	int cn = sip_build_cancel(&R, can, sizeof(can));
	assert_true(cn > 0);
	assert_int_equal(sip_parse(can, (size_t)cn, &K), 0);
	assert_int_equal(K.method, SIP_M_CANCEL);
	assert_false(K.to.has_tag);
	assert_sv(K.via[0].branch, branch);
	assert_int_equal(sip_build_ack_non2xx(&R, &R, ack, sizeof(ack)), -EINVAL);
	/* injection through the Request-URI is refused */
	s.ruri = SIP_SV("sip:a@b SIP/2.0\r\nX: y");
	assert_int_equal(sip_build_request(&s, out, sizeof(out)), -EINVAL);
	s.ruri = SIP_SV("sip:a@b");
	s.from = SIP_SV("<sip:a@b>\r\nX-Evil: 1");
	assert_int_equal(sip_build_request(&s, out, sizeof(out)), -EINVAL);
}

/* sip_msg_rebase: a message parsed in one buffer and moved onto a copy
 * must equal a fresh parse of the copy, field by field (pointers included),
 * and keep nothing pointing into the first buffer. */
static void same_sv(sip_sv a, sip_sv b)
{
	assert_ptr_equal(a.p, b.p);
	assert_int_equal(a.n, b.n);
}

static void same_uri(const sip_uri *a, const sip_uri *b)
{
	assert_int_equal(a->scheme, b->scheme);
	assert_int_equal(a->host_v6, b->host_v6);
	assert_int_equal(a->user_phone, b->user_phone);
	assert_int_equal(a->lr, b->lr);
	assert_int_equal(a->port, b->port);
	same_sv(a->user, b->user);
	same_sv(a->password, b->password);
	same_sv(a->host, b->host);
	same_sv(a->params, b->params);
	same_sv(a->headers, b->headers);
	same_sv(a->transport, b->transport);
	same_sv(a->maddr, b->maddr);
}

static void same_naddr(const sip_naddr *a, const sip_naddr *b)
{
	same_sv(a->raw, b->raw);
	same_sv(a->display, b->display);
	same_sv(a->uri_text, b->uri_text);
	same_uri(&a->uri, &b->uri);
	same_sv(a->params, b->params);
	same_sv(a->tag, b->tag);
	assert_int_equal(a->star, b->star);
	assert_int_equal(a->has_tag, b->has_tag);
}

static void same_msg(const sip_msg *a, const sip_msg *b)
{
	assert_ptr_equal(a->buf, b->buf);
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->is_request, b->is_request);
	assert_int_equal(a->method, b->method);
	same_sv(a->method_name, b->method_name);
	same_sv(a->ruri_text, b->ruri_text);
	same_uri(&a->ruri, &b->ruri);
	assert_int_equal(a->status, b->status);
	same_sv(a->reason, b->reason);
	assert_int_equal(a->n_hdr, b->n_hdr);
	for (unsigned i = 0; i < a->n_hdr; i++) {
		assert_int_equal(a->hdr[i].id, b->hdr[i].id);
		same_sv(a->hdr[i].name, b->hdr[i].name);
		same_sv(a->hdr[i].value, b->hdr[i].value);
		same_sv(a->hdr[i].line, b->hdr[i].line);
	}
	assert_memory_equal(a->first, b->first, sizeof(a->first));
	assert_int_equal(a->n_via, b->n_via);
	for (unsigned i = 0; i < a->n_via; i++) {
		const sip_via *x = &a->via[i], *y = &b->via[i];
		same_sv(x->raw, y->raw);
		same_sv(x->transport, y->transport);
		same_sv(x->host, y->host);
		assert_int_equal(x->port, y->port);
		assert_int_equal(x->host_v6, y->host_v6);
		assert_int_equal(x->rport_present, y->rport_present);
		assert_int_equal(x->rport, y->rport);
		same_sv(x->branch, y->branch);
		same_sv(x->received, y->received);
		same_sv(x->maddr, y->maddr);
		same_sv(x->params, y->params);
	}
	same_naddr(&a->from, &b->from);
	same_naddr(&a->to, &b->to);
	same_sv(a->call_id, b->call_id);
	assert_int_equal(a->cseq, b->cseq);
	assert_int_equal(a->cseq_method, b->cseq_method);
	same_sv(a->cseq_method_name, b->cseq_method_name);
	assert_int_equal(a->max_forwards, b->max_forwards);
	assert_int_equal(a->content_length, b->content_length);
	assert_int_equal(a->n_contact, b->n_contact);
	same_sv(a->body, b->body);
}

static sip_msg M2; /* the fresh parse of the copy */

static void test_rebase(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		INVITE_BASIC,
		"SIP/2.0 180 Ringing\r\n"
		"Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKa, SIP/2.0/TLS [2001:db8::5]:5061;branch=z9hG4bKb\r\n"
		"v: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKc;received=198.51.100.7;rport=40000;maddr=h.example\r\n"
		"f: <sip:a:pw@example.com?subject=x>;tag=x\r\n"
		"t: \"B, the \\\"second\\\"\" <tel:+15551234567;phone-context=x>;tag=y\r\n"
		"i: m1\r\n"
		"CSeq: 2 INVITE\r\n"
		"m: <sip:b1@[2001:db8::7]:5080;transport=tls>;q=0.5, \"Two, Three\" <sip:b2@h>\r\n"
		"X-Odd: folded\r\n  value\r\n"
		"l: 4\r\n\r\nbodyEXTRA", /* bytes past Content-Length: not part of the message */
		"BYE sips:[2001:db8::9]:5061;transport=tcp;lr SIP/2.0\r\n"
		"Via: SIP/2.0/TLS 192.0.2.1;branch=z9hG4bKq;rport\r\n"
		"From: <sip:x@y>;tag=1\r\nTo: <sip:z@w>;tag=2\r\nCall-ID: c\r\nCSeq: 7 BYE\r\nMax-Forwards: 9\r\n"
		"Content-Length: 0\r\n\r\n", /* an empty body at the very end */
	};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		size_t len = strlen(msgs[i]);
		char *one = malloc(len), *two = malloc(len);
		assert_non_null(one);
		assert_non_null(two);
		memcpy(one, msgs[i], len);
		assert_int_equal(sip_parse(one, len, &M), 0);
		memcpy(two, one, M.len); /* what the B2BUA keeps: the message's own bytes */
		sip_msg_rebase(&M, two);
		assert_int_equal(sip_parse(two, M.len, &M2), 0);
		same_msg(&M, &M2);
		memset(one, 'X', len); /* the receive buffer is reused: nothing may read it */
		free(one);
		assert_true(M.body.n == 0 || M.body.p[0] == two[M.body.p - two]);
		free(two);
	}
	/* literals (not in the buffer) stay where they are */
	M.body = SIP_SV("lit");
	const char *lit = M.body.p;
	char other[8] = "abc";
	M.buf = other;
	M.len = sizeof(other);
	sip_msg_rebase(&M, "zzzzzzzz");
	assert_ptr_equal(M.body.p, lit);
}

/* sip_buf_json: call records' strings (plain runs, escapes, bounds). */
static void test_buf_json(void **state)
{
	(void)state;
	char out[64];
	sip_buf b;
	sip_buf_init(&b, out, sizeof(out));
	sip_buf_json(&b, "ab\"c\\d\x01\x7f\xc3\xbc", 10);
	assert_int_equal(sip_buf_end(&b), 34);
	assert_string_equal(out, "\"ab\\\"c\\\\d\\u0001\\u007f\\u00c3\\u00bc\"");
	sip_buf_init(&b, out, sizeof(out));
	sip_buf_json(&b, "", 0);
	sip_buf_json(&b, "+4930", 5);
	assert_int_equal(sip_buf_end(&b), 9);
	assert_string_equal(out, "\"\"\"+4930\"");
	sip_buf_init(&b, out, 8); /* never past cap: the error is kept */
	sip_buf_json(&b, "\x01\x02", 2);
	assert_int_equal(sip_buf_end(&b), -ENOSPC);
}

/* The header scan goes eight bytes at a time (line_scan in sip_parse.c,
 * value_safe in sip_build.c): a NUL, a bare CR, a tab or another control at
 * every offset of a value, in the first line or in a folded one, must give
 * what a plain byte-by-byte rule says. */
static int ref_value_bad(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == 0 || (v[i] == '\r' && (i + 1 >= n || v[i + 1] != '\n')))
			return 1;
	return 0;
}

static void test_scan_every_offset(void **state)
{
	(void)state;
	static const char specials[] = {0, '\r', '\t', 0x01, 0x1f, 0x7f, (char)0xc3, ' '};
	static char msg[512];
	char val[64];
	unsigned bad = 0, good = 0;
	for (size_t vlen = 1; vlen <= 40; vlen += 3) {
		for (int fold = -1; fold < (int)vlen; fold += 7) {
			for (size_t k = 0; k < vlen; k++) {
				for (size_t s = 0; s < sizeof(specials); s++) {
					/* the value: 'a's, a fold "\r\n " at fold (or none),
					 * one special byte at k */
					size_t n = 0;
					for (size_t i = 0; i < vlen; i++) {
						if ((int)i == fold && i > 0) {
							memcpy(val + n, "\r\n ", 3);
							n += 3;
						}
						val[n++] = i == k ? specials[s] : (char)('a' + i % 26);
					}
					/* leading and trailing blanks are trimmed: keep values comparable */
					if (val[n - 1] == ' ' || val[n - 1] == '\t')
						val[n - 1] = 'z';
					if (val[0] == ' ' || val[0] == '\t')
						val[0] = 'z';
					int want_bad = ref_value_bad(val, n);
					size_t m = 0;
					memcpy(msg, RL VIA FROM TO CID CSEQ "X-Pad: ", strlen(RL VIA FROM TO CID CSEQ "X-Pad: "));
					m = strlen(RL VIA FROM TO CID CSEQ "X-Pad: ");
					memcpy(msg + m, val, n);
					m += n;
					memcpy(msg + m, "\r\nContent-Length: 0\r\n\r\n", 23);
					m += 23;
					char *copy = malloc(m); /* exact size: ASan sees any overread */
					memcpy(copy, msg, m);
					int r = sip_parse(copy, m, &M);
					if (want_bad) {
						bad++;
						if (r != sbc_err_sip(400) || strcmp(M.err_reason, "bad character in header") != 0) {
							print_error("vlen %zu fold %d k %zu byte %02x: got %d\n", vlen, fold, k,
								    (unsigned char)specials[s], r);
							fail();
						}
					} else {
						good++;
						if (r != 0) {
							print_error("vlen %zu fold %d k %zu byte %02x: got %d (%s)\n", vlen, fold, k,
								    (unsigned char)specials[s], r, M.err_reason);
							fail();
						}
						const sip_hdr *h = sip_hdr_find(&M, "X-Pad");
						assert_non_null(h);
						assert_int_equal(h->value.n, n);
						assert_memory_equal(h->value.p, val, n);
						assert_int_equal(M.content_length, 0);
					}
					/* the builder's check (a fold needs SP/HTAB after LF, no NUL,
					 * no bare CR): the same rule plus bare LF */
					int want_bad_b = want_bad;
					for (size_t i = 0; i < n; i++)
						if (val[i] == '\n' && (i + 1 >= n || (val[i + 1] != ' ' && val[i + 1] != '\t')))
							want_bad_b = 1;
					char out[256];
					sip_buf b;
					sip_buf_init(&b, out, sizeof(out));
					sip_buf_hdr(&b, "X-Pad", (sip_sv){copy + m - n - 23, n});
					assert_int_equal(sip_buf_end(&b) < 0, want_bad_b);
					free(copy);
				}
			}
		}
	}
	assert_true(bad > 100 && good > 100);
	/* bare LF inside a built value, a CR or LF as the last byte */
	char out[64];
	sip_buf b;
	static const char *const evil[] = {"a\nb", "ab\r", "ab\n", "abcdefghijklmn\nX-Evil: 1", "abcdefghij\r"};
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		sip_buf_init(&b, out, sizeof(out));
		sip_buf_hdr(&b, "X", (sip_sv){evil[i], strlen(evil[i])});
		assert_int_equal(sip_buf_end(&b), -EINVAL);
	}
	sip_buf_init(&b, out, sizeof(out));
	sip_buf_hdr(&b, "X", SIP_SV("abcdefghij\r\n\tklm"));
	assert_int_equal(sip_buf_end(&b), (int)strlen("X: abcdefghij\r\n\tklm\r\n"));
	/* a line that ends at the buffer's end with a bare CR: no empty line */
	static const char trunc[] = RL VIA FROM TO CID CSEQ "X-Pad: abcdefghijklmnop\r";
	char *copy = malloc(sizeof(trunc) - 1);
	memcpy(copy, trunc, sizeof(trunc) - 1);
	assert_int_equal(sip_parse(copy, sizeof(trunc) - 1, &M), sbc_err_sip(400));
	assert_string_equal(M.err_reason, "no empty line after headers");
	free(copy);
}

/* sip_header_id compares eight bytes at a time with case folding: every
 * known name in mixed case is found, and one changed byte anywhere (a
 * neighbour letter, CR for '-', '_' or '@' beside letters' cases) is not. */
static void test_header_id_every_byte(void **state)
{
	(void)state;
	static const char subst[] = {'\r', '_', '@', '`', '{', 0x00, 0x0d ^ 0x20, (char)0xc1};
	char name[32];
	unsigned found = 0, refused = 0;
	for (int id = 1; id < SIP_H_MAX_; id++) {
		const char *ln = sip_header_name((enum sip_hdr_id)id);
		size_t n = strlen(ln);
		assert_true(n < sizeof(name));
		for (int mix = 0; mix < 4; mix++) {
			for (size_t i = 0; i < n; i++) {
				char c = ln[i];
				int up = mix == 0 ? 0 : mix == 1 ? 1 : (int)((i + (size_t)mix) % 2);
				if (c >= 'a' && c <= 'z' && up)
					c = (char)(c - 32);
				else if (c >= 'A' && c <= 'Z' && !up)
					c = (char)(c + 32);
				name[i] = c;
			}
			assert_int_equal(sip_header_id((sip_sv){name, n}), id);
			found++;
		}
		memcpy(name, ln, n);
		for (size_t i = 0; i < n; i++) {
			char keep = name[i];
			for (size_t k = 0; k < sizeof(subst) + 1; k++) {
				name[i] = k < sizeof(subst) ? subst[k] : (char)(keep == 'z' || keep == 'Z' ? keep - 1 : keep + 1);
				char a = name[i];
				int letters = ((a | 0x20) >= 'a' && (a | 0x20) <= 'z') &&
					      ((keep | 0x20) >= 'a' && (keep | 0x20) <= 'z');
				if (a == keep || (letters && (a | 0x20) == (keep | 0x20)))
					continue; /* the same byte, or the same letter in the other case */
				enum sip_hdr_id got = sip_header_id((sip_sv){name, n});
				if ((int)got == id) {
					print_error("%s with byte %zu = %02x still found\n", ln, i, (unsigned char)name[i]);
					fail();
				}
				refused++;
			}
			name[i] = keep;
		}
		/* one byte shorter or longer: never the same id */
		if (n > 2) /* "T" is To's compact form */
			assert_int_not_equal(sip_header_id((sip_sv){ln, n - 1}), id);
		name[n] = 'x';
		assert_int_not_equal(sip_header_id((sip_sv){name, n + 1}), id);
	}
	assert_true(found > 150 && refused > 1000);
	assert_int_equal(sip_header_id(SIP_SV("p-asserted-identity")), SIP_H_P_ASSERTED_IDENTITY);
	assert_int_equal(sip_header_id(SIP_SV("Content\rLength")), SIP_H_OTHER);
	assert_int_equal(sip_header_id(SIP_SV("l")), SIP_H_CONTENT_LENGTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_invite),
		cmocka_unit_test(test_compact_forms),
		cmocka_unit_test(test_torture_wsinv),
		cmocka_unit_test(test_torture_more),
		cmocka_unit_test(test_multiple_values),
		cmocka_unit_test(test_uris),
		cmocka_unit_test(test_ipv6_and_case),
		cmocka_unit_test(test_tolerated_oddities),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_build_response),
		cmocka_unit_test(test_build_request_ack_cancel),
		cmocka_unit_test(test_rebase),
		cmocka_unit_test(test_buf_json),
		cmocka_unit_test(test_scan_every_offset),
		cmocka_unit_test(test_header_id_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
