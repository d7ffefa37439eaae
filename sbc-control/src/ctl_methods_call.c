/* sbc-control — call records and call.* methods (see ctl_cdr.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sbc/clock.h"
#include "sbc/log.h"
#include "ctl_bus.h"
#include "ctl_cdr.h"
#include "ctl_methods.h"

static json_t *g_calls; /* id -> merged record */
static json_t *g_order; /* ids, oldest first */
static size_t g_open;   /* records in g_calls not ended */
static size_t g_compact_at; /* g_order's size that triggers cdr_compact() */

/* cdr.jsonl stays open between events: an fopen/fclose per event cost
 * ~12 us of CPU, three events per call. Each line goes out in one write(2)
 * of the line and its '\n' (O_APPEND: never split, nothing held in a stdio
 * buffer that a crash would lose). Rotation is seen at the next line after
 * an rm (fstat's link count, per write) and within a second after an mv (a
 * stat() of the path compared with the fd's dev/ino, at most once a
 * second): a new file is opened for the next line. The path is rebuilt from
 * ctx->cfg.data_dir for each line, so a data_dir that changes reopens at
 * once (system.reload keeps data_dir today; this needs no reload hook). */
#define CDR_CHECK_MS 1000u   /* rotation check / reopen retry interval */
#define CDR_WARN_MS 10000u   /* at most one write-error warning per this */
#define CDR_BATCH_BYTES 65536u /* a close-out batch is written in writes of about this */

static struct {
	int fd;                     /* -1: not open */
	char path[PATH_MAX + 16];   /* of fd */
	dev_t dev;
	ino_t ino;
	uint64_t checked_ms;        /* last rotation check or failed open */
	int open_err;               /* errno of that failed open */
	uint64_t warned_ms;         /* last warning logged (0: none yet) */
	uint64_t unwarned;          /* errors since that were not logged */
	char *buf;                  /* lines being written */
	size_t len, cap;
	bool batch;                 /* hold lines until cdr_flush() */
	bool partial;               /* the file ends inside a line (a short write) */
} g_cdr = { .fd = -1 };

static void cdr_close(void)
{
	if (g_cdr.fd >= 0 && close(g_cdr.fd) != 0)
		SBC_WARN("call records: %s: close: %s", g_cdr.path, strerror(errno));
	g_cdr.fd = -1;
}

/* Counts a line not written and logs why, rate-limited: a full disk or an
 * unwritable data_dir must not flood the log with one warning per event. */
static void cdr_error(ctl_ctx *ctx, const char *path, const char *what, int err)
{
	ctx->counters.cdr_write_errors++;
	uint64_t now = sbc_mono_ms();
	if (g_cdr.warned_ms && now - g_cdr.warned_ms < CDR_WARN_MS) {
		g_cdr.unwarned++;
		return;
	}
	if (g_cdr.unwarned)
		SBC_WARN("call records: %s: %s: %s (line lost; %" PRIu64 " more lost since the last warning)", path,
			 what, strerror(err), g_cdr.unwarned);
	else
		SBC_WARN("call records: %s: %s: %s (line lost)", path, what, strerror(err));
	g_cdr.warned_ms = now ? now : 1;
	g_cdr.unwarned = 0;
}

/* The fd to append to, opened or reopened as needed; -1: none (counted and
 * logged; an open that failed is retried at most once per CDR_CHECK_MS). */
