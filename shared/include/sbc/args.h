/* sbc — the command line sbc-control gives its children (sbc-signal,
 * sbc-media): --shm NAME --runtime PATH, plus --version and --help.
 *
 * Caveats:
 *  1. Parsing is getopt_long's: argv may be permuted, optind is left after
 *     the options.
 *  2. Whether --shm is required is the child's rule (sbc-signal also runs
 *     standalone without it); --runtime always is.
 */
#ifndef SBC_ARGS_H
#define SBC_ARGS_H

#include <stdbool.h>

typedef struct sbc_child_args {
	const char *shm;     /* --shm: the shared segment's name, or NULL */
	const char *runtime; /* --runtime: runtime.json's path */
} sbc_child_args;

/* Parses argv into out. usage is the text printed for --help (stdout) and
 * for a usage error (stderr); version the line printed for --version.
 * Returns -1 to go on, or the exit status to return from main: 0 after
 * --version/--help, 2 after a usage error (missing --runtime, or --shm when
 * need_shm). */
int sbc_child_args_parse(int argc, char **argv, const char *usage, const char *version, bool need_shm,
			 sbc_child_args *out);

#endif
