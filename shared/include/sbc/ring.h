/* sbc — SPSC ring between two processes (or threads), with a doorbell.
 *
 * Caveats:
 *  1. Exactly one producer and one consumer per ring; each keeps its own
 *     handle (shm_ring_prod / shm_ring_cons). Nothing here takes a lock.
 *  2. Producer: shm_ring_reserve() one or more records, fill them, then
 *     shm_ring_publish() once for the batch (one store-release). A full ring
 *     makes reserve return NULL; the refusal is counted in kfull and the
 *     caller decides (retry later, answer 503, drop a stat): never silent.
 *  3. Consumer: shm_ring_peek()/shm_ring_next() or shm_ring_pop_batch() to read,
 *     then shm_ring_release() once to hand the space back. Record pointers
 *     stay valid until release.
 *  4. Doorbell: an idle consumer calls shm_ring_prepare_sleep() on each of its
 *     rings; when every one says "empty", it waits on its eventfd (libuv can
 *     watch it with uv_poll). A producer only writes the eventfd when the
 *     consumer has said it sleeps, so a busy consumer costs no syscall.
 *  5. Memory order: ktail/khead are published with release and read with
 *     acquire; the sleeping flag uses a seq_cst fence on both sides (the
 *     Dekker pattern) so that a wake-up is never lost.
 */
#ifndef SBC_RING_H
#define SBC_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "sbc/ring-t.h"

/* Bytes a ring of capacity cap takes in memory (header included). */
static inline size_t shm_ring_footprint(uint32_t capacity)
{
	return sizeof(shm_ring_hdr) + capacity;
}

static inline uint32_t shm_rec_size(uint32_t payload)
{
	return (uint32_t)sizeof(shm_rec) + ((payload + SHM_REC_ALIGN - 1) & ~(SHM_REC_ALIGN - 1));
}

/* Formats a ring in memory at mem. capacity: power of two, >= 256.
 * doorbell_fd: the consumer's eventfd, or -1 for a ring polled without one.
 * Returns 0 or -EINVAL. */
int shm_ring_format(void *mem, uint32_t capacity, int doorbell_fd);

/* Checks a ring found in a segment: magic, capacity, and that it fits in
 * avail bytes. Returns 0 or an sbc error. */
int shm_ring_check(const shm_ring_hdr *ring, size_t avail);

void shm_ring_prod_init(shm_ring_prod *p, shm_ring_hdr *ring);
void shm_ring_cons_init(shm_ring_cons *c, shm_ring_hdr *ring);

/* Reserves a record of len payload bytes. Returns the payload to fill, or
 * NULL when the ring is full (counted) or len exceeds max_record (errno-free:
 * check len against shm_ring_max_payload() first). */
void *shm_ring_reserve(shm_ring_prod *p, uint16_t type, uint16_t version, uint32_t len);

/* Publishes every reserved record and rings the doorbell if the consumer sleeps. */
void shm_ring_publish(shm_ring_prod *p);

/* Bytes reserved by this producer and not yet published: a producer that
 * batches publishes once this passes its own threshold. */
static inline uint32_t shm_ring_unpublished(const shm_ring_prod *p)
{
	return p->tail - atomic_load_explicit(&p->ring->ktail, memory_order_relaxed);
}

/* Capacity in bytes. */
static inline uint32_t shm_ring_capacity(const shm_ring_prod *p) { return p->mask + 1; }

/* reserve + copy + publish. Returns 0, SBC_E_RING_FULL or SBC_E_MSG_TOO_BIG. */
int shm_ring_push(shm_ring_prod *p, uint16_t type, uint16_t version, const void *msg, uint32_t len);

static inline uint32_t shm_ring_max_payload(const shm_ring_hdr *ring)
{
	return ring->max_record - (uint32_t)sizeof(shm_rec);
}

/* Consumer: the next record, or NULL when the ring is empty. */
static inline const shm_rec *shm_ring_peek(shm_ring_cons *c)
{
	for (;;) {
		if (c->head == c->tail_cache) {
			c->tail_cache = atomic_load_explicit(&c->ring->ktail, memory_order_acquire);
			if (c->head == c->tail_cache)
				return NULL;
		}
		const shm_rec *r = (const shm_rec *)(c->data + (c->head & c->mask));
		if (r->type != SHM_REC_PAD)
			return r;
		c->head += shm_rec_size(r->len);
	}
}

/* Consumer: steps past the record peek returned. */
static inline void shm_ring_next(shm_ring_cons *c, const shm_rec *r)
{
	c->head += shm_rec_size(r->len);
}

/* Consumer: up to max records into out[]; returns the count. */
static inline unsigned shm_ring_pop_batch(shm_ring_cons *c, const shm_rec **out, unsigned max)
{
	unsigned n = 0;
	const shm_rec *r;
	while (n < max && (r = shm_ring_peek(c)) != NULL) {
		out[n++] = r;
		shm_ring_next(c, r);
	}
	return n;
}

/* Consumer: hands consumed space back to the producer. */
static inline void shm_ring_release(shm_ring_cons *c)
{
	atomic_store_explicit(&c->ring->khead, c->head, memory_order_release);
}

/* Consumer: announces it is about to sleep. Returns true when the ring is
 * still empty (safe to wait on the doorbell), false when records arrived
 * meanwhile (the flag is withdrawn; keep consuming). */
bool shm_ring_prepare_sleep(shm_ring_cons *c);

/* Consumer: withdraws a sleep announcement (after waking, or when another of
 * its rings turned out not to be empty). */
static inline void shm_ring_cancel_sleep(shm_ring_cons *c)
{
	atomic_store_explicit(&c->ring->ksleeping, 0, memory_order_relaxed);
}

/* Bytes currently queued (approximate from either side). */
static inline uint32_t shm_ring_used(const shm_ring_hdr *ring)
{
	return atomic_load_explicit(&ring->ktail, memory_order_acquire) -
	       atomic_load_explicit(&ring->khead, memory_order_acquire);
}

/* Doorbell helpers: the eventfd a consumer sleeps on. */
int shm_doorbell_create(void);      /* returns fd (no CLOEXEC) or -errno */
void shm_doorbell_drain(int fd);    /* reads and discards the counter */
void shm_doorbell_ring(int fd);     /* wakes the consumer unconditionally */
/* Waits up to timeout_ms (-1: forever) for fd to become readable. Returns 1
 * when it did, 0 on timeout, -errno on error. For consumers without a loop. */
int shm_doorbell_wait(int fd, int timeout_ms);

#endif
