/* Two-process ring stress test: a producer and a consumer in different
 * processes pinned to different cores exchange 50 million messages through a
 * ring in a real shared segment (shm_seg_create / shm_seg_attach). The
 * consumer checks every sequence number (no loss, no duplicate, in order)
 * and every payload byte; it sleeps on the doorbell whenever the ring runs
 * dry, so wake-ups are exercised too. The ring is small so that it fills:
 * full pushes must be reported and counted, never lost.
 * SBC_STRESS_MESSAGES overrides the count. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "sbc/shm.h"

#define BATCH_MAX 64

static uint64_t message_count(void)
{
	const char *e = getenv("SBC_STRESS_MESSAGES");
	return e ? strtoull(e, NULL, 10) : 50000000ull;
}

static void pin(int cpu)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % n, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Payload: 8-byte sequence, then 0..24 bytes each equal to (seq & 0xff). */
static uint32_t payload_len(uint64_t seq) { return 8 + (uint32_t)(seq % 4) * 8; }

static int consume(const char *name, uint64_t total)
{
	char err[256];
	shm_seg *seg;
	shm_ring_cons c;
	uint64_t expect = 0, sleeps = 0;
	int bell;

	pin(1);
	if (shm_seg_attach(name, &seg, err, sizeof(err)) != 0) {
		fprintf(stderr, "consumer attach: %s\n", err);
		return 2;
	}
	if (shm_seg_consumer(seg, &c, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0) != 0)
		return 3;
	bell = shm_seg_doorbell(seg, SHM_ROLE_MEDIA, 0);
	if (bell < 0)
		return 4;
	while (expect < total) {
		const shm_rec *batch[BATCH_MAX];
		unsigned n = shm_ring_pop_batch(&c, batch, BATCH_MAX);
		if (n == 0) {
			if (shm_ring_prepare_sleep(&c)) {
				sleeps++;
				if (shm_doorbell_wait(bell, 5000) != 1) {
					fprintf(stderr, "consumer: no wake-up within 5 s at %llu\n",
						(unsigned long long)expect);
					return 5;
				}
				shm_doorbell_drain(bell);
			}
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			uint64_t seq;
			memcpy(&seq, batch[i]->data, 8);
			if (seq != expect || batch[i]->len != payload_len(seq) || batch[i]->type != 9) {
				fprintf(stderr, "consumer: got seq %llu len %u, expected seq %llu len %u\n",
					(unsigned long long)seq, batch[i]->len, (unsigned long long)expect,
					payload_len(expect));
				return 6;
			}
			for (uint32_t b = 8; b < batch[i]->len; b++)
				if (batch[i]->data[b] != (uint8_t)seq) {
					fprintf(stderr, "consumer: payload corrupt at seq %llu\n",
						(unsigned long long)seq);
					return 7;
				}
			expect++;
		}
		shm_ring_release(&c);
	}
	/* Nothing more may arrive: a duplicate would show up here. */
	usleep(20000);
	if (shm_ring_peek(&c) != NULL) {
		fprintf(stderr, "consumer: extra message after the last one\n");
		return 8;
	}
	fprintf(stderr, "consumer: %llu messages in order, slept %llu times\n",
		(unsigned long long)expect, (unsigned long long)sleeps);
	shm_seg_detach(seg);
	return 0;
}

static void test_two_process_stress(void **state)
{
	char name[64], err[256];
	shm_seg_config cfg = {.signal_workers = 1, .media_workers = 1,
			      .ring_bytes = 1u << 16, .ctl_ring_bytes = 4096};
	shm_seg *seg;
	shm_ring_prod p;
	uint64_t total = message_count(), seq = 0, full_retries = 0;
	pid_t child;
	int status;
	(void)state;

	snprintf(name, sizeof(name), "/sbc-test-stress-%d", (int)getpid());
	assert_int_equal(shm_seg_create(name, &cfg, &seg, err, sizeof(err)), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(consume(name, total));

	pin(0);
	assert_int_equal(shm_seg_producer(seg, &p, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0), 0);
	uint64_t start = sbc_mono_ns();
	while (seq < total) {
		/* Batches of 1..BATCH_MAX, varying, published with one release. */
		unsigned batch = 1 + (unsigned)(seq % BATCH_MAX);
		unsigned done = 0;
		while (done < batch && seq < total) {
			uint32_t len = payload_len(seq);
			uint8_t *dst = shm_ring_reserve(&p, 9, 1, len);
			if (!dst) {
				full_retries++;
				break;
			}
			memcpy(dst, &seq, 8);
			memset(dst + 8, (uint8_t)seq, len - 8);
			seq++;
			done++;
		}
		shm_ring_publish(&p);
		if (done < batch)
			sched_yield();
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	double secs = (double)(sbc_mono_ns() - start) / 1e9;
	shm_seg_hdr *h = shm_seg_header(seg);
	shm_ring_hdr *r = shm_seg_ring(seg, SHM_ROLE_SIGNAL, 0, SHM_ROLE_MEDIA, 0);
	fprintf(stderr, "producer: %llu messages in %.2f s (%.1f ns/msg), full %llu, wakeups %llu\n",
		(unsigned long long)total, secs, secs * 1e9 / (double)total,
		(unsigned long long)atomic_load(&r->kfull), (unsigned long long)atomic_load(&r->kwakeups));
	(void)h;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Every refusal was counted by the ring. */
	assert_int_equal(atomic_load(&r->kfull), full_retries);
	assert_int_equal(atomic_load(&r->kpublished), total);
	shm_seg_detach(seg);
	shm_seg_unlink(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_process_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
