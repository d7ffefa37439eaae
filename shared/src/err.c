#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sbc/err.h"

const char *sbc_strerror(int err)
{
	static _Thread_local char buf[64];
	int status;

	switch (err) {
#define SBC_ERR_CASE_(name, off, text)                                         \
	case name:                                                             \
		return text;
		SBC_ERRNO_MAP(SBC_ERR_CASE_)
#undef SBC_ERR_CASE_
	default:
		break;
	}
	if ((status = sbc_err_sip_status(err)) != 0) {
		snprintf(buf, sizeof(buf), "SIP %d", status);
		return buf;
	}
	if (err < 0 && err > -4000)
		return strerror(-err);
	if (err == 0)
		return "success";
	snprintf(buf, sizeof(buf), "unknown error %d", err);
	return buf;
}

void sbc_errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
