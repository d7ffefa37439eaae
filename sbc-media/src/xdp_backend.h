/* sbc-media — AF_XDP data path: XDP program, UMEM, AF_XDP sockets, worker
 * packet loop. Self-contained: the session logic stays with the caller,
 * which plugs in through one callback per packet (med_xdp_pkt_cb).
 *
 * Caveats:
 *  1. Lifecycle (numbered, as the code does it):
 *     1. med_xdp_open(): per interface, loads the embedded XDP program
 *        (bpf/xdp_media.bpf.c), fills its config map (media addresses,
 *        port range) and attaches it through a bpf_link: native (driver)
 *        mode, else generic (SKB) mode. A bpf_link is released by the kernel
 *        when its last fd closes, so the interface is left clean on exit,
 *        on error and even after SIGKILL.
 *     2. med_xdp_worker_create() (from the worker's own thread, or before
 *        it starts): one UMEM and one AF_XDP socket per interface on RX
 *        queue `queue`, all sharing the UMEM (so a frame received on one
 *        interface is sent on another without a copy); zero-copy bind
 *        first, copy mode when the driver refuses; registered in each
 *        interface's XSKMAP under `queue`.
 *     3. med_xdp_worker_poll() in the worker's loop.
 *     4. med_xdp_worker_destroy(), then med_xdp_close().
 *  2. Queues: the XDP program redirects a packet to the socket of the RX
 *     queue it arrived on; a queue without a socket passes its packets to the
 *     kernel. Run one worker per RX queue (worker k on queue k).
 *  3. Threads: med_xdp is shared read-only after open, except
 *     med_xdp_port_set() (a map write, safe from any thread). A worker
 *     belongs to one thread.
 *  4. Packet path: med_xdp_worker_poll() makes no system call per packet.
 *     It reaps completions, refills the fill rings, reads up to a batch from
 *     each RX ring, calls the callback per UDP packet, rewrites and queues
 *     the forwarded ones on the TX ring of the egress interface and kicks
 *     each TX ring once per burst: when 64 descriptors wait, else in the
 *     first round that receives nothing (copy mode needs the kick; with
 *     need_wakeup only when the kernel asks). In copy mode one kick sends
 *     the whole ring (XDP_MAX_TX_SKB_BUDGET, Linux >= 6.17; else 32 per
 *     kick, looped). When every ring is empty it spins briefly and then
 *     sleeps in poll() up to timeout_ms. In copy mode on Linux >= 6.11 the
 *     UDP checksum is left to the device through AF_XDP TX metadata
 *     (CHECKSUM_PARTIAL; the kernel finishes it for a device without
 *     offload): media.stats "csum_offload". The sockets and the UMEM are set
 *     up here, not through libxdp (1.3 cannot register TX metadata).
 *     Measured on veth (bench_xdp): busy polling (busy_poll_us) and NAPI
 *     deferral (napi_defer_hard_irqs + gro_flush_timeout on the veths)
 *     cost more CPU per packet than interrupts + need_wakeup at 100k pps,
 *     and native vs generic attach were within the noise, so the defaults
 *     are: auto attach, no busy polling. (Busy polling alone changes
 *     nothing in copy mode: the kernel gives an AF_XDP socket a NAPI id at
 *     bind only in zero-copy mode, and a copy-mode TX still needs the
 *     sendto() kick, busy polling or not.)
 *  5. Next hop: the egress interface and destination MAC come from the
 *     kernel's route and neighbour tables (xdp_neigh.h). A packet to a next
 *     hop not yet known is dropped and counted (MED_XDP_DROP_NEIGH) while
 *     resolution runs in the worker's housekeeping; call
 *     med_xdp_worker_resolve() at session set-up to have it ready first.
 *  6. Errors: negative SBC_E_* / -errno; open and worker_create write a
 *     one-line reason into why (for the log line saying why XDP is not used).
 *  7. Privileges: loading the program and binding AF_XDP sockets need
 *     CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF (or CAP_SYS_ADMIN), and the UMEM
 *     is pinned memory (RLIMIT_MEMLOCK unless CAP_IPC_LOCK): per worker
 *     interfaces x ring_size x 3 frames of frame_size bytes (2 interfaces,
 *     4096, 2048: 48 MiB). Without them open/worker_create fail with the
 *     reason and the socket backend carries on.
 *  8. Plugging into the media worker (what the session code provides):
 *     - the callback: session by p->dst port (slot and leg from the port),
 *       then the same per-packet step as the socket path (latching on
 *       p->src, SRTP/SRTCP in place with cap = p->cap, counters), then
 *       p->out_dst = the other leg's peer, p->out_src_port = the other
 *       leg's local port (out_src left AF_UNSPEC: the egress interface's
 *       media address), p->out_len = the new length;
 *     - session create/delete: med_xdp_port_set() for the session's ports
 *       when port_filter is on;
 *     - keep binding the kernel sockets of each session's ports: they
 *       reserve the ports, and what the XDP program passes to the kernel
 *       (fragments, IPv4 options, IPv6 extension headers) still reaches the
 *       socket path;
 *     - the worker loop: med_xdp_worker_fds() into its epoll next to the
 *       ring doorbells, med_xdp_worker_poll(w, cb, arg, 0) when readable;
 *     - media.stats: med_xdp_worker_stats_json() and med_xdp_attach_mode().
 */
