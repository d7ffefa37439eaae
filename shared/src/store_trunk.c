/* sbc — store: trunks (JSON <-> struct with validation, CRUD, snapshot).
 *
 * A trunk is stored as its canonical JSON text (store_trunk_to_json) under
 * its name; reading one parses one small object. Inbound matching uses an
 * immutable snapshot of every trunk, loaded once per trunks generation.
 */
#include <ctype.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"

#define MAX_CALLS_LIMIT 10000000u
#define MAX_CPS_LIMIT 1000000u

static const uint8_t default_suites[] = {
	SBC_SRTP_AES_CM_128_HMAC_SHA1_80, SBC_SRTP_AES_CM_128_HMAC_SHA1_32,
	SBC_SRTP_AEAD_AES_128_GCM,        SBC_SRTP_AEAD_AES_256_GCM,
	SBC_SRTP_AES_256_CM_HMAC_SHA1_80, SBC_SRTP_AES_256_CM_HMAC_SHA1_32,
};

void store_trunk_init(store_trunk *t, const char *name)
{
	memset(t, 0, sizeof(*t));
	t->enabled = true;
	if (name)
		x__store_strlcpy(t->name, name, sizeof(t->name));
}

/* ---- field parsers ------------------------------------------------------------- */

#define E(...) (x__store_seterr(err, errlen, __VA_ARGS__), SBC_E_INVAL)

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A DNS name: labels of [A-Za-z0-9-_] 1..63, dot separated, <= 253. */
static bool dns_name_valid(const char *h)
{
	size_t len = strlen(h), lab = 0, i;

	if (len == 0 || len > STORE_HOST_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!(isalnum((unsigned char)c) || c == '-' || c == '_'))
			return false;
		if (++lab > 63)
			return false;
	}
	return lab > 0 || len > 1; /* allow one trailing dot */
}

/* "parent.key" into f (truncated when too long: still names the field). */
static void field_name(char *f, size_t size, const char *parent, const char *key)
{
	if (snprintf(f, size, "%s.%s", parent, key) >= (int)size)
		f[size - 1] = '\0';
}

static int json_string_field(const json_t *v, const char *field, char *dst, size_t size,
			     bool allow_empty, char *err, size_t errlen)
{
	const char *s;

	if (!json_is_string(v))
		return E("%s: must be a string", field);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !printable(s))
		return E("%s: contains control characters", field);
	if (!allow_empty && !*s)
		return E("%s: must not be empty", field);
	if (!x__store_strlcpy(dst, s, size))
		return E("%s: too long (at most %zu characters)", field, size - 1);
	return 0;
}

static int json_u32_field(const json_t *v, const char *field, uint32_t lo, uint32_t hi,
			  uint32_t *out, char *err, size_t errlen)
{
	json_int_t i;

	if (!json_is_integer(v))
		return E("%s: must be an integer", field);
	i = json_integer_value(v);
	if (i < lo || i > hi)
		return E("%s: must be %u..%u", field, lo, hi);
	*out = (uint32_t)i;
	return 0;
}

