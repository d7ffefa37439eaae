/* sbc-signal — TLS profiles and ticket keys (see sig_tls_profile.h). */
#include "sig_tls_profile.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbc/err.h"
#include "sbc/log.h"

static int g_ex_idx = -1;
static _Atomic(sig_tls_set *) g_current;

/* Ticket key ring: four slots, the current index published atomically. A
 * slot is rewritten three rotations after it stopped being current. */
typedef struct tkey {
	uint8_t name[16];
	uint8_t aes[16];
	uint8_t hmac[32];
} tkey;
static tkey g_tkeys[4];
static _Atomic unsigned g_tkey_cur;

static const char k_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

void sig_tls_rotate_ticket_keys(void)
{
	unsigned cur = atomic_load_explicit(&g_tkey_cur, memory_order_relaxed);
	unsigned n = (cur + 1) & 3;
	RAND_bytes((uint8_t *)&g_tkeys[n], sizeof(tkey));
	atomic_store_explicit(&g_tkey_cur, n, memory_order_release);
}

int sig_tls_init(void)
{
	if (g_ex_idx >= 0)
		return 0;
	g_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (g_ex_idx < 0)
		return SBC_E_TLS;
	unsigned cur = atomic_load(&g_tkey_cur);
	RAND_bytes((uint8_t *)&g_tkeys[cur], sizeof(tkey));
	RAND_bytes((uint8_t *)&g_tkeys[(cur - 1) & 3], sizeof(tkey));
	return 0;
}

static int ticket_cb(SSL *ssl, uint8_t *key_name, uint8_t *iv, EVP_CIPHER_CTX *ectx,
		     HMAC_CTX *hctx, int encrypt)
{
	unsigned cur = atomic_load_explicit(&g_tkey_cur, memory_order_acquire);
	if (encrypt) {
		const tkey *k = &g_tkeys[cur];
		memcpy(key_name, k->name, 16);
		RAND_bytes(iv, 16);
		if (!EVP_EncryptInit_ex(ectx, EVP_aes_128_cbc(), NULL, k->aes, iv) ||
		    !HMAC_Init_ex(hctx, k->hmac, sizeof(k->hmac), EVP_sha256(), NULL))
			return -1;
		return 1;
	}
	for (unsigned age = 0; age < 2; age++) {
		const tkey *k = &g_tkeys[(cur - age) & 3];
		if (memcmp(key_name, k->name, 16) != 0)
			continue;
		if (!EVP_DecryptInit_ex(ectx, EVP_aes_128_cbc(), NULL, k->aes, iv) ||
		    !HMAC_Init_ex(hctx, k->hmac, sizeof(k->hmac), EVP_sha256(), NULL))
			return -1;
		return age == 0 ? 1 : 2; /* 2: valid, but issue a fresh ticket */
	}
	return 0; /* unknown key: full handshake */
}

/* Does the ClientHello offer an ECDSA signature algorithm we can serve? */
static int client_wants_ecdsa(const SSL_CLIENT_HELLO *ch)
{
	const uint8_t *d;
	size_t n;
	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_signature_algorithms, &d, &n) ||
	    n < 2)
		return 0;
	size_t l = ((size_t)d[0] << 8) | d[1];
	if (l + 2 > n)
		return 0;
	for (size_t i = 2; i + 1 < l + 2; i += 2) {
		uint16_t alg = (uint16_t)((d[i] << 8) | d[i + 1]);
		if (alg == SSL_SIGN_ECDSA_SECP256R1_SHA256)
			return 1;
	}
	return 0;
}

static int name_matches(const char *pattern, const char *name)
{
	if (pattern[0] == '*' && pattern[1] == '.') {
		const char *dot = strchr(name, '.');
		return dot && strcasecmp(dot + 1, pattern + 2) == 0;
	}
	return strcasecmp(pattern, name) == 0;
}

static void apply_profile(SSL *ssl, const sig_tls_profile *p, int want_ec)
{
	SSL_CTX *ctx = (want_ec && p->ctx_ec) ? p->ctx_ec : (p->ctx_rsa ? p->ctx_rsa : p->ctx_ec);
	if (ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, ctx);
	if (p->verify_client) {
		SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_set_verify_depth(ssl, p->verify_depth);
	} else {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	}
}

static enum ssl_select_cert_result_t select_cb(const SSL_CLIENT_HELLO *ch)
{
	SSL *ssl = ch->ssl;
	sig_tls_hs *hs = SSL_get_ex_data(ssl, g_ex_idx);
	if (!hs || !hs->set || hs->profile < 0)
		return ssl_select_cert_error;
	const sig_tls_set *s = hs->set;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni) {
		for (unsigned i = 0; i < s->n; i++)
			for (unsigned j = 0; j < s->p[i].n_sni; j++)
				if (name_matches(s->p[i].sni[j], sni)) {
					hs->profile = (int16_t)i;
					goto Found;
				}
	}
Found:
	apply_profile(ssl, &s->p[hs->profile], client_wants_ecdsa(ch));
	return ssl_select_cert_success;
}

