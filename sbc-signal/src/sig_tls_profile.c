/* sbc-signal — TLS profiles and ticket keys (see sig_tls_profile.h). */
#include "sig_tls_profile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sbc/store.h"
#include "sig_store.h"

static int g_ex_idx = -1;
static sig_tls_peer_hook g_peer_hook;

void sig_tls_set_peer_hook(sig_tls_peer_hook hook) { g_peer_hook = hook; }

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	sig_tls_hs *hs = ssl ? SSL_get_ex_data(ssl, g_ex_idx) : NULL;
	if (!hs || !hs->owner || !g_peer_hook || !SSL_is_server(ssl))
		return 1;
	if (!g_peer_hook(hs->owner, X509_STORE_CTX_get_current_cert(xs))) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return 1;
}
/* Client chains a mutual-TLS profile verified (sig_tls_profile.h caveat 5):
 * direct-mapped on the chain's hash, shared by the workers under one lock
 * (held for a compare and a copy; a handshake is ~0.3 ms of crypto). */
#define VCACHE_SLOTS 256
#define VCACHE_MAX_S 3600
typedef struct sig_tls_vcache {
	pthread_mutex_t mu;
	struct {
		uint8_t key[SHA256_DIGEST_LENGTH];
		int64_t until; /* wall-clock seconds; 0 = empty */
	} e[VCACHE_SLOTS];
} sig_tls_vcache;

/* SHA-256 over the chain exactly as the client presented it (lengths
 * included): the same key means the same certificates, so the same
 * path to the same trust store; 0 when there is no chain. */
static int chain_key(SSL *ssl, uint8_t key[SHA256_DIGEST_LENGTH])
{
	const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(ssl);
	if (!chain || sk_CRYPTO_BUFFER_num(chain) == 0)
		return 0;
	SHA256_CTX h;
	SHA256_Init(&h);
	for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(chain); i++) {
		const CRYPTO_BUFFER *b = sk_CRYPTO_BUFFER_value(chain, i);
		uint32_t len = (uint32_t)CRYPTO_BUFFER_len(b);
		SHA256_Update(&h, &len, sizeof(len));
		SHA256_Update(&h, CRYPTO_BUFFER_data(b), len);
	}
	SHA256_Final(key, &h);
	return 1;
}

static int vcache_hit(sig_tls_vcache *vc, const uint8_t key[SHA256_DIGEST_LENGTH], int64_t now)
{
	unsigned s;
	memcpy(&s, key, sizeof(s));
	s %= VCACHE_SLOTS;
	pthread_mutex_lock(&vc->mu);
	int hit = vc->e[s].until > now && memcmp(vc->e[s].key, key, SHA256_DIGEST_LENGTH) == 0;
	pthread_mutex_unlock(&vc->mu);
	return hit;
}

static void vcache_put(sig_tls_vcache *vc, const uint8_t key[SHA256_DIGEST_LENGTH], int64_t until)
{
	unsigned s;
	memcpy(&s, key, sizeof(s));
	s %= VCACHE_SLOTS;
	pthread_mutex_lock(&vc->mu);
	memcpy(vc->e[s].key, key, SHA256_DIGEST_LENGTH);
	vc->e[s].until = until;
	pthread_mutex_unlock(&vc->mu);
}

/* Until when a just-verified path may be trusted again without checking:
 * its earliest notAfter, at most VCACHE_MAX_S from now; 0 if not at all. */
static int64_t path_until(X509_STORE_CTX *xs, int64_t now)
{
	int64_t left = VCACHE_MAX_S;
	STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(xs);
	for (size_t i = 0; path && i < sk_X509_num(path); i++) {
		int days, secs;
		if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(sk_X509_value(path, i))))
			return 0;
		int64_t l = (int64_t)days * 86400 + secs;
		if (l < left)
			left = l;
	}
	return left > 0 && path ? now + left : 0;
}

/* The chain verification of a server SSL of a mutual-TLS profile (in place
 * of X509_verify_cert; SSL_CTX_set_cert_verify_callback): a chain this
 * profile verified before is taken as verified, and only the peer hook runs
 * (verify_cb does that on the full path). */
