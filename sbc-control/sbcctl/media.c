/* sbcctl — printers of `sbcctl media stats` and `sbcctl media sessions`
 * (the rows of the command table are in commands.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbcctl.h"

static char *num(json_int_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return strdup(buf);
}

static json_int_t ival(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static json_int_t drops_sum(json_t *drops)
{
	const char *k;
	json_t *v;
	json_int_t n = 0;
	json_object_foreach(drops, k, v) n += json_integer_value(v);
	return n;
}

/* "auth=3,kernel=1" (only the reasons that occurred), or "-". */
static char *drops_text(json_t *drops)
{
	char buf[256] = "";
	size_t len = 0;
	const char *k;
	json_t *v;
	json_object_foreach(drops, k, v)
	{
		if (json_integer_value(v) == 0)
			continue;
		int n = snprintf(buf + len, sizeof(buf) - len, "%s%s=%lld", len ? "," : "", k,
				 (long long)json_integer_value(v));
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			break;
		len += (size_t)n;
	}
	return strdup(len ? buf : "-");
}

#define STATS_COLS 13
static const char *const stats_keys[STATS_COLS] = {
	NULL, "cpu", "io", "sessions", "capacity", "packets_in", "packets_out", "bytes_in", "bytes_out",
	"rtcp_in", "rtcp_out", "timeouts", NULL,
};

static void stats_row(cli_table *t, const char *name, json_t *o)
{
	char *cells[STATS_COLS + 1] = {0};
	cells[0] = strdup(name);
	for (unsigned i = 1; i < STATS_COLS; i++)
		if (stats_keys[i])
			cells[i] = cli_cell(json_object_get(o, stats_keys[i]));
	cells[STATS_COLS - 1] = num(drops_sum(json_object_get(o, "drops")));
	cells[STATS_COLS] = num(json_integer_value(json_object_get(json_object_get(o, "drops"), "kernel")));
	cli_table_add(t, (const char *const *)cells);
	for (unsigned i = 0; i <= STATS_COLS; i++)
		free(cells[i]);
}

int cli_print_media_stats(const struct cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	static const char *const hdr[STATS_COLS + 1] = {"WORKER",   "CPU",     "IO",       "SESSIONS", "CAPACITY",
							"PKTS_IN",  "PKTS_OUT", "BYTES_IN", "BYTES_OUT", "RTCP_IN",
							"RTCP_OUT", "TIMEOUTS", "DROPS",    "KERNEL_DROPS"};
	json_t *workers = json_object_get(r, "workers"), *totals = json_object_get(r, "totals"), *w;
	size_t i;
	(void)cmd, (void)params;
	fprintf(out, "backend  %s\nio       %s\n\n", json_string_value(json_object_get(r, "backend")),
		json_string_value(json_object_get(r, "io")));
	cli_table *t = cli_table_new(STATS_COLS + 1, hdr);
	json_array_foreach(workers, i, w)
	{
		char name[16];
		snprintf(name, sizeof(name), "%lld", (long long)ival(w, "worker"));
		stats_row(t, name, w);
	}
	json_t *tot = json_deep_copy(totals);
	json_object_set_new(tot, "cpu", json_string("-"));
	json_object_set_new(tot, "io", json_string("-"));
	stats_row(t, "total", tot);
	json_decref(tot);
	cli_table_print(t, out);
	cli_table_free(t);

	/* Drops by reason: one column per worker and the total. */
	size_t nw = json_array_size(workers);
	if (nw > 64)
		nw = 64;
	const char *hdr2[66];
	char wname[64][16];
	hdr2[0] = "DROP_REASON";
	for (i = 0; i < nw; i++) {
		snprintf(wname[i], sizeof(wname[i]), "WORKER_%zu", i);
		hdr2[1 + i] = wname[i];
	}
	hdr2[1 + nw] = "TOTAL";
	fputc('\n', out);
	t = cli_table_new((unsigned)nw + 2, hdr2);
	const char *reason;
	json_t *v;
	json_object_foreach(json_object_get(totals, "drops"), reason, v)
	{
		char *cells[66] = {0};
		cells[0] = strdup(reason);
		for (i = 0; i < nw; i++)
			cells[1 + i] = num(ival(json_object_get(json_array_get(workers, i), "drops"), reason));
		cells[1 + nw] = num(json_integer_value(v));
		cli_table_add(t, (const char *const *)cells);
		for (i = 0; i < nw + 2; i++)
			free(cells[i]);
	}
	cli_table_print(t, out);
	cli_table_free(t);
	return 0;
}

#define SESS_COLS 13

int cli_print_media_sessions(const struct cli_cmd *cmd, json_t *params, json_t *r, FILE *out)
{
	static const char *const hdr[SESS_COLS] = {"WORKER",   "SESSION", "LEG",  "PORT",      "PEER",
						   "LATCHED",  "RX",      "TX",   "PKTS_IN",   "PKTS_OUT",
						   "LOST",     "JITTER_US", "DROPS"};
	json_t *sessions = json_object_get(r, "sessions"), *s;
	size_t i;
	(void)cmd, (void)params;
	cli_table *t = cli_table_new(SESS_COLS, hdr);
	json_array_foreach(sessions, i, s)
	{
		json_t *legs = json_object_get(s, "legs"), *l;
		size_t k;
		json_array_foreach(legs, k, l)
		{
			char *cells[SESS_COLS] = {0};
			cells[0] = cli_cell(json_object_get(s, "worker"));
			cells[1] = num(ival(s, "id"));
			cells[2] = num((json_int_t)k);
			cells[3] = cli_cell(json_object_get(l, "port"));
			cells[4] = cli_cell(json_object_get(l, "peer"));
			cells[5] = strdup(json_is_true(json_object_get(l, "latched")) ? "yes" : "no");
			cells[6] = cli_cell(json_object_get(l, "rx"));
			cells[7] = cli_cell(json_object_get(l, "tx"));
			cells[8] = cli_cell(json_object_get(l, "packets_in"));
			cells[9] = cli_cell(json_object_get(l, "packets_out"));
			cells[10] = cli_cell(json_object_get(l, "lost"));
			cells[11] = cli_cell(json_object_get(l, "jitter_us"));
			cells[12] = drops_text(json_object_get(l, "drops"));
			cli_table_add(t, (const char *const *)cells);
			for (unsigned c = 0; c < SESS_COLS; c++)
				free(cells[c]);
		}
	}
	cli_table_print(t, out);
	cli_table_free(t);
	json_t *next = json_object_get(r, "next");
	fprintf(out, "\n%lld of %lld sessions from offset %lld", (long long)ival(r, "count"), (long long)ival(r, "total"),
		(long long)ival(r, "offset"));
	if (json_is_integer(next))
		fprintf(out, "; next page: --offset %lld", (long long)json_integer_value(next));
	fputc('\n', out);
	return 0;
}