#ifndef MED_XDP_BACKEND_H
#define MED_XDP_BACKEND_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "sbc/sockaddr.h"
#include "xdp_prog.h"

#define MED_XDP_MAX_IFS 4
/* Most packets taken from one RX ring per round: a backlog (after the worker
 * was off its core) drains in big rounds, each with one TX kick and one
 * refill (bench_xdp: 0.022-0.026 -> 0.015-0.024 kicks per packet, relay
 * 2.0-2.2 -> 1.3-1.9 us per packet against 64). */
#define MED_XDP_BATCH 256

typedef struct med_xdp med_xdp;
typedef struct med_xdp_worker med_xdp_worker;

enum med_xdp_attach {
	MED_XDP_ATTACH_AUTO = 0,  /* native, else generic */
	MED_XDP_ATTACH_NATIVE,
	MED_XDP_ATTACH_GENERIC,
};

typedef struct med_xdp_if_config {
	char name[IF_NAMESIZE];
	sbc_addr addrs[MED_XDP_MAX_ADDRS * 2]; /* media addresses on it (port ignored) */
	unsigned naddrs;
} med_xdp_if_config;

typedef struct med_xdp_config {
	med_xdp_if_config ifs[MED_XDP_MAX_IFS];
	unsigned nifs;
	uint16_t port_min, port_max;  /* media port range */
	enum med_xdp_attach attach;
	bool force_copy;   /* never try zero-copy */
	bool port_filter;  /* only ports enabled by med_xdp_port_set() go to AF_XDP */
	unsigned ring_size;  /* per ring (fill, completion, RX, TX); 0: 4096 */
	unsigned frame_size; /* UMEM frame; 0: 2048 (a power of two, >= 2048) */
	unsigned neigh_refresh_ms; /* re-read known next hops this often; 0: 5000 */
	unsigned busy_poll_us; /* >0: preferred busy polling (SO_BUSY_POLL, this
				* long per call): an empty RX ring is driven by
				* recvfrom() on the socket instead of softirq + wake-up */
} med_xdp_config;

/* Step 1. On failure *out is NULL, nothing stays attached and why says so. */
int med_xdp_open(med_xdp **out, const med_xdp_config *cfg, char *why, size_t whylen);

/* med_xdp_open() for the process start-up: on failure it logs the one line
 * an operator needs ("media: AF_XDP backend not used on <if>: <why>; the
 * socket backend carries the media") and returns the error, so the caller
 * falls back to the socket backend. */
int med_xdp_open_or_log(med_xdp **out, const med_xdp_config *cfg);

/* Detaches everything (workers must be destroyed first). NULL is fine. */
void med_xdp_close(med_xdp *x);

/* "native" or "generic": how the XDP program is attached (same on all
 * interfaces, the weakest one wins). */
const char *med_xdp_attach_mode(const med_xdp *x);

/* RX queues usable by workers: the smallest queue count of the interfaces
 * (ethtool channels). Run at most this many workers. */
unsigned med_xdp_queues(const med_xdp *x);

/* With port_filter: lets packets to port through to AF_XDP (on) or back to
 * the kernel (off). Returns 0 or a negative errno. */
int med_xdp_port_set(med_xdp *x, uint16_t port, bool on);

/* Program counters summed over CPUs (enum med_xdp_stat). */
int med_xdp_prog_stats(med_xdp *x, uint64_t out[MED_XDP_STAT_MAX]);

/* --- workers --------------------------------------------------------------- */

/* One packet handed to the callback. Inputs first, then what the callback
 * sets when it returns MED_XDP_FORWARD. */
typedef struct med_xdp_pkt {
	sbc_addr src;         /* the far end: IP source, UDP source port */
	sbc_addr dst;         /* our media address and port it was sent to */
	int ifindex;          /* where it arrived */
	uint8_t tos;          /* IPv4 TOS / IPv6 traffic class, copied to output */
	uint8_t *payload;     /* UDP payload in the UMEM frame: may be changed in place */
	uint32_t len;         /* payload bytes */
	uint32_t cap;         /* bytes payload may grow to (len + tailroom); SRTP's
			       * trailer (up to 16 + 4 + MKI) always fits: a frame
			       * holds an Ethernet MTU plus 256 bytes of headroom */
	uint32_t headroom;    /* bytes of the frame before payload; the new headers
			       * (42 or 62 bytes) are written there */
	/* out */
	sbc_addr out_src;     /* our address and port to send from; AF_UNSPEC
			       * address family: the first media address of the
			       * egress interface with dst's family, port from
			       * out_src_port */
	uint16_t out_src_port;/* used when out_src is AF_UNSPEC */
	sbc_addr out_dst;     /* destination */
	uint32_t out_len;     /* payload bytes to send (<= cap) */
} med_xdp_pkt;

