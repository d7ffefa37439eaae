/* sbc-media — next-hop MAC table from rtnetlink (see xdp_neigh.h). */
#include "xdp_neigh.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sbc/err.h"

enum { NE_FREE = 0, NE_PENDING, NE_VALID };

typedef struct neigh_entry {
	uint8_t state;
	uint8_t family;
	uint8_t mac[6];
	int ifindex;
	uint8_t key[16];
	uint64_t checked_ms;  /* last kernel read (VALID) */
	uint64_t trigger_ms;  /* last resolution trigger (PENDING) */
} neigh_entry;

struct med_xdp_neigh {
	neigh_entry *tab;
	uint32_t mask;
	uint32_t used;
	uint32_t pending;
	unsigned refresh_ms;
	uint32_t cursor;  /* where the next maintain pass starts */
	int trig4, trig6; /* UDP sockets that make the kernel resolve */
	med_xdp_neigh_stats st;
};

#define TRIGGER_EVERY_MS 200
#define MAINTAIN_BUDGET 32 /* kernel rounds per maintain call */
#define STALE_POKE 6       /* re-verify a STALE entry every 6 refreshes */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int med_xdp_neigh_create(med_xdp_neigh **out, unsigned capacity, unsigned refresh_ms)
{
	med_xdp_neigh *n = calloc(1, sizeof(*n));
	uint32_t cap = 16;

	if (!n)
		return -ENOMEM;
	while (cap < capacity * 2 && cap < (1u << 24))
		cap <<= 1;
	n->tab = calloc(cap, sizeof(*n->tab));
	if (!n->tab) {
		free(n);
		return -ENOMEM;
	}
	n->mask = cap - 1;
	n->refresh_ms = refresh_ms ? refresh_ms : 5000;
	n->trig4 = n->trig6 = -1;
	*out = n;
	return 0;
}

void med_xdp_neigh_destroy(med_xdp_neigh *n)
{
	if (!n)
		return;
	if (n->trig4 >= 0)
		close(n->trig4);
	if (n->trig6 >= 0)
		close(n->trig6);
	free(n->tab);
	free(n);
}

