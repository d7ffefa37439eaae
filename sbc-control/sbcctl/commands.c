/* sbcctl — commands: each maps to one JSON-RPC method; options are declared
 * in tables (name, kind, JSON field) and turned into params. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbcctl.h"

enum opt_kind {
	O_STR,   /* --x VALUE -> "field": "VALUE" */
	O_INT,   /* --x N -> "field": N */
	O_LIST,  /* --x V (repeatable) -> "field": ["V", ...] */
	O_CSV,   /* --x a,b -> "field": ["a","b"] */
	O_TRUE,  /* --x -> "field": true */
	O_FALSE, /* --x -> "field": false */
	O_FILE,  /* --x FILE -> "field": contents of FILE */
	O_SRTP,  /* --x MODE -> "field": {"mode": MODE} (merged with O_SUITES) */
	O_SUITES,/* --x a,b -> "field": {"suites": [...]} */
	O_LOCAL, /* handled by the command itself */
};

typedef struct cli_opt {
	const char *name;  /* without "--" */
	enum opt_kind kind;
	const char *field; /* JSON params field */
	const char *help;
} cli_opt;

typedef struct cli_cmd cli_cmd;
typedef int (*cmd_print_fn)(const cli_cmd *cmd, json_t *params, json_t *result, FILE *out);
typedef int (*cmd_prep_fn)(const cli_cmd *cmd, json_t *params, char *err, size_t errlen);

struct cli_cmd {
	const char *noun, *verb;  /* "trunk", "add"; verb NULL for one-word commands */
	const char *method;
	const char *positional[3]; /* JSON fields of the positional arguments, required */
	unsigned optional_pos;     /* how many of the trailing positionals may be omitted */
	const cli_opt *opts;
	cmd_prep_fn prep;
	cmd_print_fn print;
	const char *help;
};

/* ---- options of the commands ------------------------------------------------ */