static SSL_CTX *make_ctx(const sig_profile_cfg *pc, unsigned ci, int *is_ec, char *err,
			 size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	const char *what = "context";
	if (!ctx)
		goto Fail;
	what = "protocol versions";
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto Fail;
	what = "cipher list";
	if (!SSL_CTX_set_strict_cipher_list(ctx, k_ciphers))
		goto Fail;
	what = "groups";
	if (!SSL_CTX_set1_curves_list(ctx, "X25519:P-256:P-384"))
		goto Fail;
	what = pc->cert[ci];
	if (!SSL_CTX_use_certificate_chain_file(ctx, pc->cert[ci]))
		goto Fail;
	what = pc->key[ci];
	if (!SSL_CTX_use_PrivateKey_file(ctx, pc->key[ci], SSL_FILETYPE_PEM) ||
	    !SSL_CTX_check_private_key(ctx))
		goto Fail;
	if (pc->ca) {
		what = pc->ca;
		if (!SSL_CTX_load_verify_locations(ctx, pc->ca, NULL))
			goto Fail;
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(pc->ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (pc->verify_client) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_verify_depth(ctx, pc->verify_depth);
	}
	what = "session settings";
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_BOTH);
	SSL_CTX_sess_set_cache_size(ctx, 50000);
	SSL_CTX_set_timeout(ctx, 3600);
	if (!SSL_CTX_set_session_id_context(ctx, (const uint8_t *)pc->name, strlen(pc->name)))
		goto Fail;
	SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_cb);
	SSL_CTX_set_select_certificate_cb(ctx, select_cb);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	EVP_PKEY *pk = SSL_CTX_get0_privatekey(ctx);
	*is_ec = pk && EVP_PKEY_id(pk) == EVP_PKEY_EC;
	return ctx;
Fail:;
	unsigned long e = ERR_get_error();
	char eb[160];
	ERR_error_string_n(e, eb, sizeof(eb));
	snprintf(err, errlen, "tls profile %s: %s: %s", pc->name, what, eb);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static void set_free(sig_tls_set *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		SSL_CTX_free(s->p[i].ctx_ec);
		SSL_CTX_free(s->p[i].ctx_rsa);
		for (unsigned j = 0; j < s->p[i].n_sni; j++)
			free(s->p[i].sni[j]);
	}
	free(s);
}

int sig_tls_set_build(const sig_config *cfg, uint64_t generation, sig_tls_set **out, char *err,
		      size_t errlen)
{
	sig_tls_set *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	s->generation = generation;
	for (unsigned i = 0; i < cfg->n_profiles; i++) {
		const sig_profile_cfg *pc = &cfg->profiles[i];
		sig_tls_profile *p = &s->p[s->n++];
		snprintf(p->name, sizeof(p->name), "%s", pc->name);
		p->idx = i;
		p->verify_client = pc->verify_client;
		p->verify_depth = pc->verify_depth;
		for (unsigned j = 0; j < pc->n_sni; j++)
			p->sni[p->n_sni++] = strdup(pc->sni[j]);
		for (unsigned c = 0; c < pc->n_certs; c++) {
			int is_ec = 0;
			SSL_CTX *ctx = make_ctx(pc, c, &is_ec, err, errlen);
			if (!ctx)
				goto Fail;
			SSL_CTX **slot = is_ec ? &p->ctx_ec : &p->ctx_rsa;
			if (*slot) {
				snprintf(err, errlen, "tls profile %s: two %s certificates", pc->name,
					 is_ec ? "ECDSA" : "RSA");
				SSL_CTX_free(ctx);
				goto Fail;
			}
			*slot = ctx;
		}
	}
	*out = s;
	return 0;
Fail:
	set_free(s);
	return SBC_E_TLS;
}

void sig_tls_set_ref(sig_tls_set *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sig_tls_set_unref(sig_tls_set *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		set_free(s);
}

int sig_tls_set_find(const sig_tls_set *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->p[i].name, name) == 0)
			return (int)i;
	return -1;
}

sig_tls_set *sig_tls_current(void)
{
	sig_tls_set *s = atomic_load_explicit(&g_current, memory_order_acquire);
	if (s)
		sig_tls_set_ref(s);
	return s;
}

sig_tls_set *sig_tls_publish(sig_tls_set *s)
{
	return atomic_exchange_explicit(&g_current, s, memory_order_acq_rel);
}

SSL *sig_tls_server_new(sig_tls_hs *hs, int fd)
{
	const sig_tls_profile *p = &hs->set->p[hs->profile];
	SSL_CTX *base = p->ctx_ec ? p->ctx_ec : p->ctx_rsa;
	SSL *ssl = SSL_new(base);
	if (!ssl)
		return NULL;
	SSL_set_ex_data(ssl, g_ex_idx, hs);
	SSL_set_accept_state(ssl);
	SSL_set_shed_handshake_config(ssl, 1);
	if (!SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

SSL *sig_tls_client_new(sig_tls_hs *hs, int fd, const char *server_name)
{
	const sig_tls_profile *p = &hs->set->p[hs->profile];
	SSL_CTX *base = p->ctx_ec ? p->ctx_ec : p->ctx_rsa;
	SSL *ssl = SSL_new(base);
	if (!ssl)
		return NULL;
	SSL_set_ex_data(ssl, g_ex_idx, hs);
	SSL_set_connect_state(ssl);
	if (server_name && server_name[0]) {
		SSL_set_tlsext_host_name(ssl, server_name);
		X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), server_name, strlen(server_name));
	}
	/* The server is verified against the profile's CA bundle when it has one. */
	if (X509_STORE_get0_objects(SSL_CTX_get_cert_store(base)) &&
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(base))) > 0)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	if (!SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}
