/* Unit tests for store trunks and TLS profile records: JSON validation errors
 * per field, canonical JSON round trip, partial updates, CRUD with paging,
 * the inbound-matching snapshot (CIDR longest match, disabled trunks,
 * certificates with CIDRs), and TLS profile JSON (no key unless asked). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store_testutil.h"

static void test_trunk_field_errors(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
		{"[]", "trunk: must be a JSON object"},
		{"{}", "name: missing"},
		{"{\"name\":\"bad name\"}", "name: must be 1..63 characters"},
		{"{\"name\":\"\"}", "name: must not be empty"},
		{"{\"name\":7}", "name: must be a string"},
		{"{\"name\":\"t\",\"colour\":\"red\"}", "colour: unknown key"},
		{"{\"name\":\"t\",\"enabled\":1}", "enabled: must be true or false"},
		{"{\"name\":\"t\",\"cidrs\":\"10.0.0.0/8\"}", "cidrs: must be an array"},
		{"{\"name\":\"t\",\"cidrs\":[\"10.0.0.0/8\",\"10.0.0.0/33\"]}", "cidrs[1]: not an address"},
		{"{\"name\":\"t\",\"cidrs\":[\"example.com\"]}", "cidrs[0]"},
		{"{\"name\":\"t\",\"certs\":[{\"type\":\"cn\",\"value\":\"x\"}]}",
		 "certs[0].type: must be subject, san or fingerprint"},
		{"{\"name\":\"t\",\"certs\":[{\"type\":\"san\"}]}", "certs[0].value: missing"},
		{"{\"name\":\"t\",\"certs\":[{\"type\":\"fingerprint\",\"value\":\"abcd\"}]}",
		 "certs[0].value: a SHA-256 fingerprint is 64 hex digits"},
		{"{\"name\":\"t\",\"certs\":[{\"value\":\"x\"}]}", "certs[0].type: missing"},
		{"{\"name\":\"t\",\"destinations\":[{\"host\":\"a.example\",\"port\":70000}]}",
		 "destinations[0].port: must be 0..65535"},
		{"{\"name\":\"t\",\"destinations\":[\"udp:1.2.3.4:5060\",{\"host\":\"x\",\"transport\":"
		 "\"sctp\"}]}",
		 "destinations[1].transport: must be one of udp, tcp, tls, any"},
		{"{\"name\":\"t\",\"destinations\":[{\"port\":5060}]}", "destinations[0].host: missing"},
		{"{\"name\":\"t\",\"destinations\":[{\"host\":\"bad host!\"}]}",
		 "destinations[0].host: 'bad host!' is neither an IP address nor a DNS name"},
		{"{\"name\":\"t\",\"destinations\":[\"tcp:sip.example.net:0\"]}",
		 "destinations[0]: port must be 1..65535"},
		{"{\"name\":\"t\",\"destinations\":[\"tls:sip.example.net\"]}",
		 "destinations[0].transport: tls needs a tls_profile"},
		{"{\"name\":\"t\",\"destinations\":[{\"host\":\"a\",\"weight\":1}]}",
		 "destinations[0].weight: unknown key"},
		{"{\"name\":\"t\",\"tls_profile\":\"no spaces\"}", "tls_profile: not a valid profile"},
		{"{\"name\":\"t\",\"srtp_inbound\":{\"mode\":\"maybe\"}}",
		 "srtp_inbound.mode: must be off, optional or required"},
		{"{\"name\":\"t\",\"srtp_outbound\":{\"mode\":\"required\",\"suites\":[\"ROT13\"]}}",
		 "srtp_outbound.suites[0]: unknown SRTP suite"},
		{"{\"name\":\"t\",\"srtp_outbound\":{\"mode\":\"required\",\"suites\":["
		 "\"AEAD_AES_128_GCM\",\"AEAD_AES_128_GCM\"]}}",
		 "srtp_outbound.suites[1]: AEAD_AES_128_GCM listed twice"},
		{"{\"name\":\"t\",\"srtp_outbound\":{\"mode\":\"off\",\"suites\":[\"AEAD_AES_128_GCM\"]}}",
		 "srtp_outbound.suites: must be empty when mode is off"},
		{"{\"name\":\"t\",\"srtp_inbound\":{\"mode\":\"required\",\"suites\":[]}}",
		 "srtp_inbound.suites: must not be empty"},
		{"{\"name\":\"t\",\"srtp_inbound\":{\"mode\":\"off\",\"x\":1}}", "srtp_inbound.x: unknown key"},
		{"{\"name\":\"t\",\"max_calls\":-1}", "max_calls: must be 0..10000000"},
		{"{\"name\":\"t\",\"max_cps\":\"10\"}", "max_cps: must be an integer"},
		{"{\"name\":\"t\",\"reuse_inbound\":1}", "reuse_inbound: must be true or false"},
	};
	char err[256];
	store_trunk t;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t je;
		json_t *o = json_loads(cases[i].json, JSON_DECODE_ANY, &je);

		if (!o)
			fail_msg("case %zu: bad test JSON: %s", i, je.text);
		err[0] = '\0';
		assert_int_equal(store_trunk_from_json(o, &t, false, err, sizeof(err)), SBC_E_INVAL);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: err '%s' lacks '%s'", i, err, cases[i].msg);
		json_decref(o);
	}
}

static void test_trunk_json_round_trip(void **state)
{
	const char *in =
		"{\"name\":\"carrier-a\",\"enabled\":false,"
		"\"cidrs\":[\"192.0.2.0/24\",\"2001:db8::/32\",\"198.51.100.7\"],"
		"\"certs\":[{\"type\":\"subject\",\"value\":\"CN=sip.carrier.net,O=Carrier\"},"
		"{\"type\":\"fingerprint\",\"value\":\"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
		"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\"}],"
		"\"destinations\":[\"tls:sip.carrier.net:5061\",\"[2001:db8::1]:5070\","
		"{\"host\":\"carrier.net\"},\"udp:192.0.2.10\"],"
		"\"tls_profile\":\"carrier\","
		"\"srtp_inbound\":\"optional\","
		"\"srtp_outbound\":{\"mode\":\"required\",\"suites\":[\"AEAD_AES_256_GCM\","
		"\"AES_CM_128_HMAC_SHA1_80\"]},"
		"\"max_calls\":500,\"max_cps\":20,\"reuse_inbound\":true}";
	store_trunk t, t2;
	char err[256], *a, *b;
	json_t *o = json_loads(in, 0, NULL), *o2;
	(void)state;

	assert_int_equal(store_trunk_from_json(o, &t, false, err, sizeof(err)), 0);
	assert_false(t.enabled);
	assert_int_equal(t.n_cidrs, 3);
	assert_int_equal(t.cidrs[2].bits, 32);
	assert_int_equal(t.n_certs, 2);
	assert_string_equal(t.certs[1].value,
			    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	assert_int_equal(t.n_dests, 4);
	assert_int_equal(t.dests[0].transport, STORE_TP_TLS);
	assert_int_equal(t.dests[0].port, 5061);
	assert_false(t.dests[0].is_ip);
	assert_true(t.dests[1].is_ip);
	assert_int_equal(t.dests[1].port, 5070);
	assert_string_equal(t.dests[1].host, "2001:db8::1");
	assert_int_equal(t.dests[2].port, 0); /* RFC 3263 lookup */
	assert_int_equal(t.dests[2].transport, STORE_TP_ANY);
	assert_true(t.dests[3].is_ip);
	assert_int_equal(sbc_addr_port(&t.dests[3].addr), 5060);
	assert_int_equal(t.srtp_in.mode, STORE_SRTP_OPTIONAL);
	assert_int_equal(t.srtp_in.n_suites, 6); /* the default list */
	assert_int_equal(t.srtp_in.suites[0], SBC_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(t.srtp_out.mode, STORE_SRTP_REQUIRED);
	assert_int_equal(t.srtp_out.n_suites, 2);
	assert_int_equal(t.srtp_out.suites[0], SBC_SRTP_AEAD_AES_256_GCM);
	assert_int_equal(t.max_calls, 500);
	assert_int_equal(t.max_cps, 20);
	assert_true(t.reuse_inbound);
	/* to_json -> from_json -> to_json is stable */
	o2 = store_trunk_to_json(&t);
	assert_int_equal(store_trunk_from_json(o2, &t2, false, err, sizeof(err)), 0);
	a = json_dumps(o2, JSON_SORT_KEYS);
	json_decref(o2);
	o2 = store_trunk_to_json(&t2);
	b = json_dumps(o2, JSON_SORT_KEYS);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "\"reuse_inbound\": true"));
	free(a);
	free(b);
	json_decref(o2);
	json_decref(o);
	/* a record written before reuse_inbound existed: off */
	o = json_loads("{\"name\":\"old\",\"max_calls\":5}", 0, NULL);
	assert_int_equal(store_trunk_from_json(o, &t, false, err, sizeof(err)), 0);
	assert_false(t.reuse_inbound);
	json_decref(o);
}

