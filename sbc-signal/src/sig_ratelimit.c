/* sbc-signal — per-source admission (see sig_ratelimit.h). */
#include "sig_ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define RL_PROBES 32
#define RL_NO_TICKET UINT32_MAX

typedef struct rl_entry {
	uint8_t key[16];   /* v4-mapped or v6 address */
	uint32_t conns;    /* open connections */
	uint32_t tokens_m; /* handshake tokens, in thousandths */
	uint64_t last_ms;  /* last refill; 0 = never used */
} rl_entry;

struct sig_rl {
	rl_entry *e;
	uint32_t mask;
	uint32_t max_conns, rate, burst;
	uint64_t misses;
};

sig_rl *sig_rl_create(uint32_t slots, uint32_t max_conns, uint32_t rate, uint32_t burst)
{
	sig_rl *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->e = calloc(slots, sizeof(rl_entry));
	if (!rl->e) {
		free(rl);
		return NULL;
	}
	rl->mask = slots - 1;
	rl->max_conns = max_conns ? max_conns : 1;
	rl->rate = rate ? rate : 1;
	rl->burst = burst ? burst : 1;
	return rl;
}

void sig_rl_destroy(sig_rl *rl)
{
	if (!rl)
		return;
	free(rl->e);
	free(rl);
}

static void key_of(const sbc_addr *a, uint8_t key[16])
{
	memset(key, 0, 16);
	if (a->sa.sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a->in4.sin_addr, 4);
	} else if (a->sa.sa_family == AF_INET6) {
		memcpy(key, &a->in6.sin6_addr, 16);
	}
}

static uint32_t hash_key(const uint8_t key[16])
{
	uint64_t a, b;
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
	h ^= h >> 29;
	return (uint32_t)h;
}

static void refill(const sig_rl *rl, rl_entry *e, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)rl->burst * 1000;
	if (now_ms > e->last_ms) {
		uint64_t add = (now_ms - e->last_ms) * rl->rate; /* thousandths per ms */
		uint64_t t = e->tokens_m + add;
		e->tokens_m = (uint32_t)(t > cap ? cap : t);
		e->last_ms = now_ms;
	}
}

int sig_rl_admit(sig_rl *rl, const sbc_addr *a, uint64_t now_ms, int handshake, uint32_t *ticket)
{
	uint8_t key[16];
	key_of(a, key);
	uint32_t h = hash_key(key);
	rl_entry *e = NULL, *reuse = NULL;
	uint32_t reuse_i = 0, found_i = 0;
	if (now_ms == 0)
		now_ms = 1;
	*ticket = RL_NO_TICKET;
	for (uint32_t p = 0; p < RL_PROBES; p++) {
		uint32_t i = (h + p) & rl->mask;
		rl_entry *x = &rl->e[i];
		if (x->last_ms == 0) { /* never used: end of the chain */
			if (!reuse) {
				reuse = x;
				reuse_i = i;
			}
			break;
		}
		if (memcmp(x->key, key, 16) == 0) {
			e = x;
			found_i = i;
			break;
		}
		if (!reuse && x->conns == 0) {
			refill(rl, x, now_ms);
			if (x->tokens_m >= rl->burst * 1000u) {
				reuse = x;
				reuse_i = i;
			}
		}
	}
	if (!e) {
		if (!reuse) {
			rl->misses++;
			return SIG_RL_OK; /* fail open, counted */
		}
		e = reuse;
		found_i = reuse_i;
		memcpy(e->key, key, 16);
		e->conns = 0;
		e->tokens_m = rl->burst * 1000u;
		e->last_ms = now_ms;
	}
	refill(rl, e, now_ms);
	if (e->conns >= rl->max_conns)
		return SIG_RL_TOO_MANY_CONNS;
	if (handshake) {
		if (e->tokens_m < 1000)
			return SIG_RL_TOO_FAST;
		e->tokens_m -= 1000;
	}
	e->conns++;
	*ticket = found_i;
	return SIG_RL_OK;
}

void sig_rl_release(sig_rl *rl, uint32_t ticket)
{
	if (ticket == RL_NO_TICKET || ticket > rl->mask)
		return;
	if (rl->e[ticket].conns)
		rl->e[ticket].conns--;
}

uint64_t sig_rl_misses(const sig_rl *rl) { return rl->misses; }
