/* sbc-control — JSON-RPC 2.0 server: clients, framing, limits, dispatch. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/log.h"
#include "ctl_rpc.h"

#define RPC_READ_CHUNK (64 * 1024)
#define RPC_DEFERRED_MAX 4096
#define RPC_INFLIGHT_MAX 64 /* unanswered requests per client (stats.get, queued writes) */

typedef struct rpc_client rpc_client;

struct ctl_req {
	ctl_req *next;        /* deferred queue */
	rpc_client *client;   /* holds a reference */
	json_t *id;           /* NULL: notification */
	const ctl_method *m;
	json_t *params;
};

struct rpc_client {
	uv_pipe_t pipe;
	ctl_rpc *rpc;
	rpc_client *prev, *next;
	char *buf;
	size_t len, cap, scanned;
	size_t queued;        /* reply bytes handed to libuv, not yet written */
	unsigned inflight;    /* requests not yet answered (async, deferred) */
	uint64_t partial_since; /* when the unfinished line in buf began; 0: none */
	unsigned refs;        /* the handle + each in-flight request */
	bool closing;
	bool discard;         /* stop processing input (oversized line): close after flush */
	double tokens;
	uint64_t last_ms;
};

struct ctl_rpc {
	ctl_ctx *ctx;
	uv_pipe_t server;
	bool listening;
	bool server_open;
	bool sweep_open;
	uv_timer_t sweep;     /* closes clients stuck in the middle of a line */
	bool destroyed;
	char path[108];
	rpc_client *clients;
	unsigned nclients;
	ctl_req *deferred_head, *deferred_tail;
	unsigned ndeferred;
};

typedef struct rpc_write {
	uv_write_t w;
	rpc_client *client;
	size_t len;  /* bytes on the wire, newline included */
	char *text;  /* json_dumps() output */
} rpc_write;

int ctl_rpc_fail(ctl_rpc_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return CTL_RPC_FAIL;
}

int ctl_rpc_fail_store(ctl_rpc_err *err, int e, const char *text)
{
	int code;
	switch (e) {
	case SBC_E_INVAL:
	case SBC_E_PARSE:
		code = CTL_RPC_INVALID_PARAMS;
		break;
	case SBC_E_NOT_FOUND:
		code = CTL_RPC_NOT_FOUND;
		break;
	case SBC_E_EXISTS:
		code = CTL_RPC_EXISTS;
		break;
	case SBC_E_STATE:
		code = CTL_RPC_IN_USE;
		break;
	case SBC_E_LIMIT:
		code = CTL_RPC_LIMIT;
		break;
	case SBC_E_CERT:
	case SBC_E_TLS:
		code = CTL_RPC_CERT;
		break;
	default:
		code = CTL_RPC_STORE;
		break;
	}
	return ctl_rpc_fail(err, code, "%s", text && *text ? text : sbc_strerror(e));
}

/* ---- client lifetime ------------------------------------------------------ */

static void client_unref(rpc_client *c)
{
	if (--c->refs == 0) {
		free(c->buf);
		free(c);
	}
}

/* The server is freed once destroyed, its socket closed and every client gone. */
static void rpc_maybe_free(ctl_rpc *rpc)
{
	if (rpc->destroyed && !rpc->server_open && !rpc->sweep_open && rpc->nclients == 0)
		free(rpc);
}

static void client_close_cb(uv_handle_t *h)
{
	rpc_client *c = h->data;
	ctl_rpc *rpc = c->rpc;
	if (c->prev)
		c->prev->next = c->next;
	else
		rpc->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	rpc->nclients--;
	c->rpc = NULL;
	client_unref(c);
	rpc_maybe_free(rpc);
}

static void client_close(rpc_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->pipe, client_close_cb);
}

/* A client that is done sending (EOF, oversized line) is closed once every
 * request it sent is answered and every answer written. */
static void client_maybe_finish(rpc_client *c)
{
	if (c->discard && c->queued == 0 && c->inflight == 0)
		client_close(c);
}

static void write_cb(uv_write_t *w, int status)
{
	rpc_write *rw = (rpc_write *)w;
	rpc_client *c = rw->client;
	c->queued -= rw->len;
	free(rw->text);
	free(rw);
	if (status < 0 && status != UV_ECANCELED)
		client_close(c);
	else
		client_maybe_finish(c);
	client_unref(c);
}

