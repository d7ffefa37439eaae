/* sbc-signal — stream connections (TCP and TLS): accept, handshake,
 * framing, sending, deadlines, close. One owner thread per connection.
 *
 * Lifecycle (numbered as the code runs):
 *  1. accept: rate limits first (per source: open connections and, for TLS,
 *     handshake tokens), then the slot, then (TLS) the SSL object.
 *  2. TLS handshake under a deadline; failures are classified and counted.
 *  3. Open: reads go into the worker's scratch buffer; only the tail of a
 *     partial message is copied into c->in, which is freed once empty.
 *  4. Close: counted, the slot's generation moves on (stale handles are
 *     refused), SSL and buffers freed at once, the struct in the poll
 *     handle's close callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sig_batch.h"
#include "sig_sip.h"
#include "sig_worker.h"

#define SIG_CONN_ID(w, slot, gen) (((uint64_t)(w) << 56) | ((uint64_t)((slot) & 0xffffff) << 32) | (gen))

static void conn_poll_cb(uv_poll_t *h, int status, int events);
static void conn_do_handshake(sig_conn *c);
static void conn_read(sig_conn *c);

enum close_reason {
	CR_NORMAL = 0,
	CR_ERROR = 1,
};

/* --- deadline lists (FIFO: deadlines in a list share one duration) --- */

static void list_remove(sig_conn *c)
{
	sig_worker *w = c->w;
	unsigned l = c->list;
	if (l == SIG_CL_NONE)
		return;
	if (c->lprev)
		c->lprev->lnext = c->lnext;
	else
		w->lhead[l] = c->lnext;
	if (c->lnext)
		c->lnext->lprev = c->lprev;
	else
		w->ltail[l] = c->lprev;
	c->lnext = c->lprev = NULL;
	c->list = SIG_CL_NONE;
}

static void list_add(sig_conn *c, unsigned l, uint64_t deadline_ms)
{
	sig_worker *w = c->w;
	list_remove(c);
	c->list = (uint8_t)l;
	c->deadline_ms = deadline_ms;
	c->lprev = w->ltail[l];
	c->lnext = NULL;
	if (w->ltail[l])
		w->ltail[l]->lnext = c;
	else
		w->lhead[l] = c;
	w->ltail[l] = c;
}

/* --- slots --- */

static int slot_alloc(sig_worker *w, sig_conn *c)
{
	uint32_t s;
	if (w->n_free) {
		s = w->free_slots[--w->n_free];
	} else {
		if (w->n_slots == w->cap_slots) {
			uint32_t nc = w->cap_slots ? w->cap_slots * 2 : 1024;
			if (nc > 0xffffff)
				return SBC_E_LIMIT;
			sig_conn **ns = realloc(w->slots, nc * sizeof(*ns));
			if (!ns)
				return -ENOMEM;
			w->slots = ns;
			uint32_t *ng = realloc(w->gens, nc * sizeof(*ng));
			if (!ng)
				return -ENOMEM;
			w->gens = ng;
			uint32_t *nf = realloc(w->free_slots, nc * sizeof(*nf));
			if (!nf)
				return -ENOMEM;
			w->free_slots = nf;
			w->cap_slots = nc;
		}
		s = w->n_slots++;
		w->gens[s] = 0;
	}
	if (++w->gens[s] == 0)
		w->gens[s] = 1;
	w->slots[s] = c;
	c->slot = s;
	c->gen = w->gens[s];
	w->n_conns++;
	return 0;
}

static void slot_free(sig_worker *w, sig_conn *c)
{
	w->slots[c->slot] = NULL;
	w->free_slots[w->n_free++] = c->slot;
	w->n_conns--;
}

sig_conn_id sig_conn_id_of(const sig_conn *c)
{
	return SIG_CONN_ID(c->w->idx, c->slot, c->gen);
}

sig_conn *sig_conn_lookup(sig_worker *w, sig_conn_id id)
{
	uint32_t slot = (uint32_t)(id >> 32) & 0xffffff;
	uint32_t gen = (uint32_t)id;
	if (sig_conn_id_worker(id) != w->idx || slot >= w->n_slots)
		return NULL;
	sig_conn *c = w->slots[slot];
	if (!c || c->gen != gen || c->state == SIG_CS_CLOSING)
		return NULL;
	return c;
}

/* --- outbound hash --- */

