/* sbc-control — the two things the control methods need from TLS material:
 * inspect a profile (and refuse a bad one) and make the default self-signed
 * certificate. Thin adapter over ctl_tls.h (the store engineer's BoringSSL
 * code) so the methods do not depend on its exact signatures. */
#ifndef CTL_TLS_CHECK_H
#define CTL_TLS_CHECK_H

#include <stddef.h>

#include <jansson.h>

#include "sbc/store-t.h"

/* Parses the profile's certificate chain and key, checks they match and the
 * leaf is valid now. On success *info (may stay NULL) describes the leaf:
 * subject, sans, issuer, not_before, not_after, sha256. Returns 0 or a
 * negative sbc error with err naming the reason. */
int ctl_tls_check_profile(const store_tls_profile *p, json_t **info, char *err, size_t errlen);

/* Fills p (already store_tls_init'ed with its name) with a fresh
 * self-signed ECDSA P-256 certificate and key for the given host names. */
int ctl_tls_make_self_signed(store_tls_profile *p, const char *const *hosts, size_t nhosts, char *err,
			     size_t errlen);

#endif
