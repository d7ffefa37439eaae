/* sbc-media — AF_XDP data path (see xdp_backend.h). */
#include "xdp_backend.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "xdp_neigh.h"
#include "xdp_pkt.h"

/* 4096 per ring: a worker kept off its core (other work on a shared
 * machine) for up to ~80 ms at 50k packets/s loses nothing; with 1024,
 * bench_xdp saw the fill ring run dry (XDP_STATISTICS "no fill frame") in
 * 2 runs of 4 on a busy 2-core machine, with 4096 in none of 5. The cost is
 * UMEM: 2 interfaces x 4096 x 3 frames of 2 KiB = 48 MiB per worker. */
#define DEFAULT_RING 4096
#define DEFAULT_FRAME 2048
#define IDLE_SPINS 8          /* empty rounds before sleeping in poll() */
#define MAINTAIN_EVERY_MS 100 /* neighbour housekeeping */
#define KICK_RETRIES 64       /* copy mode sends tx_budget (else 32) per sendto */
#define MED_XDP_GROW_ROOM 64  /* SRTP trailer (<= 20 + MKI) + IPv4->IPv6 (20) */
/* XDP_MAX_TX_SKB_BUDGET (uapi linux/if_xdp.h since 6.17; our headers are older). */
#define MED_XDP_MAX_TX_SKB_BUDGET 9
#ifndef XDP_PACKET_HEADROOM
#define XDP_PACKET_HEADROOM 256
#endif

/* AF_XDP TX metadata (uapi since Linux 6.8; our headers and libxdp 1.3 are
 * older, which is why the sockets and the UMEM are set up here and not
 * through libxdp): a UMEM registered with tx_metadata_len has that many
 * bytes before each TX packet for a struct xsk_tx_metadata, used when the
 * descriptor says XDP_TX_METADATA. With XDP_TXMD_FLAGS_CHECKSUM copy mode
 * makes the skb CHECKSUM_PARTIAL: the NIC (or the kernel, for a device
 * without checksum offload) finishes the UDP checksum, and a veth peer's
 * stack trusts it instead of verifying it in software (bench_xdp: 0.05-0.08
 * us per packet in the sink, plus our own sum). A kernel that does not know
 * XDP_UMEM_TX_METADATA_LEN (before 6.11) refuses the flag: the UMEM is then
 * registered without metadata and checksums are summed here as before. */
#define MED_XDP_TX_METADATA (1u << 1)      /* xdp_desc.options */
#define MED_XDP_UMEM_TX_METADATA_LEN (1u << 2) /* xdp_umem_reg.flags, Linux >= 6.11 */
#define MED_XDP_TXMD_CHECKSUM (1ull << 1)  /* xsk_tx_metadata.flags */
struct med_xdp_umem_reg {
	uint64_t addr, len;
	uint32_t chunk_size, headroom, flags, tx_metadata_len;
};
struct med_xsk_tx_metadata {
	uint64_t flags;
	union {
		struct {
			uint16_t csum_start, csum_offset;
			uint64_t launch_time;
		} request;
		struct {
			uint64_t tx_timestamp;
		} completion;
	};
};
#define MED_XDP_TXMD_LEN 24
_Static_assert(sizeof(struct med_xsk_tx_metadata) == MED_XDP_TXMD_LEN, "xsk_tx_metadata layout");

typedef struct xdp_ifc {
	char name[IF_NAMESIZE];
	int ifindex;
	uint8_t mac[6];
	sbc_addr addrs[MED_XDP_MAX_ADDRS * 2];
	unsigned naddrs;
	struct bpf_object *obj;
	int link_fd;
	int xsks_fd, ports_fd, stats_fd;
	unsigned queues; /* RX queues (ethtool channels), 1 when unknown */
	bool native;
} xdp_ifc;

struct med_xdp {
	med_xdp_config cfg;
	xdp_ifc ifs[MED_XDP_MAX_IFS];
	unsigned nifs;
	bool native; /* every interface in native mode */
};

typedef struct xdp_sock {
	bool open;
	int fd;
	void *map[4];      /* fill, completion, RX, TX rings */
	size_t map_len[4];
	xdp_ifc *ifc;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq;
	uint32_t tx_reserved;    /* reserved this round, not yet submitted */
	uint32_t tx_outstanding; /* submitted, not yet completed */
	uint32_t unkicked;       /* submitted since the last kick */
	uint32_t unkicked_rounds; /* rounds those have waited (tx_flush) */
	bool in_map;
} xdp_sock;

struct med_xdp_worker {
	med_xdp *x;
	unsigned queue;
	uint8_t *area;
	size_t area_len;
	bool txmd;         /* UMEM with TX metadata: UDP checksums left to the device */
	uint32_t frame_size, ring;
	uint64_t *free_frames; /* stack of frame base addresses */
	uint32_t nfree, nframes;
	xdp_sock socks[MED_XDP_MAX_IFS];
	unsigned nsocks;
	med_xdp_neigh *neigh;
	uint64_t next_maint_ms;
	unsigned idle_rounds;
	med_xdp_worker_stats st;
	struct pollfd pfd[MED_XDP_MAX_IFS];
};

/* UDP checksums left to the device: copy mode on a UMEM with TX metadata
 * (a zero-copy driver without checksum offload would send the partial sum
 * as it is). */
