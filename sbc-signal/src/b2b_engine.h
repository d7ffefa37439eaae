/* sbc-signal — the B2BUA engine: the call objects that drive the pure B2BUA
 * modules (b2b_call.h describes the flow) on the transport layer's workers.
 *
 * Caveats:
 *  1. Calls live on the worker that received the A-leg INVITE (its txn
 *     table, its uv timers, its media rings). With several workers, the
 *     B leg's responses and requests must reach the same worker: UDP
 *     listeners with SO_REUSEPORT hash by source, so run one signal worker
 *     (or TCP/TLS, whose connections are owned by the worker that opened
 *     them) until cross-worker call hand-off exists.
 *  2. No trunks configured (standalone, empty store): the built-in
 *     responder (sig_local.c) keeps answering; out-of-dialog requests other
 *     than INVITE go there too (OPTIONS 200, others 501, unknown 403).
 *  3. Without the shared segment (no sbc-media), INVITEs get 503.
 *  4. B-leg destinations must be IP literals (DNS names: not yet; the
 *     attempt counts as a transport failure and fails over).
 *  5. In-dialog requests other than BYE (re-INVITE, UPDATE, INFO) get 501
 *     for now; CANCEL, ACK and BYE from either side are handled.
 */
#ifndef B2B_ENGINE_H
#define B2B_ENGINE_H

/* Installs the rx handler and the worker hooks; call before the workers
 * start. */
void b2b_engine_install(void);

#endif
