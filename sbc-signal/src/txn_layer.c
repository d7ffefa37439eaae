/* sbc-signal — SIP transaction state machines (RFC 3261 17). See txn_layer.h.
 *
 * Figures 5-8 of RFC 3261 map onto the four x__*_fire / recv functions below.
 * Every entry point holds t->busy while it works and frees a terminated
 * transaction only when busy drops to zero (caveat 3). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "sbc/err.h"
#include "sbc/log.h"
#include "sip_build.h"
#include "txn_layer.h"

/* A transaction's place in one of the table's two hash chains (enum chain).
 * LOCK: owning worker thread. */
typedef struct txn_link {
	txn *next;
	uint32_t hash;
	char *key; /* CH_MAIN: behind the struct; CH_ACK2XX: own allocation */
	size_t key_len;
} txn_link;

/* CH_MAIN: every transaction, by its key (in_table while linked);
 * CH_ACK2XX: a server INVITE in Accepted, by the key of the ACK to its 2xx
 * (the key is made when the INVITE arrives, linked on the 2xx). */
enum chain { CH_MAIN, CH_ACK2XX, CH_N };

struct txn {
	txn_link link[CH_N];
	uint8_t kind;  /* enum txn_kind */
	uint8_t state; /* enum txn_state */
	uint8_t reliable;
	uint8_t in_table;
	uint8_t acked; /* server INVITE in Accepted: the ACK to our 2xx came */
	uint8_t cancelled; /* client INVITE: the TU sent a CANCEL for it (txn_client_cancelled) */
	uint8_t inline_mem; /* TXN_IN_*: what lives in the transaction's own allocation */
	int busy;
	uint16_t armed; /* bit per enum txn_timer */
	uint32_t retrans_ms; /* current A/E/G interval */
	uint64_t deadline[TXN_T_MAX_];
	int last_status;
	char *req; /* client: the request as sent */
	size_t req_len;
	char *out; /* server: last response sent; client INVITE: the ACK */
	size_t out_len;
	void *user;
};

struct txn_table {
	txn_env env;
	uint32_t t1, t2, t4;
	/* SipHash key of key_hash, random per table: a peer that cannot learn it
	 * cannot choose keys that share a chain (see key_hash). */
	uint64_t seed[2];
	unsigned long long_walks; /* lookups that walked over TXN_LONG_CHAIN entries */
	txn **bucket[CH_N]; /* the chains' heads (enum chain) */
	void *bucket_map;   /* both arrays in one huge-page mapping (buckets_alloc), or NULL */
	size_t bucket_map_len;
	uint32_t mask;
	unsigned count;
	sip_msg scratch; /* re-parse of a client request (no callbacks while used) */
};

static const char *const state_names[] = {"?",	     "calling",	   "trying",  "proceeding",
					  "completed", "confirmed", "terminated", "accepted"};
