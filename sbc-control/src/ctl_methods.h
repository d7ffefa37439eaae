/* sbc-control — JSON-RPC method handlers (one file per noun). The table that
 * names them and declares their params is in ctl_methods.c. */
#ifndef CTL_METHODS_H
#define CTL_METHODS_H

#include "ctl_rpc.h"

#define CTL_VERSION "0.1.0"

#define CTL_METHOD_DECL(fn) int fn(ctl_ctx *ctx, ctl_req *req, json_t *params, json_t **result, ctl_rpc_err *err)

CTL_METHOD_DECL(ctl_m_system_status);
CTL_METHOD_DECL(ctl_m_system_version);
CTL_METHOD_DECL(ctl_m_system_reload);
CTL_METHOD_DECL(ctl_m_system_shutdown);
CTL_METHOD_DECL(ctl_m_stats_get);

CTL_METHOD_DECL(ctl_m_trunk_add);
CTL_METHOD_DECL(ctl_m_trunk_update);
CTL_METHOD_DECL(ctl_m_trunk_remove);
CTL_METHOD_DECL(ctl_m_trunk_get);
CTL_METHOD_DECL(ctl_m_trunk_list);

CTL_METHOD_DECL(ctl_m_route_add);
CTL_METHOD_DECL(ctl_m_route_remove);
CTL_METHOD_DECL(ctl_m_route_list);
CTL_METHOD_DECL(ctl_m_route_lookup);
CTL_METHOD_DECL(ctl_m_route_import);
CTL_METHOD_DECL(ctl_m_route_export);

CTL_METHOD_DECL(ctl_m_tls_add);
CTL_METHOD_DECL(ctl_m_tls_update);
CTL_METHOD_DECL(ctl_m_tls_remove);
CTL_METHOD_DECL(ctl_m_tls_get);
CTL_METHOD_DECL(ctl_m_tls_list);

CTL_METHOD_DECL(ctl_m_call_list);
CTL_METHOD_DECL(ctl_m_call_get);
CTL_METHOD_DECL(ctl_m_call_hangup);

CTL_METHOD_DECL(ctl_m_media_stats);
CTL_METHOD_DECL(ctl_m_media_sessions);

/* Re-reads the config file (system.reload, SIGHUP): see the README. */
int ctl_reload(ctl_ctx *ctx, json_t **result, ctl_rpc_err *err);

/* Page size bounds for the list methods. */
#define CTL_LIST_DEFAULT 100
#define CTL_LIST_MAX 1000

#endif
