/* sbc-media — BoringSSL-backed cipher and auth types for libsrtp2 2.x.
 *
 * libsrtp2 keeps its protocol (KDF, ROC, replay DB, SRTCP); these types do
 * the per-packet crypto instead of Debian's NSS build. Calling conventions
 * they honour (as libsrtp2 2.x really calls them):
 *  1. alloc(key_len, tag_len): key_len includes the salt (30/46 for ICM,
 *     28/44 for GCM); the cipher's algorithm field must be the type id:
 *     srtp.c dispatches GCM on it, ICM on type->id.
 *  2. init(key) may be called again on a live cipher (the type self-test
 *     re-keys); set_iv() precedes every packet.
 *  3. ICM: counter = (salt || 0x0000) XOR iv; encrypt may be called more
 *     than once per IV (keystream continues) and with zero bytes.
 *  4. GCM: AAD may come in several set_aad() calls before the data (SRTCP:
 *     header, then E||index); encrypt may be called with no data at all
 *     (SRTCP without confidentiality) and then get_tag(); decrypt's length
 *     INCLUDES the tag and shrinks by it; a tag mismatch is auth_fail.
 *  5. HMAC: compute() may follow init() with no start() (self-test), and
 *     start(); update()*; compute(last bytes) on the packet path.
 *  6. libsrtp2 refuses a type whose self-test fails or has no test data, so
 *     each type carries known answers (RFC 3711 B.2, RFC 6188, RFC 7714,
 *     RFC 2202).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/aes.h>
#include <openssl/cipher.h>
#include <openssl/mem.h>
#include <openssl/sha.h>

#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/srtp.h>

#include "sbc/err.h"
#include "srtp.h"

unsigned med_srtp__faults;

void med_srtp__inject_fault(unsigned faults)
{
	med_srtp__faults = faults;
}

/* ------------------------------------------------------------------------ */
/* cipher objects                                                            */

/* A cipher with its state_size bytes of state right behind it, in one
 * allocation (zeroed); the algorithm field carries the type id (convention
 * 1). NULL when out of memory. */
static srtp_cipher_t *cipher_new(const srtp_cipher_type_t *type, int key_len, size_t state_size)
{
	srtp_cipher_t *c = calloc(1, sizeof(*c) + state_size);

	if (!c)
		return NULL;
	c->type = type;
	c->state = c + 1;
	c->key_len = key_len;
	c->algorithm = type->id;
	return c;
}

/* Wipes (key schedules live in the state) and frees a cipher_new one. */
static void cipher_free(srtp_cipher_t *c, size_t state_size)
{
	OPENSSL_cleanse(c, sizeof(*c) + state_size);
	free(c);
}

/* ------------------------------------------------------------------------ */
/* AES-ICM (counter mode, RFC 3711 4.1.1)                                    */

typedef struct icm_state {
	AES_KEY key;
	uint8_t offset[16]; /* salt || 0x0000 */
	uint8_t ctr[16];
	uint8_t ecount[16];
	unsigned num;
	int key_size; /* 16 or 32 */
} icm_state;

static const srtp_cipher_type_t icm128_type;
static const srtp_cipher_type_t icm256_type;

static srtp_err_status_t icm_alloc(srtp_cipher_t **cp, int key_len, int tag_len,
				   const srtp_cipher_type_t *type, int want_len,
				   int key_size)
{
	srtp_cipher_t *c;

	(void)tag_len;
	if (key_len != want_len)
		return srtp_err_status_bad_param;
	c = cipher_new(type, key_len, sizeof(icm_state));
	if (!c)
		return srtp_err_status_alloc_fail;
	((icm_state *)c->state)->key_size = key_size;
	*cp = c;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm128_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	return icm_alloc(cp, key_len, tag_len, &icm128_type,
			 SRTP_AES_ICM_128_KEY_LEN_WSALT, 16);
}

static srtp_err_status_t icm256_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	return icm_alloc(cp, key_len, tag_len, &icm256_type,
			 SRTP_AES_ICM_256_KEY_LEN_WSALT, 32);
}

