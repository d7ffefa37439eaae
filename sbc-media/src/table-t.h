/* sbc-media — the session table in the shared region "media.sessions":
 * types only. Only sbc-media writes it (each slot: its owning worker).
 *
 * Layout: med_region_hdr (MED_REGION_HDR_BYTES) then nslots med_slot of
 * MED_SLOT_BYTES each. Slot k always uses ports port_base + 4k .. + 3
 * (leg 0 RTP, RTCP, leg 1 RTP, RTCP), so a restarted relay rebinds the
 * ports of every live session from the slot index alone. Worker j owns
 * slots [j * nslots / workers, (j + 1) * nslots / workers).
 */
#ifndef MED_TABLE_T_H
#define MED_TABLE_T_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/media-region.h"
#include "sbc/msg-t.h"
#include "xcrypt.h"

#define MED_REGION_MAGIC 0x5353454d44454d53ull /* "SMEDMESS" */
/* Version 1 still: creator_pid was added at the end of med_slot, in bytes a
 * slot of the older layout leaves zero (the whole region is zeroed when
 * formatted, and that layout never writes past its last field, rt[1]),
 * and 0 there means "unknown". So a region of the older slot size is
 * adopted, its live calls kept across a media-only upgrade (session.c
 * med_region_open); only the header's slot size is rewritten, so that an
 * older binary, which would leave a stale creator_pid in a slot it reuses,
 * formats the region rather than adopt it. */
#define MED_REGION_VERSION 1u

typedef struct med_region_hdr {
	uint64_t magic;     /* written last when formatting */
	uint32_t version;
	uint32_t slot_bytes; /* sizeof(med_slot) when formatted */
	uint32_t nslots;
	uint32_t workers;
	uint16_t port_base, port_max;
	uint32_t _reserved;
	uint64_t formatted_ms; /* wall clock */
	_Atomic uint32_t restarts; /* WRITER: worker 0 at start */
} med_region_hdr;

/* Why a packet was not forwarded. */
enum med_drop {
	MED_DROP_PARSE = 0, /* not RTP/RTCP v2, too short */
	MED_DROP_AUTH,      /* SRTP/SRTCP authentication failed */
	MED_DROP_REPLAY,    /* SRTP replay */
	MED_DROP_SRTP,      /* other SRTP error (protect or unprotect) */
	MED_DROP_SOURCE,    /* from an address other than the latched one */
	MED_DROP_NO_PEER,   /* the other leg has no address yet */
	MED_DROP_SEND,      /* sendmmsg refused it (buffer full: shed) */
	MED_DROP_KERNEL,    /* dropped by the kernel's receive queue (SO_RXQ_OVFL) */
	MED_DROP_SHED,      /* stale backlog discarded by the relay (overload) */
	MED_DROP_MAX_,
};

/* RFC 3550 A.1/A.3/A.8 receiver state for the RTP stream from one peer. */
typedef struct med_rtp_rx {
	uint32_t ssrc;
	uint16_t max_seq;
	uint16_t _pad;
	uint32_t cycles;   /* wraps << 16 */
	uint32_t base_seq;
	uint32_t received; /* since base */
	uint32_t expected_prior, received_prior;
	uint32_t started;
	uint32_t prev_ts;         /* RTP timestamp of the previous packet */
	uint64_t prev_arrival_ns; /* its arrival, monotonic */
	uint64_t jitter_ns16;     /* jitter in ns, times 16 (8 kHz clock assumed) */
} med_rtp_rx;

/* Run-time state of one leg. WRITER: the owning worker. */
typedef struct med_leg_rt {
	sbc_addr peer_rtp;  /* destination for RTP to this peer */
	sbc_addr peer_rtcp; /* destination for RTCP to this peer */
	uint8_t latched, latched_rtcp;
	uint16_t _pad;
	uint32_t _pad2;
	uint64_t last_rx_ms; /* monotonic */
	uint64_t packets_in, bytes_in, packets_out, bytes_out;
	uint64_t rtcp_in, rtcp_out;
	uint64_t drops[MED_DROP_MAX_];
	med_rtp_rx rx;
	med_xc_state xs_rx, xs_tx; /* SRTP state for restart */
} med_leg_rt;

enum med_slot_state {
	MED_SLOT_FREE = 0,
	MED_SLOT_ACTIVE = 1,
};

typedef struct med_slot {
	_Atomic uint32_t state; /* enum med_slot_state; written last on create */
	uint8_t owner;          /* media worker index */
	uint8_t creator_role, creator_idx; /* who gets events */
	uint8_t timed_out;
	uint64_t session_id;
	uint32_t flags, timeout_ms;
	uint64_t created_wall_ms;
	sbc_media_leg cfg[2]; /* as last created/updated (keys included) */
	med_leg_rt rt[2];
	/* Fields added since the first layout go here, after rt[] (see
	 * MED_REGION_VERSION; MED_SLOT_V1_BYTES is where they start). */
	/* pid in the HELLO that preceded the CREATE on the creator's ring (0:
	 * none seen, or a slot of the older layout). A HELLO naming another pid
	 * deletes the sessions of the ring's previous process (worker.c): kept
	 * here, not in the worker, so that it outlives our own restart. Never
	 * read by the packet path. */
	uint32_t creator_pid;
	/* 1: its creator's ring said HELLO with another pid (worker.c
	 * hello_from): deleted in chunks, or at our restart if we die first */
	uint8_t orphaned;
	uint8_t _reserved[3];
} med_slot;

/* sizeof(med_slot) before creator_pid: a region formatted with it is adopted */
#define MED_SLOT_V1_BYTES offsetof(med_slot, creator_pid)
#ifdef __x86_64__
/* 952: sizeof(med_slot) of that layout, measured (x86-64). A change of the
 * fields before creator_pid is a new layout: MED_REGION_VERSION + 1. */
_Static_assert(MED_SLOT_V1_BYTES == 952, "med_slot's first fields moved: bump MED_REGION_VERSION");
#endif

_Static_assert(sizeof(med_slot) <= MED_SLOT_BYTES, "med_slot outgrew MED_SLOT_BYTES");
_Static_assert(sizeof(med_region_hdr) <= MED_REGION_HDR_BYTES, "region header too big");

#endif
