/* sbc — the shared-memory segment: types only (functions in shm.h).
 *
 * Layout, all offsets from the start of the segment:
 *   shm_seg_hdr      magic, layout version and signature, sizes, generation
 *                    counters per configuration area, ring and region directories
 *   rings            one per (producer, consumer) pair and direction
 *   regions          named areas other modules claim (e.g. the media session table)
 */
#ifndef SBC_SHM_T_H
#define SBC_SHM_T_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "sbc/ring-t.h"

#define SHM_MAGIC 0x31304d4853434253ull /* "SBCSHM01" little-endian */
#define SHM_LAYOUT_VERSION 1u
#define SHM_MAX_WORKERS 32
#define SHM_MAX_RINGS 160
#define SHM_MAX_REGIONS 16
#define SHM_NAME_LEN 32

/* The processes that own rings. */
enum shm_role {
	SHM_ROLE_CONTROL = 0,
	SHM_ROLE_SIGNAL = 1,
	SHM_ROLE_MEDIA = 2,
	SHM_ROLE_MAX_,
};

/* Configuration areas with a generation counter each; bumped by sbc-control
 * after every committed change to that area. Retired slots stay reserved. */
enum shm_area {
	SHM_AREA_TRUNKS = 0,
	SHM_AREA_ROUTES = 1,
	SHM_AREA_TLS = 2,
	SHM_AREA_SYSTEM = 3,
	SHM_AREA_MAX = 8,
};

typedef struct shm_ring_desc {
	uint64_t offset;   /* RO: of the shm_ring_hdr */
	uint64_t bytes;    /* RO: footprint */
	uint8_t producer_role, producer_idx, consumer_role, consumer_idx;
	uint32_t _reserved;
} shm_ring_desc;

typedef struct shm_region_desc {
	char name[SHM_NAME_LEN]; /* RO */
	uint64_t offset;         /* RO */
	uint64_t bytes;          /* RO */
} shm_region_desc;

/* Doorbell of one consumer: every ring toward (role, idx) shares it. */
typedef struct shm_doorbell_desc {
	int32_t fd; /* RO: eventfd number, valid in the creator and its exec'd children */
	uint8_t role, idx;
	uint16_t _reserved;
} shm_doorbell_desc;

typedef struct shm_seg_hdr {
	uint64_t magic;          /* RO */
	uint32_t layout_version; /* RO */
	uint32_t layout_sig;     /* RO: hash of the sizes and offsets of these structs */
	uint64_t total_bytes;    /* RO */
	uint32_t hdr_bytes;      /* RO */
	int32_t creator_pid;     /* RO */
	uint32_t workers[SHM_ROLE_MAX_]; /* RO: worker count per role */
	uint32_t nrings, nregions, ndoorbells; /* RO */
	uint32_t _reserved;

	/* WRITER: sbc-control. One per shm_area. */
	_Alignas(SHM_CACHELINE) _Atomic uint64_t kgen[SHM_AREA_MAX];
	/* WRITER: each role's process at start (its pid), for diagnostics. */
	_Atomic int32_t kpid[SHM_ROLE_MAX_];

	shm_ring_desc rings[SHM_MAX_RINGS];
	shm_region_desc regions[SHM_MAX_REGIONS];
	shm_doorbell_desc doorbells[1 + 2 * SHM_MAX_WORKERS];
} shm_seg_hdr;

/* What sbc-control asks for when it creates a segment. */
typedef struct shm_seg_config {
	uint32_t signal_workers; /* 1..SHM_MAX_WORKERS */
	uint32_t media_workers;  /* 1..SHM_MAX_WORKERS */
	uint32_t ring_bytes;     /* capacity of each signal<->media ring, power of two */
	uint32_t ctl_ring_bytes; /* capacity of each control<->child ring, power of two */
	struct {
		const char *name;
		uint64_t bytes;
	} regions[SHM_MAX_REGIONS]; /* terminated by a NULL name */
} shm_seg_config;

/* An attached segment: opaque, defined in shm.c. */
typedef struct shm_seg shm_seg;

#endif
