/* bench_b2b_calls — B2BUA calls per second through sbc-signal + sbc-media
 * (SIPp UAC -> sbc-signal -> SIPp UAS, INVITE/180/200/ACK/BYE with SDP and
 * a media session per call), over UDP and over TLS (SIPp over TCP through
 * stunnel4): calls/s and sbc-signal CPU µs per call (target <= 65).
 *
 * The work is done by bench_b2b_calls.py next to this file; this binary
 * only finds it and runs it with Debian's python3 so that `make bench` runs
 * it like every other benchmark. Arguments are passed on (--quick).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRIPT "tests/bench/sbc-signal/bench_b2b_calls.py"

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
