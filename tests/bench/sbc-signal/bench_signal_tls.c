/* bench_signal_tls — sbc-signal TLS benchmark.
 *
 * Usage: bench_signal_tls [--quick] [--tls-only] [--reps N] [--side-by-side] | --floor-only
 *
 * 1. Measures the crypto floor of this BoringSSL build in CPU time (what
 *    one full handshake cannot go below on this machine): X25519 key share,
 *    P-256 ECDHE share (a client whose key share is P-256), ECDSA P-256 and
 *    RSA-2048 signatures, ECDSA verification (mutual TLS).
 *    --hs-only SRV_CERT SRV_KEY [CA CLIENT_CERT CLIENT_KEY]: the library's
 *    own CPU per full TLS 1.3 server handshake, client and server in this
 *    process over a BIO pair (no kernel, no sbc-signal): the server's calls
 *    alone are timed (thread CPU clock, its own cost subtracted). Less the
 *    crypto floor, this is what libssl and the rest of libcrypto (transcript
 *    hash, HKDF, record AEAD, ticket, X.509 parsing and path checks, malloc)
 *    take per handshake, which the bench's verdict lines need to say whether
 *    a target is reachable. With CA..: mutual TLS, the client chain verified
 *    against CA every handshake (as sbc-signal with SBC_TLS_VERIFY_CACHE=0).
 * 2. Runs the load scenarios against a real sbc-signal with our epoll load
 *    tool (tests/tools/signal/sig_tlsload.c): tests/bench/sbc-signal/
 *    bench_signal_tls.py does the orchestration and prints the figures with
 *    the targets beside them; the floors are handed over in the environment.
 */
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/curve25519.h>
#include <openssl/ecdh.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbc/clock.h"

static double per_op_us(uint64_t t0, int n) { return (double)(sbc_process_cpu_ns() - t0) / n / 1e3; }

/* The file the dynamic linker took libcrypto from (Debian's or a rebuilt one
 * under LD_LIBRARY_PATH), so every figure says which build it measured. */
static const char *libcrypto_path(void)
{
	static char line[PATH_MAX + 128];
	FILE *f = fopen("/proc/self/maps", "r");
	const char *r = "?";
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		if (p && strstr(p, "/libcrypto.so.0")) {
			p[strcspn(p, "\n")] = 0;
			r = p;
			break;
		}
	}
	if (f)
		fclose(f);
	return r;
}

/* --- in-memory handshakes (--hs-only) ------------------------------------------ */

static uint64_t thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The server side configured as sig_tls_profile.c's make_ctx does for the
 * benchmark's profiles: TLS 1.3, X25519 first, one ticket, the client's
 * certificate kept only as its hash, verified against CA when given. */
static SSL_CTX *hs_server_ctx(const char *cert, const char *key, const char *ca)
{
	SSL_CTX *c = SSL_CTX_new(TLS_method());
	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set1_curves_list(c, "X25519:P-256:P-384") ||
	    SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1)
		goto Fail;
	if (ca) {
		if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1)
			goto Fail;
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_verify_depth(c, 4);
		SSL_CTX_set_retain_only_sha256_of_client_certs(c, 1);
	}
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_BOTH);
	SSL_CTX_set_num_tickets(c, 1);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	return c;
Fail:
	SSL_CTX_free(c);
	return NULL;
}

static SSL_CTX *hs_client_ctx(const char *cert, const char *key)
{
	SSL_CTX *c = SSL_CTX_new(TLS_method());
	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    (cert && (SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
		      SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1))) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

/* One full handshake over a BIO pair; adds the server's CPU time (SSL_new,
 * its handshake steps, SSL_free) to *srv_ns and the number of timed
 * sections to *sections. 0 on success. */
