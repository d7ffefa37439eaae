/* sbc-media: SRTP module — known answers through the replaced (BoringSSL)
 * cipher and auth types, byte-identity with Debian's stock (NSS) libsrtp2 for
 * every suite, wrong keys, replays, hostile input, and the fail-closed
 * start-up check.
 *
 * main() forks a child BEFORE the types are replaced: the child runs the
 * stock library over a fixed traffic set and sends the protected packets
 * back through a pipe; the parent then installs the BoringSSL types and must
 * produce (and accept) the very same bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/aes.h>
#include <openssl/aead.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/srtp.h>

#include "sbc/err.h"
#include "../../../sbc-media/src/srtp.h"

/* Exported by libsrtp2 (crypto_kernel.h is not installed). */
srtp_err_status_t srtp_crypto_kernel_alloc_cipher(srtp_cipher_type_id_t id,
						  srtp_cipher_pointer_t *cp,
						  int key_len, int tag_len);
srtp_err_status_t srtp_crypto_kernel_alloc_auth(srtp_auth_type_id_t id,
						srtp_auth_pointer_t *ap,
						int key_len, int tag_len);

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		int v;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(n < cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* the traffic set, run by the stock child and by the parent                 */

#define NKEYS 2
#define NRTP 14
#define NRTCP 4

static void make_key(unsigned suite, int k, uint8_t *key, int len)
{
	for (int i = 0; i < len; i++)
		key[i] = (uint8_t)(0xa5 ^ (i * 29 + k * 101 + suite * 3));
}

/* RTP packet p: sequence numbers cross a wrap (ROC 0 -> 1); payload sizes
 * 0..240; some with CSRCs and a header extension (not encrypted). */
static int make_rtp(int k, int p, uint8_t *pkt)
{
	static const uint16_t seqs[NRTP] = {65528, 65529, 65531, 65530, 65533, 65534,
					    65535, 0, 1, 2, 5, 4, 100, 30000};
	int cc = (p % 5 == 2) ? 2 : 0, x = (p % 4 == 1);
	int plen = (p * 37) % 241;
	int n = 0;

	pkt[n++] = (uint8_t)(0x80 | (x << 4) | cc);
	pkt[n++] = (uint8_t)(p == 3 ? 0x80 | 8 : 0);
	pkt[n++] = (uint8_t)(seqs[p] >> 8);
	pkt[n++] = (uint8_t)seqs[p];
	for (int i = 0; i < 4; i++)
		pkt[n++] = (uint8_t)(p * 160 >> (24 - 8 * i));
	pkt[n++] = 0xca;
	pkt[n++] = 0xfe;
	pkt[n++] = (uint8_t)(0xb0 + k);
	pkt[n++] = 0x0d;
	for (int i = 0; i < cc * 4; i++)
		pkt[n++] = (uint8_t)(0x10 + i);
	if (x) {
		pkt[n++] = 0xbe;
		pkt[n++] = 0xde;
		pkt[n++] = 0;
		pkt[n++] = 1;
		for (int i = 0; i < 4; i++)
			pkt[n++] = (uint8_t)(0x20 + i);
	}
	for (int i = 0; i < plen; i++)
		pkt[n++] = (uint8_t)(i * 7 + p * 3 + k);
	return n;
}

static int make_rtcp(int k, int p, uint8_t *pkt)
{
	int words = 6 + p * 3; /* SR + report blocks-ish */
	int n = (words + 1) * 4;

	pkt[0] = 0x80 | (uint8_t)p;
	pkt[1] = 200;
	pkt[2] = 0;
	pkt[3] = (uint8_t)words;
	pkt[4] = 0xca;
	pkt[5] = 0xfe;
	pkt[6] = (uint8_t)(0xb0 + k);
	pkt[7] = 0x0d;
	for (int i = 8; i < n; i++)
		pkt[i] = (uint8_t)(i * 11 + p + k);
	return n;
}

/* The test's own mapping of suites to libsrtp2 policies (independent of
 * srtp_ctx.c's). */
static void stock_policy(unsigned s, srtp_policy_t *p)
{
	switch (s) {
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_rtp_default(&p->rtp);
		srtp_crypto_policy_set_rtcp_default(&p->rtcp);
		break;
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
		srtp_crypto_policy_set_rtcp_default(&p->rtcp);
		break;
	case SBC_SRTP_AES_256_CM_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
		break;
	case SBC_SRTP_AES_256_CM_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(&p->rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
		break;
	case SBC_SRTP_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
		break;
	case SBC_SRTP_AEAD_AES_256_GCM:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
		break;
	case SBC_SRTP_NULL_HMAC_SHA1_80:
		srtp_crypto_policy_set_null_cipher_hmac_sha1_80(&p->rtp);
		srtp_crypto_policy_set_null_cipher_hmac_sha1_80(&p->rtcp);
		break;
	default:
		abort();
	}
}

typedef struct blob {
	uint8_t *b;
	size_t len, cap;
} blob;

static void blob_put(blob *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->b = realloc(o->b, o->cap);
		if (!o->b)
			abort();
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

static void put_pkt(blob *o, const uint8_t *pkt, int n)
{
	uint16_t l = (uint16_t)n;
	blob_put(o, &l, 2);
	blob_put(o, pkt, (size_t)n);
}

/* Child: the stock library over the whole traffic set. */
static int stock_traffic(blob *o)
{
	uint8_t key[64], pkt[512];

	if (srtp_init() != srtp_err_status_ok)
		return 1;
	/* make sure this really is the stock (NSS) library, not our types */
	srtp_cipher_t *c;
	if (srtp_crypto_kernel_alloc_cipher(SRTP_AES_ICM_128, &c, 30, 0) != srtp_err_status_ok)
		return 7;
	bool stock = strstr(c->type->description, "BoringSSL") == NULL;
	fprintf(stderr, "# stock child: AES-ICM-128 type is '%s'\n", c->type->description);
	srtp_cipher_dealloc(c);
	if (!stock)
		return 8;
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		for (int k = 0; k < NKEYS; k++) {
			srtp_policy_t pol;
			srtp_t sess;
			memset(&pol, 0, sizeof(pol));
			stock_policy(s, &pol);
			make_key(s, k, key, med_srtp_key_len(s));
			pol.key = key;
			pol.ssrc.type = ssrc_any_outbound;
			if (srtp_create(&sess, &pol) != srtp_err_status_ok)
				return 2;
			for (int p = 0; p < NRTP; p++) {
				int n = make_rtp(k, p, pkt);
				if (srtp_protect(sess, pkt, &n) != srtp_err_status_ok)
					return 3;
				put_pkt(o, pkt, n);
			}
			for (int p = 0; p < NRTCP; p++) {
				int n = make_rtcp(k, p, pkt);
				if (srtp_protect_rtcp(sess, pkt, &n) != srtp_err_status_ok)
					return 4;
				put_pkt(o, pkt, n);
			}
			srtp_dealloc(sess);
		}
		if (getenv("SBC_SRTP_PRINT_KAT")) {
			/* the digest table of srtp_ctx.c, from the stock types */
			uint8_t d[32];
			char err[160];
			if (med_srtp__suite_digest(s, d, err, sizeof(err)) != 0)
				return 5;
			fprintf(stderr, "\t[%u] = {", s);
			for (int i = 0; i < 32; i++)
				fprintf(stderr, "%s0x%02x,", i % 12 == 0 ? "\n\t\t" : " ", d[i]);
			fprintf(stderr, "\n\t},\n");
		}
	}
	return 0;
}

static blob g_stock;
static int g_stock_rc = -1;
static char g_init_err[256];
static int g_init_rc;

static void run_stock_child(void)
{
	int fd[2];
	pid_t pid;
	int st;

	if (pipe(fd) != 0)
		abort();
	pid = fork();
	if (pid == 0) {
		blob o = {0};
		int rc;
		close(fd[0]);
		rc = stock_traffic(&o);
		if (rc == 0 && write(fd[1], o.b, o.len) != (ssize_t)o.len)
			rc = 9;
		_exit(rc);
	}
	close(fd[1]);
	for (;;) {
		uint8_t buf[8192];
		ssize_t r = read(fd[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		blob_put(&g_stock, buf, (size_t)r);
	}
	close(fd[0]);
	waitpid(pid, &st, 0);
	g_stock_rc = WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

/* ------------------------------------------------------------------------ */

static void init_succeeded(void **state)
{
	assert_int_equal(g_init_rc, 0);
	assert_true(med_srtp_ready());
	assert_non_null(strstr(g_init_err, "self-check passed"));
	/* a second call reports the first result */
	char err[64];
	assert_int_equal(med_srtp_global_init(err, sizeof(err)), 0);
}

static void suite_names_and_lengths(void **state)
{
	static const struct {
		const char *name;
		int suite, key, salt, total, rtp, rtcp;
	} t[] = {
		{"AES_CM_128_HMAC_SHA1_80", SBC_SRTP_AES_CM_128_HMAC_SHA1_80, 16, 14, 30, 10, 14},
		{"AES_CM_128_HMAC_SHA1_32", SBC_SRTP_AES_CM_128_HMAC_SHA1_32, 16, 14, 30, 4, 14},
		{"AES_256_CM_HMAC_SHA1_80", SBC_SRTP_AES_256_CM_HMAC_SHA1_80, 32, 14, 46, 10, 14},
		{"AES_256_CM_HMAC_SHA1_32", SBC_SRTP_AES_256_CM_HMAC_SHA1_32, 32, 14, 46, 4, 14},
		{"AEAD_AES_128_GCM", SBC_SRTP_AEAD_AES_128_GCM, 16, 12, 28, 16, 20},
		{"AEAD_AES_256_GCM", SBC_SRTP_AEAD_AES_256_GCM, 32, 12, 44, 16, 20},
		{"NULL_HMAC_SHA1_80", SBC_SRTP_NULL_HMAC_SHA1_80, 16, 14, 30, 10, 14},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(med_srtp_suite_from_name(t[i].name, strlen(t[i].name)), t[i].suite);
		assert_string_equal(med_srtp_suite_name((unsigned)t[i].suite), t[i].name);
		assert_int_equal(med_srtp_master_key_len((unsigned)t[i].suite), t[i].key);
		assert_int_equal(med_srtp_master_salt_len((unsigned)t[i].suite), t[i].salt);
		assert_int_equal(med_srtp_key_len((unsigned)t[i].suite), t[i].total);
		assert_int_equal(med_srtp_rtp_overhead((unsigned)t[i].suite), t[i].rtp);
		assert_int_equal(med_srtp_rtcp_overhead((unsigned)t[i].suite), t[i].rtcp);
		assert_true(t[i].rtcp <= MED_SRTP_MAX_TRAILER);
	}
	assert_int_equal(med_srtp_suite_from_name("AES_CM_256_HMAC_SHA1_80", 23),
			 SBC_SRTP_AES_256_CM_HMAC_SHA1_80);
	/* prefix, case, junk, NONE, NULL */
	assert_int_equal(med_srtp_suite_from_name("AES_CM_128_HMAC_SHA1_8", 22), SBC_E_UNSUPPORTED);
	assert_int_equal(med_srtp_suite_from_name("aes_cm_128_hmac_sha1_80", 23), SBC_E_UNSUPPORTED);
	assert_int_equal(med_srtp_suite_from_name("AES_CM_128_HMAC_SHA1_80x", 24), SBC_E_UNSUPPORTED);
	assert_int_equal(med_srtp_suite_from_name("NONE", 4), SBC_E_UNSUPPORTED);
	assert_int_equal(med_srtp_suite_from_name(NULL, 0), SBC_E_UNSUPPORTED);
	assert_int_equal(med_srtp_key_len(SBC_SRTP_NONE), 0);
	assert_int_equal(med_srtp_key_len(SBC_SRTP_SUITE_MAX_), SBC_E_INVAL);
	assert_null(med_srtp_suite_name(99));
}

/* Every suite, RTP and RTCP, two keys: the replaced types give the stock
 * library's bytes, and accept them back. */
static void identical_to_stock_library(void **state)
{
	uint8_t key[64], pkt[512], orig[512];
	size_t off = 0;
	unsigned checked = 0;

	assert_int_equal(g_stock_rc, 0);
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		for (int k = 0; k < NKEYS; k++) {
			med_srtp_ctx out, in;
			make_key(s, k, key, med_srtp_key_len(s));
			assert_int_equal(med_srtp_ctx_init(&out, s, key, (size_t)med_srtp_key_len(s),
							   true, NULL), 0);
			assert_int_equal(med_srtp_ctx_init(&in, s, key, (size_t)med_srtp_key_len(s),
							   false, NULL), 0);
			for (int p = 0; p < NRTP + NRTCP; p++) {
				bool rtcp = p >= NRTP;
				int n = rtcp ? make_rtcp(k, p - NRTP, pkt) : make_rtp(k, p, pkt);
				int plain = n;
				uint16_t l;
				memcpy(orig, pkt, (size_t)n);
				if (rtcp)
					assert_int_equal(med_srtp_protect_rtcp(&out, pkt, &n, sizeof(pkt)), 0);
				else
					assert_int_equal(med_srtp_protect(&out, pkt, &n, sizeof(pkt)), 0);
				assert_true(off + 2 <= g_stock.len);
				memcpy(&l, g_stock.b + off, 2);
				off += 2;
				assert_int_equal(n, l);
				if (memcmp(pkt, g_stock.b + off, l) != 0)
					fail_msg("suite %s key %d packet %d differs from stock libsrtp2",
						 med_srtp_suite_name(s), k, p);
				/* the stock library's packet decrypts with ours */
				memcpy(pkt, g_stock.b + off, l);
				off += l;
				n = l;
				if (rtcp)
					assert_int_equal(med_srtp_unprotect_rtcp(&in, pkt, &n), 0);
				else
					assert_int_equal(med_srtp_unprotect(&in, pkt, &n), 0);
				assert_int_equal(n, plain);
				assert_memory_equal(pkt, orig, (size_t)plain);
				checked++;
			}
			med_srtp_ctx_destroy(&out);
			med_srtp_ctx_destroy(&in);
		}
	}
	assert_int_equal(off, g_stock.len);
	assert_int_equal(checked, (SBC_SRTP_SUITE_MAX_ - 1) * NKEYS * (NRTP + NRTCP));
}

/* RFC 3711 B.2 (AES-128) and RFC 6188 7.1 (AES-256) keystreams through the
 * cipher type libsrtp2 now has installed, including counters FEFF..FF01 and
 * a keystream split across several encrypt calls. */
static void rfc3711_aes_cm_keystream(void **state)
{
	srtp_cipher_t *c;
	uint8_t key[46], iv[16], buf[48];
	uint8_t want[96];

	assert_int_equal(srtp_crypto_kernel_alloc_cipher(SRTP_AES_ICM_128, &c, 30, 0),
			 srtp_err_status_ok);
	assert_non_null(strstr(c->type->description, "BoringSSL"));
	unhex("2B7E151628AED2A6ABF7158809CF4F3C F0F1F2F3F4F5F6F7F8F9FAFBFCFD", key, sizeof(key));
	assert_int_equal(srtp_cipher_init(c, key), srtp_err_status_ok);
	memset(iv, 0, sizeof(iv));
	assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_encrypt), srtp_err_status_ok);
	memset(buf, 0, sizeof(buf));
	uint32_t n = 7; /* split: 7 + 25 + 16 */
	assert_int_equal(srtp_cipher_encrypt(c, buf, &n), srtp_err_status_ok);
	n = 25;
	assert_int_equal(srtp_cipher_encrypt(c, buf + 7, &n), srtp_err_status_ok);
	n = 16;
	assert_int_equal(srtp_cipher_encrypt(c, buf + 32, &n), srtp_err_status_ok);
	unhex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB"
	      "41E95B3BB0A2E8DD477901E4FCA894C0", want, sizeof(want));
	assert_memory_equal(buf, want, 48);
	/* counter FEFF: iv carries the block index 0xFEFF in its last bytes */
	memset(iv, 0, sizeof(iv));
	iv[14] = 0xfe;
	iv[15] = 0xff;
	assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_encrypt), srtp_err_status_ok);
	memset(buf, 0, sizeof(buf));
	n = 48;
	assert_int_equal(srtp_cipher_encrypt(c, buf, &n), srtp_err_status_ok);
	unhex("EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE"
	      "6A2CC3787889374FBEB4C81B17BA6C44", want, sizeof(want));
	assert_memory_equal(buf, want, 48);
	/* zero-length call is harmless */
	n = 0;
	assert_int_equal(srtp_cipher_encrypt(c, buf, &n), srtp_err_status_ok);
	srtp_cipher_dealloc(c);

	assert_int_equal(srtp_crypto_kernel_alloc_cipher(SRTP_AES_ICM_256, &c, 46, 0),
			 srtp_err_status_ok);
	assert_non_null(strstr(c->type->description, "BoringSSL"));
	unhex("57f82fe3613fd170a85ec93c40b1f0922ec4cb0dc025b58272147cc438944a98"
	      "f0f1f2f3f4f5f6f7f8f9fafbfcfd", key, sizeof(key));
	assert_int_equal(srtp_cipher_init(c, key), srtp_err_status_ok);
	memset(iv, 0, sizeof(iv));
	assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_encrypt), srtp_err_status_ok);
	memset(buf, 0, sizeof(buf));
	n = 32;
	assert_int_equal(srtp_cipher_encrypt(c, buf, &n), srtp_err_status_ok);
	unhex("92bdd28a93c3f52511c677d08b5515a4 9da71b2378a854f67050756ded165bac", want,
	      sizeof(want));
	assert_memory_equal(buf, want, 32);
	srtp_cipher_dealloc(c);

	/* a wrong key length is refused by the type */
	assert_int_not_equal(srtp_crypto_kernel_alloc_cipher(SRTP_AES_ICM_128, &c, 46, 0),
			     srtp_err_status_ok);
}

