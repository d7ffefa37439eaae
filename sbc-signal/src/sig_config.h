/* sbc-signal — configuration read from runtime.json (see the process
 * contract) plus signal-only knobs with defaults.
 *
 * runtime.json "signal" section:
 *   workers: int (0 or absent: one per core)
 *   listen: [{transport, address, tls_profile?}]
 *   tls_profiles (optional, until the LMDB store carries them):
 *     [{name, certs:[{cert:PEM path (chain, leaf first), key:PEM path}],
 *       ca?: PEM bundle, verify_client?: bool, verify_depth?: int,
 *       sni?: [names]}]
 *   dns_servers (optional): "ip[:port],..." instead of /etc/resolv.conf
 *   unknown_sources (optional): "reject" (403, default) or "drop" (no answer)
 *   limits (optional): {max_header, max_body, handshake_timeout_ms,
 *     partial_timeout_ms, max_conns_per_source, handshakes_per_source_per_s,
 *     handshake_burst_per_source, ticket_rotate_s,
 *     max_conns}
 */
#ifndef SIG_CONFIG_H
#define SIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbc/log.h"
#include "sbc/sockaddr.h"

#define SIG_NAME_MAX 64
#define SIG_MAX_LISTEN 16
#define SIG_MAX_PROFILES 16
#define SIG_MAX_CERTS 4
#define SIG_MAX_SNI 8
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
} sig_config;

void sig_config_defaults(sig_config *cfg);
/* Loads runtime.json. Returns 0 or SBC_E_CONFIG with a sentence in err. */
int sig_config_load(const char *path, sig_config *cfg, char *err, size_t errlen);
void sig_config_free(sig_config *cfg);

#endif