static bool csum_offload(const med_xdp_worker *w) { return w->txmd && !w->st.zerocopy; }

static void why_set(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* libbpf prints through this: quiet unless debugging. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level == LIBBPF_DEBUG && !sbc_log_enabled(SBC_LOG_DEBUG))
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = 0;
	if (sbc_log_enabled(SBC_LOG_DEBUG))
		SBC_DEBUG("libbpf: %s", line);
	return 0;
}

static int if_mac(const char *name, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = 0;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		ret = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return ret;
}

/* RX queues of an interface: combined + rx channels, 1 when ethtool has none. */
static unsigned if_queues(const char *name)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned n = 1;

	if (fd < 0)
		return 1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)&ch;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0 && ch.combined_count + ch.rx_count > 0)
		n = ch.combined_count + ch.rx_count;
	close(fd);
	return n;
}

static void ifc_close(xdp_ifc *f)
{
	if (f->link_fd >= 0)
		close(f->link_fd); /* the kernel detaches the program with the link */
	f->link_fd = -1;
	if (f->obj)
		bpf_object__close(f->obj);
	f->obj = NULL;
}

static int ifc_open(med_xdp *x, xdp_ifc *f, const med_xdp_if_config *ic, char *why,
		    size_t whylen)
{
	struct med_xdp_cfg pc;
	struct bpf_program *prog;
	struct bpf_map *m;
	int ret;

	memset(f, 0, sizeof(*f));
	f->link_fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", ic->name);
	f->ifindex = (int)if_nametoindex(ic->name);
	if (!f->ifindex) {
		why_set(why, whylen, "interface %s: %s", ic->name, strerror(errno));
		return -ENODEV;
	}
	f->queues = if_queues(f->name);
	ret = if_mac(f->name, f->mac);
	if (ret) {
		why_set(why, whylen, "interface %s: no MAC address (%s)", f->name, strerror(-ret));
		return ret;
	}

	memset(&pc, 0, sizeof(pc));
	pc.enabled = 1;
	pc.flags = x->cfg.port_filter ? MED_XDP_F_PORTMAP : 0;
	pc.port_min = x->cfg.port_min;
	pc.port_max = x->cfg.port_max;
	/* A frame must fit its UMEM chunk after the kernel's headroom, with
	 * room for the SRTP trailer and an IPv4 -> IPv6 header. */
	pc.max_len = (x->cfg.frame_size ? x->cfg.frame_size : DEFAULT_FRAME) - XDP_PACKET_HEADROOM -
		     MED_XDP_GROW_ROOM;
	for (unsigned i = 0; i < ic->naddrs && i < MED_XDP_MAX_ADDRS * 2; i++) {
		const sbc_addr *a = &ic->addrs[i];
		if (a->sa.sa_family == AF_INET && pc.n4 < MED_XDP_MAX_ADDRS)
			pc.addr4[pc.n4++] = a->in4.sin_addr.s_addr;
		else if (a->sa.sa_family == AF_INET6 && pc.n6 < MED_XDP_MAX_ADDRS)
			memcpy(pc.addr6[pc.n6++], &a->in6.sin6_addr, 16);
		else {
			why_set(why, whylen, "interface %s: too many media addresses", f->name);
			return SBC_E_LIMIT;
		}
		f->addrs[f->naddrs++] = *a;
	}

	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "med_xdp");
	f->obj = bpf_object__open_mem(med_xdp_bpf_obj,
				      (size_t)(med_xdp_bpf_obj_end - med_xdp_bpf_obj), &oo);
	if (!f->obj) {
		ret = -errno;
		why_set(why, whylen, "XDP program: cannot open the embedded object (%s)",
			strerror(errno));
		return ret;
	}
	ret = bpf_object__load(f->obj);
	if (ret) {
		why_set(why, whylen, "XDP program: the kernel refused to load it (%s)",
			strerror(-ret));
		goto Fail;
	}
	m = bpf_object__find_map_by_name(f->obj, "med_cfg");
	if (!m || bpf_map__value_size(m) != sizeof(pc)) {
		why_set(why, whylen, "XDP program: med_cfg map missing or of another layout");
		ret = SBC_E_STATE;
		goto Fail;
	}
	uint32_t zero = 0;
	ret = bpf_map_update_elem(bpf_map__fd(m), &zero, &pc, 0);
	if (ret) {
		ret = -errno;
		why_set(why, whylen, "XDP program: config map update: %s", strerror(errno));
		goto Fail;
	}
	f->xsks_fd = bpf_object__find_map_fd_by_name(f->obj, "med_xsks");
	f->ports_fd = bpf_object__find_map_fd_by_name(f->obj, "med_ports");
	f->stats_fd = bpf_object__find_map_fd_by_name(f->obj, "med_stats");
	prog = bpf_object__find_program_by_name(f->obj, "med_xdp_rx");
	if (f->xsks_fd < 0 || f->ports_fd < 0 || f->stats_fd < 0 || !prog) {
		why_set(why, whylen, "XDP program: maps or program missing from the object");
		ret = SBC_E_STATE;
		goto Fail;
	}

	/* Native first, generic as the last resort. bpf_link: detached by the
	 * kernel when the fd closes, whatever way the process ends. */
	int modes[2], nmodes = 0, err_native = 0;
	if (x->cfg.attach != MED_XDP_ATTACH_GENERIC)
		modes[nmodes++] = XDP_FLAGS_DRV_MODE;
	if (x->cfg.attach != MED_XDP_ATTACH_NATIVE)
		modes[nmodes++] = XDP_FLAGS_SKB_MODE;
	for (int i = 0; i < nmodes; i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = (uint32_t)modes[i]);
		f->link_fd = bpf_link_create(bpf_program__fd(prog), f->ifindex, BPF_XDP, &lo);
		if (f->link_fd >= 0) {
			f->native = modes[i] == XDP_FLAGS_DRV_MODE;
			break;
		}
		ret = -errno;
		if (modes[i] == XDP_FLAGS_DRV_MODE)
			err_native = ret;
	}
	if (f->link_fd < 0) {
		uint32_t other = 0;
		bpf_xdp_query_id(f->ifindex, 0, &other);
		if (other)
			why_set(why, whylen, "interface %s already has an XDP program (id %u)",
				f->name, other);
		else
			why_set(why, whylen, "interface %s: cannot attach XDP (%s%s%s)", f->name,
				strerror(-ret), err_native ? "; native: " : "",
				err_native ? strerror(-err_native) : "");
		goto Fail;
	}
	if (!f->native && err_native)
		SBC_NOTICE("xdp: %s: native mode refused (%s), generic (SKB) mode in use",
			   f->name, strerror(-err_native));
	return 0;
