/* Ring benchmark: two processes pinned to different cores, through a real
 * shared segment. Prints messages/s and ns per message at batch 1 and batch
 * 32 (16-byte payloads), the wake-up latency of a sleeping consumer, and the
 * CPU a sleeping consumer burns while idle.
 * Target (issue 2): < 50 ns per message at batch 32, idle CPU ~0. */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sbc/clock.h"
#include "sbc/shm.h"

#define MESSAGES 20000000ull
#define PAYLOAD 16

static void pin(int cpu)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	CPU_ZERO(&set);
	CPU_SET(cpu % (n > 0 ? n : 1), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static shm_seg *make_segment(const char *name)
{
	char err[256];
	shm_seg_config cfg = {.signal_workers = 1, .media_workers = 1, .ring_bytes = 1u << 20,
			      .ctl_ring_bytes = 4096};
	shm_seg *seg;
	if (shm_seg_create(name, &cfg, &seg, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_ring: %s\n", err);
		exit(1);
	}
	return seg;
}

/* Consumer: drains `total` messages (busy when there is work, sleeping on the
 * doorbell otherwise); with latency != 0 it reports each message's age. */
static int consumer(const char *name, uint64_t total, int latency_pipe)
{
	char err[256];
	shm_seg *seg;
	shm_ring_cons c;
	uint64_t got = 0;
	pin(1);
	if (shm_seg_attach(name, &seg, err, sizeof(err)) != 0)
		return 2;
	shm_seg_consumer(seg, &c, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0);
	int bell = shm_seg_doorbell(seg, SHM_ROLE_MEDIA, 0);
	while (got < total) {
		const shm_rec *b[64];
		unsigned n = shm_ring_pop_batch(&c, b, 64);
		if (n == 0) {
			if (shm_ring_prepare_sleep(&c)) {
				shm_doorbell_wait(bell, -1);
				shm_doorbell_drain(bell);
			}
			continue;
		}
		if (latency_pipe >= 0) {
			uint64_t now = sbc_mono_ns(), sent;
			memcpy(&sent, b[n - 1]->data, 8);
			uint64_t d = now - sent;
			if (write(latency_pipe, &d, 8) != 8)
				return 3;
		}
		got += n;
		shm_ring_release(&c);
	}
	return 0;
}

static void run_throughput(unsigned batch)
{
	char name[64];
	snprintf(name, sizeof(name), "/sbc-bench-ring-%d", (int)getpid());
	shm_seg *seg = make_segment(name);
	shm_ring_prod p;
	pid_t child = fork();
	if (child == 0)
		_exit(consumer(name, MESSAGES, -1));
	pin(0);
	shm_seg_producer(seg, &p, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0);
	uint8_t msg[PAYLOAD] = {0};
	uint64_t sent = 0, start = sbc_mono_ns(), cpu0 = sbc_process_cpu_ns();
	while (sent < MESSAGES) {
		unsigned k = 0;
		for (; k < batch; k++) {
			void *d = shm_ring_reserve(&p, 9, 1, PAYLOAD);
			if (!d)
				break;
			memcpy(d, msg, PAYLOAD);
		}
		shm_ring_publish(&p);
		sent += k;
	}
	int st;
	waitpid(child, &st, 0);
	uint64_t ns = sbc_mono_ns() - start, cpu = sbc_process_cpu_ns() - cpu0;
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	shm_ring_hdr *r = shm_seg_ring(seg, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0);
	printf("batch %-3u  %7.1f M msg/s  %6.1f ns/msg  (producer CPU %.1f ns/msg, full %llu, wakeups %llu)  target <50 ns at batch 32  %s\n",
	       batch, (double)MESSAGES / ((double)ns / 1e9) / 1e6, (double)ns / (double)MESSAGES,
	       (double)cpu / (double)MESSAGES, (unsigned long long)atomic_load(&r->kfull),
	       (unsigned long long)atomic_load(&r->kwakeups),
	       batch == 32 ? ((double)ns / (double)MESSAGES < 50 ? "MET" : "MISSED") : "");
	shm_seg_detach(seg);
	shm_seg_unlink(name);
	(void)st;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double child_cpu_ms(pid_t pid)
{
	char path[64];
	unsigned long ut = 0, st = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	/* Fields 14 and 15: utime, stime in clock ticks. The comm field has no spaces here. */
	if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		ut = st = 0;
	fclose(f);
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* A sleeping consumer: idle CPU over a quiet period, then wake-up latency
 * for messages sent one at a time 2 ms apart. */
static void run_idle_and_wakeup(void)
{
	enum { WAKES = 500 };
	char name[64];
	int fds[2];
	snprintf(name, sizeof(name), "/sbc-bench-ring-idle-%d", (int)getpid());
	shm_seg *seg = make_segment(name);
	shm_ring_prod p;
	if (pipe(fds) != 0)
		exit(1);
	pid_t child = fork();
	if (child == 0) {
		close(fds[0]);
		_exit(consumer(name, WAKES, fds[1]));
	}
	close(fds[1]);
	pin(0);
	shm_seg_producer(seg, &p, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0);
	usleep(200000); /* let it attach and fall asleep */
	double cpu_before = child_cpu_ms(child);
	uint64_t t0 = sbc_mono_ns();
	sleep(3);
	double idle_ms = child_cpu_ms(child) - cpu_before;
	double idle_s = (double)(sbc_mono_ns() - t0) / 1e9;

	uint64_t lat[WAKES];
	for (int i = 0; i < WAKES; i++) {
		uint64_t now = sbc_mono_ns();
		shm_ring_push(&p, 9, 1, &now, 8);
		if (read(fds[0], &lat[i], 8) != 8)
			exit(1);
		usleep(2000);
	}
	int st;
	waitpid(child, &st, 0);
	qsort(lat, WAKES, sizeof(lat[0]), cmp_u64);
	printf("idle consumer: %.2f ms CPU over %.1f s (%.4f%% of a core)  target ~0\n", idle_ms, idle_s,
	       idle_ms / (idle_s * 10.0));
	printf("wake-up latency of a sleeping consumer: p50 %.1f us, p99 %.1f us, max %.1f us  (target well under 1 ms)\n",
	       (double)lat[WAKES / 2] / 1e3, (double)lat[WAKES * 99 / 100] / 1e3, (double)lat[WAKES - 1] / 1e3);
	shm_seg_detach(seg);
	shm_seg_unlink(name);
}

int main(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		printf("note: fewer than 2 CPUs; producer and consumer share a core\n");
	printf("ring: %llu messages of %d bytes between two processes pinned to cores 0 and 1\n",
	       (unsigned long long)MESSAGES, PAYLOAD);
	run_throughput(1);
	run_throughput(32);
	run_idle_and_wakeup();
	return 0;
}
