/* sbc-control — call records left open by a previous sbc-control: read back
 * from cdr.jsonl at start and ended (see ctl_cdr_recover in ctl_cdr.h).
 *
 * cdr.jsonl can be hundreds of MB (rotation is the operator's), and lines
 * can be bad (a partial line of a crash or a short write, garbage). So:
 *  1. one pass of read(2)s into a 1 MiB buffer; each line gets a JSON syntax
 *     check that also picks out its top-level "event" and "id" strings, with
 *     no allocation: parsing every line with jansson costs about 15 times
 *     the CPU (a JSON tree per line, thrown away at once; bench_cdr_boot:
 *     1.7-1.8 s per 100 MB against 0.12 s);
 *  2. an id is kept (a hash table) while it is open: from its first start
 *     or answer line to its end line, with the offsets of its start/answer
 *     lines, nothing else; so memory follows the calls open at once (a
 *     cap, max_open, counted and logged past it), not the file's size;
 *  3. at the end, for each id still open (in the order of its first line),
 *     its lines are read again by offset and parsed with jansson, merged
 *     as ctl_cdr_event merges them, and its end line written.
 * A line counts when it is a JSON object (syntax) with string "event" and
 * "id" at its top level; the last line counts without its newline if it is
 * whole (sbc-control's next line starts with a newline, ctl_methods_call.c).
 * The check is of syntax only: a line that jansson would still refuse
 * (invalid UTF-8, an integer past 64 bits) counts; sbc-control writes none
 * (it dumps its lines with jansson), and such a start/answer line of an
 * open call is found out in step 3 (a bad line, not merged).
 * Memory: a boot_call is 152 bytes (the array doubles as it grows), so the
 * cap (CTL_CDR_OPEN_MAX, 200000 ids) costs at most about 42 MB with the
 * slots; a few thousand calls up at once, well under a MB.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/log.h"
#include "ctl_cdr.h"

#define BOOT_CHUNK (1u << 20) /* read(2) size, and the longest line read */
#define BOOT_ID_MAX 63        /* ids are "<worker>-<hex>": longer is not ours */
#define BOOT_REFS 4           /* start/answer lines kept per open call */
#define BOOT_DEPTH 32         /* JSON nesting accepted in a line */

/* A line of cdr.jsonl: where it is in the file. */
typedef struct boot_ref {
	uint64_t off;
	uint32_t len;
} boot_ref;

/* An id open so far: its start/answer lines. More than BOOT_REFS (not sent
 * by sbc-signal): the first ones and the latest are kept, later lines
 * overriding earlier fields as they do in the table. */
typedef struct boot_call {
	uint64_t hash;
	uint32_t nrefs;
	uint32_t next_free;     /* free list, index + 1 */
	boot_ref refs[BOOT_REFS];
	uint8_t idlen;
	char id[BOOT_ID_MAX + 1];
} boot_call;

/* Open addressing, linear probing, backward-shift deletion; slots hold an
 * index + 1 into calls (0: empty). */
typedef struct boot_table {
	uint32_t *slots;
	size_t mask;            /* slots - 1 (a power of two) */
	boot_call *calls;
	size_t ncalls, cap;     /* used (incl. freed) / allocated entries */
	uint32_t free_head;     /* index + 1 */
	size_t open, max_open;
	size_t peak;            /* most open at once */
} boot_table;

static uint64_t id_hash(const char *id, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)id[i]) * 1099511628211ull;
	return h ? h : 1;
}

/* The slot of id, or of the empty slot where it would go. */
static size_t bt_find(const boot_table *t, const char *id, size_t n, uint64_t h)
{
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		uint32_t s = t->slots[i];
		if (!s)
			return i;
		const boot_call *c = &t->calls[s - 1];
		if (c->hash == h && c->idlen == n && !memcmp(c->id, id, n))
			return i;
	}
}

