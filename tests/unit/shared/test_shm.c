/* Unit tests for the shared segment: creation with mode 0600, the ring and
 * region directory, generation counters, and attach-time validation that
 * names each kind of mismatch. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/msg.h"
#include "sbc/shm.h"

static char seg_name[64];

static shm_seg_config default_cfg(void)
{
	shm_seg_config cfg = {.signal_workers = 2, .media_workers = 3, .ring_bytes = 1u << 14,
			      .ctl_ring_bytes = 1u << 12};
	cfg.regions[0].name = "media.sessions";
	cfg.regions[0].bytes = 100000;
	cfg.regions[1].name = "signal.stats";
	cfg.regions[1].bytes = 4096;
	return cfg;
}

static int setup(void **state)
{
	(void)state;
	snprintf(seg_name, sizeof(seg_name), "/sbc-test-shm-%d", (int)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shm_seg_unlink(seg_name);
	return 0;
}

static void test_create_layout_and_mode(void **state)
{
	shm_seg_config cfg = default_cfg();
	char err[256], path[128];
	shm_seg *seg;
	struct stat st;
	(void)state;

	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "/dev/shm%s", seg_name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	shm_seg_hdr *h = shm_seg_header(seg);
	/* control<->2 signal, control<->3 media, 2x3 signal<->media, both ways. */
	assert_int_equal(h->nrings, 2 * (2 + 3 + 6));
	assert_int_equal(h->workers[SHM_ROLE_SIGNAL], 2);
	assert_int_equal(h->workers[SHM_ROLE_MEDIA], 3);
	for (unsigned i = 0; i < 2; i++)
		for (unsigned j = 0; j < 3; j++) {
			assert_non_null(shm_seg_ring(seg, SHM_ROLE_SIGNAL, i, SHM_ROLE_MEDIA, j));
			assert_non_null(shm_seg_ring(seg, SHM_ROLE_MEDIA, j, SHM_ROLE_SIGNAL, i));
		}
	assert_null(shm_seg_ring(seg, SHM_ROLE_SIGNAL, 2, SHM_ROLE_MEDIA, 0));
	assert_null(shm_seg_ring(seg, SHM_ROLE_SIGNAL, 0, SHM_ROLE_SIGNAL, 1));

	size_t bytes = 0;
	uint8_t *region = shm_seg_region(seg, "media.sessions", &bytes);
	assert_non_null(region);
	assert_int_equal(bytes, 100000);
	memset(region, 0xab, bytes); /* writable, in bounds */
	assert_null(shm_seg_region(seg, "nope", NULL));

	/* Rings and regions do not overlap. */
	uint8_t *base = (uint8_t *)h;
	for (unsigned i = 0; i < h->nrings; i++)
		assert_true(h->rings[i].offset + h->rings[i].bytes <= (uint64_t)(region - base) ||
			    h->rings[i].offset >= (uint64_t)(region - base) + bytes);

	/* Doorbells: one per consumer, valid eventfds in the creator. */
	assert_true(shm_seg_doorbell(seg, SHM_ROLE_CONTROL, 0) >= 0);
	assert_true(shm_seg_doorbell(seg, SHM_ROLE_MEDIA, 2) >= 0);
	assert_int_equal(shm_seg_doorbell(seg, SHM_ROLE_MEDIA, 3), -1);
	shm_seg_detach(seg);
}

static void test_generations(void **state)
{
	shm_seg_config cfg = default_cfg();
	char err[256];
	shm_seg *seg, *reader;
	(void)state;

	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), 0);
	assert_int_equal(shm_seg_attach(seg_name, &reader, err, sizeof(err)), 0);
	assert_int_equal(shm_seg_gen(shm_seg_header(reader), SHM_AREA_ROUTES), 0);
	assert_int_equal(shm_seg_gen_bump(shm_seg_header(seg), SHM_AREA_ROUTES), 1);
	assert_int_equal(shm_seg_gen_bump(shm_seg_header(seg), SHM_AREA_ROUTES), 2);
	assert_int_equal(shm_seg_gen(shm_seg_header(reader), SHM_AREA_ROUTES), 2);
	assert_int_equal(shm_seg_gen(shm_seg_header(reader), SHM_AREA_TRUNKS), 0);
	shm_seg_detach(reader);
	shm_seg_detach(seg);
}

static void test_bad_config_rejected(void **state)
{
	shm_seg_config cfg = default_cfg();
	char err[256] = "";
	shm_seg *seg;
	(void)state;

	cfg.signal_workers = 0;
	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "signal_workers"));
	cfg = default_cfg();
	cfg.ring_bytes = 3000;
	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "powers of two"));
	cfg = default_cfg();
	cfg.signal_workers = 32;
	cfg.media_workers = 32;
	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), SBC_E_INVAL);
	assert_non_null(strstr(err, "rings"));
}

/* Corrupts one header field through a raw mapping and checks the attach
 * error code and that the message names the problem. */
