/* bench_rtpengine — Debian's rtpengine (userspace) against sbc-media,
 * side by side with the same load tool (tests/tools/compare/rtpload.c):
 * packets/s relayed, CPU us per relayed packet for RTP->RTP, SRTP->RTP and
 * RTP->SRTP at 500 and 2,000 streams, printed as ratios.
 *
 * The work is done by bench_rtpengine.py next to this file; this binary
 * only finds it and runs it with Debian's python3 so that `make bench` runs
 * it like every other benchmark. Arguments are passed on (--quick).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRIPT "tests/bench/sbc-media/bench_rtpengine.py"

int main(int argc, char **argv)
{
	/* $SBC_REPO, the current directory (make bench runs from the top), or
	 * three levels up from this binary (<repo>/<build>/bench/<name>) */
	char exe[PATH_MAX], path[PATH_MAX];
	const char *cands[3] = {getenv("SBC_REPO"), ".", NULL};
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (el > 0) {
		exe[el] = 0;
		for (int up = 0; up < 3; up++) {
			char *s = strrchr(exe, '/');
			if (s)
				*s = 0;
			if (up == 1) /* the build directory: where the tools are */
				setenv("SBC_BUILD", exe, 0);
		}
		cands[2] = exe;
	}
	for (int i = 0; i < 3; i++) {
		if (!cands[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", cands[i], SCRIPT);
		if (access(path, R_OK) != 0)
			continue;
		char *args[8] = {"/usr/bin/python3", path, NULL};
		for (int a = 1; a < argc && a < 6; a++)
			args[a + 1] = argv[a];
		execv(args[0], args);
		perror("execv /usr/bin/python3");
		return 1;
	}
	fprintf(stderr, "%s not found (set SBC_REPO)\n", SCRIPT);
	return 1;
}