/* Fills d from "[transport:]host[:port]" (host may be "[v6]" or a bare v6). */
static int dest_parse_text(const char *text, store_dest *d, const char *field, char *err,
			   size_t errlen)
{
	char buf[STORE_HOST_MAX + 16], *host, *port = NULL, *colon;
	size_t len = strlen(text);

	if (len >= sizeof(buf))
		return E("%s: too long", field);
	memcpy(buf, text, len + 1);
	host = buf;
	colon = strchr(host, ':');
	if (colon && colon - host == 3 && colon[1] != ':') {
		*colon = '\0';
		if (store_transport_parse(host, &d->transport) == 0)
			host = colon + 1;
		else
			*colon = ':';
	}
	if (*host == '[') {
		char *rb = strchr(host, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			return E("%s: bad IPv6 literal (want [addr]:port)", field);
		*rb = '\0';
		if (rb[1] == ':')
			port = rb + 2;
		host++;
	} else if ((colon = strchr(host, ':')) && !strchr(colon + 1, ':')) {
		*colon = '\0';
		port = colon + 1;
	}
	if (port) {
		char *end;
		long p = strtol(port, &end, 10);

		if (!*port || *end || p < 1 || p > 65535)
			return E("%s: port must be 1..65535", field);
		d->port = (uint16_t)p;
	}
	if (!x__store_strlcpy(d->host, host, sizeof(d->host)))
		return E("%s: host too long", field);
	return 0;
}

static int dest_finish(store_dest *d, const char *field, char *err, size_t errlen)
{
	uint16_t port;

	d->is_ip = sbc_addr_parse(d->host, 0, &d->addr) == 0;
	if (!d->is_ip && !dns_name_valid(d->host))
		return E("%s.host: '%s' is neither an IP address nor a DNS name", field, d->host);
	if (d->is_ip) {
		port = d->port ? d->port : (d->transport == STORE_TP_TLS ? 5061 : 5060);
		sbc_addr_set_port(&d->addr, port);
	} else {
		memset(&d->addr, 0, sizeof(d->addr));
	}
	return 0;
}

static int dest_from_json(const json_t *v, store_dest *d, const char *field, char *err,
			  size_t errlen)
{
	char f[64];
	const char *key;
	json_t *x;
	uint32_t u;
	bool have_host = false;
	int ret;

	memset(d, 0, sizeof(*d));
	if (json_is_string(v)) {
		if ((ret = dest_parse_text(json_string_value(v), d, field, err, errlen)))
			return ret;
		return dest_finish(d, field, err, errlen);
	}
	if (!json_is_object(v))
		return E("%s: must be an object {host, port, transport} or a string "
			 "\"[transport:]host[:port]\"", field);
	json_object_foreach((json_t *)v, key, x) {
		field_name(f, sizeof(f), field, key);
		if (strcmp(key, "host") == 0) {
			if ((ret = json_string_field(x, f, d->host, sizeof(d->host), false, err,
						     errlen)))
				return ret;
			have_host = true;
		} else if (strcmp(key, "port") == 0) {
			if ((ret = json_u32_field(x, f, 0, 65535, &u, err, errlen)))
				return ret;
			d->port = (uint16_t)u;
		} else if (strcmp(key, "transport") == 0) {
			if (!json_is_string(x) ||
			    (strcmp(json_string_value(x), "any") != 0 &&
			     store_transport_parse(json_string_value(x), &d->transport) != 0))
				return E("%s: must be one of udp, tcp, tls, any", f);
		} else {
			return E("%s: unknown key", f);
		}
	}
	if (!have_host)
		return E("%s.host: missing", field);
	return dest_finish(d, field, err, errlen);
}

static int fingerprint_norm(const char *in, char *out)
{
	size_t n = 0;

	for (; *in; in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n >= 64)
			return -1;
		out[n++] = (char)tolower((unsigned char)*in);
	}
	out[n] = '\0';
	return n == 64 ? 0 : -1;
}

