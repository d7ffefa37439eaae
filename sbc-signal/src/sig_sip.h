/* sbc-signal — the little SIP the transport layer needs before the B2BUA:
 * find the method/status and the headers a response must copy, and build
 * a response (RFC 3261 8.2.6).
 *
 * Caveats:
 *  1. Works on a framed message (sig_framing.h): hdr points at the start
 *     line, hdr_len covers the headers and the empty line.
 *  2. Views point into the caller's buffer; nothing is allocated.
 */
#ifndef SIG_SIP_H
#define SIG_SIP_H

#include <stddef.h>

typedef struct sig_sv {
	const char *p;
	size_t n;
} sig_sv;

#define SIG_SIP_MAX_VIA 16

/* The methods sbc-signal handles, for Allow in its answers to OPTIONS
 * (in and out of a dialog): the B2BUA carries UPDATE, PRACK and INFO
 * across, and a carrier sends UPDATE only to a peer whose Allow names it
 * (RFC 3311 5.1). */
#define SIG_SIP_ALLOW "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, PRACK, INFO"

typedef struct sig_sip_view {
	int is_response;
	int status;     /* responses */
	sig_sv method;  /* requests */
	sig_sv via[SIG_SIP_MAX_VIA]; /* whole header lines, "Via: ..." without CRLF */
	unsigned n_via;
	sig_sv from, to, call_id, cseq; /* whole header lines */
	int to_has_tag;
} sig_sip_view;

/* Returns 0 or sbc_err_sip(400) when a mandatory header is missing. */
int sig_sip_parse(const char *hdr, size_t hdr_len, sig_sip_view *v);

/* Writes a response to req into out[0..cap). to_tag is added when To has
 * none. extra: more header lines (each ending in CRLF) or NULL. Returns the
 * length, or -ENOSPC. */
int sig_sip_response(const sig_sip_view *req, int status, const char *reason, const char *to_tag,
		     const char *extra, char *out, size_t cap);

/* The smallest reply possible for input we could not parse at all. */
int sig_sip_bare_response(int status, const char *reason, char *out, size_t cap);

int sig_sv_eq(sig_sv s, const char *lit);

#endif