static srtp_err_status_t icm_dealloc(srtp_cipher_pointer_t c)
{
	if (c)
		cipher_free(c, sizeof(icm_state));
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
	icm_state *s = state;

	if (AES_set_encrypt_key(key, (unsigned)s->key_size * 8, &s->key) != 0)
		return srtp_err_status_init_fail;
	memset(s->offset, 0, sizeof(s->offset));
	memcpy(s->offset, key + s->key_size, SRTP_SALT_LEN);
	memcpy(s->ctr, s->offset, sizeof(s->ctr));
	s->num = 0;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
	icm_state *s = state;

	uint64_t o[2], v[2];

	(void)dir;
	memcpy(o, s->offset, 16);
	memcpy(v, iv, 16);
	o[0] ^= v[0];
	o[1] ^= v[1];
	memcpy(s->ctr, o, 16);
	s->num = 0;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *len)
{
	icm_state *s = state;

	if (*len)
		AES_ctr128_encrypt(buf, buf, *len, &s->key, s->ctr, s->ecount, &s->num);
	return srtp_err_status_ok;
}

/* RFC 3711 B.2: session key/salt, keystream for counters ...0000 and ...0001. */
static const uint8_t icm128_kat_key[30] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
	0x09, 0xcf, 0x4f, 0x3c, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
	0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static uint8_t icm_kat_iv[16]; /* zero: the counter is the salt */
static const uint8_t icm_kat_zero[32];
static const uint8_t icm128_kat_ct[32] = {
	0xe0, 0x3e, 0xad, 0x09, 0x35, 0xc9, 0x5e, 0x80, 0xe1, 0x66, 0xb1, 0x6d,
	0xd9, 0x2b, 0x4e, 0xb4, 0xd2, 0x35, 0x13, 0x16, 0x2b, 0x02, 0xd0, 0xf7,
	0x2a, 0x43, 0xa2, 0xfe, 0x4a, 0x5f, 0x97, 0xab,
};
static const srtp_cipher_test_case_t icm128_kat = {
	30, icm128_kat_key, icm_kat_iv, 32, icm_kat_zero, 32, icm128_kat_ct,
	0, NULL, 0, NULL,
};

/* RFC 6188 7.1: AES-256 counter mode keystream. */
static const uint8_t icm256_kat_key[46] = {
	0x57, 0xf8, 0x2f, 0xe3, 0x61, 0x3f, 0xd1, 0x70, 0xa8, 0x5e, 0xc9, 0x3c,
	0x40, 0xb1, 0xf0, 0x92, 0x2e, 0xc4, 0xcb, 0x0d, 0xc0, 0x25, 0xb5, 0x82,
	0x72, 0x14, 0x7c, 0xc4, 0x38, 0x94, 0x4a, 0x98, 0xf0, 0xf1, 0xf2, 0xf3,
	0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static const uint8_t icm256_kat_ct[32] = {
	0x92, 0xbd, 0xd2, 0x8a, 0x93, 0xc3, 0xf5, 0x25, 0x11, 0xc6, 0x77, 0xd0,
	0x8b, 0x55, 0x15, 0xa4, 0x9d, 0xa7, 0x1b, 0x23, 0x78, 0xa8, 0x54, 0xf6,
	0x70, 0x50, 0x75, 0x6d, 0xed, 0x16, 0x5b, 0xac,
};
static const srtp_cipher_test_case_t icm256_kat = {
	46, icm256_kat_key, icm_kat_iv, 32, icm_kat_zero, 32, icm256_kat_ct,
	0, NULL, 0, NULL,
};

static const srtp_cipher_type_t icm128_type = {
	icm128_alloc, icm_dealloc, icm_init, NULL, icm_crypt, icm_crypt,
	icm_set_iv, NULL, "AES-128 ICM (sbc, BoringSSL)", &icm128_kat,
	SRTP_AES_ICM_128,
};
static const srtp_cipher_type_t icm256_type = {
	icm256_alloc, icm_dealloc, icm_init, NULL, icm_crypt, icm_crypt,
	icm_set_iv, NULL, "AES-256 ICM (sbc, BoringSSL)", &icm256_kat,
	SRTP_AES_ICM_256,
};

/* ------------------------------------------------------------------------ */
/* AES-GCM (RFC 7714)                                                        */

typedef struct gcm_state {
	EVP_CIPHER_CTX ctx;
	int key_size; /* 16 or 32 */
	int tag_len;  /* 8, 12 or 16 */
	int dir;      /* srtp_direction_*, -1 before set_iv */
} gcm_state;

static const srtp_cipher_type_t gcm128_type;
static const srtp_cipher_type_t gcm256_type;

static srtp_err_status_t gcm_alloc(srtp_cipher_t **cp, int key_len, int tag_len,
				   const srtp_cipher_type_t *type, int want_len,
				   int key_size)
{
	srtp_cipher_t *c;
	gcm_state *s;

	if (key_len != want_len)
		return srtp_err_status_bad_param;
	if (tag_len != 8 && tag_len != 12 && tag_len != 16)
		return srtp_err_status_bad_param;
	c = cipher_new(type, key_len, sizeof(gcm_state));
	if (!c)
		return srtp_err_status_alloc_fail;
	s = c->state;
	EVP_CIPHER_CTX_init(&s->ctx);
	s->key_size = key_size;
	s->tag_len = tag_len;
	s->dir = -1;
	*cp = c;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm128_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	return gcm_alloc(cp, key_len, tag_len, &gcm128_type,
			 SRTP_AES_GCM_128_KEY_LEN_WSALT, 16);
}

static srtp_err_status_t gcm256_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	return gcm_alloc(cp, key_len, tag_len, &gcm256_type,
			 SRTP_AES_GCM_256_KEY_LEN_WSALT, 32);
}

