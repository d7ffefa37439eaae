/* sbc-control: configuration table and loader; JSON-RPC param validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-control/src/ctl_config.h"
#include "../../../sbc-control/src/ctl_rpc.h"

static int apply(ctl_config *c, const char *text, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	assert_non_null(o);
	int ret = ctl_config_apply_json(c, o, err, errlen);
	json_decref(o);
	return ret;
}

static void test_defaults(void **state)
{
	ctl_config c;
	char err[256];
	ctl_config_defaults(&c);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), 0);
	assert_int_equal(c.signal.nlisten, 3);
	assert_string_equal(c.signal.listen[2].transport, "tls");
	assert_string_equal(c.signal.listen[2].tls_profile, "default");
	assert_string_equal(c.media.address, "127.0.0.1");
	assert_int_equal(c.media.port_min, 30000);
	assert_int_equal(c.media.port_max, 39999);
	assert_true(c.demo.enabled);
	assert_true(c.data_dir[0] == '/');
	assert_non_null(strstr(c.data_dir, "/run"));
	char want[PATH_MAX + 16];
	snprintf(want, sizeof(want), "%s/store", c.data_dir);
	assert_string_equal(c.store_path, want);
	snprintf(want, sizeof(want), "%s/control.sock", c.data_dir);
	assert_string_equal(c.control.socket, want);
}

static void test_full_file(void **state)
{
	ctl_config c;
	char err[256] = "";
	ctl_config_defaults(&c);
	assert_int_equal(apply(&c,
			       "{\"log_level\":\"debug\",\"data_dir\":\"/tmp/x\",\"store_path\":\"/tmp/y\","
			       "\"signal\":{\"workers\":2,\"listen\":[{\"transport\":\"udp\",\"address\":\"[::1]:5070\"},"
			       "{\"transport\":\"tls\",\"address\":\"127.0.0.1:5071\"}]},"
			       "\"media\":{\"workers\":3,\"address\":\"::1\",\"port_min\":20000,\"port_max\":20999,"
			       "\"backend\":\"xdp\",\"rtp_timeout_ms\":1000,\"xdp_interfaces\":\"eth0,eth1\"},"
			       "\"control\":{\"max_request_bytes\":2048,\"restart_max\":1}}",
			       err, sizeof(err)),
			 0);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), 0);
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.store_path, "/tmp/y");
	assert_int_equal(c.signal.workers, 2);
	assert_int_equal(c.signal.nlisten, 2);
	assert_string_equal(c.signal.listen[1].tls_profile, "default"); /* tls gets the default profile */
	assert_string_equal(c.media.address, "::1");
	assert_int_equal(c.media.workers, 3);
	assert_int_equal(c.control.max_request_bytes, 2048);
	assert_false(c.demo.enabled); /* a config file turns the demo off unless asked */

	json_t *rt = ctl_config_runtime_json(&c);
	assert_non_null(rt);
	assert_null(json_object_get(rt, "control"));
	assert_null(json_object_get(rt, "demo"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rt, "media"), "port_max")), 20999);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rt, "media"), "xdp_interfaces")),
			    "eth0,eth1");
	json_decref(rt);
}