static uint32_t out_hash(uint8_t tp, const sbc_addr *a, uint32_t mask)
{
	uint32_t h = tp * 0x9e3779b1u;
	const uint8_t *p;
	size_t n;
	if (a->sa.sa_family == AF_INET) {
		p = (const uint8_t *)&a->in4.sin_addr;
		n = 4;
	} else {
		p = (const uint8_t *)&a->in6.sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h ^= sbc_addr_port(a) * 0x85ebca6bu;
	return h & mask;
}

sig_conn *sig_conn_find_out(sig_worker *w, enum sig_tp tp, const sbc_addr *dst)
{
	if (!w->out_hash)
		return NULL;
	for (sig_conn *c = w->out_hash[out_hash((uint8_t)tp, dst, w->out_mask)]; c; c = c->hnext)
		if (c->tp == tp && c->state != SIG_CS_CLOSING && sbc_addr_equal(&c->addr, dst))
			return c;
	return NULL;
}

static void out_hash_remove(sig_conn *c)
{
	sig_worker *w = c->w;
	sig_conn **pp = &w->out_hash[out_hash(c->tp, &c->addr, w->out_mask)];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->hnext = NULL;
}

/* --- poll bookkeeping --- */

static void conn_update_poll(sig_conn *c)
{
	int ev = UV_READABLE;
	if (c->want_write || c->state == SIG_CS_CONNECTING)
		ev |= UV_WRITABLE;
	/* uv_poll_start takes the fd out of epoll and puts it back (two
	 * syscalls) even when nothing changes: a handshake would pay that
	 * twice for nothing */
	if (c->poll_ev == ev)
		return;
	c->poll_ev = (uint8_t)ev;
	uv_poll_start(&c->poll, ev, conn_poll_cb);
}

static void conn_free_cb(uv_handle_t *h)
{
	sig_conn *c = h->data;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static ssize_t conn_write_raw(sig_conn *c, const char *buf, size_t len);

void sig_conn_close(sig_conn *c, int reason)
{
	sig_worker *w = c->w;
	if (c->state == SIG_CS_CLOSING)
		return;
	(void)reason;
	/* output batched this iteration (sig_conn_send) goes before the close,
	 * as it did when every message was written at once; best effort */
	if (c->state == SIG_CS_OPEN && !c->want_write && c->out_len > c->out_off) {
		ssize_t n = conn_write_raw(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n > 0)
			sig_stat_add(w->stats, c->tp, SIG_ST_bytes_out, (uint64_t)n);
	}
	int was_open = c->state == SIG_CS_OPEN, was_hs = c->state == SIG_CS_HANDSHAKE;
	c->state = SIG_CS_CLOSING;
	list_remove(c);
	if (c->job && !was_open)
		sig_out_conn_failed(c); /* the send moves on to its next target */
	else if ((c->out_len > c->out_off || c->outbound) && !w->stopping) {
		/* output the senders were told had left (sig_conn_send returned 0)
		 * dies with the connection: connect refused or timed out, TLS
		 * handshake failed, a write error at the batch flush. Their
		 * transactions fail over now (send-failed hook), not after a
		 * timer. (A job's sig_out resends it to its next target.) Also
		 * any connection we opened toward a trunk that closes: a request
		 * on it still without a response is taken as lost (the trunk
		 * would have to connect back to answer it); few close, so the
		 * hook's pass over the transactions stays off the busy path.
		 * An inbound connection's loss names its id only: a request sent
		 * by address goes out on a connection of ours (the destination
		 * hash holds outbound ones only), so the peer's address would
		 * also fail those on our own healthy connection to that ip:port
		 * when a carrier connects from its listening port (as the
		 * B2BUA's inbound_closed reports it, for the same reason). */
		sbc_addr none;
		memset(&none, 0, sizeof(none));
		sig_batch_lost(w, (enum sig_tp)c->tp, c->outbound ? &c->addr : &none, sig_conn_id_of(c),
			       was_hs ? SBC_E_TLS : SBC_E_CLOSED);
	}
	if (c->outbound)
		out_hash_remove(c);
	else
		sig_rl_release(w->rl, c->rl_ticket);
	sig_stat_add(w->stats, c->tp, SIG_ST_conns_closed, 1);
	sig_stat_sub(w->stats, c->tp, SIG_ST_conns_open, 1);
	sig_conn_closed_notify(c);
	slot_free(w, c);
	if (c->hs.set) {
		sig_tls_set_unref(c->hs.set);
		c->hs.set = NULL;
	}
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	free(c->in);
	free(c->out);
	sig_peer_unref(c->peer);
	c->in = c->out = NULL;
	c->peer = NULL;
	uv_close((uv_handle_t *)&c->poll, conn_free_cb);
}

void sig_conn_close_all(sig_worker *w)
{
	sig_batch_flush(w); /* the worker stops: what this iteration queued leaves now */
	for (uint32_t s = 0; s < w->n_slots; s++)
		if (w->slots[s])
			sig_conn_close(w->slots[s], CR_NORMAL);
}

/* --- creation --- */

static sig_conn *conn_new(sig_worker *w, int fd, uint8_t tp, const sbc_addr *addr)
{
	sig_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->w = w;
	c->fd = fd;
	c->tp = tp;
	c->addr = *addr;
	c->listener = 0xffff;
	c->rl_ticket = UINT32_MAX;
	c->hs.profile = -1;
	if (slot_alloc(w, c) < 0) {
		free(c);
		return NULL;
	}
	if (uv_poll_init_socket(&w->loop, &c->poll, fd) < 0) {
		slot_free(w, c);
		free(c);
		return NULL;
	}
	c->poll.data = c;
	/* TCP_NODELAY: accepted sockets inherit it from the listener
	 * (sig_socket_listen), outbound ones get it in sig_conn_connect: one
	 * setsockopt per accepted connection less */
	sig_stat_add(w->stats, tp, SIG_ST_conns_open, 1);
	return c;
}

/* Sets up TLS on c with the profile named pname; 0 or an error. */
static int conn_tls_setup(sig_conn *c, const char *pname, const char *server_name)
{
	c->hs.owner = c;
	c->hs.set = sig_tls_current();
	if (!c->hs.set)
		return SBC_E_TLS;
	int p = sig_tls_set_find(c->hs.set, pname);
	if (p < 0)
		return SBC_E_NOT_FOUND;
	c->hs.profile = (int16_t)p;
	c->ssl = c->outbound ? sig_tls_client_new(&c->hs, c->fd, server_name)
			     : sig_tls_server_new(&c->hs, c->fd);
	if (!c->ssl)
		return SBC_E_TLS;
	return 0;
}

static void pause_listener(sig_worker *w, sig_listener *l);

static void accept_one(sig_worker *w, sig_listener *l, int fd, const sbc_addr *peer)
{
	sig_stats *st = w->stats;
	const sig_limits *lim = &w->srv->cfg.lim;
	uint32_t ticket = UINT32_MAX;
	int v = sig_rl_admit(w->rl, peer, w->now_ms, l->tp == SIG_TP_TLS, &ticket);
	if (v != SIG_RL_OK) {
		sig_stat_add(st, l->tp, v == SIG_RL_TOO_FAST ? SIG_ST_rate_limited : SIG_ST_conn_limited, 1);
		close(fd);
		return;
	}
	if (w->n_conns >= (lim->max_conns + w->srv->n_workers - 1) / w->srv->n_workers) {
		sig_stat_add(st, l->tp, SIG_ST_conn_limited, 1);
		sig_rl_release(w->rl, ticket);
		close(fd);
		return;
	}
	sig_conn *c = conn_new(w, fd, l->tp, peer);
	if (!c) {
		sig_rl_release(w->rl, ticket);
		close(fd);
		return;
	}
	c->rl_ticket = ticket;
	c->listener = (uint16_t)(l - w->lst);
	sig_stat_add(st, l->tp, SIG_ST_conns_accepted, 1);
	c->trunk = sig_trunk_by_addr(w->trunks, peer);
	c->trunk_gen = sig_trunks_generation(w->trunks);
	sig_trunk_stat(w->tstats, c->trunk, SIG_TS_conns, 1);
	if (l->tp == SIG_TP_TLS) {
		int r = conn_tls_setup(c, l->profile_name, NULL);
		if (r < 0) {
			sig_stat_add(st, SIG_TP_TLS, SIG_ST_hs_fail_other, 1);
			sig_conn_close(c, CR_ERROR);
			return;
		}
		c->state = SIG_CS_HANDSHAKE;
		list_add(c, SIG_CL_HANDSHAKE, w->now_ms + lim->handshake_timeout_ms);
		conn_update_poll(c);
		/* the ClientHello is usually there already (TCP_DEFER_ACCEPT):
		 * start now rather than after another trip through epoll */
		conn_do_handshake(c);
		return;
	}
	c->state = SIG_CS_OPEN;
	conn_update_poll(c);
}

void sig_stream_accept_cb(uv_poll_t *h, int status, int events)
{
	sig_listener *l = h->data;
	sig_worker *w = l->w;
	if (status < 0)
		return;
	w->now_ms = uv_now(&w->loop);
	for (int i = 0; i < 64; i++) {
		sbc_addr peer;
		socklen_t alen = sizeof(peer);
		int fd = accept4(l->fd, &peer.sa, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: drop one pending connection with the
				 * reserve fd so the backlog drains, then pause briefly. */
				sig_stat_add(w->stats, l->tp, SIG_ST_fd_exhausted, 1);
				if (w->reserve_fd >= 0) {
					close(w->reserve_fd);
					w->reserve_fd = -1;
					int x = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
					if (x >= 0)
						close(x);
					w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				}
				pause_listener(w, l);
				return;
			}
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			return;
		}
		accept_one(w, l, fd, &peer);
	}
}

static void resume_cb(uv_timer_t *t)
{
	sig_worker *w = t->data;
	for (unsigned i = 0; i < w->n_lst; i++) {
		sig_listener *l = &w->lst[i];
		if (l->paused) {
			l->paused = 0;
			uv_poll_start(&l->h.poll, UV_READABLE, sig_stream_accept_cb);
		}
	}
	w->paused_any = 0;
}

static void pause_listener(sig_worker *w, sig_listener *l)
{
	if (l->paused)
		return;
	l->paused = 1;
	uv_poll_stop(&l->h.poll);
	if (!w->paused_any) {
		w->paused_any = 1;
		w->resume.data = w;
		uv_timer_start(&w->resume, resume_cb, 100, 0);
	}
}

/* --- TLS handshake --- */

static enum sig_stat classify_tls_failure(SSL *ssl)
{
	uint32_t e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	enum sig_stat st = SIG_ST_hs_fail_other;
	if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
		switch (reason) {
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_UNKNOWN_PROTOCOL:
		case SSL_R_WRONG_VERSION_NUMBER:
		case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
			st = SIG_ST_hs_fail_version;
			break;
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
			st = SIG_ST_hs_fail_no_cert;
			break;
		case SSL_R_CERTIFICATE_VERIFY_FAILED:
			switch (SSL_get_verify_result(ssl)) {
			case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
			case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
			case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
			case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
			case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
				st = SIG_ST_hs_fail_unknown_ca;
				break;
			case X509_V_ERR_APPLICATION_VERIFICATION:
				st = SIG_ST_hs_fail_no_trunk;
				break;
			default:
				st = SIG_ST_hs_fail_bad_cert;
				break;
			}
			break;
		default:
			break;
		}
	}
	ERR_clear_error();
	return st;
}