/* Queues one reply line. A client with more than client_queue_bytes unread
 * is closed instead: it does not read, and must not make us buffer. */
static void client_send(rpc_client *c, json_t *reply)
{
	ctl_rpc *rpc = c->rpc;
	if (c->closing)
		return;
	if (c->queued > rpc->ctx->cfg.control.client_queue_bytes) {
		rpc->ctx->counters.rpc_clients_dropped++;
		SBC_WARN("control client does not read its replies (%zu bytes queued): closing it", c->queued);
		client_close(c);
		return;
	}
	static char newline[] = "\n";
	rpc_write *rw = malloc(sizeof(*rw));
	char *text = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (!rw || !text) {
		free(rw);
		free(text);
		client_close(c);
		return;
	}
	size_t n = strlen(text);
	rw->text = text;
	rw->len = n + 1;
	rw->client = c;
	uv_buf_t b[2] = {uv_buf_init(text, (unsigned)n), uv_buf_init(newline, 1)};
	int ret = uv_write(&rw->w, (uv_stream_t *)&c->pipe, b, 2, write_cb);
	if (ret < 0) {
		free(rw->text);
		free(rw);
		client_close(c);
		return;
	}
	c->refs++;
	c->queued += rw->len;
}

static void send_error(rpc_client *c, json_t *id, int code, const char *msg, json_t *data)
{
	json_t *e = json_pack("{s:i, s:s}", "code", code, "message", msg);
	if (data)
		json_object_set(e, "data", data);
	json_t *r = json_pack("{s:s, s:o, s:O}", "jsonrpc", "2.0", "error", e, "id", id ? id : json_null());
	client_send(c, r);
	json_decref(r);
}

static void req_free(ctl_req *req)
{
	rpc_client *c = req->client;
	json_decref(req->id);
	json_decref(req->params);
	free(req);
	c->inflight--;
	client_maybe_finish(c);
	client_unref(c);
}

static void req_reply(ctl_req *req, json_t *result, ctl_rpc_err *err)
{
	if (req->client->closing) {
		/* The client went away (or the server is closing): nobody to answer. */
		if (err)
			json_decref(err->data);
		json_decref(result);
		return;
	}
	ctl_ctx *ctx = req->client->rpc->ctx;
	if (err) {
		ctx->counters.rpc_errors++;
		if (req->id)
			send_error(req->client, req->id, err->code, err->msg, err->data);
		json_decref(err->data);
		err->data = NULL;
	} else if (req->id) {
		json_t *r = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "result", result ? result : json_null(),
				      "id", req->id);
		client_send(req->client, r);
		json_decref(r);
	}
	json_decref(result);
}

void ctl_rpc_complete(ctl_req *req, json_t *result, ctl_rpc_err *err)
{
	req_reply(req, result, err);
	req_free(req);
}

/* ---- params --------------------------------------------------------------- */

static const char *ptype_name(enum ctl_ptype t)
{
	switch (t) {
	case CTL_P_STR: return "a string";
	case CTL_P_INT: return "an integer";
	case CTL_P_BOOL: return "a boolean";
	case CTL_P_OBJ: return "an object";
	case CTL_P_ARR: return "an array";
	default: return "a value";
	}
}

static bool ptype_ok(enum ctl_ptype t, const json_t *v)
{
	switch (t) {
	case CTL_P_STR: return json_is_string(v);
	case CTL_P_INT: return json_is_integer(v);
	case CTL_P_BOOL: return json_is_boolean(v);
	case CTL_P_OBJ: return json_is_object(v);
	case CTL_P_ARR: return json_is_array(v);
	default: return true;
	}
}

