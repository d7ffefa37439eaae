/* Unit tests: AF_XDP header parse / build / checksums (sbc-media/src/xdp_pkt.c)
 * on crafted frames. Every truncated frame lives in a buffer of exactly its
 * size, so an over-read shows under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-media/src/xdp_pkt.h"

/* Reference checksum: the plain 16-bit big-endian loop of RFC 1071. */
static uint32_t ref_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static const uint8_t MAC_A[6] = { 0x02, 0, 0, 0, 0, 0xaa };
static const uint8_t MAC_B[6] = { 0x02, 0, 0, 0, 0, 0xbb };

/* Ethernet + IPv4 (ihl words) + UDP + payload; returns the frame length. */
static size_t mk4(uint8_t *f, unsigned ihl, const char *src, const char *dst, uint16_t sp,
		  uint16_t dp, const uint8_t *pl, size_t plen, uint16_t frag)
{
	memcpy(f, MAC_A, 6);
	memcpy(f + 6, MAC_B, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	memset(ip, 0, ihl * 4);
	ip[0] = (uint8_t)(0x40 | ihl);
	ip[1] = 0xb8; /* EF */
	put16(ip + 2, (uint16_t)(ihl * 4 + 8 + plen));
	put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	for (unsigned i = 20; i < ihl * 4; i++)
		ip[i] = 1; /* NOP options */
	put16(ip + 10, (uint16_t)~ref_fold(ref_sum(0, ip, ihl * 4)));
	uint8_t *u = ip + ihl * 4;
	put16(u, sp);
	put16(u + 2, dp);
	put16(u + 4, (uint16_t)(8 + plen));
	put16(u + 6, 0);
	memcpy(u + 8, pl, plen);
	return 14 + ihl * 4 + 8 + plen;
}

static size_t mk6(uint8_t *f, const char *src, const char *dst, uint16_t sp, uint16_t dp,
		  const uint8_t *pl, size_t plen, uint8_t nexthdr)
{
	memcpy(f, MAC_A, 6);
	memcpy(f + 6, MAC_B, 6);
	put16(f + 12, 0x86dd);
	uint8_t *ip = f + 14;
	memset(ip, 0, 40);
	ip[0] = 0x6b; /* version 6, traffic class 0xb8 */
	ip[1] = 0x80;
	put16(ip + 4, (uint16_t)(8 + plen));
	ip[6] = nexthdr;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	uint8_t *u = ip + 40;
	put16(u, sp);
	put16(u + 2, dp);
	put16(u + 4, (uint16_t)(8 + plen));
	put16(u + 6, 0);
	memcpy(u + 8, pl, plen);
	return 14 + 40 + 8 + plen;
}

static int parse_exact(const uint8_t *f, size_t len, med_xdp_parsed *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, f, len);
	int rc = med_xdp_parse(copy, (uint32_t)len, out);
	free(copy);
	return rc;
}

static void test_csum_rfc1071(void **state)
{
	(void)state;
	/* RFC 1071 section 3 example: sum of these words is 0xddf2. */
	const uint8_t b[8] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	assert_int_equal(med_xdp_ip4_csum(b, 8), (uint16_t)~0xddf2);
	/* Odd lengths and unaligned starts agree with the reference. */
	uint8_t buf[301];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (unsigned off = 0; off < 4; off++)
		for (unsigned len = 0; len + off <= sizeof(buf); len += 7)
			assert_int_equal(med_xdp_ip4_csum(buf + off, len),
					 (uint16_t)~ref_fold(ref_sum(0, buf + off, len)));
	/* All ones: every word carries, in every length and alignment. */
	memset(buf, 0xff, sizeof(buf));
	for (unsigned off = 0; off < 4; off++)
		for (unsigned len = 0; len + off <= sizeof(buf); len++)
			assert_int_equal(med_xdp_ip4_csum(buf + off, len),
					 (uint16_t)~ref_fold(ref_sum(0, buf + off, len)));
}