/* The peer hook (sig_tls_profile.h): a verified client certificate must be
 * named by a trunk when trunks name certificates at all. */
static int conn_peer_hook(void *owner, X509 *leaf)
{
	sig_conn *c = owner;
	/* the identity is taken here: the session keeps only the fingerprint.
	 * BoringSSL has already hashed the leaf's DER into the session being
	 * built (retain_only_sha256): a carrier seen before is found in the
	 * cache by that hash, without re-encoding the certificate and printing
	 * its names again on every handshake */
	sig_peer_store *ps = NULL;
	SSL_SESSION *sess = SSL_get_session(c->ssl);
	if (sess && SSL_SESSION_has_peer_sha256(sess)) {
		const uint8_t *sha;
		size_t len;
		SSL_SESSION_get0_peer_sha256(sess, &sha, &len);
		if (len == SIG_FP_LEN)
			ps = sig_peer_cache_find(sha);
	}
	if (!ps) {
		ps = sig_peer_from_x509(leaf, 1);
		if (!ps)
			return 0;
		sig_peer_store *cached = sig_peer_cache_find(ps->id.sha256);
		if (cached) { /* share the one object every connection of this carrier uses */
			sig_peer_unref(ps);
			ps = cached;
		} else {
			sig_peer_cache_put(ps);
		}
	}
	sig_peer_unref(c->peer);
	c->peer = ps;
	if (!sig_trunks_any_cert(c->w->trunks))
		return 1;
	const char *t = sig_trunk_by_cert(c->w->trunks, &ps->id, &c->addr);
	if (!t) {
		sig_trunk_stat(c->w->tstats, c->trunk, SIG_TS_refused, 1);
		return 0;
	}
	c->trunk = t;
	c->trunk_by_cert = 1;
	c->trunk_gen = sig_trunks_generation(c->w->trunks);
	return 1;
}

