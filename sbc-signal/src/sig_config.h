/* sbc-signal — configuration read from runtime.json with the shared loader
 * (shared/src/config.c declares every key once: type, default, range;
 * sbc-signal reads log_level, store_path and the "signal" section):
 *
 *   workers: 1..32 (sig_config.workers 0, one per core, is left to callers
 *     that build a sig_config themselves)
 *   listen: [{transport, address (ip:port), tls_profile? (tls only)}]
 *   tls_profiles (optional, for sbc-signal without sbc-control):
 *     [{name, certs:[{cert:PEM path (chain, leaf first), key:PEM path}],
 *       ca?: PEM bundle, verify_client?: bool, verify_depth?: int,
 *       sni?: [names]}]
 *   dns_servers (optional): "ip[:port],..." instead of /etc/resolv.conf
 *   unknown_sources (optional): "reject" (403, default) or "drop" (no answer)
 *   limits (optional): {max_header, max_body, handshake_timeout_ms,
 *     partial_timeout_ms, max_conns_per_source, handshakes_per_source_per_s,
 *     handshake_burst_per_source, ticket_rotate_s,
 *     max_conns, trim_min_transactions}
 *   timers (optional, the B2BUA's per target): {no_response_ms,
 *     no_answer_ms (Timer C), t1_ms (RFC 3261 T1), session_min_s (the
 *     shortest RFC 4028 session interval timed per call)}; their defaults live
 *     in the shared table only: every sig_config comes from it
 *     (sig_config_load, sig_config_defaults), so the B2BUA has none of
 *     its own
 */
#ifndef SIG_CONFIG_H
#define SIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/config-t.h"
#include "sbc/log.h"
#include "sbc/sockaddr.h"

/* What the shared table allows. */
#define SIG_NAME_MAX SBC_CFG_NAME_MAX
#define SIG_MAX_LISTEN SBC_CFG_MAX_LISTEN
#define SIG_MAX_PROFILES SBC_CFG_MAX_PROFILES
#define SIG_MAX_CERTS SBC_CFG_MAX_CERTS
#define SIG_MAX_SNI SBC_CFG_MAX_SNI
#define SIG_MAX_WORKERS 64

typedef struct sig_listen_cfg {
	uint8_t tp; /* enum sig_tp */
	sbc_addr addr;
	char profile[SIG_NAME_MAX];
} sig_listen_cfg;

typedef struct sig_profile_cfg {
	char name[SIG_NAME_MAX];
	char *cert[SIG_MAX_CERTS];
	char *key[SIG_MAX_CERTS];
	unsigned n_certs;
	char *ca;
	int verify_client;
	int verify_depth;
	char *sni[SIG_MAX_SNI];
	unsigned n_sni;
} sig_profile_cfg;

typedef struct sig_limits {
	uint32_t max_header, max_body;
	uint32_t handshake_timeout_ms;
	uint32_t partial_timeout_ms;
	uint32_t max_conns_per_source;
	uint32_t hs_per_source_per_s;
	uint32_t hs_burst_per_source;
	uint32_t ticket_rotate_s;
	uint32_t max_conns;
	uint32_t trim_min_txns; /* B2BUA: a burst worth malloc_trim (mem_settle) */
} sig_limits;

typedef struct sig_config {
	enum sbc_log_level log_level;
	char store_path[512];
	unsigned workers;
	sig_listen_cfg listen[SIG_MAX_LISTEN];
	unsigned n_listen;
	sig_profile_cfg profiles[SIG_MAX_PROFILES];
	unsigned n_profiles;
	sig_limits lim;
	char dns_servers[256]; /* "ip[:port],..."; "" = /etc/resolv.conf */
	bool drop_unknown;     /* unknown_sources "drop": no answer to a source no trunk matches */
	uint32_t no_response_ms; /* signal.timers: B2BUA per-target timeouts */
	uint32_t no_answer_ms;
	uint32_t t1_ms; /* signal.timers.t1_ms: RFC 3261 T1 */
	uint32_t session_min_s; /* signal.timers.session_min_s: RFC 4028 session interval floor */
	sbc_addr media_addr;    /* media.address: the relay (sig_self.h) */
	uint16_t media_port_min, media_port_max;
} sig_config;

/* The table's defaults (no listeners, no profiles). */
void sig_config_defaults(sig_config *cfg);
/* Loads runtime.json. Returns 0, -ENOMEM, or SBC_E_CONFIG with a sentence
 * naming the key in err; on error there is nothing to free. */
int sig_config_load(const char *path, sig_config *cfg, char *err, size_t errlen);
void sig_config_free(sig_config *cfg);

#endif
