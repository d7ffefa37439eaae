/* sbc-signal — the main thread: configuration, TLS snapshots, signals,
 * ticket-key rotation, worker start and stop. */
#ifndef SIG_APP_H
#define SIG_APP_H

/* shm_name: NULL for standalone mode (no rings). Returns the exit status. */
int sig_app_run(const char *shm_name, const char *runtime_path);

#endif