static int cdr_fd(ctl_ctx *ctx)
{
	char path[sizeof(g_cdr.path)];
	snprintf(path, sizeof(path), "%s/cdr.jsonl", ctx->cfg.data_dir);
	uint64_t now = sbc_mono_ms();
	if (g_cdr.fd >= 0 && strcmp(path, g_cdr.path) != 0)
		cdr_close(); /* data_dir changed */
	if (g_cdr.fd >= 0) {
		/* deleted (rm): lines written to it now would be lost, so this
		 * is checked on every write (an fstat); a rename only once a
		 * second (a stat of the path), its lines land in the moved file */
		struct stat st;
		if (fstat(g_cdr.fd, &st) == 0 && st.st_nlink > 0) {
			if (now - g_cdr.checked_ms < CDR_CHECK_MS)
				return g_cdr.fd;
			g_cdr.checked_ms = now;
			if (stat(path, &st) == 0 && st.st_dev == g_cdr.dev && st.st_ino == g_cdr.ino)
				return g_cdr.fd;
		}
		cdr_close(); /* renamed or deleted: lines go to a new file */
	} else if (!strcmp(path, g_cdr.path) && now - g_cdr.checked_ms < CDR_CHECK_MS) {
		cdr_error(ctx, path, "open", g_cdr.open_err); /* failed < 1 s ago: not retried yet */
		return -1;
	}
	snprintf(g_cdr.path, sizeof(g_cdr.path), "%s", path);
	g_cdr.checked_ms = now;
	/* 0666 & ~umask, as fopen("a") created it. Read too: the pread below
	 * (on a write-only fd it fails with EBADF, and a file a crash left
	 * inside a line got our first line glued onto that part); write-only
	 * if that is all the file allows.
	 * O_NONBLOCK and regular files only: a FIFO put there opens O_RDWR
	 * with no reader (O_WRONLY would block in open), and once its pipe is
	 * full every write(2) would block the loop for good (no JSON-RPC, no
	 * supervision). A character device (/dev/null) is taken (O_NONBLOCK:
	 * one that could block, a tty, does not).
	 */
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0666);
	if (fd < 0 && errno == EACCES)
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0666);
	struct stat st;
	const char *what = "open";
	if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		what = "open: not a regular file";
		errno = EINVAL;
		close(fd);
		fd = -1;
	}
	if (fd < 0 || fstat(fd, &st) != 0) {
		g_cdr.open_err = errno;
		cdr_error(ctx, path, what, g_cdr.open_err);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (g_cdr.open_err) /* the warning said it could not: say it can */
		SBC_NOTICE("call records: %s: open, writing again", path);
	g_cdr.open_err = 0;
	g_cdr.fd = fd;
	g_cdr.dev = st.st_dev;
	g_cdr.ino = st.st_ino;
	/* a file that ends inside a line (a short write, here or by a
	 * predecessor that crashed): our first line starts on a line of its own */
	char last = '\n';
	g_cdr.partial = st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
	return fd;
}

/* Lines in buf[0, n): what a write that stopped short did not finish. */
static uint64_t lines_in(const char *buf, size_t n)
{
	uint64_t k = 0;
	for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		k++;
	return k;
}

/* Writes the whole lines in g_cdr.buf in one write(2)
 * and empties it. A write that stops short (ENOSPC, EFBIG) leaves part of
 * a line in the file: the next write starts with '\n', so that part is a
 * bad line of its own and the next record is whole. */
static void cdr_flush(ctl_ctx *ctx)
{
	size_t n = g_cdr.len;
	g_cdr.len = 0;
	if (!n)
		return;
	uint64_t lines = lines_in(g_cdr.buf, n);
	int fd = cdr_fd(ctx);
	if (fd < 0) {
		ctx->counters.cdr_write_errors += lines - 1; /* cdr_fd counted one */
		return;
	}
	while (g_cdr.partial) {
		ssize_t w = write(fd, "\n", 1);
		if (w == 1)
			g_cdr.partial = false;
		else if (w < 0 && errno == EINTR)
			continue;
		else {
			ctx->counters.cdr_write_errors += lines - 1;
			cdr_error(ctx, g_cdr.path, "write", w < 0 ? errno : EIO);
			return;
		}
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, g_cdr.buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* the lines whose '\n' did not reach the file are lost
			 * (cdr_error counts one of them) */
			g_cdr.partial = off > 0 && g_cdr.buf[off - 1] != '\n';
			ctx->counters.cdr_write_errors += lines_in(g_cdr.buf + off, n - off) - 1;
			cdr_error(ctx, g_cdr.path, "write", w < 0 ? errno : EIO);
			return;
		}
		off += (size_t)w; /* short write (disk nearly full): the rest */
	}
}

/* Appends ev's compact JSON and '\n' to g_cdr.buf and, unless g_cdr.batch,
 * writes it out at once: one write(2) per line, never a line split between
 * two. */
static void cdr_write(ctl_ctx *ctx, json_t *ev)
{
	size_t room = g_cdr.cap - g_cdr.len;
	size_t n = json_dumpb(ev, g_cdr.buf + g_cdr.len, room, JSON_COMPACT);
	if (n && n + 1 > room) {
		size_t cap = (g_cdr.len + n + 1) * 2;
		char *b = realloc(g_cdr.buf, cap);
		if (!b) {
			cdr_error(ctx, g_cdr.path, "line", ENOMEM);
			return;
		}
		g_cdr.buf = b;
		g_cdr.cap = cap;
		room = g_cdr.cap - g_cdr.len;
		n = json_dumpb(ev, g_cdr.buf + g_cdr.len, room, JSON_COMPACT);
	}
	if (!n || n + 1 > room) {
		cdr_error(ctx, g_cdr.path, "line", EINVAL);
		return;
	}
	g_cdr.buf[g_cdr.len + n] = '\n';
	g_cdr.len += n + 1;
	if (!g_cdr.batch || g_cdr.len >= CDR_BATCH_BYTES)
		cdr_flush(ctx);
}

