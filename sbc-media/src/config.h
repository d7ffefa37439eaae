/* sbc-media — the effective configuration, read from runtime.json. */
#ifndef MED_CONFIG_H
#define MED_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/log.h"
#include "sbc/sockaddr.h"

#define MED_CFG_XDP_IFS 4 /* = MED_XDP_MAX_IFS */

typedef struct med_config {
	enum sbc_log_level log_level;
	unsigned workers;        /* media.workers */
	sbc_addr address;        /* media.address, port 0 */
	uint16_t port_min, port_max;
	uint32_t rtp_timeout_ms; /* default inactivity timeout */
	char backend[16];        /* "socket" (default) or "xdp" */
	/* media.xdp_interfaces: where the AF_XDP backend attaches (backend
	 * "xdp"); media.address is the media address on each of them. */
	char xdp_ifs[MED_CFG_XDP_IFS][16];
	unsigned n_xdp_ifs;
	uint32_t rcvbuf;         /* SO_RCVBUF per socket */
} med_config;

/* Parses the runtime.json text file at path (the shared loader, reader
 * SBC_CFG_MEDIA: sections of the other processes are not looked at).
 * Returns 0, -ENOMEM, or SBC_E_CONFIG with a sentence naming the key in
 * errbuf. */
int med_config_load(const char *path, med_config *cfg, char *errbuf, size_t errlen);

#endif
