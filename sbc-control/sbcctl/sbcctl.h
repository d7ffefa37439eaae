/* sbcctl — the command-line client of sbc-control's JSON-RPC socket.
 *
 * Socket: -s PATH, else $SBC_SOCKET, else ./run/control.sock (the embedded
 * default's). Exit status: 0 success; 1 the server answered with an error
 * (its message on stderr); 2 usage error; 3 cannot reach the server.
 */
#ifndef SBCCTL_H
#define SBCCTL_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#define SBCCTL_EXIT_OK 0
#define SBCCTL_EXIT_ERROR 1
#define SBCCTL_EXIT_USAGE 2
#define SBCCTL_EXIT_CONNECT 3

typedef struct cli_conn {
	int fd;
	char *buf;
	size_t len, cap;
	int timeout_ms;
	long next_id;
} cli_conn;

/* client.c */
int cli_connect(cli_conn *c, const char *path, int timeout_ms, char *err, size_t errlen);
void cli_close(cli_conn *c);
/* Sends {"method", params} and waits for the reply. Returns 0 with *result
 * (new reference), 1 with *error (the JSON-RPC error object), or -1 on a
 * transport failure (err filled). params is borrowed. */
int cli_call(cli_conn *c, const char *method, json_t *params, json_t **result, json_t **error, char *err,
	     size_t errlen);

/* output.c: aligned tables. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(unsigned ncols, const char *const *headers);
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(cli_table *t, FILE *out);
void cli_table_free(cli_table *t);
/* A JSON value as a table cell (strings bare, arrays joined with ','). */
char *cli_cell(json_t *v);
void cli_print_kv(json_t *obj, FILE *out, int indent);

/* media.c: printers of the media commands (cmd_print_fn). */
struct cli_cmd;
int cli_print_media_stats(const struct cli_cmd *cmd, json_t *params, json_t *r, FILE *out);
int cli_print_media_sessions(const struct cli_cmd *cmd, json_t *params, json_t *r, FILE *out);

/* commands.c */
int cli_run(int argc, char **argv, const char *socket_path, bool json_out, int timeout_ms);
void cli_usage(FILE *f);

#endif
