/* sbc — shared-memory segment: create (sbc-control), attach and validate
 * (children), find rings and regions, bump and read generations.
 *
 * Caveats:
 *  1. The segment is a POSIX shm object, mode 0600, named "/sbc-<instance>".
 *  2. Doorbell eventfds are created without CLOEXEC by the creator; children
 *     started with fork+exec inherit them under the same numbers, which the
 *     header records. shm_seg_attach() checks each one is an eventfd in this
 *     process; one that is not is never written (a process that did not
 *     inherit them can still poll its rings, but nobody can wake it).
 *  3. shm_seg_attach() validates magic, layout version, layout signature and
 *     sizes, and writes a sentence naming the mismatch into errbuf.
 */
#ifndef SBC_SHM_H
#define SBC_SHM_H

#include <stddef.h>

#include "sbc/ring.h"
#include "sbc/shm-t.h"

/* Creates (replacing any stale object of that name) and formats a segment.
 * Returns 0 or a negative sbc error; errbuf names the reason. */
int shm_seg_create(const char *name, const shm_seg_config *cfg, shm_seg **out, char *errbuf,
		   size_t errlen);

/* Attaches to an existing segment and validates it. */
int shm_seg_attach(const char *name, shm_seg **out, char *errbuf, size_t errlen);

/* Unmaps (and, for the creator, closes its doorbells). */
void shm_seg_detach(shm_seg *seg);

/* Removes the name (the creator does it at exit). */
int shm_seg_unlink(const char *name);

shm_seg_hdr *shm_seg_header(shm_seg *seg);
const char *shm_seg_name(const shm_seg *seg);

/* The ring from (prole, pidx) to (crole, cidx), or NULL. */
shm_ring_hdr *shm_seg_ring(shm_seg *seg, enum shm_role prole, unsigned pidx, enum shm_role crole,
			   unsigned cidx);

/* Producer / consumer handles for the ring from (prole, pidx) to (crole,
 * cidx), with the doorbell valid in this process. 0 or SBC_E_NOT_FOUND. */
int shm_seg_producer(shm_seg *seg, shm_ring_prod *p, enum shm_role prole, unsigned pidx,
		     enum shm_role crole, unsigned cidx);
int shm_seg_consumer(shm_seg *seg, shm_ring_cons *c, enum shm_role prole, unsigned pidx,
		     enum shm_role crole, unsigned cidx);

/* The eventfd that (role, idx) sleeps on, or -1 when it is not valid here. */
int shm_seg_doorbell(shm_seg *seg, enum shm_role role, unsigned idx);

/* A named region, or NULL; *bytes receives its size. */
void *shm_seg_region(shm_seg *seg, const char *name, size_t *bytes);

static inline uint64_t shm_seg_gen(const shm_seg_hdr *h, enum shm_area area)
{
	return atomic_load_explicit(&h->kgen[area], memory_order_acquire);
}

/* sbc-control only: after a committed change. Returns the new generation. */
static inline uint64_t shm_seg_gen_bump(shm_seg_hdr *h, enum shm_area area)
{
	return atomic_fetch_add_explicit(&h->kgen[area], 1, memory_order_acq_rel) + 1;
}

const char *shm_role_name(enum shm_role role);

#endif