/* RFC 3711 B.3 key derivation, end to end: the master key/salt of B.3 in an
 * AES_CM_128_HMAC_SHA1_80 context must protect a packet exactly as AES-CTR
 * with the derived session key/salt and HMAC-SHA1 with the derived auth key
 * (B.3's values, computed here straight on BoringSSL) do. */
static void rfc3711_key_derivation(void **state)
{
	uint8_t master[30], kenc[16], ksalt[14], kauth[20];
	uint8_t pkt[64], want[64], ivb[16], ecount[16], mac[20];
	unsigned num = 0, maclen = 0;
	AES_KEY ak;
	med_srtp_ctx c;
	int n;

	unhex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6", master,
	      sizeof(master));
	unhex("C61E7A93744F39EE10734AFE3FF7A087", kenc, sizeof(kenc));
	unhex("30CBBC08863D8C85D49DB34A9AE1", ksalt, sizeof(ksalt));
	unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", kauth, sizeof(kauth));

	assert_int_equal(med_srtp_ctx_init(&c, SBC_SRTP_AES_CM_128_HMAC_SHA1_80, master, 30,
					   true, NULL), 0);
	/* seq 0x1234, ROC 0, SSRC 0xdeadbeef, 20-byte payload */
	n = 12 + 20;
	memset(pkt, 0, sizeof(pkt));
	unhex("80001234 00000000 deadbeef", pkt, 12);
	for (int i = 12; i < n; i++)
		pkt[i] = (uint8_t)i;
	memcpy(want, pkt, (size_t)n);
	assert_int_equal(med_srtp_protect(&c, pkt, &n, sizeof(pkt)), 0);
	assert_int_equal(n, 12 + 20 + 10);

	/* IV = (k_s << 16) ^ (SSRC << 64) ^ (index << 16) */
	memset(ivb, 0, sizeof(ivb));
	memcpy(ivb, ksalt, 14);
	ivb[4] ^= 0xde, ivb[5] ^= 0xad, ivb[6] ^= 0xbe, ivb[7] ^= 0xef;
	ivb[12] ^= 0x12, ivb[13] ^= 0x34;
	AES_set_encrypt_key(kenc, 128, &ak);
	AES_ctr128_encrypt(want + 12, want + 12, 20, &ak, ivb, ecount, &num);
	memcpy(want + 32, "\0\0\0\0", 4); /* ROC, authenticated, not sent */
	HMAC(EVP_sha1(), kauth, 20, want, 36, mac, &maclen);
	memcpy(want + 32, mac, 10);
	assert_memory_equal(pkt, want, 42);
	med_srtp_ctx_destroy(&c);
}

