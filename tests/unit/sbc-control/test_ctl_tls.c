/* Unit tests for sbc-control's TLS material checks (ctl_tls.c): certificates
 * made in the test with BoringSSL (valid, expired, not yet valid, key
 * mismatch, chains, RSA), inspection figures, profile checks (CA bundle,
 * cipher list), and that the private key never shows in a JSON view unless
 * asked for. Also a TLS profile stored and read back through the store, and
 * trunk certificate matching by the fingerprint and SAN ctl_tls reports. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../../sbc-control/src/ctl_tls.h"
#include "../shared/store_testutil.h"
#include "sbc/err.h"
#include "sbc/store.h"

static const char *const sans[] = {"sbc.example.net", "IP:127.0.0.1", "DNS:alt.example.net"};

static void make(int64_t nb, int64_t na, bool rsa, char **cert, char **key)
{
	ctl_tls_cert_req req = {.cn = "sbc.example.net", .sans = sans, .n_sans = 3,
				.not_before = nb, .not_after = na, .rsa = rsa};
	char err[256];

	assert_int_equal(ctl_tls_make_cert(&req, cert, key, err, sizeof(err)), 0);
	assert_non_null(strstr(*cert, "-----BEGIN CERTIFICATE-----"));
	assert_non_null(strstr(*key, "PRIVATE KEY-----"));
}

static void test_selfsigned_inspect(void **state)
{
	char *cert, *key, err[256];
	ctl_tls_info info;
	const char *const s2[] = {"localhost", "127.0.0.1"};
	(void)state;

	assert_int_equal(ctl_tls_selfsigned("sbc-default", s2, 2, 365, &cert, &key, err,
					    sizeof(err)),
			 0);
	assert_int_equal(ctl_tls_inspect(cert, key, 0, &info, err, sizeof(err)), 0);
	assert_string_equal(info.subject, "CN=sbc-default");
	assert_string_equal(info.issuer, "CN=sbc-default");
	assert_true(info.self_signed);
	assert_int_equal(info.n_sans, 2);
	assert_string_equal(info.sans[0], "localhost");
	assert_string_equal(info.sans[1], "127.0.0.1");
	assert_string_equal(info.key_type, "EC P-256");
	assert_int_equal(info.chain_len, 1);
	assert_int_equal(strlen(info.fingerprint), 95);
	assert_true(info.not_after - info.not_before >= 365 * 86400);
	assert_true(info.not_before <= (int64_t)time(NULL));
	free(cert);
	ctl_tls_free_key(key);
}

static void test_validity_and_mismatch(void **state)
{
	int64_t now = (int64_t)time(NULL);
	char *c1, *k1, *c2, *k2, *c3, *k3, err[256];
	ctl_tls_info info;
	(void)state;

	make(now - 10 * 86400, now - 86400, false, &c1, &k1); /* expired */
	make(now + 86400, now + 10 * 86400, false, &c2, &k2); /* not yet valid */
	make(now - 60, now + 86400, false, &c3, &k3);          /* valid */

	assert_int_equal(ctl_tls_inspect(c1, k1, 0, &info, err, sizeof(err)), SBC_E_CERT);
	assert_non_null(strstr(err, "cert_pem: certificate expired at"));
	assert_int_equal(ctl_tls_inspect(c2, k2, 0, &info, err, sizeof(err)), SBC_E_CERT);
	assert_non_null(strstr(err, "not valid yet"));
	assert_int_equal(ctl_tls_inspect(c3, k3, 0, &info, err, sizeof(err)), 0);
	/* the expired one is fine at a time inside its validity */
	assert_int_equal(ctl_tls_inspect(c1, k1, (time_t)(now - 5 * 86400), NULL, err, sizeof(err)),
			 0);
	/* a key that belongs to another certificate */
	assert_int_equal(ctl_tls_inspect(c3, k1, 0, &info, err, sizeof(err)), SBC_E_CERT);
	assert_non_null(strstr(err, "key_pem: the private key does not match"));
	/* garbage */
	assert_int_equal(ctl_tls_inspect("hello", k3, 0, &info, err, sizeof(err)), SBC_E_CERT);
	assert_non_null(strstr(err, "cert_pem:"));
	assert_int_equal(ctl_tls_inspect("-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
					 "CERTIFICATE-----\n",
					 k3, 0, &info, err, sizeof(err)),
			 SBC_E_CERT);
	assert_non_null(strstr(err, "cert_pem:"));
	assert_int_equal(ctl_tls_inspect(c3, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
					     "KEY-----\n",
					 0, &info, err, sizeof(err)),
			 SBC_E_CERT);
	assert_non_null(strstr(err, "key_pem:"));
	assert_int_equal(ctl_tls_inspect(c3, NULL, 0, &info, err, sizeof(err)), SBC_E_CERT);
	assert_non_null(strstr(err, "key_pem: missing"));
	free(c1);
	free(c2);
	free(c3);
	ctl_tls_free_key(k1);
	ctl_tls_free_key(k2);
	ctl_tls_free_key(k3);
}

