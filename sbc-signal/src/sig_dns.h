/* sbc-signal — RFC 3263 server location with c-ares on a worker's loop:
 * NAPTR, then SRV (priority, then weight), then A/AAAA, giving an ordered
 * list of (transport, address) targets to try in turn (failover order).
 *
 * Caveats:
 *  1. One resolver per worker loop (sig_dns is not thread-safe); c-ares
 *     sockets are watched with uv_poll, so the loop never blocks.
 *  2. Rules (RFC 3263 4.1/4.2): a numeric host needs no lookup; an explicit
 *     port skips NAPTR and SRV (A/AAAA only); an explicit transport skips
 *     NAPTR (SRV for that transport, else A/AAAA); otherwise NAPTR filtered
 *     to SIP+D2U/SIP+D2T/SIPS+D2T ("s" flag) in order/preference, and when
 *     there is no NAPTR, SRV for _sips._tcp, _sip._tcp, _sip._udp in that
 *     order of preference; without any SRV, A/AAAA on the default port.
 *     secure (sips: URI) keeps only TLS targets.
 *  3. The callback runs once, on the loop (possibly before
 *     sig_dns_resolve() returns for a numeric host); status 0 with n >= 1,
 *     or a negative sbc error (SBC_E_NOT_FOUND when nothing resolved).
 */
#ifndef SIG_DNS_H
#define SIG_DNS_H

#include <stdint.h>
#include <uv.h>

#include "sbc/sockaddr.h"

#define SIG_DNS_MAX_TARGETS 32

typedef struct sig_dns sig_dns;

typedef struct sig_target {
	uint8_t tp; /* enum sig_tp */
	sbc_addr addr;
	uint16_t priority, weight; /* from SRV; 0 otherwise */
} sig_target;

typedef void (*sig_dns_cb)(void *arg, int status, const sig_target *t, unsigned n);

/* servers: "ip[:port],..." or NULL for /etc/resolv.conf. */
int sig_dns_create(uv_loop_t *loop, const char *servers, sig_dns **out);
/* Cancels pending lookups (their callbacks run with SBC_E_CLOSED). */
void sig_dns_destroy(sig_dns *d);

/* host: DNS name or IP literal; port 0: none given; tp: enum sig_tp or -1
 * when the URI names none; secure: a sips: URI. */
int sig_dns_resolve(sig_dns *d, const char *host, uint16_t port, int tp, int secure, sig_dns_cb cb,
		    void *arg);

#endif
