/* sbc-control — adapter to ctl_tls (see ctl_tls_check.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sbc/err.h"
#include "ctl_tls.h"
#include "ctl_tls_check.h"

int ctl_tls_check_profile(const store_tls_profile *p, json_t **info, char *err, size_t errlen)
{
	ctl_tls_info *ti = malloc(sizeof(*ti));
	int ret;

	*info = NULL;
	if (!ti)
		return -ENOMEM;
	ret = ctl_tls_profile_check(p, 0, ti, err, errlen);
	if (ret == 0)
		*info = ctl_tls_info_json(ti, time(NULL));
	else if (p->cert_pem && ctl_tls_cert_info(p->cert_pem, ti, NULL, 0) == 0)
		*info = ctl_tls_info_json(ti, time(NULL)); /* what it is, beside why it is refused */
	free(ti);
	return ret;
}

int ctl_tls_make_self_signed(store_tls_profile *p, const char *const *hosts, size_t nhosts, char *err,
			     size_t errlen)
{
	char *cert = NULL, *key = NULL;
	int ret = ctl_tls_selfsigned("sbc self-signed", hosts, nhosts, 3650, &cert, &key, err, errlen);
	if (ret != 0)
		return ret;
	p->cert_pem = cert;
	p->key_pem = key;
	return 0;
}