static int cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	sig_tls_vcache *vc = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	uint8_t key[SHA256_DIGEST_LENGTH];
	if (!ssl || !vc || !SSL_is_server(ssl) || !chain_key(ssl, key))
		return X509_verify_cert(xs);
	int64_t now = (int64_t)time(NULL);
	if (!vcache_hit(vc, key, now)) {
		int ok = X509_verify_cert(xs);
		/* kept only when the chain verified and the peer hook accepted
		 * it (a refusal by the hook fails the verification): a refused
		 * carrier is judged again on its next attempt */
		int64_t until = ok == 1 ? path_until(xs, now) : 0;
		if (until)
			vcache_put(vc, key, until);
		return ok;
	}
	sig_tls_hs *hs = SSL_get_ex_data(ssl, g_ex_idx);
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	if (hs && hs->owner && g_peer_hook && (!leaf || !g_peer_hook(hs->owner, leaf))) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	SBC_DEBUG("tls: client chain verified before, not verified again");
	return 1;
}

static pthread_mutex_t g_names_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_names[SIG_TLS_MAX_NAMES];

const char *sig_tls_intern(const char *name)
{
	const char *r = "?";
	pthread_mutex_lock(&g_names_mu);
	for (unsigned i = 0; i < SIG_TLS_MAX_NAMES; i++) {
		if (!g_names[i]) {
			g_names[i] = strdup(name);
			r = g_names[i] ? g_names[i] : "?";
			break;
		}
		if (strcmp(g_names[i], name) == 0) {
			r = g_names[i];
			break;
		}
	}
	pthread_mutex_unlock(&g_names_mu);
	return r;
}
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

/* Read-ahead for a server handshake (sig_tls_profile.h caveat 6). BoringSSL
 * asks its read BIO for a record's 5-byte header, then for its body: two
 * read()s per record, and a client's flight is several records (CCS,
 * Certificate, CertificateVerify, Finished). This BIO reads what the socket
 * has into a per-thread buffer and keeps what BoringSSL did not ask for yet
 * (allocated only then, freed once taken): one recv() per flight. After the
 * handshake it reads straight into BoringSSL's buffer, like a socket BIO. */
#define RA_BYTES (SSL3_RT_MAX_ENCRYPTED_LENGTH + SSL3_RT_HEADER_LENGTH)
typedef struct ra_state {
	int fd;
	int ahead;     /* 1 during the handshake */
	int drained;   /* a recv in this wake-up emptied the socket */
	uint32_t off, len;
	uint8_t *left; /* bytes read but not yet asked for, or NULL */
} ra_state;
static BIO_METHOD *g_ra_method;
static int g_ra_type;
static __thread uint8_t t_ra_buf[RA_BYTES];

static int ra_read(BIO *b, char *out, int outl)
{
	ra_state *st = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (!out || outl <= 0)
		return 0;
	if (st->left) {
		uint32_t n = st->len - st->off < (uint32_t)outl ? st->len - st->off : (uint32_t)outl;
		memcpy(out, st->left + st->off, n);
		st->off += n;
		if (st->off == st->len) {
			free(st->left);
			st->left = NULL;
			st->off = st->len = 0;
		}
		return (int)n;
	}
	if (st->ahead && st->drained) {
		/* a short read emptied the socket in this wake-up; BoringSSL
		 * wants more (the client's next flight, right after writing
		 * ours, or the rest of a split one): it can hardly be here yet,
		 * and if it is, epoll (level-triggered) wakes us for it. No recv
		 * that would only say EAGAIN (one system call per handshake). */
		BIO_set_retry_read(b);
		errno = EAGAIN;
		return -1;
	}
	uint8_t *dst = st->ahead ? t_ra_buf : (uint8_t *)out;
	ssize_t r = recv(st->fd, dst, st->ahead ? sizeof(t_ra_buf) : (size_t)outl, 0);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	if (st->ahead && r != (ssize_t)sizeof(t_ra_buf))
		st->drained = 1; /* a short read (or none): the socket is empty */
	if (r <= 0 || !st->ahead)
		return (int)r;
	uint32_t n = (size_t)r < (size_t)outl ? (uint32_t)r : (uint32_t)outl;
	memcpy(out, t_ra_buf, n);
	if ((uint32_t)r > n) {
		st->left = malloc((size_t)r - n);
		if (!st->left) { /* the bytes are gone: fail the connection */
			errno = ENOMEM;
			return -1;
		}
		memcpy(st->left, t_ra_buf + n, (size_t)r - n);
		st->len = (uint32_t)r - n;
	}
	return (int)n;
}

