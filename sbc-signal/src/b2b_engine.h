/* sbc-signal — the B2BUA engine: the call objects that drive the pure B2BUA
 * modules (b2b_call.h describes the flow) on the transport layer's workers.
 *
 * Files: b2b_engine.c (worker hooks, rings from sbc-media, commands from
 * sbc-control, per-trunk limits, inbound connections, call objects and
 * new_call), b2b_ctx.c (transaction contexts, timer wheel), b2b_records.c
 * (call records, call end), b2b_outbound.c (trunk health, routing,
 * failover, the B-leg INVITE and its responses), b2b_indialog.c (in-dialog
 * requests, re-INVITE/UPDATE/PRACK/CANCEL relay, session timer),
 * b2b_delayed.c (delayed offer); their private types are in
 * b2b_engine-t.h, the functions they share in b2b_engine-int.h.
 *
 * Caveats:
 *  1. Calls live on the worker that received the A-leg INVITE (its txn
 *     table, its uv timers, its media rings). Our branches, tags and
 *     Call-IDs carry that worker's seed (top byte: its index, so finding
 *     the owner is O(1) and lock-free): a message that reaches another
 *     worker (a UDP datagram SO_REUSEPORT spread by source, a B-leg
 *     response, an in-dialog request or ACK on a TCP/TLS connection that
 *     another worker accepted) is forwarded to the owner over the
 *     in-process ring (sig_forward_rx). TCP/TLS connections stay with the
 *     worker that accepted or opened them: the owner answers through
 *     sig_send_conn, which crosses the ring back. A CANCEL carries none of
 *     our tokens: one on another connection than its INVITE's visits the
 *     workers in turn until one holds the INVITE (481 from the last);
 *     so does a UDP CANCEL from another source port than its INVITE's.
 *  2. No trunks configured (standalone, empty store): the built-in
 *     responder (sig_local.c) keeps answering. With trunks, out-of-dialog
 *     requests other than INVITE get OPTIONS 200, unknown methods 501 and
 *     known ones we do not take 405 (both with Allow), BYE, UPDATE, PRACK
 *     and INFO 481; unknown sources 403 (or nothing).
 *  3. Without the shared segment (no sbc-media), INVITEs get 503.
 *  4. B-leg destination: the trunk's first one. An IP literal is used as
 *     is; a DNS name is resolved per RFC 3263 (sig_dns) when the INVITE is
 *     due, the first target with a listener of its transport and family
 *     taken. Health pings (OPTIONS every 5 s) go to IP destinations only.
 *  5. In-dialog: BYE, re-INVITE and UPDATE (one at a time, 491
 *     otherwise; the number of m= lines must not change) cross the legs,
 *     and PRACK from the caller for a reliable provisional (RAck mapped,
 *     an SDP body in a PRACK is not relayed), INFO with a DTMF body
 *     (application/dtmf-relay, application/dtmf; other bodies: 415);
 *     unknown methods get 501, known ones we do not take 405 (with
 *     Allow), ours in a state they cannot be taken in 500 + Retry-After
 *     (an early UPDATE offer while the INVITE's exchange is open: 491 or
 *     500, RFC 3311 5.2). A CANCEL of a relayed re-INVITE cancels our
 *     copy; its final is the other leg's (reinvite_cancel). ACK is handled.
 *  6. A B-leg INVITE without any response for signal.timers.no_response_ms
 *     (its default: shared/src/config.c) fails over; after a provisional
 *     response, it is CANCELled and fails over when no_answer_ms (Timer C)
 *     passes without another.
 *  7. A B-leg INVITE given up (failover, no answer in time, CANCEL sent,
 *     call ended) stays a transaction until it ends on its own: a
 *     provisional on it gets CANCEL, a 2xx gets ACK and BYE on the dialog
 *     that 2xx made (built from the INVITE as sent), and so does a second
 *     fork's 2xx after the call was answered. A 2xx from another fork than
 *     the one that rang makes the call's dialog. A dialog keeps up to
 *     B2B_RSET_MAX (32) Record-Route values (4 KB); a 2xx with more is
 *     ACKed and BYEd along its own route set (any length) and the attempt
 *     fails (500, next route): never a dialog nobody can end.
 *  8. Early media: the first provisional with SDP is B's answer for the
 *     media sessions; a 2xx with another SDP replaces it (forks, media
 *     moved for the answer); a failover to the next route starts over with
 *     fresh keys, and that trunk's answer is the one that counts. An
 *     offer/answer in an early UPDATE (after a reliable answer) supersedes
 *     it: the 2xx's SDP is not applied and no failover follows
 *     (early_oa_done).
 *  9. TCP/TLS: in-dialog requests (and the ACK) from the caller on another
 *     connection than the one we use toward it move our next requests to
 *     that connection (the first may be gone; a carrier's ephemeral port
 *     cannot be connected to again).
 * 10. A trunk with reuse_inbound gets its new calls (and pings) on the
 *     TCP/TLS connection it last sent a message on, when one is known
 *     (g_inb, shared by the workers; the connection's worker sends). A
 *     send on it that fails at once (our worker's) sends the call out on
 *     our own connection instead; when a connection a request of ours
 *     went out on closes (this one or an older one of the trunk's:
 *     sig_conn.carries_req), its worker tells every worker
 *     (inbound_closed, SIG_XMSG_LOST; one that never carried a request
 *     costs them nothing), and a request that crossed the ring to find it
 *     gone is bounced back the same way: the INVITEs on it still
 *     unanswered fail over at once, and the next call goes out on ours.
 *     An INVITE on it that gets no response at all fails over after
 *     no_response_ms like on any silent trunk.
 * 11. Delayed offer (an A-leg INVITE without SDP): the B-leg INVITE goes
 *     without SDP, B's 2xx brings the offer and the media sessions are
 *     created then; A's ACK brings the answer, and B's ACK is held until
 *     it (b_offer, b_offer_to_a, dly_answer; sbc-signal/README.md). An
 *     offer in a reliable provisional is refused (CANCEL, fails over).
 */
#ifndef B2B_ENGINE_H
#define B2B_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "sbc/sockaddr.h"

/* Installs the rx handler and the worker hooks; call before the workers
 * start. */
void b2b_engine_install(void);

/* Call ids (internal, exported for tests/unit/sbc-signal/test_b2b_ids.c):
 * the first number of a worker's sequence for a process started boot_ns
 * after boot (beyond any an earlier process of this boot can have taken),
 * and the next call id from *seq (52 bits, never 0). */
uint64_t x__b2b_seq_start(uint64_t boot_ns);
uint64_t x__b2b_next_call_id(uint64_t *seq);
/* Our address as it goes on the wire in SIP: "192.0.2.1", "[2001:db8::1]"
 * (truncated to cap - 1 like snprintf). */
void x__b2b_host_of(const sbc_addr *a, char *out, size_t cap);

#endif
