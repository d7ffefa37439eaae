/* sbc-control — JSON-RPC 2.0 server on a Unix stream socket.
 *
 * Wire format: one JSON object per line ('\n'; a trailing '\r' is ignored),
 * replies likewise, in the order the requests complete. Batches (arrays) are
 * refused. A request without "id" is a notification: it runs, no reply.
 *
 * Error codes (the "code" of a JSON-RPC error object):
 *   -32700 parse error (malformed JSON)     -32600 invalid request / too large
 *   -32601 unknown method                   -32602 invalid params (names the field)
 *   -32603 internal error
 *   -32001 not found (trunk, route, TLS profile, file)
 *   -32002 already exists                   -32003 in use / conflict
 *   -32004 store failure                    -32005 rate limited
 *   -32006 busy (write queue full)          -32007 shutting down
 *   -32008 certificate rejected             -32009 limit reached
 *   -32010 a child process unavailable (not running / no reply in time)
 *
 * Caveats:
 *  1. Every method declares its params in a table (ctl_param); the server
 *     checks presence, type and range before the handler runs, so a handler
 *     only does the checks that need the store. A handler writes nothing
 *     unless every check passed: nothing changes on error.
 *  2. Limits per client: a request line longer than max_request_bytes gets
 *     -32600 and the connection is closed; more than client_queue_bytes of
 *     unread replies closes the connection (a client that does not read can
 *     not make sbc-control buffer without bound); requests_per_sec (token
 *     bucket) answers the excess with -32005; at most 64 requests of one
 *     connection may be unanswered at a time (-32006 beyond).
 *  3. Methods flagged CTL_M_WRITE are queued while a route import runs in the
 *     thread pool, and run in order when it finishes.
 */
#ifndef CTL_RPC_H
#define CTL_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ctl_ctx.h"

enum ctl_rpc_code {
	CTL_RPC_PARSE_ERROR = -32700,
	CTL_RPC_INVALID_REQUEST = -32600,
	CTL_RPC_METHOD_NOT_FOUND = -32601,
	CTL_RPC_INVALID_PARAMS = -32602,
	CTL_RPC_INTERNAL = -32603,
	CTL_RPC_NOT_FOUND = -32001,
	CTL_RPC_EXISTS = -32002,
	CTL_RPC_IN_USE = -32003,
	CTL_RPC_STORE = -32004,
	CTL_RPC_RATE_LIMITED = -32005,
	CTL_RPC_BUSY = -32006,
	CTL_RPC_SHUTTING_DOWN = -32007,
	CTL_RPC_CERT = -32008,
	CTL_RPC_LIMIT = -32009,
	CTL_RPC_UNAVAILABLE = -32010,
};

typedef struct ctl_rpc_err {
	int code;
	char msg[1024];
	json_t *data; /* optional, owned (e.g. {"line": 12}) */
} ctl_rpc_err;

/* An in-flight request (opaque). */
typedef struct ctl_req ctl_req;

/* Handler results. */
#define CTL_RPC_OK 0
#define CTL_RPC_PENDING 1 /* the handler calls ctl_rpc_complete() later */
#define CTL_RPC_FAIL (-1) /* err is filled */

typedef int (*ctl_method_fn)(ctl_ctx *ctx, ctl_req *req, json_t *params, json_t **result, ctl_rpc_err *err);

enum ctl_ptype { CTL_P_STR, CTL_P_INT, CTL_P_BOOL, CTL_P_OBJ, CTL_P_ARR, CTL_P_ANY };

/* One declared parameter: strings are checked for length min..max, integers
 * for value min..max. */
typedef struct ctl_param {
	const char *name;
	enum ctl_ptype type;
	bool required;
	long long min, max;
} ctl_param;

enum ctl_method_flags {
	CTL_M_WRITE = 1u << 0, /* changes the store */
	CTL_M_OPEN = 1u << 1,  /* params may hold keys beyond the table (checked by the handler) */
};

typedef struct ctl_method {
	const char *name;
	ctl_method_fn fn;
	const ctl_param *params; /* terminated by a NULL name */
	unsigned flags;
} ctl_method;

/* Binds path (mode 0660) and listens. Refuses when another process answers
 * on it; removes a stale socket file. */
int ctl_rpc_create(ctl_ctx *ctx, const char *path, ctl_rpc **out, char *err, size_t errlen);
/* Stops accepting and removes the socket file (clients stay until destroy). */
void ctl_rpc_stop_listening(ctl_rpc *rpc);
/* Closes everything; frees in close callbacks (run the loop afterwards). */
void ctl_rpc_destroy(ctl_rpc *rpc);

/* Completes a request that returned CTL_RPC_PENDING: result (stolen) or err. */
void ctl_rpc_complete(ctl_req *req, json_t *result, ctl_rpc_err *err);

/* Runs the write requests queued during an import. */
void ctl_rpc_run_deferred(ctl_rpc *rpc);

unsigned ctl_rpc_client_count(const ctl_rpc *rpc);

/* Fills err (printf-style) and returns CTL_RPC_FAIL. */
int ctl_rpc_fail(ctl_rpc_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a store error to an RPC error with the store's sentence. */
int ctl_rpc_fail_store(ctl_rpc_err *err, int sbc_err, const char *text);

/* Validates params against m->params; fills err on failure (used by the
 * server; exposed for unit tests). Returns 0 or CTL_RPC_FAIL. */
int ctl_rpc_check_params(const ctl_method *m, json_t *params, ctl_rpc_err *err);

/* The method table (ctl_methods.c). */
const ctl_method *ctl_method_find(const char *name);
const ctl_method *ctl_method_table(size_t *count);

#endif