static int cert_from_json(const json_t *v, store_cert_id *c, const char *field, char *err,
			  size_t errlen)
{
	char f[64], val[STORE_CERT_ID_MAX + 1];
	const char *key;
	json_t *x;
	bool have_type = false, have_value = false;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(v))
		return E("%s: must be an object {\"type\":\"subject|san|fingerprint\", "
			 "\"value\":...}", field);
	json_object_foreach((json_t *)v, key, x) {
		field_name(f, sizeof(f), field, key);
		if (strcmp(key, "type") == 0) {
			const char *t = json_is_string(x) ? json_string_value(x) : "";

			if (strcmp(t, "subject") == 0)
				c->kind = STORE_CERT_SUBJECT;
			else if (strcmp(t, "san") == 0)
				c->kind = STORE_CERT_SAN;
			else if (strcmp(t, "fingerprint") == 0)
				c->kind = STORE_CERT_FINGERPRINT;
			else
				return E("%s: must be subject, san or fingerprint", f);
			have_type = true;
		} else if (strcmp(key, "value") == 0) {
			if ((ret = json_string_field(x, f, val, sizeof(val), false, err, errlen)))
				return ret;
			have_value = true;
		} else {
			return E("%s: unknown key", f);
		}
	}
	if (!have_type)
		return E("%s.type: missing", field);
	if (!have_value)
		return E("%s.value: missing", field);
	if (c->kind == STORE_CERT_FINGERPRINT) {
		if (fingerprint_norm(val, c->value) != 0)
			return E("%s.value: a SHA-256 fingerprint is 64 hex digits (colons "
				 "allowed)", field);
	} else {
		memcpy(c->value, val, sizeof(val));
	}
	return 0;
}

static int srtp_from_json(const json_t *v, store_srtp_policy *p, const char *field, char *err,
			  size_t errlen)
{
	char f[64];
	const char *key;
	json_t *x, *s;
	size_t i, j;
	bool have_suites = false;

	memset(p, 0, sizeof(*p));
	if (json_is_string(v)) /* shorthand: just the mode */
		v = json_pack("{s:O}", "mode", v);
	else
		json_incref((json_t *)v);
	if (!v)
		return -ENOMEM;
	if (!json_is_object(v)) {
		json_decref((json_t *)v);
		return E("%s: must be an object {\"mode\":..., \"suites\":[...]}", field);
	}
	json_object_foreach((json_t *)v, key, x) {
		field_name(f, sizeof(f), field, key);
		if (strcmp(key, "mode") == 0) {
			if (!json_is_string(x) || store_srtp_mode_parse(json_string_value(x),
									&p->mode) != 0)
				goto BadMode;
		} else if (strcmp(key, "suites") == 0) {
			if (!json_is_array(x))
				goto BadArray;
			json_array_foreach(x, i, s) {
				uint8_t suite;

				if (!json_is_string(s) ||
				    store_srtp_suite_parse(json_string_value(s), &suite) != 0) {
					json_decref((json_t *)v);
					return E("%s[%zu]: unknown SRTP suite (e.g. "
						 "AES_CM_128_HMAC_SHA1_80)", f, i);
				}
				for (j = 0; j < p->n_suites; j++)
					if (p->suites[j] == suite) {
						json_decref((json_t *)v);
						return E("%s[%zu]: %s listed twice", f, i,
							 json_string_value(s));
					}
				if (p->n_suites >= sizeof(p->suites)) {
					json_decref((json_t *)v);
					return E("%s: too many suites", f);
				}
				p->suites[p->n_suites++] = suite;
			}
			have_suites = true;
		} else {
			json_decref((json_t *)v);
			return E("%s: unknown key", f);
		}
	}
	json_decref((json_t *)v);
	if (p->mode == STORE_SRTP_OFF && p->n_suites > 0)
		return E("%s.suites: must be empty when mode is off", field);
	if (p->mode != STORE_SRTP_OFF && have_suites && p->n_suites == 0)
		return E("%s.suites: must not be empty when SRTP is %s", field,
			 store_srtp_mode_name(p->mode));
	if (p->mode != STORE_SRTP_OFF && p->n_suites == 0) {
		memcpy(p->suites, default_suites, sizeof(default_suites));
		p->n_suites = sizeof(default_suites);
	}
	return 0;
BadMode:
	json_decref((json_t *)v);
	return E("%s.mode: must be off, optional or required", field);
BadArray:
	json_decref((json_t *)v);
	return E("%s.suites: must be an array of suite names", field);
}