/* Each bad input fails, names the key, and leaves the config untouched. */
static void test_errors_name_the_key(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"colour\":1}", "colour: unknown key"},
		{"{\"signal\":{\"wokers\":1}}", "signal.wokers: unknown key"},
		{"{\"signal\":{\"workers\":0}}", "signal.workers: 0 out of range 1..32"},
		{"{\"signal\":{\"workers\":33}}", "signal.workers: 33 out of range"},
		{"{\"signal\":{\"workers\":1.5}}", "signal.workers: expected an integer"},
		{"{\"signal\":{\"workers\":true}}", "signal.workers: expected an integer"},
		{"{\"signal\":5}", "signal: expected an object"},
		{"{\"signal\":{\"listen\":{}}}", "signal.listen: expected an array"},
		{"{\"signal\":{\"listen\":[]}}", "signal.listen: 0 listeners"},
		{"{\"signal\":{\"listen\":[5]}}", "signal.listen[0]: expected an object"},
		{"{\"signal\":{\"listen\":[{\"transport\":\"udp\"}]}}", "signal.listen[0].address: missing"},
		{"{\"signal\":{\"listen\":[{\"transport\":\"ws\",\"address\":\"1.2.3.4:5\"}]}}",
		 "signal.listen[0].transport: \"ws\" is not one of udp|tcp|tls"},
		{"{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4\"}]}}",
		 "signal.listen[0].address"},
		{"{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\",\"x\":1}]}}",
		 "signal.listen[0].x: unknown key"},
		{"{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\",\"tls_profile\":\"p\"}]}}",
		 "signal.listen[0].tls_profile: only allowed on a tls listener"},
		{"{\"media\":{\"address\":\"localhost\"}}", "media.address: \"localhost\" is not an IP address"},
		{"{\"media\":{\"address\":\"1.2.3.4:5\"}}", "media.address"},
		{"{\"media\":{\"port_min\":80}}", "media.port_min: 80 out of range"},
		{"{\"media\":{\"backend\":\"dpdk\"}}", "media.backend"},
		{"{\"log_level\":7}", "log_level: expected a string"},
		{"{\"log_level\":\"verbose\"}", "log_level: \"verbose\" is not one of"},
		{"{\"data_dir\":\"\"}", "data_dir: must not be empty"},
		{"{\"control\":{\"ring_bytes\":5000}}", "control.ring_bytes: 5000 is not a power of two"},
		{"{\"control\":{\"max_request_bytes\":10}}", "control.max_request_bytes: 10 out of range"},
		{"{\"demo\":{\"inbound_cidr\":\"10.0.0.0/99\"}}", "demo.inbound_cidr"},
		{"{\"demo\":{\"enabled\":1}}", "demo.enabled: expected true or false"},
		{"[1]", "expected a JSON object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ctl_config c, before;
		char err[256] = "";
		ctl_config_defaults(&c);
		before = c;
		int ret = apply(&c, cases[i].json, err, sizeof(err));
		if (ret != SBC_E_CONFIG || !strstr(err, cases[i].want))
			fail_msg("case %zu %s: ret %d err \"%s\" (want \"%s\")", i, cases[i].json, ret, err, cases[i].want);
		assert_memory_equal(&c, &before, sizeof(c));
	}
}

static void test_finalize_cross_checks(void **state)
{
	ctl_config c;
	char err[256] = "";
	ctl_config_defaults(&c);
	assert_int_equal(apply(&c, "{\"media\":{\"port_min\":30000,\"port_max\":30000}}", err, sizeof(err)), 0);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "media.port_min"));

	ctl_config_defaults(&c);
	assert_int_equal(apply(&c,
			       "{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\"},"
			       "{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\"}]}}",
			       err, sizeof(err)),
			 0);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.listen[1]: duplicates signal.listen[0]"));

	ctl_config_defaults(&c);
	assert_int_equal(apply(&c, "{\"signal\":{\"workers\":9},\"media\":{\"workers\":9}}", err, sizeof(err)), 0);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "rings"));

	ctl_config_defaults(&c);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	char js[300];
	snprintf(js, sizeof(js), "{\"control\":{\"socket\":\"/%s\"}}", longp);
	assert_int_equal(apply(&c, js, err, sizeof(err)), 0);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "control.socket"));
}

static void test_load_file_errors(void **state)
{
	char path[] = "/tmp/ctlcfgXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"signal\":\n{\"workers\": }", 25), 25);
	close(fd);
	ctl_config c;
	char err[256] = "";
	ctl_config_defaults(&c);
	assert_int_equal(ctl_config_load_file(&c, path, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, ":2:")); /* line number */
	unlink(path);
	assert_int_equal(ctl_config_load_file(&c, path, err, sizeof(err)), SBC_E_CONFIG);
}