int ctl_rpc_check_params(const ctl_method *m, json_t *params, ctl_rpc_err *err)
{
	if (!json_is_object(params))
		return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params: must be an object (named parameters)");
	if (!(m->flags & CTL_M_OPEN)) {
		const char *key;
		json_t *v;
		json_object_foreach(params, key, v) {
			const ctl_param *p = m->params;
			while (p && p->name && strcmp(p->name, key) != 0)
				p++;
			if (!p || !p->name)
				return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%.64s: unknown field for %s", key,
						    m->name);
		}
	}
	for (const ctl_param *p = m->params; p && p->name; p++) {
		json_t *v = json_object_get(params, p->name);
		if (!v || (json_is_null(v) && !p->required && p->type != CTL_P_ANY)) {
			if (p->required)
				return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s: missing (required)", p->name);
			continue;
		}
		if (!ptype_ok(p->type, v))
			return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s: must be %s", p->name,
					    ptype_name(p->type));
		if (p->type == CTL_P_STR) {
			size_t len = json_string_length(v);
			if (strlen(json_string_value(v)) != len)
				return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s: contains a NUL character",
						    p->name);
			if ((long long)len < p->min || (p->max && (long long)len > p->max))
				return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS,
						    "params.%s: length %zu out of range %lld..%lld", p->name, len, p->min,
						    p->max);
		} else if (p->type == CTL_P_INT) {
			json_int_t n = json_integer_value(v);
			if (n < p->min || n > p->max)
				return ctl_rpc_fail(err, CTL_RPC_INVALID_PARAMS, "params.%s: %lld out of range %lld..%lld",
						    p->name, (long long)n, p->min, p->max);
		}
	}
	return 0;
}

/* ---- dispatch ------------------------------------------------------------- */