static const cli_opt trunk_opts[] = {
	{"dest", O_LIST, "destinations", "outbound destination [udp|tcp|tls:]host[:port] (repeatable, in order)"},
	{"inbound-cidr", O_LIST, "cidrs", "accept calls from this prefix (repeatable)"},
	{"tls-profile", O_STR, "tls_profile", "TLS profile for TLS destinations / client certificates"},
	{"cert-subject", O_LOCAL, "subject", "match inbound client certificates by subject (repeatable)"},
	{"cert-san", O_LOCAL, "san", "match inbound client certificates by subjectAltName (repeatable)"},
	{"cert-fingerprint", O_LOCAL, "fingerprint", "match by SHA-256 fingerprint (repeatable)"},
	{"srtp-in", O_SRTP, "srtp_inbound", "SRTP for calls from this trunk: off|optional|required"},
	{"srtp-out", O_SRTP, "srtp_outbound", "SRTP for calls to this trunk: off|optional|required"},
	{"srtp-in-suites", O_SUITES, "srtp_inbound", "allowed suites, preferred first (comma-separated)"},
	{"srtp-out-suites", O_SUITES, "srtp_outbound", "allowed suites, preferred first (comma-separated)"},
	{"max-calls", O_INT, "max_calls", "concurrent call limit (0: none)"},
	{"max-cps", O_INT, "max_cps", "calls per second limit (0: none)"},
	{"reuse-inbound", O_TRUE, "reuse_inbound", "send new calls on a TCP/TLS connection the trunk opened to us"},
	{"no-reuse-inbound", O_FALSE, "reuse_inbound", "send new calls on our own connections (default)"},
	{"enable", O_TRUE, "enabled", "enable the trunk"},
	{"disable", O_FALSE, "enabled", "disable the trunk"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt list_opts[] = {
	{"after", O_STR, "after", "start after this name"},
	{"limit", O_INT, "limit", "page size (1..1000)"},
	{"all", O_LOCAL, NULL, "fetch every page"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt route_add_opts[] = {
	{"priority", O_INT, "priority", "lower is tried first (default 100)"},
	{"weight", O_INT, "weight", "share among equal priorities (default 100)"},
	{"strip", O_INT, "strip", "digits to strip from the front"},
	{"prepend", O_STR, "prepend", "digits to add in front"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt route_list_opts[] = {
	{"limit", O_INT, "limit", "page size (1..1000)"},
	{"all", O_LOCAL, NULL, "fetch every page"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt import_opts[] = {
	{"format", O_STR, "format", "csv|jsonl (default: from the file name, else csv)"},
	{"replace", O_TRUE, "replace", "drop every existing route first (in the same transaction)"},
	{"inline", O_LOCAL, NULL, "send the file's content instead of its path"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt export_opts[] = {
	{"format", O_STR, "format", "csv|jsonl (default csv)"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt tls_opts[] = {
	{"cert", O_FILE, "cert_pem", "PEM certificate chain file (leaf first)"},
	{"key", O_FILE, "key_pem", "PEM private key file"},
	{"ca", O_FILE, "ca_pem", "PEM CA bundle file"},
	{"verify-depth", O_INT, "verify_depth", "0..16"},
	{"require-client-cert", O_TRUE, "require_client_cert", "ask for and require client certificates"},
	{"no-client-cert", O_FALSE, "require_client_cert", "do not require client certificates"},
	{"sni", O_LIST, "sni", "server name (repeatable)"},
	{"min-version", O_STR, "min_version", "1.2|1.3"},
	{"ciphers", O_STR, "ciphers", "cipher list"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt tls_get_opts[] = {
	{"include-key", O_TRUE, "include_key", "include the private key (secret!)"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt status_opts[] = {
	{"counts", O_TRUE, "counts", "count routes (walks the table)"},
	{NULL, 0, NULL, NULL},
};
static const cli_opt no_opts[] = {{NULL, 0, NULL, NULL}};
static const cli_opt media_sessions_opts[] = {
	{"offset", O_INT, "offset", "first session (global numbering, default 0)"},
	{"limit", O_INT, "limit", "page size (1..1000, default 100)"},
	{NULL, 0, NULL, NULL},
};

/* ---- printers ------------------------------------------------------------------ */

static void print_row(cli_table *t, json_t *o, const char *const *keys, unsigned n)
{
	char *cells[16] = {0};
	for (unsigned i = 0; i < n && i < 16; i++)
		cells[i] = cli_cell(json_object_get(o, keys[i]));
	cli_table_add(t, (const char *const *)cells);
	for (unsigned i = 0; i < n; i++)
		free(cells[i]);
}

static int print_status(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	static const char *const keys[] = {"name", "state", "pid", "restarts", "uptime_s", "last_exit"};
	static const char *const hdr[] = {"CHILD", "STATE", "PID", "RESTARTS", "UPTIME_S", "LAST_EXIT"};
	json_t *children = json_object_get(r, "children"), *c;
	size_t i;
	json_t *copy = json_deep_copy(r);
	json_object_del(copy, "children");
	cli_print_kv(copy, out, 0);
	json_decref(copy);
	fputc('\n', out);
	cli_table *t = cli_table_new(6, hdr);
	json_array_foreach(children, i, c) print_row(t, c, keys, 6);
	cli_table_print(t, out);
	cli_table_free(t);
	return 0;
}

static int print_kv(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	if (json_is_object(r))
		cli_print_kv(r, out, 0);
	else {
		char *s = cli_cell(r);
		fprintf(out, "%s\n", s);
		free(s);
	}
	return 0;
}

static json_t *srtp_mode(json_t *pol)
{
	return json_object_get(pol, "mode");
}

static void trunk_table_add(cli_table *t, json_t *tr)
{
	char *cells[8];
	cells[0] = cli_cell(json_object_get(tr, "name"));
	cells[1] = cli_cell(json_object_get(tr, "enabled"));
	cells[2] = cli_cell(json_object_get(tr, "cidrs"));
	cells[3] = cli_cell(json_object_get(tr, "destinations"));
	cells[4] = cli_cell(json_object_get(tr, "tls_profile"));
	cells[5] = cli_cell(srtp_mode(json_object_get(tr, "srtp_inbound")));
	cells[6] = cli_cell(srtp_mode(json_object_get(tr, "srtp_outbound")));
	cells[7] = cli_cell(json_object_get(tr, "route_refs"));
	cli_table_add(t, (const char *const *)cells);
	for (unsigned k = 0; k < 8; k++)
		free(cells[k]);
}

static const char *const trunk_hdr[] = {"NAME", "ENABLED", "INBOUND", "DESTINATIONS", "TLS", "SRTP_IN", "SRTP_OUT", "ROUTES"};

static int print_trunks(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	json_t *arr = json_object_get(r, "trunks"), *tr;
	size_t i;
	cli_table *t = cli_table_new(8, trunk_hdr);
	json_array_foreach(arr, i, tr) trunk_table_add(t, tr);
	cli_table_print(t, out);
	cli_table_free(t);
	return 0;
}

static const char *const route_keys[] = {"prefix", "trunk", "priority", "weight", "strip", "prepend", "dial"};
static const char *const route_hdr[] = {"PREFIX", "TRUNK", "PRIORITY", "WEIGHT", "STRIP", "PREPEND", "DIAL"};

static int print_routes(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	json_t *arr = json_object_get(r, "routes"), *e;
	size_t i;
	bool lookup = json_object_get(r, "normalised") != NULL;
	unsigned n = lookup ? 7 : 6;
	if (lookup && json_array_size(arr) == 0) {
		fprintf(out, "no route for %s\n", json_string_value(json_object_get(r, "normalised")));
		return 0;
	}
	cli_table *t = cli_table_new(n, route_hdr);
	json_array_foreach(arr, i, e) {
		/* The default route's prefix is empty: show it as "(default)". */
		json_t *row = json_copy(e);
		if (json_string_length(json_object_get(e, "prefix")) == 0)
			json_object_set_new(row, "prefix", json_string("(default)"));
		print_row(t, row, route_keys, n);
		json_decref(row);
	}
	cli_table_print(t, out);
	cli_table_free(t);
	return 0;
}

static int print_tls_list(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	static const char *const hdr[] = {"NAME", "SUBJECT", "NOT_AFTER", "FINGERPRINT_SHA256", "ERROR"};
	json_t *arr = json_object_get(r, "profiles"), *e;
	size_t i;
	cli_table *t = cli_table_new(5, hdr);
	json_array_foreach(arr, i, e) {
		json_t *c = json_object_get(e, "certificate");
		char *cells[5] = {cli_cell(json_object_get(e, "name")), cli_cell(json_object_get(c, "subject")),
				  cli_cell(json_object_get(c, "not_after")), cli_cell(json_object_get(c, "fingerprint_sha256")),
				  cli_cell(json_object_get(e, "certificate_error"))};
		cli_table_add(t, (const char *const *)cells);
		for (unsigned k = 0; k < 5; k++)
			free(cells[k]);
	}
	cli_table_print(t, out);
	cli_table_free(t);
	return 0;
}

static int print_export(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	json_t *data = json_object_get(r, "data");
	if (data)
		fwrite(json_string_value(data), 1, json_string_length(data), out);
	else
		fprintf(out, "exported %lld routes to %s\n", (long long)json_integer_value(json_object_get(r, "count")),
			json_string_value(json_object_get(r, "path")));
	return 0;
}

static int print_stats(const cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	const char *k;
	json_t *v;
	json_object_foreach(r, k, v) {
		fprintf(out, "%s:\n", k);
		if (json_is_array(v)) {
			size_t i;
			json_t *w;
			json_array_foreach(v, i, w) {
				fprintf(out, "  worker %lld%s\n", (long long)json_integer_value(json_object_get(w, "worker")),
					json_is_true(json_object_get(w, "available")) ? "" : " (unavailable)");
				json_t *s = json_object_get(w, "stats");
				if (s)
					cli_print_kv(s, out, 4);
				else if (json_object_get(w, "error"))
					fprintf(out, "    error  %s\n", json_string_value(json_object_get(w, "error")));
			}
		} else if (json_is_object(v)) {
			json_t *copy = json_deep_copy(v);
			json_object_del(copy, "rings");
			cli_print_kv(copy, out, 2);
			json_decref(copy);
		}
	}
	return 0;
}

/* ---- preparation (file contents, path resolution) ----------------------------- */

static int prep_import(const cli_cmd *cmd, json_t *params, char *err, size_t errlen)
{
	const char *path = json_string_value(json_object_get(params, "path"));
	char abs[PATH_MAX];
	if (!path)
		return 0;
	if (!realpath(path, abs)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	json_object_set_new(params, "path", json_string(abs));
	return 0;
}

static int prep_export(const cli_cmd *cmd, json_t *params, char *err, size_t errlen)
{
	const char *path = json_string_value(json_object_get(params, "path"));
	char cwd[PATH_MAX], abs[PATH_MAX * 2];
	if (!path || path[0] == '/' || strcmp(path, "-") == 0) {
		if (path && strcmp(path, "-") == 0)
			json_object_del(params, "path");
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd))) {
		snprintf(err, errlen, "getcwd: %s", strerror(errno));
		return -1;
	}
	snprintf(abs, sizeof(abs), "%s/%s", cwd, path);
	json_object_set_new(params, "path", json_string(abs));
	return 0;
}

/* ---- the command table ------------------------------------------------------- */

static const cli_cmd commands[] = {
	{"status", NULL, "system.status", {NULL}, 0, status_opts, NULL, print_status, "children, generations, uptime"},
	{"version", NULL, "system.version", {NULL}, 0, no_opts, NULL, print_kv, "server version"},
	{"reload", NULL, "system.reload", {NULL}, 0, no_opts, NULL, print_kv,
	 "re-read the config file, restart failed children"},
	{"shutdown", NULL, "system.shutdown", {NULL}, 0, no_opts, NULL, print_kv, "stop sbc-control and its children"},
	{"stats", NULL, "stats.get", {NULL}, 0, no_opts, NULL, print_stats, "counters of every process"},
	{"trunk", "add", "trunk.add", {"name"}, 0, trunk_opts, NULL, print_kv, "add a trunk"},
	{"trunk", "update", "trunk.update", {"name"}, 0, trunk_opts, NULL, print_kv,
	 "change the given fields of a trunk (lists are replaced)"},
	{"trunk", "remove", "trunk.remove", {"name"}, 0, no_opts, NULL, print_kv, "remove a trunk no route names"},
	{"trunk", "get", "trunk.get", {"name"}, 0, no_opts, NULL, print_kv, "show one trunk"},
	{"trunk", "list", "trunk.list", {NULL}, 0, list_opts, NULL, print_trunks, "list trunks"},
	{"route", "add", "route.add", {"prefix", "trunk"}, 0, route_add_opts, NULL, print_kv,
	 "add a route (prefix \"\" is the default route)"},
	{"route", "remove", "route.remove", {"prefix", "trunk"}, 1, no_opts, NULL, print_kv,
	 "remove the route prefix+trunk, or every route of the prefix"},
	{"route", "list", "route.list", {NULL}, 0, route_list_opts, NULL, print_routes, "list routes"},
	{"route", "lookup", "route.lookup", {"number"}, 0, no_opts, NULL, print_routes,
	 "longest-prefix match of a called number"},
	{"route", "import", "route.import", {"path"}, 0, import_opts, prep_import, print_kv,
	 "import routes from a CSV or JSONL file, all or nothing"},
	{"route", "export", "route.export", {"path"}, 1, export_opts, prep_export, print_export,
	 "export routes to FILE (sbc-control writes it) or stdout"},
	{"tls", "add", "tls.add", {"name"}, 0, tls_opts, NULL, print_kv, "add a TLS profile"},
	{"tls", "update", "tls.update", {"name"}, 0, tls_opts, NULL, print_kv, "replace parts of a TLS profile"},
	{"tls", "remove", "tls.remove", {"name"}, 0, no_opts, NULL, print_kv, "remove a TLS profile no trunk uses"},
	{"tls", "get", "tls.get", {"name"}, 0, tls_get_opts, NULL, print_kv, "show a TLS profile (no key)"},
	{"tls", "list", "tls.list", {NULL}, 0, list_opts, NULL, print_tls_list, "list TLS profiles"},
	{"media", "stats", "media.stats", {NULL}, 0, no_opts, NULL, cli_print_media_stats,
	 "relay counters per media worker and in total, drops by reason"},
	{"media", "sessions", "media.sessions", {NULL}, 0, media_sessions_opts, NULL, cli_print_media_sessions,
	 "a page of media sessions with per-leg counters (no keys)"},
	{"call", NULL, NULL, {NULL}, 0, no_opts, NULL, NULL, "call METHOD [JSON-PARAMS]: any method, raw"},
};

#define NCMDS (sizeof(commands) / sizeof(commands[0]))

static void cmd_usage(const cli_cmd *c, FILE *f)
{
	unsigned npos = 0;
	while (npos < 3 && c->positional[npos])
		npos++;
	fprintf(f, "usage: sbcctl [-s SOCKET] [--json] %s%s%s", c->noun, c->verb ? " " : "", c->verb ? c->verb : "");
	for (unsigned i = 0; i < npos; i++) {
		bool opt = i >= npos - c->optional_pos;
		char up[32];
		snprintf(up, sizeof(up), "%s", c->positional[i]);
		for (char *p = up; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		fprintf(f, " %s%s%s", opt ? "[" : "", up, opt ? "]" : "");
	}
	if (!c->method)
		fprintf(f, " METHOD [JSON-PARAMS]");
	fprintf(f, "%s\n  %s\n", c->opts[0].name ? " [options]" : "", c->help);
	if (c->method)
		fprintf(f, "  (JSON-RPC method %s)\n", c->method);
	for (const cli_opt *o = c->opts; o->name; o++) {
		const char *arg = o->kind == O_TRUE || o->kind == O_FALSE || (o->kind == O_LOCAL && !o->field) ? "" : " VALUE";
		fprintf(f, "  --%s%s\n      %s\n", o->name, arg, o->help);
	}
}

void cli_usage(FILE *f)
{
	fprintf(f, "usage: sbcctl [-s SOCKET] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
		   "socket: -s PATH, else $SBC_SOCKET, else ./run/control.sock\n"
		   "exit status: 0 ok, 1 error from sbc-control, 2 usage, 3 cannot connect\n\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s%s%s", commands[i].noun, commands[i].verb ? " " : "",
			 commands[i].verb ? commands[i].verb : "");
		fprintf(f, "  %-14s %s\n", name, commands[i].help);
	}
	fprintf(f, "\n'sbcctl COMMAND --help' describes a command's options.\n");
}

static int read_file(const char *path, json_t **out, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	bool bad = ferror(f);
	if (f != stdin)
		fclose(f);
	if (bad || !buf) {
		free(buf);
		snprintf(err, errlen, "%s: read error", path);
		return -1;
	}
	*out = json_stringn_nocheck(buf, len);
	free(buf);
	return 0;
}

static json_t *split_csv(const char *s)
{
	json_t *a = json_array();
	const char *p = s;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n)
			json_array_append_new(a, json_stringn(p, n));
		if (!c)
			break;
		p = c + 1;
	}
	return a;
}

static json_t *obj_field(json_t *params, const char *field)
{
	json_t *o = json_object_get(params, field);
	if (!json_is_object(o)) {
		o = json_object();
		json_object_set_new(params, field, o);
	}
	return o;
}

static int apply_opt(const cli_cmd *cmd, const cli_opt *o, const char *val, json_t *params, bool *all, bool *inl,
		     char *err, size_t errlen)
{
	char *end;
	long long n;
	json_t *v;
	switch (o->kind) {
	case O_STR:
		json_object_set_new(params, o->field, json_string(val));
		return 0;
	case O_INT:
		errno = 0;
		n = strtoll(val, &end, 10);
		if (errno || *end || end == val) {
			snprintf(err, errlen, "--%s: \"%s\" is not an integer", o->name, val);
			return -1;
		}
		json_object_set_new(params, o->field, json_integer(n));
		return 0;
	case O_LIST:
		v = json_object_get(params, o->field);
		if (!json_is_array(v)) {
			v = json_array();
			json_object_set_new(params, o->field, v);
		}
		json_array_append_new(v, json_string(val));
		return 0;
	case O_CSV:
		json_object_set_new(params, o->field, split_csv(val));
		return 0;
	case O_TRUE:
	case O_FALSE:
		json_object_set_new(params, o->field, json_boolean(o->kind == O_TRUE));
		return 0;
	case O_FILE:
		if (read_file(val, &v, err, errlen) != 0)
			return -1;
		json_object_set_new(params, o->field, v);
		return 0;
	case O_SRTP:
		json_object_set_new(obj_field(params, o->field), "mode", json_string(val));
		return 0;
	case O_SUITES:
		json_object_set_new(obj_field(params, o->field), "suites", split_csv(val));
		return 0;
	case O_LOCAL:
		if (strcmp(o->name, "all") == 0)
			*all = true;
		else if (strcmp(o->name, "inline") == 0)
			*inl = true;
		else {
			/* certificate matches */
			v = json_object_get(params, "certs");
			if (!json_is_array(v)) {
				v = json_array();
				json_object_set_new(params, "certs", v);
			}
			json_array_append_new(v, json_pack("{s:s, s:s}", "type", o->field, "value", val));
		}
		return 0;
	}
	return -1;
}

static const cli_cmd *find_cmd(int argc, char **argv, int *used)
{
	for (size_t i = 0; i < NCMDS; i++) {
		const cli_cmd *c = &commands[i];
		if (strcmp(argv[0], c->noun) != 0)
			continue;
		if (!c->verb) {
			*used = 1;
			return c;
		}
		if (argc >= 2 && strcmp(argv[1], c->verb) == 0) {
			*used = 2;
			return c;
		}
	}
	return NULL;
}

static void noun_usage(const char *noun, FILE *f)
{
	fprintf(f, "usage: sbcctl %s VERB ...; verbs:\n", noun);
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(commands[i].noun, noun) == 0 && commands[i].verb)
			fprintf(f, "  %-8s %s\n", commands[i].verb, commands[i].help);
}

static int report_error(json_t *error)
{
	json_t *data = json_object_get(error, "data");
	fprintf(stderr, "sbcctl: %s (code %lld)", json_string_value(json_object_get(error, "message")),
		(long long)json_integer_value(json_object_get(error, "code")));
	if (data) {
		char *d = json_dumps(data, JSON_COMPACT);
		fprintf(stderr, " %s", d ? d : "");
		free(d);
	}
	fputc('\n', stderr);
	return SBCCTL_EXIT_ERROR;
}

static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	printf("%s\n", s ? s : "null");
	free(s);
}

/* list commands with --all: follow "next" until "more" is false. */
static int call_all(cli_conn *conn, const cli_cmd *cmd, json_t *params, json_t **result, json_t **error, char *err,
		    size_t errlen)
{
	const char *key = strcmp(cmd->noun, "trunk") == 0 ? "trunks" : strcmp(cmd->noun, "route") == 0 ? "routes" : "profiles";
	json_t *all = json_array();
	for (;;) {
		json_t *r = NULL;
		int ret = cli_call(conn, cmd->method, params, &r, error, err, errlen);
		if (ret != 0) {
			json_decref(all);
			return ret;
		}
		json_array_extend(all, json_object_get(r, key));
		json_t *next = json_object_get(r, "next");
		bool more = json_is_true(json_object_get(r, "more")) && next;
		if (more) {
			if (json_is_object(next))
				json_object_update(params, next);
			else
				json_object_set(params, "after", next);
		}
		json_decref(r);
		if (!more)
			break;
	}
	*result = json_pack("{s:o, s:b}", key, all, "more", 0);
	return 0;
}

int cli_run(int argc, char **argv, const char *socket_path, bool json_out, int timeout_ms)
{
	char err[1024];
	int used = 0, ret;
	bool all = false, inl = false;
	const cli_cmd *cmd;
	json_t *params, *result = NULL, *error = NULL;
	const char *method;
	cli_conn conn;

	if (argc < 1) {
		cli_usage(stderr);
		return SBCCTL_EXIT_USAGE;
	}
	cmd = find_cmd(argc, argv, &used);
	if (!cmd) {
		for (size_t i = 0; i < NCMDS; i++)
			if (strcmp(commands[i].noun, argv[0]) == 0) {
				bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
				noun_usage(argv[0], help ? stdout : stderr);
				if (!help)
					fprintf(stderr, "sbcctl: %s: unknown or missing verb\n", argv[0]);
				return help ? SBCCTL_EXIT_OK : SBCCTL_EXIT_USAGE;
			}
		fprintf(stderr, "sbcctl: unknown command \"%s\"\n", argv[0]);
		cli_usage(stderr);
		return SBCCTL_EXIT_USAGE;
	}
	params = json_object();
	method = cmd->method;
	unsigned npos = 0, ngot = 0;
	while (npos < 3 && cmd->positional[npos])
		npos++;
	for (int i = used; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cmd_usage(cmd, stdout);
			json_decref(params);
			return SBCCTL_EXIT_OK;
		}
		if (!cmd->method) {
			/* call METHOD [JSON] */
			if (!method) {
				method = a;
				continue;
			}
			json_error_t je;
			json_t *p = json_loads(a, 0, &je);
			if (!p) {
				fprintf(stderr, "sbcctl: JSON-PARAMS: %s\n", je.text);
				json_decref(params);
				return SBCCTL_EXIT_USAGE;
			}
			json_decref(params);
			params = p;
			continue;
		}
		if (strncmp(a, "--", 2) == 0 && a[2]) {
			const char *name = a + 2, *val = NULL;
			const char *eq = strchr(name, '=');
			size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
			const cli_opt *o = cmd->opts;
			while (o->name && (strlen(o->name) != nlen || strncmp(o->name, name, nlen) != 0))
				o++;
			if (!o->name) {
				fprintf(stderr, "sbcctl: %s%s%s: unknown option --%.*s (see --help)\n", cmd->noun,
					cmd->verb ? " " : "", cmd->verb ? cmd->verb : "", (int)nlen, name);
				json_decref(params);
				return SBCCTL_EXIT_USAGE;
			}
			bool takes = !(o->kind == O_TRUE || o->kind == O_FALSE || (o->kind == O_LOCAL && !o->field));
			if (takes) {
				if (eq)
					val = eq + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else {
					fprintf(stderr, "sbcctl: --%s needs a value\n", o->name);
					json_decref(params);
					return SBCCTL_EXIT_USAGE;
				}
			}
			if (apply_opt(cmd, o, val, params, &all, &inl, err, sizeof(err)) != 0) {
				fprintf(stderr, "sbcctl: %s\n", err);
				json_decref(params);
				return SBCCTL_EXIT_USAGE;
			}
			continue;
		}
		if (ngot >= npos) {
			fprintf(stderr, "sbcctl: unexpected argument \"%s\" (see --help)\n", a);
			json_decref(params);
			return SBCCTL_EXIT_USAGE;
		}
		json_object_set_new(params, cmd->positional[ngot++], json_string(a));
	}
	if (!method || ngot < npos - cmd->optional_pos) {
		fprintf(stderr, "sbcctl: missing arguments\n");
		cmd_usage(cmd, stderr);
		json_decref(params);
		return SBCCTL_EXIT_USAGE;
	}
	if (inl) {
		json_t *data;
		const char *path = json_string_value(json_object_get(params, "path"));
		if (read_file(path, &data, err, sizeof(err)) != 0) {
			fprintf(stderr, "sbcctl: %s\n", err);
			json_decref(params);
			return SBCCTL_EXIT_USAGE;
		}
		if (!json_object_get(params, "format")) {
			size_t n = strlen(path);
			bool jl = n > 6 && strcmp(path + n - 6, ".jsonl") == 0;
			json_object_set_new(params, "format", json_string(jl ? "jsonl" : "csv"));
		}
		json_object_del(params, "path");
		json_object_set_new(params, "data", data);
	} else if (cmd->prep && cmd->prep(cmd, params, err, sizeof(err)) != 0) {
		fprintf(stderr, "sbcctl: %s\n", err);
		json_decref(params);
		return SBCCTL_EXIT_USAGE;
	}
	if (cli_connect(&conn, socket_path, timeout_ms, err, sizeof(err)) != 0) {
		fprintf(stderr, "sbcctl: %s\n", err);
		json_decref(params);
		return SBCCTL_EXIT_CONNECT;
	}
	if (all)
		ret = call_all(&conn, cmd, params, &result, &error, err, sizeof(err));
	else
		ret = cli_call(&conn, method, params, &result, &error, err, sizeof(err));
	cli_close(&conn);
	if (ret < 0) {
		fprintf(stderr, "sbcctl: %s\n", err);
		ret = SBCCTL_EXIT_CONNECT;
	} else if (ret == 1) {
		ret = report_error(error);
	} else {
		if (json_out || !cmd->print)
			print_json(result);
		else
			cmd->print(cmd, params, result, stdout);
		ret = SBCCTL_EXIT_OK;
	}
	json_decref(result);
	json_decref(error);
	json_decref(params);
	return ret;
}