static void test_parse_ipv4(void **state)
{
	(void)state;
	uint8_t f[256], pl[20];
	med_xdp_parsed p;
	for (int i = 0; i < 20; i++)
		pl[i] = (uint8_t)i;
	size_t n = mk4(f, 5, "192.0.2.1", "198.51.100.7", 6000, 40000, pl, sizeof(pl), 0x4000);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_OK);
	char a[SBC_ADDR_STRLEN];
	assert_string_equal(sbc_addr_format(&p.src, a, sizeof(a)), "192.0.2.1:6000");
	assert_string_equal(sbc_addr_format(&p.dst, a, sizeof(a)), "198.51.100.7:40000");
	assert_int_equal(p.payload_off, 42);
	assert_int_equal(p.payload_len, 20);
	assert_int_equal(p.tos, 0xb8);
	assert_memory_equal(f + p.payload_off, pl, 20);

	/* Ethernet padding to 60 bytes: the UDP/IP lengths rule. */
	n = mk4(f, 5, "192.0.2.1", "198.51.100.7", 6000, 40000, pl, 2, 0);
	memset(f + n, 0xee, 60 - n);
	assert_int_equal(parse_exact(f, 60, &p), MED_XDP_PKT_OK);
	assert_int_equal(p.payload_len, 2);
}

static void test_parse_ipv4_options(void **state)
{
	(void)state;
	uint8_t f[256], pl[12] = "options-ok!";
	med_xdp_parsed p;
	size_t n = mk4(f, 8, "192.0.2.1", "192.0.2.2", 1, 2, pl, sizeof(pl), 0);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_OK);
	assert_int_equal(p.payload_off, 14 + 32 + 8);
	assert_memory_equal(f + p.payload_off, pl, sizeof(pl));
	/* IHL beyond the frame. */
	f[14] = 0x4f;
	assert_int_equal(parse_exact(f, 14 + 40, &p), MED_XDP_PKT_SHORT);
	/* IHL below 5. */
	f[14] = 0x44;
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_BAD_IP);
}

static void test_parse_ipv4_bad(void **state)
{
	(void)state;
	uint8_t f[256], g[256], pl[16] = { 0 };
	med_xdp_parsed p;
	size_t n = mk4(f, 5, "10.0.0.1", "10.0.0.2", 5, 6, pl, sizeof(pl), 0);

	/* Fragments: MF set, or an offset, go to the kernel. */
	n = mk4(f, 5, "10.0.0.1", "10.0.0.2", 5, 6, pl, sizeof(pl), 0x2000);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_FRAG);
	n = mk4(f, 5, "10.0.0.1", "10.0.0.2", 5, 6, pl, sizeof(pl), 0x0010);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_FRAG);
	n = mk4(f, 5, "10.0.0.1", "10.0.0.2", 5, 6, pl, sizeof(pl), 0);

	/* Header checksum. */
	memcpy(g, f, n);
	g[14 + 8] = 63; /* TTL changed, checksum not */
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_BAD_IP);
	/* Version. */
	memcpy(g, f, n);
	g[14] = 0x55;
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_BAD_IP);
	/* Total length beyond the frame (checksum fixed up). */
	memcpy(g, f, n);
	put16(g + 14 + 2, (uint16_t)(n - 14 + 1));
	put16(g + 14 + 10, 0);
	put16(g + 14 + 10, (uint16_t)~ref_fold(ref_sum(0, g + 14, 20)));
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_SHORT);
	/* Total length below the header. */
	put16(g + 14 + 2, 12);
	put16(g + 14 + 10, 0);
	put16(g + 14 + 10, (uint16_t)~ref_fold(ref_sum(0, g + 14, 20)));
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_BAD_IP);
	/* UDP length beyond the IP payload, and below 8. */
	memcpy(g, f, n);
	put16(g + 14 + 20 + 4, (uint16_t)(8 + sizeof(pl) + 1));
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_BAD_UDP);
	put16(g + 14 + 20 + 4, 7);
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_BAD_UDP);
	/* Not UDP (TCP), checksum fixed up. */
	memcpy(g, f, n);
	g[14 + 9] = 6;
	put16(g + 14 + 10, 0);
	put16(g + 14 + 10, (uint16_t)~ref_fold(ref_sum(0, g + 14, 20)));
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_NOT_UDP);
	/* VLAN-tagged and ARP frames. */
	memcpy(g, f, n);
	put16(g + 12, 0x8100);
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_NOT_IP);
	put16(g + 12, 0x0806);
	assert_int_equal(parse_exact(g, n, &p), MED_XDP_PKT_NOT_IP);
}