static void dispatch(ctl_req *req)
{
	ctl_ctx *ctx = req->client->rpc->ctx;
	ctl_rpc_err err = {0};
	json_t *result = NULL;
	int ret;

	if ((req->m->flags & CTL_M_WRITE) && ctx->shutting_down)
		ret = ctl_rpc_fail(&err, CTL_RPC_SHUTTING_DOWN, "sbc-control is shutting down; no changes accepted");
	else if (ctl_rpc_check_params(req->m, req->params, &err) != 0)
		ret = CTL_RPC_FAIL;
	else
		ret = req->m->fn(ctx, req, req->params, &result, &err);
	if (ret == CTL_RPC_PENDING)
		return;
	if (req->m->flags & CTL_M_WRITE) {
		/* Audit trail of changes: the method and the object's name only
		 * (never the params: a TLS profile carries its private key). */
		const char *what = json_string_value(json_object_get(req->params, "name"));
		const char *prefix = json_string_value(json_object_get(req->params, "prefix"));
		char label[96] = "";
		if (what)
			snprintf(label, sizeof(label), "%.64s", what);
		else if (prefix)
			snprintf(label, sizeof(label), "prefix \"%.32s\"", prefix);
		for (char *p = label; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?'; /* one log line per event, whatever the client sent */
		if (ret == CTL_RPC_OK)
			SBC_NOTICE("%s %s: done", req->m->name, label);
		else
			SBC_INFO("%s %s: refused: %s", req->m->name, label, err.msg);
	}
	ctl_rpc_complete(req, ret == CTL_RPC_OK ? result : NULL, ret == CTL_RPC_OK ? NULL : &err);
	if (ret != CTL_RPC_OK)
		json_decref(result);
}

void ctl_rpc_run_deferred(ctl_rpc *rpc)
{
	while (rpc->deferred_head && !rpc->ctx->write_busy) {
		ctl_req *req = rpc->deferred_head;
		rpc->deferred_head = req->next;
		if (!rpc->deferred_head)
			rpc->deferred_tail = NULL;
		rpc->ndeferred--;
		req->next = NULL;
		if (req->client->closing) {
			req_free(req);
			continue;
		}
		dispatch(req);
	}
}

static bool rate_ok(rpc_client *c)
{
	unsigned rps = c->rpc->ctx->cfg.control.requests_per_sec;
	if (!rps)
		return true;
	uint64_t now = sbc_mono_ms();
	c->tokens += (double)(now - c->last_ms) * rps / 1000.0;
	if (c->tokens > rps)
		c->tokens = rps;
	c->last_ms = now;
	if (c->tokens < 1.0)
		return false;
	c->tokens -= 1.0;
	return true;
}

static void handle_line(rpc_client *c, const char *line, size_t len)
{
	ctl_rpc *rpc = c->rpc;
	ctl_ctx *ctx = rpc->ctx;
	json_error_t je;
	json_t *msg, *id = NULL, *v;
	const char *key;
	char text[300];

	ctx->counters.rpc_requests++;
	if (!rate_ok(c)) {
		ctx->counters.rpc_rate_limited++;
		ctx->counters.rpc_errors++;
		snprintf(text, sizeof(text), "rate limit: more than %u requests per second",
			 ctx->cfg.control.requests_per_sec);
		send_error(c, NULL, CTL_RPC_RATE_LIMITED, text, NULL);
		return;
	}
	msg = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!msg) {
		ctx->counters.rpc_errors++;
		snprintf(text, sizeof(text), "parse error at column %d: %s", je.column, je.text);
		send_error(c, NULL, CTL_RPC_PARSE_ERROR, text, NULL);
		return;
	}
	if (!json_is_object(msg)) {
		ctx->counters.rpc_errors++;
		send_error(c, NULL, CTL_RPC_INVALID_REQUEST,
			   json_is_array(msg) ? "batch requests are not supported: send one object per line"
					      : "request must be a JSON object",
			   NULL);
		json_decref(msg);
		return;
	}
	/* The id first, so the errors below can carry it. */
	id = json_object_get(msg, "id");
	if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
		ctx->counters.rpc_errors++;
		send_error(c, NULL, CTL_RPC_INVALID_REQUEST, "id: must be a string, an integer or null", NULL);
		json_decref(msg);
		return;
	}
	const char *bad = NULL;
	json_object_foreach(msg, key, v) {
		if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "params") && strcmp(key, "id")) {
			bad = key;
			break;
		}
	}
	json_t *ver = json_object_get(msg, "jsonrpc");
	json_t *method = json_object_get(msg, "method");
	if (bad)
		snprintf(text, sizeof(text), "%.64s: unknown member of a request", bad);
	else if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0)
		snprintf(text, sizeof(text), "jsonrpc: must be \"2.0\"");
	else if (!json_is_string(method))
		snprintf(text, sizeof(text), "method: %s", method ? "must be a string" : "missing");
	else
		text[0] = 0;
	if (text[0]) {
		ctx->counters.rpc_errors++;
		send_error(c, id, CTL_RPC_INVALID_REQUEST, text, NULL);
		json_decref(msg);
		return;
	}
	const ctl_method *m = ctl_method_find(json_string_value(method));
	if (!m) {
		ctx->counters.rpc_errors++;
		snprintf(text, sizeof(text), "method \"%.64s\" not found", json_string_value(method));
		if (id)
			send_error(c, id, CTL_RPC_METHOD_NOT_FOUND, text, NULL);
		json_decref(msg);
		return;
	}
	if (c->inflight >= RPC_INFLIGHT_MAX) {
		ctx->counters.rpc_errors++;
		snprintf(text, sizeof(text), "busy: %u requests of this connection are still unanswered",
			 c->inflight);
		if (id)
			send_error(c, id, CTL_RPC_BUSY, text, NULL);
		json_decref(msg);
		return;
	}
	ctl_req *req = calloc(1, sizeof(*req));
	if (!req) {
		json_decref(msg);
		send_error(c, id, CTL_RPC_INTERNAL, "out of memory", NULL);
		return;
	}
	req->client = c;
	c->refs++;
	c->inflight++;
	req->id = id ? json_incref(id) : NULL;
	req->m = m;
	v = json_object_get(msg, "params");
	req->params = v ? json_incref(v) : json_object();
	json_decref(msg);

	if ((m->flags & CTL_M_WRITE) && ctx->write_busy) {
		if (rpc->ndeferred >= RPC_DEFERRED_MAX) {
			ctl_rpc_err err = {0};
			ctl_rpc_fail(&err, CTL_RPC_BUSY, "too many changes queued behind a route import; retry later");
			ctl_rpc_complete(req, NULL, &err);
			return;
		}
		if (rpc->deferred_tail)
			rpc->deferred_tail->next = req;
		else
			rpc->deferred_head = req;
		rpc->deferred_tail = req;
		rpc->ndeferred++;
		return;
	}
	dispatch(req);
}

