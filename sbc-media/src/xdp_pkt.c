/* sbc-media — Ethernet/IP/UDP parse and build for the AF_XDP path. */
#include "xdp_pkt.h"

#include <arpa/inet.h>
#include <string.h>

#include "sbc/err.h"

#define ETHERTYPE_IP4 0x0800
#define ETHERTYPE_IP6 0x86dd
#define PROTO_UDP 17
#define PROTO_FRAG6 44

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Sum of 16-bit big-endian words, not folded. Reads 4 bytes at a time in
 * host order into 64-bit accumulators: the one's-complement sum is
 * byte-order independent as long as the final fold swaps back (RFC 1071
 * section 2(B)), and the carries out of each 32-bit word pile up in the top
 * half for csum_fold to add back (no end-around carry per word: two
 * independent accumulators keep the loop free of a dependency chain; it was
 * as costly as the whole parse in the AF_XDP worker's profile). A 64-bit
 * sum of 32-bit words cannot overflow below 2^32 words. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, uint32_t len)
{
	uint64_t s2 = 0;
	while (len >= 16) {
		uint32_t a, b, c, d;
		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		memcpy(&c, p + 8, 4);
		memcpy(&d, p + 12, 4);
		sum += (uint64_t)a + b;
		s2 += (uint64_t)c + d;
		p += 16;
		len -= 16;
	}
	sum += s2;
	while (len >= 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		sum += v;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;
		memcpy(&v, p, 2);
		sum += v;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };
		uint16_t v;
		memcpy(&v, last, 2);
		sum += v;
	}
	return sum;
}

/* Folds to 16 bits and returns the sum in network byte order as a host
 * integer (the value to store with wr16 after ~). */
static uint16_t csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return ntohs((uint16_t)sum);
}

uint16_t med_xdp_ip4_csum(const uint8_t *hdr, unsigned len)
{
	return (uint16_t)~csum_fold(csum_add(0, hdr, len));
}

/* The pseudo-header's sum, not folded (RFC 768 / RFC 8200 section 8.1). */
static uint64_t pseudo_sum(const sbc_addr *src, const sbc_addr *dst, uint32_t udp_len)
{
	uint64_t sum = 0;
	uint8_t tail[8] = { 0 };

	if (src->sa.sa_family == AF_INET) {
		sum = csum_add(sum, (const uint8_t *)&src->in4.sin_addr, 4);
		sum = csum_add(sum, (const uint8_t *)&dst->in4.sin_addr, 4);
		wr16(tail, PROTO_UDP);
		wr16(tail + 2, (uint16_t)udp_len);
		return csum_add(sum, tail, 4);
	}
	sum = csum_add(sum, (const uint8_t *)&src->in6.sin6_addr, 16);
	sum = csum_add(sum, (const uint8_t *)&dst->in6.sin6_addr, 16);
	tail[0] = (uint8_t)(udp_len >> 24);
	tail[1] = (uint8_t)(udp_len >> 16);
	tail[2] = (uint8_t)(udp_len >> 8);
	tail[3] = (uint8_t)udp_len;
	tail[7] = PROTO_UDP;
	return csum_add(sum, tail, 8);
}

uint16_t med_xdp_udp_csum(const sbc_addr *src, const sbc_addr *dst,
			  const uint8_t *udp, uint32_t udp_len)
{
	uint16_t c = (uint16_t)~csum_fold(csum_add(pseudo_sum(src, dst, udp_len), udp, udp_len));
	return c ? c : 0xffff;
}

static const char *const err_names[MED_XDP_PKT_ERR_MAX_] = {
	[MED_XDP_PKT_OK] = "ok",
	[MED_XDP_PKT_SHORT] = "short",
	[MED_XDP_PKT_NOT_IP] = "not_ip",
	[MED_XDP_PKT_BAD_IP] = "bad_ip",
	[MED_XDP_PKT_NOT_UDP] = "not_udp",
	[MED_XDP_PKT_FRAG] = "frag",
	[MED_XDP_PKT_BAD_UDP] = "bad_udp",
};

const char *med_xdp_pkt_err_name(int err)
{
	if (err < 0 || err >= MED_XDP_PKT_ERR_MAX_)
		return "unknown";
	return err_names[err];
}

/* UDP header at off, udp_room bytes of IP payload available. */
static int parse_udp(const uint8_t *frame, uint32_t off, uint32_t udp_room,
		     med_xdp_parsed *out)
{
	if (udp_room < 8)
		return MED_XDP_PKT_SHORT;
	const uint8_t *u = frame + off;
	uint16_t ulen = rd16(u + 4);
	if (ulen < 8 || ulen > udp_room)
		return MED_XDP_PKT_BAD_UDP;
	if (out->src.sa.sa_family == AF_INET) {
		out->src.in4.sin_port = htons(rd16(u));
		out->dst.in4.sin_port = htons(rd16(u + 2));
	} else {
		out->src.in6.sin6_port = htons(rd16(u));
		out->dst.in6.sin6_port = htons(rd16(u + 2));
	}
	out->payload_off = (uint16_t)(off + 8);
	out->payload_len = (uint16_t)(ulen - 8);
	return MED_XDP_PKT_OK;
}

