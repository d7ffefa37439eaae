/* sbc-signal — TLS profiles: immutable snapshots of SSL_CTXs built from
 * the configured material, selected per connection by SNI and by the
 * client's signature algorithms (ECDSA or RSA certificate).
 *
 * Caveats:
 *  1. A snapshot (sig_tls_set) is never modified after it is built. The
 *     current one is published through an atomic pointer; a connection takes
 *     a reference for the length of its handshake (SNI lookup happens then).
 *     Each SSL holds its own SSL_CTX references, so a replaced snapshot dies
 *     with the last handshake that used it while established connections
 *     carry on untouched.
 *  2. Replacement runs on the main thread (file reads stay off the worker
 *     loops). The old snapshot's publishing reference is dropped after a
 *     grace period (SIG_TLS_GRACE_MS) so that a worker between loading the
 *     pointer and taking its reference never sees it freed.
 *  3. Session tickets use a process-wide key ring that survives snapshot
 *     replacement: the current key encrypts, the previous one still
 *     decrypts (and asks for a fresh ticket). sig_tls_rotate_ticket_keys()
 *     moves the ring; the main thread calls it every ticket_rotate_s.
 *  4. Only TLS 1.2 and 1.3, ECDHE key exchange only, AEAD suites only.
 *  5. The one mutable part of a snapshot: a mutual-TLS profile remembers
 *     client chains it verified (sig_tls_vcache: SHA-256 of the chain as
 *     presented, until the earliest notAfter in the verified path, at most
 *     an hour). A carrier reconnecting with the same chain skips
 *     X509_verify_cert (one ECDSA verification and the path building);
 *     its CertificateVerify signature is still checked, and the peer hook
 *     (identity to trunk) still runs on every handshake. A new snapshot
 *     (certificates or CA replaced) starts with an empty memory.
 *  6. A server handshake reads through a read-ahead BIO: one recv() takes
 *     what the client sent (several records) instead of two read()s per
 *     record; bytes not yet consumed are kept (allocated) until BoringSSL
 *     asks for them. When the handshake is done the connection must drain
 *     them (sig_tls_handshake_done), since epoll will not report them.
 *     Within one poll wake-up (sig_tls_wakeup) it stops calling recv once a
 *     read came back short: the socket was empty, epoll reports what comes.
 */
#ifndef SIG_TLS_PROFILE_H
#define SIG_TLS_PROFILE_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sig_config.h"

#define SIG_TLS_GRACE_MS 2000

typedef struct sig_tls_profile {
	char name[SIG_NAME_MAX];
	const char *iname; /* the name interned: valid for the process lifetime */
	unsigned idx;
	SSL_CTX *ctx_ec;  /* ECDSA certificate, or NULL */
	SSL_CTX *ctx_rsa; /* RSA certificate, or NULL */
	int verify_client;
	int verify_depth;
	char *sni[SIG_MAX_SNI];
	unsigned n_sni;
	struct sig_tls_vcache *vcache; /* verify_client: chains verified (caveat 5) */
} sig_tls_profile;

typedef struct sig_tls_set {
	_Atomic int refs;
	uint64_t generation;
	unsigned n;
	sig_tls_profile p[SIG_MAX_PROFILES];
} sig_tls_set;

/* Per-handshake state a server SSL carries (in its ex_data); lives in the
 * connection. */
typedef struct sig_tls_hs {
	sig_tls_set *set;  /* referenced while the handshake runs */
	void *owner;       /* the connection, for the peer hook */
	int16_t profile;   /* index into set->p: the listener's, then SNI's */
} sig_tls_hs;

/* Called during a server handshake once the client's chain verified, with
 * its leaf: return 1 to accept, 0 to refuse (the handshake fails with an
 * alert before any application data is read). */
typedef int (*sig_tls_peer_hook)(void *owner, X509 *leaf);
void sig_tls_set_peer_hook(sig_tls_peer_hook hook);

int sig_tls_init(void);

/* A copy of name that lives as long as the process (profile names are few:
 * at most SIG_TLS_MAX_NAMES distinct ones are kept; later ones get "?"). */
#define SIG_TLS_MAX_NAMES 256
const char *sig_tls_intern(const char *name);

/* Builds a snapshot from cfg (reads files). Returns 0 or SBC_E_TLS with a
 * sentence in err. */
int sig_tls_set_build(const sig_config *cfg, uint64_t generation, sig_tls_set **out, char *err,
		      size_t errlen);
void sig_tls_set_ref(sig_tls_set *s);
void sig_tls_set_unref(sig_tls_set *s);
int sig_tls_set_find(const sig_tls_set *s, const char *name); /* index or -1 */

/* The published snapshot with a reference taken, or NULL. */
sig_tls_set *sig_tls_current(void);
/* Publishes s (its creation reference moves to the publisher) and returns
 * the previous one, whose publishing reference the caller drops after the
 * grace period. */
sig_tls_set *sig_tls_publish(sig_tls_set *s);

/* A server SSL for a new connection on fd. hs must outlive the handshake. */
SSL *sig_tls_server_new(sig_tls_hs *hs, int fd);
/* A server SSL's handshake finished: its reads stop reading ahead (caveat
 * 6). Returns the bytes already read ahead that the connection must still
 * take with SSL_read (the client's first requests), as does
 * sig_tls_read_ahead_left; 0 for SSLs without read-ahead. */
size_t sig_tls_handshake_done(SSL *ssl);
size_t sig_tls_read_ahead_left(SSL *ssl);
/* A server handshake goes on after a poll wake-up: the read-ahead may recv
 * again (it reads the socket at most until a short read per wake-up). */
void sig_tls_wakeup(SSL *ssl);
/* A client SSL toward server_name (may be NULL), verifying the server with
 * the profile's CA bundle when it has one. */
SSL *sig_tls_client_new(sig_tls_hs *hs, int fd, const char *server_name);

void sig_tls_rotate_ticket_keys(void);

#endif
