/* sbcctl — aligned human tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbcctl.h"

struct cli_table {
	unsigned ncols, nrows, cap;
	char **cells; /* row-major, ncols per row; row 0 the headers */
};

cli_table *cli_table_new(unsigned ncols, const char *const *headers)
{
	cli_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	cli_table_add(t, headers);
	return t;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		unsigned ncap = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, sizeof(char *) * ncap * t->ncols);
		if (!n)
			return;
		t->cells = n;
		t->cap = ncap;
	}
	for (unsigned i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

void cli_table_print(cli_table *t, FILE *out)
{
	size_t *w = calloc(t->ncols, sizeof(size_t));
	if (!w)
		return;
	for (unsigned r = 0; r < t->nrows; r++)
		for (unsigned i = 0; i < t->ncols; i++) {
			size_t l = strlen(t->cells[r * t->ncols + i]);
			if (l > w[i])
				w[i] = l;
		}
	for (unsigned r = 0; r < t->nrows; r++) {
		for (unsigned i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			if (i + 1 < t->ncols)
				fprintf(out, "%-*s  ", (int)w[i], s);
			else
				fprintf(out, "%s", s);
		}
		fputc('\n', out);
	}
	free(w);
}

void cli_table_free(cli_table *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

char *cli_cell(json_t *v)
{
	char buf[64];
	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v)[0] ? json_string_value(v) : "-");
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.1f", json_real_value(v));
		return strdup(buf);
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "yes" : "no");
	if (json_is_array(v)) {
		size_t i, total = 1;
		json_t *e;
		if (json_array_size(v) == 0)
			return strdup("-");
		char **parts = calloc(json_array_size(v), sizeof(char *));
		json_array_foreach(v, i, e) {
			parts[i] = cli_cell(e);
			total += strlen(parts[i]) + 1;
		}
		char *s = calloc(1, total);
		size_t off = 0;
		for (i = 0; i < json_array_size(v); i++) {
			off += (size_t)snprintf(s + off, total - off, "%s%s", i ? "," : "", parts[i]);
			free(parts[i]);
		}
		free(parts);
		return s;
	}
	if (json_is_object(v)) {
		/* Destinations and certificate matches read as they are typed. */
		json_t *host = json_object_get(v, "host"), *type = json_object_get(v, "type");
		if (json_is_string(host)) {
			const char *tp = json_string_value(json_object_get(v, "transport"));
			json_int_t port = json_integer_value(json_object_get(v, "port"));
			bool show_tp = tp && strcmp(tp, "any") != 0;
			size_t n = (show_tp ? strlen(tp) + 1 : 0) + json_string_length(host) + 24;
			char *out = malloc(n);
			if (!out)
				return NULL;
			int k = snprintf(out, n, "%s%s%s", show_tp ? tp : "", show_tp ? ":" : "", json_string_value(host));
			if (port && k > 0)
				snprintf(out + k, n - (size_t)k, ":%lld", (long long)port);
			return out;
		}
		if (json_is_string(type) && json_is_string(json_object_get(v, "value"))) {
			size_t n = strlen(json_string_value(type)) + json_string_length(json_object_get(v, "value")) + 2;
			char *out = malloc(n);
			if (out)
				snprintf(out, n, "%s:%s", json_string_value(type), json_string_value(json_object_get(v, "value")));
			return out;
		}
	}
	return json_dumps(v, JSON_COMPACT);
}

void cli_print_kv(json_t *obj, FILE *out, int indent)
{
	const char *k;
	json_t *v;
	size_t w = 0;
	json_object_foreach(obj, k, v) {
		if (strlen(k) > w)
			w = strlen(k);
	}
	json_object_foreach(obj, k, v) {
		if (json_is_object(v)) {
			fprintf(out, "%*s%s:\n", indent, "", k);
			cli_print_kv(v, out, indent + 2);
			continue;
		}
		char *c = cli_cell(v);
		fprintf(out, "%*s%-*s  %s\n", indent, "", (int)w + 1, k, c ? c : "");
		free(c);
	}
}
