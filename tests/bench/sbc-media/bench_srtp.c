/* SRTP benchmark: CPU ns per protect and per unprotect of an RTP packet with
 * a 160-byte payload (G.711 20 ms), for every suite, with 1, 100, 1,000 and
 * 10,000 live sessions used round-robin (each its own keys and SSRC, an
 * outbound and an inbound context per session), through med_srtp_* on the
 * BoringSSL types. For comparison, a forked child runs Debian's stock
 * libsrtp2 (NSS) on AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM at 1, 100
 * and 1,000 sessions, each figure capped at about a second of CPU.
 *
 * Reference (issue 6): stock NSS libsrtp2 ~1.6 us per protect at one session,
 * growing linearly with live sessions; target ~0.18 us (AES_CM_128_HMAC_SHA1_80)
 * and ~0.13 us (AEAD_AES_128_GCM), flat from 1 to 10,000 sessions.
 * Times are thread CPU time (the machine is shared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/aes.h>
#include <openssl/cipher.h>
#include <openssl/sha.h>

#include <srtp2/srtp.h>

#include "sbc/clock.h"
#include "sbc/err.h"
#include "../../../sbc-media/src/srtp.h"

#define PAYLOAD 160
#define MIN_PACKETS 200000u
#define STOCK_CAP_NS 1000000000ull

static const unsigned sessions[] = {1, 100, 1000, 10000};
#define NSESS (sizeof(sessions) / sizeof(sessions[0]))
static const unsigned stock_sessions[] = {1, 100, 1000};
#define NSTOCK (sizeof(stock_sessions) / sizeof(stock_sessions[0]))
static const unsigned stock_suites[] = {SBC_SRTP_AES_CM_128_HMAC_SHA1_80,
					SBC_SRTP_AEAD_AES_128_GCM};

typedef struct slot {
	uint8_t b[12 + PAYLOAD + 32];
	int len;
} slot;

typedef struct result {
	unsigned suite, sessions;
	double prot_ns, unprot_ns;
	unsigned long packets;
	double bytes_per_session; /* RSS growth for outbound + inbound contexts */
	int ok;
} result;

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

/* Packets per timed block: whole passes over the sessions, at least 1024,
 * so that the clock reads (~0.3 us each here) do not count. */
static unsigned batch_for(unsigned n)
{
	return n * ((1024 + n - 1) / n);
}

static void fill_rtp(uint8_t *p, uint16_t seq, uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	memset(p + 4, 0, 4);
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
	memset(p + 12, 0xd5, PAYLOAD); /* G.711 A-law silence */
}

static void make_key(unsigned i, uint8_t *key, int len)
{
	uint32_t x = i * 2654435761u + 1;
	for (int k = 0; k < len; k++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		key[k] = (uint8_t)x;
	}
}

/* --- replaced types, through the module's API ---------------------------- */

static result run_ours(unsigned suite, unsigned n)
{
	result r = {.suite = suite, .sessions = n};
	med_srtp_ctx *out = calloc(n, sizeof(*out)), *in = calloc(n, sizeof(*in));
	unsigned batch = batch_for(n);
	slot *sl = calloc(batch, sizeof(*sl));
	uint16_t *seq = calloc(n, sizeof(*seq));
	uint8_t key[64];
	int kl = med_srtp_key_len(suite);
	unsigned rounds = MIN_PACKETS / batch < 3 ? 3 : MIN_PACKETS / batch;
	uint64_t tp = 0, tu = 0;

	long rss0 = rss_bytes();
	if (!out || !in || !sl || !seq)
		goto Exit;
	for (unsigned i = 0; i < n; i++) {
		make_key(i + suite * 100000u, key, kl);
		seq[i] = (uint16_t)(1000 + i);
		if (med_srtp_ctx_init(&out[i], suite, key, (size_t)kl, true, NULL) != 0 ||
		    med_srtp_ctx_init(&in[i], suite, key, (size_t)kl, false, NULL) != 0)
			goto Exit;
	}
	for (unsigned round = 0; round <= rounds; round++) { /* round 0: warm-up */
		if (round == 1) /* inbound streams were cloned in the warm-up */
			r.bytes_per_session = (double)(rss_bytes() - rss0) / n;
		uint64_t t0 = sbc_thread_cpu_ns();
		for (unsigned j = 0; j < batch; j++) {
			unsigned i = j % n;
			fill_rtp(sl[j].b, seq[i]++, 0x10000000u + i);
			sl[j].len = 12 + PAYLOAD;
			if (med_srtp_protect(&out[i], sl[j].b, &sl[j].len, (int)sizeof(sl[j].b)) != 0)
				goto Exit;
		}
		uint64_t t1 = sbc_thread_cpu_ns();
		for (unsigned j = 0; j < batch; j++)
			if (med_srtp_unprotect(&in[j % n], sl[j].b, &sl[j].len) != 0 ||
			    sl[j].len != 12 + PAYLOAD)
				goto Exit;
		uint64_t t2 = sbc_thread_cpu_ns();
		if (round > 0) {
			tp += t1 - t0;
			tu += t2 - t1;
			r.packets += batch;
		}
	}
	r.prot_ns = (double)tp / (double)r.packets;
	r.unprot_ns = (double)tu / (double)r.packets;
	r.ok = 1;
Exit:
	for (unsigned i = 0; out && in && i < n; i++) {
		med_srtp_ctx_destroy(&out[i]);
		med_srtp_ctx_destroy(&in[i]);
	}
	free(out);
	free(in);
	free(sl);
	free(seq);
	return r;
}

