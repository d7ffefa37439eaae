/* sbc-signal — per-trunk limits. See b2b_limits.h. */
#include "sbc/err.h"
#include "b2b_limits.h"

#define CPS_COUNT_BITS 24
#define CPS_COUNT_MASK ((1ull << CPS_COUNT_BITS) - 1)

void b2b_limit_init(b2b_limit *l)
{
	atomic_init(&l->calls, 0);
	atomic_init(&l->window, 0);
	atomic_init(&l->refused, 0);
}

/* Takes one slot in the current second; 0 or -1 when the second is full. */
static int cps_take(b2b_limit *l, uint32_t max_cps, uint64_t now_ms)
{
	uint64_t sec = now_ms / 1000u;
	uint64_t cur = atomic_load_explicit(&l->window, memory_order_relaxed);
	for (;;) {
		uint64_t csec = cur >> CPS_COUNT_BITS, cnt = cur & CPS_COUNT_MASK, next;
		if (csec != (sec & ((1ull << (64 - CPS_COUNT_BITS)) - 1)))
			next = (sec << CPS_COUNT_BITS) | 1u; /* a new second */
		else if (cnt >= max_cps)
			return -1;
		else
			next = cur + 1;
		if (atomic_compare_exchange_weak_explicit(&l->window, &cur, next, memory_order_relaxed,
							  memory_order_relaxed))
			return 0;
	}
}

int b2b_limit_admit(b2b_limit *l, uint32_t max_calls, uint32_t max_cps, uint64_t now_ms, unsigned retry_calls_s,
		    int *retry_after)
{
	if (max_calls) {
		uint32_t cur = atomic_load_explicit(&l->calls, memory_order_relaxed);
		do {
			if (cur >= max_calls) {
				atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
				*retry_after = (int)(retry_calls_s ? retry_calls_s : 5);
				return sbc_err_sip(503);
			}
		} while (!atomic_compare_exchange_weak_explicit(&l->calls, &cur, cur + 1, memory_order_acq_rel,
								memory_order_relaxed));
	} else {
		atomic_fetch_add_explicit(&l->calls, 1, memory_order_acq_rel);
	}
	if (max_cps && cps_take(l, max_cps, now_ms) < 0) {
		atomic_fetch_sub_explicit(&l->calls, 1, memory_order_acq_rel);
		atomic_fetch_add_explicit(&l->refused, 1, memory_order_relaxed);
		*retry_after = 1;
		return sbc_err_sip(503);
	}
	return 0;
}

void b2b_limit_release(b2b_limit *l)
{
	uint32_t cur = atomic_load_explicit(&l->calls, memory_order_relaxed);
	do {
		if (cur == 0)
			return; /* a double release must not wrap */
	} while (!atomic_compare_exchange_weak_explicit(&l->calls, &cur, cur - 1, memory_order_acq_rel,
							memory_order_relaxed));
}

uint32_t b2b_limit_active(b2b_limit *l) { return atomic_load_explicit(&l->calls, memory_order_relaxed); }
