/* sbc-signal — the transport layer's interface to the layer above (the
 * B2BUA, issue 5): messages in, messages out.
 *
 * Caveats:
 *  1. Threads: every callback runs on the worker thread that owns the
 *     socket or connection the message came in on. sig_rx and everything it
 *     points to is valid only during the callback: copy what you keep.
 *  2. Connection handles (sig_conn_id) are plain numbers that stay safe to
 *     use from any worker: a handle whose connection has closed is never
 *     dereferenced (SBC_E_CLOSED on the owning worker; from another worker
 *     the send crosses an in-process SPSC ring, no lock, and the owner drops
 *     it, counted as send_errors, when the connection is gone).
 *  3. TLS: a message on a TLS connection arrives only after the handshake
 *     succeeded; when the profile requires client certificates, the chain
 *     has been verified and rx->peer carries the identity. When trunks in
 *     the store name certificates, a certificate no trunk names was refused
 *     in the handshake, and rx->trunk is the matching trunk. A resumed
 *     session whose identity left the cache (sig_peer.h) carries only the
 *     fingerprint (subject "" and no SANs).
 *  4. rx->trunk: the trunk by verified certificate, else by source address
 *     (store CIDRs), else NULL. The built-in responder answers 403 to a
 *     source that matches no trunk when trunks exist.
 *  5. Returns follow sbc/err.h: 0 or a negative sbc error.
 */
#ifndef SIG_TRANSPORT_H
#define SIG_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/sockaddr.h"

typedef struct uv_loop_s uv_loop_t;
typedef struct shm_seg shm_seg;

enum sig_tp {
	SIG_TP_UDP = 0,
	SIG_TP_TCP = 1,
	SIG_TP_TLS = 2,
	SIG_TP_MAX_,
};

const char *sig_tp_name(unsigned tp);
/* "udp", "tcp", "tls" (case-insensitive) -> enum sig_tp, or -1. */
int sig_tp_parse(const char *s);

/* A connection handle: worker index, slot and generation packed together.
 * 0 means "no connection" (UDP). */
typedef uint64_t sig_conn_id;

/* The index of the worker that owns a connection (its top 8 bits). */
static inline unsigned sig_conn_id_worker(sig_conn_id id) { return (unsigned)(id >> 56); }

#define SIG_FP_LEN 32

/* The verified identity of a TLS peer's certificate. */
#define SIG_PEER_MAX_SANS 8

/* Formats match the store's trunk certificate identities (store-t.h):
 * subject as one-line RFC 2253 text, SANs as bare values (DNS name, URI,
 * IP address text), the fingerprint as raw SHA-256 bytes. */
typedef struct sig_peer_id {
	uint8_t sha256[SIG_FP_LEN]; /* of the leaf certificate (DER) */
	const char *subject;        /* "CN=carrier.example,O=..." */
	const char *sans[SIG_PEER_MAX_SANS];
	unsigned n_sans;
	uint8_t verified;           /* 1: chain verified against the profile CA */
} sig_peer_id;

typedef struct sig_worker sig_worker;

typedef struct sig_rx {
	sig_worker *worker;
	unsigned worker_idx;
	enum sig_tp tp;
	sig_conn_id conn;          /* 0 for UDP */
	const sbc_addr *src;       /* the peer */
	const sbc_addr *local;     /* the listener's address */
	const char *profile;       /* TLS profile name, NULL otherwise */
	const sig_peer_id *peer;   /* TLS with a client certificate, else NULL */
	const char *trunk;         /* the trunk this source/certificate belongs to, or NULL */
	const char *msg;           /* the whole message */
	uint32_t hdr_len;          /* start line + headers + empty line */
	uint32_t body_len;
	unsigned hops;             /* times handed on between workers (sig_forward_rx) */
} sig_rx;

/* The layer above installs one handler for the whole process before the
 * workers start; NULL keeps the built-in responder (OPTIONS -> 200, other
 * requests -> 501, or 403 when sources are restricted). */