Fail:
	ifc_close(f);
	return ret < 0 ? ret : SBC_E_STATE;
}

int med_xdp_open(med_xdp **out, const med_xdp_config *cfg, char *why, size_t whylen)
{
	med_xdp *x;
	int ret;

	*out = NULL;
	if (!cfg->nifs || cfg->nifs > MED_XDP_MAX_IFS || cfg->port_min > cfg->port_max ||
	    !cfg->port_min) {
		why_set(why, whylen, "XDP configuration: %s",
			!cfg->nifs ? "no interface" : "bad port range or interface count");
		return SBC_E_CONFIG;
	}
	uint32_t fs = cfg->frame_size ? cfg->frame_size : DEFAULT_FRAME;
	if (fs < 2048 || (fs & (fs - 1)) || fs > 65536) {
		why_set(why, whylen, "XDP configuration: frame size %u is not a power of two >= 2048", fs);
		return SBC_E_CONFIG;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		why_set(why, whylen, "out of memory");
		return -ENOMEM;
	}
	x->cfg = *cfg;
	libbpf_set_print(libbpf_log);
	x->native = true;
	for (unsigned i = 0; i < cfg->nifs; i++) {
		ret = ifc_open(x, &x->ifs[i], &cfg->ifs[i], why, whylen);
		if (ret) {
			med_xdp_close(x);
			return ret;
		}
		x->nifs++;
		x->native = x->native && x->ifs[i].native;
	}
	*out = x;
	return 0;
}

int med_xdp_open_or_log(med_xdp **out, const med_xdp_config *cfg)
{
	char why[256] = "", names[MED_XDP_MAX_IFS * (IF_NAMESIZE + 1)] = "";
	int ret = med_xdp_open(out, cfg, why, sizeof(why));

	if (ret == 0) {
		SBC_NOTICE("media: AF_XDP backend attached (%s mode)", med_xdp_attach_mode(*out));
		return 0;
	}
	for (unsigned i = 0; i < cfg->nifs && i < MED_XDP_MAX_IFS; i++) {
		size_t at = strlen(names);
		snprintf(names + at, sizeof(names) - at, "%s%.*s", i ? "," : "", IF_NAMESIZE,
			 cfg->ifs[i].name);
	}
	SBC_WARN("media: AF_XDP backend not used on %s: %s; the socket backend carries the media",
		 names[0] ? names : "(no interface)", why);
	return ret;
}

void med_xdp_close(med_xdp *x)
{
	if (!x)
		return;
	for (unsigned i = 0; i < x->nifs; i++)
		ifc_close(&x->ifs[i]);
	free(x);
}

unsigned med_xdp_queues(const med_xdp *x)
{
	unsigned q = MED_XDP_MAX_QUEUES;

	for (unsigned i = 0; i < x->nifs; i++)
		if (x->ifs[i].queues < q)
			q = x->ifs[i].queues;
	return q;
}

const char *med_xdp_attach_mode(const med_xdp *x)
{
	return x->native ? "native" : "generic";
}

int med_xdp_port_set(med_xdp *x, uint16_t port, bool on)
{
	uint32_t word = port >> 5, bits;

	for (unsigned i = 0; i < x->nifs; i++) {
		int fd = x->ifs[i].ports_fd;
		/* One writer per port (the owning worker): read-modify-write is safe
		 * as long as two workers never share a 32-port word concurrently;
		 * callers serialise per word (sessions use 4 aligned ports each). */
		if (bpf_map_lookup_elem(fd, &word, &bits))
			return -errno;
		bits = on ? bits | (1u << (port & 31)) : bits & ~(1u << (port & 31));
		if (bpf_map_update_elem(fd, &word, &bits, 0))
			return -errno;
	}
	return 0;
}