/* RFC 7714 16.1.1/16.2.1 (SRTP) and 17.1.1/17.2.1 (SRTCP) through the
 * installed GCM types, called the way libsrtp2's srtp.c calls them: SRTCP
 * gives the AAD in two calls; decrypt's length includes the tag. */
static void rfc7714_gcm(void **state)
{
	static const struct {
		int id, klen;
		const char *key, *iv, *aad1, *aad2, *pt, *ct;
	} t[] = {
		{SRTP_AES_GCM_128, 28, "000102030405060708090a0b0c0d0e0f 517569642070726f2071756f",
		 "51753c6580c2726f20718414", "8040f17b8041f8d35501a0b2", "",
		 "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573",
		 "f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833"
		 "899d7f27beb16a9152cf765ee4390cce"},
		{SRTP_AES_GCM_256, 44,
		 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		 "517569642070726f2071756f",
		 "51753c6580c2726f20718414", "8040f17b8041f8d35501a0b2", "",
		 "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573",
		 "32b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b"
		 "7aa3db36dfffd6b0f9bb7878d7a76c13"},
		{SRTP_AES_GCM_128, 28, "000102030405060708090a0b0c0d0e0f 517569642070726f2071756f",
		 "517524055203726f207170bb", "81c8000d4d617273", "800005d4",
		 "4e5450314e545032525450200000042a0000e9304c756e61"
		 "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
		 "63e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b46"
		 "86303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade"},
		{SRTP_AES_GCM_256, 44,
		 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		 "517569642070726f2071756f",
		 "517524055203726f207170bb", "81c8000d4d617273", "800005d4",
		 "4e5450314e545032525450200000042a0000e9304c756e61"
		 "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef",
		 "d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50a2eaa5c1110555be8415f658"
		 "c61de0476f1b6fad1d1eb30c4446839f57ff6f6cb26ac3be"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t key[64], iv[12], aad1[16], aad2[8], pt[64], ct[96], buf[96];
		size_t kl = unhex(t[i].key, key, sizeof(key));
		size_t a1 = unhex(t[i].aad1, aad1, sizeof(aad1));
		size_t a2 = unhex(t[i].aad2, aad2, sizeof(aad2));
		size_t pl = unhex(t[i].pt, pt, sizeof(pt));
		size_t cl = unhex(t[i].ct, ct, sizeof(ct));
		srtp_cipher_t *c;
		uint32_t n, tl = 0;

		unhex(t[i].iv, iv, sizeof(iv));
		assert_int_equal((int)kl, t[i].klen);
		assert_int_equal(cl, pl + 16);
		assert_int_equal(srtp_crypto_kernel_alloc_cipher((srtp_cipher_type_id_t)t[i].id, &c,
								 t[i].klen, 16),
				 srtp_err_status_ok);
		assert_non_null(strstr(c->type->description, "BoringSSL"));
		assert_int_equal(c->algorithm, t[i].id);
		assert_int_equal(srtp_cipher_init(c, key), srtp_err_status_ok);

		assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_encrypt), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_set_aad(c, aad1, (uint32_t)a1), srtp_err_status_ok);
		if (a2)
			assert_int_equal(srtp_cipher_set_aad(c, aad2, (uint32_t)a2), srtp_err_status_ok);
		memcpy(buf, pt, pl);
		n = (uint32_t)pl;
		assert_int_equal(srtp_cipher_encrypt(c, buf, &n), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_get_tag(c, buf + n, &tl), srtp_err_status_ok);
		assert_int_equal(tl, 16);
		assert_memory_equal(buf, ct, cl);

		/* decrypt: length includes the tag, shrinks by it */
		assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_decrypt), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_set_aad(c, aad1, (uint32_t)a1), srtp_err_status_ok);
		if (a2)
			assert_int_equal(srtp_cipher_set_aad(c, aad2, (uint32_t)a2), srtp_err_status_ok);
		n = (uint32_t)cl;
		assert_int_equal(srtp_cipher_decrypt(c, buf, &n), srtp_err_status_ok);
		assert_int_equal(n, pl);
		assert_memory_equal(buf, pt, pl);

		/* a flipped tag bit is an authentication failure */
		memcpy(buf, ct, cl);
		buf[cl - 1] ^= 0x40;
		assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_decrypt), srtp_err_status_ok);
		assert_int_equal(srtp_cipher_set_aad(c, aad1, (uint32_t)a1), srtp_err_status_ok);
		n = (uint32_t)cl;
		assert_int_equal(srtp_cipher_decrypt(c, buf, &n), srtp_err_status_auth_fail);
		/* shorter than the tag */
		assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_decrypt), srtp_err_status_ok);
		n = 15;
		assert_int_not_equal(srtp_cipher_decrypt(c, buf, &n), srtp_err_status_ok);
		srtp_cipher_dealloc(c);
	}
}

