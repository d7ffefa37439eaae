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
 *     open then have no end line in cdr.jsonl. ctl_cdr_recover(), run at
 *     start before sbc-signal is spawned, reads cdr.jsonl back and ends
 *     them (cause CTL_CDR_LOST_CAUSE); only the current file is read, not
 *     rotated ones (see README, call records).
 */
#ifndef CTL_CDR_H
#define CTL_CDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

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

/* What ctl_cdr_recover() found and did. */
typedef struct ctl_cdr_recovery {
	uint64_t bytes;          /* read from cdr.jsonl */
	uint64_t lines;          /* whole or last lines, empty ones not counted */
	uint64_t bad_lines;      /* not a JSON object with string "event" and "id"
				  * (a partial line, garbage, an overlong line) */
	unsigned open;           /* calls found open (start/answer, no end after) */
	unsigned ended;          /* of them, ended now (an end line each) */
	unsigned peak_open;      /* most ids followed at once (the memory) */
	uint64_t over_cap;       /* start/answer lines of ids not kept: more
				  * than the cap open at once */
	double cpu_ms;           /* CPU time of the whole recovery (this thread) */
} ctl_cdr_recovery;

/* Start-up, LOOP thread, before sbc-signal is spawned (and before any call
 * event): reads <data_dir>/cdr.jsonl back and ends every call a previous
 * sbc-control left open: each id whose last start or answer line has no
 * end line after it gets an end line as ctl_cdr_signal_gone() writes one
 * (its lines' fields merged, cause CTL_CDR_LOST_CAUSE, reason), batched,
 * and is "ended" in call.get / call.list. The file is read once in 1 MiB
 * read(2)s; only the top-level "event" and "id" of each line are picked
 * out (a JSON syntax check, no allocation); only the lines of the calls
 * left open are parsed (jansson), at the end, by offset. Memory follows
 * the ids open at once (at most max_open kept; those past it are counted
 * and logged), not the file's size. Bad lines are skipped, counted, logged
 * once. out (may be NULL) gets the figures.
 * Returns the number of calls ended; 0 if there is no cdr.jsonl; a negative
 * errno if it cannot be read (logged with the path: nothing is ended, the
 * caller goes on starting). */
int ctl_cdr_recover(ctl_ctx *ctx, const char *reason, ctl_cdr_recovery *out);
/* The same with another cap on the open ids kept (tests). */
int x__ctl_cdr_recover(ctl_ctx *ctx, const char *reason, size_t max_open, ctl_cdr_recovery *out);

/* Internal to the call records (ctl_methods_call.c, ctl_cdr_boot.c).
 * x__ctl_cdr_batch(ctx, true) holds lines in 64 KiB writes; false writes
 * what is held. x__ctl_cdr_end_lost() writes call id's end line (rec's
 * fields, its "worker" and "signal_pid" too, plus event "end", time_ms now,
 * cause CTL_CDR_LOST_CAUSE, reason) and merges it into the table. */
void x__ctl_cdr_batch(ctl_ctx *ctx, bool on);
void x__ctl_cdr_end_lost(ctl_ctx *ctx, const char *id, json_t *rec, const char *reason);

#endif
