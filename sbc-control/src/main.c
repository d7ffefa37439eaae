/* sbc-control — entry point (wiring only): options -> ctl_app_run(). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl_app.h"
#include "ctl_methods.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbc-control [options]\n"
		"  --config FILE      JSON configuration (default: the embedded default)\n"
		"  --data-dir DIR     data directory (default ./run, or data_dir from the config)\n"
		"  --socket PATH      control socket (default <data-dir>/control.sock)\n"
		"  --bin-dir DIR      where sbc-signal and sbc-media are (default: beside sbc-control)\n"
		"  --signal-bin PATH  the sbc-signal executable (overrides --bin-dir)\n"
		"  --media-bin PATH   the sbc-media executable (overrides --bin-dir)\n"
		"  --log-level LEVEL  error|warn|notice|info|debug\n"
		"  --check-config     validate the configuration, print runtime.json, exit\n"
		"  --version, --help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},     {"data-dir", required_argument, NULL, 'd'},
		{"socket", required_argument, NULL, 's'},     {"bin-dir", required_argument, NULL, 'b'},
		{"signal-bin", required_argument, NULL, 'S'}, {"media-bin", required_argument, NULL, 'M'},
		{"log-level", required_argument, NULL, 'l'},  {"check-config", no_argument, NULL, 'C'},
		{"version", no_argument, NULL, 'V'},          {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	ctl_options o = {0};
	int c;

	while ((c = getopt_long(argc, argv, "c:d:s:b:l:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config_path = optarg; break;
		case 'd': o.data_dir = optarg; break;
		case 's': o.socket = optarg; break;
		case 'b': o.bin_dir = optarg; break;
		case 'S': o.signal_bin = optarg; break;
		case 'M': o.media_bin = optarg; break;
		case 'l': o.log_level = optarg; break;
		case 'C': o.check_config = true; break;
		case 'V': printf("sbc-control %s\n", CTL_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sbc-control: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return ctl_app_run(&o);
}
