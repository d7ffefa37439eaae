/* sbc — SPSC ring: types only (prototypes and inlines are in ring.h).
 *
 * A ring is a byte array of power-of-two capacity in the shared segment,
 * carrying variable-length records: an 8-byte header (length, type, version)
 * and the payload padded to 8 bytes. A record never wraps: when the space to
 * the end of the array is too short, the producer fills it with a PAD record.
 *
 * Fields that live in shared memory start with k (khead, ktail, ksleeping),
 * as liburing names the kernel's; each is annotated with its single writer.
 */
#ifndef SBC_RING_T_H
#define SBC_RING_T_H

#include <stdatomic.h>
#include <stdint.h>

#define SHM_CACHELINE 64
#define SHM_REC_ALIGN 8u
#define SHM_RING_MAGIC 0x52494e47u /* "RING" */

/* Record type 0 is reserved for the ring's own padding. */
#define SHM_REC_PAD 0

typedef struct shm_rec {
	uint32_t len;     /* payload bytes, not counting this header */
	uint16_t type;    /* message type (sbc_msg_type) */
	uint16_t version; /* message layout version */
	uint8_t data[];
} shm_rec;

typedef struct shm_ring_hdr {
	/* Line 0 — WRITER: producer. Bytes published, free-running. */
	_Alignas(SHM_CACHELINE) _Atomic uint32_t ktail;
	uint32_t _pad_tail;
	_Atomic uint64_t kpublished; /* WRITER: producer. Records published. */
	_Atomic uint64_t kfull;      /* WRITER: producer. Pushes refused: ring full. */
	_Atomic uint64_t kwakeups;   /* WRITER: producer. Doorbell writes. */

	/* Line 1 — WRITER: consumer. Bytes released, free-running. */
	_Alignas(SHM_CACHELINE) _Atomic uint32_t khead;

	/* Line 2 — WRITERS: consumer sets it before sleeping, producer clears it
	 * when it rings the doorbell. Alone on its line so that neither side's
	 * hot line bounces when it changes. */
	_Alignas(SHM_CACHELINE) _Atomic uint32_t ksleeping;

	/* Line 3 — RO after creation. */
	_Alignas(SHM_CACHELINE) uint32_t magic;
	uint32_t capacity;   /* bytes in data[], a power of two */
	uint32_t max_record; /* largest record, header included */
	int32_t doorbell_fd; /* the consumer's eventfd (inherited across exec) */

	_Alignas(SHM_CACHELINE) uint8_t data[];
} shm_ring_hdr;

/* Producer's private view of a ring. One per process/thread that produces. */
typedef struct shm_ring_prod {
	shm_ring_hdr *ring;
	uint8_t *data;
	uint32_t mask;
	uint32_t tail;       /* private tail: records reserved but maybe not published */
	uint32_t head_cache; /* last khead seen */
	uint32_t unpublished;/* records reserved since the last publish */
	int doorbell_fd;
} shm_ring_prod;

/* Consumer's private view of a ring. */
typedef struct shm_ring_cons {
	shm_ring_hdr *ring;
	uint8_t *data;
	uint32_t mask;
	uint32_t head;       /* private head: records consumed but maybe not released */
	uint32_t tail_cache; /* last ktail seen */
	int doorbell_fd;
} shm_ring_cons;

#endif
