/* sbc-control — call records: SBC_MSG_CALL_EVENT from sbc-signal workers
 * (JSON text: start, answer, end), appended as JSON lines to
 * <data_dir>/cdr.jsonl and kept in memory (merged per call id) for
 * call.list, call.get and call.hangup: every open call (up to
 * CTL_CDR_OPEN_MAX) and the latest ended ones, about CTL_CDR_KEEP records in
 * all (ended records are evicted first, oldest first).
 *
 * Caveats:
 *  1. LOOP thread only. An event that is not a JSON object with a string
 *     "id" is counted as a bad ring message and dropped.
 *  2. call.hangup sends SBC_MSG_COMMAND {"method":"call.hangup","id":..} to
 *     the signal worker named by the id ("<worker>-<hex>") and answers at
 *     once ({"requested":true}); the call's "end" event follows. On a call
 *     that has ended it fails (not found, with the end's reason).
 *  3. A call's state lives in the sbc-signal process that holds it: when that
 *     process ends (killed, crashed, stopped for a restart or shutdown) its
 *     calls are gone and no end event will come. ctl_cdr_signal_gone() ends
 *     their records for it (cause CTL_CDR_LOST_CAUSE, the reason saying what
 *     happened). The caller reads the dead process's rings to the end
 *     first (ctl_bus_child_exited), so that its last events (an end, an
 *     answer) are applied before; then every record still open is its:
 *     sbc-control spawns a successor only after this (ctl_super.c). A
 *     record's "signal_pid" (the pid of the last HELLO read on its worker's
 *     ring before its last event) is information only: a HELLO's pid need
 *     not be the one waitpid reaps (a wrapper that forks, a garbled HELLO).
 *  4. The table is in memory only: if sbc-control itself dies, the calls
 *     open then stay open in cdr.jsonl (see README, call records).
 */
#ifndef CTL_CDR_H
#define CTL_CDR_H

#include <sys/types.h>

#include "ctl_ctx.h"
#include "sbc/msg-t.h"

#define CTL_CDR_KEEP 10000
/* Open records kept whatever their age, far above the concurrent calls one
 * sbc-signal carries (an open record evicted past it is logged). */
#define CTL_CDR_OPEN_MAX 200000u
/* SIP cause of a call ended because its sbc-signal process ended */
#define CTL_CDR_LOST_CAUSE 500

/* One SBC_MSG_CALL_EVENT of signal worker `worker`, sent by process pid (0:
 * unknown). */
void ctl_cdr_event(ctl_ctx *ctx, unsigned worker, pid_t pid, const sbc_msg_text *t);
/* sbc-signal process pid ended: ends every record not ended yet (all are
 * its, caveat 3) with an "end" line in cdr.jsonl, cause CTL_CDR_LOST_CAUSE
 * and reason, state "ended". Returns how many. */
unsigned ctl_cdr_signal_gone(ctl_ctx *ctx, pid_t pid, const char *reason);
void ctl_cdr_free(void);

#endif