enum med_xdp_verdict {
	MED_XDP_DROP = 0,     /* the frame is recycled; count it yourself */
	MED_XDP_FORWARD = 1,
};

typedef int (*med_xdp_pkt_cb)(void *arg, med_xdp_pkt *p);

enum med_xdp_drop {
	MED_XDP_DROP_PARSE = 0, /* not Ethernet/IP/UDP as xdp_pkt.h accepts */
	MED_XDP_DROP_CB,        /* the callback said drop */
	MED_XDP_DROP_NEIGH,     /* next hop not resolved yet */
	MED_XDP_DROP_ROUTE,     /* egress interface has no socket of ours */
	MED_XDP_DROP_BUILD,     /* bad out_* from the callback (family, length) */
	MED_XDP_DROP_TXFULL,    /* TX ring full */
	MED_XDP_DROP_MAX_,
};

typedef struct med_xdp_worker_stats {
	uint64_t rx_packets, tx_packets, tx_bytes, tx_completed;
	uint64_t drops[MED_XDP_DROP_MAX_];
	uint64_t polls;        /* poll() sleeps */
	uint64_t tx_kicks;     /* sendto() on TX rings */
	uint64_t fill_wakeups; /* recvfrom() for a fill ring needing wake-up */
	uint64_t batches;      /* non-empty RX batches */
	uint64_t fill_empty;   /* times a fill ring could not be fed (no frames) */
	uint32_t tx_budget;    /* descriptors one TX kick sends in copy mode (0: kernel's 32) */
	/* The kernel's own counters (XDP_STATISTICS), summed over the sockets:
	 * packets the XDP program sent us that never reached the RX ring. */
	uint64_t k_rx_ring_full;  /* RX ring full: the worker fell behind */
	uint64_t k_fill_empty;    /* no frame in the fill ring */
	uint64_t k_rx_dropped;    /* other reasons (frame too small, ...) */
	uint64_t k_tx_invalid;    /* TX descriptors the kernel refused */
	bool zerocopy;         /* sockets bound in zero-copy mode */
	bool need_wakeup;      /* XDP_USE_NEED_WAKEUP in effect */
} med_xdp_worker_stats;

/* Step 2 (caveat 1). queue: the RX queue index on every interface. */
int med_xdp_worker_create(med_xdp *x, unsigned queue, med_xdp_worker **out,
			  char *why, size_t whylen);
void med_xdp_worker_destroy(med_xdp_worker *w);

/* Step 3 (caveat 4): one round. timeout_ms: how long to sleep when idle
 * (0: never sleep, -1: no limit). Returns the number of packets received. */
int med_xdp_worker_poll(med_xdp_worker *w, med_xdp_pkt_cb cb, void *arg, int timeout_ms);

/* The worker's AF_XDP socket fds (POLLIN when an RX ring has packets), for
 * a caller whose own loop sleeps (epoll with its ring doorbells and timers)
 * and calls med_xdp_worker_poll(w, cb, arg, 0) when any is readable or a
 * timer fires. Returns how many were written (at most max). */
int med_xdp_worker_fds(const med_xdp_worker *w, int *fds, unsigned max);

/* Resolves the next hop to dst now (blocking, up to timeout_ms). */
int med_xdp_worker_resolve(med_xdp_worker *w, const sbc_addr *dst, int timeout_ms);

void med_xdp_worker_stats_get(const med_xdp_worker *w, med_xdp_worker_stats *out);

/* The worker's counters as a JSON object for media.stats:
 * {"backend":"xdp","mode":"native-copy","rx":N,"tx":N,"tx_bytes":N,
 *  "tx_kicks":N,"sleeps":N,"fill_empty":N,"fill_wakeups":N,"batches":N,"tx_budget":N,
 *  "csum_offload":bool,
 *  "kernel":{"rx_ring_full":N,"fill_empty":N,"rx_dropped":N,"tx_invalid":N},
 *  "drops":{"parse":N,...}}.
 * Returns the length written (NUL-terminated) or SBC_E_LIMIT. */
int med_xdp_worker_stats_json(const med_xdp_worker *w, char *buf, size_t len);

/* "native-zerocopy", "native-copy" or "generic-copy": for media.stats. */
const char *med_xdp_worker_mode(const med_xdp_worker *w);

/* Name of an enum med_xdp_drop value, for counters. */
const char *med_xdp_drop_name(int why);

/* The embedded BPF object (xdp_blob.c). */
extern const unsigned char med_xdp_bpf_obj[];
extern const unsigned char med_xdp_bpf_obj_end[];

#endif
