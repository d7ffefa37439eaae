/* bench_control — JSON-RPC requests per second over sbc-control's socket.
 *
 * Starts sbc-control ($SBC_BUILD/sbc-control, stand-in children) on a temp
 * data dir, imports 100,000 routes, then for system.version and
 * route.lookup: 1 and 8 client connections each keeping 16 requests in
 * flight, and 64 connections with one each, for 2 s; prints requests/s. Also the round-trip latency (p50/p99) of one
 * client with one request in flight.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DURATION_S 2.0
#define WINDOW 16
#define ROUTES 100000
#define TARGET_RPS 20000.0

static char sock_path[100];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_sock(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

typedef struct reader {
	char buf[1 << 16];
	size_t len;
} reader;

/* Reads until `lines` newline-terminated lines arrived; returns errors seen. */
static int read_lines(int fd, reader *r, int lines, int *errors)
{
	while (lines > 0) {
		char *nl;
		while (lines > 0 && (nl = memchr(r->buf, '\n', r->len)) != NULL) {
			size_t l = (size_t)(nl - r->buf) + 1;
			if (memmem(r->buf, l, "\"error\"", 7))
				(*errors)++;
			memmove(r->buf, r->buf + l, r->len - l);
			r->len -= l;
			lines--;
		}
		if (!lines)
			break;
		ssize_t n = read(fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		r->len += (size_t)n;
	}
	return 0;
}

typedef struct job {
	pthread_t th;
	int kind; /* 0 version, 1 lookup */
	int window;
	unsigned seed;
	long done;
	int errors;
	int failed;
} job;

static void make_req(char *out, size_t len, int kind, long id, unsigned *seed)
{
	if (kind == 0)
		snprintf(out, len, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"system.version\"}\n", id);
	else
		snprintf(out, len,
			 "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"route.lookup\",\"params\":{\"number\":\"+1%07u99\"}}\n",
			 id, (unsigned)(rand_r(seed) % ROUTES));
}

static void *client_thread(void *arg)
{
	job *j = arg;
	int fd = connect_sock();
	reader *r = calloc(1, sizeof(*r));
	char batch[WINDOW * 160];
	int win = j->window;
	if (fd < 0 || !r) {
		j->failed = 1;
		free(r);
		return NULL;
	}
	double end = now_s() + DURATION_S;
	long id = 0;
	while (now_s() < end) {
		size_t off = 0;
		for (int i = 0; i < win; i++) {
			make_req(batch + off, sizeof(batch) - off, j->kind, ++id, &j->seed);
			off += strlen(batch + off);
		}
		if (write_all(fd, batch, off) < 0 || read_lines(fd, r, win, &j->errors) < 0) {
			j->failed = 1;
			break;
		}
		j->done += win;
	}
	close(fd);
	free(r);
	return NULL;
}

static double run_rps(int kind, int nclients, int window, int *errors)
{
	job *jobs = calloc((size_t)nclients, sizeof(*jobs));
	double t0 = now_s();
	for (int i = 0; i < nclients; i++) {
		jobs[i].kind = kind;
		jobs[i].window = window;
		jobs[i].seed = (unsigned)i * 7919u + 1;
		pthread_create(&jobs[i].th, NULL, client_thread, &jobs[i]);
	}
	long total = 0;
	for (int i = 0; i < nclients; i++) {
		pthread_join(jobs[i].th, NULL);
		total += jobs[i].done;
		*errors += jobs[i].errors + jobs[i].failed;
	}
	double el = now_s() - t0;
	free(jobs);
	return (double)total / el;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void latency(int kind, double *p50, double *p99, int *errors)
{
	enum { N = 20000 };
	static double lat[N];
	int fd = connect_sock();
	reader *r = calloc(1, sizeof(*r));
	char req[200];
	unsigned seed = 42;
	int n = 0;
	if (fd < 0 || !r) {
		(*errors)++;
		free(r);
		return;
	}
	for (; n < N; n++) {
		make_req(req, sizeof(req), kind, n + 1, &seed);
		double t0 = now_s();
		if (write_all(fd, req, strlen(req)) < 0 || read_lines(fd, r, 1, errors) < 0) {
			(*errors)++;
			break;
		}
		lat[n] = (now_s() - t0) * 1e6;
	}
	close(fd);
	free(r);
	qsort(lat, (size_t)n, sizeof(double), cmp_d);
	*p50 = n ? lat[n / 2] : 0;
	*p99 = n ? lat[(size_t)n * 99 / 100] : 0;
}

static int rpc_once(const char *line, char *reply, size_t len)
{
	int fd = connect_sock(), errors = 0;
	reader *r = calloc(1, sizeof(*r));
	int ret = -1;
	if (fd >= 0 && r && write_all(fd, line, strlen(line)) == 0 && read_lines(fd, r, 0, &errors) == 0) {
		/* read one full line into reply */
		for (;;) {
			char *nl = memchr(r->buf, '\n', r->len);
			if (nl) {
				size_t l = (size_t)(nl - r->buf);
				snprintf(reply, len, "%.*s", (int)l, r->buf);
				ret = 0;
				break;
			}
			ssize_t n = read(fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
			if (n <= 0)
				break;
			r->len += (size_t)n;
		}
	}
	if (fd >= 0)
		close(fd);
	free(r);
	return ret;
}

int main(void)
{
	const char *build = getenv("SBC_BUILD");
	char dir[] = "/tmp/bench_controlXXXXXX", path[512], bin[512], reply[4096];
	if (!build)
		build = "build";
	snprintf(bin, sizeof(bin), "%s/sbc-control", build);
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "bench_control: %s not found (set SBC_BUILD)\n", bin);
		return 1;
	}
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/child.sh", dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "#!/bin/sh\ntrap 'exit 0' TERM\nwhile :; do sleep 1; done\n");
	fclose(f);
	chmod(path, 0755);
	char cfg[600];
	snprintf(cfg, sizeof(cfg), "%s/sbc.json", dir);
	f = fopen(cfg, "w");
	fprintf(f, "{\"data_dir\":\"%s/run\",\"log_level\":\"warn\",\"signal\":{\"listen\":[{\"transport\":\"udp\","
		   "\"address\":\"127.0.0.1:1\"}]},\"demo\":{\"enabled\":true}}\n", dir);
	fclose(f);
	snprintf(sock_path, sizeof(sock_path), "%s/run/control.sock", dir);

	pid_t pid = fork();
	if (pid == 0) {
		execl(bin, bin, "--config", cfg, "--signal-bin", path, "--media-bin", path, (char *)NULL);
		_exit(127);
	}
	int fd = -1;
	for (int i = 0; i < 500 && (fd = connect_sock()) < 0; i++)
		usleep(10000);
	if (fd < 0) {
		fprintf(stderr, "bench_control: sbc-control did not come up\n");
		kill(pid, SIGKILL);
		return 1;
	}
	close(fd);

	/* 100k routes "+1NNNNNNN" (8 digits after +1) via an inline import. */
	char csvp[600];
	snprintf(csvp, sizeof(csvp), "%s/routes.csv", dir);
	f = fopen(csvp, "w");
	fprintf(f, "prefix,trunk,priority,weight\n");
	for (unsigned i = 0; i < ROUTES; i++)
		fprintf(f, "+1%07u,demo-out,%u,10\n", i, i % 3);
	fclose(f);
	char line[1024];
	snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"route.import\",\"params\":{\"path\":\"%s\"}}\n",
		 csvp);
	double t0 = now_s();
	if (rpc_once(line, reply, sizeof(reply)) != 0 || !strstr(reply, "\"imported\":100000")) {
		fprintf(stderr, "bench_control: import failed: %s\n", reply);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return 1;
	}
	printf("route.import via socket: %d routes in %.0f ms\n", ROUTES, (now_s() - t0) * 1000);

	int rc = 0;
	static const char *const names[] = {"system.version", "route.lookup"};
	for (int kind = 0; kind < 2; kind++) {
		static const int shapes[][2] = {{1, WINDOW}, {8, WINDOW}, {64, 1}};
		for (unsigned k = 0; k < 3; k++) {
			int errors = 0, nc = shapes[k][0], win = shapes[k][1];
			double rps = run_rps(kind, nc, win, &errors);
			printf("%-15s %2d client(s), %2d in flight each: %9.0f requests/s  (target >= %.0f)%s\n", names[kind],
			       nc, win, rps, TARGET_RPS, errors ? "  ERRORS" : "");
			if (errors)
				rc = 1;
		}
		double p50 = 0, p99 = 0;
		int errors = 0;
		latency(kind, &p50, &p99, &errors);
		printf("%-15s round trip, 1 in flight: p50 %.1f us, p99 %.1f us%s\n", names[kind], p50, p99,
		       errors ? "  ERRORS" : "");
		if (errors)
			rc = 1;
	}
	kill(pid, SIGTERM);
	int st = 0;
	waitpid(pid, &st, 0);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
