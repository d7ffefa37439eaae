/* sbc — LMDB configuration store: types only (functions are in store.h).
 *
 * One LMDB environment (a directory holding data.mdb and lock.mdb, mode
 * 0600) with four named databases:
 *   meta    "schema" -> u32 schema version; "gen.<area>" -> u64 generation;
 *           "ref.<trunk>" -> i64 routes naming that trunk; "nroutes" -> i64;
 *           "tid.<trunk>" -> u32 trunk id, "tnm.<id BE>" -> trunk name,
 *           "next_tid" -> u32 (ids are never reused)
 *   trunks  trunk name -> canonical JSON text of the trunk
 *   routes  the prefix packed into 8 bytes (a nibble per character,
 *           big endian) -> the prefix's routes
 *           (trunk ids, priority, weight, strip, prepend) and an ancestor
 *           mask; see shared/src/store_route_codec.c
 *   tls     profile name -> canonical JSON text of the profile (incl. key)
 * sbc-control is the only writer; sbc-signal and sbc-media open it read-only.
 */
#ifndef SBC_STORE_T_H
#define SBC_STORE_T_H

#include <stdbool.h>
#include <stdint.h>

#include "sbc/msg-t.h"
#include "sbc/sockaddr.h"

/* Bump when the on-disk layout changes; an older/newer store is refused. */
#define STORE_SCHEMA_VERSION 2u

typedef struct store store;               /* environment handle (opaque) */
typedef struct store_reader store_reader; /* per-thread read context (opaque) */

/* Generation areas; the numbers equal enum shm_area's so sbc-control can bump
 * shm_seg_gen(area) with the same value. */
enum store_area {
	STORE_AREA_TRUNKS = 0,
	STORE_AREA_ROUTES = 1,
	STORE_AREA_TLS = 2,
	STORE_AREA_MAX_ = 3,
};

enum store_open_flags {
	STORE_RDONLY = 1u << 0, /* children: MDB_RDONLY, never writes */
	STORE_CREATE = 1u << 1, /* writer: create the directory and databases */
	STORE_NOSYNC = 1u << 2, /* writer: no fsync on commit (tests, benchmarks) */
};

/* Text formats for route import/export. */
enum store_fmt {
	STORE_FMT_CSV = 0,   /* header "prefix,trunk,priority,weight,strip,prepend" */
	STORE_FMT_JSONL = 1, /* one {"prefix":..,"trunk":..,...} object per line */
};

enum store_import_flags {
	STORE_IMPORT_REPLACE = 1u << 0, /* drop every existing route first */
};

/* Limits (characters, not counting the NUL). */
#define STORE_NAME_MAX 63     /* trunk / TLS profile names: [A-Za-z0-9._-]+ */
#define STORE_PREFIX_MAX 16   /* route prefix: optional '+', then digits (E.164 fits) */
#define STORE_STRIP_MAX 32    /* route strip count */
#define STORE_NUMBER_MAX 64   /* normalised called number */
#define STORE_PREPEND_MAX 32  /* digits, optional leading '+' */
#define STORE_ROUTES_PER_PREFIX_MAX 32
#define STORE_HOST_MAX 253
#define STORE_CERT_ID_MAX 255
#define STORE_TRUNK_CIDRS_MAX 32
#define STORE_TRUNK_CERTS_MAX 8
#define STORE_TRUNK_DESTS_MAX 8
#define STORE_TLS_SNI_MAX 8
#define STORE_CIPHERS_MAX 511

/* Defaults for the optional route fields. */
#define STORE_ROUTE_DEFAULT_PRIORITY 100
#define STORE_ROUTE_DEFAULT_WEIGHT 100

/* One route: a prefix, a trunk and how to use it. Lower priority is tried
 * first; among equal priorities the weight sets the share (RFC 2782 style).
 * strip N > 0 removes a leading '+' if present and then N digits; prepend is
 * added in front of what remains. */
typedef struct store_route {
	char prefix[STORE_PREFIX_MAX + 1];
	char trunk[STORE_NAME_MAX + 1];
	uint16_t priority;
	uint16_t weight;
	uint8_t strip;
	char prepend[STORE_PREPEND_MAX + 1];
} store_route;

