/* sbc — store: TLS profiles (JSON <-> struct, CRUD). The crypto checks
 * (PEM parses, key matches, validity) are in sbc-control/src/ctl_tls.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "store-int.h"

#define PEM_MAX (1u << 20)

#define E(...) (x__store_seterr(err, errlen, __VA_ARGS__), SBC_E_INVAL)

void store_tls_init(store_tls_profile *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	p->verify_depth = 4;
	p->min_version = 0x0303;
	if (name)
		x__store_strlcpy(p->name, name, sizeof(p->name));
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void store_tls_clear(store_tls_profile *p)
{
	if (!p)
		return;
	free(p->cert_pem);
	wipe_free(p->key_pem);
	free(p->ca_pem);
	p->cert_pem = p->key_pem = p->ca_pem = NULL;
}

static int pem_field(const json_t *v, const char *field, const char *kind, char **out, char *err,
		     size_t errlen)
{
	const char *s;

	if (json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return E("%s: must be a PEM string", field);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return E("%s: contains a NUL byte", field);
	if (json_string_length(v) > PEM_MAX)
		return E("%s: larger than %u bytes", field, PEM_MAX);
	if (*s && !strstr(s, "-----BEGIN "))
		return E("%s: not PEM (no '-----BEGIN %s' line)", field, kind);
	/* a key pasted with the certificates would leak in every view */
	if (strcmp(kind, "CERTIFICATE") == 0 && strstr(s, "PRIVATE KEY"))
		return E("%s: contains a private key; give it as key_pem", field);
	if (!*s) {
		*out = NULL;
		return 0;
	}
	if (!(*out = strdup(s)))
		return -ENOMEM;
	return 0;
}