void sig_conn_init_hooks(void) { sig_tls_set_peer_hook(conn_peer_hook); }

static void conn_store_peer(sig_conn *c)
{
	const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(c->ssl);
	if (!chain || sk_CRYPTO_BUFFER_num(chain) == 0)
		return;
	const CRYPTO_BUFFER *leaf = sk_CRYPTO_BUFFER_value(chain, 0);
	c->peer = sig_peer_from_der(CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf),
				    SSL_get_verify_result(c->ssl) == X509_V_OK);
}

/* A resumed server session kept only the client certificate's SHA-256
 * (retain_only_sha256): find the identity the full handshake saw. */
static void conn_peer_from_session(sig_conn *c)
{
	const uint8_t *sha;
	size_t len;
	SSL_SESSION *sess = SSL_get_session(c->ssl);
	if (!sess || !SSL_SESSION_has_peer_sha256(sess))
		return;
	SSL_SESSION_get0_peer_sha256(sess, &sha, &len);
	if (len != SIG_FP_LEN)
		return;
	c->peer = sig_peer_cache_find(sha);
	if (!c->peer)
		c->peer = sig_peer_from_sha256(sha); /* fingerprint only */
}

static int conn_flush(sig_conn *c);

static void conn_do_handshake(sig_conn *c)
{
	sig_worker *w = c->w;
	sig_tls_wakeup(c->ssl); /* the read-ahead may recv again */
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		sig_tls_handshake_done(c->ssl); /* reads stop reading ahead */
		list_remove(c);
		c->state = SIG_CS_OPEN;
		sig_stat_add(w->stats, SIG_TP_TLS, SIG_ST_handshakes, 1);
		if (SSL_session_reused(c->ssl))
			sig_stat_add(w->stats, SIG_TP_TLS, SIG_ST_resumed, 1);
		int mtls = !c->outbound && c->hs.set->p[c->hs.profile].verify_client;
		if (!c->peer && c->outbound)
			conn_store_peer(c);
		else if (!c->peer && mtls)
			conn_peer_from_session(c);
		if (mtls && !c->trunk_by_cert && sig_trunks_any_cert(w->trunks)) {
			/* a resumed session skipped the verify callback: match now */
			const char *t = c->peer ? sig_trunk_by_cert(w->trunks, &c->peer->id, &c->addr) : NULL;
			if (!t) {
				sig_stat_add(w->stats, SIG_TP_TLS, SIG_ST_hs_fail_no_trunk, 1);
				sig_trunk_stat(w->tstats, c->trunk, SIG_TS_refused, 1);
				sig_conn_close(c, CR_ERROR);
				return;
			}
			c->trunk = t;
			c->trunk_by_cert = 1;
			c->trunk_gen = sig_trunks_generation(w->trunks);
		}
		sig_trunk_stat(w->tstats, c->trunk, SIG_TS_handshakes, 1);
		c->profile_name = c->hs.set->p[c->hs.profile].iname;
		/* TLS 1.3 session tickets wait for the server's first write (the
		 * library's choice): flush them now with an empty write, so a
		 * peer that reconnects later can resume, and so the pending
		 * write buffer is released at once. */
		if (!c->outbound && SSL_version(c->ssl) == TLS1_3_VERSION) {
			if (SSL_write(c->ssl, "", 0) < 0)
				ERR_clear_error();
		}
		/* the snapshot is needed no longer; keep only the profile index */
		sig_tls_set_unref(c->hs.set);
		c->hs.set = NULL;
		if (c->out_len && conn_flush(c) < 0)
			return;
		sig_out_conn_opened(c);
		conn_update_poll(c);
		/* application data may already be buffered in BoringSSL or in the
		 * read-ahead, where epoll cannot see it; what is still in the
		 * socket, epoll reports (level-triggered). Nothing buffered (the
		 * usual case): no SSL_read that would only end in EAGAIN. */
		if (c->state != SIG_CS_OPEN)
			return;
		size_t left = sig_tls_read_ahead_left(c->ssl);
		if (!left && !SSL_has_pending(c->ssl))
			return;
		conn_read(c);
		/* read on (past conn_read's per-wake-up cap) while that shrinks */
		for (left = sig_tls_read_ahead_left(c->ssl); left && c->state == SIG_CS_OPEN;) {
			conn_read(c);
			size_t now = c->state == SIG_CS_OPEN ? sig_tls_read_ahead_left(c->ssl) : 0;
			if (now >= left)
				break; /* no progress (SSL_read waits to write): goes on when writable */
			left = now;
		}
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		if (c->want_write && !c->out_len) {
			c->want_write = 0;
			conn_update_poll(c);
		}
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->want_write = 1;
		conn_update_poll(c);
		return;
	}
	enum sig_stat st = (e == SSL_ERROR_SSL) ? classify_tls_failure(c->ssl) : SIG_ST_hs_fail_other;
	ERR_clear_error();
	sig_stat_add(w->stats, SIG_TP_TLS, st, 1);
	if (sbc_log_enabled(SBC_LOG_DEBUG)) {
		char a[SBC_ADDR_STRLEN];
		SBC_DEBUG("tls handshake from %s failed: %s", sbc_addr_format(&c->addr, a, sizeof(a)),
			  (e == SSL_ERROR_SSL) ? "ssl error" : "io");
	}
	/* Let the alert reach the peer: discard what it already sent (closing
	 * with unread data would reset the connection and lose the alert) and
	 * half-close before the fd goes. */
	char sink[4096];
	for (int i = 0; i < 16 && recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	shutdown(c->fd, SHUT_WR);
	sig_conn_close(c, CR_ERROR);
}

