/* sbc-signal — entry point (wiring only). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sig_app.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: sbc-signal [--shm NAME] --runtime PATH\n"
		   "       sbc-signal --version\n"
		   "Without --shm it runs standalone (no rings): SIGHUP reloads TLS,\n"
		   "SIGUSR1 logs the counters.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"shm", required_argument, NULL, 's'},
		{"runtime", required_argument, NULL, 'r'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *shm = NULL, *runtime = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "s:r:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			shm = optarg;
			break;
		case 'r':
			runtime = optarg;
			break;
		case 'V':
			printf("sbc-signal 0.1.0\n");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!runtime) {
		usage(stderr);
		return 2;
	}
	return sig_app_run(shm, runtime);
}
