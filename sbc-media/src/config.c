/* sbc-media — its view of runtime.json, read with the shared loader
 * (shared/src/config.c declares the keys). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/config.h"
#include "sbc/err.h"
#include "config.h"

_Static_assert(sizeof(((med_config *)0)->xdp_ifs) == sizeof(((sbc_cfg_ifnames *)0)->name),
	       "media.xdp_interfaces: one limit");

int med_config_load(const char *path, med_config *cfg, char *errbuf, size_t errlen)
{
	sbc_config *c = malloc(sizeof(*c)); /* large: the signal section's TLS profiles */
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (!c)
		return -ENOMEM;
	sbc_config_defaults(c);
	if ((ret = sbc_config_load_file(c, path, SBC_CFG_MEDIA, errbuf, errlen)) != 0 ||
	    (ret = sbc_config_check(c, SBC_CFG_MEDIA, errbuf, errlen)) != 0)
		goto Exit;
	/* The loader checked each value: these conversions cannot fail. */
	sbc_log_level_parse(c->log_level, &cfg->log_level);
	cfg->workers = c->media.workers;
	sbc_addr_parse(c->media.address, 0, &cfg->address);
	cfg->port_min = (uint16_t)c->media.port_min;
	cfg->port_max = (uint16_t)c->media.port_max;
	cfg->rtp_timeout_ms = c->media.rtp_timeout_ms;
	snprintf(cfg->backend, sizeof(cfg->backend), "%s", c->media.backend);
	cfg->n_xdp_ifs = c->media.xdp_interfaces.n;
	memcpy(cfg->xdp_ifs, c->media.xdp_interfaces.name, sizeof(cfg->xdp_ifs));
	cfg->rcvbuf = c->media.rcvbuf;
Exit:
	free(c);
	return ret;
}
