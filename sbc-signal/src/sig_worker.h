/* sbc-signal — workers: one libuv loop per thread, its listeners, its
 * connections, its counters. Internal to sbc-signal.
 *
 * Rules:
 *  1. Everything in a sig_worker is owned by its thread (WRITER: owner)
 *     unless marked otherwise. Other threads reach a worker only through
 *     its inbound SPSC rings (one per sending worker) and its doorbell.
 *  2. A connection belongs to the worker that accepted or opened it, for
 *     its whole life; its handle (sig_conn_id) encodes the worker, the slot
 *     and the slot's generation, so a stale handle is detected.
 *  3. Memory per idle connection: the sig_conn struct (a few hundred
 *     bytes) and the SSL state; reads go into the worker's scratch buffer
 *     and only a partial message is copied into a per-connection buffer.
 */
#ifndef SIG_WORKER_H
#define SIG_WORKER_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "sbc/ring.h"
#include "sbc/shm.h"
#include "sig_config.h"
#include "sig_framing.h"
#include "sig_peer.h"
#include "sig_ratelimit.h"
#include "sig_stats.h"
#include "sig_tls_profile.h"
#include "sig_transport.h"
#include "sig_trunk.h"

#define SIG_SCRATCH_BYTES (128u * 1024u)
#define SIG_XRING_BYTES (512u * 1024u)
#define SIG_OUTBUF_MAX (1u << 20)
#define SIG_UDP_BATCH 16 /* datagrams per recvmmsg */

typedef struct sig_server sig_server;

enum sig_conn_state {
	SIG_CS_CONNECTING = 0, /* outbound TCP connect in progress */
	SIG_CS_HANDSHAKE = 1,  /* TLS handshake in progress */
	SIG_CS_OPEN = 2,
	SIG_CS_CLOSING = 3,
};

enum sig_conn_list {
	SIG_CL_NONE = 0,
	SIG_CL_HANDSHAKE = 1, /* deadline: handshake timeout */
	SIG_CL_PARTIAL = 2,   /* deadline: partial message timeout */
	SIG_CL_CONNECT = 3,   /* deadline: outbound connect timeout */
};



typedef struct sig_conn {
	uv_poll_t poll;     /* data = the conn; freed in its close callback */
	struct sig_worker *w;
	int fd;
	uint32_t slot, gen;
	uint8_t tp;         /* enum sig_tp */
	uint8_t state;      /* enum sig_conn_state */
	uint8_t list;       /* enum sig_conn_list */
	uint8_t poll_ev;    /* UV_READABLE/UV_WRITABLE now polled (0: not yet) */
	uint8_t outbound;   /* we opened it (client role) */
	uint8_t want_write; /* poll for POLLOUT */
	uint8_t carries_req; /* a request of ours went out on it (sig_send_conn, from any
			      * worker): its close is reported (the closed hook) */
	uint16_t listener;  /* index into the worker's listeners; 0xffff outbound */
	uint32_t rl_ticket; /* sig_ratelimit entry, released at close */
	SSL *ssl;
	sig_tls_hs hs;      /* set referenced only during the handshake */
	sig_peer_store *peer; /* verified client identity, or NULL */
	const char *profile_name; /* TLS: interned name of the profile in use */
	const char *trunk;  /* interned trunk name, or NULL */
	uint8_t trunk_by_cert; /* trunk matched on the verified client certificate */
	uint64_t trunk_gen; /* sig_trunks_generation when trunk was named (inbound) */
	sbc_addr addr;      /* the peer */
	char *in;           /* partial message, or NULL */
	uint32_t in_len, in_cap;
	char *out;          /* unsent bytes, or NULL */
	uint32_t out_len, out_off;
	uint64_t deadline_ms;
	struct sig_conn *lnext, *lprev; /* in the worker's deadline list */
	struct sig_conn *hnext;         /* outbound: in the destination hash */
	struct sig_out_job *job;        /* outbound: a send waiting for this connection */
} sig_conn;

