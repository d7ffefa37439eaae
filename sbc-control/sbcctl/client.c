/* sbcctl — the socket side: connect, one request line, one reply line. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sbcctl.h"

int cli_connect(cli_conn *c, const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s (is sbc-control running? use -s PATH or $SBC_SOCKET)",
			 path, strerror(errno));
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

void cli_close(cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(cli_conn *c, const char *p, size_t n, char *err, size_t errlen)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "send: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until a full line is buffered; returns its length (without '\n'). */
static long read_line(cli_conn *c, char *err, size_t errlen)
{
	long long deadline = now_ms() + c->timeout_ms;
	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl)
			return nl - c->buf;
		if (c->cap - c->len < 65536) {
			size_t ncap = c->cap ? c->cap * 2 : 131072;
			char *nb = realloc(c->buf, ncap);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			snprintf(err, errlen, "no reply within %d ms", c->timeout_ms);
			return -1;
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "sbc-control closed the connection%s%s", r < 0 ? ": " : "",
				 r < 0 ? strerror(errno) : "");
			return -1;
		}
		c->len += (size_t)r;
	}
}

int cli_call(cli_conn *c, const char *method, json_t *params, json_t **result, json_t **error, char *err,
	     size_t errlen)
{
	long id = c->next_id++;
	json_t *req = json_pack("{s:s, s:s, s:O, s:i}", "jsonrpc", "2.0", "method", method, "params",
				params ? params : json_object(), "id", (int)id);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	*result = *error = NULL;
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t n = strlen(text);
	int ret = send_all(c, text, n, err, errlen);
	if (ret == 0)
		ret = send_all(c, "\n", 1, err, errlen);
	free(text);
	if (ret)
		return -1;
	for (;;) {
		long len = read_line(c, err, errlen);
		if (len < 0)
			return -1;
		json_error_t je;
		json_t *rep = json_loadb(c->buf, (size_t)len, 0, &je);
		memmove(c->buf, c->buf + len + 1, c->len - (size_t)len - 1);
		c->len -= (size_t)len + 1;
		if (!rep) {
			snprintf(err, errlen, "malformed reply: %s", je.text);
			return -1;
		}
		json_t *rid = json_object_get(rep, "id");
		json_t *e = json_object_get(rep, "error");
		if (json_is_integer(rid) && json_integer_value(rid) != id) {
			json_decref(rep);
			continue; /* a reply to something else */
		}
		if (e) {
			*error = json_incref(e);
			json_decref(rep);
			return 1;
		}
		json_t *r = json_object_get(rep, "result");
		*result = r ? json_incref(r) : json_null();
		json_decref(rep);
		return 0;
	}
}