typedef void (*sig_rx_cb)(const sig_rx *rx, void *arg);
void sig_set_rx_handler(sig_rx_cb cb, void *arg);

/* Workers, for the layer above: each worker thread runs one libuv loop;
 * per-worker state (dialogs, timers, media rings) lives on that loop. The
 * start hook runs on the worker's thread before it serves any traffic, the
 * stop hook on the same thread after its connections are closed. Install
 * both before the workers start. */
typedef void (*sig_worker_hook)(sig_worker *w, void *arg);
void sig_set_worker_hooks(sig_worker_hook start, sig_worker_hook stop, void *arg);
/* Runs on the worker's thread whenever its doorbell rang (and on every
 * 100 ms tick): the layer above drains its own rings from sbc-media there
 * (they share the worker's doorbell with the control ring). */
void sig_set_ring_hook(sig_worker_hook fn, void *arg);
/* Runs on the connection's worker thread when a TCP/TLS connection a peer
 * opened to us closes (the layer above forgets what it kept about it).
 * tp: its transport. carried_requests: a request of ours went out on it (sig_send_conn with
 * bytes that are not a response), so some transaction may wait on it; a
 * connection that only brought requests in and took responses out has
 * none, and its close needs no search for them. */
typedef void (*sig_conn_closed_hook)(sig_worker *w, sig_conn_id id, enum sig_tp tp, int carried_requests);
void sig_set_conn_closed_hook(sig_conn_closed_hook fn);
/* Runs on the worker's thread when bytes it handed to the transport are
 * known lost without the sender having been told (the send call had
 * returned 0): an outbound TCP/TLS connection that could not be opened
 * (refused, unreachable, connect timed out, TLS handshake failed), one
 * that closes later (what is still unanswered on it is taken as lost), or
 * any connection closed with output still queued (a write error at the
 * batch flush, the output limit); a UDP datagram the kernel refused at the
 * batch flush (EPERM, EACCES, ENETUNREACH...; not EAGAIN or ENOBUFS, our
 * own congestion: UDP transactions retransmit) or an ICMP port, host or
 * network unreachable for one (sig_udp.c). The layer above treats it as
 * a transport error of the transactions toward tp/dst (or on conn) that
 * have no response yet (RFC 3261 8.1.3.1, 17.1.4, 18.4). Delivered from a
 * zero timer at the start of the next loop iteration, never inside a send
 * call. conn: the connection (0 for UDP); err: a negative sbc error;
 * at_ns: uv_hrtime() when the loss was found: what was handed to the
 * transport after it (a new connection to the same peer) was not lost.
 * icmp: NULL, or for an ICMP error the request the ICMP quotes: then only
 * the one client transaction with that method and Via branch toward dst
 * is lost (RFC 5927 4.1: an ICMP that quotes no request of ours, e.g. a
 * forged one, fails nothing), and the loss says nothing about the peer's
 * health (anyone who knows the addresses can send one): the B2BUA fails
 * a call's attempt over but never marks the trunk down for it, and lets
 * an OPTIONS ping run to its own timeout. */
typedef struct sig_icmp_quote {
	char method[16];  /* request line method of the quoted datagram */
	char branch[96];  /* its top Via branch */
} sig_icmp_quote;
typedef void (*sig_send_failed_hook)(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn,
				     int err, uint64_t at_ns, const sig_icmp_quote *icmp);
void sig_set_send_failed_hook(sig_send_failed_hook fn);
/* For the send-failed hook: an ICMP quote whose branch belongs to worker
 * `to` (another one) is handed there, to reach the hook on that worker
 * (it drains the same way as its own ICMP errors). */
int sig_forward_icmp(sig_worker *w, unsigned to, const sbc_addr *dst, int err, const sig_icmp_quote *q);
/* Runs on the worker's thread for an SBC_MSG_COMMAND from sbc-control
 * (JSON text, not NUL-terminated); the hook answers with
 * sig_command_reply(). */