int store_trunk_from_json(const json_t *obj, store_trunk *out, bool partial_update, char *err,
			  size_t errlen)
{
	char f[64], name[STORE_NAME_MAX + 1];
	const char *key;
	json_t *v, *x;
	store_trunk t;
	size_t i;
	int ret;

	if (!json_is_object(obj))
		return E("trunk: must be a JSON object");
	if (partial_update)
		t = *out;
	else
		store_trunk_init(&t, NULL);
	v = json_object_get(obj, "name");
	if (v) {
		if ((ret = json_string_field(v, "name", name, sizeof(name), false, err, errlen)))
			return ret;
		if (!store_name_valid(name))
			return E("name: must be 1..%d characters of A-Z a-z 0-9 . _ -",
				 STORE_NAME_MAX);
		if (partial_update && strcmp(name, t.name) != 0)
			return E("name: cannot be changed ('%s' is not '%s')", name, t.name);
		memcpy(t.name, name, sizeof(name));
	} else if (!partial_update) {
		return E("name: missing");
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (strcmp(key, "name") == 0)
			continue;
		if (strcmp(key, "enabled") == 0) {
			if (!json_is_boolean(v))
				return E("enabled: must be true or false");
			t.enabled = json_is_true(v);
		} else if (strcmp(key, "cidrs") == 0) {
			if (!json_is_array(v))
				return E("cidrs: must be an array of \"addr/bits\" strings");
			if (json_array_size(v) > STORE_TRUNK_CIDRS_MAX)
				return E("cidrs: at most %d entries", STORE_TRUNK_CIDRS_MAX);
			t.n_cidrs = 0;
			json_array_foreach(v, i, x) {
				if (!json_is_string(x) ||
				    sbc_cidr_parse(json_string_value(x), &t.cidrs[i]) != 0)
					return E("cidrs[%zu]: not an address or CIDR (e.g. "
						 "192.0.2.0/24, 2001:db8::/32)", i);
				t.n_cidrs++;
			}
		} else if (strcmp(key, "certs") == 0) {
			if (!json_is_array(v))
				return E("certs: must be an array");
			if (json_array_size(v) > STORE_TRUNK_CERTS_MAX)
				return E("certs: at most %d entries", STORE_TRUNK_CERTS_MAX);
			t.n_certs = 0;
			json_array_foreach(v, i, x) {
				snprintf(f, sizeof(f), "certs[%zu]", i);
				if ((ret = cert_from_json(x, &t.certs[i], f, err, errlen)))
					return ret;
				t.n_certs++;
			}
		} else if (strcmp(key, "destinations") == 0) {
			if (!json_is_array(v))
				return E("destinations: must be an array");
			if (json_array_size(v) > STORE_TRUNK_DESTS_MAX)
				return E("destinations: at most %d entries", STORE_TRUNK_DESTS_MAX);
			t.n_dests = 0;
			json_array_foreach(v, i, x) {
				snprintf(f, sizeof(f), "destinations[%zu]", i);
				if ((ret = dest_from_json(x, &t.dests[i], f, err, errlen)))
					return ret;
				t.n_dests++;
			}
		} else if (strcmp(key, "tls_profile") == 0) {
			if (json_is_null(v)) {
				t.tls_profile[0] = '\0';
				continue;
			}
			if ((ret = json_string_field(v, "tls_profile", t.tls_profile,
						     sizeof(t.tls_profile), true, err, errlen)))
				return ret;
			if (t.tls_profile[0] && !store_name_valid(t.tls_profile))
				return E("tls_profile: not a valid profile name");
		} else if (strcmp(key, "srtp_inbound") == 0) {
			if ((ret = srtp_from_json(v, &t.srtp_in, key, err, errlen)))
				return ret;
		} else if (strcmp(key, "srtp_outbound") == 0) {
			if ((ret = srtp_from_json(v, &t.srtp_out, key, err, errlen)))
				return ret;
		} else if (strcmp(key, "max_calls") == 0) {
			if ((ret = json_u32_field(v, key, 0, MAX_CALLS_LIMIT, &t.max_calls, err,
						  errlen)))
				return ret;
		} else if (strcmp(key, "max_cps") == 0) {
			if ((ret = json_u32_field(v, key, 0, MAX_CPS_LIMIT, &t.max_cps, err,
						  errlen)))
				return ret;
		} else if (strcmp(key, "reuse_inbound") == 0) {
			if (!json_is_boolean(v))
				return E("reuse_inbound: must be true or false");
			t.reuse_inbound = json_is_true(v);
		} else {
			return E("%s: unknown key", key);
		}
	}
	if ((ret = store_trunk_validate(&t, err, errlen)) != 0)
		return ret;
	*out = t;
	return 0;
}

