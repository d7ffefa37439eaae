/* sbc — the media session table in the shared segment: its name and size.
 *
 * sbc-control reserves this region when it creates the segment; sbc-media
 * keeps every session there (parameters, keys, SRTP roll-over counters,
 * latched addresses, counters) so that a restarted sbc-media carries on the
 * calls. Only sbc-media writes it; its layout is private to sbc-media
 * (sbc-media/src/table-t.h) and versioned by a header inside the region.
 *
 * Caveats:
 *  1. Size it with MED_SESSION_REGION_BYTES(max_sessions). A good
 *     max_sessions is MED_SESSIONS_FOR_PORTS(port_min, port_max): every
 *     session takes four ports (RTP+RTCP on each of its two legs).
 *  2. Without the region sbc-media still runs, on private memory, and says
 *     at start that calls will not survive its restart.
 *  3. Sessions are owned by media workers: send UPDATE/DELETE/QUERY for a
 *     session to the media worker that got its CREATE (session_id % workers
 *     is the suggested choice).
 */
#ifndef SBC_MEDIA_REGION_H
#define SBC_MEDIA_REGION_H

#include <stddef.h>

#define MED_REGION_NAME "media.sessions"
#define MED_REGION_HDR_BYTES 4096u
#define MED_SLOT_BYTES 1024u

#define MED_SESSION_REGION_BYTES(max_sessions)                                 \
	((size_t)MED_REGION_HDR_BYTES + (size_t)(max_sessions) * MED_SLOT_BYTES)

#define MED_SESSIONS_FOR_PORTS(port_min, port_max)                             \
	((((unsigned)(port_max) - (unsigned)(port_min) + 1u) / 4u))

#endif