static void test_parse_truncated(void **state)
{
	(void)state;
	uint8_t f[256], pl[40];
	med_xdp_parsed p;
	memset(pl, 0x5a, sizeof(pl));
	size_t n4 = mk4(f, 6, "10.0.0.1", "10.0.0.2", 5, 6, pl, sizeof(pl), 0);
	for (size_t len = 0; len < n4; len++)
		assert_int_not_equal(parse_exact(f, len, &p), MED_XDP_PKT_OK);
	assert_int_equal(parse_exact(f, n4, &p), MED_XDP_PKT_OK);
	size_t n6 = mk6(f, "2001:db8::1", "2001:db8::2", 5, 6, pl, sizeof(pl), 17);
	for (size_t len = 0; len < n6; len++)
		assert_int_not_equal(parse_exact(f, len, &p), MED_XDP_PKT_OK);
	assert_int_equal(parse_exact(f, n6, &p), MED_XDP_PKT_OK);
}

static void test_parse_ipv6(void **state)
{
	(void)state;
	uint8_t f[256], pl[33];
	med_xdp_parsed p;
	char a[SBC_ADDR_STRLEN];
	memset(pl, 0x33, sizeof(pl));
	size_t n = mk6(f, "2001:db8::1", "2001:db8:1::9", 7000, 40010, pl, sizeof(pl), 17);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_OK);
	assert_string_equal(sbc_addr_format(&p.src, a, sizeof(a)), "[2001:db8::1]:7000");
	assert_string_equal(sbc_addr_format(&p.dst, a, sizeof(a)), "[2001:db8:1::9]:40010");
	assert_int_equal(p.payload_off, 62);
	assert_int_equal(p.payload_len, 33);
	assert_int_equal(p.tos, 0xb8);
	/* Fragment header, hop-by-hop, TCP. */
	n = mk6(f, "2001:db8::1", "2001:db8::2", 1, 2, pl, 8, 44);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_FRAG);
	n = mk6(f, "2001:db8::1", "2001:db8::2", 1, 2, pl, 8, 0);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_NOT_UDP);
	n = mk6(f, "2001:db8::1", "2001:db8::2", 1, 2, pl, 8, 6);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_NOT_UDP);
	/* Payload length beyond the frame; UDP length beyond the payload. */
	n = mk6(f, "2001:db8::1", "2001:db8::2", 1, 2, pl, 8, 17);
	put16(f + 14 + 4, 17);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_SHORT);
	put16(f + 14 + 4, 16);
	put16(f + 14 + 40 + 4, 17);
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_BAD_UDP);
	/* Wrong version. */
	put16(f + 14 + 40 + 4, 16);
	f[14] = 0x4b;
	assert_int_equal(parse_exact(f, n, &p), MED_XDP_PKT_BAD_IP);
}

/* The UDP checksum of a built frame verifies: the sum over pseudo-header
 * and datagram, checksum included, is 0xffff. */
