/* sbc-control — tls.* methods. Syntax is checked by the store's parser;
 * the certificate itself (parses, key matches, validity) by ctl_tls. The
 * private key never leaves unless tls.get is asked for it explicitly. */
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "ctl_methods.h"
#include "ctl_tls_check.h"

static int tls_put(ctl_ctx *ctx, json_t *params, bool create, json_t **result, ctl_rpc_err *err)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	store_tls_profile p;
	char e[512] = "";
	json_t *info = NULL;
	int ret;

	if (!store_name_valid(name))
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS,
				    "params.name: \"%.64s\" is not a valid name (1..%d of A-Z a-z 0-9 . _ -)", name,
				    STORE_NAME_MAX);
	store_tls_init(&p, name);
	if (!create) {
		ret = store_tls_get(ctx->rd, name, &p);
		if (ret == SBC_E_NOT_FOUND) {
			store_tls_clear(&p);
			return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "TLS profile \"%s\" not found", name);
		}
		if (ret < 0) {
			store_tls_clear(&p);
			return ctl_rpc_fail_store(err, ret, NULL);
		}
	}
	ret = store_tls_from_json(params, &p, !create, e, sizeof(e));
	if (ret < 0) {
		store_tls_clear(&p);
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s", e[0] ? e : sbc_strerror(ret));
	}
	ret = ctl_tls_check_profile(&p, &info, e, sizeof(e));
	if (ret < 0) {
		json_decref(info);
		store_tls_clear(&p);
		return ctl_rpc_fail(err, CTL_RPC_CERT, "%s", e[0] ? e : sbc_strerror(ret));
	}
	ret = store_tls_put(ctx->st, &p, create, e, sizeof(e));
	if (ret < 0) {
		json_decref(info);
		store_tls_clear(&p);
		return ctl_rpc_fail_store(err, ret, e);
	}
	ctl_config_changed(ctx, STORE_AREA_TLS);
	*result = store_tls_to_json(&p, false);
	if (*result && info)
		json_object_set_new(*result, "certificate", info);
	else
		json_decref(info);
	store_tls_clear(&p);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_tls_add) { return tls_put(ctx, params, true, result, err); }

CTL_METHOD_DECL(ctl_m_tls_update) { return tls_put(ctx, params, false, result, err); }

CTL_METHOD_DECL(ctl_m_tls_remove)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	char e[512] = "";
	int ret = store_tls_remove(ctx->st, name, e, sizeof(e));
	if (ret == SBC_E_NOT_FOUND)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "TLS profile \"%s\" not found", name);
	if (ret < 0)
		return ctl_rpc_fail_store(err, ret, e);
	ctl_config_changed(ctx, STORE_AREA_TLS);
	*result = json_pack("{s:s, s:b}", "name", name, "removed", 1);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_tls_get)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	bool include_key = json_is_true(json_object_get(params, "include_key"));
	store_tls_profile p;
	json_t *info = NULL;
	char e[512] = "";

	store_tls_init(&p, name);
	int ret = store_tls_get(ctx->rd, name, &p);
	if (ret < 0) {
		store_tls_clear(&p);
		if (ret == SBC_E_NOT_FOUND)
			return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "TLS profile \"%s\" not found", name);
		return ctl_rpc_fail_store(err, ret, NULL);
	}
	*result = store_tls_to_json(&p, include_key);
	/* Report what the certificate says now (an expired one shows its error). */
	if (ctl_tls_check_profile(&p, &info, e, sizeof(e)) < 0)
		json_object_set_new(*result, "certificate_error", json_string(e));
	if (info)
		json_object_set_new(*result, "certificate", info);
	store_tls_clear(&p);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_tls_list)
{
	const char *after = json_string_value(json_object_get(params, "after"));
	json_t *lim = json_object_get(params, "limit");
	size_t max = lim ? (size_t)json_integer_value(lim) : CTL_LIST_DEFAULT;
	bool more = false;
	char(*names)[STORE_NAME_MAX + 1] = calloc(max, sizeof(*names));
	if (!names)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	int n = store_tls_list(ctx->rd, after, names, max, &more);
	if (n < 0) {
		free(names);
		return ctl_rpc_fail_store(err, n, NULL);
	}
	json_t *arr = json_array();
	for (int i = 0; i < n; i++) {
		store_tls_profile p;
		json_t *o = NULL, *info = NULL;
		char e[256];
		store_tls_init(&p, names[i]);
		if (store_tls_get(ctx->rd, names[i], &p) == 0) {
			o = json_pack("{s:s}", "name", names[i]);
			if (ctl_tls_check_profile(&p, &info, e, sizeof(e)) < 0)
				json_object_set_new(o, "certificate_error", json_string(e));
			if (info)
				json_object_set_new(o, "certificate", info);
		}
		store_tls_clear(&p);
		if (o)
			json_array_append_new(arr, o);
	}
	*result = json_pack("{s:o, s:b}", "profiles", arr, "more", more);
	if (more && n > 0)
		json_object_set_new(*result, "next", json_string(names[n - 1]));
	free(names);
	return CTL_RPC_OK;
}
