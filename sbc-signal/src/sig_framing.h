/* sbc-signal — SIP message framing on streams (TCP/TLS) and datagrams (UDP).
 *
 * Caveats:
 *  1. Pure functions over a byte buffer: no allocation, no I/O. The caller
 *     owns the buffer and decides what to keep (see sig_conn.c).
 *  2. Streams: a message is its headers up to the first empty line plus
 *     Content-Length bytes of body (RFC 3261 18.3). Content-Length is
 *     mandatory on streams. Leading CRLFs are keep-alives (RFC 5626 4.4.1):
 *     "\r\n\r\n" is a ping (answer "\r\n"), a lone "\r\n" is a pong.
 *  3. Limits: headers longer than max_header or a body longer than max_body
 *     is an error; the caller answers 400 where it can and counts it.
 *  4. Errors carry their SIP status (sbc_err_sip(400)); the error is sticky
 *     for a stream: the caller closes the connection after answering.
 */
#ifndef SIG_FRAMING_H
#define SIG_FRAMING_H

#include <stddef.h>
#include <stdint.h>

typedef struct sig_frame_limits {
	uint32_t max_header; /* bytes of start line + headers + empty line */
	uint32_t max_body;   /* bytes of body */
} sig_frame_limits;

#define SIG_FRAME_DEFAULT_MAX_HEADER 8192u
#define SIG_FRAME_DEFAULT_MAX_BODY 65536u

enum sig_frame_kind {
	SIG_FRAME_NEED_MORE = 0, /* nothing complete yet; keep the bytes */
	SIG_FRAME_MESSAGE = 1,   /* a whole message: hdr_len + body_len bytes */
	SIG_FRAME_PING = 2,      /* "\r\n\r\n": answer "\r\n" */
	SIG_FRAME_PONG = 3,      /* "\r\n": nothing to answer */
};

enum sig_frame_why {
	SIG_FRAME_OK = 0,
	SIG_FRAME_E_GARBAGE,      /* not a SIP start line / binary bytes */
	SIG_FRAME_E_HDR_TOO_BIG,  /* no end of headers within max_header */
	SIG_FRAME_E_BODY_TOO_BIG, /* Content-Length above max_body */
	SIG_FRAME_E_NO_CLEN,      /* stream message without Content-Length */
	SIG_FRAME_E_BAD_CLEN,     /* malformed or conflicting Content-Length */
	SIG_FRAME_E_SHORT_BODY,   /* datagram shorter than its Content-Length */
};

typedef struct sig_frame {
	uint32_t consumed; /* bytes to drop from the front of the buffer */
	uint32_t hdr_len;  /* MESSAGE: start line + headers + empty line */
	uint32_t body_len; /* MESSAGE: body bytes after the headers */
	uint8_t why;       /* enum sig_frame_why when the result is an error */
} sig_frame;

/* Stream framing. Returns an enum sig_frame_kind (>= 0) with *f filled, or
 * sbc_err_sip(400) with f->why naming the reason. */
int sig_frame_stream(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f);

/* Datagram framing: the whole datagram is one message (or a keep-alive).
 * A body longer than Content-Length is truncated to it (RFC 3261 18.3). */
int sig_frame_datagram(const char *buf, size_t len, const sig_frame_limits *lim, sig_frame *f);

const char *sig_frame_why_name(unsigned why);

#endif