int med_xdp_prog_stats(med_xdp *x, uint64_t out[MED_XDP_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();

	memset(out, 0, sizeof(uint64_t) * MED_XDP_STAT_MAX);
	if (ncpu <= 0)
		return ncpu;
	uint64_t *vals = calloc((size_t)ncpu, sizeof(uint64_t));
	if (!vals)
		return -ENOMEM;
	for (unsigned i = 0; i < x->nifs; i++)
		for (uint32_t k = 0; k < MED_XDP_STAT_MAX; k++) {
			if (bpf_map_lookup_elem(x->ifs[i].stats_fd, &k, vals))
				continue;
			for (int c = 0; c < ncpu; c++)
				out[k] += vals[c];
		}
	free(vals);
	return 0;
}

/* --- workers --------------------------------------------------------------- */

static const char *const drop_names[MED_XDP_DROP_MAX_] = {
	[MED_XDP_DROP_PARSE] = "parse",   [MED_XDP_DROP_CB] = "session",
	[MED_XDP_DROP_NEIGH] = "neighbour", [MED_XDP_DROP_ROUTE] = "route",
	[MED_XDP_DROP_BUILD] = "build",   [MED_XDP_DROP_TXFULL] = "tx_full",
};

const char *med_xdp_drop_name(int why)
{
	return why >= 0 && why < MED_XDP_DROP_MAX_ ? drop_names[why] : "unknown";
}

static void sock_close(xdp_sock *s)
{
	for (int i = 0; i < 4; i++)
		if (s->map[i])
			munmap(s->map[i], s->map_len[i]);
	if (s->open)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static void worker_teardown(med_xdp_worker *w)
{
	for (unsigned i = 0; i < MED_XDP_MAX_IFS; i++) {
		xdp_sock *s = &w->socks[i];
		if (s->in_map) {
			uint32_t q = w->queue;
			bpf_map_delete_elem(s->ifc->xsks_fd, &q);
		}
		sock_close(s);
	}
	w->nsocks = 0;
}

/* Maps one ring of n entries of esz bytes at pgoff (offsets from
 * XDP_MMAP_OFFSETS) and fills out, a struct xsk_ring_prod or _cons (one
 * layout, copied in whole rather than written through the other type): the
 * producer rings (fill, TX) start with the whole ring free. */
_Static_assert(sizeof(struct xsk_ring_prod) == sizeof(struct xsk_ring_cons), "xsk ring layout");
static int ring_map(xdp_sock *s, int i, uint64_t pgoff, const struct xdp_ring_offset *off,
		    uint32_t n, size_t esz, bool prod, void *out)
{
	struct xsk_ring_cons ring, *r = &ring;
	size_t len = off->desc + (size_t)n * esz;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd,
			  (off_t)pgoff);
	if (m == MAP_FAILED)
		return -errno;
	s->map[i] = m;
	s->map_len[i] = len;
	r->mask = n - 1;
	r->size = n;
	r->producer = (uint32_t *)(m + off->producer);
	r->consumer = (uint32_t *)(m + off->consumer);
	r->ring = m + off->desc;
	r->flags = (uint32_t *)(m + off->flags);
	r->cached_prod = *r->producer;
	r->cached_cons = *r->consumer + (prod ? n : 0);
	memcpy(out, &ring, sizeof(ring));
	return 0;
}

/* One AF_XDP socket on ifc, queue w->queue: the UMEM's owner (registers it)
 * when shared_fd < 0, else sharing shared_fd's UMEM with rings of its own. */
static int sock_open(med_xdp_worker *w, xdp_sock *s, xdp_ifc *ifc, int shared_fd, bool zc,
		     char *why, size_t whylen)
{
	struct xdp_mmap_offsets off;
	socklen_t ol = sizeof(off);
	uint32_t n = w->ring;
	const char *step = "socket";
	int ret;

	s->ifc = ifc;
	s->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto Err;
	s->open = true;
	if (shared_fd < 0) {
		struct med_xdp_umem_reg mr = {
			.addr = (uint64_t)(uintptr_t)w->area,
			.len = w->area_len,
			.chunk_size = w->frame_size,
			.flags = MED_XDP_UMEM_TX_METADATA_LEN,
			.tx_metadata_len = MED_XDP_TXMD_LEN,
		};
		step = "UMEM registration";
		w->txmd = setsockopt(s->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)) == 0;
		if (!w->txmd) {
			mr.flags = 0;
			mr.tx_metadata_len = 0;
			if (errno != EINVAL || setsockopt(s->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr)))
				goto Err;
		}
	}
	step = "ring set-up";
	if (setsockopt(s->fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) ||
	    setsockopt(s->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof(n)) ||
	    setsockopt(s->fd, SOL_XDP, XDP_RX_RING, &n, sizeof(n)) ||
	    setsockopt(s->fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n)) ||
	    getsockopt(s->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol))
		goto Err;
	if ((ret = ring_map(s, 0, XDP_UMEM_PGOFF_FILL_RING, &off.fr, n, sizeof(uint64_t), true,
			    &s->fq)) ||
	    (ret = ring_map(s, 1, XDP_UMEM_PGOFF_COMPLETION_RING, &off.cr, n, sizeof(uint64_t),
			    false, &s->cq)) ||
	    (ret = ring_map(s, 2, XDP_PGOFF_RX_RING, &off.rx, n, sizeof(struct xdp_desc), false,
			    &s->rx)) ||
	    (ret = ring_map(s, 3, XDP_PGOFF_TX_RING, &off.tx, n, sizeof(struct xdp_desc), true,
			    &s->tx))) {
		errno = -ret;
		goto Err;
	}
	struct sockaddr_xdp sa = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (uint32_t)ifc->ifindex,
		.sxdp_queue_id = w->queue,
	};
	if (shared_fd >= 0) {
		/* mode and need_wakeup come from the UMEM's owner */
		sa.sxdp_flags = XDP_SHARED_UMEM;
		sa.sxdp_shared_umem_fd = (uint32_t)shared_fd;
	} else {
		sa.sxdp_flags = (uint16_t)(XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY));
	}
	step = "socket bind";
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto Err;
	return 0;
