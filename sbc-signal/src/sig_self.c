/* sbc-signal — this SBC's own endpoints (see sig_self.h). */
#include <string.h>

#include "sig_self.h"

static int is_wildcard(const sbc_addr *a)
{
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_addr.s_addr == 0;
	return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
}

void sig_self_init(sig_self *s, const sig_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->relay = cfg->media_addr;
	sbc_addr_unmap(&s->relay);
	s->relay_min = cfg->media_port_min;
	s->relay_max = cfg->media_port_max;
	for (unsigned i = 0; i < cfg->n_listen; i++) {
		sbc_addr a = cfg->listen[i].addr;
		sbc_addr_unmap(&a);
		if (a.sa.sa_family && !is_wildcard(&a))
			s->sip[s->n_sip++] = a;
	}
}

int sig_self_is_ours(const sig_self *s, const sbc_addr *a)
{
	if (!a->sa.sa_family)
		return 0;
	sbc_addr x = *a;
	sbc_addr_unmap(&x);
	uint16_t port = sbc_addr_port(&x);
	if (s->relay.sa.sa_family && sbc_addr_equal_ip(&x, &s->relay) && port >= s->relay_min && port <= s->relay_max)
		return 1;
	for (unsigned i = 0; i < s->n_sip; i++)
		if (sbc_addr_equal(&x, &s->sip[i]))
			return 1;
	return 0;
}