static srtp_err_status_t gcm_dealloc(srtp_cipher_pointer_t c)
{
	if (c) {
		gcm_state *s = c->state;
		EVP_CIPHER_CTX_cleanup(&s->ctx);
		cipher_free(c, sizeof(gcm_state));
	}
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_init(void *state, const uint8_t *key)
{
	gcm_state *s = state;
	const EVP_CIPHER *evp = s->key_size == 32 ? EVP_aes_256_gcm() : EVP_aes_128_gcm();

	/* The key schedule and GHASH table are computed once here; set_iv only
	 * restarts the counter. */
	if (!EVP_CipherInit_ex(&s->ctx, evp, NULL, key, NULL, 1))
		return srtp_err_status_init_fail;
	s->dir = -1;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
	gcm_state *s = state;

	if (dir != srtp_direction_encrypt && dir != srtp_direction_decrypt)
		return srtp_err_status_bad_param;
	/* 12-byte IV (the EVP default for GCM). */
	if (!EVP_CipherInit_ex(&s->ctx, NULL, NULL, NULL, iv,
			       dir == srtp_direction_encrypt ? 1 : 0))
		return srtp_err_status_init_fail;
	s->dir = dir;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_aad(void *state, const uint8_t *aad, uint32_t len)
{
	gcm_state *s = state;

	if (s->dir < 0)
		return srtp_err_status_bad_param;
	if (len == 0)
		return srtp_err_status_ok;
	if (EVP_Cipher(&s->ctx, NULL, aad, len) != (int)len)
		return srtp_err_status_algo_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_encrypt(void *state, uint8_t *buf, unsigned int *len)
{
	gcm_state *s = state;

	if (s->dir != srtp_direction_encrypt)
		return srtp_err_status_bad_param;
	/* No data (SRTCP without confidentiality): nothing to do here; the tag
	 * still covers the AAD. EVP_Cipher(NULL, NULL, 0) would finalise. */
	if (*len == 0)
		return srtp_err_status_ok;
	if (EVP_Cipher(&s->ctx, buf, buf, *len) != (int)*len)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_get_tag(void *state, uint8_t *tag, uint32_t *len)
{
	gcm_state *s = state;

	if (s->dir != srtp_direction_encrypt)
		return srtp_err_status_bad_param;
	if (EVP_Cipher(&s->ctx, NULL, NULL, 0) < 0)
		return srtp_err_status_algo_fail;
	if (!EVP_CIPHER_CTX_ctrl(&s->ctx, EVP_CTRL_GCM_GET_TAG, s->tag_len, tag))
		return srtp_err_status_algo_fail;
	*len = (uint32_t)s->tag_len;
	s->dir = -1;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_decrypt(void *state, uint8_t *buf, unsigned int *len)
{
	gcm_state *s = state;
	unsigned int n;

	if (s->dir != srtp_direction_decrypt)
		return srtp_err_status_bad_param;
	/* The length includes the tag (libsrtp2 2.x convention). */
	if (*len < (unsigned int)s->tag_len)
		return srtp_err_status_bad_param;
	n = *len - (unsigned int)s->tag_len;
	if (!EVP_CIPHER_CTX_ctrl(&s->ctx, EVP_CTRL_GCM_SET_TAG, s->tag_len, buf + n))
		return srtp_err_status_algo_fail;
	if (n && EVP_Cipher(&s->ctx, buf, buf, n) != (int)n)
		return srtp_err_status_cipher_fail;
	s->dir = -1;
	if (EVP_Cipher(&s->ctx, NULL, NULL, 0) < 0)
		return srtp_err_status_auth_fail;
	*len = n;
	return srtp_err_status_ok;
}

/* RFC 7714 16.1.1 / 16.2.1: the RTP packet of the RFC, ROC 0, SSRC 5501a0b2,
 * seq f17b; key || salt, IV, AAD (the header), payload, ciphertext || tag. */
static const uint8_t gcm128_kat_key[28] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x51, 0x75, 0x69, 0x64, 0x20, 0x70, 0x72, 0x6f,
	0x20, 0x71, 0x75, 0x6f,
};
static const uint8_t gcm256_kat_key[44] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
	0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x51, 0x75, 0x69, 0x64,
	0x20, 0x70, 0x72, 0x6f, 0x20, 0x71, 0x75, 0x6f,
};
static uint8_t gcm_kat_iv[12] = {
	0x51, 0x75, 0x3c, 0x65, 0x80, 0xc2, 0x72, 0x6f, 0x20, 0x71, 0x84, 0x14,
};
static const uint8_t gcm_kat_aad[12] = {
	0x80, 0x40, 0xf1, 0x7b, 0x80, 0x41, 0xf8, 0xd3, 0x55, 0x01, 0xa0, 0xb2,
};
static const uint8_t gcm_kat_pt[38] = "Gallia est omnis divisa in partes tres";
static const uint8_t gcm128_kat_ct[54] = {
	0xf2, 0x4d, 0xe3, 0xa3, 0xfb, 0x34, 0xde, 0x6c, 0xac, 0xba, 0x86, 0x1c,
	0x9d, 0x7e, 0x4b, 0xca, 0xbe, 0x63, 0x3b, 0xd5, 0x0d, 0x29, 0x4e, 0x6f,
	0x42, 0xa5, 0xf4, 0x7a, 0x51, 0xc7, 0xd1, 0x9b, 0x36, 0xde, 0x3a, 0xdf,
	0x88, 0x33, /* tag: */ 0x89, 0x9d, 0x7f, 0x27, 0xbe, 0xb1, 0x6a, 0x91,
	0x52, 0xcf, 0x76, 0x5e, 0xe4, 0x39, 0x0c, 0xce,
};
static const uint8_t gcm256_kat_ct[54] = {
	0x32, 0xb1, 0xde, 0x78, 0xa8, 0x22, 0xfe, 0x12, 0xef, 0x9f, 0x78, 0xfa,
	0x33, 0x2e, 0x33, 0xaa, 0xb1, 0x80, 0x12, 0x38, 0x9a, 0x58, 0xe2, 0xf3,
	0xb5, 0x0b, 0x2a, 0x02, 0x76, 0xff, 0xae, 0x0f, 0x1b, 0xa6, 0x37, 0x99,
	0xb8, 0x7b, /* tag: */ 0x7a, 0xa3, 0xdb, 0x36, 0xdf, 0xff, 0xd6, 0xb0,
	0xf9, 0xbb, 0x78, 0x78, 0xd7, 0xa7, 0x6c, 0x13,
};
static const srtp_cipher_test_case_t gcm128_kat = {
	28, gcm128_kat_key, gcm_kat_iv, 38, gcm_kat_pt, 54, gcm128_kat_ct,
	12, gcm_kat_aad, 16, NULL,
};
static const srtp_cipher_test_case_t gcm256_kat = {
	44, gcm256_kat_key, gcm_kat_iv, 38, gcm_kat_pt, 54, gcm256_kat_ct,
	12, gcm_kat_aad, 16, NULL,
};

static const srtp_cipher_type_t gcm128_type = {
	gcm128_alloc, gcm_dealloc, gcm_init, gcm_set_aad, gcm_encrypt,
	gcm_decrypt, gcm_set_iv, gcm_get_tag, "AES-128 GCM (sbc, BoringSSL)",
	&gcm128_kat, SRTP_AES_GCM_128,
};
static const srtp_cipher_type_t gcm256_type = {
	gcm256_alloc, gcm_dealloc, gcm_init, gcm_set_aad, gcm_encrypt,
	gcm_decrypt, gcm_set_iv, gcm_get_tag, "AES-256 GCM (sbc, BoringSSL)",
	&gcm256_kat, SRTP_AES_GCM_256,
};

/* ------------------------------------------------------------------------ */
/* HMAC-SHA1 with the inner and outer pads absorbed once per key             */

typedef struct hmac_state {
	SHA_CTX inner;     /* after key ^ ipad */
	uint32_t outer[5]; /* chaining value after key ^ opad */
	SHA_CTX work;
} hmac_state;

static const srtp_auth_type_t hmac_type;

static srtp_err_status_t hmac_alloc(srtp_auth_pointer_t *ap, int key_len, int out_len)
{
	srtp_auth_t *a;

	if (key_len < 0 || key_len > SRTP_MAX_KEY_LEN)
		return srtp_err_status_bad_param;
	if (out_len < 0 || out_len > SHA_DIGEST_LENGTH)
		return srtp_err_status_bad_param;
	a = calloc(1, sizeof(*a) + sizeof(hmac_state));
	if (!a)
		return srtp_err_status_alloc_fail;
	a->type = &hmac_type;
	a->state = a + 1;
	a->out_len = out_len;
	a->key_len = key_len;
	a->prefix_len = 0;
	*ap = a;
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_pointer_t a)
{
	if (a) {
		OPENSSL_cleanse(a, sizeof(*a) + sizeof(hmac_state));
		free(a);
	}
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
	hmac_state *s = state;
	uint8_t k0[SHA_CBLOCK], pad[SHA_CBLOCK];

	memset(k0, 0, sizeof(k0));
	if (key_len > SHA_CBLOCK)
		SHA1(key, (size_t)key_len, k0);
	else if (key_len > 0)
		memcpy(k0, key, (size_t)key_len);
	for (int i = 0; i < SHA_CBLOCK; i++)
		pad[i] = k0[i] ^ 0x36;
	SHA1_Init(&s->inner);
	SHA1_Update(&s->inner, pad, sizeof(pad));
	for (int i = 0; i < SHA_CBLOCK; i++)
		pad[i] = k0[i] ^ 0x5c;
	SHA1_Init(&s->work);
	SHA1_Update(&s->work, pad, sizeof(pad));
	memcpy(s->outer, s->work.h, sizeof(s->outer));
	s->work = s->inner;
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(pad, sizeof(pad));
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_start(void *state)
{
	hmac_state *s = state;

	s->work = s->inner;
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *buf, int len)
{
	hmac_state *s = state;

	if (len < 0)
		return srtp_err_status_bad_param;
	if (len)
		SHA1_Update(&s->work, buf, (size_t)len);
	return srtp_err_status_ok;
}

static srtp_err_status_t hmac_compute(void *state, const uint8_t *buf, int len,
				      int tag_len, uint8_t *tag)
{
	hmac_state *s = state;
	/* The outer hash is always one block: the inner digest, 0x80, zeros and
	 * the bit length of opad block + digest (84 bytes = 672 bits). It is
	 * compressed straight from the saved chaining value instead of copying a
	 * SHA_CTX and running SHA1_Update/SHA1_Final on it for every packet. */
	uint8_t blk[SHA_CBLOCK] = {[SHA_DIGEST_LENGTH] = 0x80,
				   [SHA_CBLOCK - 2] = (672 >> 8) & 0xff,
				   [SHA_CBLOCK - 1] = 672 & 0xff};
	uint8_t h[SHA_DIGEST_LENGTH];
	SHA_CTX o;

	if (len < 0 || tag_len < 0 || tag_len > SHA_DIGEST_LENGTH)
		return srtp_err_status_bad_param;
	if (len)
		SHA1_Update(&s->work, buf, (size_t)len);
	SHA1_Final(blk, &s->work);
	memcpy(o.h, s->outer, sizeof(s->outer));
	SHA1_Transform(&o, blk);
	for (int i = 0; i < 5; i++) {
		h[4 * i] = (uint8_t)(o.h[i] >> 24);
		h[4 * i + 1] = (uint8_t)(o.h[i] >> 16);
		h[4 * i + 2] = (uint8_t)(o.h[i] >> 8);
		h[4 * i + 3] = (uint8_t)o.h[i];
	}
	if (med_srtp__faults & MED_SRTP_FAULT_HMAC)
		h[0] ^= 0x01;
	memcpy(tag, h, (size_t)tag_len);
	/* No reset of s->work here: libsrtp2 calls start() before every packet
	 * and init() before every self-test case, and both reset it. */
	return srtp_err_status_ok;
}

/* RFC 2202 test cases 1 and 2. */
static const uint8_t hmac_kat1_key[20] = {
	0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
	0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
};
static const uint8_t hmac_kat1_data[8] = "Hi There";
static const uint8_t hmac_kat1_tag[20] = {
	0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b,
	0xc0, 0xb6, 0xfb, 0x37, 0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00,
};
static const uint8_t hmac_kat2_key[4] = "Jefe";
static const uint8_t hmac_kat2_data[28] = "what do ya want for nothing?";
static const uint8_t hmac_kat2_tag[20] = {
	0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74,
	0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79,
};
static const srtp_auth_test_case_t hmac_kat2 = {
	4, hmac_kat2_key, 28, hmac_kat2_data, 20, hmac_kat2_tag, NULL,
};
static const srtp_auth_test_case_t hmac_kat1 = {
	20, hmac_kat1_key, 8, hmac_kat1_data, 20, hmac_kat1_tag, &hmac_kat2,
};

static const srtp_auth_type_t hmac_type = {
	hmac_alloc, hmac_dealloc, hmac_init, hmac_compute, hmac_update,
	hmac_start, "HMAC-SHA1 (sbc, BoringSSL)", &hmac_kat1, SRTP_HMAC_SHA1,
};

/* ------------------------------------------------------------------------ */

int med_srtp__install_boring(char *err, size_t len)
{
	static const struct {
		const srtp_cipher_type_t *t;
		const char *name;
	} ciphers[] = {
		{&icm128_type, "AES-ICM-128"},
		{&icm256_type, "AES-ICM-256"},
		{&gcm128_type, "AES-GCM-128"},
		{&gcm256_type, "AES-GCM-256"},
	};
	srtp_err_status_t e;

	for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		/* srtp_replace_cipher_type runs the type's self-test first. */
		e = srtp_replace_cipher_type(ciphers[i].t, ciphers[i].t->id);
		if (e != srtp_err_status_ok) {
			snprintf(err, len, "libsrtp2 refused the BoringSSL %s type (status %d)",
				 ciphers[i].name, (int)e);
			return SBC_E_SRTP;
		}
	}
	e = srtp_replace_auth_type(&hmac_type, SRTP_HMAC_SHA1);
	if (e != srtp_err_status_ok) {
		snprintf(err, len, "libsrtp2 refused the BoringSSL HMAC-SHA1 type (status %d)",
			 (int)e);
		return SBC_E_SRTP;
	}
	return 0;
}