/* SRTCP without confidentiality calls encrypt with no data, then get_tag;
 * unprotect calls decrypt with the tag alone. The tag must be GMAC over the
 * AAD: compare with BoringSSL's AEAD on an empty plaintext. */
static void gcm_tag_only(void **state)
{
	uint8_t key[28], iv[12], aad[64 + 4], tag[16], ref[16];
	size_t reflen = 0;
	srtp_cipher_t *c;
	uint32_t n = 0, tl = 0;
	EVP_AEAD_CTX a;

	for (int i = 0; i < 28; i++)
		key[i] = (uint8_t)(i + 1);
	for (int i = 0; i < 12; i++)
		iv[i] = (uint8_t)(0xf0 + i);
	for (int i = 0; i < 68; i++)
		aad[i] = (uint8_t)(i * 3);
	assert_int_equal(srtp_crypto_kernel_alloc_cipher(SRTP_AES_GCM_128, &c, 28, 16),
			 srtp_err_status_ok);
	assert_int_equal(srtp_cipher_init(c, key), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_encrypt), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_set_aad(c, aad, 64), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_set_aad(c, aad + 64, 4), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_encrypt(c, NULL, &n), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_get_tag(c, tag, &tl), srtp_err_status_ok);
	assert_int_equal(tl, 16);

	assert_int_equal(EVP_AEAD_CTX_init(&a, EVP_aead_aes_128_gcm(), key, 16, 16, NULL), 1);
	assert_int_equal(EVP_AEAD_CTX_seal(&a, ref, &reflen, sizeof(ref), iv, 12, NULL, 0, aad, 68),
			 1);
	EVP_AEAD_CTX_cleanup(&a);
	assert_int_equal(reflen, 16);
	assert_memory_equal(tag, ref, 16);

	assert_int_equal(srtp_cipher_set_iv(c, iv, srtp_direction_decrypt), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_set_aad(c, aad, 64), srtp_err_status_ok);
	assert_int_equal(srtp_cipher_set_aad(c, aad + 64, 4), srtp_err_status_ok);
	n = 16;
	assert_int_equal(srtp_cipher_decrypt(c, tag, &n), srtp_err_status_ok);
	assert_int_equal(n, 0);
	srtp_cipher_dealloc(c);
}

