/* sbc-control — TLS material with BoringSSL (see ctl_tls.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ctl_tls.h"
#include "sbc/err.h"

static void iso8601(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(buf, 32, "%lld", (long long)t);
		return;
	}
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ASN1_TIME -> unix seconds (this BoringSSL has no ASN1_TIME_to_posix). */
static int asn1_time_posix(const ASN1_TIME *t, int64_t *out)
{
	ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
	int days, secs, ok;

	if (!epoch)
		return -ENOMEM;
	ok = ASN1_TIME_diff(&days, &secs, epoch, t);
	ASN1_TIME_free(epoch);
	if (!ok)
		return SBC_E_CERT;
	*out = (int64_t)days * 86400 + secs;
	return 0;
}

static void name_oneline(const X509_NAME *n, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	const uint8_t *data;
	size_t dlen;

	buf[0] = '\0';
	if (!b)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 && BIO_mem_contents(b, &data, &dlen)) {
		if (dlen >= len)
			dlen = len - 1;
		memcpy(buf, data, dlen);
		buf[dlen] = '\0';
	}
	BIO_free(b);
}

static void fill_sans(X509 *x, ctl_tls_info *info)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t i;

	info->n_sans = 0;
	if (!gens)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && info->n_sans < CTL_TLS_SANS_MAX; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char *dst = info->sans[info->n_sans];
		const ASN1_STRING *s = NULL;

		if (g->type == GEN_DNS)
			s = g->d.dNSName;
		else if (g->type == GEN_URI)
			s = g->d.uniformResourceIdentifier;
		if (s) {
			int l = ASN1_STRING_length(s);

			if (l <= 0 || l > STORE_HOST_MAX ||
			    memchr(ASN1_STRING_get0_data(s), '\0', (size_t)l))
				continue;
			memcpy(dst, ASN1_STRING_get0_data(s), (size_t)l);
			dst[l] = '\0';
			info->n_sans++;
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);

			if ((l == 4 && inet_ntop(AF_INET, ASN1_STRING_get0_data(g->d.iPAddress), dst,
						 STORE_HOST_MAX)) ||
			    (l == 16 && inet_ntop(AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), dst,
						  STORE_HOST_MAX)))
				info->n_sans++;
		}
	}
	GENERAL_NAMES_free(gens);
}

static void key_type(EVP_PKEY *pk, char *buf, size_t len)
{
	int id = EVP_PKEY_id(pk);

	if (id == EVP_PKEY_EC) {
		const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
		int nid = ec ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : 0;

		snprintf(buf, len, "EC %s",
			 nid == NID_X9_62_prime256v1 ? "P-256"
			 : nid == NID_secp384r1	     ? "P-384"
			 : nid == NID_secp521r1	     ? "P-521"
						     : "other curve");
	} else if (id == EVP_PKEY_RSA) {
		snprintf(buf, len, "RSA %d", EVP_PKEY_bits(pk));
	} else if (id == EVP_PKEY_ED25519) {
		snprintf(buf, len, "Ed25519");
	} else {
		snprintf(buf, len, "type %d", id);
	}
}