void ctl_cdr_free(void)
{
	cdr_close();
	free(g_cdr.buf);
	g_cdr.buf = NULL;
	g_cdr.len = g_cdr.cap = 0;
	g_cdr.batch = false;
	g_cdr.path[0] = '\0';
	g_cdr.checked_ms = g_cdr.warned_ms = g_cdr.unwarned = 0;
	g_cdr.open_err = 0;
	json_decref(g_calls);
	json_decref(g_order);
	g_calls = g_order = NULL;
	g_open = g_compact_at = 0;
}

static int is_ended(json_t *rec)
{
	const char *state = json_string_value(json_object_get(rec, "state"));
	return state && !strcmp(state, "ended");
}

/* Shrinks the table to CTL_CDR_KEEP records in one walk: the oldest ended
 * records go first, and an open one only past CTL_CDR_OPEN_MAX (its end
 * could not be written when its process dies: logged). Run every
 * CTL_CDR_KEEP / 4 new records rather than per record, so that a table
 * full of long calls costs no walk per call. */
static void cdr_compact(void)
{
	size_t n = json_array_size(g_order), drop_ended = 0, drop_open = 0;
	if (n > CTL_CDR_KEEP)
		drop_ended = n - CTL_CDR_KEEP;
	if (g_open > CTL_CDR_OPEN_MAX)
		drop_open = g_open - CTL_CDR_OPEN_MAX;
	json_t *keep = json_array();
	size_t dropped_open = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *id = json_array_get(g_order, i);
		json_t *rec = json_object_get(g_calls, json_string_value(id));
		int ended = is_ended(rec);
		if (!rec)
			continue; /* no record under that id: nothing to keep */
		if (ended && drop_ended) {
			drop_ended--;
		} else if (!ended && drop_open) {
			drop_open--;
			dropped_open++;
			if (drop_ended)
				drop_ended--;
			g_open--;
		} else {
			json_array_append(keep, id);
			continue;
		}
		json_object_del(g_calls, json_string_value(id));
	}
	if (dropped_open)
		SBC_WARN("call records: %zu open call(s) dropped from the table (more than %u open): "
			 "their ends are not recorded if their sbc-signal dies", dropped_open, CTL_CDR_OPEN_MAX);
	json_decref(g_order);
	g_order = keep;
	g_compact_at = json_array_size(g_order) + CTL_CDR_KEEP / 4;
}

/* Appends ev (an event object: "event", "id", ...) to cdr.jsonl and merges
 * it into the call's record. Takes ev's reference. */
static void cdr_apply(ctl_ctx *ctx, unsigned worker, pid_t pid, json_t *ev, const char *id)
{
	json_object_set_new(ev, "worker", json_integer(worker));
	if (pid > 0)
		json_object_set_new(ev, "signal_pid", json_integer(pid));
	else
		json_object_del(ev, "signal_pid"); /* ours to say, not the event's */
	cdr_write(ctx, ev);
	if (!g_calls) {
		g_calls = json_object();
		g_order = json_array();
		g_compact_at = CTL_CDR_KEEP + CTL_CDR_KEEP / 4;
	}
	json_t *rec = json_object_get(g_calls, id);
	if (!rec) {
		rec = json_object();
		json_object_set_new(g_calls, id, rec);
		json_array_append_new(g_order, json_string(id));
		g_open++;
	} else if (is_ended(rec)) {
		g_open++; /* undone below: an event after the end */
	}
	const char *kind = json_string_value(json_object_get(ev, "event"));
	json_object_update(rec, ev);
	json_object_del(rec, "event");
	json_object_del(rec, "time_ms");
	json_object_set_new(rec, "state", json_string(kind && !strcmp(kind, "end") ? "ended"
						      : kind && !strcmp(kind, "answer") ? "answered" : "calling"));
	if (is_ended(rec))
		g_open--;
	json_decref(ev);
	if (json_array_size(g_order) >= g_compact_at)
		cdr_compact();
}

void ctl_cdr_event(ctl_ctx *ctx, unsigned worker, pid_t pid, const sbc_msg_text *t)
{
	json_error_t je;
	json_t *ev = t->len <= SBC_MSG_TEXT_MAX ? json_loadb(t->text, t->len, JSON_REJECT_DUPLICATES, &je) : NULL;
	const char *id = json_string_value(json_object_get(ev, "id"));
	if (!json_is_object(ev) || !id) {
		json_decref(ev);
		ctx->counters.ring_bad_messages++;
		SBC_WARN("signal worker %u: call event that is not a JSON object with an id", worker);
		return;
	}
	cdr_apply(ctx, worker, pid, ev, id);
}

void x__ctl_cdr_batch(ctl_ctx *ctx, bool on)
{
	g_cdr.batch = on;
	if (!on)
		cdr_flush(ctx);
}