static void test_trunk_crud_partial_paging(void **state)
{
	char base[256], err[256], name[16];
	store *st = tsu_open_new(base, sizeof(base));
	store_reader *r;
	store_trunk t, page[7];
	bool more = true;
	const char *after = NULL;
	char last[STORE_NAME_MAX + 1] = "";
	int n, total = 0, i;
	json_t *o;
	(void)state;

	assert_int_equal(store_reader_open(st, &r), 0);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "t%02d", i);
		assert_int_equal(tsu_add_trunk(st, name), 0);
	}
	assert_int_equal(tsu_add_trunk(st, "t05"), SBC_E_EXISTS);
	while (more) {
		n = store_trunk_list(r, after, page, 7, &more);
		assert_true(n >= 0);
		for (i = 0; i < n; i++) {
			assert_true(strcmp(page[i].name, last) > 0);
			strcpy(last, page[i].name);
		}
		total += n;
		after = last;
	}
	assert_int_equal(total, 20);
	/* partial update keeps what it does not name */
	assert_int_equal(store_trunk_get(r, "t03", &t), 0);
	o = json_loads("{\"cidrs\":[\"10.0.0.0/8\"],\"max_calls\":9}", 0, NULL);
	assert_int_equal(store_trunk_from_json(o, &t, true, err, sizeof(err)), 0);
	json_decref(o);
	assert_int_equal(store_trunk_put(st, &t, false, err, sizeof(err)), 0);
	o = json_loads("{\"max_cps\":3}", 0, NULL);
	assert_int_equal(store_trunk_get(r, "t03", &t), 0);
	assert_int_equal(store_trunk_from_json(o, &t, true, err, sizeof(err)), 0);
	json_decref(o);
	assert_int_equal(store_trunk_put(st, &t, false, err, sizeof(err)), 0);
	assert_int_equal(store_trunk_get(r, "t03", &t), 0);
	assert_int_equal(t.n_cidrs, 1);
	assert_int_equal(t.max_calls, 9);
	assert_int_equal(t.max_cps, 3);
	/* a failed partial update leaves the struct as it was */
	o = json_loads("{\"max_cps\":3,\"max_calls\":\"x\"}", 0, NULL);
	t.max_cps = 77;
	assert_int_equal(store_trunk_from_json(o, &t, true, err, sizeof(err)), SBC_E_INVAL);
	assert_int_equal(t.max_cps, 77);
	json_decref(o);
	o = json_loads("{\"name\":\"t04\"}", 0, NULL);
	assert_int_equal(store_trunk_from_json(o, &t, true, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "name: cannot be changed"));
	json_decref(o);
	/* update of a missing trunk, tls profile that does not exist */
	store_trunk_init(&t, "ghost");
	assert_int_equal(store_trunk_put(st, &t, false, err, sizeof(err)), SBC_E_NOT_FOUND);
	strcpy(t.tls_profile, "nope");
	assert_int_equal(store_trunk_put(st, &t, true, err, sizeof(err)), SBC_E_NOT_FOUND);
	assert_non_null(strstr(err, "tls_profile: 'nope' does not exist"));
	assert_int_equal(store_trunk_remove(st, "ghost", err, sizeof(err)), SBC_E_NOT_FOUND);
	assert_int_equal(store_trunk_remove(st, "t00", err, sizeof(err)), 0);
	assert_int_equal(store_trunk_get(r, "t00", &t), SBC_E_NOT_FOUND);
	assert_int_equal(store_trunk_get(r, "bad name", &t), SBC_E_INVAL);
	store_reader_close(r);
	store_close(st);
	tsu_rmtree(base);
}

