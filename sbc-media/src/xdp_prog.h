/* sbc-media — layout shared by the XDP program (bpf/xdp_media.bpf.c) and its
 * loader (xdp_backend.c). Types only; usable from the BPF target (no libc).
 *
 * Caveats:
 *  1. Change a field here and both sides change: the loader checks the size
 *     of the med_cfg value in the loaded object against sizeof(struct
 *     med_xdp_cfg) and refuses a mismatch.
 *  2. Addresses are in network byte order, ports in host byte order.
 */
#ifndef MED_XDP_PROG_H
#define MED_XDP_PROG_H

#include <linux/types.h>

#define MED_XDP_MAX_QUEUES 64 /* XSKMAP size: RX queues per interface */
#define MED_XDP_MAX_ADDRS 4   /* media addresses per family per interface */

#define MED_XDP_F_PORTMAP 1u  /* only ports with their med_ports bit set */

struct med_xdp_cfg {
	__u32 enabled;
	__u32 flags;      /* MED_XDP_F_* */
	__u16 port_min;   /* host order */
	__u16 port_max;
	__u32 n4, n6;     /* used entries in addr4 / addr6 */
	__u32 max_len;    /* longer frames go to the kernel (they would not fit
			   * a UMEM frame with room to grow); 0: no limit */
	__u32 addr4[MED_XDP_MAX_ADDRS];     /* network order */
	__u32 addr6[MED_XDP_MAX_ADDRS][4];  /* network order */
};

enum med_xdp_stat {
	MED_XDP_STAT_MATCHED = 0, /* redirected (or passed for lack of socket) */
	MED_XDP_STAT_PORT_IDLE,   /* in range, port bit clear: passed */
	MED_XDP_STAT_TOO_LONG,    /* ours but longer than max_len: passed */
	MED_XDP_STAT_MAX,
};

#endif
