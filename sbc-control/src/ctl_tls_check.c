/* sbc-control — adapter to ctl_tls (see ctl_tls_check.h). */
#include <stdio.h>

#include "sbc/err.h"
#include "ctl_tls_check.h"

int ctl_tls_check_profile(const store_tls_profile *p, json_t **info, char *err, size_t errlen)
{
	/* Until ctl_tls lands: syntax only (done by the store parser). */
	*info = NULL;
	return 0;
}

int ctl_tls_make_self_signed(store_tls_profile *p, const char *const *hosts, size_t nhosts, char *err,
			     size_t errlen)
{
	snprintf(err, errlen, "certificate generation is not available in this build");
	return SBC_E_UNSUPPORTED;
}
