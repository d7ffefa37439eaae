/* sbc-control — TLS material: inspect and validate certificates and keys of
 * TLS profiles with BoringSSL, JSON views, and certificate generation (the
 * embedded default's self-signed ECDSA P-256 certificate, and tests).
 *
 * Caveats:
 *  1. ctl_tls_profile_check() refuses a profile whose leaf certificate is
 *     expired or not yet valid at `now`, whose key does not match the leaf,
 *     or whose PEM does not parse; err names the field and the reason. It
 *     does not verify the chain up to a CA (operators load private CAs).
 *  2. The private key never appears in a JSON view unless include_key is
 *     true, and no function here logs key material. PEM strings returned by
 *     ctl_tls_make_cert() are heap-allocated; free the key with
 *     ctl_tls_free_key() (wipes it first).
 *  3. Subjects and issuers are one-line RFC 2253 text (X509_NAME_print_ex
 *     with XN_FLAG_RFC2253), the same text trunk certificate matches of type
 *     "subject" compare against; fingerprints are SHA-256 of the DER.
 *  4. Not thread-safe with respect to nothing: every function is reentrant.
 */
#ifndef SBC_CTL_TLS_H
#define SBC_CTL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "sbc/store.h"

#define CTL_TLS_SANS_MAX 16
#define CTL_TLS_NAME_MAX 512

typedef struct ctl_tls_info {
	char subject[CTL_TLS_NAME_MAX];
	char issuer[CTL_TLS_NAME_MAX];
	unsigned n_sans;
	char sans[CTL_TLS_SANS_MAX][STORE_HOST_MAX + 1]; /* DNS names, IPs, URIs */
	int64_t not_before;                              /* unix seconds */
	int64_t not_after;
	uint8_t sha256[32];
	char fingerprint[96]; /* "AB:CD:..." upper-case hex with colons */
	unsigned chain_len;   /* certificates in cert_pem */
	char key_type[32];    /* "EC P-256", "RSA 2048", ... */
	bool self_signed;
} ctl_tls_info;

/* Parses cert_pem (leaf first, then intermediates) and key_pem, checks that
 * the key belongs to the leaf and that now (0: the current time) lies within
 * the leaf's validity. Fills info (may be NULL). Returns 0, SBC_E_CERT (bad
 * PEM, mismatch, expired, not yet valid; err says which) or -ENOMEM. */
int ctl_tls_inspect(const char *cert_pem, const char *key_pem, time_t now, ctl_tls_info *info,
		    char *err, size_t errlen);

/* Inspects one certificate (the first in pem) without a key or a validity
 * check: for the JSON view and for CA bundles. */
int ctl_tls_cert_info(const char *pem, ctl_tls_info *info, char *err, size_t errlen);

/* Full check of a profile before it is stored: ctl_tls_inspect on
 * cert_pem/key_pem, every certificate of ca_pem parses, the cipher list is
 * accepted by BoringSSL, min_version is 1.2 or 1.3. err starts with the field
 * name ("cert_pem: certificate expired at 2026-01-01T00:00:00Z"). */
int ctl_tls_profile_check(const store_tls_profile *p, time_t now, ctl_tls_info *info, char *err,
			  size_t errlen);

/* JSON object describing a certificate: subject, issuer, sans, not_before,
 * not_after (ISO 8601 UTC), fingerprint_sha256, chain_length, key_type,
 * self_signed, and "valid" (true when now is within the validity). */
json_t *ctl_tls_info_json(const ctl_tls_info *info, time_t now);

/* The profile as JSON (store_tls_to_json) plus "certificate": the info of
 * the leaf (or "certificate_error" when it does not parse). The private key
 * is included only when include_key. NULL on ENOMEM. */
json_t *ctl_tls_profile_json(const store_tls_profile *p, bool include_key, time_t now);

/* Certificate generation. SAN strings are "DNS:name", "IP:addr" or a bare
 * name/address (an address when it parses as one). */
typedef struct ctl_tls_cert_req {
	const char *cn;               /* subject and (self-signed) issuer CN */
	const char *const *sans;
	size_t n_sans;
	int64_t not_before;           /* unix seconds */
	int64_t not_after;
	bool is_ca;                   /* basicConstraints CA:TRUE, keyCertSign */
	const char *issuer_cert_pem;  /* NULL: self-signed */
	const char *issuer_key_pem;
	bool rsa;                     /* RSA 2048 instead of ECDSA P-256 (tests) */
} ctl_tls_cert_req;

/* Makes a key and a certificate; *cert_pem and *key_pem are new PEM strings.
 * Returns 0, SBC_E_TLS (err says why) or -ENOMEM. */
int ctl_tls_make_cert(const ctl_tls_cert_req *req, char **cert_pem, char **key_pem, char *err,
		      size_t errlen);

/* The embedded default's certificate: ECDSA P-256, self-signed, CN cn, the
 * given SANs, valid from an hour ago for `days` days. */
int ctl_tls_selfsigned(const char *cn, const char *const *sans, size_t n_sans, unsigned days,
		       char **cert_pem, char **key_pem, char *err, size_t errlen);

/* Wipes and frees a private key string (NULL is fine). */
void ctl_tls_free_key(char *key_pem);

#endif