/* --- stock libsrtp2 (NSS), raw API, in a forked child -------------------- */

static result run_stock(unsigned suite, unsigned n)
{
	result r = {.suite = suite, .sessions = n};
	srtp_t *out = calloc(n, sizeof(*out)), *in = calloc(n, sizeof(*in));
	unsigned batch = batch_for(n);
	slot *sl = calloc(batch, sizeof(*sl));
	uint16_t *seq = calloc(n, sizeof(*seq));
	uint8_t key[64];
	int kl = med_srtp_key_len(suite);
	uint64_t tp = 0, tu = 0;

	if (!out || !in || !sl || !seq)
		goto Exit;
	for (unsigned i = 0; i < n; i++) {
		srtp_policy_t p;
		seq[i] = (uint16_t)(1000 + i);
		memset(&p, 0, sizeof(p));
		if (suite == SBC_SRTP_AEAD_AES_128_GCM) {
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
		} else {
			srtp_crypto_policy_set_rtp_default(&p.rtp);
			srtp_crypto_policy_set_rtcp_default(&p.rtcp);
		}
		make_key(i + suite * 100000u, key, kl);
		p.key = key;
		p.ssrc.type = ssrc_any_outbound;
		if (srtp_create(&out[i], &p) != srtp_err_status_ok)
			goto Exit;
		p.ssrc.type = ssrc_any_inbound;
		if (srtp_create(&in[i], &p) != srtp_err_status_ok)
			goto Exit;
	}
	for (unsigned round = 0;; round++) {
		uint64_t t0 = sbc_thread_cpu_ns();
		for (unsigned j = 0; j < batch; j++) {
			unsigned i = j % n;
			fill_rtp(sl[j].b, seq[i]++, 0x10000000u + i);
			sl[j].len = 12 + PAYLOAD;
			if (srtp_protect(out[i], sl[j].b, &sl[j].len) != srtp_err_status_ok)
				goto Exit;
		}
		uint64_t t1 = sbc_thread_cpu_ns();
		for (unsigned j = 0; j < batch; j++)
			if (srtp_unprotect(in[j % n], sl[j].b, &sl[j].len) != srtp_err_status_ok)
				goto Exit;
		uint64_t t2 = sbc_thread_cpu_ns();
		if (round > 0) {
			tp += t1 - t0;
			tu += t2 - t1;
			r.packets += batch;
		}
		if (round >= 1 && (r.packets >= MIN_PACKETS / 4 || tp + tu > STOCK_CAP_NS))
			break;
	}
	r.prot_ns = (double)tp / (double)r.packets;
	r.unprot_ns = (double)tu / (double)r.packets;
	r.ok = 1;
Exit:
	for (unsigned i = 0; out && in && i < n; i++) {
		if (out[i])
			srtp_dealloc(out[i]);
		if (in[i])
			srtp_dealloc(in[i]);
	}
	free(out);
	free(in);
	free(sl);
	free(seq);
	return r;
}

static int stock_child(int fd)
{
	if (srtp_init() != srtp_err_status_ok)
		return 1;
	for (size_t s = 0; s < sizeof(stock_suites) / sizeof(stock_suites[0]); s++)
		for (size_t k = 0; k < NSTOCK; k++) {
			result r = run_stock(stock_suites[s], stock_sessions[k]);
			if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
				return 2;
		}
	return 0;
}

/* The crypto alone, straight on BoringSSL, for the same packet: AES-128-CTR
 * over 160 bytes + HMAC-SHA1 over 176 (pads precomputed), and AES-128-GCM
 * over 12 AAD + 160 bytes. What libsrtp2 and the wrapper add is the rest. */
