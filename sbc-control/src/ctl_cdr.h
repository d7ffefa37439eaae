/* sbc-control — call records: SBC_MSG_CALL_EVENT from sbc-signal workers
 * (JSON text: start, answer, end), appended as JSON lines to
 * <data_dir>/cdr.jsonl and kept in memory (the latest CTL_CDR_KEEP calls,
 * merged per call id) for call.list, call.get and call.hangup.
 *
 * Caveats:
 *  1. LOOP thread only. An event that is not a JSON object with a string
 *     "id" is counted as a bad ring message and dropped.
 *  2. call.hangup sends SBC_MSG_COMMAND {"method":"call.hangup","id":..} to
 *     the signal worker named by the id ("<worker>-<hex>") and answers at
 *     once ({"requested":true}); the call's "end" event follows.
 */
#ifndef CTL_CDR_H
#define CTL_CDR_H

#include "ctl_ctx.h"
#include "sbc/msg-t.h"

#define CTL_CDR_KEEP 10000

void ctl_cdr_event(ctl_ctx *ctx, unsigned worker, const sbc_msg_text *t);
void ctl_cdr_free(void);

#endif