static int addr_key(const sbc_addr *a, uint8_t key[16])
{
	memset(key, 0, 16);
	if (a->sa.sa_family == AF_INET) {
		memcpy(key, &a->in4.sin_addr, 4);
		return AF_INET;
	}
	if (a->sa.sa_family == AF_INET6) {
		memcpy(key, &a->in6.sin6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

static uint32_t key_hash(int fam, const uint8_t key[16])
{
	uint64_t a, b;
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ (uint64_t)fam) * 0xff51afd7ed558ccdull;
	return (uint32_t)(h >> 32);
}

/* Finds the entry for key, or the free slot where it would go (NULL: full). */
static neigh_entry *probe(med_xdp_neigh *n, int fam, const uint8_t key[16])
{
	uint32_t i = key_hash(fam, key) & n->mask;

	for (uint32_t k = 0; k <= n->mask; k++, i = (i + 1) & n->mask) {
		neigh_entry *e = &n->tab[i];
		if (e->state == NE_FREE)
			return e;
		if (e->family == fam && memcmp(e->key, key, 16) == 0)
			return e;
	}
	return NULL;
}

int med_xdp_neigh_lookup(med_xdp_neigh *n, const sbc_addr *dst, int *ifindex,
			 uint8_t mac[6])
{
	uint8_t key[16];
	int fam = addr_key(dst, key);

	if (fam < 0)
		return SBC_E_INVAL;
	neigh_entry *e = probe(n, fam, key);
	if (e && e->state == NE_VALID) {
		*ifindex = e->ifindex;
		memcpy(mac, e->mac, 6);
		return 0;
	}
	n->st.misses++;
	if (!e)
		return SBC_E_LIMIT;
	if (e->state == NE_FREE) {
		/* Keep a quarter free so probes stay short. */
		if (n->used >= (n->mask + 1) / 4 * 3)
			return SBC_E_LIMIT;
		e->state = NE_PENDING;
		e->family = (uint8_t)fam;
		memcpy(e->key, key, 16);
		e->trigger_ms = 0;
		n->used++;
		n->pending++;
	}
	return SBC_E_NOT_FOUND;
}

/* --- rtnetlink ------------------------------------------------------------- */

typedef struct nl_req {
	struct nlmsghdr nh;
	union {
		struct rtmsg rt;
		struct ndmsg nd;
	};
	uint8_t attrs[64];
} nl_req;

static void nl_attr(nl_req *r, uint16_t type, const void *data, uint16_t len)
{
	struct rtattr *a = (struct rtattr *)((uint8_t *)r + NLMSG_ALIGN(r->nh.nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Sends req and reads the one reply into buf; returns its length, or a
 * negative errno (the kernel's NLMSG_ERROR included). */
static int nl_talk(nl_req *req, uint8_t *buf, size_t cap)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int ret;

	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	req->nh.nlmsg_seq = 1;
	if (sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto Exit;
	}
	for (;;) {
		ssize_t got = recv(fd, buf, cap, 0);
		if (got < 0) {
			ret = errno == EAGAIN ? SBC_E_TIMEOUT : -errno;
			goto Exit;
		}
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;
		if (!NLMSG_OK(nh, (size_t)got)) {
			ret = SBC_E_PARSE;
			goto Exit;
		}
		if (nh->nlmsg_seq != 1)
			continue;
		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
				ret = SBC_E_PARSE;
				goto Exit;
			}
			ret = e->error; /* 0: an acknowledgement */
			goto Exit;
		}
		ret = (int)got;
		goto Exit;
	}
Exit:
	close(fd);
	return ret;
}

int med_xdp_route_get(const sbc_addr *dst, int *ifindex, sbc_addr *nexthop)
{
	uint8_t key[16], buf[4096];
	int fam = addr_key(dst, key);
	nl_req r;

	if (fam < 0)
		return SBC_E_INVAL;
	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	r.nh.nlmsg_type = RTM_GETROUTE;
	r.nh.nlmsg_flags = NLM_F_REQUEST;
	r.rt.rtm_family = (unsigned char)fam;
	r.rt.rtm_dst_len = fam == AF_INET ? 32 : 128;
	nl_attr(&r, RTA_DST, key, fam == AF_INET ? 4 : 16);
	int got = nl_talk(&r, buf, sizeof(buf));
	if (got < 0)
		return got;
	if (got == 0)
		return SBC_E_NOT_FOUND;
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
		return SBC_E_PARSE;
	struct rtmsg *rt = NLMSG_DATA(nh);
	int len = (int)RTM_PAYLOAD(nh), oif = 0;
	*nexthop = *dst;
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t alen = RTA_PAYLOAD(a);
		if (a->rta_type == RTA_OIF && alen >= sizeof(int))
			memcpy(&oif, RTA_DATA(a), sizeof(int));
		else if (a->rta_type == RTA_GATEWAY && fam == AF_INET && alen == 4)
			memcpy(&nexthop->in4.sin_addr, RTA_DATA(a), 4);
		else if (a->rta_type == RTA_GATEWAY && fam == AF_INET6 && alen == 16)
			memcpy(&nexthop->in6.sin6_addr, RTA_DATA(a), 16);
	}
	if (rt->rtm_type != RTN_UNICAST || oif <= 0)
		return SBC_E_NOT_FOUND;
	*ifindex = oif;
	return 0;
}

/* The kernel's entry for nexthop on ifindex: MAC and NUD state. */
static int neigh_query(int ifindex, const sbc_addr *nexthop, uint8_t mac[6], uint16_t *state)
{
	uint8_t key[16], buf[4096];
	int fam = addr_key(nexthop, key);
	nl_req r;

	if (fam < 0)
		return SBC_E_INVAL;
	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	r.nh.nlmsg_type = RTM_GETNEIGH;
	r.nh.nlmsg_flags = NLM_F_REQUEST;
	r.nd.ndm_family = (uint8_t)fam;
	r.nd.ndm_ifindex = ifindex;
	nl_attr(&r, NDA_DST, key, fam == AF_INET ? 4 : 16);
	int got = nl_talk(&r, buf, sizeof(buf));
	if (got == -ENOENT || got == 0)
		return SBC_E_NOT_FOUND;
	if (got < 0)
		return got;
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	if (nh->nlmsg_type != RTM_NEWNEIGH || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg)))
		return SBC_E_PARSE;
	struct ndmsg *nd = NLMSG_DATA(nh);
	*state = nd->ndm_state;
	if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE |
			       NUD_PERMANENT | NUD_NOARP)))
		return SBC_E_NOT_FOUND;
	int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
	for (struct rtattr *a = (struct rtattr *)((uint8_t *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
			memcpy(mac, RTA_DATA(a), 6);
			return 0;
		}
	}
	return SBC_E_NOT_FOUND;
}

int med_xdp_neigh_get(int ifindex, const sbc_addr *nexthop, uint8_t mac[6])
{
	uint16_t state;

	return neigh_query(ifindex, nexthop, mac, &state);
}

/* "Use" the kernel's entry for nexthop (RTM_NEWNEIGH with NTF_USE, created
 * when missing): the kernel resolves a new one and re-verifies a STALE one
 * (DELAY, then a unicast probe), as if it had sent a packet there itself.
 * Needs CAP_NET_ADMIN, which XDP needs anyway. */
