/* sbc-media — next-hop MAC addresses for the AF_XDP path, from the kernel's
 * routing and neighbour tables (rtnetlink).
 *
 * Caveats:
 *  1. One table per worker thread; not thread-safe.
 *  2. med_xdp_neigh_lookup() is the packet-path call: a hash probe, no
 *     system call. A destination it does not know yet is remembered as
 *     pending and SBC_E_NOT_FOUND returned (the caller drops and counts the
 *     packet; RTP sends again 20 ms later).
 *  3. med_xdp_neigh_maintain() is the slow path, for the worker's idle or
 *     housekeeping moment: for each pending destination it asks the kernel
 *     for the route (RTM_GETROUTE: output interface and gateway) and the
 *     neighbour entry of the next hop (RTM_GETNEIGH); when the kernel has
 *     none, it makes the kernel resolve one (RTM_NEWNEIGH with NTF_USE, or
 *     without CAP_NET_ADMIN an empty UDP datagram to the next hop's
 *     discard port through an ordinary socket; ARP / ND follow), then asks
 *     again on a later call. Known entries are re-read every refresh_ms so
 *     a changed MAC or route is picked up, and as the relay's packets never
 *     confirm an entry to the kernel, a STALE one is made to re-verify
 *     every 6 refreshes.
 *  4. Returns: 0, SBC_E_NOT_FOUND, SBC_E_LIMIT (table full), negative errno.
 */
#ifndef MED_XDP_NEIGH_H
#define MED_XDP_NEIGH_H

#include <stdint.h>

#include "sbc/sockaddr.h"

typedef struct med_xdp_neigh med_xdp_neigh;

/* capacity: destinations remembered (rounded up to a power of two);
 * refresh_ms: how old a known entry may get before it is re-read. */
int med_xdp_neigh_create(med_xdp_neigh **out, unsigned capacity, unsigned refresh_ms);
void med_xdp_neigh_destroy(med_xdp_neigh *n);

/* Packet path (caveat 2): the port of dst is ignored. */
int med_xdp_neigh_lookup(med_xdp_neigh *n, const sbc_addr *dst, int *ifindex,
			 uint8_t mac[6]);

/* Slow path (caveat 3). now_ms: a monotonic clock. Returns the number of
 * destinations still unresolved, or a negative error. */
int med_xdp_neigh_maintain(med_xdp_neigh *n, uint64_t now_ms);

/* Blocking: resolves dst (learning it as maintain would), waiting up to
 * timeout_ms. For set-up and tests. Returns 0 or SBC_E_TIMEOUT. */
int med_xdp_neigh_resolve(med_xdp_neigh *n, const sbc_addr *dst, int timeout_ms,
			  int *ifindex, uint8_t mac[6]);

/* Counters: lookups that missed, kernel queries made, resolutions triggered. */
typedef struct med_xdp_neigh_stats {
	uint64_t misses, queries, triggers, entries;
} med_xdp_neigh_stats;
void med_xdp_neigh_stats_get(const med_xdp_neigh *n, med_xdp_neigh_stats *out);

/* Kernel queries alone (no table), for tests: route to dst -> output
 * interface and next hop; neighbour entry of nexthop on ifindex -> MAC.
 * Return 0, SBC_E_NOT_FOUND or a negative errno. */
int med_xdp_route_get(const sbc_addr *dst, int *ifindex, sbc_addr *nexthop);
int med_xdp_neigh_get(int ifindex, const sbc_addr *nexthop, uint8_t mac[6]);

#endif
