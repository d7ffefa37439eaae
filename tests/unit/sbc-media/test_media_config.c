/* sbc-media: runtime.json parsing and the session region (format, reuse). */
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
#include "../../../sbc-media/src/media.h"

static char path[64];

static int load(const char *text, med_config *cfg, char *err, size_t len)
{
	FILE *f;
	snprintf(path, sizeof(path), "/tmp/test_media_config.%d.json", (int)getpid());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	int ret = med_config_load(path, cfg, err, len);
	unlink(path);
	return ret;
}

static void defaults_and_values(void **state)
{
	med_config c;
	char err[256];
	assert_int_equal(load("{\"log_level\":\"debug\",\"media\":{\"workers\":2,\"address\":\"127.0.0.1\","
			      "\"port_min\":30000,\"port_max\":30099,\"backend\":\"socket\",\"rtp_timeout_ms\":5000}}",
			      &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.port_min, 30000);
	assert_int_equal(c.port_max, 30099);
	assert_int_equal(c.rtp_timeout_ms, 5000);
	assert_int_equal(c.log_level, SBC_LOG_DEBUG);
	assert_int_equal(med_region_slots_for(&c), 25);
	/* other sections (signal, paths) are sbc-control's business */
	assert_int_equal(load("{\"signal\":{\"workers\":1},\"data_dir\":\"/x\"}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.port_min, 30000);
	/* the AF_XDP backend and its interfaces */
	assert_int_equal(load("{\"media\":{\"backend\":\"xdp\",\"xdp_interfaces\":[\"eth0\",\"eth1\"]}}", &c, err,
			      sizeof(err)),
			 0);
	assert_string_equal(c.backend, "xdp");
	assert_int_equal(c.n_xdp_ifs, 2);
	assert_string_equal(c.xdp_ifs[1], "eth1");
	assert_int_equal(load("{\"media\":{\"xdp_interfaces\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}}", &c, err,
			      sizeof(err)),
			 SBC_E_CONFIG);
	assert_non_null(strstr(err, "xdp_interfaces"));
	assert_int_equal(load("{\"media\":{\"xdp_interfaces\":[\"a-name-far-too-long\"]}}", &c, err, sizeof(err)),
			 SBC_E_CONFIG);
	assert_non_null(strstr(err, "xdp_interfaces[0]"));
	assert_int_equal(load("{\"media\":{\"xdp_interfaces\":[3]}}", &c, err, sizeof(err)), SBC_E_CONFIG);
	/* sbc-control writes the comma-separated form */
	assert_int_equal(load("{\"media\":{\"xdp_interfaces\":\"veth0, veth1\"}}", &c, err, sizeof(err)), 0);
	assert_int_equal(c.n_xdp_ifs, 2);
	assert_string_equal(c.xdp_ifs[0], "veth0");
	assert_string_equal(c.xdp_ifs[1], "veth1");
	assert_int_equal(load("{\"media\":{\"xdp_interfaces\":\"a,b,c,d,e\"}}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "xdp_interfaces"));
	assert_int_equal(load("{\"media\":{\"backend\":\"dpdk\"}}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "backend"));
}

static void errors_name_the_key(void **state)
{
	med_config c;
	char err[256];
	assert_int_equal(load("{\"media\":{\"port_mni\":1}}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "port_mni"));
	assert_int_equal(load("{\"media\":{\"workers\":\"two\"}}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "workers"));
	assert_int_equal(load("{\"media\":{\"address\":\"example.com\"}}", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_non_null(strstr(err, "address"));
	assert_int_equal(load("{\"media\":{\"port_min\":30000,\"port_max\":30001}}", &c, err, sizeof(err)),
			 SBC_E_CONFIG);
	assert_int_equal(load("{\"media\":", &c, err, sizeof(err)), SBC_E_CONFIG);
	assert_int_equal(load("[]", &c, err, sizeof(err)), SBC_E_CONFIG);
}

static void region_format_then_reuse(void **state)
{
	med_config c;
	char err[256];
	bool reused = true;
	assert_int_equal(load("{\"media\":{\"port_min\":30001,\"port_max\":30100}}", &c, err, sizeof(err)), 0);
	/* port_min odd: the table starts at the next even port */
	assert_int_equal(med_region_slots_for(&c), 24);
	size_t bytes = MED_SESSION_REGION_BYTES(24);
	void *mem = calloc(1, bytes);
	assert_int_equal(med_region_open(mem, bytes, &c, 2, &reused, err, sizeof(err)), 0);
	assert_false(reused);
	med_region_hdr *h = mem;
	assert_int_equal(h->nslots, 24);
	assert_int_equal(h->port_base, 30002);
	med_slot *s = (med_slot *)((uint8_t *)mem + MED_REGION_HDR_BYTES + 5 * MED_SLOT_BYTES);
	atomic_store(&s->state, MED_SLOT_ACTIVE);
	s->session_id = 77;
	/* same config: reused, the session is still there */
	assert_int_equal(med_region_open(mem, bytes, &c, 2, &reused, err, sizeof(err)), 0);
	assert_true(reused);
	assert_int_equal(s->session_id, 77);
	assert_int_equal(atomic_load(&h->restarts), 1);
	/* another worker count: formatted again (sessions lost, said in the log) */
	assert_int_equal(med_region_open(mem, bytes, &c, 3, &reused, err, sizeof(err)), 0);
	assert_false(reused);
	assert_int_equal(atomic_load(&s->state), MED_SLOT_FREE);
	/* too small */
	assert_int_equal(med_region_open(mem, 100, &c, 1, &reused, err, sizeof(err)), SBC_E_CONFIG);
	/* a region smaller than the port range limits the sessions */
	assert_int_equal(med_region_open(mem, MED_SESSION_REGION_BYTES(4), &c, 1, &reused, err, sizeof(err)), 0);
	assert_int_equal(h->nslots, 4);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_and_values),
		cmocka_unit_test(errors_name_the_key),
		cmocka_unit_test(region_format_then_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