static long ra_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	ra_state *st = BIO_get_data(b);
	switch (cmd) {
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = st->fd;
		return st->fd;
	case BIO_CTRL_PENDING:
		return (long)(st->len - st->off);
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		return 0;
	}
}

static int ra_destroy(BIO *b)
{
	ra_state *st = BIO_get_data(b);
	if (st) {
		free(st->left);
		free(st);
		BIO_set_data(b, NULL);
	}
	return 1;
}

static BIO *ra_bio_new(int fd)
{
	ra_state *st = calloc(1, sizeof(*st));
	BIO *b = st ? BIO_new(g_ra_method) : NULL;
	if (!b) {
		free(st);
		return NULL;
	}
	st->fd = fd;
	st->ahead = 1;
	BIO_set_data(b, st);
	BIO_set_init(b, 1);
	return b;
}

static ra_state *ra_of(SSL *ssl)
{
	BIO *b = ssl ? SSL_get_rbio(ssl) : NULL;
	return b && g_ra_method && BIO_method_type(b) == g_ra_type ? BIO_get_data(b) : NULL;
}

size_t sig_tls_handshake_done(SSL *ssl)
{
	ra_state *st = ra_of(ssl);
	if (!st)
		return 0;
	st->ahead = 0;
	return st->len - st->off;
}

void sig_tls_wakeup(SSL *ssl)
{
	ra_state *st = ra_of(ssl);
	if (st)
		st->drained = 0;
}

size_t sig_tls_read_ahead_left(SSL *ssl)
{
	ra_state *st = ra_of(ssl);
	return st ? st->len - st->off : 0;
}

