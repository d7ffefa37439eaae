/* sbc — the configuration of all three processes: types only (functions in
 * config.h).
 *
 * One struct, sbc_config, holds every key of the operator's file and of
 * runtime.json; one table in shared/src/config.c declares each key once
 * (type, default, range, and which process reads it). sbc-control loads the
 * operator's file into it and writes runtime.json from it; sbc-signal and
 * sbc-media load runtime.json into it and copy what they need into their own
 * structs (sig_config, med_config).
 *
 * Caveats:
 *  1. Strings are fixed arrays, so a value that does not fit is a
 *     configuration error ("too long"), never a truncation.
 *  2. `from_file` is sbc-control's bookkeeping, not a key.
 *  3. The struct is large (the TLS profiles of a standalone sbc-signal):
 *     callers that are not boot code allocate it on the heap.
 */
#ifndef SBC_CONFIG_T_H
#define SBC_CONFIG_T_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "sbc/sockaddr.h"

#define SBC_CFG_MAX_LISTEN 16
#define SBC_CFG_NAME_MAX 64
#define SBC_CFG_MAX_PROFILES 16
#define SBC_CFG_MAX_CERTS 4
#define SBC_CFG_MAX_SNI 8
#define SBC_CFG_PEM_PATH_MAX 512 /* certificate, key and CA paths of signal.tls_profiles */
#define SBC_CFG_SNI_MAX 256      /* a DNS name and its NUL */
#define SBC_CFG_XDP_IFS 4        /* = MED_XDP_MAX_IFS */
#define SBC_CFG_IFNAME_MAX 16    /* = IFNAMSIZ */

/* Who reads a key (sbc_cfg_key.readers, the reader argument of the loader).
 * sbc-control reads the operator's file and writes into runtime.json every
 * key it reads that a child reads too. */
enum sbc_cfg_reader {
	SBC_CFG_CONTROL = 1u << 0,
	SBC_CFG_SIGNAL = 1u << 1,
	SBC_CFG_MEDIA = 1u << 2,
};

enum sbc_cfg_type {
	SBC_CFG_SECTION,  /* a JSON object holding more keys */
	SBC_CFG_STR,      /* a string that fits the field (min 1: not empty) */
	SBC_CFG_ENUM,     /* a string among choices ("a|b|c") */
	SBC_CFG_PATH,     /* a non-empty string path */
	SBC_CFG_IP,       /* a literal IPv4/IPv6 address without a port */
	SBC_CFG_HOSTPORT, /* a literal address with a port */
	SBC_CFG_BOOL,     /* true or false */
	SBC_CFG_CIDR,     /* an address prefix */
	SBC_CFG_UINT,     /* an integer in min..max, stored as unsigned */
	SBC_CFG_POW2,     /* a power of two in min..max */
	SBC_CFG_ARRAY,    /* min..max elements of size bytes at off, count at count_off;
			   * elements are objects of "<path>[].<key>" keys, or values
			   * of the one key "<path>[]" */
	SBC_CFG_IFNAMES,  /* interface names: "eth0,eth1" or ["eth0","eth1"], at most max */
};

/* sbc_cfg_key.flags */
#define SBC_CFG_REQUIRED 1u /* an array element's key that must be present */
#define SBC_CFG_OMIT_EMPTY 2u /* runtime.json: left out while empty */

typedef struct sbc_cfg_key {
	const char *path; /* "media.port_min"; an array element's: "signal.listen[].address" */
	enum sbc_cfg_type type;
	unsigned readers;  /* enum sbc_cfg_reader bits */
	unsigned flags;    /* SBC_CFG_REQUIRED, SBC_CFG_OMIT_EMPTY */
	size_t off, size;  /* the field within sbc_config, or within the array element */
	unsigned long long min, max;
	const char *choices; /* ENUM: "a|b|c"; ARRAY: what an element is called ("listeners") */
	const char *def;     /* the default as text ("30000", "socket", "true"); NULL: zero */
	size_t count_off;    /* ARRAY: the unsigned element count, beside the array */
} sbc_cfg_key;

typedef struct sbc_cfg_listen {
	char transport[4]; /* udp | tcp | tls */
	char address[SBC_ADDR_STRLEN];
	char tls_profile[SBC_CFG_NAME_MAX]; /* tls only ("default" when not given) */
} sbc_cfg_listen;