/* ---- reading -------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	rpc_client *c = h->data;
	size_t limit = c->rpc->ctx->cfg.control.max_request_bytes + 2;
	if (c->cap - c->len < RPC_READ_CHUNK / 4 && c->cap < limit) {
		size_t ncap = c->cap ? c->cap * 2 : RPC_READ_CHUNK;
		if (ncap > limit)
			ncap = limit;
		char *nb = realloc(c->buf, ncap);
		if (nb) {
			c->buf = nb;
			c->cap = ncap;
		}
	}
	if (!c->buf || c->cap == c->len) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

/* A client that broke the framing rules gets one error line saying why (text
 * ends "; closing the connection") and is closed once it is written. */
static void drop_client(rpc_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void drop_client(rpc_client *c, const char *fmt, ...)
{
	ctl_rpc *rpc = c->rpc;
	char text[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rpc->ctx->counters.rpc_errors++;
	rpc->ctx->counters.rpc_clients_dropped++;
	send_error(c, NULL, CTL_RPC_INVALID_REQUEST, text, NULL);
	c->discard = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	client_maybe_finish(c);
}

static void refuse_oversized(rpc_client *c)
{
	drop_client(c, "request line exceeds the limit of %u bytes; closing the connection",
		    c->rpc->ctx->cfg.control.max_request_bytes);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	rpc_client *c = s->data;
	size_t max = c->rpc->ctx->cfg.control.max_request_bytes;

	if (nread == UV_ENOBUFS) {
		/* alloc_cb had no room left below the limit: the line is too long. */
		if (!c->discard)
			refuse_oversized(c);
		return;
	}
	if (nread < 0) {
		/* EOF: answer what is pending, then close when the writes are done. */
		if (nread == UV_EOF) {
			c->discard = true;
			uv_read_stop(s);
			client_maybe_finish(c);
		} else {
			client_close(c);
		}
		return;
	}
	if (nread == 0)
		return; /* EAGAIN */
	if (c->discard)
		return;
	c->len += (size_t)nread;
	c->refs++; /* a handler may close the client; keep the buffer alive */
	size_t start = 0;
	while (!c->closing && !c->discard) {
		char *nl = memchr(c->buf + c->scanned, '\n', c->len - c->scanned);
		if (!nl) {
			c->scanned = c->len;
			break;
		}
		size_t end = (size_t)(nl - c->buf);
		size_t llen = end - start;
		if (llen > max) {
			refuse_oversized(c);
			break;
		}
		if (llen && c->buf[start + llen - 1] == '\r')
			llen--;
		/* Blank lines are ignored. */
		size_t k = 0;
		while (k < llen && (c->buf[start + k] == ' ' || c->buf[start + k] == '\t'))
			k++;
		if (k < llen)
			handle_line(c, c->buf + start, llen);
		start = end + 1;
		c->scanned = start;
	}
	if (!c->closing && !c->discard) {
		memmove(c->buf, c->buf + start, c->len - start);
		c->len -= start;
		c->scanned -= start;
		if (c->len > max)
			refuse_oversized(c);
		else if (c->len == 0)
			c->partial_since = 0;
		else if (start > 0 || !c->partial_since)
			c->partial_since = sbc_mono_ms(); /* a new line began (the last one ended) */
		if (!c->discard && c->cap > RPC_READ_CHUNK && c->len < RPC_READ_CHUNK / 2) {
			/* A big request went through: give the memory back. */
			char *nb = realloc(c->buf, RPC_READ_CHUNK);
			if (nb) {
				c->buf = nb;
				c->cap = RPC_READ_CHUNK;
			}
		}
	}
	client_unref(c);
}

static void connection_cb(uv_stream_t *server, int status)
{
	ctl_rpc *rpc = server->data;
	ctl_ctx *ctx = rpc->ctx;
	if (status < 0) {
		/* EMFILE and friends repeat on every loop turn: log once a second. */
		static uint64_t last_log;
		uint64_t now = sbc_mono_ms();
		ctx->counters.rpc_clients_refused++;
		if (now - last_log >= 1000) {
			last_log = now;
			SBC_WARN("control socket accept: %s (raise LimitNOFILE / ulimit -n?)", uv_strerror(status));
		}
		return;
	}
	rpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->rpc = rpc;
	c->refs = 1;
	c->tokens = ctx->cfg.control.requests_per_sec;
	c->last_ms = sbc_mono_ms();
	uv_pipe_init(ctx->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = rpc->clients;
	if (rpc->clients)
		rpc->clients->prev = c;
	rpc->clients = c;
	rpc->nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	if (rpc->nclients > ctx->cfg.control.max_clients) {
		ctx->counters.rpc_clients_refused++;
		send_error(c, NULL, CTL_RPC_LIMIT, "too many control clients; try again later", NULL);
		c->discard = true;
		client_maybe_finish(c);
		return;
	}
	ctx->counters.rpc_clients_accepted++;
	uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

/* ---- server --------------------------------------------------------------- */

static bool socket_answers(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;
	if (fd < 0)
		return false;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return ok;
}

/* Slow-loris guard: a request line begun long ago and still unfinished. */
static void sweep_cb(uv_timer_t *t)
{
	ctl_rpc *rpc = t->data;
	unsigned limit = rpc->ctx->cfg.control.partial_timeout_ms;
	uint64_t now = sbc_mono_ms();
	for (rpc_client *c = rpc->clients; c; c = c->next) {
		if (c->closing || c->discard || !c->partial_since || now - c->partial_since < limit)
			continue;
		drop_client(c, "request line still incomplete after %u ms; closing the connection", limit);
	}
}

static void sweep_close_cb(uv_handle_t *h)
{
	ctl_rpc *rpc = h->data;
	rpc->sweep_open = false;
	rpc_maybe_free(rpc);
}

static void server_close_cb(uv_handle_t *h)
{
	ctl_rpc *rpc = h->data;
	rpc->server_open = false;
	rpc_maybe_free(rpc);
}

int ctl_rpc_create(ctl_ctx *ctx, const char *path, ctl_rpc **out, char *err, size_t errlen)
{
	struct stat st;
	int ret;
	ctl_rpc *rpc = calloc(1, sizeof(*rpc));
	if (!rpc)
		return -ENOMEM;
	rpc->ctx = ctx;
	snprintf(rpc->path, sizeof(rpc->path), "%s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			free(rpc);
			return -EEXIST;
		}
		if (socket_answers(path)) {
			snprintf(err, errlen, "another sbc-control is listening on %s", path);
			free(rpc);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	uv_pipe_init(ctx->loop, &rpc->server, 0);
	rpc->server.data = rpc;
	rpc->server_open = true;
	mode_t old = umask(0117);
	ret = uv_pipe_bind(&rpc->server, path);
	umask(old);
	if (ret == 0 && chmod(path, 0660) < 0)
		ret = -errno;
	if (ret == 0)
		ret = uv_listen((uv_stream_t *)&rpc->server, 1024, connection_cb);
	if (ret != 0) {
		snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(ret));
		rpc->destroyed = true;
		uv_close((uv_handle_t *)&rpc->server, server_close_cb);
		return ret;
	}
	rpc->listening = true;
	uv_timer_init(ctx->loop, &rpc->sweep);
	rpc->sweep.data = rpc;
	rpc->sweep_open = true;
	unsigned every = ctx->cfg.control.partial_timeout_ms / 4;
	uv_timer_start(&rpc->sweep, sweep_cb, every < 1000 ? every : 1000, every < 1000 ? every : 1000);
	uv_unref((uv_handle_t *)&rpc->sweep);
	*out = rpc;
	return 0;
}

void ctl_rpc_stop_listening(ctl_rpc *rpc)
{
	if (!rpc->listening)
		return;
	rpc->listening = false;
	uv_close((uv_handle_t *)&rpc->server, server_close_cb);
	unlink(rpc->path);
}

void ctl_rpc_destroy(ctl_rpc *rpc)
{
	if (!rpc)
		return;
	while (rpc->deferred_head) {
		ctl_req *req = rpc->deferred_head;
		rpc->deferred_head = req->next;
		req_free(req);
	}
	rpc->deferred_tail = NULL;
	rpc->destroyed = true;
	for (rpc_client *c = rpc->clients; c; c = c->next)
		client_close(c);
	ctl_rpc_stop_listening(rpc);
	if (rpc->sweep_open)
		uv_close((uv_handle_t *)&rpc->sweep, sweep_close_cb);
	rpc_maybe_free(rpc);
}

unsigned ctl_rpc_client_count(const ctl_rpc *rpc) { return rpc->nclients; }
