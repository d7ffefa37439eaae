/* sbc-media — XDP program for the AF_XDP media path.
 *
 * UDP packets (IPv4 or IPv6, unfragmented, no IPv6 extension headers, no
 * IPv4 options) addressed to one of the configured media addresses and to a
 * port in [port_min, port_max] are redirected to the AF_XDP socket of the RX
 * queue they arrived on (xsks, keyed by queue index). Everything else, and
 * anything this program cannot parse with certainty, is XDP_PASS untouched.
 *
 * The loader (xdp_backend.c) fills med_cfg (key 0). With MED_XDP_F_PORTMAP set,
 * a port must also have its bit set in med_ports (one bit per port, 32 per
 * u32 word) so that ports without a live session still reach the kernel.
 * Counters are per-CPU (med_stats, index enum med_xdp_stat in xdp_prog.h).
 *
 * The layout of struct med_xdp_cfg is shared with userspace: xdp_prog.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "../src/xdp_prog.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MED_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} med_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct med_xdp_cfg);
} med_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536 / 32);
	__type(key, __u32);
	__type(value, __u32);
} med_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MED_XDP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} med_stats SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *v = bpf_map_lookup_elem(&med_stats, &what);

	if (v)
		*v += 1;
}

static __always_inline int v6_equal(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* 1 when the destination address is one of ours. */
static __always_inline int mine4(const struct med_xdp_cfg *c, __u32 daddr)
{
	__u32 n = c->n4;

#pragma unroll
	for (int i = 0; i < MED_XDP_MAX_ADDRS; i++)
		if (i < n && c->addr4[i] == daddr)
			return 1;
	return 0;
}

static __always_inline int mine6(const struct med_xdp_cfg *c, const __u32 *daddr)
{
	__u32 n = c->n6;

#pragma unroll
	for (int i = 0; i < MED_XDP_MAX_ADDRS; i++)
		if (i < n && v6_equal(c->addr6[i], daddr))
			return 1;
	return 0;
}

SEC("xdp")
int med_xdp_rx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	struct med_xdp_cfg *c;
	__u32 zero = 0;
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&med_cfg, &zero);
	if (!c || !c->enabled)
		return XDP_PASS;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		/* Options, fragments (MF or offset) and anything not UDP: kernel. */
		if (ip->ihl != 5 || ip->version != 4 || ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
		if (ip->frag_off & bpf_htons(0x3fff))
			return XDP_PASS;
		if (!mine4(c, ip->daddr))
			return XDP_PASS;
		udp = (void *)(ip + 1);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		/* Extension headers (fragments included) go to the kernel. */
		if (ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		if (!mine6(c, ip6->daddr.in6_u.u6_addr32))
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if ((void *)(udp + 1) > end)
		return XDP_PASS;
	__u16 port = bpf_ntohs(udp->dest);

	if (port < c->port_min || port > c->port_max)
		return XDP_PASS;
	if (c->flags & MED_XDP_F_PORTMAP) {
		__u32 word = port >> 5;
		__u32 *bits = bpf_map_lookup_elem(&med_ports, &word);

		if (!bits || !(*bits & (1u << (port & 31)))) {
			count(MED_XDP_STAT_PORT_IDLE);
			return XDP_PASS;
		}
	}
	if (c->max_len && (__u64)(end - data) > c->max_len) {
		count(MED_XDP_STAT_TOO_LONG);
		return XDP_PASS;
	}
	count(MED_XDP_STAT_MATCHED);
	/* No socket on this queue: the kernel gets it (flags = fallback action). */
	return bpf_redirect_map(&med_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
