/* sbc — message helpers: version/size checks and the HELLO handshake. */
#ifndef SBC_MSG_H
#define SBC_MSG_H

#include <stdbool.h>

#include "sbc/msg-t.h"
#include "sbc/ring.h"

/* sizeof() and version of each message type as this binary was built; 0 for
 * an unused type number. */
uint16_t sbc_msg_size(unsigned type);
uint16_t sbc_msg_version(unsigned type);

/* 0 when rec is a message of a known type with this build's version and a
 * plausible length (exact for fixed structs, at most sizeof for text);
 * SBC_E_MSG_VERSION or SBC_E_PARSE otherwise. */
int sbc_msg_check(const shm_rec *rec);

void sbc_msg_hello_fill(sbc_msg_hello *h, unsigned role, unsigned idx);

/* 0 when the peer's sizes equal ours; otherwise SBC_E_MSG_VERSION and the
 * first differing type in *bad_type. */
int sbc_msg_hello_check(const sbc_msg_hello *peer, unsigned *bad_type);

/* Pushes a JSON text message (len <= SBC_MSG_TEXT_MAX). */
int sbc_msg_push_text(shm_ring_prod *p, unsigned type, uint64_t request_id, const char *text,
		      uint32_t len);

#endif