Err:
	ret = -errno;
	why_set(why, whylen, "AF_XDP: %s queue %u: %s failed in %s mode (%s)", ifc->name, w->queue,
		step, zc ? "zero-copy" : "copy", strerror(errno));
	sock_close(s);
	return ret;
}

/* Registers the UMEM and opens one socket per interface; zc: zero-copy. */
static int worker_sockets(med_xdp_worker *w, bool zc, char *why, size_t whylen)
{
	med_xdp *x = w->x;
	int ret;

	for (unsigned i = 0; i < x->nifs; i++) {
		xdp_sock *s = &w->socks[i];
		ret = sock_open(w, s, &x->ifs[i], i ? w->socks[0].fd : -1, zc, why, whylen);
		if (ret)
			return ret;
		w->nsocks++;
		uint32_t q = w->queue;
		if (bpf_map_update_elem(s->ifc->xsks_fd, &q, &s->fd, BPF_ANY)) {
			ret = -errno;
			why_set(why, whylen, "AF_XDP: %s queue %u: XSKMAP update failed (%s)",
				s->ifc->name, w->queue, strerror(errno));
			return ret;
		}
		s->in_map = true;
		/* Copy mode sends at most 32 descriptors per sendto() by default;
		 * with the whole ring as the budget one kick per round sends all
		 * that round queued (Linux >= 6.17; older kernels say ENOPROTOOPT
		 * and we kick per 32 as before). */
		unsigned tx_budget = w->ring;
		if (!zc && setsockopt(s->fd, SOL_XDP, MED_XDP_MAX_TX_SKB_BUDGET, &tx_budget,
				      sizeof(tx_budget)) == 0)
			w->st.tx_budget = tx_budget;
		if (x->cfg.busy_poll_us) {
			int one = 1, us = (int)x->cfg.busy_poll_us, budget = MED_XDP_BATCH;
			if (setsockopt(s->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
			    setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof(us)) ||
			    setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)))
				SBC_WARN("xdp: %s: busy polling refused (%s), interrupts in use",
					 s->ifc->name, strerror(errno));
		}
	}
	return 0;
}

static inline void frame_free(med_xdp_worker *w, uint64_t addr)
{
	w->free_frames[w->nfree++] = addr & ~(uint64_t)(w->frame_size - 1);
}

static void refill(med_xdp_worker *w, xdp_sock *s)
{
	uint32_t idx, n = xsk_prod_nb_free(&s->fq, w->ring);

	if (n > w->nfree)
		n = w->nfree;
	if (!n) {
		if (!w->nfree)
			w->st.fill_empty++;
		return;
	}
	n = xsk_ring_prod__reserve(&s->fq, n, &idx);
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&s->fq, idx + i) = w->free_frames[--w->nfree];
	xsk_ring_prod__submit(&s->fq, n);
}

static void reap(med_xdp_worker *w, xdp_sock *s)
{
	uint32_t idx, n = xsk_ring_cons__peek(&s->cq, w->ring, &idx);

	for (uint32_t i = 0; i < n; i++)
		frame_free(w, *xsk_ring_cons__comp_addr(&s->cq, idx + i));
	if (n) {
		xsk_ring_cons__release(&s->cq, n);
		s->tx_outstanding -= n;
		w->st.tx_completed += n;
	}
}

