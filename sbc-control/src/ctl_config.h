/* sbc-control — configuration: the embedded default, the operator's JSON file
 * (--config), and runtime.json for the children.
 *
 * Caveats:
 *  1. Every key is declared once in the table in ctl_config.c (name, type,
 *     range, field); the loader walks the JSON against it, so an unknown key
 *     or a bad value is an error naming the key path ("signal.workers").
 *  2. The loaded ctl_config is immutable once ctl_config_finalize() ran: the
 *     supervisor and the methods read it, nobody patches it at run time
 *     (system.reload re-reads the file into a fresh snapshot).
 *  3. The "control" section is sbc-control's own; it is not written into
 *     runtime.json (the children do not know it).
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sbc/sockaddr.h"

#define CTL_MAX_LISTEN 16
#define CTL_NAME_MAX 64

typedef struct ctl_listen {
	char transport[4];           /* udp | tcp | tls */
	char address[SBC_ADDR_STRLEN];
	char tls_profile[CTL_NAME_MAX]; /* tls only */
} ctl_listen;

typedef struct ctl_config {
	char log_level[16];
	char data_dir[PATH_MAX];
	char store_path[PATH_MAX];

	struct {
		unsigned workers;
		unsigned nlisten;
		ctl_listen listen[CTL_MAX_LISTEN];
		char dns_servers[256]; /* "ip[:port],..." for sbc-signal's resolver; "": resolv.conf */
		char unknown_sources[8]; /* "reject" (403) or "drop" (no answer) */
	} signal;

	struct {
		unsigned workers;
		char address[INET6_ADDRSTRLEN];
		unsigned port_min, port_max;
		char backend[16];          /* "socket" | "xdp" */
		unsigned rtp_timeout_ms;
		char xdp_interfaces[80];   /* "eth0,eth1": where backend "xdp" attaches */
	} media;

	/* sbc-control's own knobs (not in runtime.json). */
	struct {
		char socket[PATH_MAX];        /* empty: <data_dir>/control.sock */
		unsigned max_request_bytes;   /* longest request line */
		unsigned max_clients;
		unsigned client_queue_bytes;  /* unsent replies per client before it is closed */
		unsigned requests_per_sec;    /* per client; 0: unlimited */
		unsigned partial_timeout_ms;  /* an unfinished request line older than this closes the client */
		unsigned restart_max;         /* quick deaths in a row before "failed" */
		unsigned backoff_initial_ms;
		unsigned backoff_max_ms;
		unsigned stable_ms;           /* uptime after which a child counts as healthy */
		unsigned stop_timeout_ms;     /* SIGKILL after this on shutdown */
		unsigned drain_ms;            /* deadline passed to signal in SBC_MSG_DRAIN */
		unsigned stats_timeout_ms;
		unsigned ring_bytes;          /* signal<->media rings */
		unsigned ctl_ring_bytes;      /* control<->child rings */
	} control;

	/* The demo trunks and route, seeded into an empty store only. */
	struct {
		bool enabled;                    /* default: true without --config, false with */
		bool enabled_set;
		char outbound[SBC_ADDR_STRLEN];  /* demo-out's destination (udp) */
		char inbound_cidr[SBC_ADDR_STRLEN + 4];
	} demo;

	bool from_file; /* false: the embedded default */
} ctl_config;

/* The embedded default: loopback listeners 5060 udp/tcp + 5061 tls (profile
 * "default"), media on 127.0.0.1 30000-39999, one worker each, data dir
 * "run" (relative; finalize makes it absolute). */
void ctl_config_defaults(ctl_config *c);

/* Applies a JSON object (the --config format) over c. On error returns
 * SBC_E_CONFIG and err holds "<key>: <reason>". */
int ctl_config_apply_json(ctl_config *c, json_t *root, char *err, size_t errlen);

/* Reads and applies a file; parse errors name the line and column. */
int ctl_config_load_file(ctl_config *c, const char *path, char *err, size_t errlen);

/* Cross-field checks and path resolution (relative paths against cwd,
 * store_path defaults to <data_dir>/store, socket to <data_dir>/control.sock). */
int ctl_config_finalize(ctl_config *c, char *err, size_t errlen);

/* The runtime.json object for the children (new reference). */
json_t *ctl_config_runtime_json(const ctl_config *c);

/* Writes runtime.json atomically (temp file + rename), mode 0640. */
int ctl_config_write_runtime(const ctl_config *c, const char *path, char *err, size_t errlen);

#endif