static int hs_one(SSL_CTX *sc, SSL_CTX *cc, uint64_t *srv_ns, unsigned *sections)
{
	BIO *sb = NULL, *cb = NULL;
	if (!BIO_new_bio_pair(&sb, 0, &cb, 0))
		return -1;
	uint64_t t = thread_ns();
	SSL *s = SSL_new(sc);
	*srv_ns += thread_ns() - t;
	SSL *c = SSL_new(cc);
	int ret = -1;
	if (!s || !c)
		goto Exit;
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	sb = cb = NULL;
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	int cdone = 0, sdone = 0;
	for (int step = 0; step < 16 && !(cdone && sdone); step++) {
		if (!cdone) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				goto Exit;
		}
		t = thread_ns();
		int r = SSL_do_handshake(s);
		*srv_ns += thread_ns() - t;
		(*sections)++;
		if (r == 1)
			sdone = 1;
		else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
			goto Exit;
	}
	ret = cdone && sdone ? 0 : -1;
Exit:
	SSL_free(c);
	t = thread_ns();
	SSL_free(s);
	*srv_ns += thread_ns() - t;
	*sections += 2; /* SSL_new and SSL_free */
	BIO_free(sb);
	BIO_free(cb);
	return ret;
}

static int hs_only(int argc, char **argv)
{
	if (argc != 4 && argc != 7) {
		fprintf(stderr, "usage: bench_signal_tls --hs-only SRV_CERT SRV_KEY [CA CLIENT_CERT CLIENT_KEY]\n");
		return 2;
	}
	int mtls = argc == 7;
	SSL_CTX *sc = hs_server_ctx(argv[2], argv[3], mtls ? argv[4] : NULL);
	SSL_CTX *cc = hs_client_ctx(mtls ? argv[5] : NULL, mtls ? argv[6] : NULL);
	if (!sc || !cc) {
		fprintf(stderr, "bench_signal_tls: cannot set up the TLS contexts\n");
		SSL_CTX_free(sc);
		SSL_CTX_free(cc);
		return 1;
	}
	/* what one timed section's two clock reads cost, to subtract */
	const int nclk = 20000;
	uint64_t t = thread_ns();
	for (int i = 0; i < nclk; i++)
		(void)thread_ns();
	double clk_ns = (double)(thread_ns() - t) / nclk;
	uint64_t srv = 0;
	unsigned sections = 0;
	int fails = 0;
	for (int i = 0; i < 20; i++) /* warm-up: tables, caches */
		fails += hs_one(sc, cc, &srv, &sections) != 0;
	/* batches of 100: the machine's other load only ever adds time (cache
	 * and core sharing), so the least batch is the library's own figure and
	 * the median says how steady it was */
	enum { BATCHES = 7, PER = 100 };
	double b[BATCHES];
	for (int k = 0; k < BATCHES; k++) {
		srv = 0;
		sections = 0;
		for (int i = 0; i < PER; i++)
			fails += hs_one(sc, cc, &srv, &sections) != 0;
		b[k] = ((double)srv - (double)sections * clk_ns) / PER / 1e3;
	}
	for (int i = 1; i < BATCHES; i++) /* insertion sort: seven figures */
		for (int j = i; j > 0 && b[j] < b[j - 1]; j--) {
			double x = b[j];
			b[j] = b[j - 1];
			b[j - 1] = x;
		}
	printf("hs_us=%.1f hs_med_us=%.1f clock_ns=%.0f sections=%.1f failed=%d lib=%s\n", b[0],
	       b[BATCHES / 2], clk_ns, (double)sections / PER, fails, libcrypto_path());
	SSL_CTX_free(sc);
	SSL_CTX_free(cc);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--hs-only") == 0)
		return hs_only(argc, argv);
	/* --floor-only: print the floors as key=value and stop (the script calls
	 * this once per BoringSSL build, with LD_LIBRARY_PATH choosing it) */
	int floor_only = argc > 1 && strcmp(argv[1], "--floor-only") == 0;
	uint8_t pub[32], priv[32], out[32], dg[32] = {1}, sig[80], rs[256];
	unsigned sl, rl;
	const int n = 400;
	uint64_t t = sbc_process_cpu_ns();
	for (int i = 0; i < n; i++) {
		X25519_keypair(pub, priv);
		X25519(out, priv, pub);
	}
	double x25519 = per_op_us(t, n);
	EC_KEY *k = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EC_KEY_generate_key(k);
	/* the same server share with P-256 (what a client offering a P-256 key
	 * share costs): a fresh key pair and the shared point from the peer's */
	const EC_POINT *peer = EC_KEY_get0_public_key(k);
	t = sbc_process_cpu_ns();
	for (int i = 0; i < n; i++) {
		EC_KEY *e1 = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
		if (!e1 || !EC_KEY_generate_key(e1) || ECDH_compute_key(out, sizeof(out), peer, e1, NULL) != 32)
			fprintf(stderr, "P-256 ECDH failed\n");
		EC_KEY_free(e1);
	}
	double p256 = per_op_us(t, n);
	t = sbc_process_cpu_ns();
	for (int i = 0; i < n; i++)
		ECDSA_sign(0, dg, 32, sig, &sl, k);
	double ecsign = per_op_us(t, n);
	t = sbc_process_cpu_ns();
	for (int i = 0; i < n; i++)
		ECDSA_verify(0, dg, 32, sig, sl, k);
	double ecverify = per_op_us(t, n);
	RSA *r = RSA_new();
	BIGNUM *e = BN_new();
	BN_set_word(e, 65537);
	RSA_generate_key_ex(r, 2048, e, NULL);
	t = sbc_process_cpu_ns();
	for (int i = 0; i < 50; i++)
		RSA_sign(NID_sha256, dg, 32, rs, &rl, r);
	double rsasign = per_op_us(t, 50);
	if (floor_only) {
		printf("x25519=%.1f p256=%.1f ecsign=%.1f ecverify=%.1f rsasign=%.1f lib=%s\n", x25519,
		       p256, ecsign, ecverify, rsasign, libcrypto_path());
		RSA_free(r);
		BN_free(e);
		EC_KEY_free(k);
		return 0;
	}
	printf("crypto floor of this BoringSSL build (CPU us per op): X25519 share %.1f, "
	       "P-256 ECDHE share %.1f, ECDSA-P256 sign %.1f, ECDSA-P256 verify %.1f, RSA-2048 sign %.1f\n",
	       x25519, p256, ecsign, ecverify, rsasign);
	char buf[64];
	snprintf(buf, sizeof(buf), "%.1f", x25519);
	setenv("SIG_FLOOR_X25519_US", buf, 1);
	snprintf(buf, sizeof(buf), "%.1f", p256);
	setenv("SIG_FLOOR_P256_US", buf, 1);
	snprintf(buf, sizeof(buf), "%.1f", ecsign);
	setenv("SIG_FLOOR_ECSIGN_US", buf, 1);
	snprintf(buf, sizeof(buf), "%.1f", ecverify);
	setenv("SIG_FLOOR_ECVERIFY_US", buf, 1);
	snprintf(buf, sizeof(buf), "%.1f", rsasign);
	setenv("SIG_FLOOR_RSASIGN_US", buf, 1);
	RSA_free(r);
	BN_free(e);
	EC_KEY_free(k);
	fflush(stdout);

	/* find the orchestration script: $SBC_REPO, the current directory
	 * (make bench runs from the top), or next to the build directory */
	char path[PATH_MAX];
	const char *cands[3] = {getenv("SBC_REPO"), ".", NULL};
	char exe[PATH_MAX];
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (el > 0) {
		exe[el] = 0;
		for (int up = 0; up < 3; up++) {
			char *s = strrchr(exe, '/');
			if (s)
				*s = 0;
		}
		cands[2] = exe;
	}
	for (int i = 0; i < 3; i++) {
		if (!cands[i])
			continue;
		snprintf(path, sizeof(path), "%s/tests/bench/sbc-signal/bench_signal_tls.py", cands[i]);
		if (access(path, R_OK) == 0) {
			char *args[16] = {"/usr/bin/python3", path, NULL};
			for (int a = 1; a < argc && a < 14; a++)
				args[a + 1] = argv[a];
			execv(args[0], args);
			perror("execv python3");
			return 1;
		}
	}
	fprintf(stderr, "bench_signal_tls.py not found (set SBC_REPO)\n");
	return 1;
}