/* --- sending --- */

/* Writes buf directly; returns bytes written (>= 0), or a negative error. */
static ssize_t conn_write_raw(sig_conn *c, const char *buf, size_t len)
{
	if (c->tp == SIG_TP_TLS) {
		int n = SSL_write(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
		if (n > 0)
			return n;
		int e = SSL_get_error(c->ssl, n);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return 0;
		return SBC_E_CLOSED;
	}
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -errno;
}

static int conn_flush(sig_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = conn_write_raw(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0) {
			sig_stat_add(c->w->stats, c->tp, SIG_ST_send_errors, 1);
			sig_conn_close(c, CR_ERROR);
			return (int)n;
		}
		if (n == 0)
			break;
		sig_stat_add(c->w->stats, c->tp, SIG_ST_bytes_out, (uint64_t)n);
		c->out_off += (uint32_t)n;
	}
	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
		if (c->want_write) {
			c->want_write = 0;
			conn_update_poll(c);
		}
	} else if (!c->want_write) {
		c->want_write = 1;
		conn_update_poll(c);
	}
	return 0;
}

static int conn_queue(sig_conn *c, const char *buf, size_t len)
{
	size_t pending = c->out_len - c->out_off;
	if (pending + len > SIG_OUTBUF_MAX) {
		sig_stat_add(c->w->stats, c->tp, SIG_ST_send_errors, 1);
		sig_conn_close(c, CR_ERROR);
		return SBC_E_LIMIT;
	}
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, pending);
		c->out_len = (uint32_t)pending;
		c->out_off = 0;
	}
	char *n = realloc(c->out, pending + len);
	if (!n) {
		/* a stream cannot skip a message silently (over TCP/TLS nothing
		 * retransmits it): closed, the connection's requests fail over
		 * and the peer reconnects */
		sig_stat_add(c->w->stats, c->tp, SIG_ST_send_errors, 1);
		sig_conn_close(c, CR_ERROR);
		return -ENOMEM;
	}
	memcpy(n + pending, buf, len);
	c->out = n;
	c->out_len = (uint32_t)(pending + len);
	return 0;
}

