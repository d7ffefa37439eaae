/* sbc-signal — RFC 3263 resolution with c-ares (see sig_dns.h). */
#include "sig_dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sig_transport.h"

#define MAX_SRV 16
#define MAX_ADDR_PER_SRV 8
#define MAX_SOCKS 16

typedef struct dsock {
	uv_poll_t poll;
	ares_socket_t fd;
	struct sig_dns *d;
	int used;
} dsock;

struct sig_dns {
	uv_loop_t *loop;
	ares_channel ch;
	uv_timer_t timer;
	dsock *socks[MAX_SOCKS];
	unsigned pending;
	unsigned seed;
};

typedef struct srv_ent {
	char target[256];
	uint16_t port, prio, weight;
	uint8_t tp;
	uint16_t rank; /* NAPTR order (or fallback rank) */
	uint32_t pick; /* ordering key after the weighted draw */
	sbc_addr addr[MAX_ADDR_PER_SRV];
	unsigned n_addr;
} srv_ent;

typedef struct dreq {
	sig_dns *d;
	char host[256];
	uint16_t port;
	int tp, secure;
	sig_dns_cb cb;
	void *arg;
	int outstanding;
	int stage;
	srv_ent srv[MAX_SRV];
	unsigned n_srv;
	int cancelled;
} dreq;

enum { ST_NAPTR, ST_SRV, ST_ADDR };

static int g_ares_init;

static uint16_t default_port(int tp) { return tp == SIG_TP_TLS ? 5061 : 5060; }

/* --- libuv glue --- */

static void dsock_close_cb(uv_handle_t *h) { free(h->data); }

static void poll_cb(uv_poll_t *h, int status, int events)
{
	dsock *s = h->data;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
	if (status < 0 || (events & UV_READABLE))
		rfd = s->fd;
	if (status < 0 || (events & UV_WRITABLE))
		wfd = s->fd;
	ares_process_fd(s->d->ch, rfd, wfd);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	sig_dns *d = data;
	int free_i = -1;
	for (int i = 0; i < MAX_SOCKS; i++) {
		dsock *s = d->socks[i];
		if (!s) {
			if (free_i < 0)
				free_i = i;
			continue;
		}
		if (s->fd != fd)
			continue;
		if (!readable && !writable) {
			uv_close((uv_handle_t *)&s->poll, dsock_close_cb);
			d->socks[i] = NULL;
		} else {
			uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
				      poll_cb);
		}
		return;
	}
	if ((!readable && !writable) || free_i < 0)
		return;
	dsock *s = calloc(1, sizeof(*s));
	if (!s)
		return;
	s->fd = fd;
	s->d = d;
	if (uv_poll_init_socket(d->loop, &s->poll, fd) < 0) {
		free(s);
		return;
	}
	s->poll.data = s;
	d->socks[free_i] = s;
	uv_poll_start(&s->poll, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), poll_cb);
}

static void timer_cb(uv_timer_t *t)
{
	sig_dns *d = t->data;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (!d->pending)
		uv_timer_stop(&d->timer);
}