/* HMAC-SHA1 through the installed auth type: RFC 2202 case 3 (50 x 0xdd,
 * key 20 x 0xaa) fed in pieces the way srtp_protect does (start, update,
 * compute with the last bytes), truncated tags, a short key (case 2). */
static void hmac_sha1_type(void **state)
{
	srtp_auth_t *a;
	uint8_t key[80], data[80], tag[20], want[20];

	assert_int_equal(srtp_crypto_kernel_alloc_auth(SRTP_HMAC_SHA1, &a, 20, 10),
			 srtp_err_status_ok);
	assert_non_null(strstr(a->type->description, "BoringSSL"));
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	assert_int_equal(srtp_auth_init(a, key), srtp_err_status_ok);
	for (int round = 0; round < 2; round++) { /* state resets after compute */
		assert_int_equal(srtp_auth_start(a), srtp_err_status_ok);
		assert_int_equal(srtp_auth_update(a, data, 17), srtp_err_status_ok);
		assert_int_equal(srtp_auth_update(a, data + 17, 29), srtp_err_status_ok);
		memset(tag, 0, sizeof(tag));
		assert_int_equal(srtp_auth_compute(a, data + 46, 4, tag), srtp_err_status_ok);
		unhex("125d7342b9ac11cd91a39af48aa17b4f63f175d3", want, sizeof(want));
		assert_memory_equal(tag, want, 10);
		assert_int_equal(tag[10], 0); /* only out_len bytes written */
	}
	srtp_auth_dealloc(a);

	/* RFC 2202 case 2: short key, full tag */
	assert_int_equal(srtp_crypto_kernel_alloc_auth(SRTP_HMAC_SHA1, &a, 4, 20),
			 srtp_err_status_ok);
	assert_int_equal(srtp_auth_init(a, (const uint8_t *)"Jefe"), srtp_err_status_ok);
	const char *msg = "what do ya want for nothing?";
	assert_int_equal(srtp_auth_compute(a, (const uint8_t *)msg, (int)strlen(msg), tag),
			 srtp_err_status_ok);
	unhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", want, sizeof(want));
	assert_memory_equal(tag, want, 20);
	srtp_auth_dealloc(a);
	/* keys longer than libsrtp2's maximum and tags longer than SHA-1: refused */
	assert_int_not_equal(srtp_crypto_kernel_alloc_auth(SRTP_HMAC_SHA1, &a, 80, 20),
			     srtp_err_status_ok);
	assert_int_not_equal(srtp_crypto_kernel_alloc_auth(SRTP_HMAC_SHA1, &a, 20, 21),
			     srtp_err_status_ok);
}