static void put_json(store *st, const char *json)
{
	char err[256];
	store_trunk t;
	json_t *o = json_loads(json, 0, NULL);

	assert_non_null(o);
	assert_int_equal(store_trunk_from_json(o, &t, false, err, sizeof(err)), 0);
	assert_int_equal(store_trunk_put(st, &t, true, err, sizeof(err)), 0);
	json_decref(o);
}

static void test_snapshot_matching(void **state)
{
	char base[256];
	store *st = tsu_open_new(base, sizeof(base));
	store_reader *r;
	store_trunk_snapshot *s, *s2;
	const store_trunk *m;
	sbc_addr a;
	const char *sans[] = {"sip.b.example"};
	(void)state;

	assert_int_equal(store_reader_open(st, &r), 0);
	put_json(st, "{\"name\":\"wide\",\"cidrs\":[\"10.0.0.0/8\"]}");
	put_json(st, "{\"name\":\"narrow\",\"cidrs\":[\"10.1.0.0/16\",\"2001:db8::/48\"]}");
	put_json(st, "{\"name\":\"off\",\"enabled\":false,\"cidrs\":[\"10.1.2.0/24\"]}");
	put_json(st, "{\"name\":\"certonly\",\"certs\":[{\"type\":\"san\",\"value\":"
		     "\"sip.a.example\"}]}");
	put_json(st, "{\"name\":\"certnet\",\"cidrs\":[\"192.0.2.0/24\"],\"certs\":[{\"type\":"
		     "\"san\",\"value\":\"sip.b.example\"}]}");
	assert_int_equal(store_trunk_snapshot_load(r, &s), 0);
	assert_int_equal(store_trunk_snapshot_count(s), 5);
	assert_int_equal(store_trunk_snapshot_generation(s), 5);
	assert_int_equal(store_trunk_snapshot_generation(s), store_generation(r, STORE_AREA_TRUNKS));
	assert_string_equal(store_trunk_snapshot_at(s, 0)->name, "certnet");
	assert_non_null(store_trunk_snapshot_find(s, "narrow"));
	assert_null(store_trunk_snapshot_find(s, "nope"));

	assert_int_equal(sbc_addr_parse("10.1.2.3:5060", 0, &a), 0);
	m = store_trunk_snapshot_match_addr(s, &a);
	assert_non_null(m);
	assert_string_equal(m->name, "narrow"); /* /16 beats /8; the /24 is disabled */
	assert_int_equal(sbc_addr_parse("10.9.9.9", 0, &a), 0);
	assert_string_equal(store_trunk_snapshot_match_addr(s, &a)->name, "wide");
	assert_int_equal(sbc_addr_parse("[::ffff:10.1.200.1]:5060", 0, &a), 0); /* dual stack */
	assert_string_equal(store_trunk_snapshot_match_addr(s, &a)->name, "narrow");
	assert_int_equal(sbc_addr_parse("[2001:db8::5]:5061", 0, &a), 0);
	assert_string_equal(store_trunk_snapshot_match_addr(s, &a)->name, "narrow");
	assert_int_equal(sbc_addr_parse("203.0.113.1", 0, &a), 0);
	assert_null(store_trunk_snapshot_match_addr(s, &a));

	/* certificate matches; a trunk with CIDRs also needs the address */
	m = store_trunk_snapshot_match_cert(s, NULL, (const char *const[]){"SIP.A.example"}, 1,
					    NULL, &a);
	assert_non_null(m);
	assert_string_equal(m->name, "certonly");
	assert_null(store_trunk_snapshot_match_cert(s, NULL, sans, 1, NULL, &a));
	assert_int_equal(sbc_addr_parse("192.0.2.9", 0, &a), 0);
	assert_string_equal(store_trunk_snapshot_match_cert(s, NULL, sans, 1, NULL, &a)->name,
			    "certnet");

	/* snapshots are immutable: a change shows in a new one only */
	put_json(st, "{\"name\":\"newer\",\"cidrs\":[\"203.0.113.0/24\"]}");
	assert_int_equal(sbc_addr_parse("203.0.113.1", 0, &a), 0);
	assert_null(store_trunk_snapshot_match_addr(s, &a));
	assert_true(store_generation(r, STORE_AREA_TRUNKS) != store_trunk_snapshot_generation(s));
	assert_int_equal(store_trunk_snapshot_load(r, &s2), 0);
	assert_string_equal(store_trunk_snapshot_match_addr(s2, &a)->name, "newer");
	store_trunk_snapshot_ref(s);
	store_trunk_snapshot_unref(s);
	store_trunk_snapshot_unref(s);
	store_trunk_snapshot_unref(s2);
	store_reader_close(r);
	store_close(st);
	tsu_rmtree(base);
}