int med_xdp_worker_create(med_xdp *x, unsigned queue, med_xdp_worker **out, char *why,
			  size_t whylen)
{
	med_xdp_worker *w;
	int ret;

	*out = NULL;
	if (queue >= MED_XDP_MAX_QUEUES) {
		why_set(why, whylen, "AF_XDP: queue %u beyond %u", queue, MED_XDP_MAX_QUEUES);
		return SBC_E_LIMIT;
	}
	for (unsigned i = 0; i < x->nifs; i++)
		if (queue >= x->ifs[i].queues) {
			why_set(why, whylen, "AF_XDP: %s has %u RX queue%s, a worker needs queue %u "
				"(one queue per worker on every interface: ethtool -L %s combined %u)",
				x->ifs[i].name, x->ifs[i].queues, x->ifs[i].queues == 1 ? "" : "s",
				queue, x->ifs[i].name, queue + 1);
			return SBC_E_LIMIT;
		}
	w = calloc(1, sizeof(*w));
	if (!w) {
		why_set(why, whylen, "out of memory");
		return -ENOMEM;
	}
	w->x = x;
	w->queue = queue;
	w->ring = x->cfg.ring_size ? x->cfg.ring_size : DEFAULT_RING;
	if (w->ring & (w->ring - 1) || w->ring < 64) {
		why_set(why, whylen, "AF_XDP: ring size %u is not a power of two >= 64", w->ring);
		free(w);
		return SBC_E_CONFIG;
	}
	w->frame_size = x->cfg.frame_size ? x->cfg.frame_size : DEFAULT_FRAME;
	/* Per socket: a full fill ring, a full RX ring and a full TX ring. */
	w->nframes = x->nifs * w->ring * 3;
	w->area_len = (size_t)w->nframes * w->frame_size;
	w->area = mmap(NULL, w->area_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w->area == MAP_FAILED) {
		w->area = NULL;
		ret = -errno;
		why_set(why, whylen, "AF_XDP: UMEM of %zu bytes: %s", w->area_len, strerror(errno));
		goto Fail;
	}
	w->free_frames = calloc(w->nframes, sizeof(uint64_t));
	if (!w->free_frames) {
		ret = -ENOMEM;
		why_set(why, whylen, "out of memory");
		goto Fail;
	}
	ret = med_xdp_neigh_create(&w->neigh, 1024, x->cfg.neigh_refresh_ms);
	if (ret) {
		why_set(why, whylen, "out of memory");
		goto Fail;
	}
	/* A queue stays taken for a moment after the socket that had it is
	 * closed: the kernel lets go of the buffer pool from a workqueue
	 * (xp_release_deferred), so binding the same queue right after (a
	 * worker re-created, a process restarted) can see EBUSY while that
	 * work waits for a CPU (seen in test_xdp_backend on a loaded machine).
	 * EBUSY in any mode starts over from zero-copy after 10 ms, for up to
	 * half a second; a queue really held by another socket fails then. */
	ret = SBC_E_STATE;
	for (int tries = 0;; tries++) {
		for (int zc = x->cfg.force_copy ? 0 : 1; zc >= 0; zc--) {
			ret = worker_sockets(w, zc, why, whylen);
			if (!ret) {
				w->st.zerocopy = zc;
				break;
			}
			worker_teardown(w);
			memset(w->socks, 0, sizeof(w->socks));
			if (ret == -EBUSY && tries < 50)
				break; /* the last round tries every mode (its reason) */
		}
		if (ret != -EBUSY || tries >= 50)
			break;
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (ret)
		goto Fail;
	w->st.need_wakeup = true;
	for (uint32_t i = 0; i < w->nframes; i++)
		w->free_frames[w->nfree++] = (uint64_t)i * w->frame_size;
	for (unsigned i = 0; i < w->nsocks; i++) {
		refill(w, &w->socks[i]);
		w->pfd[i].fd = w->socks[i].fd;
		w->pfd[i].events = POLLIN;
	}
	*out = w;
	return 0;
Fail:
	med_xdp_worker_destroy(w);
	return ret;
}

void med_xdp_worker_destroy(med_xdp_worker *w)
{
	if (!w)
		return;
	worker_teardown(w);
	if (w->area)
		munmap(w->area, w->area_len);
	free(w->free_frames);
	med_xdp_neigh_destroy(w->neigh);
	free(w);
}

const char *med_xdp_worker_mode(const med_xdp_worker *w)
{
	if (w->st.zerocopy)
		return "native-zerocopy";
	return w->x->native ? "native-copy" : "generic-copy";
}

void med_xdp_worker_stats_get(const med_xdp_worker *w, med_xdp_worker_stats *out)
{
	*out = w->st;
	/* The kernel counts what it dropped before our RX ring (ring full while
	 * the worker was not running, no fill frame): a getsockopt per socket,
	 * on the stats path only. */
	for (unsigned i = 0; i < w->nsocks; i++) {
		struct xdp_statistics ks;
		socklen_t len = sizeof(ks);
		if (getsockopt(w->socks[i].fd, SOL_XDP, XDP_STATISTICS, &ks, &len) != 0)
			continue;
		out->k_rx_ring_full += ks.rx_ring_full;
		out->k_fill_empty += ks.rx_fill_ring_empty_descs;
		out->k_rx_dropped += ks.rx_dropped;
		out->k_tx_invalid += ks.tx_invalid_descs;
	}
}

int med_xdp_worker_resolve(med_xdp_worker *w, const sbc_addr *dst, int timeout_ms)
{
	uint8_t mac[6];
	int ifindex;

	return med_xdp_neigh_resolve(w->neigh, dst, timeout_ms, &ifindex, mac);
}

int med_xdp_worker_stats_json(const med_xdp_worker *w, char *buf, size_t len)
{
	med_xdp_worker_stats all;
	const med_xdp_worker_stats *st = &all;
	med_xdp_worker_stats_get(w, &all);
	int n = snprintf(buf, len,
			 "{\"backend\":\"xdp\",\"mode\":\"%s\",\"rx\":%llu,\"tx\":%llu,"
			 "\"tx_bytes\":%llu,\"tx_kicks\":%llu,\"sleeps\":%llu,\"fill_empty\":%llu,"
			 "\"fill_wakeups\":%llu,\"batches\":%llu,"
			 "\"tx_budget\":%u,\"csum_offload\":%s,\"kernel\":{\"rx_ring_full\":%llu,\"fill_empty\":%llu,"
			 "\"rx_dropped\":%llu,\"tx_invalid\":%llu},\"drops\":{",
			 med_xdp_worker_mode(w), (unsigned long long)st->rx_packets,
			 (unsigned long long)st->tx_packets, (unsigned long long)st->tx_bytes,
			 (unsigned long long)st->tx_kicks, (unsigned long long)st->polls,
			 (unsigned long long)st->fill_empty, (unsigned long long)st->fill_wakeups,
			 (unsigned long long)st->batches, st->tx_budget,
			 csum_offload(w) ? "true" : "false",
			 (unsigned long long)st->k_rx_ring_full, (unsigned long long)st->k_fill_empty,
			 (unsigned long long)st->k_rx_dropped, (unsigned long long)st->k_tx_invalid);
	for (int i = 0; i < MED_XDP_DROP_MAX_ && n >= 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s\"%s\":%llu", i ? "," : "",
			      drop_names[i], (unsigned long long)st->drops[i]);
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "}}");
	if (n < 0 || (size_t)n >= len)
		return SBC_E_LIMIT;
	return n;
}