static int protect_one(med_srtp_ctx *c, bool rtcp, uint8_t *pkt, int *n)
{
	return rtcp ? med_srtp_protect_rtcp(c, pkt, n, 512) : med_srtp_protect(c, pkt, n, 512);
}

static int unprotect_one(med_srtp_ctx *c, bool rtcp, uint8_t *pkt, int *n)
{
	return rtcp ? med_srtp_unprotect_rtcp(c, pkt, n) : med_srtp_unprotect(c, pkt, n);
}

/* Wrong key -> SBC_E_AUTH; the same packet twice -> SBC_E_REPLAY; a packet
 * far behind the window -> SBC_E_REPLAY; flipped bits anywhere -> AUTH. */
static void wrong_key_replay_tamper(void **state)
{
	uint8_t key[64], bad[64], pkt[512], copy[1024];

	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		int kl = med_srtp_key_len(s);
		make_key(s, 0, key, kl);
		memcpy(bad, key, (size_t)kl);
		bad[kl - 1] ^= 0x01; /* last salt bit only */
		for (int rtcp = 0; rtcp < 2; rtcp++) {
			med_srtp_ctx out, in, wrong;
			assert_int_equal(med_srtp_ctx_init(&out, s, key, (size_t)kl, true, NULL), 0);
			assert_int_equal(med_srtp_ctx_init(&in, s, key, (size_t)kl, false, NULL), 0);
			assert_int_equal(med_srtp_ctx_init(&wrong, s, bad, (size_t)kl, false, NULL), 0);
			int first = 0, m;
			for (int p = 0; p < 300; p++) {
				int n = rtcp ? make_rtcp(0, p % NRTCP, pkt) : make_rtp(0, 13, pkt);
				if (!rtcp) { /* consecutive sequence numbers from 1000 */
					pkt[2] = (uint8_t)((1000 + p) >> 8);
					pkt[3] = (uint8_t)(1000 + p);
				}
				assert_int_equal(protect_one(&out, rtcp, pkt, &n), 0);
				if (p == 0) {
					memcpy(copy, pkt, (size_t)n);
					first = n;
				}
				memcpy(copy + 256, pkt, (size_t)n);
				m = n;
				assert_int_equal(unprotect_one(&wrong, rtcp, copy + 256, &m), SBC_E_AUTH);
				/* tamper: header, payload, tag */
				int pos[3] = {1, n / 2, n - 1 - (rtcp ? 4 : 0)};
				for (int t = 0; t < 3; t++) {
					memcpy(copy + 256, pkt, (size_t)n);
					copy[256 + pos[t]] ^= 0x04;
					m = n;
					int r = unprotect_one(&in, rtcp, copy + 256, &m);
					assert_true(r == SBC_E_AUTH || r == SBC_E_PARSE);
				}
				m = n;
				assert_int_equal(unprotect_one(&in, rtcp, pkt, &m), 0);
			}
			/* the first packet is now 299 behind: outside the window */
			m = first;
			memcpy(pkt, copy, (size_t)first);
			assert_int_equal(unprotect_one(&in, rtcp, pkt, &m), SBC_E_REPLAY);
			/* a fresh packet, delivered twice */
			int n = rtcp ? make_rtcp(0, 1, pkt) : make_rtp(0, 13, pkt);
			if (!rtcp) {
				pkt[2] = (uint8_t)(1300 >> 8);
				pkt[3] = (uint8_t)1300;
			}
			assert_int_equal(protect_one(&out, rtcp, pkt, &n), 0);
			memcpy(copy, pkt, (size_t)n);
			m = n;
			assert_int_equal(unprotect_one(&in, rtcp, pkt, &m), 0);
			m = n;
			assert_int_equal(unprotect_one(&in, rtcp, copy, &m), SBC_E_REPLAY);
			med_srtp_ctx_destroy(&out);
			med_srtp_ctx_destroy(&in);
			med_srtp_ctx_destroy(&wrong);
		}
	}
}