static int x509_info(X509 *x, ctl_tls_info *info, char *err, size_t errlen)
{
	static const char hex[] = "0123456789ABCDEF";
	EVP_PKEY *pk;
	unsigned mdlen = 0, i;

	name_oneline(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	name_oneline(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	info->self_signed = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
	fill_sans(x, info);
	if (asn1_time_posix(X509_get0_notBefore(x), &info->not_before) != 0 ||
	    asn1_time_posix(X509_get0_notAfter(x), &info->not_after) != 0) {
		sbc_errf(err, errlen, "certificate has an unreadable validity period");
		return SBC_E_CERT;
	}
	if (!X509_digest(x, EVP_sha256(), info->sha256, &mdlen) || mdlen != 32) {
		sbc_errf(err, errlen, "cannot hash the certificate");
		return SBC_E_CERT;
	}
	for (i = 0; i < 32; i++) {
		info->fingerprint[3 * i] = hex[info->sha256[i] >> 4];
		info->fingerprint[3 * i + 1] = hex[info->sha256[i] & 15];
		info->fingerprint[3 * i + 2] = i == 31 ? '\0' : ':';
	}
	info->key_type[0] = '\0';
	if ((pk = X509_get_pubkey(x)) != NULL) {
		key_type(pk, info->key_type, sizeof(info->key_type));
		EVP_PKEY_free(pk);
	}
	return 0;
}

/* Reads every certificate of pem; returns the count (0: none) and the
 * first in *leaf (caller frees), or SBC_E_CERT. */
static int read_chain(const char *pem, X509 **leaf, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	*leaf = NULL;
	if (!b)
		return -ENOMEM;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (n == 0)
			*leaf = x;
		else
			X509_free(x);
		n++;
	}
	BIO_free(b);
	/* the loop ends with a "no start line" error at the end of the data */
	{
		uint32_t e = ERR_peek_last_error();

		if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			ERR_clear_error();
		else if (e) {
			ERR_clear_error();
			X509_free(*leaf);
			*leaf = NULL;
			sbc_errf(err, errlen, "certificate %d does not parse as PEM X.509", n + 1);
			return SBC_E_CERT;
		}
	}
	if (n == 0) {
		sbc_errf(err, errlen, "no PEM certificate found");
		return SBC_E_CERT;
	}
	return n;
}

int ctl_tls_cert_info(const char *pem, ctl_tls_info *info, char *err, size_t errlen)
{
	X509 *leaf;
	int n, ret;

	memset(info, 0, sizeof(*info));
	if (!pem)
		return sbc_errf(err, errlen, "no certificate"), SBC_E_CERT;
	if ((n = read_chain(pem, &leaf, err, errlen)) < 0)
		return n;
	info->chain_len = (unsigned)n;
	ret = x509_info(leaf, info, err, errlen);
	X509_free(leaf);
	return ret;
}

int ctl_tls_inspect(const char *cert_pem, const char *key_pem, time_t now, ctl_tls_info *info,
		    char *err, size_t errlen)
{
	ctl_tls_info local;
	X509 *leaf = NULL;
	EVP_PKEY *pk = NULL;
	BIO *b = NULL;
	char t[32];
	int n, ret;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (!now)
		now = time(NULL);
	if (!cert_pem || !*cert_pem) {
		sbc_errf(err, errlen, "cert_pem: missing");
		return SBC_E_CERT;
	}
	if ((n = read_chain(cert_pem, &leaf, err, errlen)) < 0) {
		char why[200];

		snprintf(why, sizeof(why), "%s", err ? err : "");
		sbc_errf(err, errlen, "cert_pem: %s", why);
		return n;
	}
	info->chain_len = (unsigned)n;
	if ((ret = x509_info(leaf, info, err, errlen)) != 0)
		goto Exit;
	if (!key_pem || !*key_pem) {
		sbc_errf(err, errlen, "key_pem: missing");
		ret = SBC_E_CERT;
		goto Exit;
	}
	if (!(b = BIO_new_mem_buf(key_pem, -1))) {
		ret = -ENOMEM;
		goto Exit;
	}
	pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	ERR_clear_error();
	if (!pk) {
		sbc_errf(err, errlen, "key_pem: not a PEM private key (encrypted keys are not "
				    "supported)");
		ret = SBC_E_CERT;
		goto Exit;
	}
	if (!X509_check_private_key(leaf, pk)) {
		ERR_clear_error();
		sbc_errf(err, errlen, "key_pem: the private key does not match the certificate "
				    "(subject %s)", info->subject);
		ret = SBC_E_CERT;
		goto Exit;
	}
	if ((int64_t)now < info->not_before) {
		iso8601(info->not_before, t);
		sbc_errf(err, errlen, "cert_pem: certificate not valid yet (not before %s)", t);
		ret = SBC_E_CERT;
		goto Exit;
	}
	if ((int64_t)now > info->not_after) {
		iso8601(info->not_after, t);
		sbc_errf(err, errlen, "cert_pem: certificate expired at %s", t);
		ret = SBC_E_CERT;
		goto Exit;
	}
	ret = 0;
Exit:
	EVP_PKEY_free(pk);
	BIO_free(b);
	X509_free(leaf);
	return ret;
}

int ctl_tls_profile_check(const store_tls_profile *p, time_t now, ctl_tls_info *info, char *err,
			  size_t errlen)
{
	SSL_CTX *ctx;
	X509 *x;
	char why[200];
	int ret, n;

	if ((ret = ctl_tls_inspect(p->cert_pem, p->key_pem, now, info, err, errlen)) != 0)
		return ret;
	if (p->ca_pem && *p->ca_pem) {
		if ((n = read_chain(p->ca_pem, &x, why, sizeof(why))) < 0) {
			sbc_errf(err, errlen, "ca_pem: %s", why);
			return n;
		}
		X509_free(x);
	}
	if (p->min_version != 0x0303 && p->min_version != 0x0304) {
		sbc_errf(err, errlen, "min_version: must be 1.2 or 1.3");
		return SBC_E_INVAL;
	}
	if (p->ciphers[0]) {
		if (!(ctx = SSL_CTX_new(TLS_method())))
			return -ENOMEM;
		n = SSL_CTX_set_strict_cipher_list(ctx, p->ciphers);
		SSL_CTX_free(ctx);
		ERR_clear_error();
		if (!n) {
			sbc_errf(err, errlen, "ciphers: '%s' is not a cipher list BoringSSL accepts",
			       p->ciphers);
			return SBC_E_INVAL;
		}
	}
	return 0;
}

json_t *ctl_tls_info_json(const ctl_tls_info *info, time_t now)
{
	json_t *o = json_object(), *a = json_array();
	char nb[32], na[32];
	unsigned i;

	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		return NULL;
	}
	if (!now)
		now = time(NULL);
	iso8601(info->not_before, nb);
	iso8601(info->not_after, na);
	for (i = 0; i < info->n_sans; i++)
		json_array_append_new(a, json_string(info->sans[i]));
	json_object_set_new(o, "subject", json_string(info->subject));
	json_object_set_new(o, "issuer", json_string(info->issuer));
	json_object_set_new(o, "sans", a);
	json_object_set_new(o, "not_before", json_string(nb));
	json_object_set_new(o, "not_after", json_string(na));
	json_object_set_new(o, "fingerprint_sha256", json_string(info->fingerprint));
	json_object_set_new(o, "chain_length", json_integer(info->chain_len));
	json_object_set_new(o, "key_type", json_string(info->key_type));
	json_object_set_new(o, "self_signed", json_boolean(info->self_signed));
	json_object_set_new(o, "valid", json_boolean((int64_t)now >= info->not_before &&
						     (int64_t)now <= info->not_after));
	return o;
}