typedef struct sig_listener {
	uint8_t tp;
	int fd;
	sbc_addr addr;
	int16_t profile;   /* TLS: profile index in the snapshot at start */
	char profile_name[SIG_NAME_MAX];
	union {
		uv_udp_t udp;
		uv_poll_t poll;
	} h;
	struct sig_worker *w;
	uint8_t paused;    /* accepting paused after EMFILE */
} sig_listener;

/* Cross-worker message: send these bytes on that connection. */
typedef struct sig_xmsg_send {
	sig_conn_id conn;
	uint32_t len;
	uint32_t flags; /* SIG_XSEND_* */
	char data[];
} sig_xmsg_send;
/* a request (not a response): its loss is bounced back (SIG_XMSG_LOST) */
#define SIG_XSEND_REQUEST 1u

#define SIG_XMSG_SEND 1
#define SIG_XMSG_CLOSE 2 /* payload: sig_conn_id */
#define SIG_XMSG_RX 3    /* a received message for the worker that owns its call */
#define SIG_XMSG_ICMP 4  /* an ICMP error quoting a request another worker sent */
#define SIG_XMSG_LOST 5  /* a connection lost what another worker sent on it (sig_forward_lost) */

/* An ICMP lands on the SO_REUSEPORT socket its addresses hash to, not on
 * the socket of the worker that sent the quoted request: the worker that
 * drained it hands it to the branch's owner (sig_forward_icmp). */
typedef struct sig_xmsg_icmp {
	sbc_addr dst;      /* the peer the quoted datagram went to */
	int32_t err;       /* -errno */
	uint32_t _reserved;
	sig_icmp_quote q;
} sig_xmsg_icmp;

/* What a worker sends on another worker's connection (SIG_XMSG_SEND: a
 * B-leg request on a trunk's inbound connection) is lost when that
 * connection is gone as the bytes arrive, or closes before answering: the
 * connection's worker tells the worker whose transaction waits, which
 * takes it as a loss of its own (sig_batch_lost). */
typedef struct sig_xmsg_lost {
	sig_conn_id conn;
	int32_t err;       /* negative sbc error */
	uint8_t tp;        /* enum sig_tp */
	uint8_t _reserved[3];
} sig_xmsg_lost;

typedef struct sig_xmsg_rx {
	sbc_addr src;
	sbc_addr local;    /* the listener it came in on (same address on every worker) */
	const char *trunk; /* interned */
	const char *profile; /* TLS: interned profile name, else NULL */
	sig_conn_id conn;  /* TCP/TLS: the connection it came on (still the sender's); 0 for UDP */
	uint8_t tp;        /* enum sig_tp */
	uint8_t has_local; /* 0: a connection we opened (no listener) */
	uint16_t hops;     /* sig_rx.hops on arrival */
	uint32_t hdr_len, body_len;
	char data[];
} sig_xmsg_rx;

typedef struct sig_worker {
	unsigned idx;
	sig_server *srv;
	uv_loop_t loop;
	pthread_t thread;
	uv_async_t stop;
	uv_timer_t tick;
	uint64_t now_ms;

	sig_listener lst[SIG_MAX_LISTEN];
	unsigned n_lst;
	int reserve_fd;     /* closed to accept-and-drop on EMFILE */
	uv_timer_t resume;  /* resumes paused listeners */
	int paused_any;

	sig_conn **slots;   /* connection table */
	uint32_t *gens;
	uint32_t n_slots, cap_slots;
	uint32_t *free_slots;
	uint32_t n_free;
	uint32_t n_conns;

	sig_conn *lhead[4], *ltail[4]; /* deadline lists by enum sig_conn_list */

	sig_conn **out_hash; /* outbound connections by (tp, addr) */
	uint32_t out_mask;

	sig_rl *rl;
	char *scratch;
	char *udp_buf;      /* recvmmsg slots (SIG_UDP_BATCH x 64 KiB, mostly untouched) */
	sig_stats *stats;

	/* in-process rings: xin[j] from worker j, xout[j] to worker j */
	shm_ring_cons *xin;
	shm_ring_prod *xout;
	int xdoorbell;
	uv_poll_t xpoll;

	/* control rings when running under sbc-control */
	int has_ctl;
	shm_ring_cons ctl_in;
	shm_ring_prod ctl_out;
	int ctl_doorbell;
	uv_poll_t ctl_poll;
	int hello_sent;
	/* call events the full control ring refused, oldest first, as
	 * [uint32_t len][text] (sig_worker.c sig_call_event) */
	char *ev_held;
	size_t ev_held_off, ev_held_len, ev_held_cap;
	uint32_t ev_held_n;
	uint64_t ev_dropped, ev_dropped_logged, ev_drop_log_ms;
	uint64_t stop_deadline_ms; /* monotonic: a stopping worker's events wait for room until then */

	int udp_fd_for_send[2]; /* first UDP listener fd per family (v4, v6) */
	struct sig_dns *dns;    /* RFC 3263 resolver, created on first use */
	int stopping;
	void *user;                   /* the layer above's per-worker state */
	sig_trunks *trunks;           /* this worker's view of the store's trunks */
	sig_trunk_stats *tstats;      /* per-trunk counters (WRITER: this worker) */
} sig_worker;