/* Hostile and wrong-way input: clear errors, no crash (ASan/UBSan builds). */
static void hostile_input(void **state)
{
	uint8_t key[64], pkt[600];
	med_srtp_ctx out, in, zero;
	uint32_t rnd = 12345;

	memset(&zero, 0, sizeof(zero));
	for (unsigned s = 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		int kl = med_srtp_key_len(s);
		make_key(s, 1, key, kl);
		assert_int_equal(med_srtp_ctx_init(&out, s, key, (size_t)kl - 1, true, NULL),
				 SBC_E_INVAL);
		assert_null(out._srtp);
		assert_int_equal(med_srtp_ctx_init(&out, s, key, (size_t)kl, true, NULL), 0);
		assert_int_equal(med_srtp_ctx_init(&in, s, key, (size_t)kl, false, NULL), 0);
		int n = 11;
		assert_int_equal(med_srtp_protect(&out, pkt, &n, sizeof(pkt)), SBC_E_PARSE);
		n = 100;
		memset(pkt, 0, 100);
		pkt[0] = 0x80;
		assert_int_equal(med_srtp_protect(&out, pkt, &n, 100 + med_srtp_rtp_overhead(s) - 1),
				 SBC_E_LIMIT);
		n = 100;
		assert_int_equal(med_srtp_protect_rtcp(&out, pkt, &n, 100), SBC_E_LIMIT);
		n = 100;
		assert_int_equal(med_srtp_unprotect(&out, pkt, &n), SBC_E_INVAL); /* wrong way */
		assert_int_equal(med_srtp_protect(&in, pkt, &n, sizeof(pkt)), SBC_E_INVAL);
		assert_int_equal(med_srtp_unprotect(&zero, pkt, &n), SBC_E_STATE);
		assert_int_equal(med_srtp_unprotect_rtcp(&out, pkt, &n), SBC_E_INVAL);
		assert_int_equal(med_srtp_protect_rtcp(&in, pkt, &n, sizeof(pkt)), SBC_E_INVAL);
		assert_int_equal(med_srtp_protect_rtcp(&zero, pkt, &n, sizeof(pkt)), SBC_E_STATE);
		n = -1;
		assert_int_equal(med_srtp_protect(&out, pkt, &n, sizeof(pkt)), SBC_E_INVAL);
		assert_int_equal(med_srtp_unprotect_rtcp(&in, pkt, &n), SBC_E_INVAL);
		n = 7;
		assert_int_equal(med_srtp_unprotect_rtcp(&in, pkt, &n), SBC_E_PARSE);
		/* CSRC count / extension length pointing past the end */
		n = 20;
		pkt[0] = 0x8f;
		assert_int_not_equal(med_srtp_unprotect(&in, pkt, &n), 0);
		n = 20;
		pkt[0] = 0x90;
		pkt[12] = 0xbe, pkt[13] = 0xde, pkt[14] = 0xff, pkt[15] = 0xff;
		assert_int_not_equal(med_srtp_unprotect(&in, pkt, &n), 0);
		n = 24;
		assert_int_not_equal(med_srtp_protect(&out, pkt, &n, sizeof(pkt)), 0);
		/* random garbage of every length: never accepted */
		for (int i = 0; i < 400; i++) {
			int len = i % 300;
			for (int j = 0; j < len; j++) {
				rnd = rnd * 1103515245u + 12345u;
				pkt[j] = (uint8_t)(rnd >> 16);
			}
			if (len > 0)
				pkt[0] = (uint8_t)(0x80 | (pkt[0] & 0x3f));
			n = len;
			assert_int_not_equal(med_srtp_unprotect(&in, pkt, &n), 0);
			n = len;
			assert_int_not_equal(med_srtp_unprotect_rtcp(&in, pkt, &n), 0);
		}
		med_srtp_ctx_destroy(&out);
		med_srtp_ctx_destroy(&in);
		med_srtp_ctx_destroy(&in); /* twice is harmless */
	}
	assert_int_equal(med_srtp_ctx_init(&out, SBC_SRTP_NONE, key, 0, true, NULL), SBC_E_INVAL);
	assert_int_equal(med_srtp_ctx_init(&out, 99, key, 30, true, NULL), SBC_E_INVAL);
}

/* Workers own their contexts and run at the same time: every thread's
 * output must equal what one thread alone produces (SHA-256 of the stream). */
typedef struct thr_arg {
	unsigned suite;
	uint8_t digest[32];
	int rc;
} thr_arg;

