/* Unit test of sbc-signal's view of runtime.json (sig_config.c): the
 * signal.timers defaults have one home, the shared configuration table
 * (shared/src/config.c); the B2BUA takes them from its sig_config only.
 *  1. sig_config_defaults: no_response_ms 3000, no_answer_ms 180000 (Timer
 *     C, RFC 3261 16.6: more than 3 minutes), t1_ms 500 (RFC 3261 T1),
 *     session_min_s 90 (RFC 4028's smallest Min-SE).
 *  2. A runtime.json without timers gets the same values; one that sets
 *     one timer keeps the table's defaults for the others.
 *  3. A timer out of the table's range is refused, the key named
 *     (session_min_s 0 too: a floor of 0 would clear calls at once). */
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
#include "../../../sbc-signal/src/sig_config.h"

static char g_path[] = "/tmp/sigcfgXXXXXX";

static int load(const char *timers, sig_config *cfg, char *err, size_t errlen)
{
	FILE *f = fopen(g_path, "w");
	assert_non_null(f);
	fprintf(f, "{\"signal\": {\"workers\": 1, \"listen\": [{\"transport\": \"udp\", \"address\": \"127.0.0.1:5060\"}]%s%s}}",
		timers ? ", \"timers\": " : "", timers ? timers : "");
	fclose(f);
	return sig_config_load(g_path, cfg, err, errlen);
}

static void test_defaults(void **st)
{
	(void)st;
	sig_config c;
	sig_config_defaults(&c);
	assert_int_equal(c.no_response_ms, 3000);
	assert_int_equal(c.no_answer_ms, 180000);
	assert_int_equal(c.t1_ms, 500);
	assert_int_equal(c.session_min_s, 90);
	sig_config_free(&c);
}

static void test_loaded(void **st)
{
	(void)st;
	sig_config c;
	char err[256] = "";
	assert_int_equal(load(NULL, &c, err, sizeof(err)), 0);
	assert_int_equal(c.no_response_ms, 3000);
	assert_int_equal(c.no_answer_ms, 180000);
	assert_int_equal(c.t1_ms, 500);
	sig_config_free(&c);
	assert_int_equal(load("{\"no_response_ms\": 1234}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.no_response_ms, 1234);
	assert_int_equal(c.no_answer_ms, 180000);
	assert_int_equal(c.t1_ms, 500);
	sig_config_free(&c);
	assert_int_equal(load("{\"t1_ms\": 50, \"no_answer_ms\": 9000}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.no_response_ms, 3000);
	assert_int_equal(c.no_answer_ms, 9000);
	assert_int_equal(c.t1_ms, 50);
	assert_int_equal(c.session_min_s, 90);
	sig_config_free(&c);
	assert_int_equal(load("{\"session_min_s\": 1}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.session_min_s, 1);
	assert_int_equal(c.t1_ms, 500);
	sig_config_free(&c);
}

static void test_out_of_range(void **st)
{
	(void)st;
	sig_config c;
	char err[256] = "";
	assert_int_equal(load("{\"t1_ms\": 5}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.timers.t1_ms"));
	err[0] = 0;
	assert_int_equal(load("{\"no_response_ms\": 0}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.timers.no_response_ms"));
	err[0] = 0;
	assert_int_equal(load("{\"session_min_s\": 0}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.timers.session_min_s"));
	err[0] = 0;
	assert_int_equal(load("{\"session_min_s\": \"x\"}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.timers.session_min_s"));
}

int main(void)
{
	int fd = mkstemp(g_path);
	if (fd < 0)
		return 1;
	close(fd);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_loaded),
		cmocka_unit_test(test_out_of_range),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(g_path);
	return r;
}
