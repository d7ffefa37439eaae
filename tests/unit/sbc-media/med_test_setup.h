/* The set-up the sbc-media worker tests share (test_media_orphans.c,
 * test_relay_batches.c, test_media_relay_path.c): SRTP initialised, a
 * socket-backend config on 127.0.0.1 with a port range of the test's own,
 * and a session region for it. Included after cmocka.h and media.h. */
#ifndef SBC_TEST_MED_TEST_SETUP_H
#define SBC_TEST_MED_TEST_SETUP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cfg on ports [port_min, port_min + n_ports), RTP timeout 30 s, SO_RCVBUF
 * rcvbuf; *region a calloc'ed, opened session region of *region_bytes for
 * it (free() it). Returns 0, or -1 with the reason on stderr. */
static inline int med_test_setup(med_config *cfg, uint16_t port_min, uint16_t n_ports, uint32_t rcvbuf,
				 void **region, size_t *region_bytes)
{
	char err[256];
	bool reused;
	if (med_xc_global_init(err, sizeof(err)) != 0) {
		fprintf(stderr, "srtp init: %s\n", err);
		return -1;
	}
	memset(cfg, 0, sizeof(*cfg));
	sbc_addr_parse("127.0.0.1", 0, &cfg->address);
	cfg->port_min = port_min;
	cfg->port_max = (uint16_t)(port_min + n_ports - 1);
	cfg->rtp_timeout_ms = 30000;
	cfg->rcvbuf = rcvbuf;
	snprintf(cfg->backend, sizeof(cfg->backend), "socket");
	*region_bytes = MED_SESSION_REGION_BYTES(med_region_slots_for(cfg));
	*region = calloc(1, *region_bytes);
	if (!*region) {
		fprintf(stderr, "session region: out of memory\n");
		return -1;
	}
	if (med_region_open(*region, *region_bytes, cfg, 1, &reused, err, sizeof(err)) != 0) {
		fprintf(stderr, "session region: %s\n", err);
		return -1;
	}
	return 0;
}

#endif
