/* sbc-signal — trunk health. See b2b_health.h. */
#include <string.h>

#include "b2b_health.h"

void b2b_health_init(b2b_health *h, unsigned down_after, unsigned up_after)
{
	memset(h, 0, sizeof(*h));
	h->up = 1;
	h->down_after = (uint8_t)(down_after ? (down_after > 255 ? 255 : down_after) : 2);
	h->up_after = (uint8_t)(up_after ? (up_after > 255 ? 255 : up_after) : 1);
}

int b2b_health_record(b2b_health *h, int status, int retry_after, uint64_t now_ms)
{
	int was = h->up, ok = status >= 100 && status <= 699 && status != 503;

	h->pings++;
	if (status == 503 && retry_after > 0) {
		uint64_t until = now_ms + (uint64_t)retry_after * 1000u;
		if (until > h->hold_until_ms)
			h->hold_until_ms = until;
	}
	if (status >= 100 && status < 200)
		return 0; /* provisional: no verdict yet */
	if (ok) {
		h->fails = 0;
		if (h->oks < 255)
			h->oks++;
		if (!h->up && h->oks >= h->up_after)
			h->up = 1;
	} else {
		h->failures++;
		h->oks = 0;
		if (h->fails < 255)
			h->fails++;
		if (h->up && h->fails >= h->down_after)
			h->up = 0;
	}
	if (h->up != was) {
		h->changed_ms = now_ms;
		return 1;
	}
	return 0;
}

int b2b_health_usable(const b2b_health *h, uint64_t now_ms)
{
	return h->up && now_ms >= h->hold_until_ms;
}