int store_tls_from_json(const json_t *obj, store_tls_profile *p, bool partial_update, char *err,
			size_t errlen)
{
	store_tls_profile t;
	char *news[3] = {NULL, NULL, NULL};
	bool set[3] = {false, false, false};
	const char *key;
	json_t *v, *x;
	size_t i;
	int ret = 0;

	if (!json_is_object(obj))
		return E("tls profile: must be a JSON object");
	if (partial_update) {
		t = *p;
	} else {
		store_tls_init(&t, NULL);
		if (!json_object_get(obj, "name"))
			return E("name: missing");
	}
	json_object_foreach((json_t *)obj, key, v) {
		int slot = -1;

		if (strcmp(key, "name") == 0) {
			const char *n = json_is_string(v) ? json_string_value(v) : NULL;

			if (!n || !store_name_valid(n)) {
				ret = E("name: must be 1..%d characters of A-Z a-z 0-9 . _ -",
					STORE_NAME_MAX);
				goto Fail;
			}
			if (partial_update && strcmp(n, t.name) != 0) {
				ret = E("name: cannot be changed");
				goto Fail;
			}
			x__store_strlcpy(t.name, n, sizeof(t.name));
		} else if (strcmp(key, "cert_pem") == 0 || strcmp(key, "certificate") == 0) {
			slot = 0;
		} else if (strcmp(key, "key_pem") == 0 || strcmp(key, "private_key") == 0) {
			slot = 1;
		} else if (strcmp(key, "ca_pem") == 0 || strcmp(key, "ca") == 0) {
			slot = 2;
		} else if (strcmp(key, "verify_depth") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 16) {
				ret = E("verify_depth: must be an integer 0..16");
				goto Fail;
			}
			t.verify_depth = (uint8_t)json_integer_value(v);
		} else if (strcmp(key, "require_client_cert") == 0) {
			if (!json_is_boolean(v)) {
				ret = E("require_client_cert: must be true or false");
				goto Fail;
			}
			t.require_client_cert = json_is_true(v);
		} else if (strcmp(key, "sni") == 0) {
			if (!json_is_array(v) || json_array_size(v) > STORE_TLS_SNI_MAX) {
				ret = E("sni: must be an array of at most %d host names",
					STORE_TLS_SNI_MAX);
				goto Fail;
			}
			t.n_sni = 0;
			json_array_foreach(v, i, x) {
				const char *h = json_is_string(x) ? json_string_value(x) : "";
				size_t j, hl = strlen(h);
				bool ok = hl > 0 && hl <= STORE_HOST_MAX;

				for (j = 0; ok && j < hl; j++)
					ok = (h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z') ||
					     (h[j] >= '0' && h[j] <= '9') || h[j] == '-' || h[j] == '.' ||
					     (h[j] == '*' && j == 0);
				if (!ok) {
					ret = E("sni[%zu]: must be a host name", i);
					goto Fail;
				}
				memcpy(t.sni[i], h, hl + 1);
				t.n_sni++;
			}
		} else if (strcmp(key, "min_version") == 0) {
			const char *mv = json_is_string(v) ? json_string_value(v) : "";

			if (strcmp(mv, "1.2") == 0) {
				t.min_version = 0x0303;
			} else if (strcmp(mv, "1.3") == 0) {
				t.min_version = 0x0304;
			} else {
				ret = E("min_version: must be \"1.2\" or \"1.3\"");
				goto Fail;
			}
		} else if (strcmp(key, "ciphers") == 0) {
			const char *c = json_is_string(v) ? json_string_value(v) : NULL;
			size_t j;

			if (!c || !x__store_strlcpy(t.ciphers, c, sizeof(t.ciphers))) {
				ret = E("ciphers: must be a string of at most %d characters",
					STORE_CIPHERS_MAX);
				goto Fail;
			}
			for (j = 0; c[j]; j++)
				if ((unsigned char)c[j] < 0x21 || c[j] == 0x7f) {
					ret = E("ciphers: no spaces or control characters "
						"(separate with ':')");
					goto Fail;
				}
		} else {
			ret = E("%s: unknown key", key);
			goto Fail;
		}
		if (slot >= 0) {
			static const char *const kinds[] = {"CERTIFICATE", "PRIVATE KEY",
							    "CERTIFICATE"};

			if (set[slot]) {
				ret = E("%s: given twice (under two names)", key);
				goto Fail;
			}
			if ((ret = pem_field(v, key, kinds[slot], &news[slot], err, errlen)) != 0)
				goto Fail;
			set[slot] = true;
		}
	}
	if (set[0])
		t.cert_pem = news[0];
	if (set[1])
		t.key_pem = news[1];
	if (set[2])
		t.ca_pem = news[2];
	if (!t.cert_pem) {
		ret = E("cert_pem: missing");
		goto Fail;
	}
	if (!t.key_pem) {
		ret = E("key_pem: missing");
		goto Fail;
	}
	/* success: release what the new values replaced */
	if (partial_update) {
		if (set[0])
			free(p->cert_pem);
		if (set[1])
			wipe_free(p->key_pem);
		if (set[2])
			free(p->ca_pem);
	}
	*p = t;
	return 0;
Fail:
	free(news[0]);
	wipe_free(news[1]);
	free(news[2]);
	return ret;
}

