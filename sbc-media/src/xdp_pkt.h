/* sbc-media — Ethernet/IPv4/IPv6/UDP parse and header build for the AF_XDP
 * path. Pure functions on byte buffers: no I/O, no allocation, no logging.
 *
 * Caveats:
 *  1. med_xdp_parse() accepts exactly: Ethernet II (no VLAN tag), then IPv4
 *     (options allowed and skipped, header checksum verified, no fragment)
 *     or IPv6 (next header UDP, no extension headers), then UDP with a length
 *     that fits the IP payload. Ethernet padding after the IP packet is
 *     ignored. The UDP checksum is not verified (the XDP program has no
 *     offload result to give; SRTP authenticates what matters).
 *  2. med_xdp_build() writes fresh Ethernet + IP + UDP headers immediately
 *     before the payload, which stays where it is: the packet grows towards
 *     the front of the frame, so the caller must leave room (42 bytes IPv4,
 *     62 bytes IPv6) between the frame start and the payload. A packet may
 *     change family on the way (IPv4 in, IPv6 out). IPv4 goes out with
 *     DF set, ID 0 (RFC 6864, atomic datagram), TTL 64; IPv6 with hop limit
 *     64, flow label 0. The UDP checksum is always computed in full (a
 *     payload changed by SRTP needs it anyway, and an incoming checksum
 *     left partial by a veth/virtio offload cannot be updated incrementally).
 *  3. Return conventions: parse returns MED_XDP_PKT_OK (0) or a positive
 *     enum med_xdp_pkt_err saying why the frame is not ours; build returns
 *     the frame length (> 0) or SBC_E_INVAL / SBC_E_LIMIT.
 */
#ifndef MED_XDP_PKT_H
#define MED_XDP_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include "sbc/sockaddr.h"

#define MED_XDP_ETH_HLEN 14
#define MED_XDP_HDR4 (14 + 20 + 8) /* bytes build writes before an IPv4 payload */
#define MED_XDP_HDR6 (14 + 40 + 8)

enum med_xdp_pkt_err {
	MED_XDP_PKT_OK = 0,
	MED_XDP_PKT_SHORT,    /* truncated: a header or a length runs past the frame */
	MED_XDP_PKT_NOT_IP,   /* EtherType neither IPv4 nor IPv6 (VLAN included) */
	MED_XDP_PKT_BAD_IP,   /* version, IHL or header checksum wrong */
	MED_XDP_PKT_NOT_UDP,  /* other protocol, or IPv6 extension header */
	MED_XDP_PKT_FRAG,     /* IPv4 fragment or IPv6 fragment header */
	MED_XDP_PKT_BAD_UDP,  /* UDP length below 8 or beyond the IP payload */
	MED_XDP_PKT_ERR_MAX_,
};

/* What parse found. Offsets are from the frame start. */
typedef struct med_xdp_parsed {
	sbc_addr src;          /* IP source + UDP source port (the far end) */
	sbc_addr dst;          /* IP destination + UDP destination port (ours) */
	uint16_t payload_off;  /* first UDP payload byte */
	uint16_t payload_len;  /* UDP length - 8 */
	uint8_t tos;           /* IPv4 TOS / IPv6 traffic class (DSCP + ECN) */
	uint8_t _pad[3];
} med_xdp_parsed;

/* Parses len bytes at frame (caveat 1). */
int med_xdp_parse(const uint8_t *frame, uint32_t len, med_xdp_parsed *out);

/* Name of an enum med_xdp_pkt_err value, for counters ("short", "frag"...). */
const char *med_xdp_pkt_err_name(int err);

/* Writes the headers for payload_len bytes at payload (caveat 2): MACs, then
 * IP from src to dst (same family, both set), ports from src/dst, tos.
 * room: writable bytes before payload. *start receives the frame start
 * (payload - header bytes). Returns the frame length or a negative error. */
int med_xdp_build(uint8_t *payload, uint32_t payload_len, uint32_t room,
		  const uint8_t src_mac[6], const uint8_t dst_mac[6],
		  const sbc_addr *src, const sbc_addr *dst, uint8_t tos,
		  uint8_t **start);

/* med_xdp_build() with the UDP checksum left partial when csum_partial:
 * the checksum field holds the pseudo-header's folded sum (not
 * complemented), as Linux leaves it for CHECKSUM_PARTIAL, for a device or
 * the kernel to finish from the UDP header on (AF_XDP TX metadata
 * XDP_TXMD_FLAGS_CHECKSUM: csum_start = the UDP header, csum_offset = 6). */
int med_xdp_build_ex(uint8_t *payload, uint32_t payload_len, uint32_t room,
		     const uint8_t src_mac[6], const uint8_t dst_mac[6],
		     const sbc_addr *src, const sbc_addr *dst, uint8_t tos,
		     bool csum_partial, uint8_t **start);

/* Internet checksum helpers (RFC 1071), exposed for tests and benches. */
uint16_t med_xdp_ip4_csum(const uint8_t *hdr, unsigned len);
/* UDP checksum over the pseudo-header and the datagram (header + payload,
 * udp_len bytes at udp, checksum field included as is); returns the value
 * to store (0 mapped to 0xffff). */
uint16_t med_xdp_udp_csum(const sbc_addr *src, const sbc_addr *dst,
			  const uint8_t *udp, uint32_t udp_len);

#endif