int store_trunk_validate(const store_trunk *t, char *err, size_t errlen)
{
	size_t i;

	if (!store_name_valid(t->name))
		return E("name: must be 1..%d characters of A-Z a-z 0-9 . _ -", STORE_NAME_MAX);
	if (t->n_cidrs > STORE_TRUNK_CIDRS_MAX || t->n_certs > STORE_TRUNK_CERTS_MAX ||
	    t->n_dests > STORE_TRUNK_DESTS_MAX)
		return E("trunk: too many cidrs, certs or destinations");
	if (t->tls_profile[0] && !store_name_valid(t->tls_profile))
		return E("tls_profile: not a valid profile name");
	for (i = 0; i < t->n_dests; i++) {
		if (t->dests[i].transport == STORE_TP_TLS && !t->tls_profile[0])
			return E("destinations[%zu].transport: tls needs a tls_profile", i);
		if (t->dests[i].transport > STORE_TP_TLS)
			return E("destinations[%zu].transport: invalid", i);
	}
	if (t->srtp_in.mode > STORE_SRTP_REQUIRED || t->srtp_out.mode > STORE_SRTP_REQUIRED)
		return E("srtp: invalid mode");
	if (t->srtp_in.n_suites > SBC_SRTP_SUITE_MAX_ || t->srtp_out.n_suites > SBC_SRTP_SUITE_MAX_)
		return E("srtp: too many suites");
	if (t->max_calls > MAX_CALLS_LIMIT)
		return E("max_calls: must be 0..%u", MAX_CALLS_LIMIT);
	if (t->max_cps > MAX_CPS_LIMIT)
		return E("max_cps: must be 0..%u", MAX_CPS_LIMIT);
	return 0;
}

static json_t *srtp_to_json(const store_srtp_policy *p)
{
	json_t *o = json_object(), *a = json_array();
	unsigned i;

	for (i = 0; i < p->n_suites && a; i++)
		json_array_append_new(a, json_string(store_srtp_suite_name(p->suites[i])));
	json_object_set_new(o, "mode", json_string(store_srtp_mode_name(p->mode)));
	json_object_set_new(o, "suites", a);
	return o;
}

