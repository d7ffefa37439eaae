/* shared: the one configuration table and its loader (shared/src/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/config.h"
#include "sbc/err.h"

#define ALL_READERS (SBC_CFG_CONTROL | SBC_CFG_SIGNAL | SBC_CFG_MEDIA)

static sbc_config *new_config(void)
{
	sbc_config *c = malloc(sizeof(*c));
	assert_non_null(c);
	sbc_config_defaults(c);
	return c;
}

static int apply(sbc_config *c, const char *text, unsigned reader, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(text, JSON_ALLOW_NUL, &je);
	if (!o)
		fail_msg("test JSON does not parse: %s: %s", text, je.text);
	int ret = sbc_config_apply_json(c, o, reader, err, errlen);
	json_decref(o);
	return ret;
}

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/test_config.%d.XXXXXX", (int)getpid());
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* The table holds together: parents declared, children read by no one their
 * parent hides them from, arrays name their elements, defaults are valid. */
static void table_is_consistent(void **state)
{
	(void)state;
	size_t n;
	const sbc_cfg_key *k = sbc_config_keys(&n);
	assert_true(n > 40);
	for (size_t i = 0; i < n; i++) {
		char parent[160];
		assert_non_null(k[i].path);
		assert_true(k[i].readers != 0 && (k[i].readers & ~ALL_READERS) == 0);
		for (size_t j = 0; j < i; j++)
			if (strcmp(k[i].path, k[j].path) == 0)
				fail_msg("%s declared twice", k[i].path);
		if (k[i].type == SBC_CFG_ARRAY) {
			assert_true(k[i].choices && k[i].max > 0 && k[i].size > 0);
			/* max is the capacity: the loader clears max elements, so
			 * they and the count must lie inside the container (the
			 * config, or the element of the enclosing array) */
			size_t container = sizeof(sbc_config);
			const char *el = strstr(k[i].path, "[].");
			if (el) {
				char outer[160];
				snprintf(outer, sizeof(outer), "%.*s", (int)(el - k[i].path), k[i].path);
				for (size_t j = 0; j < n; j++)
					if (strcmp(k[j].path, outer) == 0)
						container = k[j].size;
			}
			if (k[i].off + k[i].size * k[i].max > container ||
			    k[i].count_off + sizeof(unsigned) > container)
				fail_msg("%s: %llu elements do not fit where the table says", k[i].path, k[i].max);
		}
		if (k[i].type == SBC_CFG_ENUM && k[i].def)
			assert_non_null(strstr(k[i].choices, k[i].def));
		/* the parent: "a.b" -> "a"; "a[].b" and "a[]" -> "a" (the array) */
		snprintf(parent, sizeof(parent), "%s", k[i].path);
		size_t len = strlen(parent);
		if (len > 2 && strcmp(parent + len - 2, "[]") == 0) {
			parent[len - 2] = 0;
		} else {
			char *dot = strrchr(parent, '.');
			if (!dot)
				continue; /* top level */
			*dot = 0;
			len = strlen(parent);
			if (len > 2 && strcmp(parent + len - 2, "[]") == 0)
				parent[len - 2] = 0;
		}
		size_t p;
		for (p = 0; p < n; p++)
			if (strcmp(k[p].path, parent) == 0)
				break;
		if (p == n)
			fail_msg("%s: parent %s not declared", k[i].path, parent);
		assert_true(k[p].type == SBC_CFG_SECTION || k[p].type == SBC_CFG_ARRAY);
		if ((k[i].readers & ~k[p].readers) != 0)
			fail_msg("%s is read by a process that does not read %s", k[i].path, parent);
	}
	/* the defaults pass sbc-media's cross-field checks; sbc-control and
	 * sbc-signal need listeners besides (sbc-control's embedded default
	 * adds them) */
	sbc_config *c = new_config();
	char err[256] = "";
	assert_int_equal(sbc_config_check(c, SBC_CFG_MEDIA, err, sizeof(err)), 0);
	assert_int_equal(sbc_config_check(c, SBC_CFG_CONTROL, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.listen: no listeners"));
	assert_string_equal(c->media.backend, "socket");
	assert_int_equal(c->media.port_min, 30000);
	assert_int_equal(c->media.rcvbuf, 65536);
	assert_int_equal(c->signal.limits.max_header, 8192);
	assert_int_equal(c->signal.nlisten, 0);
	assert_string_equal(c->signal.unknown_sources, "reject");
	assert_false(c->demo.enabled);
	assert_int_equal(c->control.ctl_ring_bytes, 1u << 16);
	free(c);
}

/* Each bad input fails with SBC_E_CONFIG, names the key, leaves c as it was. */
static void errors_name_the_key(void **state)
{
	(void)state;
	static const struct {
		unsigned reader;
		const char *json, *want;
	} cases[] = {
		{SBC_CFG_CONTROL, "{\"colour\":1}", "colour: unknown key"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"bogus\":1}}", "signal.bogus: unknown key \"bogus\""},
		{SBC_CFG_MEDIA, "{\"media\":{\"port_mni\":1}}", "media.port_mni: unknown key"},
		/* a name that would address another key of the table */
		{SBC_CFG_SIGNAL, "{\"signal\":{\"listen[]\":1}}", "unknown key"},
		{SBC_CFG_CONTROL, "{\"signal\":{\"limits.max_body\":1}}", "unknown key"},
		/* only sbc-signal reads tls_profiles: sbc-control could not pass them on */
		{SBC_CFG_CONTROL, "{\"signal\":{\"tls_profiles\":[]}}", "signal.tls_profiles: unknown key"},
		/* types */
		{SBC_CFG_CONTROL, "{\"signal\":{\"workers\":\"2\"}}", "signal.workers: expected an integer"},
		{SBC_CFG_MEDIA, "{\"media\":{\"workers\":1.5}}", "media.workers: expected an integer"},
		{SBC_CFG_SIGNAL, "{\"log_level\":7}", "log_level: expected a string"},
		{SBC_CFG_MEDIA, "{\"media\":[]}", "media: expected an object"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"listen\":{}}}", "signal.listen: expected an array"},
		{SBC_CFG_CONTROL, "{\"demo\":{\"enabled\":\"yes\"}}", "demo.enabled: expected true or false"},
		{SBC_CFG_MEDIA, "{\"media\":{\"xdp_interfaces\":7}}", "media.xdp_interfaces: expected interface names"},
		/* ranges and values */
		{SBC_CFG_SIGNAL, "{\"signal\":{\"workers\":1000}}", "signal.workers: 1000 out of range 1..32"},
		{SBC_CFG_MEDIA, "{\"media\":{\"workers\":-1}}", "media.workers: -1 out of range"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"limits\":{\"max_header\":1}}}", "signal.limits.max_header: 1 out of range"},
		{SBC_CFG_MEDIA, "{\"media\":{\"rcvbuf\":100}}", "media.rcvbuf: 100 out of range 4096.."},
		{SBC_CFG_CONTROL, "{\"control\":{\"ring_bytes\":5000}}", "control.ring_bytes: 5000 is not a power of two"},
		{SBC_CFG_MEDIA, "{\"media\":{\"backend\":\"dpdk\"}}", "media.backend: \"dpdk\" is not one of socket|xdp"},
		{SBC_CFG_MEDIA, "{\"media\":{\"address\":\"example.com\"}}", "media.address: \"example.com\" is not an IP"},
		{SBC_CFG_MEDIA, "{\"media\":{\"address\":\"1.2.3.4:5\"}}", "media.address"},
		{SBC_CFG_CONTROL, "{\"demo\":{\"inbound_cidr\":\"10.0.0.0/99\"}}", "demo.inbound_cidr"},
		{SBC_CFG_SIGNAL, "{\"store_path\":\"\"}", "store_path: must not be empty"},
		{SBC_CFG_SIGNAL, "{\"store_path\":\"a\\u0000b\"}", "store_path: contains a NUL byte"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"dns_servers\":\"" /* 300 bytes */
				 "123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
				 "123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
				 "123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
				 "123456789012345678901234567890\"}}",
		 "signal.dns_servers: too long"},
		/* arrays and their elements */
		{SBC_CFG_SIGNAL, "{\"signal\":{\"listen\":[]}}", "signal.listen: 0 listeners, allowed 1..16"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"listen\":[5]}}", "signal.listen[0]: expected an object"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"listen\":[{\"address\":\"1.2.3.4:5\"}]}}", "signal.listen[0].transport: missing"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4\"}]}}",
		 "signal.listen[0].address: \"1.2.3.4\" is not an address:port"},
		{SBC_CFG_CONTROL,
		 "{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\",\"tls_profile\":\"p\"}]}}",
		 "signal.listen[0].tls_profile: only allowed on a tls listener"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"tls_profiles\":[{\"name\":\"x\"}]}}", "signal.tls_profiles[0].certs: missing"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"tls_profiles\":[{\"name\":\"x\",\"certs\":[{\"cert\":\"/a\"}]}]}}",
		 "signal.tls_profiles[0].certs[0].key: missing"},
		{SBC_CFG_SIGNAL, "{\"signal\":{\"tls_profiles\":[{\"name\":\"x\",\"certs\":[]}]}}",
		 "signal.tls_profiles[0].certs: 0 certificates, allowed 1..4"},
		{SBC_CFG_SIGNAL,
		 "{\"signal\":{\"tls_profiles\":[{\"name\":\"x\",\"certs\":[{\"cert\":\"/a\",\"key\":\"/b\"}],"
		 "\"verify_client\":true}]}}",
		 "signal.tls_profiles[0].verify_client: needs a ca bundle"},
		{SBC_CFG_SIGNAL,
		 "{\"signal\":{\"tls_profiles\":[{\"name\":\"x\",\"certs\":[{\"cert\":\"/a\",\"key\":\"/b\"}],"
		 "\"sni\":[\"a\",3]}]}}",
		 "signal.tls_profiles[0].sni[1]: expected a string"},
		{SBC_CFG_SIGNAL,
		 "{\"signal\":{\"tls_profiles\":[{\"name\":\"x\",\"certs\":[{\"cert\":\"/a\",\"key\":\"/b\"}],"
		 "\"verify_depth\":17}]}}",
		 "signal.tls_profiles[0].verify_depth: 17 out of range 0..16"},
		{SBC_CFG_MEDIA, "{\"media\":{\"xdp_interfaces\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}}",
		 "media.xdp_interfaces: 5 interfaces, allowed at most 4"},
		{SBC_CFG_MEDIA, "{\"media\":{\"xdp_interfaces\":[\"eth0\",\"a/b\"]}}",
		 "media.xdp_interfaces[1]: expected an interface name"},
		{SBC_CFG_MEDIA, "{\"media\":{\"xdp_interfaces\":\"eth0,a-name-far-too-long\"}}",
		 "media.xdp_interfaces: \"a-name-far-too-long\" is not an interface name"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sbc_config *c = new_config(), *before = new_config();
		char err[256] = "";
		int ret = apply(c, cases[i].json, cases[i].reader, err, sizeof(err));
		if (ret != SBC_E_CONFIG || !strstr(err, cases[i].want))
			fail_msg("case %zu %s: ret %d err \"%s\" (want \"%s\")", i, cases[i].json, ret, err,
				 cases[i].want);
		assert_memory_equal(c, before, sizeof(*c));
		free(c);
		free(before);
	}
	sbc_config *c = new_config();
	char err[256] = "";
	assert_int_equal(apply(c, "[1]", SBC_CFG_MEDIA, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "expected a JSON object"));
	free(c);
}

/* A process looks only at what it reads: sbc-media does not check the
 * signal section, and the children only warn about an unknown top-level key. */
static void readers_skip_what_they_do_not_read(void **state)
{
	(void)state;
	sbc_config *c = new_config();
	char err[256] = "";
	const char *doc = "{\"signal\":{\"workers\":999,\"bogus\":1},\"media\":{\"workers\":4},\"control\":{\"x\":1},"
			  "\"newer_key\":true}";
	assert_int_equal(apply(c, doc, SBC_CFG_MEDIA, err, sizeof(err)), 0);
	assert_int_equal(c->media.workers, 4);
	assert_int_equal(c->signal.workers, 1); /* not read */
	assert_int_equal(apply(c, "{\"media\":{\"workers\":999},\"signal\":{\"workers\":3},\"x\":1}", SBC_CFG_SIGNAL,
			       err, sizeof(err)),
			 0);
	assert_int_equal(c->signal.workers, 3);
	assert_int_equal(c->media.workers, 4);
	/* sbc-control reads every section and refuses what nobody declared */
	assert_int_equal(apply(c, "{\"x\":1}", SBC_CFG_CONTROL, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "x: unknown key"));
	free(c);
}

static void values_land_in_their_fields(void **state)
{
	(void)state;
	sbc_config *c = new_config();
	char err[256] = "";
	assert_int_equal(apply(c,
			       "{\"log_level\":\"debug\",\"store_path\":\"/s\",\"signal\":{\"workers\":2,"
			       "\"listen\":[{\"transport\":\"udp\",\"address\":\"[::1]:5070\"},"
			       "{\"transport\":\"tls\",\"address\":\"127.0.0.1:5071\"}],"
			       "\"limits\":{\"max_conns\":7},\"unknown_sources\":\"drop\","
			       "\"tls_profiles\":[{\"name\":\"p\",\"certs\":[{\"cert\":\"/c1\",\"key\":\"/k1\"},"
			       "{\"cert\":\"/c2\",\"key\":\"/k2\"}],\"ca\":\"/ca\",\"verify_client\":true,"
			       "\"sni\":[\"a.example\",\"b.example\"]}]},"
			       "\"media\":{\"xdp_interfaces\":\"veth0, veth1\"}}",
			       SBC_CFG_SIGNAL | SBC_CFG_MEDIA, err, sizeof(err)),
			 0);
	assert_string_equal(c->log_level, "debug");
	assert_int_equal(c->signal.nlisten, 2);
	assert_string_equal(c->signal.listen[0].address, "[::1]:5070");
	assert_string_equal(c->signal.listen[0].tls_profile, "");
	assert_string_equal(c->signal.listen[1].tls_profile, "default"); /* tls: the default profile */
	assert_int_equal(c->signal.limits.max_conns, 7);
	assert_int_equal(c->signal.limits.max_header, 8192); /* untouched: its default */
	assert_string_equal(c->signal.unknown_sources, "drop");
	assert_int_equal(c->signal.n_tls_profiles, 1);
	const sbc_cfg_tls_profile *p = &c->signal.tls_profiles[0];
	assert_int_equal(p->n_certs, 2);
	assert_string_equal(p->certs[1].key, "/k2");
	assert_true(p->verify_client);
	assert_int_equal(p->verify_depth, 4); /* an element's default */
	assert_int_equal(p->n_sni, 2);
	assert_string_equal(p->sni[1], "b.example");
	assert_int_equal(c->media.xdp_interfaces.n, 2);
	assert_string_equal(c->media.xdp_interfaces.name[1], "veth1");
	assert_int_equal(sbc_config_check(c, SBC_CFG_SIGNAL, err, sizeof(err)), 0);
	/* a second apply replaces an array, it does not append */
	assert_int_equal(apply(c, "{\"signal\":{\"listen\":[{\"transport\":\"tcp\",\"address\":\"1.2.3.4:5\"}]}}",
			       SBC_CFG_SIGNAL, err, sizeof(err)),
			 0);
	assert_int_equal(c->signal.nlisten, 1);
	assert_string_equal(c->signal.listen[1].address, "");
	free(c);
}

static void cross_field_checks(void **state)
{
	(void)state;
	sbc_config *c = new_config();
	char err[256] = "";
	/* sbc-signal needs a listener */
	assert_int_equal(sbc_config_check(c, SBC_CFG_SIGNAL, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.listen: no listeners"));
	/* four media ports at least, for sbc-control and sbc-media alike */
	assert_int_equal(apply(c, "{\"media\":{\"port_min\":30000,\"port_max\":30002}}", SBC_CFG_MEDIA, err,
			       sizeof(err)),
			 0);
	assert_int_equal(sbc_config_check(c, SBC_CFG_MEDIA, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "media.port_min: 30000"));
	assert_int_equal(sbc_config_check(c, SBC_CFG_CONTROL, err, sizeof(err)), SBC_E_CONFIG);
	assert_int_equal(sbc_config_check(c, SBC_CFG_SIGNAL, err, sizeof(err)), SBC_E_CONFIG); /* no listeners */
	assert_null(strstr(err, "media"));                                                   /* not its key */
	sbc_config_defaults(c);
	assert_int_equal(apply(c,
			       "{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\"},"
			       "{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\"}]}}",
			       SBC_CFG_SIGNAL, err, sizeof(err)),
			 0);
	assert_int_equal(sbc_config_check(c, SBC_CFG_SIGNAL, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "signal.listen[1]: duplicates signal.listen[0]"));
	sbc_config_defaults(c);
	assert_int_equal(apply(c, "{\"control\":{\"backoff_initial_ms\":5000,\"backoff_max_ms\":10}}",
			       SBC_CFG_CONTROL, err, sizeof(err)),
			 0);
	assert_int_equal(sbc_config_check(c, SBC_CFG_CONTROL, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "control.backoff_initial_ms"));
	assert_int_equal(sbc_config_check(c, SBC_CFG_MEDIA, err, sizeof(err)), 0); /* not media's */
	free(c);
}

static void files(void **state)
{
	(void)state;
	sbc_config *c = new_config();
	char err[256] = "";
	/* missing */
	assert_int_equal(sbc_config_load_file(c, "/nonexistent/runtime.json", SBC_CFG_MEDIA, err, sizeof(err)),
			 SBC_E_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/runtime.json"));
	/* not JSON: the line and column */
	const char *p = temp_file("{\"media\":\n{\"workers\": }");
	assert_int_equal(sbc_config_load_file(c, p, SBC_CFG_MEDIA, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, ":2:"));
	unlink(p);
	/* duplicate keys are refused, not silently overwritten */
	p = temp_file("{\"media\":{\"workers\":2,\"workers\":3}}");
	assert_int_equal(sbc_config_load_file(c, p, SBC_CFG_MEDIA, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "workers"));
	unlink(p);
	/* JSON but not an object */
	p = temp_file("[1, 2]");
	assert_int_equal(sbc_config_load_file(c, p, SBC_CFG_SIGNAL, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "expected a JSON object"));
	unlink(p);
	/* a bad value: the file and the key */
	p = temp_file("{\"media\":{\"workers\":0}}");
	assert_int_equal(sbc_config_load_file(c, p, SBC_CFG_MEDIA, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, p));
	assert_non_null(strstr(err, ": media.workers: 0 out of range"));
	unlink(p);
	/* a good one */
	p = temp_file("{\"media\":{\"workers\":2}}");
	assert_int_equal(sbc_config_load_file(c, p, SBC_CFG_MEDIA, err, sizeof(err)), 0);
	assert_int_equal(c->media.workers, 2);
	unlink(p);
	free(c);
}

/* What sbc-control writes, each child reads back into the same values. */
static void runtime_json_round_trip(void **state)
{
	(void)state;
	sbc_config *c = new_config(), *back = new_config();
	char err[256] = "";
	assert_int_equal(apply(c,
			       "{\"store_path\":\"/s\",\"signal\":{\"workers\":3,\"listen\":[{\"transport\":\"tls\","
			       "\"address\":\"127.0.0.1:5061\",\"tls_profile\":\"t\"}],\"limits\":{\"max_body\":0}},"
			       "\"media\":{\"rcvbuf\":8192,\"xdp_interfaces\":[\"eth0\",\"eth1\"]},"
			       "\"control\":{\"max_clients\":9},\"demo\":{\"enabled\":true}}",
			       SBC_CFG_CONTROL, err, sizeof(err)),
			 0);
	json_t *rt = sbc_config_runtime_json(c);
	assert_non_null(rt);
	/* sbc-control's own sections stay with it; empty optional keys are left out */
	assert_null(json_object_get(rt, "control"));
	assert_null(json_object_get(rt, "demo"));
	assert_null(json_object_get(json_object_get(rt, "signal"), "dns_servers"));
	assert_null(json_object_get(json_object_get(rt, "signal"), "tls_profiles"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(rt, "media"), "xdp_interfaces")),
			    "eth0,eth1");
	assert_int_equal(sbc_config_apply_json(back, rt, SBC_CFG_SIGNAL, err, sizeof(err)), 0);
	assert_int_equal(sbc_config_apply_json(back, rt, SBC_CFG_MEDIA, err, sizeof(err)), 0);
	assert_memory_equal(&back->signal, &c->signal, sizeof(c->signal));
	assert_memory_equal(&back->media, &c->media, sizeof(c->media));
	assert_string_equal(back->store_path, "/s");
	assert_int_equal(back->control.max_clients, 1024); /* not passed on */
	json_decref(rt);
	free(c);
	free(back);
}

/* A reload restarts a child only when a key it reads changed. */
static void differs_per_reader(void **state)
{
	(void)state;
	sbc_config *a = new_config(), *b = new_config();
	char err[256] = "";
	const char *base = "{\"signal\":{\"listen\":[{\"transport\":\"udp\",\"address\":\"1.2.3.4:5\"}]},"
			   "\"media\":{\"address\":\"::1\"}}";
	assert_int_equal(apply(a, base, SBC_CFG_CONTROL, err, sizeof(err)), 0);
	/* b reached the same values another way: longer strings first leave
	 * other bytes behind their NUL */
	assert_int_equal(apply(b, "{\"media\":{\"address\":\"2001:db8::1234:5678\"}}", SBC_CFG_CONTROL, err,
			       sizeof(err)),
			 0);
	assert_int_equal(apply(b, base, SBC_CFG_CONTROL, err, sizeof(err)), 0);
	assert_false(sbc_config_differs(a, b, ALL_READERS));
	/* a control-only key: no child concerned */
	assert_int_equal(apply(b, "{\"control\":{\"max_clients\":5}}", SBC_CFG_CONTROL, err, sizeof(err)), 0);
	assert_false(sbc_config_differs(a, b, SBC_CFG_SIGNAL | SBC_CFG_MEDIA));
	assert_true(sbc_config_differs(a, b, SBC_CFG_CONTROL));
	/* keys added late (limits, rcvbuf) are seen like the others */
	assert_int_equal(apply(b, "{\"signal\":{\"limits\":{\"max_conns\":9}}}", SBC_CFG_CONTROL, err, sizeof(err)), 0);
	assert_true(sbc_config_differs(a, b, SBC_CFG_SIGNAL));
	assert_false(sbc_config_differs(a, b, SBC_CFG_MEDIA));
	sbc_config_defaults(b);
	assert_int_equal(apply(b, base, SBC_CFG_CONTROL, err, sizeof(err)), 0);
	assert_int_equal(apply(b, "{\"media\":{\"xdp_interfaces\":\"eth0\"}}", SBC_CFG_CONTROL, err, sizeof(err)), 0);
	assert_true(sbc_config_differs(a, b, SBC_CFG_MEDIA));
	assert_false(sbc_config_differs(a, b, SBC_CFG_SIGNAL));
	/* an element of an array; the log level concerns everyone */
	sbc_config_defaults(b);
	assert_int_equal(apply(b,
			       "{\"signal\":{\"listen\":[{\"transport\":\"tcp\",\"address\":\"1.2.3.4:5\"}]},"
			       "\"media\":{\"address\":\"::1\"}}",
			       SBC_CFG_CONTROL, err, sizeof(err)),
			 0);
	assert_true(sbc_config_differs(a, b, SBC_CFG_SIGNAL));
	assert_false(sbc_config_differs(a, b, SBC_CFG_MEDIA));
	assert_int_equal(apply(b, "{\"log_level\":\"debug\",\"signal\":{\"listen\":[{\"transport\":\"udp\","
				  "\"address\":\"1.2.3.4:5\"}]}}",
			       SBC_CFG_CONTROL, err, sizeof(err)),
			 0);
	assert_true(sbc_config_differs(a, b, SBC_CFG_SIGNAL));
	assert_true(sbc_config_differs(a, b, SBC_CFG_MEDIA));
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_is_consistent),
		cmocka_unit_test(errors_name_the_key),
		cmocka_unit_test(readers_skip_what_they_do_not_read),
		cmocka_unit_test(values_land_in_their_fields),
		cmocka_unit_test(cross_field_checks),
		cmocka_unit_test(files),
		cmocka_unit_test(runtime_json_round_trip),
		cmocka_unit_test(differs_per_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