static const char *const timer_names[TXN_T_MAX_] = {"A", "B", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M"};

const char *txn_state_name(enum txn_state s)
{
	return (s >= TXN_S_CALLING && s <= TXN_S_ACCEPTED) ? state_names[s] : "?";
}

const char *txn_timer_name(enum txn_timer tm) { return tm < TXN_T_MAX_ ? timer_names[tm] : "?"; }

/* The two bucket arrays of a large table (the engine's: 2 x 1 MB) in one
 * mapping of whole 2 MB pages, 2 MB-aligned, with MADV_HUGEPAGE: every
 * lookup reads one random bucket, and over 4 KB pages that was a TLB miss
 * (under a VM's nested paging, a long page walk) as well as a cache miss:
 * the bucket load was ~3/4 of lookup's time in the live profile. Small
 * tables (under 1 MB in all) stay on the heap. Returns 0 or -ENOMEM. */
#define TXN_HUGE (2u << 20)

static int buckets_alloc_heap(txn_table *tbl, uint32_t n)
{
	tbl->bucket[CH_MAIN] = calloc(n, sizeof(txn *));
	tbl->bucket[CH_ACK2XX] = calloc(n, sizeof(txn *));
	if (tbl->bucket[CH_MAIN] && tbl->bucket[CH_ACK2XX])
		return 0;
	free(tbl->bucket[CH_MAIN]);
	free(tbl->bucket[CH_ACK2XX]);
	return -ENOMEM;
}

static int buckets_alloc(txn_table *tbl, uint32_t n)
{
	size_t bytes = (size_t)n * sizeof(txn *) * CH_N;
	if (bytes < TXN_HUGE / 2)
		return buckets_alloc_heap(tbl, n);
	size_t len = (bytes + TXN_HUGE - 1) & ~(size_t)(TXN_HUGE - 1);
	/* twice the alignment reserved to find an aligned part; where even
	 * that is refused (RLIMIT_AS, vm.max_map_count) the heap will do */
	char *m = mmap(NULL, len + TXN_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return buckets_alloc_heap(tbl, n);
	/* trim to the aligned part: what lies before it and after it */
	char *a = (char *)(((uintptr_t)m + TXN_HUGE - 1) & ~(uintptr_t)(TXN_HUGE - 1));
	if (a > m)
		munmap(m, (size_t)(a - m));
	munmap(a + len, (size_t)(m + len + TXN_HUGE - (a + len)));
	madvise(a, len, MADV_HUGEPAGE); /* a hint: 4 KB pages still work */
	/* faulted in now, at boot, not by the first transaction a worker
	 * sees: the huge page's zeroing (and any compaction the kernel does
	 * to find one) stays off the call path, and the 2 MB are resident
	 * from the start (a worker's first call in the middle of a burst
	 * added them to the burst's memory for good: test_b2b_memory) */
	memset(a, 0, len);
	tbl->bucket_map = a;
	tbl->bucket_map_len = len;
	tbl->bucket[CH_MAIN] = (txn **)a;
	tbl->bucket[CH_ACK2XX] = (txn **)a + n;
	return 0;
}

static void buckets_free(txn_table *tbl)
{
	if (tbl->bucket_map) {
		munmap(tbl->bucket_map, tbl->bucket_map_len);
		return;
	}
	free(tbl->bucket[CH_MAIN]);
	free(tbl->bucket[CH_ACK2XX]);
}

txn_table *txn_table_create(const txn_env *env, const txn_cfg *cfg, unsigned buckets)
{
	txn_table *tbl = calloc(1, sizeof(*tbl));
	uint32_t n = 16;
	if (!tbl)
		return NULL;
	while (n < buckets && n < (1u << 24))
		n <<= 1;
	if (buckets_alloc(tbl, n) < 0) {
		free(tbl);
		return NULL;
	}
	tbl->mask = n - 1;
	/* BoringSSL's generator, as for the B2BUA's branch key and SRTP keys */
	RAND_bytes((uint8_t *)tbl->seed, sizeof(tbl->seed));
	tbl->env = *env;
	tbl->t1 = cfg && cfg->t1_ms ? cfg->t1_ms : 500;
	tbl->t2 = cfg && cfg->t2_ms ? cfg->t2_ms : 4000;
	tbl->t4 = cfg && cfg->t4_ms ? cfg->t4_ms : 5000;
	return tbl;
}

/* The ACK-to-2xx key and a client's request, which live as long as the
 * transaction, share its allocation (behind the main key): two mallocs
 * and frees fewer per call. */
enum { TXN_IN_ACKKEY = 1, TXN_IN_REQ = 2 };

static void txn_free(txn *t)
{
	if (!(t->inline_mem & TXN_IN_ACKKEY))
		free(t->link[CH_ACK2XX].key);
	if (!(t->inline_mem & TXN_IN_REQ))
		free(t->req);
	free(t->out);
	free(t);
}

void txn_table_destroy(txn_table *tbl)
{
	if (!tbl)
		return;
	for (uint32_t i = 0; i <= tbl->mask; i++) {
		txn *t = tbl->bucket[CH_MAIN][i], *n;
		for (; t; t = n) {
			n = t->link[CH_MAIN].next;
			txn_free(t);
		}
	}
	buckets_free(tbl);
	free(tbl);
}

unsigned txn_table_count(const txn_table *tbl) { return tbl->count; }

/* ---- keys ------------------------------------------------------------------- */

/* The chain hash of a key: SipHash-2-4 under the table's random 128-bit
 * key. Every key byte comes from the peer (Call-ID, branch, From tag,
 * sent-by), and server_txn inserts before any admission limit, so the hash
 * must be a keyed PRF: the secret has to enter every step. The unkeyed
 * multiply-xorshift this replaced (30b68e4) only seeded the start value, and
 * flipping bit 63 of one 8-byte word plus bits 63 and 31 of the next left
 * its state equal for every seed: 16384 such INVITEs cost 1.77 s against
 * 0.03 s for distinct ones (one chain). SipHash costs more per byte than
 * that hash, measured in bench_b2b_sip's server INVITE step (commit message).
 * Keys are still compared in full: the hash only spreads them. */
static uint32_t key_hash(const uint64_t seed[2], const char *p, size_t n)
{
	return (uint32_t)SIPHASH_24(seed, (const uint8_t *)p, n);
}

uint32_t x__txn_key_hash(const txn_table *tbl, const char *key, size_t n) { return key_hash(tbl->seed, key, n); }

unsigned long txn_table_long_walks(const txn_table *tbl) { return tbl->long_walks; }

typedef struct keybuf {
	char b[1024];
	size_t n;
	int overflow;
	int hashed; /* hash below is of b[0..n) (a lookup then txn_new hash once) */
	uint32_t hash;
} keybuf;

/* Every key is built from k->n = 0 through kput, which clears hashed. */
static uint32_t khash(const txn_table *tbl, keybuf *k)
{
	if (!k->hashed) {
		k->hash = key_hash(tbl->seed, k->b, k->n);
		k->hashed = 1;
	}
	return k->hash;
}

static void kput(keybuf *k, const char *p, size_t n)
{
	k->hashed = 0;
	if (n > sizeof(k->b) - k->n) {
		k->overflow = 1;
		return;
	}
	memcpy(k->b + k->n, p, n);
	k->n += n;
}

static void kput_lower(keybuf *k, sip_sv s)
{
	size_t at = k->n;
	kput(k, s.p, s.n); /* then lowered in place: one bounds check, not one per byte */
	if (k->overflow)
		return;
	for (size_t i = at; i < k->n; i++)
		if (k->b[i] >= 'A' && k->b[i] <= 'Z')
			k->b[i] = (char)(k->b[i] + 32);
}

static void kput_u(keybuf *k, unsigned long v)
{
	char t[SIP_U64_DIGITS];
	const char *p = sip_u64_dec(v, t);
	kput(k, p, (size_t)(t + sizeof(t) - p));
}

static int has_cookie(sip_sv branch) { return branch.n > 7 && memcmp(branch.p, "z9hG4bK", 7) == 0; }

/* Client key: 'C' method 0x01 branch. */
static int client_key(const sip_msg *m, keybuf *k)
{
	k->n = 0;
	k->overflow = 0;
	if (m->n_via == 0 || m->via[0].branch.n == 0)
		return SBC_E_INVAL;
	kput(k, "C", 1);
	kput(k, m->cseq_method_name.p, m->cseq_method_name.n);
	kput(k, "\x01", 1);
	kput(k, m->via[0].branch.p, m->via[0].branch.n);
	return k->overflow ? SBC_E_INVAL : 0;
}

/* Server key: 'S' method 0x01 branch 0x01 sent-by, with ACK -> INVITE;
 * without the cookie: 'O' method call-id cseq from-tag sent-by. */
static int server_key(const sip_msg *m, const char *method, keybuf *k)
{
	const sip_via *v;
	k->n = 0;
	k->overflow = 0;
	if (m->n_via == 0)
		return SBC_E_INVAL;
	v = &m->via[0];
	if (has_cookie(v->branch)) {
		kput(k, "S", 1);
		kput(k, method, strlen(method));
		kput(k, "\x01", 1);
		kput(k, v->branch.p, v->branch.n);
	} else {
		kput(k, "O", 1);
		kput(k, method, strlen(method));
		kput(k, "\x01", 1);
		kput(k, m->call_id.p, m->call_id.n);
		kput(k, "\x01", 1);
		kput_u(k, m->cseq);
		kput(k, "\x01", 1);
		kput(k, m->from.tag.p, m->from.tag.n);
	}
	kput(k, "\x01", 1);
	kput_lower(k, v->host);
	kput(k, ":", 1);
	kput_u(k, v->port);
	return k->overflow ? SBC_E_INVAL : 0;
}

/* Key of the ACK to a 2xx: 'K' Call-ID 0x01 CSeq number 0x01 From tag
 * (the same in the INVITE and its ACK, RFC 3261 13.2.2.4, 17.1.1.3). */
static int ack2xx_key(const sip_msg *m, keybuf *k)
{
	k->n = 0;
	k->overflow = 0;
	kput(k, "K", 1);
	kput(k, m->call_id.p, m->call_id.n);
	kput(k, "\x01", 1);
	kput_u(k, m->cseq);
	kput(k, "\x01", 1);
	kput(k, m->from.tag.p, m->from.tag.n);
	return k->overflow ? SBC_E_INVAL : 0;
}

/* Defence in depth: with a keyed hash a chain this long means the table is
 * far over its size or the hash is broken; such walks are counted (and
 * logged at powers of two) so it shows instead of only costing CPU. The walk
 * itself is not cut short: a lookup that gave up would miss a live
 * transaction and turn a retransmission into a new call. */
#define TXN_LONG_CHAIN 64

static void long_walk(txn_table *tbl, enum chain ch, unsigned steps)
{
	unsigned long n = ++tbl->long_walks;
	if ((n & (n - 1)) == 0)
		SBC_WARN("txn: %lu lookups walked chains over %d entries (this one %u, %s chain, %u transactions, %u "
			 "buckets)",
			 n, TXN_LONG_CHAIN, steps, ch == CH_MAIN ? "main" : "ack-2xx", tbl->count, tbl->mask + 1);
}

static txn *lookup(txn_table *tbl, enum chain ch, keybuf *k)
{
	uint32_t h = khash(tbl, k);
	unsigned steps = 0;
	txn *t = tbl->bucket[ch][h & tbl->mask];
	for (; t; t = t->link[ch].next, steps++) {
		const txn_link *l = &t->link[ch];
		if (l->hash == h && l->key_len == k->n && memcmp(l->key, k->b, k->n) == 0)
			break;
	}
	if (steps > TXN_LONG_CHAIN)
		long_walk(tbl, ch, steps);
	return t;
}

/* Links t at the head of chain ch (its key and hash set already). */
static void link_chain(txn_table *tbl, enum chain ch, txn *t)
{
	txn **head = &tbl->bucket[ch][t->link[ch].hash & tbl->mask];
	t->link[ch].next = *head;
	*head = t;
}

/* Takes t off chain ch; returns whether it was there. */
static int unlink_chain(txn_table *tbl, enum chain ch, txn *t)
{
	for (txn **pp = &tbl->bucket[ch][t->link[ch].hash & tbl->mask]; *pp; pp = &(*pp)->link[ch].next)
		if (*pp == t) {
			*pp = t->link[ch].next;
			return 1;
		}
	return 0;
}

/* extra: bytes after the key for the caller (txn_extra()). */
static txn *txn_new(txn_table *tbl, keybuf *k, enum txn_kind kind, int reliable, void *user, size_t extra)
{
	/* one allocation for the transaction, its key and extra */
	txn *t = malloc(sizeof(*t) + k->n + extra);
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t)); /* not the key and extra: written next */
	txn_link *l = &t->link[CH_MAIN];
	l->key = (char *)(t + 1);
	memcpy(l->key, k->b, k->n);
	l->key_len = k->n;
	l->hash = khash(tbl, k);
	t->kind = (uint8_t)kind;
	t->reliable = reliable ? 1 : 0;
	t->user = user;
	link_chain(tbl, CH_MAIN, t);
	t->in_table = 1;
	tbl->count++;
	return t;
}

