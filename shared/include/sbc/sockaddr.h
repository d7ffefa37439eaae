/* sbc — socket-address helpers for IPv4 and IPv6.
 *
 * sbc_addr holds either family in a sockaddr_storage-compatible union.
 * Text forms: "192.0.2.1:5060", "[2001:db8::1]:5061", and without a port
 * "192.0.2.1" / "2001:db8::1" / "[2001:db8::1]" where the caller allows it.
 */
#ifndef SBC_SOCKADDR_H
#define SBC_SOCKADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef union sbc_addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
} sbc_addr;

/* Longest text form: "[" + INET6_ADDRSTRLEN + "]:" + 5 digits. */
#define SBC_ADDR_STRLEN (INET6_ADDRSTRLEN + 8)

/* Parses host[:port]. A host must be a literal address. When the text has no
 * port, default_port is used; default_port < 0 makes the port mandatory.
 * Returns 0 or -EINVAL. */
int sbc_addr_parse(const char *text, int default_port, sbc_addr *out);

/* Formats with the port ("ip:port", "[v6]:port"); returns buf. */
char *sbc_addr_format(const sbc_addr *a, char *buf, unsigned len);
/* Formats the address alone, no brackets, no port; returns buf. */
char *sbc_addr_format_ip(const sbc_addr *a, char *buf, unsigned len);

socklen_t sbc_addr_len(const sbc_addr *a);
uint16_t sbc_addr_port(const sbc_addr *a);
void sbc_addr_set_port(sbc_addr *a, uint16_t port);
bool sbc_addr_equal(const sbc_addr *a, const sbc_addr *b);      /* address and port */
bool sbc_addr_equal_ip(const sbc_addr *a, const sbc_addr *b);   /* address only */
/* A v4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 one, port
 * kept; any other address is left as it is. */
void sbc_addr_unmap(sbc_addr *a);

/* A CIDR prefix: "10.0.0.0/8", "2001:db8::/32", or a bare address (/32, /128). */
typedef struct sbc_cidr {
	sbc_addr addr;
	uint8_t bits;
} sbc_cidr;

int sbc_cidr_parse(const char *text, sbc_cidr *out);
bool sbc_cidr_match(const sbc_cidr *c, const sbc_addr *a);
char *sbc_cidr_format(const sbc_cidr *c, char *buf, unsigned len);

#endif
