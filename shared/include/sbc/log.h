/* sbc — logging.
 *
 * One line per event: "2026-11-24T02:30:00.123Z sbc-signal[1234] warn: text".
 * Goes to stderr, or to syslog (LOG_DAEMON) when sbc_log_init() asks for it.
 * Caveats: never log key material; never log on a per-packet path (use
 * counters). sbc_log() is thread-safe: each line is written with one write().
 */
#ifndef SBC_LOG_H
#define SBC_LOG_H

#include <stdbool.h>

enum sbc_log_level {
	SBC_LOG_ERROR = 0,
	SBC_LOG_WARN = 1,
	SBC_LOG_NOTICE = 2,
	SBC_LOG_INFO = 3,
	SBC_LOG_DEBUG = 4,
};

/* ident: process name; use_syslog: send to syslog instead of stderr. */
void sbc_log_init(const char *ident, enum sbc_log_level level, bool use_syslog);
void sbc_log_set_level(enum sbc_log_level level);
enum sbc_log_level sbc_log_get_level(void);

/* Parses "error", "warn", "notice", "info", "debug". Returns 0 or -EINVAL. */
int sbc_log_level_parse(const char *name, enum sbc_log_level *out);
const char *sbc_log_level_name(enum sbc_log_level level);

void sbc_log(enum sbc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sbc_log_enabled(lvl) ((lvl) <= sbc_log_get_level())
#define SBC_ERROR(...) sbc_log(SBC_LOG_ERROR, __VA_ARGS__)
#define SBC_WARN(...) sbc_log(SBC_LOG_WARN, __VA_ARGS__)
#define SBC_NOTICE(...) sbc_log(SBC_LOG_NOTICE, __VA_ARGS__)
#define SBC_INFO(...)                                                          \
	do {                                                                   \
		if (sbc_log_enabled(SBC_LOG_INFO))                             \
			sbc_log(SBC_LOG_INFO, __VA_ARGS__);                    \
	} while (0)
#define SBC_DEBUG(...)                                                         \
	do {                                                                   \
		if (sbc_log_enabled(SBC_LOG_DEBUG))                            \
			sbc_log(SBC_LOG_DEBUG, __VA_ARGS__);                   \
	} while (0)

#endif
