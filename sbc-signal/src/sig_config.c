/* sbc-signal — its view of runtime.json (see sig_config.h), read with the
 * shared loader (shared/src/config.c declares the keys). */
#include "sig_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/config.h"
#include "sbc/err.h"
#include "sig_transport.h"

static int copy_profile(sig_profile_cfg *p, const sbc_cfg_tls_profile *from)
{
	snprintf(p->name, sizeof(p->name), "%s", from->name);
	for (unsigned i = 0; i < from->n_certs; i++) {
		p->cert[i] = strdup(from->certs[i].cert);
		p->key[i] = strdup(from->certs[i].key);
		p->n_certs++; /* counted before the check: sig_config_free frees what was set */
		if (!p->cert[i] || !p->key[i])
			return -ENOMEM;
	}
	if (from->ca[0] && !(p->ca = strdup(from->ca)))
		return -ENOMEM;
	p->verify_client = from->verify_client;
	p->verify_depth = (int)from->verify_depth;
	for (unsigned i = 0; i < from->n_sni; i++)
		if (!(p->sni[p->n_sni++] = strdup(from->sni[i])))
			return -ENOMEM;
	return 0;
}

/* Copies what sbc-signal uses out of the loaded configuration. The loader
 * checked every value, so only lengths of our own fields and memory fail. */
static int adopt(sig_config *cfg, const sbc_config *c, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	sbc_log_level_parse(c->log_level, &cfg->log_level);
	if (snprintf(cfg->store_path, sizeof(cfg->store_path), "%s", c->store_path) >= (int)sizeof(cfg->store_path)) {
		snprintf(err, errlen, "store_path: longer than %zu bytes", sizeof(cfg->store_path) - 1);
		return SBC_E_CONFIG;
	}
	cfg->workers = c->signal.workers;
	for (unsigned i = 0; i < c->signal.nlisten; i++) {
		const sbc_cfg_listen *l = &c->signal.listen[i];
		sig_listen_cfg *lc = &cfg->listen[cfg->n_listen++];
		lc->tp = (uint8_t)sig_tp_parse(l->transport);
		sbc_addr_parse(l->address, -1, &lc->addr);
		snprintf(lc->profile, sizeof(lc->profile), "%s", l->tls_profile);
	}
	for (unsigned i = 0; i < c->signal.n_tls_profiles; i++)
		if (copy_profile(&cfg->profiles[cfg->n_profiles++], &c->signal.tls_profiles[i]) < 0) {
			snprintf(err, errlen, "signal.tls_profiles[%u]: out of memory", i);
			return -ENOMEM;
		}
	cfg->lim.max_header = c->signal.limits.max_header;
	cfg->lim.max_body = c->signal.limits.max_body;
	cfg->lim.handshake_timeout_ms = c->signal.limits.handshake_timeout_ms;
	cfg->lim.partial_timeout_ms = c->signal.limits.partial_timeout_ms;
	cfg->lim.max_conns_per_source = c->signal.limits.max_conns_per_source;
	cfg->lim.hs_per_source_per_s = c->signal.limits.handshakes_per_source_per_s;
	cfg->lim.hs_burst_per_source = c->signal.limits.handshake_burst_per_source;
	cfg->lim.ticket_rotate_s = c->signal.limits.ticket_rotate_s;
	cfg->lim.max_conns = c->signal.limits.max_conns;
	cfg->lim.trim_min_txns = c->signal.limits.trim_min_transactions;
	snprintf(cfg->dns_servers, sizeof(cfg->dns_servers), "%s", c->signal.dns_servers);
	cfg->drop_unknown = strcmp(c->signal.unknown_sources, "drop") == 0;
	cfg->no_response_ms = c->signal.timers.no_response_ms;
	cfg->no_answer_ms = c->signal.timers.no_answer_ms;
	cfg->t1_ms = c->signal.timers.t1_ms;
	cfg->session_min_s = c->signal.timers.session_min_s;
	sbc_addr_parse(c->media.address, 0, &cfg->media_addr);
	cfg->media_port_min = (uint16_t)c->media.port_min;
	cfg->media_port_max = (uint16_t)c->media.port_max;
	return 0;
}

void sig_config_defaults(sig_config *cfg)
{
	char err[128];
	sbc_config *c = malloc(sizeof(*c));
	/* Boot and tests only: without 130 KB nothing would run anyway. */
	if (!c)
		abort();
	sbc_config_defaults(c);
	adopt(cfg, c, err, sizeof(err)); /* cannot fail: no profiles, defaults fit */
	free(c);
}

int sig_config_load(const char *path, sig_config *cfg, char *err, size_t errlen)
{
	sbc_config *c = malloc(sizeof(*c)); /* large: the TLS profiles */
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (!c)
		return -ENOMEM;
	sbc_config_defaults(c);
	if ((ret = sbc_config_load_file(c, path, SBC_CFG_SIGNAL, err, errlen)) == 0 &&
	    (ret = sbc_config_check(c, SBC_CFG_SIGNAL, err, errlen)) == 0 &&
	    (ret = adopt(cfg, c, err, errlen)) != 0)
		sig_config_free(cfg);
	free(c);
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
