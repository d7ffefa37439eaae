/* shared/msg: the lease message of the media protocol (v3): MEDIA_LEASES
 * is a fixed-size message checked like the others, a batch fits every ring
 * record, an old (v2) media message is refused, and a HELLO from
 * sbc_msg_hello_fill asks for no leases (seq 0) while HELLOs that differ
 * only in seq still agree on the sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "sbc/msg.h"

static void leases_message_checked(void **state)
{
	(void)state;
	union {
		shm_rec rec;
		uint8_t raw[sizeof(shm_rec) + sizeof(sbc_msg_media_leases) + 8];
	} u;
	memset(&u, 0, sizeof(u));
	assert_int_equal(sbc_msg_size(SBC_MSG_MEDIA_LEASES), sizeof(sbc_msg_media_leases));
	assert_int_equal(sbc_msg_version(SBC_MSG_MEDIA_LEASES), SBC_MSG_V_MEDIA);
	assert_true(SBC_MSG_V_MEDIA >= 3);
	/* a batch of SBC_MSG_LEASES_MAX stays small: well inside a ring record */
	assert_true(sizeof(sbc_msg_media_leases) <= 512);
	u.rec.type = SBC_MSG_MEDIA_LEASES;
	u.rec.version = SBC_MSG_V_MEDIA;
	u.rec.len = sizeof(sbc_msg_media_leases);
	assert_int_equal(sbc_msg_check(&u.rec), 0);
	u.rec.len += 8;
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_PARSE);
	u.rec.len -= 16;
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_PARSE);
	u.rec.len += 8;
	u.rec.version = 2; /* the protocol before leases */
	assert_int_equal(sbc_msg_check(&u.rec), SBC_E_MSG_VERSION);
	/* a CREATE carries the lease it names */
	u.rec.type = SBC_MSG_MEDIA_CREATE;
	u.rec.version = SBC_MSG_V_MEDIA;
	u.rec.len = sizeof(sbc_msg_media);
	assert_int_equal(sbc_msg_check(&u.rec), 0);
	assert_true(offsetof(sbc_msg_media, lease_epoch) + sizeof(uint32_t) <= sizeof(sbc_msg_media));
}

static void hello_seq(void **state)
{
	(void)state;
	sbc_msg_hello a, b;
	unsigned bad = 0;
	sbc_msg_hello_fill(&a, 1, 2);
	assert_int_equal(a.seq, 0);
	assert_int_equal(a.sizes[SBC_MSG_MEDIA_LEASES], sizeof(sbc_msg_media_leases));
	b = a;
	b.seq = 7;
	assert_int_equal(sbc_msg_hello_check(&b, &bad), 0);
	b.sizes[SBC_MSG_MEDIA_LEASES] = 0; /* a peer without leases */
	assert_int_equal(sbc_msg_hello_check(&b, &bad), SBC_E_MSG_VERSION);
	assert_int_equal(bad, SBC_MSG_MEDIA_LEASES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(leases_message_checked),
		cmocka_unit_test(hello_seq),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