static void *thr_run(void *p)
{
	thr_arg *a = p;
	uint8_t key[64], pkt[512];
	med_srtp_ctx out, in;
	SHA256_CTX h;
	int kl = med_srtp_key_len(a->suite);

	make_key(a->suite, 1, key, kl);
	a->rc = med_srtp_ctx_init(&out, a->suite, key, (size_t)kl, true, NULL);
	if (a->rc == 0)
		a->rc = med_srtp_ctx_init(&in, a->suite, key, (size_t)kl, false, NULL);
	if (a->rc != 0)
		return NULL;
	SHA256_Init(&h);
	for (int i = 0; i < 20000 && a->rc == 0; i++) {
		int n = make_rtp(1, i % 12, pkt), plain = n;
		pkt[2] = (uint8_t)(i >> 8);
		pkt[3] = (uint8_t)i;
		if ((a->rc = med_srtp_protect(&out, pkt, &n, sizeof(pkt))) != 0)
			break;
		SHA256_Update(&h, pkt, (size_t)n);
		if ((a->rc = med_srtp_unprotect(&in, pkt, &n)) != 0 || n != plain)
			a->rc = a->rc ? a->rc : -1;
	}
	SHA256_Final(a->digest, &h);
	med_srtp_ctx_destroy(&out);
	med_srtp_ctx_destroy(&in);
	return NULL;
}

static void threads_independent(void **state)
{
	enum { T = 4 };
	thr_arg solo[T], par[T];
	pthread_t th[T];

	for (int i = 0; i < T; i++) {
		memset(&solo[i], 0, sizeof(solo[i]));
		solo[i].suite = 1 + (unsigned)(i * 2) % (SBC_SRTP_SUITE_MAX_ - 1);
		thr_run(&solo[i]);
		assert_int_equal(solo[i].rc, 0);
		par[i] = solo[i];
		memset(par[i].digest, 0, 32);
	}
	for (int i = 0; i < T; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thr_run, &par[i]), 0);
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(par[i].rc, 0);
		assert_memory_equal(par[i].digest, solo[i].digest, 32);
	}
}

/* The version guard: 2.4 .. 2.6 only (3.x changed the cipher API). */
static void version_guard(void **state)
{
	assert_true(med_srtp__version_ok(srtp_get_version())); /* the one installed */
	assert_true(med_srtp__version_ok(0x02050000u));
	assert_true(med_srtp__version_ok(0x02060003u));
	assert_false(med_srtp__version_ok(0x02030000u));
	assert_false(med_srtp__version_ok(0x03000000u));
	assert_false(med_srtp__version_ok(0x01060000u));
	assert_false(med_srtp__version_ok(0)); /* unparsable version string */
}

/* Fail closed: a self-check that does not match, or a cipher type libsrtp2
 * refuses, leaves the module unusable (forked: the set-up is one-shot). */
static void fail_closed(void **state)
{
	static const struct {
		unsigned fault;
		const char *msg;
	} t[] = {
		{MED_SRTP_FAULT_KAT, "differs from the stock libsrtp2 known answer"},
		{MED_SRTP_FAULT_HMAC, "refused the BoringSSL HMAC-SHA1 type"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int fd[2], st;
		char msg[256] = {0};
		assert_int_equal(pipe(fd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* this process has already set up: re-exec ourselves in a mode
			 * that only runs the failing set-up (fd 3 carries its message) */
			char mode[32];
			close(fd[0]);
			snprintf(mode, sizeof(mode), "%u", t[i].fault);
			dup2(fd[1], 3);
			execl("/proc/self/exe", "test_srtp", "--fail-closed", mode, (char *)NULL);
			_exit(99);
		}
		close(fd[1]);
		ssize_t r = read(fd[0], msg, sizeof(msg) - 1);
		close(fd[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		assert_true(r > 0);
		if (!strstr(msg, t[i].msg))
			fail_msg("fault %u: message '%s'", t[i].fault, msg);
	}
}

/* Child mode for fail_closed: init with a fault injected must fail, and no
 * context may be created afterwards. Exit 0 when it failed closed. */
static int fail_closed_child(unsigned fault)
{
	char err[200];
	uint8_t key[30] = {1};
	med_srtp_ctx c;

	med_srtp__inject_fault(fault);
	if (med_srtp_global_init(err, sizeof(err)) != SBC_E_SRTP)
		return 1;
	if (med_srtp_ready())
		return 2;
	if (med_srtp_ctx_init(&c, SBC_SRTP_AES_CM_128_HMAC_SHA1_80, key, 30, true, NULL) !=
	    SBC_E_STATE)
		return 3;
	if (c._srtp != NULL)
		return 4;
	/* a retry reports the same failure */
	if (med_srtp_global_init(NULL, 0) != SBC_E_SRTP)
		return 5;
	if (write(3, err, strlen(err)) < 0)
		return 6;
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_succeeded),
		cmocka_unit_test(suite_names_and_lengths),
		cmocka_unit_test(identical_to_stock_library),
		cmocka_unit_test(rfc3711_aes_cm_keystream),
		cmocka_unit_test(rfc3711_key_derivation),
		cmocka_unit_test(rfc7714_gcm),
		cmocka_unit_test(gcm_tag_only),
		cmocka_unit_test(hmac_sha1_type),
		cmocka_unit_test(wrong_key_replay_tamper),
		cmocka_unit_test(hostile_input),
		cmocka_unit_test(threads_independent),
		cmocka_unit_test(version_guard),
		cmocka_unit_test(fail_closed),
	};

	if (argc == 3 && strcmp(argv[1], "--fail-closed") == 0)
		return fail_closed_child((unsigned)strtoul(argv[2], NULL, 10));
	run_stock_child(); /* before the types are replaced in this process */
	g_init_rc = med_srtp_global_init(g_init_err, sizeof(g_init_err));
	printf("# %s\n", g_init_err);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
