/* bench_signal_tls — sbc-signal TLS benchmark.
 *
 * Usage: bench_signal_tls [--quick] [--tls-only] [--reps N] [--side-by-side] | --floor-only
 *
 * 1. Measures the crypto floor of this BoringSSL build in CPU time (what
 *    one full handshake cannot go below on this machine): X25519 key share,
 *    P-256 ECDHE share (a client whose key share is P-256), ECDSA P-256 and
 *    RSA-2048 signatures, ECDSA verification (mutual TLS).
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

int main(int argc, char **argv)
{
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
			char *args[8] = {"/usr/bin/python3", path, NULL};
			for (int a = 1; a < argc && a < 6; a++)
				args[a + 1] = argv[a];
			execv(args[0], args);
			perror("execv python3");
			return 1;
		}
	}
	fprintf(stderr, "bench_signal_tls.py not found (set SBC_REPO)\n");
	return 1;
}