int med_xdp_worker_fds(const med_xdp_worker *w, int *fds, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->nsocks && n < max; i++)
		fds[n++] = w->socks[i].fd;
	return (int)n;
}

static xdp_sock *sock_for(med_xdp_worker *w, int ifindex)
{
	for (unsigned i = 0; i < w->nsocks; i++)
		if (w->socks[i].ifc->ifindex == ifindex)
			return &w->socks[i];
	return NULL;
}

static bool pick_src(const xdp_ifc *f, int family, uint16_t port, sbc_addr *out)
{
	for (unsigned i = 0; i < f->naddrs; i++)
		if (f->addrs[i].sa.sa_family == family) {
			*out = f->addrs[i];
			sbc_addr_set_port(out, port);
			return true;
		}
	return false;
}

/* One received frame: returns nothing; the frame goes to a TX ring or back
 * to the free stack. */
static void handle(med_xdp_worker *w, xdp_sock *in, const struct xdp_desc *d,
		   med_xdp_pkt_cb cb, void *arg)
{
	uint64_t base = d->addr & ~(uint64_t)(w->frame_size - 1);
	uint32_t off = (uint32_t)(d->addr - base);
	uint8_t *frame = w->area + base;
	uint8_t *pkt = frame + off;
	med_xdp_parsed pp;
	med_xdp_pkt p;
	int why;

	if (off + d->len > w->frame_size ||
	    med_xdp_parse(pkt, d->len, &pp) != MED_XDP_PKT_OK) {
		why = MED_XDP_DROP_PARSE;
		goto Drop;
	}
	p.src = pp.src;
	p.dst = pp.dst;
	p.ifindex = in->ifc->ifindex;
	p.tos = pp.tos;
	p.payload = pkt + pp.payload_off;
	p.len = pp.payload_len;
	p.cap = w->frame_size - off - pp.payload_off;
	p.headroom = off + pp.payload_off;
	p.out_src.sa.sa_family = AF_UNSPEC;
	p.out_src_port = 0;
	p.out_dst.sa.sa_family = AF_UNSPEC;
	p.out_len = p.len;
	if (cb(arg, &p) != MED_XDP_FORWARD) {
		why = MED_XDP_DROP_CB;
		goto Drop;
	}
	if (p.out_len > p.cap ||
	    (p.out_dst.sa.sa_family != AF_INET && p.out_dst.sa.sa_family != AF_INET6)) {
		why = MED_XDP_DROP_BUILD;
		goto Drop;
	}
	uint8_t mac[6];
	int ifindex;
	if (med_xdp_neigh_lookup(w->neigh, &p.out_dst, &ifindex, mac) != 0) {
		why = MED_XDP_DROP_NEIGH;
		goto Drop;
	}
	xdp_sock *out = sock_for(w, ifindex);
	if (!out) {
		why = MED_XDP_DROP_ROUTE;
		goto Drop;
	}
	if (p.out_src.sa.sa_family == AF_UNSPEC &&
	    !pick_src(out->ifc, p.out_dst.sa.sa_family, p.out_src_port, &p.out_src)) {
		why = MED_XDP_DROP_BUILD;
		goto Drop;
	}
	uint8_t *start;
	/* the metadata goes before the frame */
	bool partial = csum_offload(w);
	uint32_t hdr = p.out_dst.sa.sa_family == AF_INET ? MED_XDP_HDR4 : MED_XDP_HDR6;
	if (p.payload - frame < (ptrdiff_t)(hdr + MED_XDP_TXMD_LEN))
		partial = false;
	int n = med_xdp_build_ex(p.payload, p.out_len, (uint32_t)(p.payload - frame), out->ifc->mac,
				 mac, &p.out_src, &p.out_dst, p.tos, partial, &start);
	if (n < 0) {
		why = MED_XDP_DROP_BUILD;
		goto Drop;
	}
	uint32_t idx;
	if (xsk_ring_prod__reserve(&out->tx, 1, &idx) != 1) {
		why = MED_XDP_DROP_TXFULL;
		goto Drop;
	}
	struct xdp_desc *td = xsk_ring_prod__tx_desc(&out->tx, idx);
	td->addr = base + (uint64_t)(start - frame);
	td->len = (uint32_t)n;
	td->options = 0;
	if (partial) {
		struct med_xsk_tx_metadata md = { .flags = MED_XDP_TXMD_CHECKSUM };
		md.request.csum_start = (uint16_t)(hdr - 8); /* the UDP header */
		md.request.csum_offset = 6;
		memcpy(start - MED_XDP_TXMD_LEN, &md, sizeof(md));
		td->options = MED_XDP_TX_METADATA;
	}
	out->tx_reserved++;
	w->st.tx_packets++;
	w->st.tx_bytes += (uint64_t)n;
	return;
Drop:
	w->st.drops[why]++;
	frame_free(w, d->addr);
}