static int neigh_use(int ifindex, const sbc_addr *nexthop)
{
	uint8_t key[16], buf[1024];
	int fam = addr_key(nexthop, key);
	nl_req r;

	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	r.nh.nlmsg_type = RTM_NEWNEIGH;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
	r.nd.ndm_family = (uint8_t)fam;
	r.nd.ndm_ifindex = ifindex;
	r.nd.ndm_flags = NTF_USE;
	r.nd.ndm_state = NUD_NONE;
	nl_attr(&r, NDA_DST, key, fam == AF_INET ? 4 : 16);
	return nl_talk(&r, buf, sizeof(buf));
}

/* Makes the kernel resolve nexthop: NTF_USE, else (no CAP_NET_ADMIN) an
 * empty datagram to its discard port through an ordinary socket. */
static void trigger(med_xdp_neigh *n, int ifindex, const sbc_addr *nexthop)
{
	n->st.triggers++;
	if (neigh_use(ifindex, nexthop) == 0)
		return;
	int *fd = nexthop->sa.sa_family == AF_INET ? &n->trig4 : &n->trig6;
	sbc_addr to = *nexthop;

	if (*fd < 0)
		*fd = socket(nexthop->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (*fd < 0)
		return;
	sbc_addr_set_port(&to, 9);
	(void)sendto(*fd, "", 0, MSG_DONTWAIT, &to.sa, sbc_addr_len(&to));
}

static void entry_addr(const neigh_entry *e, sbc_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->sa.sa_family = e->family;
	if (e->family == AF_INET)
		memcpy(&a->in4.sin_addr, e->key, 4);
	else
		memcpy(&a->in6.sin6_addr, e->key, 16);
}

/* One kernel round for e. */
static void refresh(med_xdp_neigh *n, neigh_entry *e, uint64_t now)
{
	sbc_addr dst, hop;
	uint8_t mac[6];
	uint16_t nud = 0;
	int ifindex;

	entry_addr(e, &dst);
	n->st.queries++;
	if (med_xdp_route_get(&dst, &ifindex, &hop) != 0)
		goto Unresolved;
	if (neigh_query(ifindex, &hop, mac, &nud) != 0) {
		if (e->state == NE_PENDING && now - e->trigger_ms >= TRIGGER_EVERY_MS) {
			trigger(n, ifindex, &hop);
			e->trigger_ms = now;
		}
		goto Unresolved;
	}
	/* Our packets bypass the kernel, so nothing confirms the entry: once it
	 * is STALE, have the kernel re-verify it now and then (a silent MAC
	 * change then ends in FAILED, and the next round resolves anew). */
	if ((nud & NUD_STALE) && now - e->trigger_ms >= (uint64_t)n->refresh_ms * STALE_POKE) {
		trigger(n, ifindex, &hop);
		e->trigger_ms = now;
	}
	if (e->state == NE_PENDING)
		n->pending--;
	e->state = NE_VALID;
	e->ifindex = ifindex;
	memcpy(e->mac, mac, 6);
	e->checked_ms = now;
	return;
Unresolved:
	if (e->state == NE_VALID) {
		/* Gone from the kernel: stop sending there until resolved again. */
		e->state = NE_PENDING;
		e->trigger_ms = 0;
		n->pending++;
	}
}

int med_xdp_neigh_maintain(med_xdp_neigh *n, uint64_t now_ms)
{
	/* Bounded work per call: a worker must not stall on a table refresh. */
	unsigned budget = MAINTAIN_BUDGET;

	for (uint32_t k = 0; k <= n->mask && budget; k++) {
		neigh_entry *e = &n->tab[n->cursor];
		n->cursor = (n->cursor + 1) & n->mask;
		if (e->state == NE_PENDING ||
		    (e->state == NE_VALID && now_ms - e->checked_ms >= n->refresh_ms)) {
			refresh(n, e, now_ms);
			budget--;
		}
	}
	n->st.entries = n->used;
	return (int)n->pending;
}

int med_xdp_neigh_resolve(med_xdp_neigh *n, const sbc_addr *dst, int timeout_ms,
			  int *ifindex, uint8_t mac[6])
{
	uint64_t end = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		int ret = med_xdp_neigh_lookup(n, dst, ifindex, mac);
		if (ret != SBC_E_NOT_FOUND)
			return ret;
		uint64_t now = mono_ms();
		if (now >= end)
			return SBC_E_TIMEOUT;
		uint8_t key[16];
		int fam = addr_key(dst, key);
		neigh_entry *e = probe(n, fam, key);
		if (e)
			refresh(n, e, now);
		if (e && e->state == NE_VALID)
			continue;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

void med_xdp_neigh_stats_get(const med_xdp_neigh *n, med_xdp_neigh_stats *out)
{
	*out = n->st;
	out->entries = n->used;
}