int med_xdp_parse(const uint8_t *frame, uint32_t len, med_xdp_parsed *out)
{
	memset(out, 0, sizeof(*out));
	if (len < MED_XDP_ETH_HLEN)
		return MED_XDP_PKT_SHORT;
	if (len > 65535)
		len = 65535;
	uint16_t type = rd16(frame + 12);
	const uint8_t *ip = frame + MED_XDP_ETH_HLEN;
	uint32_t room = len - MED_XDP_ETH_HLEN;

	if (type == ETHERTYPE_IP4) {
		if (room < 20)
			return MED_XDP_PKT_SHORT;
		if ((ip[0] >> 4) != 4)
			return MED_XDP_PKT_BAD_IP;
		uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
		if (ihl < 20)
			return MED_XDP_PKT_BAD_IP;
		if (ihl > room)
			return MED_XDP_PKT_SHORT;
		uint16_t tot = rd16(ip + 2);
		if (tot < ihl)
			return MED_XDP_PKT_BAD_IP;
		if (tot > room)
			return MED_XDP_PKT_SHORT;
		if (med_xdp_ip4_csum(ip, ihl) != 0)
			return MED_XDP_PKT_BAD_IP;
		if (rd16(ip + 6) & 0x3fff) /* MF or fragment offset */
			return MED_XDP_PKT_FRAG;
		if (ip[9] != PROTO_UDP)
			return MED_XDP_PKT_NOT_UDP;
		out->src.in4.sin_family = AF_INET;
		out->dst.in4.sin_family = AF_INET;
		memcpy(&out->src.in4.sin_addr, ip + 12, 4);
		memcpy(&out->dst.in4.sin_addr, ip + 16, 4);
		out->tos = ip[1];
		return parse_udp(frame, MED_XDP_ETH_HLEN + ihl, tot - ihl, out);
	}
	if (type == ETHERTYPE_IP6) {
		if (room < 40)
			return MED_XDP_PKT_SHORT;
		if ((ip[0] >> 4) != 6)
			return MED_XDP_PKT_BAD_IP;
		uint16_t plen = rd16(ip + 4);
		if (plen > room - 40)
			return MED_XDP_PKT_SHORT;
		if (ip[6] == PROTO_FRAG6)
			return MED_XDP_PKT_FRAG;
		if (ip[6] != PROTO_UDP)
			return MED_XDP_PKT_NOT_UDP;
		out->src.in6.sin6_family = AF_INET6;
		out->dst.in6.sin6_family = AF_INET6;
		memcpy(&out->src.in6.sin6_addr, ip + 8, 16);
		memcpy(&out->dst.in6.sin6_addr, ip + 24, 16);
		out->tos = (uint8_t)((ip[0] << 4) | (ip[1] >> 4));
		return parse_udp(frame, MED_XDP_ETH_HLEN + 40, plen, out);
	}
	return MED_XDP_PKT_NOT_IP;
}

int med_xdp_build(uint8_t *payload, uint32_t payload_len, uint32_t room,
		  const uint8_t src_mac[6], const uint8_t dst_mac[6],
		  const sbc_addr *src, const sbc_addr *dst, uint8_t tos,
		  uint8_t **start)
{
	return med_xdp_build_ex(payload, payload_len, room, src_mac, dst_mac, src, dst, tos,
				false, start);
}

int med_xdp_build_ex(uint8_t *payload, uint32_t payload_len, uint32_t room,
		     const uint8_t src_mac[6], const uint8_t dst_mac[6],
		     const sbc_addr *src, const sbc_addr *dst, uint8_t tos,
		     bool csum_partial, uint8_t **start)
{
	int fam = src->sa.sa_family;

	if (fam != dst->sa.sa_family || (fam != AF_INET && fam != AF_INET6))
		return SBC_E_INVAL;
	uint32_t hdr = fam == AF_INET ? MED_XDP_HDR4 : MED_XDP_HDR6;
	uint32_t udp_len = payload_len + 8;
	if (room < hdr)
		return SBC_E_LIMIT;
	if (udp_len > 65535 - (fam == AF_INET ? 20 : 0))
		return SBC_E_LIMIT;

	uint8_t *f = payload - hdr;
	uint8_t *ip = f + MED_XDP_ETH_HLEN;
	uint8_t *udp = payload - 8;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	if (fam == AF_INET) {
		wr16(f + 12, ETHERTYPE_IP4);
		ip[0] = 0x45;
		ip[1] = tos;
		wr16(ip + 2, (uint16_t)(udp_len + 20));
		wr16(ip + 4, 0);      /* ID */
		wr16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = PROTO_UDP;
		wr16(ip + 10, 0);
		memcpy(ip + 12, &src->in4.sin_addr, 4);
		memcpy(ip + 16, &dst->in4.sin_addr, 4);
		wr16(ip + 10, med_xdp_ip4_csum(ip, 20));
	} else {
		wr16(f + 12, ETHERTYPE_IP6);
		ip[0] = (uint8_t)(0x60 | (tos >> 4));
		ip[1] = (uint8_t)(tos << 4);
		ip[2] = 0;
		ip[3] = 0;
		wr16(ip + 4, (uint16_t)udp_len);
		ip[6] = PROTO_UDP;
		ip[7] = 64;
		memcpy(ip + 8, &src->in6.sin6_addr, 16);
		memcpy(ip + 24, &dst->in6.sin6_addr, 16);
	}
	wr16(udp, sbc_addr_port(src));
	wr16(udp + 2, sbc_addr_port(dst));
	wr16(udp + 4, (uint16_t)udp_len);
	wr16(udp + 6, 0);
	if (csum_partial) /* the device (or the kernel for it) sums the rest */
		wr16(udp + 6, csum_fold(pseudo_sum(src, dst, udp_len)));
	else
		wr16(udp + 6, med_xdp_udp_csum(src, dst, udp, udp_len));
	*start = f;
	return (int)(hdr + payload_len);
}