static void test_chain_and_rsa(void **state)
{
	int64_t now = (int64_t)time(NULL);
	char *cac, *cak, *lc, *lk, *chain, err[256];
	ctl_tls_info info;
	ctl_tls_cert_req ca = {.cn = "Test CA", .not_before = now - 60, .not_after = now + 86400,
			       .is_ca = true};
	ctl_tls_cert_req leaf = {.cn = "leaf.example.net", .not_before = now - 60,
				 .not_after = now + 86400, .rsa = true};
	(void)state;

	assert_int_equal(ctl_tls_make_cert(&ca, &cac, &cak, err, sizeof(err)), 0);
	leaf.issuer_cert_pem = cac;
	leaf.issuer_key_pem = cak;
	assert_int_equal(ctl_tls_make_cert(&leaf, &lc, &lk, err, sizeof(err)), 0);
	chain = malloc(strlen(lc) + strlen(cac) + 1);
	strcpy(chain, lc);
	strcat(chain, cac);
	assert_int_equal(ctl_tls_inspect(chain, lk, 0, &info, err, sizeof(err)), 0);
	assert_int_equal(info.chain_len, 2);
	assert_string_equal(info.subject, "CN=leaf.example.net");
	assert_string_equal(info.issuer, "CN=Test CA");
	assert_false(info.self_signed);
	assert_string_equal(info.key_type, "RSA 2048");
	/* CA key with the leaf certificate: mismatch */
	assert_int_equal(ctl_tls_inspect(chain, cak, 0, &info, err, sizeof(err)), SBC_E_CERT);
	free(cac);
	free(lc);
	free(chain);
	ctl_tls_free_key(cak);
	ctl_tls_free_key(lk);
}

static void test_profile_check_and_json(void **state)
{
	int64_t now = (int64_t)time(NULL);
	store_tls_profile p;
	ctl_tls_info info;
	char *c, *k, *dump, err[256];
	json_t *o;
	(void)state;

	make(now - 60, now + 86400, false, &c, &k);
	store_tls_init(&p, "carrier");
	p.cert_pem = c;
	p.key_pem = k;
	assert_int_equal(ctl_tls_profile_check(&p, 0, &info, err, sizeof(err)), 0);
	snprintf(p.ciphers, sizeof(p.ciphers), "NOT-A-CIPHER");
	assert_int_equal(ctl_tls_profile_check(&p, 0, &info, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "ciphers:"));
	snprintf(p.ciphers, sizeof(p.ciphers), "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
	assert_int_equal(ctl_tls_profile_check(&p, 0, &info, err, sizeof(err)), 0);
	p.ca_pem = strdup("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n");
	assert_int_equal(ctl_tls_profile_check(&p, 0, &info, err, sizeof(err)), SBC_E_CERT);
	assert_non_null(strstr(err, "ca_pem:"));
	free(p.ca_pem);
	p.ca_pem = strdup(c); /* its own certificate as the CA bundle */

	/* JSON view: no key unless asked */
	o = ctl_tls_profile_json(&p, false, 0);
	assert_non_null(o);
	dump = json_dumps(o, 0);
	assert_null(strstr(dump, "PRIVATE KEY"));
	assert_null(json_object_get(o, "key_pem"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "certificate"),
							      "subject")),
			    "CN=sbc.example.net");
	assert_true(json_is_true(json_object_get(json_object_get(o, "certificate"), "valid")));
	free(dump);
	json_decref(o);
	o = ctl_tls_profile_json(&p, true, 0);
	dump = json_dumps(o, 0);
	assert_non_null(strstr(dump, "PRIVATE KEY"));
	free(dump);
	json_decref(o);
	/* expired view says so */
	o = ctl_tls_profile_json(&p, false, (time_t)(now + 2 * 86400));
	assert_true(json_is_false(json_object_get(json_object_get(o, "certificate"), "valid")));
	json_decref(o);
	store_tls_clear(&p);
}

