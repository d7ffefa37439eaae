/* sbc-control — trunk.* methods. The trunk's fields are validated by the
 * store's parser (store_trunk_from_json), which names the field. */
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sbc/store.h"
#include "ctl_methods.h"

static json_t *trunk_out(ctl_ctx *ctx, const store_trunk *t)
{
	json_t *o = store_trunk_to_json(t);
	if (o)
		json_object_set_new(o, "route_refs", json_integer(store_trunk_route_refs(ctx->rd, t->name)));
	return o;
}

static int trunk_put(ctl_ctx *ctx, json_t *params, bool create, json_t **result, ctl_rpc_err *err)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	store_trunk *t = malloc(sizeof(*t));
	char e[512] = "";
	int ret;

	if (!t)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	if (!store_name_valid(name)) {
		free(t);
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS,
				    "params.name: \"%.64s\" is not a valid name (1..%d of A-Z a-z 0-9 . _ -)", name,
				    STORE_NAME_MAX);
	}
	if (!create) {
		ret = store_trunk_get(ctx->rd, name, t);
		if (ret == SBC_E_NOT_FOUND) {
			free(t);
			return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "trunk \"%s\" not found", name);
		}
		if (ret < 0) {
			free(t);
			return ctl_rpc_fail_store(err, ret, NULL);
		}
	}
	ret = store_trunk_from_json(params, t, !create, e, sizeof(e));
	if (ret < 0) {
		free(t);
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s", e[0] ? e : sbc_strerror(ret));
	}
	ret = store_trunk_put(ctx->st, t, create, e, sizeof(e));
	if (ret < 0) {
		free(t);
		return ctl_rpc_fail_store(err, ret, e);
	}
	ctl_config_changed(ctx, STORE_AREA_TRUNKS);
	*result = trunk_out(ctx, t);
	free(t);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_trunk_add) { return trunk_put(ctx, params, true, result, err); }

CTL_METHOD_DECL(ctl_m_trunk_update) { return trunk_put(ctx, params, false, result, err); }

CTL_METHOD_DECL(ctl_m_trunk_remove)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	char e[512] = "";
	int ret = store_trunk_remove(ctx->st, name, e, sizeof(e));
	if (ret == SBC_E_NOT_FOUND)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "trunk \"%s\" not found", name);
	if (ret < 0)
		return ctl_rpc_fail_store(err, ret, e);
	ctl_config_changed(ctx, STORE_AREA_TRUNKS);
	*result = json_pack("{s:s, s:b}", "name", name, "removed", 1);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_trunk_get)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	store_trunk *t = malloc(sizeof(*t));
	if (!t)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	int ret = store_trunk_get(ctx->rd, name, t);
	if (ret < 0) {
		free(t);
		if (ret == SBC_E_NOT_FOUND)
			return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "trunk \"%s\" not found", name);
		return ctl_rpc_fail_store(err, ret, NULL);
	}
	*result = trunk_out(ctx, t);
	free(t);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_trunk_list)
{
	const char *after = json_string_value(json_object_get(params, "after"));
	json_t *lim = json_object_get(params, "limit");
	size_t max = lim ? (size_t)json_integer_value(lim) : CTL_LIST_DEFAULT;
	bool more = false;
	store_trunk *ts = calloc(max, sizeof(*ts));
	if (!ts)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "out of memory");
	store_reader_begin(ctx->rd);
	int n = store_trunk_list(ctx->rd, after, ts, max, &more);
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, trunk_out(ctx, &ts[i]));
	store_reader_end(ctx->rd);
	if (n < 0) {
		json_decref(arr);
		free(ts);
		return ctl_rpc_fail_store(err, n, NULL);
	}
	*result = json_pack("{s:o, s:b}", "trunks", arr, "more", more);
	if (more && n > 0)
		json_object_set_new(*result, "next", json_string(ts[n - 1].name));
	free(ts);
	return CTL_RPC_OK;
}