static int bt_grow(boot_table *t)
{
	size_t n = t->slots ? (t->mask + 1) * 2 : 1024;
	uint32_t *s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (t->slots)
		for (size_t i = 0; i <= t->mask; i++)
			if (t->slots[i]) {
				size_t j = t->calls[t->slots[i] - 1].hash & (n - 1);
				while (s[j])
					j = (j + 1) & (n - 1);
				s[j] = t->slots[i];
			}
	free(t->slots);
	t->slots = s;
	t->mask = n - 1;
	return 0;
}

/* Empties slot i, shifting back the entries of its probe run. */
static void bt_del(boot_table *t, size_t i)
{
	uint32_t idx = t->slots[i];
	t->calls[idx - 1].next_free = t->free_head;
	t->free_head = idx;
	t->open--;
	for (size_t j = (i + 1) & t->mask;; j = (j + 1) & t->mask) {
		if (!t->slots[j])
			break;
		size_t home = t->calls[t->slots[j] - 1].hash & t->mask;
		/* j's entry may move to i if its home is not in (i, j] */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = 0;
}

/* A start or answer line of id at ref: remembered. -ENOSPC: max_open ids
 * are open already; -ENOMEM. */
static int bt_open(boot_table *t, const char *id, size_t n, boot_ref ref)
{
	uint64_t h = id_hash(id, n);
	if (!t->slots && bt_grow(t) != 0)
		return -ENOMEM;
	size_t i = bt_find(t, id, n, h);
	if (!t->slots[i]) {
		if (t->open >= t->max_open)
			return -ENOSPC;
		if ((t->open + 1) * 2 > t->mask + 1) {
			if (bt_grow(t) != 0)
				return -ENOMEM;
			i = bt_find(t, id, n, h);
		}
		uint32_t idx = t->free_head;
		if (idx) {
			t->free_head = t->calls[idx - 1].next_free;
		} else {
			if (t->ncalls == t->cap) {
				size_t cap = t->cap ? t->cap * 2 : 1024;
				boot_call *c = realloc(t->calls, cap * sizeof(*c));
				if (!c)
					return -ENOMEM;
				t->calls = c;
				t->cap = cap;
			}
			idx = (uint32_t)++t->ncalls;
		}
		boot_call *c = &t->calls[idx - 1];
		c->hash = h;
		c->nrefs = 0;
		c->next_free = 0;
		c->idlen = (uint8_t)n;
		memcpy(c->id, id, n);
		c->id[n] = '\0';
		t->slots[i] = idx;
		if (++t->open > t->peak)
			t->peak = t->open;
	}
	boot_call *c = &t->calls[t->slots[i] - 1];
	if (c->nrefs < BOOT_REFS)
		c->refs[c->nrefs++] = ref;
	else
		c->refs[BOOT_REFS - 1] = ref; /* not sbc-signal's: keep the latest */
	return 0;
}

static void bt_end(boot_table *t, const char *id, size_t n)
{
	if (!t->slots)
		return;
	size_t i = bt_find(t, id, n, id_hash(id, n));
	if (t->slots[i])
		bt_del(t, i); /* an end with nothing open (ended twice): nothing */
}

/* ---- the line scanner: JSON syntax, top-level "event" and "id" ---- */

typedef struct scan {
	const char *p, *e;
} scan;

typedef struct sv {
	const char *s;
	size_t n;
	int escaped;            /* has a backslash escape: not compared */
} sv;

static void ws(scan *c)
{
	while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int hexd(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* A string at c->p (its opening quote); out: its raw contents. */
static int str(scan *c, sv *out)
{
	const char *p = c->p + 1, *e = c->e;
	out->escaped = 0;
	for (; p < e; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '"') {
			out->s = c->p + 1;
			out->n = (size_t)(p - out->s);
			c->p = p + 1;
			return 0;
		}
		if (ch < 0x20)
			return -1;
		if (ch == '\\') {
			out->escaped = 1;
			if (++p >= e)
				return -1;
			if (*p == 'u') {
				if (e - p < 5 || !hexd(p[1]) || !hexd(p[2]) || !hexd(p[3]) || !hexd(p[4]))
					return -1;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return -1;
			}
		}
	}
	return -1;
}

static int digits(scan *c)
{
	const char *s = c->p;
	while (c->p < c->e && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s ? 0 : -1;
}

static int num(scan *c)
{
	if (c->p < c->e && *c->p == '-')
		c->p++;
	if (c->p < c->e && *c->p == '0')
		c->p++;
	else if (digits(c) != 0)
		return -1;
	if (c->p < c->e && *c->p == '.') {
		c->p++;
		if (digits(c) != 0)
			return -1;
	}
	if (c->p < c->e && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->e && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (digits(c) != 0)
			return -1;
	}
	return 0;
}

static int lit(scan *c, const char *w, size_t n)
{
	if ((size_t)(c->e - c->p) < n || memcmp(c->p, w, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

static int value(scan *c, unsigned depth, sv *as_str);

/* An object or array at c->p; at depth 0 (the line's object), the string
 * values of "event" and "id" go to ev and id (a non-string one: s NULL). */
static int container(scan *c, unsigned depth, sv *ev, sv *id)
{
	char close = *c->p == '{' ? '}' : ']';
	if (depth >= BOOT_DEPTH)
		return -1;
	c->p++;
	ws(c);
	if (c->p < c->e && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		sv *want = NULL, key;
		if (close == '}') {
			if (c->p >= c->e || *c->p != '"' || str(c, &key) != 0)
				return -1;
			if (depth == 0 && !key.escaped) {
				if (key.n == 5 && !memcmp(key.s, "event", 5))
					want = ev;
				else if (key.n == 2 && !memcmp(key.s, "id", 2))
					want = id;
			}
			ws(c);
			if (c->p >= c->e || *c->p != ':')
				return -1;
			c->p++;
			ws(c);
		}
		sv v = {0};
		if (value(c, depth + 1, &v) != 0)
			return -1;
		if (want)
			*want = v; /* a later duplicate wins, as in jansson */
		ws(c);
		if (c->p >= c->e)
			return -1;
		if (*c->p == close) {
			c->p++;
			return 0;
		}
		if (*c->p != ',')
			return -1;
		c->p++;
		ws(c);
	}
}

static int value(scan *c, unsigned depth, sv *as_str)
{
	if (c->p >= c->e)
		return -1;
	switch (*c->p) {
	case '"': return str(c, as_str);
	case '{':
	case '[': {
		sv ign[2];
		return container(c, depth, &ign[0], &ign[1]);
	}
	case 't': return lit(c, "true", 4);
	case 'f': return lit(c, "false", 5);
	case 'n': return lit(c, "null", 4);
	default: return num(c);
	}
}

/* Line [p, p + n): 0 and its "event" and "id" if it is a JSON object with
 * both strings at its top level (an id with an escape is not one of ours). */
static int scan_line(const char *p, size_t n, sv *ev, sv *id)
{
	scan c = {p, p + n};
	*ev = (sv){0};
	*id = (sv){0};
	ws(&c);
	if (c.p >= c.e || *c.p != '{' || container(&c, 0, ev, id) != 0)
		return -1;
	ws(&c);
	if (c.p != c.e || !ev->s || !id->s || id->escaped || !id->n || id->n > BOOT_ID_MAX)
		return -1;
	return 0;
}

/* ---- the pass over the file ---- */

typedef struct boot {
	boot_table t;
	ctl_cdr_recovery r;
	int err;                /* -ENOMEM met: the result is not trusted */
} boot;

static void line(boot *b, const char *p, size_t n, uint64_t off)
{
	sv ev, id;
	if (!n)
		return; /* an empty line: nothing */
	b->r.lines++;
	if (scan_line(p, n, &ev, &id) != 0) {
		b->r.bad_lines++;
		return;
	}
	if (ev.escaped)
		return; /* no event of ours */
	if ((ev.n == 5 && !memcmp(ev.s, "start", 5)) || (ev.n == 6 && !memcmp(ev.s, "answer", 6))) {
		int ret = bt_open(&b->t, id.s, id.n, (boot_ref){off, (uint32_t)n});
		if (ret == -ENOSPC)
			b->r.over_cap++;
		else if (ret)
			b->err = ret;
	} else if (ev.n == 3 && !memcmp(ev.s, "end", 3)) {
		bt_end(&b->t, id.s, id.n);
	}
	/* any other event: not one sbc-signal sends; it neither opens nor
	 * ends a call */
}

/* Reads fd to its end, calling line() for each line. 0 or -errno. */
static int pass(boot *b, int fd)
{
	char *buf = malloc(BOOT_CHUNK);
	size_t have = 0;
	uint64_t base = 0;      /* file offset of buf[0] */
	int skipping = 0;       /* inside a line longer than the buffer */
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + have, BOOT_CHUNK - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			free(buf);
			return err;
		}
		if (n == 0)
			break;
		b->r.bytes += (uint64_t)n;
		size_t scanned = have; /* no '\n' before it */
		have += (size_t)n;
		size_t start = 0;
		for (char *nl; (nl = memchr(buf + scanned, '\n', have - scanned)) != NULL;) {
			size_t end = (size_t)(nl - buf);
			if (skipping) {
				skipping = 0;
				b->r.lines++;
				b->r.bad_lines++; /* overlong: not a record of ours */
			} else {
				line(b, buf + start, end - start, base + start);
			}
			start = scanned = end + 1;
		}
		if (start == 0 && have == BOOT_CHUNK) {
			skipping = 1; /* a line as big as the buffer: dropped */
			start = have;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		base += start;
	}
	if (skipping) {
		b->r.lines++;
		b->r.bad_lines++;
	} else if (have) {
		/* the last line, with no newline: counted if it is whole (the
		 * next line written starts on a line of its own) */
		line(b, buf, have, base);
	}
	free(buf);
	return 0;
}

static int by_first_line(const void *a, const void *b)
{
	const boot_call *x = *(boot_call *const *)a, *y = *(boot_call *const *)b;
	return (x->refs[0].off > y->refs[0].off) - (x->refs[0].off < y->refs[0].off);
}

/* The record of open call c: its lines parsed and merged in order; NULL if
 * none parses (then they are bad lines). */
static json_t *merged(boot *b, int fd, const boot_call *c, char **buf, size_t *cap)
{
	json_t *rec = NULL;
	for (uint32_t i = 0; i < c->nrefs; i++) {
		const boot_ref *r = &c->refs[i];
		if (r->len > *cap) {
			char *nb = realloc(*buf, r->len);
			if (!nb)
				continue;
			*buf = nb;
			*cap = r->len;
		}
		ssize_t n = pread(fd, *buf, r->len, (off_t)r->off);
		json_error_t je;
		json_t *ev = n == (ssize_t)r->len ? json_loadb(*buf, r->len, 0, &je) : NULL;
		const char *id = json_string_value(json_object_get(ev, "id"));
		if (!json_is_object(ev) || !id || strcmp(id, c->id) != 0) {
			/* the syntax check took it, jansson does not (bad UTF-8,
			 * an integer too big): a bad line all the same */
			b->r.bad_lines++;
			json_decref(ev);
			continue;
		}
		if (!rec)
			rec = json_object();
		json_object_update(rec, ev);
		json_decref(ev);
	}
	return rec;
}

int x__ctl_cdr_recover(ctl_ctx *ctx, const char *reason, size_t max_open, ctl_cdr_recovery *out)
{
	char path[PATH_MAX + 16];
	boot b = {.t = {.max_open = max_open}};
	boot_call **open_calls = NULL;
	char *buf = NULL;
	size_t cap = 0;
	uint64_t cpu0 = sbc_thread_cpu_ns();
	int ret, fd;

	snprintf(path, sizeof(path), "%s/cdr.jsonl", ctx->cfg.data_dir);
	/* O_NONBLOCK: a FIFO put there must not hang the start */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		ret = errno == ENOENT ? 0 : -errno;
		if (ret)
			SBC_ERROR("call records: %s: open: %s: calls a previous sbc-control left open are not ended",
				  path, strerror(-ret));
		goto Exit;
	}
	struct stat st;
	ret = fstat(fd, &st) != 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : !S_ISREG(st.st_mode) ? -EINVAL : 0;
	if (ret) {
		SBC_ERROR("call records: %s: %s: calls a previous sbc-control left open are not ended", path,
			  ret == -EINVAL ? "not a regular file" : strerror(-ret));
		goto Exit;
	}
	if ((ret = pass(&b, fd)) != 0 || (ret = b.err) != 0) {
		SBC_ERROR("call records: %s: read: %s: calls a previous sbc-control left open are not ended", path,
			  strerror(-ret));
		goto Exit;
	}
	if (b.r.bad_lines)
		SBC_WARN("call records: %s: %" PRIu64 " bad line(s) of %" PRIu64 " skipped (not a JSON object with "
			 "string \"event\" and \"id\": partial, garbage or too long)", path, b.r.bad_lines, b.r.lines);
	if (b.r.over_cap)
		SBC_WARN("call records: %s: more than %zu calls open at once: %" PRIu64 " start/answer line(s) of "
			 "further ones not followed, and those calls not ended", path, max_open, b.r.over_cap);
	b.r.open = (unsigned)b.t.open;
	b.r.peak_open = (unsigned)b.t.peak;
	if (!b.t.open)
		goto Exit;
	open_calls = malloc(b.t.open * sizeof(*open_calls));
	if (!open_calls) {
		ret = -ENOMEM;
		SBC_ERROR("call records: %s: %s", path, strerror(ENOMEM));
		goto Exit;
	}
	size_t n = 0;
	for (size_t i = 0; i <= b.t.mask; i++)
		if (b.t.slots[i])
			open_calls[n++] = &b.t.calls[b.t.slots[i] - 1];
	qsort(open_calls, n, sizeof(*open_calls), by_first_line);
	x__ctl_cdr_batch(ctx, true);
	for (size_t i = 0; i < n; i++) {
		json_t *rec = merged(&b, fd, open_calls[i], &buf, &cap);
		if (!rec)
			continue;
		x__ctl_cdr_end_lost(ctx, open_calls[i]->id, rec, reason);
		json_decref(rec);
		b.r.ended++;
	}
	x__ctl_cdr_batch(ctx, false);
	ret = (int)b.r.ended;
	SBC_WARN("call records: %u call(s) left open in %s by a previous sbc-control, ended with cause %d: %s",
		 b.r.ended, path, CTL_CDR_LOST_CAUSE, reason);
Exit:
	if (fd >= 0)
		close(fd);
	free(open_calls);
	free(buf);
	free(b.t.slots);
	free(b.t.calls);
	b.r.cpu_ms = (double)(sbc_thread_cpu_ns() - cpu0) / 1e6;
	if (b.r.bytes)
		SBC_INFO("call records: %s read back: %" PRIu64 " bytes, %" PRIu64 " lines, %u open, %.0f ms CPU", path,
			 b.r.bytes, b.r.lines, b.r.open, b.r.cpu_ms);
	if (out)
		*out = b.r;
	return ret;
}

int ctl_cdr_recover(ctl_ctx *ctx, const char *reason, ctl_cdr_recovery *out)
{
	return x__ctl_cdr_recover(ctx, reason, CTL_CDR_OPEN_MAX, out);
}
