/* sbc-signal — output batched per loop iteration (sig_udp.c, sig_conn.c).
 *
 * What a worker sends while it handles one batch of input leaves together
 * just before the loop blocks again (a uv_prepare handle): UDP datagrams in
 * one sendmmsg per socket, each stream connection's messages in one write
 * (over TLS one record). Fewer system calls, and the peers we wake preempt
 * us once per iteration rather than once per message.
 * LOCK: the worker's thread only. */
#ifndef SIG_BATCH_H
#define SIG_BATCH_H

#include "sig_worker.h"

/* Puts connection id on the list flushed at the end of this iteration
 * (sig_conn_flush_batched). Returns 0, or a negative error when the worker
 * is stopping, the batch cannot be allocated or its list is full: the
 * caller writes at once. */
int sig_batch_conn(sig_worker *w, sig_conn_id id);

/* Sends everything queued now (the loop's prepare handle does it each
 * iteration; sig_conn_close_all when the worker stops, since the handle is
 * closed with the others then). */
void sig_batch_flush(sig_worker *w);

/* Notes a loss for the send-failed hook (sig_transport.h): queued and
 * delivered by a zero timer, so that the layer above never runs inside the
 * send or flush that found it. Dropped when the worker is stopping or the
 * queue is full (the transaction timers still cover it). */
void sig_batch_lost(sig_worker *w, enum sig_tp tp, const sbc_addr *dst, sig_conn_id conn, int err);

/* The method and top Via branch quoted at the start of an ICMP error's
 * datagram[0..len) (sig_udp.c). 0, or SBC_E_PARSE when either is missing
 * or cut short. */
int sig_icmp_quote_parse(const char *p, size_t len, sig_icmp_quote *q);
/* An ICMP error another worker drained for a request of this one
 * (SIG_XMSG_ICMP): noted like one of its own, for the send-failed hook. */
void sig_batch_icmp(sig_worker *w, const sig_xmsg_icmp *m);

/* Tells worker `to` that connection conn (this worker's) lost what `to`
 * sent on it (SIG_XMSG_LOST): `to` notes it as its own loss, for the
 * send-failed hook. 0, or a negative error (ring full: counted; the
 * transaction timers still cover it). */
int sig_forward_lost(sig_worker *w, unsigned to, enum sig_tp tp, sig_conn_id conn, int err);

/* sig_conn.c: writes what sig_conn_send queued on c this iteration. */
void sig_conn_flush_batched(sig_conn *c);

#endif