static void expect_attach_error(size_t field_off, size_t field_len, int want, const char *word)
{
	shm_seg_config cfg = default_cfg();
	char err[256] = "";
	shm_seg *seg, *reader = NULL;

	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), 0);
	uint8_t *h = (uint8_t *)shm_seg_header(seg);
	h[field_off] ^= 0x5a;
	(void)field_len;
	assert_int_equal(shm_seg_attach(seg_name, &reader, err, sizeof(err)), want);
	assert_null(reader);
	assert_non_null(strstr(err, word));
	h[field_off] ^= 0x5a;
	assert_int_equal(shm_seg_attach(seg_name, &reader, err, sizeof(err)), 0);
	shm_seg_detach(reader);
	shm_seg_detach(seg);
}

static void test_attach_validation_names_mismatch(void **state)
{
	char err[256] = "";
	shm_seg *reader = NULL;
	(void)state;

	expect_attach_error(offsetof(shm_seg_hdr, magic), 8, SBC_E_SHM_MAGIC, "magic");
	expect_attach_error(offsetof(shm_seg_hdr, layout_version), 4, SBC_E_SHM_VERSION, "version");
	expect_attach_error(offsetof(shm_seg_hdr, layout_sig), 4, SBC_E_SHM_LAYOUT, "signature");
	expect_attach_error(offsetof(shm_seg_hdr, total_bytes), 8, SBC_E_SHM_SIZE, "sizes");
	/* A damaged ring header in the directory is caught too. */
	expect_attach_error(offsetof(shm_seg_hdr, rings[3].offset) + 1, 1, SBC_E_SHM_SIZE, "ring 3");

	/* Missing segment: errno, and a hint. */
	assert_int_equal(shm_seg_attach("/sbc-test-does-not-exist", &reader, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "sbc-control"));

	/* Too small an object. */
	int fd = shm_open(seg_name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64), 0);
	close(fd);
	assert_int_equal(shm_seg_attach(seg_name, &reader, err, sizeof(err)), SBC_E_SHM_SIZE);
	assert_non_null(strstr(err, "smaller"));
}

static void test_unrelated_fd_is_never_a_doorbell(void **state)
{
	shm_seg_config cfg = default_cfg();
	char err[256];
	shm_seg *seg, *reader;
	(void)state;

	assert_int_equal(shm_seg_create(seg_name, &cfg, &seg, err, sizeof(err)), 0);
	/* Pretend the recorded number is a plain file in the attaching process. */
	shm_seg_hdr *h = shm_seg_header(seg);
	int saved = h->doorbells[0].fd;
	int fd = open("/dev/null", O_RDONLY);
	h->doorbells[0].fd = fd;
	assert_int_equal(shm_seg_attach(seg_name, &reader, err, sizeof(err)), 0);
	assert_int_equal(shm_seg_doorbell(reader, (enum shm_role)h->doorbells[0].role, h->doorbells[0].idx), -1);
	shm_ring_prod p;
	assert_int_equal(shm_seg_producer(reader, &p, SHM_ROLE_SIGNAL, 0, SHM_ROLE_CONTROL, 0), 0);
	assert_int_equal(p.doorbell_fd, -1);
	shm_seg_detach(reader);
	h->doorbells[0].fd = saved;
	close(fd);
	shm_seg_detach(seg);
}

static void test_hello_and_message_checks(void **state)
{
	sbc_msg_hello mine, peer;
	unsigned bad = 0;
	(void)state;

	sbc_msg_hello_fill(&mine, SHM_ROLE_SIGNAL, 1);
	peer = mine;
	assert_int_equal(sbc_msg_hello_check(&peer, &bad), 0);
	peer.sizes[SBC_MSG_MEDIA_CREATE] += 8;
	assert_int_equal(sbc_msg_hello_check(&peer, &bad), SBC_E_MSG_VERSION);
	assert_int_equal(bad, SBC_MSG_MEDIA_CREATE);

	union {
		shm_rec rec;
		uint8_t raw[sizeof(shm_rec) + sizeof(sbc_msg_text)];
	} u;
	memset(&u, 0, sizeof(u));
	u.rec.type = SBC_MSG_CONFIG_CHANGED;
	u.rec.version = SBC_MSG_V_CONFIG_CHANGED;
	u.rec.len = sizeof(sbc_msg_config_changed);
	assert_int_equal(sbc_msg_check(&u.rec), 0);
	u.rec.len -= 1;
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_PARSE);
	u.rec.len += 1;
	u.rec.version = 99;
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_MSG_VERSION);
	u.rec.type = 63; /* unused number */
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_PARSE);

	/* Text messages: the declared text length must fit the record. */
	sbc_msg_text *t = (sbc_msg_text *)u.rec.data;
	u.rec.type = SBC_MSG_STATS_REPLY;
	u.rec.version = SBC_MSG_V_STATS;
	t->len = 10;
	u.rec.len = (uint32_t)offsetof(sbc_msg_text, text) + 10;
	assert_int_equal(sbc_msg_check(&u.rec), 0);
	t->len = 11;
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_layout_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_validation_names_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrelated_fd_is_never_a_doorbell, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_and_message_checks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
