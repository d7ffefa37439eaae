/* Unit tests: AF_XDP backend API (sbc-media/src/xdp_backend.c): configuration
 * checks and error reasons without root; with root, in a private network
 * namespace (unshare) on a veth pair: attach, worker sockets, queue limits,
 * port map, counters as JSON, clean detach. Packet relaying itself is
 * covered in tests/integration/test_xdp.py across three namespaces. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "../../../sbc-media/src/xdp_backend.h"

static int have_netns;

static int drop_cb(void *arg, med_xdp_pkt *p)
{
	(void)arg;
	(void)p;
	return MED_XDP_DROP;
}

static void base_cfg(med_xdp_config *c, const char *ifname)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->ifs[0].name, sizeof(c->ifs[0].name), "%s", ifname);
	assert_int_equal(sbc_addr_parse("10.77.0.1", 0, &c->ifs[0].addrs[0]), 0);
	assert_int_equal(sbc_addr_parse("2001:db8:77::1", 0, &c->ifs[0].addrs[1]), 0);
	c->ifs[0].naddrs = 2;
	c->nifs = 1;
	c->port_min = 30000;
	c->port_max = 30999;
}

static int attached(const char *ifname)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "ip link show %s | head -1 | grep -q ' xdp'", ifname);
	return system(cmd) == 0;
}

static void test_config_errors(void **state)
{
	(void)state;
	med_xdp_config c;
	med_xdp *x = (med_xdp *)1;
	char why[256];

	base_cfg(&c, "lo");
	c.nifs = 0;
	assert_int_equal(med_xdp_open(&x, &c, why, sizeof(why)), SBC_E_CONFIG);
	assert_null(x);
	assert_non_null(strstr(why, "no interface"));

	base_cfg(&c, "lo");
	c.port_min = 31000;
	assert_int_equal(med_xdp_open(&x, &c, why, sizeof(why)), SBC_E_CONFIG);
	assert_non_null(strstr(why, "port range"));

	base_cfg(&c, "lo");
	c.frame_size = 3000;
	assert_int_equal(med_xdp_open(&x, &c, why, sizeof(why)), SBC_E_CONFIG);
	assert_non_null(strstr(why, "frame size 3000"));

	base_cfg(&c, "nosuchif7");
	assert_int_equal(med_xdp_open(&x, &c, why, sizeof(why)), -ENODEV);
	assert_null(x);
	assert_non_null(strstr(why, "interface nosuchif7"));
	/* The logging variant says what the operator needs and fails the same. */
	assert_int_equal(med_xdp_open_or_log(&x, &c), -ENODEV);
	med_xdp_close(NULL);

	assert_string_equal(med_xdp_drop_name(MED_XDP_DROP_NEIGH), "neighbour");
	assert_string_equal(med_xdp_drop_name(-1), "unknown");
	assert_string_equal(med_xdp_drop_name(MED_XDP_DROP_MAX_), "unknown");
}

static void test_attach_worker_detach(void **state)
{
	(void)state;
	if (!have_netns) {
		skip();
		return;
	}
	med_xdp_config c;
	med_xdp *x, *y;
	med_xdp_worker *w, *w2;
	char why[256], js[1024];
	int fds[4];

	assert_int_equal(system("ip link add sbcx0 type veth peer name sbcx1 && "
				"ip link set sbcx0 up && ip link set sbcx1 up"), 0);
	base_cfg(&c, "sbcx0");
	c.port_filter = true;
	c.ring_size = 256;
	assert_int_equal(med_xdp_open(&x, &c, why, sizeof(why)), 0);
	assert_true(attached("sbcx0"));
	assert_string_equal(med_xdp_attach_mode(x), "native");
	assert_int_equal(med_xdp_queues(x), 1);

	/* A second program on a busy interface: refused, the first stays. */
	assert_int_not_equal(med_xdp_open(&y, &c, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "already has an XDP program"));
	assert_true(attached("sbcx0"));

	/* Worker on queue 0: copy mode on veth (no zero-copy there). */
	assert_int_equal(med_xdp_worker_create(x, 0, &w, why, sizeof(why)), 0);
	assert_string_equal(med_xdp_worker_mode(w), "native-copy");
	assert_int_equal(med_xdp_worker_fds(w, fds, 4), 1);
	assert_true(fds[0] >= 0);
	/* Queue 0 is taken, queue 1 does not exist. */
	assert_int_not_equal(med_xdp_worker_create(x, 0, &w2, why, sizeof(why)), 0);
	assert_null(w2);
	assert_int_equal(med_xdp_worker_create(x, 1, &w2, why, sizeof(why)), SBC_E_LIMIT);
	assert_non_null(strstr(why, "ethtool -L sbcx0 combined 2"));

	/* Port map and counters. */
	assert_int_equal(med_xdp_port_set(x, 30000, true), 0);
	assert_int_equal(med_xdp_port_set(x, 30001, true), 0);
	assert_int_equal(med_xdp_port_set(x, 30000, false), 0);
	uint64_t ps[MED_XDP_STAT_MAX];
	assert_int_equal(med_xdp_prog_stats(x, ps), 0);
	assert_int_equal(ps[MED_XDP_STAT_MATCHED], 0);
	/* Nothing arrives: a round returns 0 without sleeping. */
	assert_int_equal(med_xdp_worker_poll(w, drop_cb, NULL, 0), 0);
	int n = med_xdp_worker_stats_json(w, js, sizeof(js));
	assert_true(n > 0 && (size_t)n == strlen(js));
	assert_non_null(strstr(js, "\"backend\":\"xdp\",\"mode\":\"native-copy\",\"rx\":0"));
	assert_non_null(strstr(js, "\"tx_full\":0}}"));
	assert_non_null(strstr(js, "\"kernel\":{\"rx_ring_full\":0,\"fill_empty\":"));
	/* the loop's figures bench_xdp reads: nothing received, no batch */
	assert_non_null(strstr(js, "\"fill_wakeups\":"));
	assert_non_null(strstr(js, "\"batches\":0,"));
	assert_int_equal(med_xdp_worker_stats_json(w, js, 20), SBC_E_LIMIT);
	med_xdp_worker_stats st;
	med_xdp_worker_stats_get(w, &st);
	assert_false(st.zerocopy);
	assert_true(st.need_wakeup);
	/* copy mode: one kick sends the ring (Linux >= 6.17), else the kernel's 32 */
	assert_true(st.tx_budget == 0 || st.tx_budget == 256); /* c.ring_size */
	assert_int_equal(st.k_rx_ring_full, 0);

	med_xdp_worker_destroy(w);
	med_xdp_close(x);
	assert_false(attached("sbcx0"));

	/* Generic mode on request. */
	c.attach = MED_XDP_ATTACH_GENERIC;
	assert_int_equal(med_xdp_open(&x, &c, why, sizeof(why)), 0);
	assert_string_equal(med_xdp_attach_mode(x), "generic");
	assert_int_equal(med_xdp_worker_create(x, 0, &w, why, sizeof(why)), 0);
	assert_string_equal(med_xdp_worker_mode(w), "generic-copy");
	med_xdp_worker_destroy(w);
	med_xdp_close(x);
	assert_false(attached("sbcx0"));
	assert_int_equal(system("ip link del sbcx0"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_attach_worker_detach),
	};
	sbc_log_init("test_xdp_backend", SBC_LOG_ERROR, false);
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 && system("ip link set lo up") == 0)
		have_netns = 1;
	else
		printf("test_xdp_backend: attach tests skipped: %s\n",
		       geteuid() ? "needs root" : "unshare(CLONE_NEWNET) failed");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