int sig_dns_create(uv_loop_t *loop, const char *servers, sig_dns **out)
{
	if (!g_ares_init) {
		if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
			return SBC_E_INVAL;
		g_ares_init = 1;
	}
	sig_dns *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->seed = (unsigned)(uintptr_t)d ^ (unsigned)uv_hrtime();
	struct ares_options o;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	o.timeout = 500;
	o.tries = 3;
	o.lookups = (char *)"b";
	o.flags = ARES_FLAG_NOSEARCH;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
		   ARES_OPT_FLAGS;
	if (ares_init_options(&d->ch, &o, mask) != ARES_SUCCESS) {
		free(d);
		return SBC_E_INVAL;
	}
	if (servers && ares_set_servers_ports_csv(d->ch, servers) != ARES_SUCCESS) {
		ares_destroy(d->ch);
		free(d);
		return SBC_E_CONFIG;
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	*out = d;
	return 0;
}

static void timer_close_cb(uv_handle_t *h) { free(h->data); }

void sig_dns_destroy(sig_dns *d)
{
	if (!d)
		return;
	ares_destroy(d->ch); /* pending callbacks run with ARES_EDESTRUCTION */
	for (int i = 0; i < MAX_SOCKS; i++)
		if (d->socks[i])
			uv_close((uv_handle_t *)&d->socks[i]->poll, dsock_close_cb);
	uv_close((uv_handle_t *)&d->timer, timer_close_cb);
}

/* --- resolution --- */

static void req_started(dreq *q)
{
	q->outstanding++;
	if (q->d->pending++ == 0)
		uv_timer_start(&q->d->timer, timer_cb, 100, 100);
}

static int req_finished(dreq *q) /* returns 1 when the stage is complete */
{
	q->outstanding--;
	q->d->pending--;
	return q->outstanding == 0;
}

static int cmp_srv(const void *a, const void *b)
{
	const srv_ent *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	return x->pick < y->pick ? -1 : x->pick > y->pick;
}

/* RFC 2782 weighted ordering within each (rank, priority) group. */
static void order_srv(dreq *q)
{
	qsort(q->srv, q->n_srv, sizeof(srv_ent), cmp_srv); /* groups together, pick = 0 */
	unsigned i = 0;
	while (i < q->n_srv) {
		unsigned j = i;
		while (j < q->n_srv && q->srv[j].rank == q->srv[i].rank && q->srv[j].prio == q->srv[i].prio)
			j++;
		unsigned left = j - i;
		uint32_t order = 0;
		int done[MAX_SRV] = {0};
		while (left) {
			uint32_t sum = 0;
			for (unsigned k = i; k < j; k++)
				if (!done[k - i])
					sum += q->srv[k].weight;
			uint32_t r = sum ? (uint32_t)rand_r(&q->d->seed) % (sum + 1) : 0, run = 0;
			for (unsigned k = i; k < j; k++) {
				if (done[k - i])
					continue;
				run += q->srv[k].weight;
				if (run >= r) {
					done[k - i] = 1;
					q->srv[k].pick = ++order;
					left--;
					break;
				}
			}
		}
		i = j;
	}
	qsort(q->srv, q->n_srv, sizeof(srv_ent), cmp_srv);
}

static void finish(dreq *q, int status)
{
	sig_target t[SIG_DNS_MAX_TARGETS];
	unsigned n = 0;
	for (unsigned i = 0; i < q->n_srv; i++)
		for (unsigned k = 0; k < q->srv[i].n_addr && n < SIG_DNS_MAX_TARGETS; k++) {
			t[n].tp = q->srv[i].tp;
			t[n].addr = q->srv[i].addr[k];
			t[n].priority = q->srv[i].prio;
			t[n].weight = q->srv[i].weight;
			n++;
		}
	if (status == 0 && n == 0)
		status = SBC_E_NOT_FOUND;
	q->cb(q->arg, status, t, status == 0 ? n : 0);
	free(q);
}

static void addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res);

typedef struct addr_ctx {
	dreq *q;
	unsigned idx;
} addr_ctx;

static void start_addr_stage(dreq *q)
{
	q->stage = ST_ADDR;
	if (q->n_srv == 0) {
		finish(q, SBC_E_NOT_FOUND);
		return;
	}
	unsigned n = q->n_srv;
	q->outstanding++; /* guard: a callback may run inside ares_getaddrinfo */
	for (unsigned i = 0; i < n; i++) {
		addr_ctx *c = malloc(sizeof(*c));
		if (!c)
			continue;
		c->q = q;
		c->idx = i;
		struct ares_addrinfo_hints h;
		memset(&h, 0, sizeof(h));
		h.ai_family = AF_UNSPEC;
		h.ai_socktype = SOCK_STREAM;
		req_started(q);
		ares_getaddrinfo(q->d->ch, q->srv[i].target, NULL, &h, addr_cb, c);
	}
	if (--q->outstanding == 0)
		finish(q, q->cancelled ? SBC_E_CLOSED : 0);
}