int sig_tls_init(void)
{
	if (g_ex_idx >= 0)
		return 0;
	g_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (g_ex_idx < 0)
		return SBC_E_TLS;
	g_ra_type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
	g_ra_method = BIO_meth_new(g_ra_type, "sbc read-ahead");
	if (!g_ra_method || !BIO_meth_set_read(g_ra_method, ra_read) ||
	    !BIO_meth_set_ctrl(g_ra_method, ra_ctrl) || !BIO_meth_set_destroy(g_ra_method, ra_destroy))
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

static int ext_has_u16(const SSL_CLIENT_HELLO *ch, uint16_t ext, int len_bytes, uint16_t want)
{
	const uint8_t *d;
	size_t n;
	if (!SSL_early_callback_ctx_extension_get(ch, ext, &d, &n) || n < (size_t)len_bytes)
		return 0;
	size_t l = len_bytes == 2 ? (((size_t)d[0] << 8) | d[1]) : d[0];
	if (l + (size_t)len_bytes > n)
		return 0;
	for (size_t i = (size_t)len_bytes; i + 1 < l + (size_t)len_bytes; i += 2)
		if ((uint16_t)((d[i] << 8) | d[i + 1]) == want)
			return 1;
	return 0;
}

/* Can this client take our ECDSA P-256 certificate? TLS 1.3 clients: when
 * they offer ecdsa_secp256r1_sha256. TLS 1.2-only clients: they must also
 * offer an ECDHE_ECDSA cipher suite. */
static int client_wants_ecdsa(const SSL_CLIENT_HELLO *ch)
{
	if (!ext_has_u16(ch, TLSEXT_TYPE_signature_algorithms, 2, SSL_SIGN_ECDSA_SECP256R1_SHA256))
		return 0;
	if (ext_has_u16(ch, TLSEXT_TYPE_supported_versions, 1, TLS1_3_VERSION))
		return 1;
	for (size_t i = 0; i + 1 < ch->cipher_suites_len; i += 2) {
		uint16_t cs = (uint16_t)((ch->cipher_suites[i] << 8) | ch->cipher_suites[i + 1]);
		switch (cs) {
		case 0xc02b: case 0xc02c: case 0xcca9: case 0xc009: case 0xc00a: case 0xc023: case 0xc024:
			return 1;
		default:
			break;
		}
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
		SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
		SSL_set_verify_depth(ssl, p->verify_depth);
		/* idle memory: the session keeps the certificate's hash, not the chain */
		SSL_set_retain_only_sha256_of_client_certs(ssl, 1);
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

/* Material for one profile, all PEM text in memory (from files named in
 * runtime.json or from the LMDB store). */
typedef struct material {
	char name[SIG_NAME_MAX];
	char *cert[SIG_MAX_CERTS];
	char *key[SIG_MAX_CERTS];
	unsigned n_certs;
	char *ca;
	int verify_client, verify_depth;
	char *sni[SIG_MAX_SNI];
	unsigned n_sni;
	uint16_t min_version;
	char ciphers[STORE_CIPHERS_MAX + 1];
} material;

static void material_clear(material *m)
{
	for (unsigned i = 0; i < m->n_certs; i++) {
		free(m->cert[i]);
		if (m->key[i]) {
			OPENSSL_cleanse(m->key[i], strlen(m->key[i]));
			free(m->key[i]);
		}
	}
	for (unsigned i = 0; i < m->n_sni; i++)
		free(m->sni[i]);
	free(m->ca);
	memset(m, 0, sizeof(*m));
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (4u << 20)) {
				snprintf(err, errlen, "%s: larger than 4 MiB", path);
				goto Fail;
			}
			char *n = realloc(buf, cap);
			if (!n)
				goto Fail;
			buf = n;
		}
		size_t k = fread(buf + len, 1, 4096, f);
		len += k;
		if (k < 4096)
			break;
	}
	buf[len] = 0;
	fclose(f);
	return buf;
Fail:
	free(buf);
	fclose(f);
	return NULL;
}

static int load_x509_list(const char *pem, STACK_OF(X509) **out)
{
	BIO *b = BIO_new_mem_buf(pem, (int)strlen(pem));
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	if (!b || !sk)
		goto Fail;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto Fail;
		}
	ERR_clear_error(); /* the end of the text */
	BIO_free(b);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return -1;
	}
	*out = sk;
	return 0;
Fail:
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return -1;
}

