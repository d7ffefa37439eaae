/* sbc — the children's command line (see args.h). */
#include <getopt.h>
#include <stdio.h>

#include "sbc/args.h"

int sbc_child_args_parse(int argc, char **argv, const char *usage, const char *version, bool need_shm,
			 sbc_child_args *out)
{
	static const struct option opts[] = {
		{"shm", required_argument, NULL, 's'},
		{"runtime", required_argument, NULL, 'r'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	out->shm = out->runtime = NULL;
	while ((c = getopt_long(argc, argv, "s:r:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			out->shm = optarg;
			break;
		case 'r':
			out->runtime = optarg;
			break;
		case 'V':
			printf("%s\n", version);
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!out->runtime || (need_shm && !out->shm)) {
		fputs(usage, stderr);
		return 2;
	}
	return -1;
}