struct sig_server {
	sig_config cfg;
	unsigned n_workers;
	sig_worker *w;           /* array of n_workers */
	sig_stats **stats;       /* one block per worker */
	sig_trunk_stats **tstats; /* one block per worker */
	shm_ring_hdr **xrings;   /* [from * n + to] */
	shm_seg *seg;            /* NULL standalone */
	uv_async_t *reload_async; /* main thread: reload TLS (set by main) */
	_Atomic uint64_t tls_gen_wanted;
	sig_rx_cb rx_cb;
	void *rx_arg;
};

/* sig_worker.c */
int sig_server_init(sig_server *srv, const sig_config *cfg, shm_seg *seg, char *err,
		    size_t errlen);
int sig_server_start(sig_server *srv);
void sig_server_stop(sig_server *srv);
void sig_server_destroy(sig_server *srv);
sig_server *sig_server_get(void);
void sig_worker_deliver(sig_worker *w, const sig_rx *rx);
int sig_worker_stats_json(sig_server *srv, char *buf, size_t cap);

/* sig_conn.c (TCP and TLS streams) */
void sig_stream_accept_cb(uv_poll_t *h, int status, int events);
sig_conn *sig_conn_lookup(sig_worker *w, sig_conn_id id);
sig_conn_id sig_conn_id_of(const sig_conn *c);
int sig_conn_send(sig_conn *c, const void *buf, size_t len);
void sig_conn_close(sig_conn *c, int reason);
void sig_conn_closed_notify(sig_conn *c); /* sig_conn_close: the closed hook */
void sig_conn_expire(sig_worker *w, uint64_t now_ms);
void sig_conn_close_all(sig_worker *w);
void sig_conn_init_hooks(void);
sig_conn *sig_conn_connect(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, const char *profile,
			   const char *server_name);
sig_conn *sig_conn_find_out(sig_worker *w, enum sig_tp tp, const sbc_addr *dst);

/* sig_out.c: outbound sends with failover */
struct sig_target;
int sig_send_targets(sig_worker *w, const struct sig_target *t, unsigned n, const char *profile,
		     const char *server_name, const void *buf, size_t len, sig_send_cb cb, void *arg);
void sig_out_conn_opened(sig_conn *c);
void sig_out_conn_failed(sig_conn *c);
void sig_out_destroy(sig_worker *w);

/* sig_udp.c */
int sig_udp_start(sig_worker *w, sig_listener *l);
int sig_udp_send(sig_worker *w, const sbc_addr *dst, const void *buf, size_t len);
int sig_udp_reply(const sig_rx *rx, const void *buf, size_t len);

/* sig_local.c: the built-in responder used until the B2BUA is installed. */
void sig_local_handle(const sig_rx *rx, void *arg);
/* Answers a framing error on a stream or datagram where a reply is possible.
 * Returns the length written into out, or 0. */
int sig_local_error_reply(const char *buf, size_t len, int status, const char *reason, char *out,
			  size_t cap);

/* sig_socket.c */
int sig_socket_listen(int tp, const sbc_addr *a, int *fd_out);
void sig_raise_nofile(void);

#endif
