/* sbc-signal — runtime.json (see sig_config.h). */
#include "sig_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/err.h"
#include "sig_framing.h"
#include "sig_transport.h"

void sig_config_defaults(sig_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = SBC_LOG_INFO;
	cfg->lim.max_header = SIG_FRAME_DEFAULT_MAX_HEADER;
	cfg->lim.max_body = SIG_FRAME_DEFAULT_MAX_BODY;
	cfg->lim.handshake_timeout_ms = 10000;
	cfg->lim.partial_timeout_ms = 30000;
	cfg->lim.max_conns_per_source = 20000;
	cfg->lim.hs_per_source_per_s = 2000;
	cfg->lim.hs_burst_per_source = 4000;
	cfg->lim.ticket_rotate_s = 3600;
	cfg->lim.max_conns = 1000000;
}

#define CFG_FAIL(...)                                                          \
	do {                                                                   \
		snprintf(err, errlen, __VA_ARGS__);                            \
		ret = SBC_E_CONFIG;                                            \
		goto Exit;                                                     \
	} while (0)

static char *dup_str(json_t *v)
{
	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int load_profile(json_t *jp, sig_profile_cfg *p, char *err, size_t errlen)
{
	int ret = 0;
	const char *key;
	json_t *v;
	p->verify_depth = 4;
	json_object_foreach(jp, key, v) {
		if (strcmp(key, "name") == 0) {
			if (!json_is_string(v) || strlen(json_string_value(v)) >= SIG_NAME_MAX)
				CFG_FAIL("signal.tls_profiles[].name: a string under %d bytes", SIG_NAME_MAX);
			snprintf(p->name, sizeof(p->name), "%s", json_string_value(v));
		} else if (strcmp(key, "certs") == 0) {
			size_t i;
			json_t *c;
			if (!json_is_array(v) || json_array_size(v) > SIG_MAX_CERTS)
				CFG_FAIL("signal.tls_profiles[].certs: an array of at most %d", SIG_MAX_CERTS);
			json_array_foreach(v, i, c) {
				char *cf = dup_str(json_object_get(c, "cert"));
				char *kf = dup_str(json_object_get(c, "key"));
				if (!cf || !kf) {
					free(cf);
					free(kf);
					CFG_FAIL("signal.tls_profiles[].certs[%zu]: needs cert and key paths", i);
				}
				p->cert[p->n_certs] = cf;
				p->key[p->n_certs++] = kf;
			}
		} else if (strcmp(key, "ca") == 0) {
			if (!json_is_string(v))
				CFG_FAIL("signal.tls_profiles[].ca: a path");
			p->ca = strdup(json_string_value(v));
		} else if (strcmp(key, "verify_client") == 0) {
			if (!json_is_boolean(v))
				CFG_FAIL("signal.tls_profiles[].verify_client: a boolean");
			p->verify_client = json_is_true(v);
		} else if (strcmp(key, "verify_depth") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 16)
				CFG_FAIL("signal.tls_profiles[].verify_depth: 0..16");
			p->verify_depth = (int)json_integer_value(v);
		} else if (strcmp(key, "sni") == 0) {
			size_t i;
			json_t *s;
			if (!json_is_array(v) || json_array_size(v) > SIG_MAX_SNI)
				CFG_FAIL("signal.tls_profiles[].sni: an array of at most %d names", SIG_MAX_SNI);
			json_array_foreach(v, i, s) {
				if (!json_is_string(s))
					CFG_FAIL("signal.tls_profiles[].sni[%zu]: a string", i);
				p->sni[p->n_sni++] = strdup(json_string_value(s));
			}
		} else {
			CFG_FAIL("signal.tls_profiles[]: unknown key \"%s\"", key);
		}
	}
	if (!p->name[0] || p->n_certs == 0)
		CFG_FAIL("signal.tls_profiles[]: needs a name and at least one cert");
	if (p->verify_client && !p->ca)
		CFG_FAIL("signal.tls_profiles[%s]: verify_client needs a ca bundle", p->name);
Exit:
	return ret;
}

static int load_limits(json_t *jl, sig_limits *l, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
		uint32_t min, max;
	} keys[] = {
#define LIM_(n, lo, hi) {#n, offsetof(sig_limits, n), lo, hi}
		LIM_(max_header, 512, 1u << 20),
		LIM_(max_body, 0, 1u << 24),
		LIM_(handshake_timeout_ms, 10, 600000),
		LIM_(partial_timeout_ms, 10, 3600000),
		{"max_conns_per_source", offsetof(sig_limits, max_conns_per_source), 1, 10000000},
		{"handshakes_per_source_per_s", offsetof(sig_limits, hs_per_source_per_s), 1, 10000000},
		{"handshake_burst_per_source", offsetof(sig_limits, hs_burst_per_source), 1, 10000000},
		LIM_(ticket_rotate_s, 1, 86400 * 7),
		LIM_(max_conns, 1, 100000000),
#undef LIM_
	};
	const char *key;
	json_t *v;
	int ret = 0;
	json_object_foreach(jl, key, v) {
		size_t i;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(keys[i].name, key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			CFG_FAIL("signal.limits: unknown key \"%s\"", key);
		if (!json_is_integer(v) || json_integer_value(v) < keys[i].min ||
		    json_integer_value(v) > keys[i].max)
			CFG_FAIL("signal.limits.%s: an integer in %u..%u", key, keys[i].min, keys[i].max);
		*(uint32_t *)((char *)l + keys[i].off) = (uint32_t)json_integer_value(v);
	}
Exit:
	return ret;
}

