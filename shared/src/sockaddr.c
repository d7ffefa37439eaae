#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbc/sockaddr.h"

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int parse_ip(const char *host, uint16_t port, sbc_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->in4.sin_addr) == 1) {
		out->in4.sin_family = AF_INET;
		out->in4.sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

int sbc_addr_parse(const char *text, int default_port, sbc_addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text = NULL;
	size_t hlen;
	uint16_t port;

	if (!text || !*text)
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close)
			return -EINVAL;
		hlen = (size_t)(close - text - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* bare IPv6 without brackets: no port */
		hlen = colon ? (size_t)(colon - text) : strlen(text);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		if (colon)
			port_text = colon + 1;
	}
	if (port_text) {
		if (parse_port(port_text, &port))
			return -EINVAL;
	} else {
		if (default_port < 0 || default_port > 65535)
			return -EINVAL;
		port = (uint16_t)default_port;
	}
	return parse_ip(host, port, out);
}

char *sbc_addr_format_ip(const sbc_addr *a, char *buf, unsigned len)
{
	if (a->sa.sa_family == AF_INET && len >= INET_ADDRSTRLEN) {
		/* by hand: glibc's inet_ntop formats IPv4 through sprintf, and
		 * sbc-signal writes addresses into every SDP it rewrites */
		const uint8_t *b = (const uint8_t *)&a->in4.sin_addr;
		char *p = buf;
		for (int i = 0; i < 4; i++) {
			unsigned v = b[i];
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : '\0';
		}
		return buf;
	}
	const void *src = a->sa.sa_family == AF_INET6 ? (const void *)&a->in6.sin6_addr
						      : (const void *)&a->in4.sin_addr;
	if (!inet_ntop(a->sa.sa_family == AF_INET6 ? AF_INET6 : AF_INET, src, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

char *sbc_addr_format(const sbc_addr *a, char *buf, unsigned len)
{
	char ip[INET6_ADDRSTRLEN];
	sbc_addr_format_ip(a, ip, sizeof(ip));
	if (a->sa.sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, sbc_addr_port(a));
	else
		snprintf(buf, len, "%s:%u", ip, sbc_addr_port(a));
	return buf;
}

socklen_t sbc_addr_len(const sbc_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in4);
}

uint16_t sbc_addr_port(const sbc_addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in4.sin_port);
}

void sbc_addr_set_port(sbc_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in4.sin_port = htons(port);
}

bool sbc_addr_equal_ip(const sbc_addr *a, const sbc_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
}

void sbc_addr_unmap(sbc_addr *a)
{
	if (a->sa.sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr))
		return;
	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = a->in6.sin6_port};
	memcpy(&v4.sin_addr, &a->in6.sin6_addr.s6_addr[12], 4);
	memset(a, 0, sizeof(*a));
	a->in4 = v4;
}

bool sbc_addr_equal(const sbc_addr *a, const sbc_addr *b)
{
	return sbc_addr_equal_ip(a, b) && sbc_addr_port(a) == sbc_addr_port(b);
}

int sbc_cidr_parse(const char *text, sbc_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max;

	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (parse_ip(host, 0, &out->addr))
		return -EINVAL;
	max = out->addr.sa.sa_family == AF_INET6 ? 128 : 32;
	if (slash) {
		char *end;
		unsigned long bits;
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		bits = strtoul(slash + 1, &end, 10);
		if (errno || *end || bits > max)
			return -EINVAL;
		out->bits = (uint8_t)bits;
	} else {
		out->bits = (uint8_t)max;
	}
	return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool sbc_cidr_match(const sbc_cidr *c, const sbc_addr *a)
{
	if (c->addr.sa.sa_family != a->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return prefix_equal(c->addr.in6.sin6_addr.s6_addr, a->in6.sin6_addr.s6_addr, c->bits);
	return prefix_equal((const uint8_t *)&c->addr.in4.sin_addr,
			    (const uint8_t *)&a->in4.sin_addr, c->bits);
}

char *sbc_cidr_format(const sbc_cidr *c, char *buf, unsigned len)
{
	char ip[INET6_ADDRSTRLEN];
	snprintf(buf, len, "%s/%u", sbc_addr_format_ip(&c->addr, ip, sizeof(ip)), c->bits);
	return buf;
}
