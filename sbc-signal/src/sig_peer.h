/* sbc-signal — identities of TLS peers (sig_peer_id in sig_transport.h),
 * shared between connections and kept in a small process-wide cache by
 * certificate fingerprint.
 *
 * Why: server sessions keep only the SHA-256 of the client certificate
 * (SSL_set_retain_only_sha256_of_client_certs) so an idle mutual-TLS
 * connection does not carry the parsed chain; a resumed session finds the
 * identity its full handshake saw through the cache. Carriers are few, so
 * most connections share one identity object.
 *
 * Caveats:
 *  1. Objects are immutable after creation and reference counted (atomic);
 *     any thread may take and drop references.
 *  2. The cache holds at most SIG_PEER_CACHE entries; a full cache replaces
 *     an entry (its holders keep their reference). A resumed session whose
 *     identity left the cache gets a fingerprint-only identity.
 */
#ifndef SIG_PEER_H
#define SIG_PEER_H

#include <openssl/x509.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sig_transport.h"

#define SIG_PEER_CACHE 1024

typedef struct sig_peer_store {
	_Atomic int refs;
	sig_peer_id id;
	char text[]; /* subject and sans live here */
} sig_peer_store;

/* New identities (one reference each), or NULL on allocation failure. */
sig_peer_store *sig_peer_from_der(const uint8_t *der, size_t len, int verified);
sig_peer_store *sig_peer_from_x509(X509 *x, int verified);
sig_peer_store *sig_peer_from_sha256(const uint8_t sha[SIG_FP_LEN]); /* verified, no names */

void sig_peer_ref(sig_peer_store *p);
void sig_peer_unref(sig_peer_store *p);

/* A referenced cached identity for this fingerprint, or NULL. */
sig_peer_store *sig_peer_cache_find(const uint8_t sha[SIG_FP_LEN]);
/* Adds p (the cache takes its own reference). */
void sig_peer_cache_put(sig_peer_store *p);
/* Drops every cached entry (at exit). */
void sig_peer_cache_clear(void);

#endif