static void addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	addr_ctx *c = arg;
	dreq *q = c->q;
	srv_ent *e = &q->srv[c->idx];
	(void)timeouts;
	free(c);
	if (status == ARES_EDESTRUCTION)
		q->cancelled = 1;
	if (status == ARES_SUCCESS && res) {
		for (struct ares_addrinfo_node *n = res->nodes; n && e->n_addr < MAX_ADDR_PER_SRV;
		     n = n->ai_next) {
			sbc_addr a;
			memset(&a, 0, sizeof(a));
			if (n->ai_family == AF_INET)
				memcpy(&a.in4, n->ai_addr, sizeof(a.in4));
			else if (n->ai_family == AF_INET6)
				memcpy(&a.in6, n->ai_addr, sizeof(a.in6));
			else
				continue;
			sbc_addr_set_port(&a, e->port);
			int dup = 0;
			for (unsigned k = 0; k < e->n_addr; k++)
				dup |= sbc_addr_equal(&a, &e->addr[k]);
			if (!dup)
				e->addr[e->n_addr++] = a;
		}
	}
	if (res)
		ares_freeaddrinfo(res);
	if (req_finished(q))
		finish(q, q->cancelled ? SBC_E_CLOSED : 0);
}

static void add_host_only(dreq *q)
{
	srv_ent *e = &q->srv[q->n_srv++];
	memset(e, 0, sizeof(*e));
	snprintf(e->target, sizeof(e->target), "%s", q->host);
	e->tp = (uint8_t)(q->tp >= 0 ? q->tp : q->secure ? SIG_TP_TLS : SIG_TP_UDP);
	e->port = q->port ? q->port : default_port(e->tp);
}

static void srv_stage_done(dreq *q);

typedef struct srv_ctx {
	dreq *q;
	uint8_t tp;
	uint16_t rank;
} srv_ctx;

static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	srv_ctx *c = arg;
	dreq *q = c->q;
	struct ares_srv_reply *srv = NULL;
	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		q->cancelled = 1;
	if (status == ARES_SUCCESS && ares_parse_srv_reply(abuf, alen, &srv) == ARES_SUCCESS) {
		for (struct ares_srv_reply *r = srv; r && q->n_srv < MAX_SRV; r = r->next) {
			if (strcmp(r->host, ".") == 0 || r->host[0] == 0)
				continue; /* "service not available here" */
			srv_ent *e = &q->srv[q->n_srv++];
			memset(e, 0, sizeof(*e));
			snprintf(e->target, sizeof(e->target), "%s", r->host);
			e->port = r->port;
			e->prio = r->priority;
			e->weight = r->weight;
			e->tp = c->tp;
			e->rank = c->rank;
		}
		ares_free_data(srv);
	}
	free(c);
	if (req_finished(q))
		srv_stage_done(q);
}

static void srv_stage_done(dreq *q)
{
	if (q->cancelled) {
		finish(q, SBC_E_CLOSED);
		return;
	}
	if (q->n_srv == 0)
		add_host_only(q);
	else
		order_srv(q);
	start_addr_stage(q);
}

static void query_srv(dreq *q, const char *name, uint8_t tp, uint16_t rank)
{
	srv_ctx *c = malloc(sizeof(*c));
	if (!c)
		return;
	c->q = q;
	c->tp = tp;
	c->rank = rank;
	req_started(q);
	ares_query(q->d->ch, name, ns_c_in, ns_t_srv, srv_cb, c);
}

