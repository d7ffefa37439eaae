/* CPU time of processes for the relay benchmarks and their load tools, from
 * the scheduler's own accounting (/proc/<pid>/task/<tid>/schedstat: ns
 * precision, where /proc/<pid>/stat counts 10 ms ticks). Header-only: each
 * tool is one binary. */
#ifndef SBC_TESTS_TASKCPU_H
#define SBC_TESTS_TASKCPU_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* CPU time of every thread of pid in ns; 0 when none can be read (pid gone,
 * or a kernel without schedstat). With slices: also how many times its
 * threads were put on a CPU (schedstat's third field: wake-ups plus
 * preemptions), the figure that says how often a relay slept. */
static inline uint64_t taskcpu_ns_slices(pid_t pid, uint64_t *slices)
{
	char path[64];
	uint64_t total = 0;
	if (slices)
		*slices = 0;
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char p2[400];
		unsigned long long run = 0, wait = 0, n = 0;
		snprintf(p2, sizeof(p2), "%s/%s/schedstat", path, e->d_name);
		FILE *f = fopen(p2, "r");
		if (f) {
			int got = fscanf(f, "%llu %llu %llu", &run, &wait, &n);
			if (got >= 1)
				total += run;
			if (got == 3 && slices)
				*slices += n;
			fclose(f);
		}
	}
	closedir(d);
	return total;
}

static inline uint64_t taskcpu_ns(pid_t pid)
{
	return taskcpu_ns_slices(pid, NULL);
}

/* The kernel's ksoftirqd/N threads. With tick-based accounting (no
 * CONFIG_IRQ_TIME_ACCOUNTING) softirq work done in a task's context is in
 * that task's schedstat; what the kernel defers under load lands in
 * ksoftirqd/N, nobody's process time otherwise. Our processes plus these is
 * the CPU the traffic costs, without the softirq of other work on a shared
 * machine (which /proc/stat's softirq column would add). */
typedef struct {
	pid_t pid[256];
	unsigned n;
} taskcpu_ksoftirqd;

static inline void taskcpu_ksoftirqd_find(taskcpu_ksoftirqd *k)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	k->n = 0;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL && k->n < sizeof(k->pid) / sizeof(k->pid[0])) {
		char path[300], comm[64] = "";
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && strncmp(comm, "ksoftirqd/", 10) == 0)
			k->pid[k->n++] = (pid_t)atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
}

static inline uint64_t taskcpu_ksoftirqd_ns(const taskcpu_ksoftirqd *k)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < k->n; i++)
		total += taskcpu_ns(k->pid[i]);
	return total;
}

#endif
