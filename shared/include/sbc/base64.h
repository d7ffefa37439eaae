/* sbc — base64 (RFC 4648, standard alphabet, with padding), as SDES keys use. */
#ifndef SBC_BASE64_H
#define SBC_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define SBC_BASE64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4 + 1)

/* Encodes n bytes into out (NUL-terminated). Returns the text length, or
 * -ENOSPC when out_len is too small. */
int sbc_base64_encode(const uint8_t *in, size_t n, char *out, size_t out_len);

/* Decodes text of length len. Padding is optional; whitespace and any other
 * character outside the alphabet is an error. Returns the number of bytes
 * written, -EINVAL on bad input or -ENOSPC when out_len is too small. */
int sbc_base64_decode(const char *in, size_t len, uint8_t *out, size_t out_len);

#endif