static char *txn_extra(txn *t) { return (char *)(t + 1) + t->link[CH_MAIN].key_len; }

static void unlink_txn(txn_table *tbl, txn *t)
{
	if (unlink_chain(tbl, CH_MAIN, t))
		tbl->count--;
	t->in_table = 0;
}

/* Off the ACK-to-2xx chain, if it was on it, and its key freed. */
static void unlink_ack2xx(txn_table *tbl, txn *t)
{
	txn_link *l = &t->link[CH_ACK2XX];
	if (!l->key)
		return;
	unlink_chain(tbl, CH_ACK2XX, t);
	if (!(t->inline_mem & TXN_IN_ACKKEY))
		free(l->key);
	l->key = NULL;
}

/* ---- timers ---------------------------------------------------------------------- */

static uint64_t now(txn_table *tbl) { return tbl->env.now_ms ? tbl->env.now_ms(tbl->env.ctx) : 0; }

static void arm(txn_table *tbl, txn *t, enum txn_timer tm, uint32_t ms)
{
	t->armed |= (uint16_t)(1u << tm);
	t->deadline[tm] = now(tbl) + ms;
	tbl->env.arm(tbl->env.ctx, t, tm, ms);
}

static void cancel(txn_table *tbl, txn *t, enum txn_timer tm)
{
	if (t->armed & (1u << tm)) {
		t->armed &= (uint16_t)~(1u << tm);
		tbl->env.cancel(tbl->env.ctx, t, tm);
	}
}

