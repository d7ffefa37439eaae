/* Unit tests for the B2BUA routing helpers (b2b_route.h): the called
 * number from Request-URI / To, the route lookup against a real LMDB store
 * in a temporary directory (404, 484 for short and incomplete numbers,
 * strip/prepend), and the failover decisions (408, 5xx, 503 + Retry-After
 * from the same peer, never after 6xx, local SRTP 488). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "../../../sbc-signal/src/b2b_route.h"

static sip_msg M;

static void parse_invite(const char *ruri, const char *to)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf),
		 "INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
		 "From: <sip:a@192.0.2.1>;tag=1\r\nTo: %s\r\nCall-ID: r1\r\nCSeq: 1 INVITE\r\n\r\n",
		 ruri, to);
	assert_int_equal(sip_parse(buf, strlen(buf), &M), 0);
}

static void test_called_number(void **state)
{
	char num[STORE_NUMBER_MAX + 1];
	(void)state;
	parse_invite("sip:+1-555-123-4567@sbc.example.com;user=phone", "<sip:ignored@x>");
	assert_int_equal(b2b_called_number(&M, num), 12);
	assert_string_equal(num, "+15551234567");
	parse_invite("tel:+49(30)123456", "<tel:+1>");
	assert_int_equal(b2b_called_number(&M, num), 11);
	assert_string_equal(num, "+4930123456");
	parse_invite("sip:%2B4930123;npdi;rn=+4930999@198.51.100.1", "<sip:x@y>");
	assert_int_equal(b2b_called_number(&M, num), 8);
	assert_string_equal(num, "+4930123");
	/* no user in the Request-URI: To's */
	parse_invite("sip:sbc.example.com", "\"Bob\" <sip:0049.30.777@carrier.example>");
	assert_int_equal(b2b_called_number(&M, num), 9);
	assert_string_equal(num, "004930777");
	/* not a number, or nothing at all */
	parse_invite("sip:alice@sbc.example.com", "<sip:b@x>");
	assert_int_equal(b2b_called_number(&M, num), sbc_err_sip(404));
	parse_invite("sip:sbc.example.com", "<sip:sbc.example.com>");
	assert_int_equal(b2b_called_number(&M, num), sbc_err_sip(404));
	parse_invite("sip:%00123@h", "<sip:b@x>");
	assert_int_equal(b2b_called_number(&M, num), sbc_err_sip(404));
}

static char dir[64];
static store *ST;
static store_reader *RD;