void sig_conn_flush_batched(sig_conn *c)
{
	if (c->state == SIG_CS_OPEN && !c->want_write && c->out_len > c->out_off)
		conn_flush(c);
}

int sig_conn_send(sig_conn *c, const void *buf, size_t len)
{
	if (c->state == SIG_CS_CLOSING)
		return SBC_E_CLOSED;
	sig_stat_add(c->w->stats, c->tp, SIG_ST_msgs_out, 1);
	/* Batched: queued now, written with whatever else this loop iteration
	 * sends on the connection (sig_batch.h): one write and, over TLS, one
	 * record for all of them. Output pending on an open connection that is
	 * not waiting for POLLOUT is always on the batch list already. */
	if (c->state == SIG_CS_OPEN && !c->want_write &&
	    (c->out_len > c->out_off || sig_batch_conn(c->w, sig_conn_id_of(c)) == 0))
		return conn_queue(c, buf, len);
	if (c->out_len || c->state != SIG_CS_OPEN) {
		int r = conn_queue(c, buf, len);
		if (r < 0 || c->state != SIG_CS_OPEN)
			return r;
		return conn_flush(c);
	}
	ssize_t n = conn_write_raw(c, buf, len);
	if (n < 0) {
		sig_stat_add(c->w->stats, c->tp, SIG_ST_send_errors, 1);
		sig_conn_close(c, CR_ERROR);
		return (int)n;
	}
	sig_stat_add(c->w->stats, c->tp, SIG_ST_bytes_out, (uint64_t)n);
	if ((size_t)n == len)
		return 0;
	int r = conn_queue(c, (const char *)buf + n, len - (size_t)n);
	if (r < 0)
		return r;
	c->want_write = 1;
	conn_update_poll(c);
	return 0;
}

/* --- receiving --- */

/* Answers a framing error (400 where a reply is possible) and closes. */
static void conn_frame_error(sig_conn *c, const char *buf, size_t len, const sig_frame *f)
{
	char out[2048];
	sig_stat_add(c->w->stats, c->tp, SIG_ST_frame_errors, 1);
	int n = sig_local_error_reply(buf, len, 400, f->why == SIG_FRAME_E_HDR_TOO_BIG ||
								f->why == SIG_FRAME_E_BODY_TOO_BIG
							    ? "Message Too Large"
							    : "Bad Request",
				      out, sizeof(out));
	if (n > 0)
		sig_conn_send(c, out, (size_t)n);
	/* A stream cannot resynchronise after a framing error: close it. */
	sig_conn_close(c, CR_ERROR);
}

/* The trunks changed since this connection's trunk was named (at accept
 * by its address, or at the handshake by its certificate): name it again,
 * as a UDP datagram's trunk is named on each message. Else an operator who
 * takes a carrier's address range (or certificate) off its trunk would
 * still see calls on the connection that carrier keeps open, for days
 * over TLS, instead of 403 as for any unknown source; and a source given a
 * trunk would get 403 until it reconnected. */
static void conn_trunk_again(sig_conn *c)
{
	sig_trunks *t = c->w->trunks;
	/* by its certificate whenever trunks name certificates, as the
	 * handshake does: not only if it was so named. One accepted while none
	 * did got its trunk by address, and would keep an address trunk that
	 * its certificate (named by no trunk now) no longer earns. c->peer of
	 * an inbound connection is the client certificate of a verified mTLS
	 * handshake (conn_peer_hook, conn_peer_from_session). */
	if (c->peer && sig_trunks_any_cert(t)) {
		c->trunk = sig_trunk_by_cert(t, &c->peer->id, &c->addr);
		c->trunk_by_cert = 1;
	} else {
		c->trunk = sig_trunk_by_addr(t, &c->addr);
		c->trunk_by_cert = 0;
	}
	c->trunk_gen = sig_trunks_generation(t);
}