static void terminate(txn_table *tbl, txn *t)
{
	if (t->state == TXN_S_TERMINATED)
		return;
	for (int tm = 0; tm < TXN_T_MAX_; tm++)
		cancel(tbl, t, (enum txn_timer)tm);
	t->state = TXN_S_TERMINATED;
	if (t->in_table)
		unlink_txn(tbl, t);
	unlink_ack2xx(tbl, t);
	if (tbl->env.on_terminated)
		tbl->env.on_terminated(tbl->env.ctx, t);
}

static void enter(txn *t) { t->busy++; }

static void leave(txn *t)
{
	if (--t->busy == 0 && t->state == TXN_S_TERMINATED)
		txn_free(t);
}

static void timeout(txn_table *tbl, txn *t)
{
	if (t->state == TXN_S_TERMINATED)
		return;
	/* Accepted and ACKed: the dialog is confirmed, the transaction only
	 * lingers to absorb duplicates; Timer L or a transport error then is
	 * no failure the TU must act on (it would hang up a good call). */
	if (tbl->env.on_timeout && !(t->kind == TXN_SERVER_INVITE && t->acked))
		tbl->env.on_timeout(tbl->env.ctx, t);
	terminate(tbl, t);
}

static int send_bytes(txn_table *tbl, txn *t, const char *buf, size_t len)
{
	int r = tbl->env.send(tbl->env.ctx, t, buf, len);
	if (r < 0)
		timeout(tbl, t); /* 17.1.4 / 17.2.4: transport error */
	return r < 0 ? r : 0;
}