enum store_transport {
	STORE_TP_ANY = 0, /* not given: RFC 3263 NAPTR picks it */
	STORE_TP_UDP = 1,
	STORE_TP_TCP = 2,
	STORE_TP_TLS = 3,
};

/* An outbound destination. host is an IP literal or a DNS name. A DNS name
 * with port 0 is resolved per RFC 3263 (NAPTR when transport is ANY, then
 * SRV, then A/AAAA); with a port, A/AAAA only. An IP literal with port 0 uses
 * 5060 (5061 for TLS); its transport ANY means UDP. */
typedef struct store_dest {
	char host[STORE_HOST_MAX + 1];
	uint16_t port;     /* 0: not given */
	uint8_t transport; /* enum store_transport */
	bool is_ip;        /* host is an IP literal (derived on parse) */
	sbc_addr addr;     /* valid when is_ip (port as given or default) */
} store_dest;

enum store_cert_kind {
	STORE_CERT_SUBJECT = 0,     /* RFC 2253-style one-line subject, exact */
	STORE_CERT_SAN = 1,         /* a DNS/URI/IP subjectAltName, exact, case-insensitive */
	STORE_CERT_FINGERPRINT = 2, /* SHA-256 of the DER, 64 hex digits (colons allowed) */
};

typedef struct store_cert_id {
	uint8_t kind; /* enum store_cert_kind */
	char value[STORE_CERT_ID_MAX + 1]; /* fingerprint: normalised lower-case hex */
} store_cert_id;

enum store_srtp_mode {
	STORE_SRTP_OFF = 0,
	STORE_SRTP_OPTIONAL = 1,
	STORE_SRTP_REQUIRED = 2,
};

typedef struct store_srtp_policy {
	uint8_t mode;     /* enum store_srtp_mode */
	uint8_t n_suites; /* 0 when mode is off */
	uint8_t suites[SBC_SRTP_SUITE_MAX_]; /* enum sbc_srtp_suite, preferred first */
} store_srtp_policy;

typedef struct store_trunk {
	char name[STORE_NAME_MAX + 1];
	bool enabled;
	/* inbound match: any CIDR, or any certificate identity */
	uint8_t n_cidrs;
	sbc_cidr cidrs[STORE_TRUNK_CIDRS_MAX];
	uint8_t n_certs;
	store_cert_id certs[STORE_TRUNK_CERTS_MAX];
	/* outbound, tried in order */
	uint8_t n_dests;
	store_dest dests[STORE_TRUNK_DESTS_MAX];
	char tls_profile[STORE_NAME_MAX + 1]; /* "" when none */
	store_srtp_policy srtp_in;  /* calls arriving from this trunk */
	store_srtp_policy srtp_out; /* calls sent to this trunk */
	uint32_t max_calls;         /* 0: unlimited */
	uint32_t max_cps;           /* calls per second, 0: unlimited */
	/* new calls toward the trunk go on a live TCP/TLS connection it opened
	 * to us (RFC 5923 style; carriers behind NAT/firewalls), else out */
	bool reuse_inbound;
} store_trunk;

/* Immutable set of all trunks with a generation; see store.h. */
typedef struct store_trunk_snapshot store_trunk_snapshot;

/* A TLS profile. The PEM strings are heap-allocated (store_tls_clear frees
 * them); key_pem is secret. */
typedef struct store_tls_profile {
	char name[STORE_NAME_MAX + 1];
	char *cert_pem; /* leaf first, then intermediates */
	char *key_pem;
	char *ca_pem;   /* NULL: no CA bundle (no peer verification possible) */
	uint8_t verify_depth;       /* default 4 */
	bool require_client_cert;
	uint8_t n_sni;
	char sni[STORE_TLS_SNI_MAX][STORE_HOST_MAX + 1];
	uint16_t min_version; /* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
	char ciphers[STORE_CIPHERS_MAX + 1]; /* "" for the library default */
} store_tls_profile;

#endif