typedef struct sbc_cfg_cert {
	char cert[SBC_CFG_PEM_PATH_MAX]; /* PEM chain, leaf first */
	char key[SBC_CFG_PEM_PATH_MAX];
} sbc_cfg_cert;

/* signal.tls_profiles[]: TLS material from files, for sbc-signal started
 * without sbc-control (the store's tls.* profiles are the managed way). */
typedef struct sbc_cfg_tls_profile {
	char name[SBC_CFG_NAME_MAX];
	sbc_cfg_cert certs[SBC_CFG_MAX_CERTS];
	unsigned n_certs;
	char ca[SBC_CFG_PEM_PATH_MAX];
	bool verify_client;
	unsigned verify_depth;
	char sni[SBC_CFG_MAX_SNI][SBC_CFG_SNI_MAX];
	unsigned n_sni;
} sbc_cfg_tls_profile;

typedef struct sbc_cfg_ifnames {
	char name[SBC_CFG_XDP_IFS][SBC_CFG_IFNAME_MAX];
	unsigned n;
} sbc_cfg_ifnames;

typedef struct sbc_config {
	char log_level[16];
	char data_dir[PATH_MAX];
	char store_path[PATH_MAX];

	struct {
		unsigned workers;
		unsigned nlisten;
		sbc_cfg_listen listen[SBC_CFG_MAX_LISTEN];
		char dns_servers[256];   /* "ip[:port],..." for sbc-signal's resolver; "": resolv.conf */
		char unknown_sources[8]; /* "reject" (403) or "drop" (no answer) */
		struct {
			unsigned max_header, max_body;
			unsigned handshake_timeout_ms;
			unsigned partial_timeout_ms;
			unsigned max_conns_per_source;
			unsigned handshakes_per_source_per_s;
			unsigned handshake_burst_per_source;
			unsigned ticket_rotate_s;
			unsigned max_conns;
			unsigned trim_min_transactions; /* B2BUA: a burst worth malloc_trim */
		} limits;
		struct {
			unsigned no_response_ms; /* B2BUA: no response at all from a target */
			unsigned no_answer_ms;   /* B2BUA: a provisional, then no final (Timer C) */
			unsigned t1_ms;          /* RFC 3261 T1 (transaction timers) */
			unsigned session_min_s;  /* B2BUA: RFC 4028 session interval floor */
		} timers;
		unsigned n_tls_profiles;
		sbc_cfg_tls_profile tls_profiles[SBC_CFG_MAX_PROFILES];
	} signal;

	struct {
		unsigned workers;
		char address[INET6_ADDRSTRLEN];
		unsigned port_min, port_max;
		char backend[16]; /* "socket" | "xdp" */
		unsigned rtp_timeout_ms;
		sbc_cfg_ifnames xdp_interfaces; /* where backend "xdp" attaches */
		unsigned rcvbuf;                /* SO_RCVBUF per media socket */
	} media;

	/* sbc-control's own knobs (not in runtime.json). */
	struct {
		char socket[PATH_MAX];       /* empty: <data_dir>/control.sock */
		unsigned max_request_bytes;  /* longest request line */
		unsigned max_clients;
		unsigned client_queue_bytes; /* unsent replies per client before it is closed */
		unsigned requests_per_sec;   /* per client; 0: unlimited */
		unsigned partial_timeout_ms; /* an unfinished request line older than this closes the client */
		unsigned restart_max;        /* quick deaths in a row before "failed" */
		unsigned backoff_initial_ms;
		unsigned backoff_max_ms;
		unsigned stable_ms;          /* uptime after which a child counts as healthy */
		unsigned stop_timeout_ms;    /* SIGKILL after this on shutdown */
		unsigned drain_ms;           /* deadline passed to signal in SBC_MSG_DRAIN */
		unsigned stats_timeout_ms;
		unsigned ring_bytes;         /* signal<->media rings */
		unsigned ctl_ring_bytes;     /* control<->child rings */
	} control;

	/* The demo trunks and route, seeded into an empty store only. */
	struct {
		bool enabled; /* default: true without --config, false with */
		char outbound[SBC_ADDR_STRLEN]; /* demo-out's destination (udp) */
		char inbound_cidr[SBC_ADDR_STRLEN + 4];
	} demo;

	bool from_file; /* false: sbc-control's embedded default */
} sbc_config;

#endif