static void test_store_round_trip_and_trunk_match(void **state)
{
	int64_t now = (int64_t)time(NULL);
	char base[256], *c, *k, err[256], *dump;
	store *st = tsu_open_new(base, sizeof(base));
	store_reader *r;
	store_tls_profile p, got;
	store_trunk t;
	store_trunk_snapshot *snap;
	ctl_tls_info info;
	const char *peer_sans[] = {"other.example.net", "ALT.example.net"};
	json_t *o;
	(void)state;

	assert_int_equal(store_reader_open(st, &r), 0);
	make(now - 60, now + 86400, false, &c, &k);
	store_tls_init(&p, "carrier");
	p.cert_pem = c;
	p.key_pem = k;
	p.require_client_cert = true;
	assert_int_equal(store_tls_put(st, &p, true, err, sizeof(err)), 0);
	assert_int_equal(store_tls_put(st, &p, true, err, sizeof(err)), SBC_E_EXISTS);
	assert_int_equal(store_tls_get(r, "carrier", &got), 0);
	assert_string_equal(got.cert_pem, c);
	assert_string_equal(got.key_pem, k);
	assert_true(got.require_client_cert);
	o = store_tls_to_json(&got, false);
	dump = json_dumps(o, 0);
	assert_null(strstr(dump, "PRIVATE KEY"));
	free(dump);
	json_decref(o);
	store_tls_clear(&got);
	assert_int_equal(store_generation(r, STORE_AREA_TLS), 1);

	/* a trunk that trusts this certificate by fingerprint, another by SAN */
	assert_int_equal(ctl_tls_inspect(c, k, 0, &info, err, sizeof(err)), 0);
	store_trunk_init(&t, "by-fp");
	t.n_certs = 1;
	t.certs[0].kind = STORE_CERT_FINGERPRINT;
	{
		json_t *tj = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "name", "by-fp", "tls_profile",
				       "carrier", "certs", "type", "fingerprint", "value",
				       info.fingerprint);

		assert_int_equal(store_trunk_from_json(tj, &t, false, err, sizeof(err)), 0);
		json_decref(tj);
	}
	assert_int_equal(store_trunk_put(st, &t, true, err, sizeof(err)), 0);
	store_trunk_init(&t, "by-san");
	t.n_certs = 1;
	t.certs[0].kind = STORE_CERT_SAN;
	strcpy(t.certs[0].value, "alt.example.net");
	assert_int_equal(store_trunk_put(st, &t, true, err, sizeof(err)), 0);
	assert_int_equal(store_trunk_snapshot_load(r, &snap), 0);
	{
		const store_trunk *m;
		uint8_t other[32] = {0};

		m = store_trunk_snapshot_match_cert(snap, info.subject, NULL, 0, info.sha256, NULL);
		assert_non_null(m);
		assert_string_equal(m->name, "by-fp");
		m = store_trunk_snapshot_match_cert(snap, "CN=x", peer_sans, 2, other, NULL);
		assert_non_null(m);
		assert_string_equal(m->name, "by-san");
		assert_null(store_trunk_snapshot_match_cert(snap, "CN=x", peer_sans, 1, other, NULL));
	}
	store_trunk_snapshot_unref(snap);
	/* the profile a trunk names cannot be removed */
	assert_int_equal(store_tls_remove(st, "carrier", err, sizeof(err)), SBC_E_STATE);
	assert_non_null(strstr(err, "used by trunk 'by-fp'"));
	assert_int_equal(store_trunk_remove(st, "by-fp", err, sizeof(err)), 0);
	assert_int_equal(store_tls_remove(st, "carrier", err, sizeof(err)), 0);
	assert_int_equal(store_tls_get(r, "carrier", &got), SBC_E_NOT_FOUND);
	store_tls_clear(&p);
	store_reader_close(r);
	store_close(st);
	tsu_rmtree(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selfsigned_inspect),
		cmocka_unit_test(test_validity_and_mismatch),
		cmocka_unit_test(test_chain_and_rsa),
		cmocka_unit_test(test_profile_check_and_json),
		cmocka_unit_test(test_store_round_trip_and_trunk_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
