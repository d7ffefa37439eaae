/* sbc — time helpers. Monotonic for intervals and deadlines, realtime for
 * records. All inline; vDSO clock_gettime costs ~20 ns. */
#ifndef SBC_CLOCK_H
#define SBC_CLOCK_H

#include <stdint.h>
#include <time.h>

#define SBC_NS_PER_SEC 1000000000ull
#define SBC_NS_PER_MS 1000000ull
#define SBC_NS_PER_US 1000ull

static inline uint64_t sbc_ts_to_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * SBC_NS_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* Monotonic nanoseconds since an arbitrary start. */
static inline uint64_t sbc_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sbc_ts_to_ns(&ts);
}

static inline uint64_t sbc_mono_ms(void) { return sbc_mono_ns() / SBC_NS_PER_MS; }

/* Wall-clock milliseconds since the Unix epoch. */
static inline uint64_t sbc_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return sbc_ts_to_ns(&ts) / SBC_NS_PER_MS;
}

/* CPU time of the whole process (all threads), nanoseconds. */
static inline uint64_t sbc_process_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return sbc_ts_to_ns(&ts);
}

/* CPU time of the calling thread, nanoseconds. */
static inline uint64_t sbc_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return sbc_ts_to_ns(&ts);
}

/* Formats wall-clock ms as ISO 8601 UTC with milliseconds into buf (>= 25 bytes). */
char *sbc_format_iso8601(uint64_t wall_ms, char *buf, unsigned len);

#endif