static int store_setup(void **state)
{
	char err[256];
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/b2b_route_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/store", dir);
	if (store_open(path, STORE_CREATE | STORE_NOSYNC, 1 << 24, &ST, err, sizeof(err)) < 0) {
		print_error("store_open: %s\n", err);
		return -1;
	}
	const char *trunks[] = {"carrier-a", "carrier-b"};
	for (int i = 0; i < 2; i++) {
		store_trunk t;
		store_trunk_init(&t, trunks[i]);
		if (store_trunk_put(ST, &t, true, err, sizeof(err)) < 0) {
			print_error("trunk: %s\n", err);
			return -1;
		}
	}
	store_route routes[] = {
		{.prefix = "+49", .trunk = "carrier-a", .priority = 10, .weight = 100},
		{.prefix = "+49", .trunk = "carrier-b", .priority = 20, .weight = 100},
		{.prefix = "+4930", .trunk = "carrier-b", .priority = 10, .weight = 100, .strip = 3, .prepend = "0"},
		{.prefix = "1800555", .trunk = "carrier-a", .priority = 10, .weight = 100},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (store_route_add(ST, &routes[i], err, sizeof(err)) < 0) {
			print_error("route: %s\n", err);
			return -1;
		}
	return store_reader_open(ST, &RD) == 0 ? 0 : -1;
}

static int store_teardown(void **state)
{
	char cmd[128];
	(void)state;
	store_reader_close(RD);
	store_close(ST);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_route_lookup(void **state)
{
	store_route out[8];
	char num[STORE_NUMBER_MAX + 1];
	b2b_route_opts o = {.min_digits = 5};
	(void)state;
	/* longest prefix wins */
	assert_int_equal(b2b_route_lookup(RD, "+4930123456", &o, out, 8, NULL, NULL), 1);
	assert_string_equal(out[0].trunk, "carrier-b");
	/* strip 3 drops '+' and "493", prepend "0" */
	assert_int_equal(b2b_route_number(&out[0], "+4930123456", num), 8);
	assert_string_equal(num, "00123456");
	/* both routes of +49, by priority */
	assert_int_equal(b2b_route_lookup(RD, "+49 89 1234", &o, out, 8, NULL, NULL), 2);
	assert_string_equal(out[0].trunk, "carrier-a");
	assert_string_equal(out[1].trunk, "carrier-b");
	assert_int_equal(b2b_route_number(&out[0], "+49891234", num), 9);
	assert_string_equal(num, "+49891234");
	/* no route: 404; too short: 484; a prefix of a longer route: 484 */
	assert_int_equal(b2b_route_lookup(RD, "+331234567", &o, out, 8, NULL, NULL), sbc_err_sip(404));
	assert_int_equal(b2b_route_lookup(RD, "+4912", &o, out, 8, NULL, NULL), sbc_err_sip(484));
	assert_int_equal(b2b_route_lookup(RD, "18005", &o, out, 8, NULL, NULL), sbc_err_sip(484));
	assert_int_equal(b2b_route_lookup(RD, "1800555", &o, out, 8, NULL, NULL), 1);
	assert_int_equal(b2b_route_lookup(RD, "19005", &o, out, 8, NULL, NULL), sbc_err_sip(404));
	assert_int_equal(b2b_route_lookup(RD, "abc", &o, out, 8, NULL, NULL), sbc_err_sip(404));
	/* strip longer than the number */
	store_route bad = {.prefix = "1", .trunk = "carrier-a", .strip = 30};
	assert_int_equal(b2b_route_number(&bad, "123", num), sbc_err_sip(404));
}

static void test_failover(void **state)
{
	b2b_failover fo;
	(void)state;
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_on_final(&fo, 408, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_on_final(&fo, B2B_FO_LOCAL_TIMEOUT, -1, "b"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_on_final(&fo, 500, -1, "c"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_on_final(&fo, 502, -1, "c"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_result(&fo), 500); /* 5xx beats 408 */
	/* 503 without Retry-After: next, peer not blocked */
	assert_int_equal(b2b_failover_on_final(&fo, 503, -1, "d"), B2B_FO_NEXT);
	assert_false(b2b_failover_skip(&fo, "d"));
	/* 503 with Retry-After: next, and that peer is skipped from now on */
	assert_int_equal(b2b_failover_on_final(&fo, 503, 30, "e"), B2B_FO_NEXT);
	assert_true(b2b_failover_skip(&fo, "e"));
	assert_false(b2b_failover_skip(&fo, "f"));
	/* a 4xx other than 408 is relayed */
	assert_int_equal(b2b_failover_on_final(&fo, 486, -1, "f"), B2B_FO_RELAY);
	assert_int_equal(b2b_failover_result(&fo), 486);
	/* 6xx: relayed at once, and it wins */
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_on_final(&fo, 503, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_on_final(&fo, 603, -1, "b"), B2B_FO_RELAY);
	assert_int_equal(b2b_failover_result(&fo), 603);
	/* our SRTP 488: fail over; relayed as 488 if nothing better */
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_on_final(&fo, B2B_FO_LOCAL_SRTP, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_on_final(&fo, B2B_FO_LOCAL_TIMEOUT, -1, "b"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_result(&fo), 488);
	/* a remote 488 is relayed */
	assert_int_equal(b2b_failover_on_final(&fo, 488, -1, "c"), B2B_FO_RELAY);
	/* a delayed offer missing from the trunk's 2xx: a 502 of ours, fails
	 * over, relayed as 502 when it is the last; a 6xx after it still wins */
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_on_final(&fo, B2B_FO_LOCAL_OFFER, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_result(&fo), 502);
	assert_int_equal(b2b_failover_on_final(&fo, B2B_FO_LOCAL_TIMEOUT, -1, "b"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_result(&fo), 502);
	assert_int_equal(b2b_failover_on_final(&fo, 603, -1, "c"), B2B_FO_RELAY);
	assert_int_equal(b2b_failover_result(&fo), 603);
	/* 3xx relayed; transport failure counts as 503 */
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_on_final(&fo, B2B_FO_LOCAL_TRANSPORT, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_result(&fo), 503);
	assert_int_equal(b2b_failover_on_final(&fo, 302, -1, "b"), B2B_FO_RELAY);
	/* nothing at all: 408 */
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_result(&fo), 408);
	/* attempt limit */
	b2b_failover_init(&fo, 2);
	assert_int_equal(b2b_failover_on_final(&fo, 500, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_on_final(&fo, 500, -1, "b"), B2B_FO_RELAY);
	/* bogus status values are treated as 500 */
	b2b_failover_init(&fo, 0);
	assert_int_equal(b2b_failover_on_final(&fo, 42, -1, "a"), B2B_FO_NEXT);
	assert_int_equal(b2b_failover_result(&fo), 500);
	/* many blocked peers: bounded */
	char id[16];
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		b2b_failover_on_final(&fo, 503, 5, id);
	}
	assert_int_equal(fo.n_blocked, B2B_FO_MAX_BLOCKED);
}

static void test_retry_after(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"Retry-After: 120\r\n", "120"},
		{"Retry-After: 18000;duration=3600\r\n", "18000"},
		{"Retry-After: 60 (in a meeting)\r\n", "60"},
		{"Retry-After: soon\r\n", "-1"},
		{"Retry-After: 99999999999\r\n", "-1"},
		{"", "-1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[512];
		snprintf(buf, sizeof(buf),
			 "SIP/2.0 503 Busy\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
			 "To: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n%s\r\n",
			 cases[i][0]);
		assert_int_equal(sip_parse(buf, strlen(buf), &M), 0);
		assert_int_equal(b2b_retry_after(&M), atoi(cases[i][1]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_called_number),
		cmocka_unit_test_setup_teardown(test_route_lookup, store_setup, store_teardown),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_retry_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
