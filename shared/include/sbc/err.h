/* sbc — one error space for the whole project.
 *
 * Conventions (every module follows them):
 *  1. A function that can fail returns int: 0 (or a non-negative count) on
 *     success, a negative sbc error code on failure. It never returns -1 and
 *     leaves errno to be read.
 *  2. System failures are negative errno values (-ENOMEM, -EAGAIN, ...).
 *  3. sbc's own conditions live in a reserved range below SBC_ERR_BASE.
 *  4. An error that implies a SIP response carries it: sbc_err_sip(488) is a
 *     code whose sbc_err_sip_status() is 488; the transaction layer answers
 *     with that status without a lookup table.
 *  5. sbc_strerror() names every code; it never returns NULL.
 */
#ifndef SBC_ERR_H
#define SBC_ERR_H

#include <stddef.h>

#define SBC_ERR_BASE (-4000)

/* X(name, value offset, text) */
#define SBC_ERRNO_MAP(X)                                                       \
	X(SBC_E_RING_FULL, 1, "ring full")                                     \
	X(SBC_E_RING_EMPTY, 2, "ring empty")                                   \
	X(SBC_E_SHM_MAGIC, 3, "shared segment has a wrong magic")              \
	X(SBC_E_SHM_VERSION, 4, "shared segment layout version mismatch")      \
	X(SBC_E_SHM_SIZE, 5, "shared segment size mismatch")                   \
	X(SBC_E_SHM_LAYOUT, 6, "shared segment layout signature mismatch")     \
	X(SBC_E_MSG_TOO_BIG, 7, "message larger than the ring allows")         \
	X(SBC_E_MSG_VERSION, 8, "message version mismatch")                    \
	X(SBC_E_PARSE, 9, "parse error")                                       \
	X(SBC_E_INVAL, 10, "invalid argument")                                 \
	X(SBC_E_NOT_FOUND, 11, "not found")                                    \
	X(SBC_E_EXISTS, 12, "already exists")                                  \
	X(SBC_E_SCHEMA, 13, "store schema version mismatch")                   \
	X(SBC_E_TLS, 14, "TLS failure")                                        \
	X(SBC_E_CERT, 15, "certificate rejected")                              \
	X(SBC_E_LIMIT, 16, "limit reached")                                    \
	X(SBC_E_TIMEOUT, 17, "timed out")                                      \
	X(SBC_E_CLOSED, 18, "peer closed the connection")                      \
	X(SBC_E_SRTP, 19, "SRTP failure")                                      \
	X(SBC_E_AUTH, 20, "authentication failed")                             \
	X(SBC_E_REPLAY, 21, "replayed packet")                                 \
	X(SBC_E_UNSUPPORTED, 22, "not supported")                              \
	X(SBC_E_CONFIG, 23, "configuration error")                             \
	X(SBC_E_STATE, 24, "invalid state for this operation")

enum sbc_err {
#define SBC_ERR_ENUM_(name, off, text) name = SBC_ERR_BASE - (off),
	SBC_ERRNO_MAP(SBC_ERR_ENUM_)
#undef SBC_ERR_ENUM_
	SBC_E_LAST_ = SBC_ERR_BASE - 999,
};

/* SIP-carrying errors: SBC_ERR_SIP_BASE - status, status in 300..699. */
#define SBC_ERR_SIP_BASE (-10000)

static inline int sbc_err_sip(int status) { return SBC_ERR_SIP_BASE - status; }

/* The SIP status an error carries, or 0 when it carries none. */
static inline int sbc_err_sip_status(int err)
{
	int s = SBC_ERR_SIP_BASE - err;
	return (s >= 300 && s <= 699) ? s : 0;
}

/* Text for any error code: errno, sbc code or SIP-carrying code. Thread-safe;
 * the SIP case uses a thread-local buffer. */
const char *sbc_strerror(int err);

/* Formats an error sentence into buf for the caller's err/errlen pair
 * (the "<key>: <reason>" texts of loaders). buf NULL or len 0: nothing. */
void sbc_errf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