static void crypto_floor(double *cm, double *gcm)
{
	enum { N = 200000 };
	uint8_t k[16] = {1}, iv[16] = {0}, ec[16], buf[12 + PAYLOAD + 16] = {0}, tag[20];
	unsigned num;
	AES_KEY ak;
	SHA_CTX in, w;
	uint8_t pad[64];
	EVP_CIPHER_CTX ctx;

	AES_set_encrypt_key(k, 128, &ak);
	memset(pad, 0x36, sizeof(pad));
	SHA1_Init(&in);
	SHA1_Update(&in, pad, sizeof(pad));
	uint64_t t0 = sbc_thread_cpu_ns();
	for (int i = 0; i < N; i++) {
		iv[13] = (uint8_t)i;
		num = 0;
		AES_ctr128_encrypt(buf + 12, buf + 12, PAYLOAD, &ak, iv, ec, &num);
		w = in;
		SHA1_Update(&w, buf, 12 + PAYLOAD + 4);
		SHA1_Final(tag, &w);
		w = in;
		SHA1_Update(&w, tag, 20);
		SHA1_Final(tag, &w);
	}
	uint64_t t1 = sbc_thread_cpu_ns();
	EVP_CIPHER_CTX_init(&ctx);
	EVP_CipherInit_ex(&ctx, EVP_aes_128_gcm(), NULL, k, NULL, 1);
	for (int i = 0; i < N; i++) {
		iv[11] = (uint8_t)i;
		EVP_CipherInit_ex(&ctx, NULL, NULL, NULL, iv, 1);
		EVP_Cipher(&ctx, NULL, buf, 12);
		EVP_Cipher(&ctx, buf + 12, buf + 12, PAYLOAD);
		EVP_Cipher(&ctx, NULL, NULL, 0);
		EVP_CIPHER_CTX_ctrl(&ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
	}
	uint64_t t2 = sbc_thread_cpu_ns();
	EVP_CIPHER_CTX_cleanup(&ctx);
	*cm = (double)(t1 - t0) / N;
	*gcm = (double)(t2 - t1) / N;
}

static const char *target(unsigned suite)
{
	switch (suite) {
	case SBC_SRTP_AES_CM_128_HMAC_SHA1_80:
		return "~180 ns, flat";
	case SBC_SRTP_AEAD_AES_128_GCM:
		return "~130 ns, flat";
	default:
		return "flat";
	}
}

int main(void)
{
	result stock[sizeof(stock_suites) / sizeof(stock_suites[0]) * NSTOCK];
	size_t nstock = 0;
	char err[256];
	int fd[2], st, rc = 0;

	/* the stock child must start before the types are replaced here */
	if (pipe(fd) != 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		_exit(stock_child(fd[1]));
	}
	close(fd[1]);
	while (nstock < sizeof(stock) / sizeof(stock[0]) &&
	       read(fd[0], &stock[nstock], sizeof(stock[0])) == (ssize_t)sizeof(stock[0]))
		nstock++;
	close(fd[0]);
	waitpid(pid, &st, 0);

	if (med_srtp_global_init(err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_srtp: %s\n", err);
		return 1;
	}
	printf("SRTP per packet (RTP, %d-byte payload), CPU ns; %s\n", PAYLOAD, err);
	printf("%-24s %9s %11s %13s   %s\n", "suite", "sessions", "protect ns", "unprotect ns",
	       "target / reference");
	for (unsigned s = SBC_SRTP_NONE + 1; s < SBC_SRTP_SUITE_MAX_; s++) {
		double best = 0, worst = 0;
		for (size_t k = 0; k < NSESS; k++) {
			result r = run_ours(s, sessions[k]);
			if (!r.ok) {
				printf("%-24s %9u  FAILED\n", med_srtp_suite_name(s), sessions[k]);
				rc = 1;
				continue;
			}
			printf("%-24s %9u %11.0f %13.0f   %s\n", med_srtp_suite_name(s), r.sessions,
			       r.prot_ns, r.unprot_ns, target(s));
			double m = r.prot_ns > r.unprot_ns ? r.prot_ns : r.unprot_ns;
			if (r.sessions == 10000)
				printf("%-24s %9s  memory: %.1f KB per session (outbound + inbound context)\n",
				       "", "", r.bytes_per_session / 1024);
			if (k == 0 || m < best)
				best = m;
			if (m > worst)
				worst = m;
		}
		printf("%-24s %9s  slowest/fastest session count = %.2fx (flat: ~1x)\n", "", "",
		       worst / best);
	}
	double fcm, fgcm;
	crypto_floor(&fcm, &fgcm);
	printf("\ncrypto floor on this machine now (BoringSSL alone, no SRTP): "
	       "AES-CTR+HMAC-SHA1 %.0f ns, AES-GCM %.0f ns\n", fcm, fgcm);
	printf("\nstock Debian libsrtp2 2.5.0 (NSS), forked child, capped ~1 s per figure:\n");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || nstock == 0)
		printf("  stock run failed (status %d)\n", st);
	for (size_t i = 0; i < nstock; i++) {
		if (!stock[i].ok) {
			printf("%-24s %9u  FAILED\n", med_srtp_suite_name(stock[i].suite),
			       stock[i].sessions);
			continue;
		}
		result ours = run_ours(stock[i].suite, stock[i].sessions);
		printf("%-24s %9u %11.0f %13.0f   ref ~1600 ns growing; ours %.0f/%.0f ns = %.1fx faster\n",
		       med_srtp_suite_name(stock[i].suite), stock[i].sessions, stock[i].prot_ns,
		       stock[i].unprot_ns, ours.prot_ns, ours.unprot_ns,
		       ours.ok ? (stock[i].prot_ns + stock[i].unprot_ns) /
					 (ours.prot_ns + ours.unprot_ns)
				: 0.0);
	}
	return rc;
}