json_t *ctl_tls_profile_json(const store_tls_profile *p, bool include_key, time_t now)
{
	json_t *o = store_tls_to_json(p, include_key), *ci;
	ctl_tls_info info;
	char err[256];

	if (!o)
		return NULL;
	if (ctl_tls_cert_info(p->cert_pem, &info, err, sizeof(err)) == 0 &&
	    (ci = ctl_tls_info_json(&info, now)) != NULL)
		json_object_set_new(o, "certificate", ci);
	else
		json_object_set_new(o, "certificate_error", json_string(err));
	return o;
}

/* ---- generation ------------------------------------------------------------- */

void ctl_tls_free_key(char *key_pem)
{
	if (!key_pem)
		return;
	OPENSSL_cleanse(key_pem, strlen(key_pem));
	free(key_pem);
}

static char *bio_to_string(BIO *b)
{
	const uint8_t *data;
	size_t len;
	char *s;

	if (!BIO_mem_contents(b, &data, &len) || !(s = malloc(len + 1)))
		return NULL;
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

static EVP_PKEY *new_key(bool rsa)
{
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(rsa ? EVP_PKEY_RSA : EVP_PKEY_EC, NULL);
	EVP_PKEY *pk = NULL;

	if (!kc)
		return NULL;
	if (EVP_PKEY_keygen_init(kc) == 1 &&
	    (rsa ? EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 2048)
		 : EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc, NID_X9_62_prime256v1)) == 1)
		EVP_PKEY_keygen(kc, &pk);
	EVP_PKEY_CTX_free(kc);
	return pk;
}

static int add_sans(X509 *x, const char *const *sans, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	size_t i;
	int ok = 0;

	if (!gens)
		return 0;
	for (i = 0; i < n; i++) {
		const char *s = sans[i];
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_OCTET_STRING *ip = NULL;
		bool want_ip = strncmp(s, "IP:", 3) == 0;

		if (!g)
			goto Exit;
		if (want_ip || strncmp(s, "DNS:", 4) == 0)
			s += want_ip ? 3 : 4;
		ip = a2i_IPADDRESS(s);
		ERR_clear_error();
		if (ip) {
			GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		} else {
			ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

			if (want_ip || !ia5 || !ASN1_STRING_set(ia5, s, -1)) {
				ASN1_IA5STRING_free(ia5);
				GENERAL_NAME_free(g);
				goto Exit;
			}
			GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
		}
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto Exit;
		}
	}
	ok = n == 0 || X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