static SSL_CTX *make_ctx(const material *m, unsigned ci, int *is_ec, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	STACK_OF(X509) *chain = NULL, *cas = NULL;
	EVP_PKEY *pk = NULL;
	BIO *kb = NULL;
	const char *what = "context";
	if (!ctx)
		goto Fail;
	what = "protocol versions";
	if (!SSL_CTX_set_min_proto_version(ctx, m->min_version == TLS1_3_VERSION ? TLS1_3_VERSION
										 : TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		goto Fail;
	what = "cipher list";
	if (!SSL_CTX_set_strict_cipher_list(ctx, m->ciphers[0] ? m->ciphers : k_ciphers))
		goto Fail;
	what = "groups";
	if (!SSL_CTX_set1_curves_list(ctx, "X25519:P-256:P-384"))
		goto Fail;
	what = "certificate";
	if (load_x509_list(m->cert[ci], &chain) < 0 ||
	    !SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)))
		goto Fail;
	for (size_t i = 1; i < sk_X509_num(chain); i++)
		if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)))
			goto Fail;
	what = "private key";
	kb = BIO_new_mem_buf(m->key[ci], (int)strlen(m->key[ci]));
	if (!kb || !(pk = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) ||
	    !SSL_CTX_use_PrivateKey(ctx, pk) || !SSL_CTX_check_private_key(ctx))
		goto Fail;
	if (m->ca) {
		what = "CA bundle";
		if (load_x509_list(m->ca, &cas) < 0)
			goto Fail;
		X509_STORE *st = SSL_CTX_get_cert_store(ctx);
		for (size_t i = 0; i < sk_X509_num(cas); i++) {
			X509 *x = sk_X509_value(cas, i);
			if (!X509_STORE_add_cert(st, x) || !SSL_CTX_add_client_CA(ctx, x))
				goto Fail;
		}
	}
	if (m->verify_client) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
		SSL_CTX_set_verify_depth(ctx, m->verify_depth);
		SSL_CTX_set_retain_only_sha256_of_client_certs(ctx, 1);
	}
	what = "session settings";
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_BOTH);
	SSL_CTX_sess_set_cache_size(ctx, 50000);
	SSL_CTX_set_timeout(ctx, 3600);
	if (!SSL_CTX_set_session_id_context(ctx, (const uint8_t *)m->name, strlen(m->name)))
		goto Fail;
	SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_cb);
	/* TLS 1.3: one ticket per full handshake, not BoringSSL's two. A SIP
	 * peer keeps one connection and needs one ticket to come back after an
	 * outage; the second cost ~2% of a full ECDSA handshake's CPU (session
	 * copy, serialisation, ticket and record encryption). */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_select_certificate_cb(ctx, select_cb);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	*is_ec = EVP_PKEY_id(pk) == EVP_PKEY_EC;
	EVP_PKEY_free(pk);
	BIO_free(kb);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	return ctx;
Fail:;
	unsigned long e = ERR_get_error();
	char eb[160] = "invalid";
	if (e)
		ERR_error_string_n(e, eb, sizeof(eb));
	snprintf(err, errlen, "tls profile %s: %s: %s", m->name, what, eb);
	ERR_clear_error();
	EVP_PKEY_free(pk);
	BIO_free(kb);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(cas, X509_free);
	SSL_CTX_free(ctx);
	return NULL;
}

static void vcache_free(sig_tls_vcache *vc)
{
	if (vc) {
		pthread_mutex_destroy(&vc->mu);
		free(vc);
	}
}

static void set_free(sig_tls_set *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		SSL_CTX_free(s->p[i].ctx_ec);
		SSL_CTX_free(s->p[i].ctx_rsa);
		for (unsigned j = 0; j < s->p[i].n_sni; j++)
			free(s->p[i].sni[j]);
		vcache_free(s->p[i].vcache);
	}
	free(s);
}

static int add_profile(sig_tls_set *s, const material *m, char *err, size_t errlen)
{
	int idx = sig_tls_set_find(s, m->name);
	sig_tls_profile *p;
	if (idx >= 0) { /* runtime.json overrides the store's profile of that name */
		p = &s->p[idx];
		SSL_CTX_free(p->ctx_ec);
		SSL_CTX_free(p->ctx_rsa);
		for (unsigned j = 0; j < p->n_sni; j++)
			free(p->sni[j]);
		vcache_free(p->vcache);
		memset(p, 0, sizeof(*p));
		p->idx = (unsigned)idx;
	} else {
		if (s->n == SIG_MAX_PROFILES) {
			snprintf(err, errlen, "more than %d tls profiles", SIG_MAX_PROFILES);
			return SBC_E_LIMIT;
		}
		p = &s->p[s->n];
		p->idx = s->n++;
	}
	snprintf(p->name, sizeof(p->name), "%s", m->name);
	p->iname = sig_tls_intern(m->name);
	p->verify_client = m->verify_client;
	p->verify_depth = m->verify_depth;
	for (unsigned j = 0; j < m->n_sni; j++)
		p->sni[p->n_sni++] = strdup(m->sni[j]);
	/* SBC_TLS_VERIFY_CACHE=0 turns the memory off: for the benchmark's
	 * every-handshake-verifies row, or to rule it out when investigating */
	const char *vc_env = getenv("SBC_TLS_VERIFY_CACHE");
	if (m->verify_client && !(vc_env && strcmp(vc_env, "0") == 0)) {
		p->vcache = calloc(1, sizeof(*p->vcache));
		if (!p->vcache) {
			snprintf(err, errlen, "tls profile %s: out of memory", m->name);
			return -ENOMEM;
		}
		pthread_mutex_init(&p->vcache->mu, NULL);
	}
	for (unsigned c = 0; c < m->n_certs; c++) {
		int is_ec = 0;
		SSL_CTX *ctx = make_ctx(m, c, &is_ec, err, errlen);
		if (!ctx)
			return SBC_E_TLS;
		if (p->vcache)
			SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, p->vcache);
		SSL_CTX **slot = is_ec ? &p->ctx_ec : &p->ctx_rsa;
		if (*slot) {
			snprintf(err, errlen, "tls profile %s: two %s certificates", m->name,
				 is_ec ? "ECDSA" : "RSA");
			SSL_CTX_free(ctx);
			return SBC_E_TLS;
		}
		*slot = ctx;
	}
	return 0;
}

