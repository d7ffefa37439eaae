/* sbc-signal — TLS peer identities and their cache (see sig_peer.h). */
#include "sig_peer.h"

#include <openssl/bio.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/sockaddr.h"

static sig_peer_store *peer_build(X509 *x, const uint8_t sha[SIG_FP_LEN], int verified)
{
	char subject[512] = "", sans[SIG_PEER_MAX_SANS][256];
	unsigned n_sans = 0;
	if (x) {
		BIO *b = BIO_new(BIO_s_mem());
		if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
			const uint8_t *bd;
			size_t bl;
			if (BIO_mem_contents(b, &bd, &bl) && bl < sizeof(subject)) {
				memcpy(subject, bd, bl);
				subject[bl] = 0;
			}
		}
		BIO_free(b);
		GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		for (size_t i = 0; gens && i < sk_GENERAL_NAME_num(gens) && n_sans < SIG_PEER_MAX_SANS; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
			char *one = sans[n_sans];
			one[0] = 0;
			if (g->type == GEN_DNS || g->type == GEN_URI) {
				const ASN1_IA5STRING *s = g->type == GEN_DNS ? g->d.dNSName : g->d.uniformResourceIdentifier;
				int n = ASN1_STRING_length(s);
				if (n > 0 && n < 256 && !memchr(ASN1_STRING_get0_data(s), 0, (size_t)n))
					snprintf(one, 256, "%.*s", n, (const char *)ASN1_STRING_get0_data(s));
			} else if (g->type == GEN_IPADD) {
				sbc_addr a;
				memset(&a, 0, sizeof(a));
				int n = ASN1_STRING_length(g->d.iPAddress);
				if (n == 4) {
					a.sa.sa_family = AF_INET;
					memcpy(&a.in4.sin_addr, ASN1_STRING_get0_data(g->d.iPAddress), 4);
				} else if (n == 16) {
					a.sa.sa_family = AF_INET6;
					memcpy(&a.in6.sin6_addr, ASN1_STRING_get0_data(g->d.iPAddress), 16);
				}
				if (n == 4 || n == 16)
					sbc_addr_format_ip(&a, one, 256);
			}
			if (one[0])
				n_sans++;
		}
		GENERAL_NAMES_free(gens);
	}
	size_t need = strlen(subject) + 1;
	for (unsigned i = 0; i < n_sans; i++)
		need += strlen(sans[i]) + 1;
	sig_peer_store *ps = calloc(1, sizeof(*ps) + need);
	if (!ps)
		return NULL;
	atomic_init(&ps->refs, 1);
	memcpy(ps->id.sha256, sha, SIG_FP_LEN);
	char *t = ps->text;
	size_t l = strlen(subject) + 1;
	memcpy(t, subject, l);
	ps->id.subject = t;
	t += l;
	for (unsigned i = 0; i < n_sans; i++) {
		l = strlen(sans[i]) + 1;
		memcpy(t, sans[i], l);
		ps->id.sans[i] = t;
		t += l;
	}
	ps->id.n_sans = n_sans;
	ps->id.verified = (uint8_t)verified;
	return ps;
}

sig_peer_store *sig_peer_from_der(const uint8_t *der, size_t len, int verified)
{
	uint8_t sha[SIG_FP_LEN];
	const uint8_t *p = der;
	SHA256(der, len, sha);
	X509 *x = d2i_X509(NULL, &p, (long)len);
	sig_peer_store *ps = peer_build(x, sha, verified);
	X509_free(x);
	return ps;
}

sig_peer_store *sig_peer_from_x509(X509 *x, int verified)
{
	uint8_t *der = NULL;
	uint8_t sha[SIG_FP_LEN];
	int n = i2d_X509(x, &der);
	if (n <= 0)
		return NULL;
	SHA256(der, (size_t)n, sha);
	OPENSSL_free(der);
	return peer_build(x, sha, verified);
}

sig_peer_store *sig_peer_from_sha256(const uint8_t sha[SIG_FP_LEN]) { return peer_build(NULL, sha, 1); }

void sig_peer_ref(sig_peer_store *p) { atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); }

void sig_peer_unref(sig_peer_store *p)
{
	if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
		free(p);
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static sig_peer_store *g_cache[SIG_PEER_CACHE];

static unsigned slot_of(const uint8_t sha[SIG_FP_LEN])
{
	unsigned h;
	memcpy(&h, sha, sizeof(h));
	return h % SIG_PEER_CACHE;
}

sig_peer_store *sig_peer_cache_find(const uint8_t sha[SIG_FP_LEN])
{
	sig_peer_store *r = NULL;
	unsigned s = slot_of(sha);
	pthread_mutex_lock(&g_mu);
	if (g_cache[s] && memcmp(g_cache[s]->id.sha256, sha, SIG_FP_LEN) == 0) {
		r = g_cache[s];
		sig_peer_ref(r);
	}
	pthread_mutex_unlock(&g_mu);
	return r;
}

void sig_peer_cache_put(sig_peer_store *p)
{
	unsigned s = slot_of(p->id.sha256);
	sig_peer_store *old;
	sig_peer_ref(p);
	pthread_mutex_lock(&g_mu);
	old = g_cache[s];
	g_cache[s] = p;
	pthread_mutex_unlock(&g_mu);
	sig_peer_unref(old);
}

void sig_peer_cache_clear(void)
{
	pthread_mutex_lock(&g_mu);
	for (unsigned i = 0; i < SIG_PEER_CACHE; i++) {
		sig_peer_unref(g_cache[i]);
		g_cache[i] = NULL;
	}
	pthread_mutex_unlock(&g_mu);
}