static void test_tls_profile_json(void **state)
{
	static const char cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const char key[] = "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n";
	static const struct {
		const char *json;
		const char *msg;
	} bad[] = {
		{"{}", "name: missing"},
		{"{\"name\":\"p\",\"cert_pem\":\"x\",\"key_pem\":\"y\"}", "cert_pem: not PEM"},
		{"{\"name\":\"p\",\"cert_pem\":5}", "cert_pem: must be a PEM string"},
		{"{\"name\":\"p\",\"verify_depth\":17}", "verify_depth: must be an integer 0..16"},
		{"{\"name\":\"p\",\"min_version\":\"1.1\"}", "min_version: must be \"1.2\" or \"1.3\""},
		{"{\"name\":\"p\",\"sni\":[\"ok.example\",\"bad name\"]}", "sni[1]: must be a host name"},
		{"{\"name\":\"p\",\"ciphers\":\"A B\"}", "ciphers: no spaces"},
		{"{\"name\":\"p\",\"passphrase\":\"x\"}", "passphrase: unknown key"},
		{"{\"name\":\"p\",\"cert_pem\":\"-----BEGIN CERTIFICATE-----\\nA\\n-----END "
		 "CERTIFICATE-----\\n-----BEGIN PRIVATE KEY-----\\nB\\n\"}",
		 "cert_pem: contains a private key"},
		{"{\"name\":\"p\",\"ca_pem\":\"-----BEGIN EC PRIVATE KEY-----\\nB\\n\"}",
		 "ca_pem: contains a private key"},
	};
	store_tls_profile p;
	char err[256], *dump;
	json_t *o;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_loads(bad[i].json, 0, NULL);
		store_tls_init(&p, NULL);
		err[0] = '\0';
		assert_true(store_tls_from_json(o, &p, false, err, sizeof(err)) < 0);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: err '%s' lacks '%s'", i, err, bad[i].msg);
		json_decref(o);
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:[s], s:b}", "name", "p", "certificate", cert,
		      "private_key", key, "min_version", "1.3", "sni", "sip.example.net",
		      "require_client_cert", 1);
	store_tls_init(&p, NULL);
	assert_int_equal(store_tls_from_json(o, &p, false, err, sizeof(err)), 0);
	json_decref(o);
	assert_int_equal(p.min_version, 0x0304);
	assert_int_equal(p.n_sni, 1);
	assert_int_equal(p.verify_depth, 4);
	o = store_tls_to_json(&p, false);
	dump = json_dumps(o, 0);
	assert_null(strstr(dump, "SECRET"));
	assert_null(strstr(dump, "key_pem"));
	assert_non_null(strstr(dump, "MIIB"));
	free(dump);
	json_decref(o);
	o = store_tls_to_json(&p, true);
	dump = json_dumps(o, 0);
	assert_non_null(strstr(dump, "SECRET"));
	free(dump);
	json_decref(o);
	/* partial update replaces only what it names */
	o = json_loads("{\"verify_depth\":2,\"key_pem\":\"-----BEGIN PRIVATE KEY-----\\nNEW\\n\"}", 0,
		       NULL);
	assert_int_equal(store_tls_from_json(o, &p, true, err, sizeof(err)), 0);
	json_decref(o);
	assert_int_equal(p.verify_depth, 2);
	assert_non_null(strstr(p.key_pem, "NEW"));
	assert_non_null(strstr(p.cert_pem, "MIIB"));
	store_tls_clear(&p);
	assert_null(p.key_pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trunk_field_errors),
		cmocka_unit_test(test_trunk_json_round_trip),
		cmocka_unit_test(test_trunk_crud_partial_paging),
		cmocka_unit_test(test_snapshot_matching),
		cmocka_unit_test(test_tls_profile_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