Exit:
	GENERAL_NAMES_free(gens);
	return ok;
}

int ctl_tls_make_cert(const ctl_tls_cert_req *req, char **cert_pem, char **key_pem, char *err,
		      size_t errlen)
{
	EVP_PKEY *pk = NULL, *ipk = NULL;
	X509 *x = NULL, *ix = NULL;
	BIO *b = NULL, *kb = NULL;
	ASN1_TIME *t = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	X509_NAME *name;
	uint8_t serial[8];
	uint64_t sn;
	int ret = SBC_E_TLS;
	const char *what = "key generation";

	*cert_pem = *key_pem = NULL;
	if (!req->cn || !*req->cn || req->not_after <= req->not_before) {
		sbc_errf(err, errlen, "certificate request: need a CN and not_after > not_before");
		return SBC_E_INVAL;
	}
	if (!(pk = new_key(req->rsa)))
		goto Fail;
	what = "issuer";
	if (req->issuer_cert_pem) {
		if (!(b = BIO_new_mem_buf(req->issuer_cert_pem, -1)) ||
		    !(ix = PEM_read_bio_X509(b, NULL, NULL, NULL)))
			goto Fail;
		BIO_free(b);
		if (!(b = BIO_new_mem_buf(req->issuer_key_pem ? req->issuer_key_pem : "", -1)) ||
		    !(ipk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)))
			goto Fail;
		BIO_free(b);
		b = NULL;
	}
	what = "certificate";
	RAND_bytes(serial, sizeof(serial));
	memcpy(&sn, serial, sizeof(sn));
	sn = (sn >> 1) | 1; /* positive, non-zero */
	if (!(x = X509_new()) || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), sn))
		goto Fail;
	if (!(t = ASN1_TIME_set(NULL, (time_t)req->not_before)) || !X509_set1_notBefore(x, t))
		goto Fail;
	ASN1_TIME_free(t);
	if (!(t = ASN1_TIME_set(NULL, (time_t)req->not_after)) || !X509_set1_notAfter(x, t))
		goto Fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const uint8_t *)req->cn, -1, -1,
					0))
		goto Fail;
	if (!X509_set_issuer_name(x, ix ? X509_get_subject_name(ix) : name) ||
	    !X509_set_pubkey(x, pk))
		goto Fail;
	if (!(bc = BASIC_CONSTRAINTS_new()))
		goto Fail;
	bc->ca = req->is_ca ? 0xff : 0;
	if (!X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT))
		goto Fail;
	if (!add_sans(x, req->sans, req->n_sans))
		goto Fail;
	if (!X509_sign(x, ipk ? ipk : pk, EVP_sha256()))
		goto Fail;
	what = "PEM encoding";
	if (!(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(b, x) ||
	    !(kb = BIO_new(BIO_s_mem())) ||
	    !PEM_write_bio_PKCS8PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL))
		goto Fail;
	if (!(*cert_pem = bio_to_string(b)) || !(*key_pem = bio_to_string(kb))) {
		free(*cert_pem);
		*cert_pem = NULL;
		ret = -ENOMEM;
		goto Fail;
	}
	ret = 0;
	goto Exit;
Fail:
	if (ret == SBC_E_TLS)
		sbc_errf(err, errlen, "making a certificate failed at %s", what);
	ERR_clear_error();
Exit:
	if (kb) {
		const uint8_t *d;
		size_t l;

		if (BIO_mem_contents(kb, &d, &l))
			OPENSSL_cleanse((void *)d, l);
		BIO_free(kb);
	}
	BASIC_CONSTRAINTS_free(bc);
	ASN1_TIME_free(t);
	BIO_free(b);
	X509_free(x);
	X509_free(ix);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(ipk);
	return ret;
}

int ctl_tls_selfsigned(const char *cn, const char *const *sans, size_t n_sans, unsigned days,
		       char **cert_pem, char **key_pem, char *err, size_t errlen)
{
	int64_t now = (int64_t)time(NULL);
	ctl_tls_cert_req req = {
		.cn = cn,
		.sans = sans,
		.n_sans = n_sans,
		.not_before = now - 3600,
		.not_after = now + (int64_t)(days ? days : 1) * 86400,
	};

	return ctl_tls_make_cert(&req, cert_pem, key_pem, err, errlen);
}