int sig_config_load(const char *path, sig_config *cfg, char *err, size_t errlen)
{
	int ret = 0;
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	sig_config_defaults(cfg);
	if (!root) {
		snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return SBC_E_CONFIG;
	}
	if (!json_is_object(root))
		CFG_FAIL("%s: not a JSON object", path);
	json_t *v = json_object_get(root, "log_level");
	if (v && (!json_is_string(v) || sbc_log_level_parse(json_string_value(v), &cfg->log_level) < 0))
		CFG_FAIL("log_level: one of error, warn, notice, info, debug");
	v = json_object_get(root, "store_path");
	if (v && json_is_string(v))
		snprintf(cfg->store_path, sizeof(cfg->store_path), "%s", json_string_value(v));
	json_t *sig = json_object_get(root, "signal");
	if (!json_is_object(sig))
		CFG_FAIL("signal: missing or not an object");
	const char *key;
	json_object_foreach(sig, key, v) {
		if (strcmp(key, "workers") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > SIG_MAX_WORKERS)
				CFG_FAIL("signal.workers: an integer in 0..%d", SIG_MAX_WORKERS);
			cfg->workers = (unsigned)json_integer_value(v);
		} else if (strcmp(key, "listen") == 0) {
			size_t i;
			json_t *l;
			if (!json_is_array(v) || json_array_size(v) > SIG_MAX_LISTEN)
				CFG_FAIL("signal.listen: an array of at most %d", SIG_MAX_LISTEN);
			json_array_foreach(v, i, l) {
				sig_listen_cfg *lc = &cfg->listen[cfg->n_listen];
				const char *t = json_string_value(json_object_get(l, "transport"));
				const char *a = json_string_value(json_object_get(l, "address"));
				const char *pr = json_string_value(json_object_get(l, "tls_profile"));
				int tp = t ? sig_tp_parse(t) : -1;
				if (tp < 0)
					CFG_FAIL("signal.listen[%zu].transport: udp, tcp or tls", i);
				if (!a || sbc_addr_parse(a, tp == SIG_TP_TLS ? 5061 : 5060, &lc->addr) < 0)
					CFG_FAIL("signal.listen[%zu].address: ip:port expected", i);
				lc->tp = (uint8_t)tp;
				snprintf(lc->profile, sizeof(lc->profile), "%s", pr ? pr : "default");
				cfg->n_listen++;
			}
		} else if (strcmp(key, "tls_profiles") == 0) {
			size_t i;
			json_t *p;
			if (!json_is_array(v) || json_array_size(v) > SIG_MAX_PROFILES)
				CFG_FAIL("signal.tls_profiles: an array of at most %d", SIG_MAX_PROFILES);
			json_array_foreach(v, i, p) {
				if (!json_is_object(p))
					CFG_FAIL("signal.tls_profiles[%zu]: an object", i);
				ret = load_profile(p, &cfg->profiles[cfg->n_profiles++], err, errlen);
				if (ret < 0)
					goto Exit;
			}
		} else if (strcmp(key, "dns_servers") == 0) {
			if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(cfg->dns_servers))
				CFG_FAIL("signal.dns_servers: \"ip[:port],...\" under %zu bytes",
					 sizeof(cfg->dns_servers));
			snprintf(cfg->dns_servers, sizeof(cfg->dns_servers), "%s", json_string_value(v));
		} else if (strcmp(key, "unknown_sources") == 0) {
			const char *s = json_string_value(v);
			if (!s || (strcmp(s, "reject") != 0 && strcmp(s, "drop") != 0))
				CFG_FAIL("signal.unknown_sources: \"reject\" or \"drop\"");
			cfg->drop_unknown = strcmp(s, "drop") == 0;
		} else if (strcmp(key, "limits") == 0) {
			if (!json_is_object(v))
				CFG_FAIL("signal.limits: an object");
			ret = load_limits(v, &cfg->lim, err, errlen);
			if (ret < 0)
				goto Exit;
		} else {
			CFG_FAIL("signal: unknown key \"%s\"", key);
		}
	}
	if (cfg->n_listen == 0)
		CFG_FAIL("signal.listen: no listeners");
Exit:
	json_decref(root);
	return ret;
}

void sig_config_free(sig_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_profiles; i++) {
		sig_profile_cfg *p = &cfg->profiles[i];
		for (unsigned j = 0; j < p->n_certs; j++) {
			free(p->cert[j]);
			free(p->key[j]);
		}
		for (unsigned j = 0; j < p->n_sni; j++)
			free(p->sni[j]);
		free(p->ca);
	}
	cfg->n_profiles = 0;
}
