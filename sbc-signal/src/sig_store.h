/* sbc-signal — the process's one read-only handle on the LMDB store.
 *
 * Caveats:
 *  1. LMDB forbids opening one environment twice in a process; every user
 *     (TLS loader on the main thread, each worker's trunk view) takes its
 *     own store_reader on this shared handle instead.
 *  2. The store may not exist yet (standalone runs, first start): NULL is
 *     returned and a later call tries again.
 */
#ifndef SIG_STORE_H
#define SIG_STORE_H

#include "sbc/store.h"

store *sig_store_get(const char *path);
/* At exit, after every reader is closed. */
void sig_store_close(void);

#endif
