/* sbcctl — entry point (wiring only): global options -> cli_run(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbcctl.h"

#define SBCCTL_VERSION "0.1.0"

int main(int argc, char **argv)
{
	const char *sock = NULL;
	bool json_out = false;
	int timeout_ms = 120000;
	int i = 1;

	for (; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) && i + 1 < argc)
			sock = argv[++i];
		else if (strncmp(a, "--socket=", 9) == 0)
			sock = a + 9;
		else if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0)
			json_out = true;
		else if (strcmp(a, "--timeout") == 0 && i + 1 < argc)
			timeout_ms = (int)(atof(argv[++i]) * 1000);
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli_usage(stdout);
			return SBCCTL_EXIT_OK;
		} else if (strcmp(a, "--version") == 0) {
			printf("sbcctl %s\n", SBCCTL_VERSION);
			return SBCCTL_EXIT_OK;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "sbcctl: unknown option %s\n", a);
			cli_usage(stderr);
			return SBCCTL_EXIT_USAGE;
		} else
			break;
	}
	/* --json may also follow the command. */
	int n = 0;
	for (int k = i; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json_out = true;
		else
			argv[i + n++] = argv[k];
	}
	if (!sock)
		sock = getenv("SBC_SOCKET");
	if (!sock || !*sock)
		sock = "run/control.sock";
	if (timeout_ms <= 0)
		timeout_ms = 120000;
	return cli_run(n, argv + i, sock, json_out, timeout_ms);
}
