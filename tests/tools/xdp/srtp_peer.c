/* srtp_peer — RTP/SRTP end point for the AF_XDP namespace tests, on
 * Debian's libsrtp2 as installed (independent of the relay's crypto).
 *
 *   srtp_peer send BIND DEST COUNT PAYLOAD SUITE KEYHEX
 *   srtp_peer recv BIND COUNT TIMEOUT_MS SUITE KEYHEX
 *
 * SUITE: none | AES_CM_128_HMAC_SHA1_80 | AEAD_AES_128_GCM. Packet i: RTP v2,
 * PT 0, seq 1000+i, ts 160*i, SSRC 0x5bc0ffee, PAYLOAD bytes (i*3 + k) & 0xff.
 * recv prints "READY", then one JSON line: {"ok":N,"bad":N,"auth_fail":N,
 * "src":"ip:port"}: ok = decrypted (or plain) with the expected payload for
 * its sequence number.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <srtp2/srtp.h>

#include "sbc/sockaddr.h"

#define SSRC 0x5bc0ffeeu

static int hexkey(const char *hex, uint8_t *key, size_t cap)
{
	size_t n = strlen(hex);
	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		key[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

/* 0 plain, 1 SRTP ready in *s; -1 bad suite. */
static int mk_srtp(const char *suite, const char *keyhex, int outbound, srtp_t *s)
{
	static uint8_t key[64];
	srtp_policy_t pol;

	if (!strcmp(suite, "none"))
		return 0;
	memset(&pol, 0, sizeof(pol));
	if (!strcmp(suite, "AES_CM_128_HMAC_SHA1_80")) {
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	} else if (!strcmp(suite, "AEAD_AES_128_GCM")) {
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
	} else {
		return -1;
	}
	if (hexkey(keyhex, key, sizeof(key)) < 0)
		return -1;
	pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
	pol.key = key;
	pol.window_size = 128;
	if (srtp_init() || srtp_create(s, &pol))
		return -1;
	return 1;
}

static int mksock(const char *bind_text, sbc_addr *a)
{
	if (sbc_addr_parse(bind_text, -1, a))
		return -1;
	int fd = socket(a->sa.sa_family, SOCK_DGRAM, 0);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (fd < 0 || bind(fd, &a->sa, sbc_addr_len(a)) < 0)
		return -1;
	return fd;
}

static void fill(uint8_t *p, unsigned i, int n)
{
	for (int k = 0; k < n; k++)
		p[k] = (uint8_t)(i * 3 + (unsigned)k);
}

int main(int argc, char **argv)
{
	srtp_t s = NULL;
	sbc_addr me, to, from;
	uint8_t pkt[2048], want[2048];

	if (argc < 7)
		return 2;
	int fd = mksock(argv[2], &me);
	if (fd < 0) {
		perror("bind");
		return 1;
	}
	if (!strcmp(argv[1], "send") && argc == 8) {
		int count = atoi(argv[4]), plen = atoi(argv[5]);
		int srtp = mk_srtp(argv[6], argv[7], 1, &s);
		if (srtp < 0 || sbc_addr_parse(argv[3], -1, &to) || plen < 0 || plen > 1400)
			return 2;
		for (int i = 0; i < count; i++) {
			pkt[0] = 0x80;
			pkt[1] = 0;
			uint16_t seq = htons((uint16_t)(1000 + i));
			uint32_t ts = htonl(160u * (unsigned)i), ssrc = htonl(SSRC);
			memcpy(pkt + 2, &seq, 2);
			memcpy(pkt + 4, &ts, 4);
			memcpy(pkt + 8, &ssrc, 4);
			fill(pkt + 12, (unsigned)i, plen);
			int len = 12 + plen;
			if ((srtp && srtp_protect(s, pkt, &len) != srtp_err_status_ok) ||
			    sendto(fd, pkt, (size_t)len, 0, &to.sa, sbc_addr_len(&to)) < 0) {
				perror("srtp_peer: send");
				return 1;
			}
			if (i % 16 == 15)
				usleep(1000); /* paced: a veth in native XDP mode queues 256 */
		}
		goto Done;
	}
	if (!strcmp(argv[1], "recv") && argc == 7) {
		int count = atoi(argv[3]), timeout = atoi(argv[4]);
		int srtp = mk_srtp(argv[5], argv[6], 0, &s);
		int ok = 0, bad = 0, auth = 0, first_missing = -1;
		static uint8_t seen[65536];
		char src[SBC_ADDR_STRLEN] = "";
		if (srtp < 0)
			return 2;
		printf("READY\n");
		fflush(stdout);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		while (ok + bad + auth < count && poll(&pfd, 1, timeout) > 0) {
			socklen_t sl = sizeof(from);
			ssize_t got = recvfrom(fd, pkt, sizeof(pkt), 0, &from.sa, &sl);
			if (got < 0)
				continue;
			sbc_addr_format(&from, src, sizeof(src));
			int len = (int)got;
			if (srtp && srtp_unprotect(s, pkt, &len) != srtp_err_status_ok) {
				auth++;
				continue;
			}
			uint16_t seq;
			memcpy(&seq, pkt + 2, 2);
			unsigned i = (unsigned)(uint16_t)(ntohs(seq) - 1000);
			fill(want, i, len - 12);
			if (len >= 12 && pkt[0] == 0x80 && memcmp(pkt + 12, want, (size_t)len - 12) == 0)
				ok++, seen[i & 0xffff] = 1;
			else
				bad++;
		}
		for (int i = 0; i < count && i < 65536; i++)
			if (!seen[i]) {
				first_missing = i;
				break;
			}
		printf("{\"ok\":%d,\"bad\":%d,\"auth_fail\":%d,\"src\":\"%s\",\"first_missing\":%d}\n",
		       ok, bad, auth, src, first_missing);
		fflush(stdout);
		goto Done;
	}
	return 2;
Done:
	if (s) {
		srtp_dealloc(s);
		srtp_shutdown();
	}
	close(fd);
	return 0;
}