/* Publishes what this round queued and kicks the TX ring when it must:
 * when force (a round that received nothing: the burst is over, the worker
 * is about to sleep) or once MED_XDP_KICK_MIN descriptors wait. A burst
 * that trickles in over several rounds (the sender's packets arrive one
 * softirq at a time) then costs one kick, not one per round: at 50k
 * packets/s bench_xdp saw 68 kicks per 1000 packets at 15 packets a round.
 * A packet waits at most until the worker's RX rings are all found empty,
 * or MED_XDP_KICK_ROUNDS rounds: another interface of the worker that
 * stays busy must not hold this one's few packets back. */
#define MED_XDP_KICK_MIN 64
#define MED_XDP_KICK_ROUNDS 16
static void tx_flush(med_xdp_worker *w, xdp_sock *s, bool force)
{
	if (s->tx_reserved) {
		xsk_ring_prod__submit(&s->tx, s->tx_reserved);
		s->tx_outstanding += s->tx_reserved;
		s->unkicked += s->tx_reserved;
		s->tx_reserved = 0;
	} else if (!s->tx_outstanding) {
		return;
	}
	if (!force && s->unkicked < MED_XDP_KICK_MIN &&
	    (!s->unkicked || ++s->unkicked_rounds < MED_XDP_KICK_ROUNDS))
		return;
	s->unkicked = 0;
	s->unkicked_rounds = 0;
	if (!xsk_ring_prod__needs_wakeup(&s->tx))
		return;
	/* Anything the kernel has not consumed yet needs a kick; in copy mode
	 * one sendto() sends up to 32 and says EAGAIN when more are left. */
	for (int i = 0; i < KICK_RETRIES; i++) {
		uint32_t cons = __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE);
		if (cons == *s->tx.producer)
			break;
		w->st.tx_kicks++;
		if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			continue;
		if (errno != EAGAIN && errno != EBUSY)
			break; /* ENOBUFS, ENETDOWN: try again next round */
	}
}

static inline bool x_busy(const med_xdp_worker *w)
{
	return w->x->cfg.busy_poll_us != 0;
}

int med_xdp_worker_poll(med_xdp_worker *w, med_xdp_pkt_cb cb, void *arg, int timeout_ms)
{
	int total = 0;

	for (unsigned i = 0; i < w->nsocks; i++) {
		reap(w, &w->socks[i]);
		refill(w, &w->socks[i]);
	}
	for (unsigned i = 0; i < w->nsocks; i++) {
		xdp_sock *s = &w->socks[i];
		uint32_t idx, n = xsk_ring_cons__peek(&s->rx, MED_XDP_BATCH, &idx);

		if (!n && x_busy(w)) {
			/* Drive the device's NAPI from here, then look again. */
			recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			n = xsk_ring_cons__peek(&s->rx, MED_XDP_BATCH, &idx);
		}
		if (!n) {
			if (xsk_ring_prod__needs_wakeup(&s->fq)) {
				w->st.fill_wakeups++;
				recvfrom(s->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
			}
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			/* The kernel wrote the next frame from another CPU: ask
			 * for its headers now, so the miss overlaps this
			 * packet's SRTP instead of stalling the next parse. */
			if (k + 1 < n)
				__builtin_prefetch(w->area + xsk_ring_cons__rx_desc(&s->rx, idx + k + 1)->addr);
			handle(w, s, xsk_ring_cons__rx_desc(&s->rx, idx + k), cb, arg);
		}
		xsk_ring_cons__release(&s->rx, n);
		w->st.rx_packets += n;
		w->st.batches++;
		total += (int)n;
	}
	for (unsigned i = 0; i < w->nsocks; i++)
		tx_flush(w, &w->socks[i], total == 0);

	uint64_t now = 0;
	if (total == 0 || (w->st.batches & 255) == 0) {
		now = mono_ms();
		if (now >= w->next_maint_ms) {
			med_xdp_neigh_maintain(w->neigh, now);
			w->next_maint_ms = now + MAINTAIN_EVERY_MS;
		}
	}
	if (total) {
		w->idle_rounds = 0;
		return total;
	}
	if (timeout_ms == 0 || ++w->idle_rounds < IDLE_SPINS)
		return 0;
	/* Idle: sleep until a ring has something, waking for housekeeping. */
	bool tx_busy = false;
	for (unsigned i = 0; i < w->nsocks; i++)
		tx_busy = tx_busy || w->socks[i].tx_outstanding;
	int t = timeout_ms < 0 || timeout_ms > MAINTAIN_EVERY_MS ? MAINTAIN_EVERY_MS : timeout_ms;
	/* Completions are not signalled by poll(): come back soon while frames
	 * are out, but not forever (a link that is down completes nothing). */
	if (tx_busy && w->idle_rounds < IDLE_SPINS + 16)
		t = 1;
	w->st.polls++;
	poll(w->pfd, w->nsocks, t);
	return 0;
}