static void start_srv_fallback(dreq *q)
{
	static const struct {
		const char *prefix;
		uint8_t tp;
	} k[] = {{"_sips._tcp.", SIG_TP_TLS}, {"_sip._tcp.", SIG_TP_TCP}, {"_sip._udp.", SIG_TP_UDP}};
	char name[300];
	q->stage = ST_SRV;
	q->outstanding++; /* guard */
	for (unsigned i = 0; i < 3; i++) {
		if (q->tp >= 0 && k[i].tp != q->tp)
			continue;
		if (q->secure && k[i].tp != SIG_TP_TLS)
			continue;
		snprintf(name, sizeof(name), "%s%s", k[i].prefix, q->host);
		query_srv(q, name, k[i].tp, (uint16_t)(1000 + i));
	}
	if (--q->outstanding == 0)
		srv_stage_done(q);
}

typedef struct naptr_pick {
	uint16_t order, pref;
	uint8_t tp;
	char repl[256];
} naptr_pick;

static int cmp_naptr(const void *a, const void *b)
{
	const naptr_pick *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

static void naptr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	dreq *q = arg;
	struct ares_naptr_reply *np = NULL;
	naptr_pick picks[MAX_SRV];
	unsigned n = 0;
	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		q->cancelled = 1;
	if (status == ARES_SUCCESS && ares_parse_naptr_reply(abuf, alen, &np) == ARES_SUCCESS) {
		for (struct ares_naptr_reply *r = np; r && n < MAX_SRV; r = r->next) {
			const char *svc = (const char *)r->service;
			int tp = -1;
			if (strcasecmp(svc, "SIPS+D2T") == 0)
				tp = SIG_TP_TLS;
			else if (strcasecmp(svc, "SIP+D2T") == 0)
				tp = SIG_TP_TCP;
			else if (strcasecmp(svc, "SIP+D2U") == 0)
				tp = SIG_TP_UDP;
			if (tp < 0 || strcasecmp((const char *)r->flags, "s") != 0)
				continue;
			if (q->secure && tp != SIG_TP_TLS)
				continue;
			picks[n].order = r->order;
			picks[n].pref = r->preference;
			picks[n].tp = (uint8_t)tp;
			snprintf(picks[n].repl, sizeof(picks[n].repl), "%s", r->replacement);
			n++;
		}
		ares_free_data(np);
	}
	req_finished(q);
	if (q->cancelled) {
		finish(q, SBC_E_CLOSED);
		return;
	}
	if (n == 0) {
		start_srv_fallback(q);
		return;
	}
	qsort(picks, n, sizeof(picks[0]), cmp_naptr);
	q->stage = ST_SRV;
	q->outstanding++; /* guard */
	for (unsigned i = 0; i < n; i++)
		query_srv(q, picks[i].repl, picks[i].tp, (uint16_t)i);
	if (--q->outstanding == 0)
		srv_stage_done(q);
}

int sig_dns_resolve(sig_dns *d, const char *host, uint16_t port, int tp, int secure, sig_dns_cb cb,
		    void *arg)
{
	if (!host || !host[0] || strlen(host) >= 256)
		return SBC_E_INVAL;
	dreq *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	snprintf(q->host, sizeof(q->host), "%s", host);
	q->port = port;
	q->tp = secure ? SIG_TP_TLS : tp;
	q->secure = secure;
	q->cb = cb;
	q->arg = arg;
	/* numeric host: no lookup at all */
	sbc_addr a;
	char lit[300];
	snprintf(lit, sizeof(lit), host[0] != '[' && strchr(host, ':') ? "[%s]" : "%s", host);
	if (sbc_addr_parse(lit, 0, &a) == 0) {
		add_host_only(q);
		sbc_addr_set_port(&a, q->srv[0].port);
		q->srv[0].addr[0] = a;
		q->srv[0].n_addr = 1;
		finish(q, 0);
		return 0;
	}
	if (port) {
		add_host_only(q);
		start_addr_stage(q);
	} else if (q->tp >= 0) {
		start_srv_fallback(q);
	} else {
		q->stage = ST_NAPTR;
		req_started(q);
		ares_query(d->ch, host, ns_c_in, ns_t_naptr, naptr_cb, q); /* may call back at once */
	}
	return 0;
}