typedef void (*sig_command_hook)(sig_worker *w, uint64_t request_id, const char *json, size_t len, void *arg);
void sig_set_command_hook(sig_command_hook fn, void *arg);
int sig_command_reply(sig_worker *w, uint64_t request_id, const char *json, size_t len);
/* Appends the layer above's counters to a worker's stats object: writes
 * ',"name":{...}' into buf (on the worker's thread) and returns the length,
 * or 0 / a negative error to add nothing. */
typedef int (*sig_stats_hook)(sig_worker *w, char *buf, size_t cap, void *arg);
void sig_set_stats_hook(sig_stats_hook fn, void *arg);
/* A JSON text event for sbc-control (SBC_MSG_CALL_EVENT), from the worker's
 * thread. SBC_E_STATE without the control ring (standalone). A full ring
 * does not lose it (held, see sig_worker.c); SBC_E_RING_FULL only when it
 * was dropped (counted and logged). */
int sig_call_event(sig_worker *w, const char *json, size_t len);
uv_loop_t *sig_worker_loop(sig_worker *w);
unsigned sig_worker_index(const sig_worker *w);
unsigned sig_worker_count(void);
/* A pointer the layer above may keep per worker (NULL initially). */
void **sig_worker_user(sig_worker *w);
/* The shared segment (rings to sbc-media), or NULL in standalone mode. */
shm_seg *sig_segment(void);

/* Replies on the transport a message came in on: the same connection, or
 * the same UDP socket toward rx->src. Call during the rx callback. */
int sig_reply(const sig_rx *rx, const void *buf, size_t len);

/* Hands a received message to worker `to` (the one owning its call, e.g.
 * a B-leg response that SO_REUSEPORT gave to another worker, or a BYE on a
 * TCP/TLS connection another worker accepted): it is delivered there
 * through the rx handler, with rx->local that worker's listener of the same
 * transport and address. TCP/TLS: rx->conn stays the sender's connection
 * (sig_reply and sig_send_conn cross back to it), rx->peer is NULL there
 * (rx->trunk carries the verdict). Call during the rx callback. */
int sig_forward_rx(const sig_rx *rx, unsigned to);

/* Sends buf on an existing connection (any worker's). */
int sig_send_conn(sig_worker *w, sig_conn_id id, const void *buf, size_t len);

/* Closes a connection (any worker's; through the ring for another's). */
int sig_close_conn(sig_worker *w, sig_conn_id id);

/* Sends buf to dst over tp: UDP from this worker's socket; TCP/TLS through
 * a connection to dst owned by this worker, opened when none exists (TLS
 * client role with the named profile and SNI server_name, may be NULL). */
int sig_send_addr(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, const char *profile,
		  const char *server_name, const void *buf, size_t len);

/* Where a request goes when the layer above knows a URI, not an address. */
typedef struct sig_dest {
	const char *host;        /* DNS name or IP literal */
	uint16_t port;           /* 0: none in the URI */
	int tp;                  /* enum sig_tp, or -1: none in the URI */
	int secure;              /* sips: URI */
	const char *profile;     /* TLS profile for the client role ("default" if NULL) */
	const char *server_name; /* SNI / name checked in the server certificate, or NULL */
} sig_dest;

/* status 0: the message left through `conn` (0 for UDP) toward `addr` over
 * `tp`; otherwise every target failed (a negative sbc error). */
typedef void (*sig_send_cb)(void *arg, int status, enum sig_tp tp, const sbc_addr *addr,
			    sig_conn_id conn);

/* Resolves dst (RFC 3263, sig_dns.h) and sends buf to the first target that
 * takes it: a TCP/TLS target whose connection cannot be opened (refused,
 * timed out, handshake failed) is skipped for the next one. Existing
 * connections are reused. cb (may be NULL) runs once on this worker. */
int sig_send_uri(sig_worker *w, const sig_dest *dst, const void *buf, size_t len, sig_send_cb cb,
		 void *arg);

#endif