/* Frames and delivers the messages in buf; returns bytes consumed. */
static size_t conn_process(sig_conn *c, const char *buf, size_t len)
{
	sig_worker *w = c->w;
	const sig_limits *lim = &w->srv->cfg.lim;
	sig_frame_limits fl = {lim->max_header, lim->max_body};
	size_t off = 0;
	while (off < len && c->state == SIG_CS_OPEN) {
		sig_frame f;
		int r = sig_frame_stream(buf + off, len - off, &fl, &f);
		if (r == SIG_FRAME_NEED_MORE)
			break;
		if (r < 0) {
			conn_frame_error(c, buf + off, len - off, &f);
			return len;
		}
		if (r == SIG_FRAME_PING) {
			sig_stat_add(w->stats, c->tp, SIG_ST_pings, 1);
			sig_conn_send(c, "\r\n", 2);
		} else if (r == SIG_FRAME_MESSAGE) {
			sig_stat_add(w->stats, c->tp, SIG_ST_msgs_in, 1);
			if (!c->outbound && c->trunk_gen != sig_trunks_generation(w->trunks))
				conn_trunk_again(c);
			sig_trunk_stat(w->tstats, c->trunk, SIG_TS_msgs_in, 1);
			const sig_listener *l = c->listener < w->n_lst ? &w->lst[c->listener] : NULL;
			sig_rx rx = {
				.worker = w,
				.worker_idx = w->idx,
				.tp = (enum sig_tp)c->tp,
				.conn = sig_conn_id_of(c),
				.src = &c->addr,
				.local = l ? &l->addr : NULL,
				.profile = c->profile_name,
				.peer = c->peer ? &c->peer->id : NULL,
				.trunk = c->trunk,
				.msg = buf + off,
				.hdr_len = f.hdr_len,
				.body_len = f.body_len,
			};
			sig_worker_deliver(w, &rx);
		}
		off += f.consumed;
	}
	return off;
}

static void conn_feed(sig_conn *c, const char *data, size_t n)
{
	sig_worker *w = c->w;
	const sig_limits *lim = &w->srv->cfg.lim;
	size_t bound = (size_t)lim->max_header + lim->max_body + 4;
	while (n > 0 && c->state == SIG_CS_OPEN) {
		if (c->in_len == 0) {
			size_t used = conn_process(c, data, n);
			if (c->state != SIG_CS_OPEN)
				return;
			data += used;
			n -= used;
			if (n == 0)
				break;
			/* keep the partial message (bounded: the framer refuses more) */
			size_t take = n < bound ? n : bound;
			size_t cap = take < 2048 ? 2048 : take;
			c->in = malloc(cap);
			if (!c->in) {
				sig_conn_close(c, CR_ERROR);
				return;
			}
			c->in_cap = (uint32_t)cap;
			memcpy(c->in, data, take);
			c->in_len = (uint32_t)take;
			data += take;
			n -= take;
			list_add(c, SIG_CL_PARTIAL, w->now_ms + lim->partial_timeout_ms);
			if (n == 0)
				break;
			/* more than bound bytes without a message: let the framer judge */
			size_t used2 = conn_process(c, c->in, c->in_len);
			(void)used2;
			if (c->state == SIG_CS_OPEN)
				sig_conn_close(c, CR_ERROR);
			return;
		}
		size_t room = bound - c->in_len;
		size_t take = n < room ? n : room;
		if (c->in_len + take > c->in_cap) {
			size_t nc = c->in_cap * 2;
			while (nc < c->in_len + take)
				nc *= 2;
			if (nc > bound)
				nc = bound;
			char *ni = realloc(c->in, nc);
			if (!ni) {
				sig_conn_close(c, CR_ERROR);
				return;
			}
			c->in = ni;
			c->in_cap = (uint32_t)nc;
		}
		memcpy(c->in + c->in_len, data, take);
		c->in_len += (uint32_t)take;
		data += take;
		n -= take;
		size_t used = conn_process(c, c->in, c->in_len);
		if (c->state != SIG_CS_OPEN)
			return;
		if (used == 0 && c->in_len == bound) {
			sig_conn_close(c, CR_ERROR);
			return;
		}
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= (uint32_t)used;
		if (c->in_len == 0) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
			list_remove(c);
			/* the remaining data start afresh from the scratch path */
		} else if (used) {
			/* a new partial message: its own deadline */
			list_add(c, SIG_CL_PARTIAL, w->now_ms + lim->partial_timeout_ms);
		}
	}
}

static void conn_read(sig_conn *c)
{
	sig_worker *w = c->w;
	for (int i = 0; i < 32 && c->state == SIG_CS_OPEN; i++) {
		ssize_t n;
		if (c->tp == SIG_TP_TLS) {
			int r = SSL_read(c->ssl, w->scratch, SIG_SCRATCH_BYTES);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				ERR_clear_error();
				if (e == SSL_ERROR_WANT_READ)
					return;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->want_write = 1;
					conn_update_poll(c);
					return;
				}
				sig_conn_close(c, e == SSL_ERROR_ZERO_RETURN ? CR_NORMAL : CR_ERROR);
				return;
			}
			n = r;
		} else {
			n = recv(c->fd, w->scratch, SIG_SCRATCH_BYTES, 0);
			if (n == 0) {
				sig_conn_close(c, CR_NORMAL);
				return;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return;
				sig_conn_close(c, CR_ERROR);
				return;
			}
		}
		sig_stat_add(w->stats, c->tp, SIG_ST_bytes_in, (uint64_t)n);
		conn_feed(c, w->scratch, (size_t)n);
		/* the poll is level-triggered: rather than a read that would only
		 * say EAGAIN, stop when the socket was drained (TCP: a short read)
		 * or nothing is buffered in the SSL object (TLS) */
		if (c->state != SIG_CS_OPEN)
			return;
		if (c->tp == SIG_TP_TCP ? (size_t)n < SIG_SCRATCH_BYTES : !SSL_has_pending(c->ssl))
			return;
	}
}

