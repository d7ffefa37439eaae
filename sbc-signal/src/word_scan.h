/* Word-at-a-time scanning shared by the SIP, SDP and framing parsers
 * (sip_parse.c line_scan, sdp_parse.c sdp_line and field_end, sig_framing.c
 * find_hdr_end): eight bytes per step over ordinary bytes, then the byte
 * loop of the caller at the first byte a word flags. */
#ifndef SBC_SIGNAL_WORD_SCAN_H
#define SBC_SIGNAL_WORD_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "sip_msg.h"

/* word_first takes the first flagged byte as ctz / 8: that is the lowest
 * address only on a little-endian machine */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sbc-signal's word scanners assume a little-endian target (ctz of a word is its first byte)"
#endif

/* The index in its word of the first byte flagged in k (k != 0: a word
 * mask with the top bit of each flagged byte set, as sip_ctl8 makes). */
static inline size_t word_first(uint64_t k)
{
	return (size_t)__builtin_ctzll(k) >> 3;
}

/* From b[j], eight ordinary bytes per step (sip_ctl8): returns the first
 * control at or after j, or the index where fewer than eight bytes remain
 * (the caller looks at those byte by byte, calling again after each), or
 * len when the words reach it. The returned byte may be ordinary only in
 * that tail. */
static inline size_t ctl_skip(const char *b, size_t len, size_t j)
{
	while (j + 8 <= len) {
		uint64_t k = sip_ctl8(b + j);
		if (k)
			return j + word_first(k);
		j += 8;
	}
	return j;
}

#endif