static char *dup_bytes(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (c && n)
		memcpy(c, p, n);
	return c;
}

/* ---- client ------------------------------------------------------------------------ */

/* The client key of a request we are about to send, without a full parse
 * (the request is ours, built by sip_build): the method from the request
 * line, the branch of the first Via value. Returns 0, sbc_err_sip(400) for
 * a request without a start line, SBC_E_INVAL without a Via branch. */
static int peek_client_key(const char *req, size_t len, keybuf *k, enum sip_method *method)
{
	const char *nl = memchr(req, '\n', len), *sp = memchr(req, ' ', len);
	if (!nl || !sp || sp > nl || sp == req || (len >= 4 && memcmp(req, "SIP/", 4) == 0))
		return sbc_err_sip(400);
	sip_sv mname = {req, (size_t)(sp - req)};
	*method = sip_method_from_sv(mname);
	size_t pos = (size_t)(nl - req) + 1;
	while (pos < len) {
		const char *e = memchr(req + pos, '\n', len - pos);
		size_t eol = e ? (size_t)(e - req) : len;
		sip_sv line = {req + pos, eol - pos};
		if (line.n && line.p[line.n - 1] == '\r')
			line.n--;
		if (line.n == 0)
			break; /* end of headers */
		const char *colon = memchr(line.p, ':', line.n);
		if (colon) {
			sip_sv name = {line.p, (size_t)(colon - line.p)};
			while (name.n && (name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t'))
				name.n--;
			if (sip_header_id(name) == SIP_H_VIA) {
				sip_sv rest = {colon + 1, (size_t)(line.p + line.n - colon - 1)}, one;
				sip_via v;
				if (sip_next_value(&rest, &one) != 1 || sip_via_parse(one, &v) < 0 || v.branch.n == 0)
					return SBC_E_INVAL;
				k->n = 0;
				k->overflow = 0;
				kput(k, "C", 1);
				kput(k, mname.p, mname.n);
				kput(k, "\x01", 1);
				kput(k, v.branch.p, v.branch.n);
				return k->overflow ? SBC_E_INVAL : 0;
			}
		}
		pos = eol + 1;
	}
	return SBC_E_INVAL;
}

int txn_client_start(txn_table *tbl, const char *req, size_t len, int reliable, void *user, txn **out)
{
	keybuf k;
	int r;
	txn *t;

	*out = NULL;
	enum sip_method method;
	if ((r = peek_client_key(req, len, &k, &method)) < 0)
		return r;
	if (method == SIP_M_ACK)
		return SBC_E_INVAL;
	if (lookup(tbl, CH_MAIN, &k))
		return SBC_E_EXISTS;
	int invite = method == SIP_M_INVITE;
	t = txn_new(tbl, &k, invite ? TXN_CLIENT_INVITE : TXN_CLIENT_NON_INVITE, reliable, user, len);
	if (!t)
		return -ENOMEM;
	t->req = txn_extra(t);
	t->inline_mem |= TXN_IN_REQ;
	memcpy(t->req, req, len);
	t->req_len = len;
	t->state = invite ? TXN_S_CALLING : TXN_S_TRYING;
	enter(t);
	if (!reliable) {
		t->retrans_ms = tbl->t1;
		arm(tbl, t, invite ? TXN_T_A : TXN_T_E, tbl->t1);
	}
	arm(tbl, t, invite ? TXN_T_B : TXN_T_F, 64 * tbl->t1);
	r = send_bytes(tbl, t, t->req, t->req_len);
	if (r == 0)
		*out = t;
	leave(t);
	return r;
}

static void client_invite_rx(txn_table *tbl, txn *t, const sip_msg *rsp)
{
	int st = rsp->status;
	switch (t->state) {
	case TXN_S_CALLING:
	case TXN_S_PROCEEDING:
		t->last_status = st;
		if (st < 200) {
			t->state = TXN_S_PROCEEDING;
			cancel(tbl, t, TXN_T_A);
			/* once CANCELled, Timer B is the give-up (RFC 3261 9.1):
			 * a 100 or a repeated 180 must not switch it off */
			if (!t->cancelled)
				cancel(tbl, t, TXN_T_B);
			tbl->env.on_response(tbl->env.ctx, t, rsp);
		} else if (st < 300) {
			cancel(tbl, t, TXN_T_A);
			cancel(tbl, t, TXN_T_B);
			t->state = TXN_S_ACCEPTED;
			arm(tbl, t, TXN_T_M, 64 * tbl->t1);
			tbl->env.on_response(tbl->env.ctx, t, rsp);
		} else {
			cancel(tbl, t, TXN_T_A);
			cancel(tbl, t, TXN_T_B);
			t->state = TXN_S_COMPLETED;
			/* ACK in the transaction (17.1.1.3) */
			char ack[4096];
			int n = -1;
			if (sip_parse(t->req, t->req_len, &tbl->scratch) == 0)
				n = sip_build_ack_non2xx(&tbl->scratch, rsp, ack, sizeof(ack));
			if (n > 0) {
				free(t->out);
				t->out = dup_bytes(ack, (size_t)n);
				t->out_len = t->out ? (size_t)n : 0;
				if (t->out && send_bytes(tbl, t, t->out, t->out_len) < 0)
					return;
			}
			if (t->reliable) {
				tbl->env.on_response(tbl->env.ctx, t, rsp);
				terminate(tbl, t);
			} else {
				arm(tbl, t, TXN_T_D, 32000);
				tbl->env.on_response(tbl->env.ctx, t, rsp);
			}
		}
		break;
	case TXN_S_COMPLETED:
		if (st >= 300 && t->out) /* retransmitted final: ACK again */
			send_bytes(tbl, t, t->out, t->out_len);
		break;
	case TXN_S_ACCEPTED:
		if (st >= 200 && st < 300) /* 2xx again (or another fork): the TU re-ACKs */
			tbl->env.on_response(tbl->env.ctx, t, rsp);
		break;
	default:
		break;
	}
}

static void client_non_invite_rx(txn_table *tbl, txn *t, const sip_msg *rsp)
{
	int st = rsp->status;
	if (t->state != TXN_S_TRYING && t->state != TXN_S_PROCEEDING)
		return; /* completed: absorb */
	t->last_status = st;
	if (st < 200) {
		t->state = TXN_S_PROCEEDING;
		tbl->env.on_response(tbl->env.ctx, t, rsp);
		return;
	}
	cancel(tbl, t, TXN_T_E);
	cancel(tbl, t, TXN_T_F);
	t->state = TXN_S_COMPLETED;
	tbl->env.on_response(tbl->env.ctx, t, rsp);
	if (t->state != TXN_S_COMPLETED)
		return; /* the TU ended it meanwhile */
	if (t->reliable)
		terminate(tbl, t);
	else
		arm(tbl, t, TXN_T_K, tbl->t4);
}

int txn_recv_response(txn_table *tbl, const sip_msg *rsp)
{
	keybuf k;
	txn *t;
	if (rsp->is_request || client_key(rsp, &k) < 0)
		return 0;
	if (!(t = lookup(tbl, CH_MAIN, &k)))
		return 0;
	enter(t);
	if (t->kind == TXN_CLIENT_INVITE)
		client_invite_rx(tbl, t, rsp);
	else
		client_non_invite_rx(tbl, t, rsp);
	leave(t);
	return 1;
}

/* ---- server ---------------------------------------------------------------------------- */

int txn_recv_request(txn_table *tbl, const sip_msg *req, int reliable, void *user, txn **out)
{
	keybuf k;
	txn *t;
	int r;

	*out = NULL;
	if (!req->is_request)
		return SBC_E_INVAL;
	if (req->method == SIP_M_ACK) {
		if ((r = server_key(req, "INVITE", &k)) < 0)
			return r;
		t = lookup(tbl, CH_MAIN, &k);
		if (!t || t->kind != TXN_SERVER_INVITE || t->state == TXN_S_ACCEPTED) {
			/* the ACK to a 2xx: its own branch, matched on the dialog */
			if (ack2xx_key(req, &k) < 0 || !(t = lookup(tbl, CH_ACK2XX, &k)) || t->state != TXN_S_ACCEPTED)
				return TXN_RX_NO_MATCH;
			/* RFC 6026 8.x: the transaction stays Accepted until Timer L,
			 * so that a duplicate of the INVITE (same branch) arriving
			 * after the ACK is still absorbed here instead of starting a
			 * new call. Only the 2xx retransmission stops; its copy is
			 * dropped to keep the lingering transaction small. Every ACK
			 * goes to the TU (the caller re-ACKs each 2xx it sees). */
			enter(t);
			if (!t->acked) {
				t->acked = 1;
				cancel(tbl, t, TXN_T_G);
				free(t->out);
				t->out = NULL;
				t->out_len = 0;
			}
			if (tbl->env.on_ack)
				tbl->env.on_ack(tbl->env.ctx, t, req);
			leave(t);
			return TXN_RX_ACK_2XX;
		}
		*out = t;
		enter(t);
		if (t->state == TXN_S_COMPLETED) {
			cancel(tbl, t, TXN_T_G);
			cancel(tbl, t, TXN_T_H);
			t->state = TXN_S_CONFIRMED;
			if (t->reliable)
				terminate(tbl, t);
			else
				arm(tbl, t, TXN_T_I, tbl->t4);
		}
		leave(t);
		return TXN_RX_ABSORBED;
	}
	char mname[64];
	if (req->method_name.n >= sizeof(mname))
		return sbc_err_sip(400);
	memcpy(mname, req->method_name.p, req->method_name.n);
	mname[req->method_name.n] = 0;
	if ((r = server_key(req, mname, &k)) < 0)
		return r;
	if ((t = lookup(tbl, CH_MAIN, &k)) != NULL) {
		*out = t;
		enter(t);
		if (t->out && (t->state == TXN_S_PROCEEDING || t->state == TXN_S_COMPLETED))
			send_bytes(tbl, t, t->out, t->out_len);
		leave(t);
		return TXN_RX_ABSORBED;
	}
	int invite = req->method == SIP_M_INVITE;
	keybuf k2;
	if (invite && ack2xx_key(req, &k2) < 0)
		return -ENOMEM; /* too long a key (as a failed malloc of it was) */
	t = txn_new(tbl, &k, invite ? TXN_SERVER_INVITE : TXN_SERVER_NON_INVITE, reliable, user,
		    invite ? k2.n : 0);
	if (!t)
		return -ENOMEM;
	if (invite) {
		txn_link *l = &t->link[CH_ACK2XX];
		l->key = txn_extra(t);
		t->inline_mem |= TXN_IN_ACKKEY;
		memcpy(l->key, k2.b, k2.n);
		l->key_len = k2.n;
		l->hash = khash(tbl, &k2);
	}
	t->state = invite ? TXN_S_PROCEEDING : TXN_S_TRYING;
	*out = t;
	return TXN_RX_NEW;
}

int txn_respond(txn_table *tbl, txn *t, int status, const char *buf, size_t len)
{
	int r;
	if (t->kind != TXN_SERVER_INVITE && t->kind != TXN_SERVER_NON_INVITE)
		return SBC_E_INVAL;
	if (status < 100 || status > 699)
		return SBC_E_INVAL;
	int again_2xx = t->state == TXN_S_ACCEPTED && status >= 200 && status < 300;
	if (t->state != TXN_S_PROCEEDING && t->state != TXN_S_TRYING && !again_2xx)
		return SBC_E_STATE;
	/* A reliable non-INVITE's final response is sent once and the
	 * transaction ends with it (no Timer J): nothing will resend it, so it
	 * is sent from the caller's buffer, not copied (the 200 to every BYE
	 * over TCP/TLS). Any other response is kept for retransmissions. */
	int keep = !(t->kind == TXN_SERVER_NON_INVITE && t->reliable && status >= 200);
	char *copy = keep ? dup_bytes(buf, len) : NULL;
	if (keep && !copy)
		return -ENOMEM;
	free(t->out);
	t->out = copy;
	t->out_len = copy ? len : 0;
	if (copy)
		buf = copy;
	t->last_status = status;
	enter(t);
	if (t->kind == TXN_SERVER_INVITE) {
		if (status >= 300) {
			t->state = TXN_S_COMPLETED;
			if (!t->reliable) {
				t->retrans_ms = tbl->t1;
				arm(tbl, t, TXN_T_G, tbl->t1);
			}
			arm(tbl, t, TXN_T_H, 64 * tbl->t1);
		} else if (status >= 200 && !again_2xx) {
			/* Accepted: retransmit the 2xx until the ACK, give up at L */
			t->state = TXN_S_ACCEPTED;
			link_chain(tbl, CH_ACK2XX, t);
			if (!t->reliable) {
				t->retrans_ms = tbl->t1;
				arm(tbl, t, TXN_T_G, tbl->t1);
			}
			arm(tbl, t, TXN_T_L, 64 * tbl->t1);
		}
		r = send_bytes(tbl, t, buf, len);
	} else {
		if (status < 200) {
			t->state = TXN_S_PROCEEDING;
		} else {
			t->state = TXN_S_COMPLETED;
			if (!t->reliable)
				arm(tbl, t, TXN_T_J, 64 * tbl->t1);
		}
		r = send_bytes(tbl, t, buf, len);
		if (r == 0 && t->state == TXN_S_COMPLETED && t->reliable)
			terminate(tbl, t);
	}
	leave(t);
	return r;
}

txn *txn_find_cancel_target(txn_table *tbl, const sip_msg *cancel_req)
{
	keybuf k;
	if (!cancel_req->is_request || cancel_req->method != SIP_M_CANCEL)
		return NULL;
	if (server_key(cancel_req, "INVITE", &k) < 0)
		return NULL;
	txn *t = lookup(tbl, CH_MAIN, &k);
	return (t && t->kind == TXN_SERVER_INVITE) ? t : NULL;
}

/* ---- timers fired --------------------------------------------------------------------- */

void txn_timer_fire(txn_table *tbl, txn *t, enum txn_timer tm)
{
	if (tm >= TXN_T_MAX_ || !(t->armed & (1u << tm)) || t->state == TXN_S_TERMINATED)
		return; /* stale */
	uint64_t n = now(tbl);
	if (tbl->env.now_ms && n < t->deadline[tm]) {
		tbl->env.arm(tbl->env.ctx, t, tm, (uint32_t)(t->deadline[tm] - n));
		return;
	}
	t->armed &= (uint16_t)~(1u << tm);
	enter(t);
	switch (tm) {
	case TXN_T_A: /* client INVITE retransmit, doubling without cap */
		if (t->state == TXN_S_CALLING) {
			t->retrans_ms *= 2;
			arm(tbl, t, TXN_T_A, t->retrans_ms);
			send_bytes(tbl, t, t->req, t->req_len);
		}
		break;
	case TXN_T_E: /* client non-INVITE retransmit, capped at T2 */
		if (t->state == TXN_S_TRYING || t->state == TXN_S_PROCEEDING) {
			if (t->state == TXN_S_PROCEEDING)
				t->retrans_ms = tbl->t2;
			else
				t->retrans_ms = t->retrans_ms * 2 < tbl->t2 ? t->retrans_ms * 2 : tbl->t2;
			arm(tbl, t, TXN_T_E, t->retrans_ms);
			send_bytes(tbl, t, t->req, t->req_len);
		}
		break;
	case TXN_T_G: /* server INVITE final (or 2xx) retransmit, capped at T2 */
		if (t->state == TXN_S_COMPLETED || t->state == TXN_S_ACCEPTED) {
			t->retrans_ms = t->retrans_ms * 2 < tbl->t2 ? t->retrans_ms * 2 : tbl->t2;
			arm(tbl, t, TXN_T_G, t->retrans_ms);
			send_bytes(tbl, t, t->out, t->out_len);
		}
		break;
	case TXN_T_B: /* no final response: the TU acts as on 408 */
		if (t->cancelled) {
			/* 64*T1 after our CANCEL, or since the start, without a
			 * final response (RFC 3261 9.1): the TU gave the request
			 * up already, nothing to report */
			terminate(tbl, t);
			break;
		}
		timeout(tbl, t);
		break;
	case TXN_T_F:
	case TXN_T_H: /* no ACK */
	case TXN_T_L: /* no ACK to our 2xx: the TU sends BYE */
		timeout(tbl, t);
		break;
	case TXN_T_M:
	case TXN_T_D:
	case TXN_T_I:
	case TXN_T_J:
	case TXN_T_K:
		terminate(tbl, t);
		break;
	default:
		break;
	}
	leave(t);
}

void txn_client_cancelled(txn_table *tbl, txn *t)
{
	if (t->kind != TXN_CLIENT_INVITE || t->cancelled)
		return;
	t->cancelled = 1;
	/* Calling keeps its Timer B from the start (earlier than one from
	 * now); Proceeding has no timer at all: without this a peer that never
	 * answers the INVITE nor the CANCEL keeps the transaction for ever */
	if (t->state == TXN_S_PROCEEDING)
		arm(tbl, t, TXN_T_B, 64 * tbl->t1);
}

txn *txn_find_client(txn_table *tbl, sip_sv method, sip_sv branch)
{
	keybuf k;
	k.n = 0;
	k.overflow = 0;
	kput(&k, "C", 1);
	kput(&k, method.p, method.n);
	kput(&k, "\x01", 1);
	kput(&k, branch.p, branch.n);
	if (k.overflow || !method.n || !branch.n)
		return NULL;
	txn *t = lookup(tbl, CH_MAIN, &k);
	return t && (t->kind == TXN_CLIENT_INVITE || t->kind == TXN_CLIENT_NON_INVITE) ? t : NULL;
}

void txn_transport_error(txn_table *tbl, txn *t)
{
	enter(t);
	timeout(tbl, t);
	leave(t);
}

enum txn_kind txn_get_kind(const txn *t) { return (enum txn_kind)t->kind; }
enum txn_state txn_get_state(const txn *t) { return (enum txn_state)t->state; }
int txn_last_status(const txn *t) { return t->last_status; }
void *txn_user(const txn *t) { return t->user; }
void txn_set_user(txn *t, void *user) { t->user = user; }

const char *txn_request(const txn *t, size_t *len)
{
	*len = t->req_len;
	return t->req;
}
