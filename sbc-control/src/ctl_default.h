/* sbc-control — the embedded default's store content.
 *
 *  1. A TLS listener naming the profile "default" that the store lacks gets
 *     a fresh self-signed ECDSA certificate stored under that name (first
 *     start); an operator's profile of that name is never replaced.
 *  2. With demo.enabled (the embedded default), an EMPTY store (no trunk, no
 *     route) gets: trunk demo-in (inbound from demo.inbound_cidr, any
 *     transport, SRTP optional), trunk demo-out (to demo.outbound over UDP,
 *     SRTP off) and the default route "" -> demo-out. A store with any trunk
 *     or route is left alone.
 */
#ifndef CTL_DEFAULT_H
#define CTL_DEFAULT_H

#include <stddef.h>

#include "ctl_ctx.h"

/* Returns 0 or a negative sbc error (err says which step failed). */
int ctl_default_seed(ctl_ctx *ctx, char *err, size_t errlen);

#endif
