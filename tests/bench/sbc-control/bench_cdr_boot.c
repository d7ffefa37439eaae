/* cdr.jsonl read back at start (ctl_cdr_recover): sbc-control reads the
 * whole file before it spawns sbc-signal, so its time is a gap in service
 * after a crash, and the file can be hundreds of MB (rotation is the
 * operator's). Writes a 200 MB cdr.jsonl (calls of ~340-byte lines: start,
 * answer, end; 1 in 1000 left open, as a dead sbc-control leaves them),
 * then prints, three times, the CPU (this thread, user + system, reads
 * included) of:
 *   - ctl_cdr_recover over it (the syntax check per line, jansson only for
 *     the lines of the open calls, their end lines written);
 *   - for comparison, the same file read the same way with every line
 *     parsed by jansson (what the reader avoids).
 * Target: under 1.5 s of CPU per 100 MB (a 200 MB file "under a few
 * seconds"). Set SBC_BENCH_CDR_MB to change the size. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../../sbc-control/src/ctl_cdr.h"
#include "sbc/log.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int line(FILE *fp, const char *kind, unsigned i, const char *extra)
{
	return fprintf(fp,
		       "{\"event\":\"%s\",\"id\":\"0-%012x\",\"time_ms\":1700000000500,\"start_ms\":1700000000000,"
		       "\"trunk_in\":\"carrier-a\",\"trunk_out\":\"carrier-b\",\"from\":\"15550001111\","
		       "\"to_in\":\"+4930123456\",\"to\":\"4930123456\",\"to_out\":\"004930123456\","
		       "\"srtp_in\":\"AES_CM_128_HMAC_SHA1_80\",\"srtp_out\":null%s,\"worker\":0,\"signal_pid\":4001}\n",
		       kind, 0x100000 + i, extra);
}

/* Every line parsed with jansson, read in the same 1 MiB read(2)s. */
static unsigned long all_jansson(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = malloc(1 << 20);
	size_t have = 0;
	unsigned long n = 0;
	ssize_t r;
	if (fd < 0 || !buf)
		return 0;
	while ((r = read(fd, buf + have, (1 << 20) - have)) > 0) {
		have += (size_t)r;
		size_t start = 0;
		for (char *nl; (nl = memchr(buf + start, '\n', have - start)) != NULL; start = (size_t)(nl - buf) + 1) {
			json_error_t je;
			json_t *ev = json_loadb(buf + start, (size_t)(nl - buf) - start, 0, &je);
			n += json_is_object(ev);
			json_decref(ev);
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	free(buf);
	close(fd);
	return n;
}

int main(void)
{
	static ctl_ctx ctx;
	char dir[] = "/tmp/sbc-bench-cdrboot-XXXXXX", path[64];
	const char *mb_env = getenv("SBC_BENCH_CDR_MB");
	double mb = mb_env ? atof(mb_env) : 200;
	if (!mkdtemp(dir))
		return 1;
	snprintf(ctx.cfg.data_dir, sizeof(ctx.cfg.data_dir), "%s", dir);
	snprintf(path, sizeof(path), "%s/cdr.jsonl", dir);
	sbc_log_set_level(SBC_LOG_ERROR); /* the reader's warning lines */

	FILE *fp = fopen(path, "w");
	if (!fp)
		return 1;
	double bytes = 0;
	unsigned calls = 0, open_calls = 0;
	/* calls overlap as on a live SBC: call i starts as i-100 answers and
	 * i-200 ends (about 200 open at any time while it is written) */
	for (unsigned i = 0; bytes < mb * 1e6; i++) {
		bytes += line(fp, "start", i, "");
		if (i >= 100)
			bytes += line(fp, "answer", i - 100, ",\"answer_ms\":1700000000400");
		if (i >= 200) {
			if ((i - 200) % 1000 == 999)
				open_calls++; /* left open */
			else
				bytes += line(fp, "end", i - 200, ",\"cause\":200,\"reason\":\"BYE from caller\"");
		}
		calls = i + 1;
	}
	if (fclose(fp) != 0)
		return 1;
	open_calls += 200; /* the last ones started and never ended */
	printf("cdr.jsonl read back at start: %.0f MB, %u calls, %u left open (CPU of this thread):\n", bytes / 1e6,
	       calls, open_calls);
	int rc = 0;
	for (int rep = 0; rep < 3; rep++) {
		/* the file as the dead sbc-control left it: no end lines of ours */
		if (truncate(path, (off_t)bytes) != 0)
			return 1;
		ctl_cdr_recovery r;
		double t0 = cpu_s();
		int n = ctl_cdr_recover(&ctx, "sbc-control restarted: call state lost (bench)", &r);
		double t1 = cpu_s();
		unsigned long parsed = all_jansson(path);
		double t2 = cpu_s();
		printf("  ctl_cdr_recover: %.2f s CPU for %.0f MB = %.2f s per 100 MB (target < 1.5), %d ended, "
		       "at most %u ids followed at once; every line parsed by jansson: %.2f s per 100 MB (%lu lines)\n",
		       t1 - t0, bytes / 1e6, (t1 - t0) * 1e8 / bytes, n, r.peak_open, (t2 - t1) * 1e8 / bytes, parsed);
		ctl_cdr_free();
		if (n != (int)open_calls || r.bad_lines)
			rc = 1;
	}
	unlink(path);
	rmdir(dir);
	return rc;
}