json_t *store_trunk_to_json(const store_trunk *t)
{
	static const char *const kinds[] = {"subject", "san", "fingerprint"};
	json_t *o = json_object(), *a;
	char buf[SBC_ADDR_STRLEN + 8];
	unsigned i;

	if (!o)
		return NULL;
	json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "enabled", json_boolean(t->enabled));
	a = json_array();
	for (i = 0; i < t->n_cidrs; i++)
		json_array_append_new(a, json_string(sbc_cidr_format(&t->cidrs[i], buf,
								     sizeof(buf))));
	json_object_set_new(o, "cidrs", a);
	a = json_array();
	for (i = 0; i < t->n_certs; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "type",
						   kinds[t->certs[i].kind % 3], "value",
						   t->certs[i].value));
	json_object_set_new(o, "certs", a);
	a = json_array();
	for (i = 0; i < t->n_dests; i++) {
		const store_dest *d = &t->dests[i];

		json_array_append_new(a, json_pack("{s:s, s:i, s:s}", "host", d->host, "port",
						   (int)d->port, "transport",
						   store_transport_name(d->transport)));
	}
	json_object_set_new(o, "destinations", a);
	json_object_set_new(o, "tls_profile", json_string(t->tls_profile));
	json_object_set_new(o, "srtp_inbound", srtp_to_json(&t->srtp_in));
	json_object_set_new(o, "srtp_outbound", srtp_to_json(&t->srtp_out));
	json_object_set_new(o, "max_calls", json_integer(t->max_calls));
	json_object_set_new(o, "max_cps", json_integer(t->max_cps));
	json_object_set_new(o, "reuse_inbound", json_boolean(t->reuse_inbound));
	if (json_object_size(o) != 11) { /* an allocation failed on the way */
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- CRUD ------------------------------------------------------------------------ */

static int trunk_decode(const MDB_val *v, void *out)
{
	json_t *o = x__store_json_load(v);
	int ret;

	if (!o)
		return SBC_E_PARSE;
	ret = store_trunk_from_json(o, out, false, NULL, 0);
	json_decref(o);
	return ret ? SBC_E_PARSE : 0;
}

int store_trunk_put(store *st, const store_trunk *t, bool create, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_val k, v;
	char *text = NULL;
	int rc, ret;

	if ((ret = store_trunk_validate(t, err, errlen)) != 0)
		return ret;
	if ((ret = x__store_json_text(store_trunk_to_json(t), &text, err, errlen)) != 0)
		return ret;
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		goto Exit;
	if (t->tls_profile[0]) {
		k.mv_size = strlen(t->tls_profile);
		k.mv_data = (void *)t->tls_profile;
		if ((rc = mdb_get(txn, st->dbi_tls, &k, &v)) != 0) {
			ret = x__store_mdb_err(rc);
			x__store_seterr(err, errlen, "tls_profile: '%s' does not exist",
					t->tls_profile);
			goto Abort;
		}
	}
	if ((ret = x__store_put_named(txn, st->dbi_trunks, "trunk", t->name, text, create, err, errlen)) != 0)
		goto Abort;
	if (create) {
		uint32_t tid;

		if ((ret = x__store_tid_alloc(st, txn, t->name, &tid)) != 0) {
			x__store_seterr(err, errlen, "trunk '%s': allocating its id failed: %s",
					t->name, sbc_strerror(ret));
			goto Abort;
		}
	}
	ret = x__store_wr_commit(st, txn, STORE_AREA_TRUNKS, err, errlen);
	goto Exit;
Abort:
	mdb_txn_abort(txn);
Exit:
	free(text);
	return ret;
}

int store_trunk_remove(store *st, const char *name, char *err, size_t errlen)
{
	MDB_txn *txn;
	int64_t refs;
	int ret;

	if (!store_name_valid(name)) {
		x__store_seterr(err, errlen, "name: not a valid trunk name");
		return SBC_E_INVAL;
	}
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		return ret;
	if ((refs = x__store_ref_get(st, txn, name)) > 0) {
		x__store_seterr(err, errlen, "trunk '%s' is used by %lld route%s; remove them first",
				name, (long long)refs, refs == 1 ? "" : "s");
		ret = SBC_E_STATE;
		goto Abort;
	}
	if ((ret = x__store_del_named(txn, st->dbi_trunks, "trunk", name, err, errlen)) != 0)
		goto Abort;
	if ((ret = x__store_tid_del(st, txn, name)) != 0) {
		x__store_seterr(err, errlen, "trunk '%s': removing its id failed", name);
		goto Abort;
	}
	return x__store_wr_commit(st, txn, STORE_AREA_TRUNKS, err, errlen);
Abort:
	mdb_txn_abort(txn);
	return ret;
}

int store_trunk_get(store_reader *r, const char *name, store_trunk *out)
{
	return x__store_get_named(r, r->st->dbi_trunks, name, trunk_decode, out);
}

static int list_trunk(const MDB_val *k, const MDB_val *v, size_t i, void *out)
{
	(void)k;
	return trunk_decode(v, (store_trunk *)out + i);
}

int store_trunk_list(store_reader *r, const char *after, store_trunk *out, size_t max,
		     bool *more)
{
	return x__store_list_named(r, r->st->dbi_trunks, after, max, more, list_trunk, out);
}

/* ---- snapshot --------------------------------------------------------------------------- */

/* One enabled trunk's CIDR, in the flat list match_addr walks. */
typedef struct snap_cidr {
	sbc_cidr cidr;
	uint32_t trunk; /* index in trunks[] */
} snap_cidr;

struct store_trunk_snapshot {
	atomic_uint refs;
	uint64_t gen;
	size_t n;
	size_t n_cidrs;
	snap_cidr *cidrs; /* longest first, then trunk name: the first match wins */
	store_trunk trunks[]; /* name order */
};

static int cmp_snap_cidr(const void *a, const void *b)
{
	const snap_cidr *x = a, *y = b;

	if (x->cidr.bits != y->cidr.bits)
		return x->cidr.bits > y->cidr.bits ? -1 : 1;
	return x->trunk < y->trunk ? -1 : x->trunk > y->trunk;
}

static int snapshot_index(store_trunk_snapshot *s)
{
	size_t i, j, n = 0;

	for (i = 0; i < s->n; i++)
		if (s->trunks[i].enabled)
			n += s->trunks[i].n_cidrs;
	if (!(s->cidrs = calloc(n ? n : 1, sizeof(*s->cidrs))))
		return -ENOMEM;
	for (i = 0; i < s->n; i++) {
		if (!s->trunks[i].enabled)
			continue;
		for (j = 0; j < s->trunks[i].n_cidrs; j++) {
			s->cidrs[s->n_cidrs].cidr = s->trunks[i].cidrs[j];
			s->cidrs[s->n_cidrs].trunk = (uint32_t)i;
			s->n_cidrs++;
		}
	}
	qsort(s->cidrs, s->n_cidrs, sizeof(*s->cidrs), cmp_snap_cidr);
	return 0;
}

int store_trunk_snapshot_load(store_reader *r, store_trunk_snapshot **out)
{
	store_trunk_snapshot *s = NULL, *ns;
	MDB_cursor *cur = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	MDB_stat ms;
	size_t cap;
	int rc, ret;

	*out = NULL;
	if ((ret = x__store_rd_begin(r, &txn)) != 0)
		return ret;
	if ((rc = mdb_stat(txn, r->st->dbi_trunks, &ms)) != 0 ||
	    (rc = mdb_cursor_open(txn, r->st->dbi_trunks, &cur)) != 0) {
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
	cap = ms.ms_entries ? ms.ms_entries : 1;
	if (!(s = calloc(1, sizeof(*s) + cap * sizeof(store_trunk)))) {
		ret = -ENOMEM;
		goto Exit;
	}
	atomic_init(&s->refs, 1);
	{
		char kb[16];
		MDB_val gk = {strlen("gen.trunks"), kb}, gv;

		memcpy(kb, "gen.trunks", 10);
		if (mdb_get(txn, r->st->dbi_meta, &gk, &gv) == 0 && gv.mv_size == 8)
			memcpy(&s->gen, gv.mv_data, 8);
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (s->n == cap) { /* cannot happen in one txn, but be safe */
			if (!(ns = realloc(s, sizeof(*s) + cap * 2 * sizeof(store_trunk)))) {
				ret = -ENOMEM;
				goto Exit;
			}
			s = ns;
			cap *= 2;
		}
		if ((ret = trunk_decode(&v, &s->trunks[s->n])) != 0)
			goto Exit;
		s->n++;
	}
	if (rc != MDB_NOTFOUND) {
		ret = x__store_mdb_err(rc);
		goto Exit;
	}
	if ((ret = snapshot_index(s)) != 0)
		goto Exit;
	*out = s;
	s = NULL;
Exit:
	if (cur)
		mdb_cursor_close(cur);
	x__store_rd_end(r);
	if (s)
		free(s->cidrs);
	free(s);
	return ret;
}

store_trunk_snapshot *store_trunk_snapshot_ref(store_trunk_snapshot *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void store_trunk_snapshot_unref(store_trunk_snapshot *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		free(s->cidrs);
		free(s);
	}
}

uint64_t store_trunk_snapshot_generation(const store_trunk_snapshot *s) { return s->gen; }

size_t store_trunk_snapshot_count(const store_trunk_snapshot *s) { return s->n; }

const store_trunk *store_trunk_snapshot_at(const store_trunk_snapshot *s, size_t i)
{
	return i < s->n ? &s->trunks[i] : NULL;
}

const store_trunk *store_trunk_snapshot_find(const store_trunk_snapshot *s, const char *name)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->trunks[mid].name, name);

		if (c == 0)
			return &s->trunks[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The longest CIDR of t that matches a, or -1. */
static int best_cidr(const store_trunk *t, const sbc_addr *a)
{
	int best = -1;
	unsigned i;

	for (i = 0; i < t->n_cidrs; i++)
		if ((int)t->cidrs[i].bits > best && sbc_cidr_match(&t->cidrs[i], a))
			best = t->cidrs[i].bits;
	return best;
}

/* An IPv4-mapped IPv6 source (dual-stack socket) matches IPv4 CIDRs. */
static const sbc_addr *unmap(const sbc_addr *a, sbc_addr *tmp)
{
	if (a->sa.sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr))
		return a;
	memset(tmp, 0, sizeof(*tmp));
	tmp->in4.sin_family = AF_INET;
	tmp->in4.sin_port = a->in6.sin6_port;
	memcpy(&tmp->in4.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
	return tmp;
}

const store_trunk *store_trunk_snapshot_match_addr(const store_trunk_snapshot *s,
						   const sbc_addr *src)
{
	sbc_addr tmp;
	size_t i;

	src = unmap(src, &tmp);
	for (i = 0; i < s->n_cidrs; i++)
		if (sbc_cidr_match(&s->cidrs[i].cidr, src))
			return &s->trunks[s->cidrs[i].trunk];
	return NULL;
}

static bool cert_matches(const store_cert_id *c, const char *subject, const char *const *sans,
			 size_t n_sans, const char *fp_hex)
{
	size_t i;

	switch (c->kind) {
	case STORE_CERT_SUBJECT:
		return subject && strcmp(c->value, subject) == 0;
	case STORE_CERT_SAN:
		for (i = 0; i < n_sans; i++)
			if (sans[i] && strcasecmp(c->value, sans[i]) == 0)
				return true;
		return false;
	case STORE_CERT_FINGERPRINT:
		return fp_hex && strcmp(c->value, fp_hex) == 0;
	default:
		return false;
	}
}

const store_trunk *store_trunk_snapshot_match_cert(const store_trunk_snapshot *s,
						   const char *subject, const char *const *sans,
						   size_t n_sans, const uint8_t fingerprint[32],
						   const sbc_addr *src)
{
	static const char hex[] = "0123456789abcdef";
	char fp[65], *fpp = NULL;
	sbc_addr tmp;
	size_t i, j;

	if (src)
		src = unmap(src, &tmp);
	if (fingerprint) {
		for (i = 0; i < 32; i++) {
			fp[2 * i] = hex[fingerprint[i] >> 4];
			fp[2 * i + 1] = hex[fingerprint[i] & 15];
		}
		fp[64] = '\0';
		fpp = fp;
	}
	for (i = 0; i < s->n; i++) {
		const store_trunk *t = &s->trunks[i];

		if (!t->enabled)
			continue;
		for (j = 0; j < t->n_certs; j++) {
			if (!cert_matches(&t->certs[j], subject, sans, n_sans, fpp))
				continue;
			if (src && t->n_cidrs && best_cidr(t, src) < 0)
				break;
			return t;
		}
	}
	return NULL;
}
