/* Unit tests: next-hop table of the AF_XDP path (sbc-media/src/xdp_neigh.c).
 * The kernel parts run in a private network namespace made by the test
 * (unshare, root) with a veth pair and neighbour entries set by `ip`;
 * without root they are skipped with the reason, the table logic still runs. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-media/src/xdp_neigh.h"

static int have_netns;

static void ip(const char *cmd)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "ip %s", cmd);
	assert_int_equal(system(buf), 0);
}

static sbc_addr A(const char *text)
{
	sbc_addr a;
	assert_int_equal(sbc_addr_parse(text, 0, &a), 0);
	return a;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_table_logic(void **state)
{
	(void)state;
	med_xdp_neigh *n;
	med_xdp_neigh_stats st;
	uint8_t mac[6];
	int ifindex;
	assert_int_equal(med_xdp_neigh_create(&n, 4, 1000), 0);
	sbc_addr a = A("192.0.2.1");
	/* Unknown: miss, remembered once however often it is asked. */
	assert_int_equal(med_xdp_neigh_lookup(n, &a, &ifindex, mac), SBC_E_NOT_FOUND);
	assert_int_equal(med_xdp_neigh_lookup(n, &a, &ifindex, mac), SBC_E_NOT_FOUND);
	med_xdp_neigh_stats_get(n, &st);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.entries, 1);
	/* A full table refuses new destinations instead of probing forever. */
	char text[32];
	int limited = 0;
	for (int i = 2; i < 64; i++) {
		snprintf(text, sizeof(text), "192.0.2.%d", i);
		sbc_addr b = A(text);
		if (med_xdp_neigh_lookup(n, &b, &ifindex, mac) == SBC_E_LIMIT)
			limited++;
	}
	assert_true(limited > 0);
	med_xdp_neigh_stats_get(n, &st);
	assert_true(st.entries < 16);
	/* Not an IP address. */
	sbc_addr none;
	memset(&none, 0, sizeof(none));
	assert_int_equal(med_xdp_neigh_lookup(n, &none, &ifindex, mac), SBC_E_INVAL);
	med_xdp_neigh_destroy(n);
	med_xdp_neigh_destroy(NULL);
}

static void test_loopback_has_no_next_hop(void **state)
{
	(void)state;
	sbc_addr a = A("127.0.0.1"), hop;
	int ifindex;
	/* Local route: not unicast, nothing to send an Ethernet frame to. */
	assert_int_equal(med_xdp_route_get(&a, &ifindex, &hop), SBC_E_NOT_FOUND);
}