json_t *store_tls_to_json(const store_tls_profile *p, bool include_key)
{
	json_t *o = json_object(), *a = json_array();
	unsigned i;

	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		return NULL;
	}
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "cert_pem", p->cert_pem ? json_string(p->cert_pem) : json_null());
	if (include_key)
		json_object_set_new(o, "key_pem",
				    p->key_pem ? json_string(p->key_pem) : json_null());
	json_object_set_new(o, "ca_pem", p->ca_pem ? json_string(p->ca_pem) : json_null());
	json_object_set_new(o, "verify_depth", json_integer(p->verify_depth));
	json_object_set_new(o, "require_client_cert", json_boolean(p->require_client_cert));
	for (i = 0; i < p->n_sni; i++)
		json_array_append_new(a, json_string(p->sni[i]));
	json_object_set_new(o, "sni", a);
	json_object_set_new(o, "min_version", json_string(p->min_version == 0x0304 ? "1.3" : "1.2"));
	json_object_set_new(o, "ciphers", json_string(p->ciphers));
	if (json_object_size(o) != (include_key ? 9u : 8u)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- CRUD ------------------------------------------------------------------ */

static int tls_decode(const MDB_val *v, void *out)
{
	json_t *o = x__store_json_load(v);
	int ret;

	if (!o)
		return SBC_E_PARSE;
	store_tls_init(out, NULL);
	ret = store_tls_from_json(o, out, false, NULL, 0);
	json_decref(o);
	return ret == -ENOMEM ? ret : ret ? SBC_E_PARSE : 0;
}

int store_tls_put(store *st, const store_tls_profile *p, bool create, char *err, size_t errlen)
{
	MDB_txn *txn;
	char *text = NULL;
	int ret;

	if (!store_name_valid(p->name))
		return E("name: must be 1..%d characters of A-Z a-z 0-9 . _ -", STORE_NAME_MAX);
	if (!p->cert_pem || !*p->cert_pem)
		return E("cert_pem: missing");
	if (!p->key_pem || !*p->key_pem)
		return E("key_pem: missing");
	if (strstr(p->cert_pem, "PRIVATE KEY") || (p->ca_pem && strstr(p->ca_pem, "PRIVATE KEY")))
		return E("%s: contains a private key; give it as key_pem",
			 strstr(p->cert_pem, "PRIVATE KEY") ? "cert_pem" : "ca_pem");
	if ((ret = x__store_json_text(store_tls_to_json(p, true), &text, err, errlen)) != 0)
		return ret;
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		goto Exit;
	if ((ret = x__store_put_named(txn, st->dbi_tls, "tls profile", p->name, text, create, err, errlen)) != 0) {
		mdb_txn_abort(txn);
		goto Exit;
	}
	ret = x__store_wr_commit(st, txn, STORE_AREA_TLS, err, errlen);
Exit:
	/* the text holds the private key */
	explicit_bzero(text, strlen(text));
	free(text);
	return ret;
}

int store_tls_remove(store *st, const char *name, char *err, size_t errlen)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int rc, ret;

	if (!store_name_valid(name))
		return E("name: not a valid profile name");
	if ((ret = x__store_wr_begin(st, &txn, err, errlen)) != 0)
		return ret;
	/* refuse while a trunk names it (trunks are few: scan them) */
	if ((rc = mdb_cursor_open(txn, st->dbi_trunks, &cur)) != 0) {
		ret = x__store_mdb_err(rc);
		goto Abort;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		json_t *o = x__store_json_load(&v), *tp = o ? json_object_get(o, "tls_profile") : NULL;
		bool used = json_is_string(tp) && strcmp(json_string_value(tp), name) == 0;

		if (used)
			x__store_seterr(err, errlen, "tls profile '%s' is used by trunk '%.*s'", name,
					(int)k.mv_size, (const char *)k.mv_data);
		json_decref(o);
		if (used) {
			mdb_cursor_close(cur);
			ret = SBC_E_STATE;
			goto Abort;
		}
	}
	mdb_cursor_close(cur);
	if ((ret = x__store_del_named(txn, st->dbi_tls, "tls profile", name, err, errlen)) != 0)
		goto Abort;
	return x__store_wr_commit(st, txn, STORE_AREA_TLS, err, errlen);
Abort:
	mdb_txn_abort(txn);
	return ret;
}

int store_tls_get(store_reader *r, const char *name, store_tls_profile *out)
{
	store_tls_init(out, NULL); /* the caller may clear it whatever happens */
	return x__store_get_named(r, r->st->dbi_tls, name, tls_decode, out);
}

static int list_name(const MDB_val *k, const MDB_val *v, size_t i, void *arg)
{
	char(*names)[STORE_NAME_MAX + 1] = arg;
	(void)v;
	if (k->mv_size > STORE_NAME_MAX)
		return SBC_E_PARSE;
	memcpy(names[i], k->mv_data, k->mv_size);
	names[i][k->mv_size] = '\0';
	return 0;
}

int store_tls_list(store_reader *r, const char *after, char (*names)[STORE_NAME_MAX + 1],
		   size_t max, bool *more)
{
	return x__store_list_named(r, r->st->dbi_tls, after, max, more, list_name, names);
}
