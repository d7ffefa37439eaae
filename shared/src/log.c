#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sbc/log.h"

static const char *const level_names[] = {"error", "warn", "notice", "info", "debug"};
static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

static char log_ident[32] = "sbc";
static _Atomic int log_level = SBC_LOG_NOTICE;
static bool log_syslog;

void sbc_log_init(const char *ident, enum sbc_log_level level, bool use_syslog)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident);
	atomic_store(&log_level, level);
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void sbc_log_set_level(enum sbc_log_level level) { atomic_store(&log_level, level); }

enum sbc_log_level sbc_log_get_level(void) { return atomic_load_explicit(&log_level, memory_order_relaxed); }

int sbc_log_level_parse(const char *name, enum sbc_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum sbc_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sbc_log_level_name(enum sbc_log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "?";
	return level_names[level];
}

void sbc_log(enum sbc_log_level level, const char *fmt, ...)
{
	char line[1024];
	int n = 0;
	va_list ap;
	int saved = errno;

	if (level > sbc_log_get_level())
		return;
	if (!log_syslog) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int)getpid(),
			     sbc_log_level_name(level));
	}
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	if (log_syslog) {
		syslog(syslog_prio[level], "%s", line);
	} else {
		line[n++] = '\n';
		ssize_t w = write(STDERR_FILENO, line, (size_t)n);
		(void)w;
	}
	errno = saved;
}