void x__ctl_cdr_end_lost(ctl_ctx *ctx, const char *id, json_t *rec, const char *reason)
{
	/* an end event as sbc-signal would have sent it: the record's
	 * fields (times, trunks, numbers, suites) plus the end's own */
	json_t *ev = json_deep_copy(rec);
	unsigned worker = (unsigned)json_integer_value(json_object_get(rec, "worker"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(rec, "signal_pid"));
	json_object_del(ev, "state");
	json_object_del(ev, "worker");
	json_object_del(ev, "signal_pid");
	json_object_set_new(ev, "event", json_string("end"));
	json_object_set_new(ev, "time_ms", json_integer((json_int_t)sbc_wall_ms()));
	json_object_set_new(ev, "cause", json_integer(CTL_CDR_LOST_CAUSE));
	json_object_set_new(ev, "reason", json_string(reason));
	cdr_apply(ctx, worker, pid, ev, id);
}

unsigned ctl_cdr_signal_gone(ctl_ctx *ctx, pid_t pid, const char *reason)
{
	unsigned n = 0;
	/* A copy: cdr_apply may compact g_order. */
	json_t *order = json_copy(g_order);
	size_t total = json_array_size(order);
	/* lines gathered and written in 64 KiB writes, not one per line: this
	 * runs on the loop before the successor starts (10000 calls,
	 * bench_cdr_closeout: 51-53 ms of CPU; one write per line: 60-61 ms) */
	x__ctl_cdr_batch(ctx, true);
	for (size_t i = 0; i < total; i++) {
		const char *id = json_string_value(json_array_get(order, i));
		json_t *rec = json_object_get(g_calls, id);
		/* Every open record is the dead process's, whatever its
		 * signal_pid says: a successor is spawned only after this ran
		 * (ctl_super.c), and the pid of a HELLO need not be the one
		 * waitpid saw (a wrapper that forks, a garbled HELLO). */
		if (!rec || is_ended(rec))
			continue;
		x__ctl_cdr_end_lost(ctx, id, rec, reason);
		n++;
	}
	x__ctl_cdr_batch(ctx, false);
	json_decref(order);
	if (n)
		SBC_WARN("sbc-signal pid %d: %u call record(s) left open, ended with cause %d: %s", (int)pid, n,
			 CTL_CDR_LOST_CAUSE, reason);
	return n;
}

CTL_METHOD_DECL(ctl_m_call_list)
{
	(void)ctx, (void)req, (void)err;
	json_t *lim = json_object_get(params, "limit");
	size_t max = lim ? (size_t)json_integer_value(lim) : CTL_LIST_DEFAULT;
	int active = json_is_true(json_object_get(params, "active"));
	json_t *out = json_array();
	size_t n = json_array_size(g_order);
	/* newest first */
	for (size_t i = n; i-- > 0 && json_array_size(out) < max;) {
		json_t *rec = json_object_get(g_calls, json_string_value(json_array_get(g_order, i)));
		if (!rec || (active && !strcmp(json_string_value(json_object_get(rec, "state")), "ended")))
			continue;
		json_array_append(out, rec);
	}
	*result = json_pack("{s:o}", "calls", out);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_call_get)
{
	(void)ctx, (void)req;
	const char *id = json_string_value(json_object_get(params, "id"));
	json_t *rec = g_calls ? json_object_get(g_calls, id) : NULL;
	if (!rec)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "call \"%s\" not found", id);
	*result = json_deep_copy(rec);
	return CTL_RPC_OK;
}

CTL_METHOD_DECL(ctl_m_call_hangup)
{
	(void)req;
	const char *id = json_string_value(json_object_get(params, "id"));
	json_t *rec = g_calls ? json_object_get(g_calls, id) : NULL;
	unsigned w = 0;
	uint64_t x = 0;
	if (!rec || sscanf(id, "%u-%" SCNx64, &w, &x) != 2)
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "call \"%s\" not found", id);
	if (!strcmp(json_string_value(json_object_get(rec, "state")), "ended")) {
		const char *why = json_string_value(json_object_get(rec, "reason"));
		return ctl_rpc_fail(err, CTL_RPC_NOT_FOUND, "call \"%s\" has ended%s%s%s", id, why ? " (" : "",
				    why ? why : "", why ? ")" : "");
	}
	char text[256];
	int n = snprintf(text, sizeof(text), "{\"method\":\"call.hangup\",\"id\":\"%s\"}", id);
	if (n <= 0 || (size_t)n >= sizeof(text) || ctl_bus_command(ctx->bus, SHM_ROLE_SIGNAL, w, text, (size_t)n) < 0)
		return ctl_rpc_fail(err, CTL_RPC_INTERNAL, "call \"%s\": signal worker %u not reachable", id, w);
	*result = json_pack("{s:s, s:b}", "id", id, "requested", 1);
	return CTL_RPC_OK;
}
