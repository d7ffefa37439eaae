/* sbc-control — the JSON-RPC method table: every method and its params,
 * declared once. The server (ctl_rpc.c) validates params against it before
 * a handler runs. */
#include <string.h>

#include "sbc/store.h"
#include "ctl_methods.h"

#define NAME_LEN 1, STORE_NAME_MAX
#define END {NULL, 0, false, 0, 0}

static const ctl_param p_none[] = {END};
static const ctl_param p_status[] = {{"counts", CTL_P_BOOL, false, 0, 0}, END};
static const ctl_param p_name[] = {{"name", CTL_P_STR, true, NAME_LEN}, END};
static const ctl_param p_trunk_get[] = {{"name", CTL_P_STR, true, NAME_LEN}, END};
static const ctl_param p_list[] = {
	{"after", CTL_P_STR, false, 0, STORE_NAME_MAX},
	{"limit", CTL_P_INT, false, 1, CTL_LIST_MAX},
	END,
};
static const ctl_param p_route_add[] = {
	{"prefix", CTL_P_STR, true, 0, STORE_PREFIX_MAX},
	{"trunk", CTL_P_STR, true, NAME_LEN},
	{"priority", CTL_P_INT, false, 0, 65535},
	{"weight", CTL_P_INT, false, 0, 65535},
	{"strip", CTL_P_INT, false, 0, 32},
	{"prepend", CTL_P_STR, false, 0, STORE_PREPEND_MAX},
	END,
};
static const ctl_param p_route_remove[] = {
	{"prefix", CTL_P_STR, true, 0, STORE_PREFIX_MAX},
	{"trunk", CTL_P_STR, false, 0, STORE_NAME_MAX},
	END,
};
static const ctl_param p_route_list[] = {
	{"after_prefix", CTL_P_STR, false, 0, STORE_PREFIX_MAX},
	{"after_trunk", CTL_P_STR, false, 0, STORE_NAME_MAX},
	{"limit", CTL_P_INT, false, 1, CTL_LIST_MAX},
	END,
};
static const ctl_param p_route_lookup[] = {{"number", CTL_P_STR, true, 1, 128}, END};
static const ctl_param p_route_import[] = {
	{"format", CTL_P_STR, false, 3, 5},
	{"path", CTL_P_STR, false, 1, 4096},
	{"data", CTL_P_STR, false, 0, 0},
	{"replace", CTL_P_BOOL, false, 0, 0},
	END,
};
static const ctl_param p_route_export[] = {
	{"format", CTL_P_STR, false, 3, 5},
	{"path", CTL_P_STR, false, 1, 4096},
	END,
};
static const ctl_param p_tls_get[] = {
	{"name", CTL_P_STR, true, NAME_LEN},
	{"include_key", CTL_P_BOOL, false, 0, 0},
	END,
};

static const ctl_param p_call_list[] = {
	{"limit", CTL_P_INT, false, 1, CTL_LIST_MAX},
	{"active", CTL_P_BOOL, false, 0, 0},
	END,
};
static const ctl_param p_media_sessions[] = {
	{"offset", CTL_P_INT, false, 0, 1000000000},
	{"limit", CTL_P_INT, false, 1, CTL_LIST_MAX},
	END,
};
static const ctl_param p_call_id[] = {{"id", CTL_P_STR, true, 1, 64}, END};

static const ctl_method methods[] = {
	{"system.status", ctl_m_system_status, p_status, 0},
	{"system.version", ctl_m_system_version, p_none, 0},
	{"system.reload", ctl_m_system_reload, p_none, 0},
	{"system.shutdown", ctl_m_system_shutdown, p_none, 0},
	{"stats.get", ctl_m_stats_get, p_none, 0},
	{"trunk.add", ctl_m_trunk_add, p_name, CTL_M_WRITE | CTL_M_OPEN},
	{"trunk.update", ctl_m_trunk_update, p_name, CTL_M_WRITE | CTL_M_OPEN},
	{"trunk.remove", ctl_m_trunk_remove, p_name, CTL_M_WRITE},
	{"trunk.get", ctl_m_trunk_get, p_trunk_get, 0},
	{"trunk.list", ctl_m_trunk_list, p_list, 0},
	{"route.add", ctl_m_route_add, p_route_add, CTL_M_WRITE},
	{"route.remove", ctl_m_route_remove, p_route_remove, CTL_M_WRITE},
	{"route.list", ctl_m_route_list, p_route_list, 0},
	{"route.lookup", ctl_m_route_lookup, p_route_lookup, 0},
	{"route.import", ctl_m_route_import, p_route_import, CTL_M_WRITE},
	{"route.export", ctl_m_route_export, p_route_export, 0},
	{"tls.add", ctl_m_tls_add, p_name, CTL_M_WRITE | CTL_M_OPEN},
	{"tls.update", ctl_m_tls_update, p_name, CTL_M_WRITE | CTL_M_OPEN},
	{"tls.remove", ctl_m_tls_remove, p_name, CTL_M_WRITE},
	{"tls.get", ctl_m_tls_get, p_tls_get, 0},
	{"tls.list", ctl_m_tls_list, p_list, 0},
	{"call.list", ctl_m_call_list, p_call_list, 0},
	{"call.get", ctl_m_call_get, p_call_id, 0},
	{"call.hangup", ctl_m_call_hangup, p_call_id, 0},
	{"media.stats", ctl_m_media_stats, p_none, 0},
	{"media.sessions", ctl_m_media_sessions, p_media_sessions, 0},
};

const ctl_method *ctl_method_find(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

const ctl_method *ctl_method_table(size_t *count)
{
	*count = sizeof(methods) / sizeof(methods[0]);
	return methods;
}