static void test_kernel_neighbours(void **state)
{
	(void)state;
	if (!have_netns) {
		skip();
		return;
	}
	med_xdp_neigh *n;
	uint8_t mac[6];
	int ifindex;
	const uint8_t mac5[6] = { 0x02, 0, 0, 0, 0, 0x05 };
	const uint8_t mac6[6] = { 0x02, 0, 0, 0, 0, 0x06 };
	const uint8_t mac7[6] = { 0x02, 0, 0, 0, 0, 0x07 };

	ip("link add sbcd0 type veth peer name sbcd1");
	ip("link set sbcd1 up");
	ip("addr add 10.9.0.1/24 dev sbcd0");
	ip("addr add 2001:db8:9::1/64 dev sbcd0 nodad");
	ip("link set sbcd0 up");
	ip("neigh add 10.9.0.5 lladdr 02:00:00:00:00:05 dev sbcd0 nud permanent");
	ip("neigh add 2001:db8:9::5 lladdr 02:00:00:00:00:06 dev sbcd0 nud permanent");
	ip("route add 198.51.100.0/24 via 10.9.0.5");
	int d0 = (int)if_nametoindex("sbcd0");
	assert_true(d0 > 0);

	/* The kernel queries alone. */
	sbc_addr hop, dst = A("198.51.100.7");
	assert_int_equal(med_xdp_route_get(&dst, &ifindex, &hop), 0);
	assert_int_equal(ifindex, d0);
	sbc_addr gw = A("10.9.0.5");
	assert_true(sbc_addr_equal_ip(&hop, &gw));
	assert_int_equal(med_xdp_neigh_get(d0, &hop, mac), 0);
	assert_memory_equal(mac, mac5, 6);

	assert_int_equal(med_xdp_neigh_create(&n, 64, 200), 0);
	/* On-link, via a gateway, IPv6. */
	sbc_addr on = A("10.9.0.5"), v6 = A("2001:db8:9::5");
	assert_int_equal(med_xdp_neigh_resolve(n, &on, 1000, &ifindex, mac), 0);
	assert_int_equal(ifindex, d0);
	assert_memory_equal(mac, mac5, 6);
	assert_int_equal(med_xdp_neigh_resolve(n, &dst, 1000, &ifindex, mac), 0);
	assert_memory_equal(mac, mac5, 6);
	assert_int_equal(med_xdp_neigh_resolve(n, &v6, 1000, &ifindex, mac), 0);
	assert_memory_equal(mac, mac6, 6);
	/* Packet path: known now, no system call needed. */
	assert_int_equal(med_xdp_neigh_lookup(n, &dst, &ifindex, mac), 0);

	/* Unknown next hop: resolution is triggered through the kernel (which
	 * gets no answer: the peer has no address), the caller times out cleanly. */
	sbc_addr lost = A("10.9.0.6");
	med_xdp_neigh_stats st;
	assert_int_equal(med_xdp_neigh_resolve(n, &lost, 300, &ifindex, mac), SBC_E_TIMEOUT);
	med_xdp_neigh_stats_get(n, &st);
	assert_true(st.triggers >= 1);
	/* ... and the kernel is resolving it (an ARP request went out). */
	assert_int_equal(system("ip neigh show 10.9.0.6 dev sbcd0 | grep -Eq 'INCOMPLETE|FAILED'"), 0);
	/* The answer arrives later: housekeeping picks it up. */
	ip("neigh replace 10.9.0.6 lladdr 02:00:00:00:00:06 dev sbcd0 nud permanent");
	assert_true(med_xdp_neigh_maintain(n, mono_ms() + 1000) >= 0);
	assert_int_equal(med_xdp_neigh_lookup(n, &lost, &ifindex, mac), 0);
	assert_memory_equal(mac, mac6, 6);

	/* The next hop changes its MAC: re-read after the refresh interval. */
	ip("neigh replace 10.9.0.5 lladdr 02:00:00:00:00:07 dev sbcd0 nud permanent");
	assert_int_equal(med_xdp_neigh_lookup(n, &on, &ifindex, mac), 0);
	assert_memory_equal(mac, mac5, 6); /* still cached */
	med_xdp_neigh_maintain(n, mono_ms() + 10000);
	assert_int_equal(med_xdp_neigh_lookup(n, &on, &ifindex, mac), 0);
	assert_memory_equal(mac, mac7, 6);
	assert_int_equal(med_xdp_neigh_lookup(n, &dst, &ifindex, mac), 0);
	assert_memory_equal(mac, mac7, 6);

	/* The entry goes away: stop sending there until it is back. */
	ip("neigh del 10.9.0.5 dev sbcd0");
	med_xdp_neigh_maintain(n, mono_ms() + 20000);
	assert_int_equal(med_xdp_neigh_lookup(n, &on, &ifindex, mac), SBC_E_NOT_FOUND);
	med_xdp_neigh_destroy(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_logic),
		cmocka_unit_test(test_loopback_has_no_next_hop),
		cmocka_unit_test(test_kernel_neighbours),
	};
	/* A private network namespace: nothing here touches the host's. */
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 && system("ip link set lo up") == 0)
		have_netns = 1;
	else
		printf("test_xdp_neigh: kernel neighbour tests skipped: %s\n",
		       geteuid() ? "needs root" : "unshare(CLONE_NEWNET) failed");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