static void check_udp(const uint8_t *f, size_t n)
{
	med_xdp_parsed p;
	assert_int_equal(med_xdp_parse(f, (uint32_t)n, &p), MED_XDP_PKT_OK);
	const uint8_t *udp = f + p.payload_off - 8;
	uint32_t ulen = p.payload_len + 8u, sum = 0;
	uint8_t ph[40];
	if (p.src.sa.sa_family == AF_INET) {
		memcpy(ph, &p.src.in4.sin_addr, 4);
		memcpy(ph + 4, &p.dst.in4.sin_addr, 4);
		ph[8] = 0;
		ph[9] = 17;
		put16(ph + 10, (uint16_t)ulen);
		sum = ref_sum(0, ph, 12);
	} else {
		memcpy(ph, &p.src.in6.sin6_addr, 16);
		memcpy(ph + 16, &p.dst.in6.sin6_addr, 16);
		memset(ph + 32, 0, 8);
		put16(ph + 34, (uint16_t)ulen);
		ph[39] = 17;
		sum = ref_sum(0, ph, 40);
	}
	assert_int_not_equal(udp[6] | udp[7], 0);
	assert_int_equal(ref_fold(ref_sum(sum, udp, ulen)), 0xffff);
}

static void test_build(void **state)
{
	(void)state;
	uint8_t frame[2048], *start;
	sbc_addr s4, d4, s6, d6;
	assert_int_equal(sbc_addr_parse("203.0.113.1:40002", -1, &s4), 0);
	assert_int_equal(sbc_addr_parse("198.51.100.20:5004", -1, &d4), 0);
	assert_int_equal(sbc_addr_parse("[2001:db8::1]:40012", -1, &s6), 0);
	assert_int_equal(sbc_addr_parse("[2001:db8:9::20]:5006", -1, &d6), 0);
	uint8_t *payload = frame + 256;
	for (uint32_t plen = 0; plen < 300; plen += 37) {
		for (uint32_t i = 0; i < plen; i++)
			payload[i] = (uint8_t)(i ^ plen);
		int n = med_xdp_build(payload, plen, 256, MAC_A, MAC_B, &s4, &d4, 0xb8, &start);
		assert_int_equal(n, (int)(MED_XDP_HDR4 + plen));
		assert_ptr_equal(start, payload - MED_XDP_HDR4);
		assert_memory_equal(start, MAC_B, 6); /* destination MAC first */
		assert_memory_equal(start + 6, MAC_A, 6);
		assert_int_equal(ref_fold(ref_sum(0, start + 14, 20)), 0xffff);
		med_xdp_parsed p;
		assert_int_equal(med_xdp_parse(start, (uint32_t)n, &p), MED_XDP_PKT_OK);
		assert_true(sbc_addr_equal(&p.src, &s4));
		assert_true(sbc_addr_equal(&p.dst, &d4));
		assert_int_equal(p.tos, 0xb8);
		assert_int_equal(p.payload_len, plen);
		check_udp(start, (size_t)n);

		n = med_xdp_build(payload, plen, 256, MAC_A, MAC_B, &s6, &d6, 0x2e, &start);
		assert_int_equal(n, (int)(MED_XDP_HDR6 + plen));
		assert_int_equal(med_xdp_parse(start, (uint32_t)n, &p), MED_XDP_PKT_OK);
		assert_true(sbc_addr_equal(&p.src, &s6));
		assert_true(sbc_addr_equal(&p.dst, &d6));
		assert_int_equal(p.tos, 0x2e);
		check_udp(start, (size_t)n);
		for (uint32_t i = 0; i < plen; i++)
			assert_int_equal(payload[i], (uint8_t)(i ^ plen));

		/* Partial (left to the device): summing from the UDP header
		 * on, as a NIC or skb_checksum_help() does, and storing the
		 * complement (0 sent as 0xffff) gives the full checksum. */
		const sbc_addr *src[2] = { &s4, &s6 }, *dst[2] = { &d4, &d6 };
		const uint32_t hl[2] = { MED_XDP_HDR4, MED_XDP_HDR6 };
		for (int f = 0; f < 2; f++) {
			uint8_t *st2;
			n = med_xdp_build(payload, plen, 256, MAC_A, MAC_B, src[f], dst[f], 0, &start);
			uint16_t full = (uint16_t)(start[hl[f] - 2] << 8 | start[hl[f] - 1]);
			n = med_xdp_build_ex(payload, plen, 256, MAC_A, MAC_B, src[f], dst[f], 0, true,
					     &st2);
			assert_int_equal(n, (int)(hl[f] + plen));
			uint16_t fin = (uint16_t)~ref_fold(ref_sum(0, st2 + hl[f] - 8, 8 + plen));
			assert_int_equal(fin ? fin : 0xffff, full);
			put16(st2 + hl[f] - 2, fin ? fin : 0xffff);
			check_udp(st2, (size_t)n); /* the finished sum stored back checks */
		}
	}
	/* Not enough room before the payload; mixed families; too long. */
	assert_int_equal(med_xdp_build(payload, 10, MED_XDP_HDR4 - 1, MAC_A, MAC_B, &s4, &d4, 0,
				       &start), SBC_E_LIMIT);
	assert_int_equal(med_xdp_build(payload, 10, MED_XDP_HDR6 - 1, MAC_A, MAC_B, &s6, &d6, 0,
				       &start), SBC_E_LIMIT);
	assert_int_equal(med_xdp_build(payload, 10, 256, MAC_A, MAC_B, &s4, &d6, 0, &start),
			 SBC_E_INVAL);
	assert_int_equal(med_xdp_build(payload, 65530, 256, MAC_A, MAC_B, &s4, &d4, 0, &start),
			 SBC_E_LIMIT);
}