/* Store profiles: "P" plus an optional sibling "P.rsa" or "P.ecdsa" whose
 * certificate is served by P as its second one (the store holds one
 * certificate per profile). */
static int load_store(const char *path, sig_tls_set *s, char *err, size_t errlen)
{
	store *st = sig_store_get(path);
	store_reader *rd = NULL;
	char names[SIG_MAX_PROFILES * 2][STORE_NAME_MAX + 1];
	bool more = false;
	if (!st)
		return 0; /* no store yet: nothing to load */
	int r = store_reader_open(st, &rd);
	if (r < 0)
		goto Exit;
	int n = store_tls_list(rd, NULL, names, SIG_MAX_PROFILES * 2, &more);
	if (n < 0) {
		r = n;
		goto Exit;
	}
	for (int i = 0; i < n; i++) {
		size_t nl = strlen(names[i]);
		if ((nl > 4 && strcmp(names[i] + nl - 4, ".rsa") == 0) ||
		    (nl > 6 && strcmp(names[i] + nl - 6, ".ecdsa") == 0))
			continue; /* a sibling: loaded with its main profile */
		material m;
		memset(&m, 0, sizeof(m));
		for (int pass = 0; pass < 3; pass++) {
			char nm[STORE_NAME_MAX + 8];
			snprintf(nm, sizeof(nm), "%s%s", names[i], pass == 0 ? "" : pass == 1 ? ".rsa" : ".ecdsa");
			store_tls_profile tp;
			store_tls_init(&tp, nm);
			if (store_tls_get(rd, nm, &tp) < 0) {
				store_tls_clear(&tp);
				continue;
			}
			if (pass == 0) {
				snprintf(m.name, sizeof(m.name), "%s", tp.name);
				m.ca = tp.ca_pem ? strdup(tp.ca_pem) : NULL;
				m.verify_client = tp.require_client_cert;
				m.verify_depth = tp.verify_depth;
				for (unsigned j = 0; j < tp.n_sni && j < SIG_MAX_SNI; j++)
					m.sni[m.n_sni++] = strdup(tp.sni[j]);
				m.min_version = tp.min_version;
				snprintf(m.ciphers, sizeof(m.ciphers), "%s", tp.ciphers);
			}
			if (tp.cert_pem && tp.key_pem && m.n_certs < SIG_MAX_CERTS && (pass == 0 || m.name[0])) {
				m.cert[m.n_certs] = strdup(tp.cert_pem);
				m.key[m.n_certs++] = strdup(tp.key_pem);
			}
			store_tls_clear(&tp);
		}
		if (m.name[0] && m.n_certs)
			r = add_profile(s, &m, err, errlen);
		material_clear(&m);
		if (r < 0)
			goto Exit;
	}
	r = 0;
Exit:
	if (rd)
		store_reader_close(rd);
	return r;
}

