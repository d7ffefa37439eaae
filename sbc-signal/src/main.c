/* sbc-signal — entry point (wiring only). */
#include "sbc/args.h"
#include "sig_app.h"

static const char usage[] = "usage: sbc-signal [--shm NAME] --runtime PATH\n"
			    "       sbc-signal --version\n"
			    "Without --shm it runs standalone (no rings): SIGHUP reloads TLS,\n"
			    "SIGUSR1 logs the counters.\n";

int main(int argc, char **argv)
{
	sbc_child_args a;
	int ret = sbc_child_args_parse(argc, argv, usage, "sbc-signal 0.1.0", false, &a);
	if (ret >= 0)
		return ret;
	return sig_app_run(a.shm, a.runtime);
}