/* A received IPv4 frame rewritten as IPv6 in place (the path a v4->v6 call
 * takes): headers grow towards the frame start, the payload stays. */
static void test_rewrite_in_place(void **state)
{
	(void)state;
	uint8_t frame[2048], pl[160], *start;
	med_xdp_parsed p;
	sbc_addr s6, d6;
	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)(i * 7);
	uint8_t *rx = frame + 256;
	size_t n = mk4(rx, 5, "192.0.2.1", "192.0.2.9", 6000, 40000, pl, sizeof(pl), 0);
	assert_int_equal(med_xdp_parse(rx, (uint32_t)n, &p), MED_XDP_PKT_OK);
	uint8_t *payload = rx + p.payload_off;
	assert_int_equal(sbc_addr_parse("[2001:db8::1]:40002", -1, &s6), 0);
	assert_int_equal(sbc_addr_parse("[2001:db8::2]:5000", -1, &d6), 0);
	int len = med_xdp_build(payload, p.payload_len, (uint32_t)(payload - frame), MAC_A, MAC_B,
				&s6, &d6, p.tos, &start);
	assert_int_equal(len, (int)(MED_XDP_HDR6 + sizeof(pl)));
	assert_ptr_equal(start, rx - 20);
	check_udp(start, (size_t)len);
	assert_memory_equal(start + MED_XDP_HDR6, pl, sizeof(pl));
}

/* Random bytes never parse out of bounds (ASan checks) and whatever parses
 * has lengths inside the frame. */
static void test_parse_random(void **state)
{
	(void)state;
	uint8_t f[128];
	med_xdp_parsed p;
	uint32_t seed = 12345;
	for (int it = 0; it < 200000; it++) {
		size_t len = (seed >> 8) % sizeof(f);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			f[i] = (uint8_t)(seed >> 16);
		}
		/* Bias towards IP so the deeper checks run. */
		if (len > 14 && (it & 1)) {
			put16(f + 12, (it & 2) ? 0x0800 : 0x86dd);
			f[14] = (it & 2) ? 0x45 : 0x60;
		}
		seed = seed * 1103515245u + 12345u;
		if (parse_exact(f, len, &p) == MED_XDP_PKT_OK)
			assert_true((size_t)p.payload_off + p.payload_len <= len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_rfc1071),
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv4_options),
		cmocka_unit_test(test_parse_ipv4_bad),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_rewrite_in_place),
		cmocka_unit_test(test_parse_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