int sig_tls_set_build(const sig_config *cfg, uint64_t generation, sig_tls_set **out, char *err,
		      size_t errlen)
{
	int r;
	sig_tls_set *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	s->generation = generation;
	if (cfg->store_path[0]) {
		r = load_store(cfg->store_path, s, err, errlen);
		if (r < 0) {
			if (!err[0])
				snprintf(err, errlen, "store %s: %s", cfg->store_path, sbc_strerror(r));
			goto Fail;
		}
	}
	for (unsigned i = 0; i < cfg->n_profiles; i++) {
		const sig_profile_cfg *pc = &cfg->profiles[i];
		material m;
		memset(&m, 0, sizeof(m));
		snprintf(m.name, sizeof(m.name), "%s", pc->name);
		m.verify_client = pc->verify_client;
		m.verify_depth = pc->verify_depth;
		for (unsigned j = 0; j < pc->n_sni; j++)
			m.sni[m.n_sni++] = strdup(pc->sni[j]);
		r = 0;
		if (pc->ca && !(m.ca = read_file(pc->ca, err, errlen)))
			r = SBC_E_TLS;
		for (unsigned c = 0; r == 0 && c < pc->n_certs; c++) {
			m.cert[c] = read_file(pc->cert[c], err, errlen);
			m.key[c] = m.cert[c] ? read_file(pc->key[c], err, errlen) : NULL;
			m.n_certs = c + 1;
			if (!m.cert[c] || !m.key[c])
				r = SBC_E_TLS;
		}
		if (r == 0)
			r = add_profile(s, &m, err, errlen);
		material_clear(&m);
		if (r < 0)
			goto Fail;
	}
	*out = s;
	return 0;
Fail:
	set_free(s);
	return r < 0 ? r : SBC_E_TLS;
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

/* A connection's SSL on the handshake's profile (its EC context when it has
 * one; the certificate callback may switch), tied to hs. */
static SSL *profile_ssl(sig_tls_hs *hs, SSL_CTX **base)
{
	const sig_tls_profile *p = &hs->set->p[hs->profile];
	*base = p->ctx_ec ? p->ctx_ec : p->ctx_rsa;
	SSL *ssl = SSL_new(*base);
	if (ssl)
		SSL_set_ex_data(ssl, g_ex_idx, hs);
	return ssl;
}

/* Gives ssl its socket; frees it on failure. */
static SSL *with_fd(SSL *ssl, int fd)
{
	if (!SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

SSL *sig_tls_server_new(sig_tls_hs *hs, int fd)
{
	SSL_CTX *base;
	SSL *ssl = profile_ssl(hs, &base);
	if (!ssl)
		return NULL;
	SSL_set_accept_state(ssl);
	SSL_set_shed_handshake_config(ssl, 1);
	if (!g_ra_method)
		return with_fd(ssl, fd);
	/* reads through the read-ahead BIO, writes through a socket BIO */
	BIO *rb = ra_bio_new(fd), *wb = rb ? BIO_new_socket(fd, BIO_NOCLOSE) : NULL;
	if (!wb) {
		BIO_free(rb);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_bio(ssl, rb, wb);
	return ssl;
}

SSL *sig_tls_client_new(sig_tls_hs *hs, int fd, const char *server_name)
{
	SSL_CTX *base;
	SSL *ssl = profile_ssl(hs, &base);
	if (!ssl)
		return NULL;
	SSL_set_connect_state(ssl);
	if (server_name && server_name[0]) {
		struct in6_addr ip6;
		struct in_addr ip4;
		if (inet_pton(AF_INET, server_name, &ip4) == 1 || inet_pton(AF_INET6, server_name, &ip6) == 1) {
			/* an address: no SNI (RFC 6066 3), the certificate must name the IP */
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name);
		} else {
			SSL_set_tlsext_host_name(ssl, server_name);
			X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), server_name, strlen(server_name));
		}
	}
	/* The server is verified against the profile's CA bundle when it has one. */
	if (X509_STORE_get0_objects(SSL_CTX_get_cert_store(base)) &&
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(base))) > 0)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	else
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	return with_fd(ssl, fd);
}