static void conn_connected(sig_conn *c)
{
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
		sig_stat_add(c->w->stats, c->tp, SIG_ST_send_errors, 1);
		sig_conn_close(c, CR_ERROR);
		return;
	}
	list_remove(c);
	if (c->tp == SIG_TP_TLS) {
		c->state = SIG_CS_HANDSHAKE;
		list_add(c, SIG_CL_HANDSHAKE, c->w->now_ms + c->w->srv->cfg.lim.handshake_timeout_ms);
		conn_update_poll(c);
		conn_do_handshake(c);
		return;
	}
	c->state = SIG_CS_OPEN;
	c->want_write = c->out_len > 0;
	conn_update_poll(c);
	if (c->out_len && conn_flush(c) < 0)
		return;
	sig_out_conn_opened(c);
}

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
	sig_conn *c = h->data;
	sig_worker *w = c->w;
	w->now_ms = uv_now(&w->loop);
	if (status < 0) {
		if (c->state == SIG_CS_HANDSHAKE)
			sig_stat_add(w->stats, c->tp, SIG_ST_hs_fail_other, 1);
		sig_conn_close(c, CR_ERROR);
		return;
	}
	switch (c->state) {
	case SIG_CS_CONNECTING:
		if (events & (UV_WRITABLE | UV_DISCONNECT | UV_READABLE))
			conn_connected(c);
		return;
	case SIG_CS_HANDSHAKE:
		conn_do_handshake(c);
		return;
	case SIG_CS_OPEN:
		if ((events & UV_WRITABLE) && c->out_len) {
			if (conn_flush(c) < 0)
				return;
		} else if ((events & UV_WRITABLE) && c->want_write && !c->out_len) {
			c->want_write = 0;
			conn_update_poll(c);
		}
		/* bytes the handshake read ahead wait for no readable event */
		if ((events & (UV_READABLE | UV_DISCONNECT)) ||
		    (c->tp == SIG_TP_TLS && sig_tls_read_ahead_left(c->ssl)))
			conn_read(c);
		return;
	default:
		return;
	}
}

/* --- deadlines --- */

void sig_conn_expire(sig_worker *w, uint64_t now_ms)
{
	sig_conn *c;
	while ((c = w->lhead[SIG_CL_HANDSHAKE]) && c->deadline_ms <= now_ms) {
		sig_stat_add(w->stats, c->tp, SIG_ST_hs_fail_timeout, 1);
		sig_conn_close(c, CR_ERROR);
	}
	while ((c = w->lhead[SIG_CL_CONNECT]) && c->deadline_ms <= now_ms) {
		sig_stat_add(w->stats, c->tp, SIG_ST_send_errors, 1);
		sig_conn_close(c, CR_ERROR);
	}
	while ((c = w->lhead[SIG_CL_PARTIAL]) && c->deadline_ms <= now_ms) {
		char out[128];
		sig_stat_add(w->stats, c->tp, SIG_ST_stalled, 1);
		int n = sig_sip_bare_response(400, "Bad Request", out, sizeof(out));
		if (n > 0)
			sig_conn_send(c, out, (size_t)n);
		sig_conn_close(c, CR_ERROR);
	}
}

/* --- outbound --- */

sig_conn *sig_conn_connect(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, const char *profile,
			   const char *server_name)
{
	int fd = socket(dst->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!w->out_hash) {
		w->out_mask = 1023;
		w->out_hash = calloc(w->out_mask + 1, sizeof(sig_conn *));
		if (!w->out_hash) {
			close(fd);
			return NULL;
		}
	}
	int r = connect(fd, &dst->sa, sbc_addr_len(dst));
	if (r < 0 && errno != EINPROGRESS) {
		close(fd);
		sig_stat_add(w->stats, tp, SIG_ST_send_errors, 1);
		return NULL;
	}
	sig_conn *c = conn_new(w, fd, (uint8_t)tp, dst);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->outbound = 1;
	uint32_t b = out_hash((uint8_t)tp, dst, w->out_mask);
	c->hnext = w->out_hash[b];
	w->out_hash[b] = c;
	sig_stat_add(w->stats, tp, SIG_ST_conns_opened, 1);
	if (tp == SIG_TP_TLS && conn_tls_setup(c, profile ? profile : "default", server_name) < 0) {
		sig_stat_add(w->stats, tp, SIG_ST_hs_fail_other, 1);
		sig_conn_close(c, CR_ERROR);
		return NULL;
	}
	c->state = SIG_CS_CONNECTING;
	list_add(c, SIG_CL_CONNECT, w->now_ms + w->srv->cfg.lim.handshake_timeout_ms);
	conn_update_poll(c);
	return c;
}