static void test_runtime_written_atomically(void **state)
{
	char dir[] = "/tmp/ctlrtXXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/runtime.json", dir);
	ctl_config c;
	char err[256];
	ctl_config_defaults(&c);
	assert_int_equal(ctl_config_finalize(&c, err, sizeof(err)), 0);
	assert_int_equal(ctl_config_write_runtime(&c, path, err, sizeof(err)), 0);
	json_error_t je;
	json_t *o = json_load_file(path, 0, &je);
	assert_non_null(o);
	/* The file the children read parses back into the same configuration. */
	ctl_config back;
	ctl_config_defaults(&back);
	assert_int_equal(ctl_config_apply_json(&back, o, err, sizeof(err)), 0);
	assert_int_equal(ctl_config_finalize(&back, err, sizeof(err)), 0);
	assert_memory_equal(&back.signal, &c.signal, sizeof(c.signal));
	assert_memory_equal(&back.media, &c.media, sizeof(c.media));
	json_decref(o);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);
	unlink(path);
	rmdir(dir);
}

/* ---- params of the method table ---------------------------------------------- */

static int check(const char *method, const char *params, char *msg, size_t len)
{
	const ctl_method *m = ctl_method_find(method);
	assert_non_null(m);
	json_t *p = json_loads(params, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	ctl_rpc_err e = {0};
	int ret = ctl_rpc_check_params(m, p, &e);
	snprintf(msg, len, "%s", e.msg);
	if (ret)
		assert_int_equal(e.code, CTL_RPC_INVALID_PARAMS);
	json_decref(p);
	return ret;
}

static void test_method_params(void **state)
{
	char msg[1024];
	assert_null(ctl_method_find("no.such"));
	assert_int_equal(check("trunk.get", "{\"name\":\"a\"}", msg, sizeof(msg)), 0);
	assert_int_not_equal(check("trunk.get", "{}", msg, sizeof(msg)), 0);
	assert_string_equal(msg, "params.name: missing (required)");
	assert_int_not_equal(check("trunk.get", "[\"a\"]", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "params: must be an object"));
	assert_int_not_equal(check("trunk.get", "{\"name\":\"a\",\"x\":1}", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "params.x: unknown field"));
	assert_int_not_equal(check("route.add", "{\"prefix\":\"1\",\"trunk\":\"t\",\"weight\":-1}", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "params.weight: -1 out of range 0..65535"));
	assert_int_not_equal(check("route.add", "{\"prefix\":\"1\",\"trunk\":true}", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "params.trunk: must be a string"));
	assert_int_equal(check("route.add", "{\"prefix\":\"\",\"trunk\":\"t\",\"strip\":32}", msg, sizeof(msg)), 0);
	assert_int_not_equal(check("route.add", "{\"prefix\":\"1\",\"trunk\":\"t\",\"strip\":33}", msg, sizeof(msg)), 0);
	/* open methods accept extra keys (the store's parser checks them) */
	assert_int_equal(check("trunk.add", "{\"name\":\"a\",\"cidrs\":[]}", msg, sizeof(msg)), 0);
	assert_int_not_equal(check("trunk.add", "{\"cidrs\":[]}", msg, sizeof(msg)), 0);
	assert_int_not_equal(check("route.lookup", "{\"number\":\"a\\u0000b\"}", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "NUL"));
	/* every method in the table has a handler and a params table */
	size_t n;
	const ctl_method *t = ctl_method_table(&n);
	assert_true(n >= 21);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].fn);
		assert_non_null(t[i].params);
		assert_ptr_equal(ctl_method_find(t[i].name), &t[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_errors_name_the_key),
		cmocka_unit_test(test_finalize_cross_checks),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_runtime_written_atomically),
		cmocka_unit_test(test_method_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
