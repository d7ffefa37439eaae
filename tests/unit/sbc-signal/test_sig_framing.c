/* Unit tests: SIP framing on streams and datagrams (sig_framing.c), with a
 * small fuzz-style random test (fixed seed, reproducible). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sbc/err.h"
#include "../../../sbc-signal/src/sig_framing.h"

static const sig_frame_limits LIM = {1024, 4096};

static const char MSG1[] = "OPTIONS sip:a@b SIP/2.0\r\n"
			   "Via: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
			   "Content-Length: 5\r\n"
			   "\r\n"
			   "hello";
static const char MSG2[] = "SIP/2.0 200 OK\r\n"
			   "l: 0\r\n"
			   "\r\n";

/* Frames a copy of s[0..n) in a heap buffer of exactly n bytes, so that a
 * read past the end (the scans load eight bytes at a time) is an ASan
 * error under make SAN=1, not a read of the caller's spare bytes. The
 * offsets in *f are the same for the copy. */
static int frame(const char *s, size_t n, sig_frame *f)
{
	char *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	int r = sig_frame_stream(copy, n, &LIM, f);
	free(copy);
	return r;
}

static void test_single(void **st)
{
	sig_frame f;
	assert_int_equal(frame(MSG1, strlen(MSG1), &f), SIG_FRAME_MESSAGE);
	assert_int_equal(f.consumed, strlen(MSG1));
	assert_int_equal(f.body_len, 5);
	assert_int_equal(f.hdr_len, strlen(MSG1) - 5);
	(void)st;
}

/* Compact forms: "c" (Content-Type) is not "l" (Content-Length); header
 * lines long enough for the eight-byte scan, UTF-8 in a value; a control
 * byte or DEL anywhere in a long line is still refused. */
static void test_compact_and_long_lines(void **st)
{
	static const char m[] = "INVITE sip:a@b SIP/2.0\r\n"
				"Via: SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK-0123456789abcdef\r\n"
				"c: application/sdp\r\n"
				"Subject: caf\xc3\xa9 \xe2\x98\x8e long subject line with many words in it\r\n"
				"l: 4\r\n"
				"\r\n"
				"v=0\n";
	sig_frame f;
	assert_int_equal(frame(m, strlen(m), &f), SIG_FRAME_MESSAGE);
	assert_int_equal(f.body_len, 4);
	assert_int_equal(f.hdr_len, strlen(m) - 4);
	char bad[sizeof(m)];
	static const char inject[] = {0x01, 0x7f, 0x00, 0x1f};
	for (size_t k = 0; k < sizeof(inject); k++) {
		memcpy(bad, m, sizeof(m));
		bad[40 + k * 9] = inject[k]; /* inside the Via line */
		assert_true(frame(bad, sizeof(m) - 1, &f) < 0);
		assert_int_equal(f.why, SIG_FRAME_E_GARBAGE);
	}
	(void)st;
}

static void test_pipelined(void **st)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s%s%s", MSG1, MSG2, MSG1);
	sig_frame f;
	size_t off = 0;
	int count = 0;
	while (off < (size_t)n) {
		int r = frame(buf + off, (size_t)n - off, &f);
		assert_int_equal(r, SIG_FRAME_MESSAGE);
		off += f.consumed;
		count++;
	}
	assert_int_equal(count, 3);
	assert_int_equal(off, (size_t)n);
	(void)st;
}

static void test_split_every_prefix(void **st)
{
	sig_frame f;
	size_t n = strlen(MSG1);
	for (size_t k = 0; k < n; k++) {
		int r = frame(MSG1, k, &f);
		if (k == 0) {
			assert_int_equal(r, SIG_FRAME_NEED_MORE);
			continue;
		}
		assert_int_equal(r, SIG_FRAME_NEED_MORE);
	}
	assert_int_equal(frame(MSG1, n, &f), SIG_FRAME_MESSAGE);
	(void)st;
}

static void test_keepalive(void **st)
{
	sig_frame f;
	assert_int_equal(frame("\r\n\r\n", 4, &f), SIG_FRAME_PING);
	assert_int_equal(f.consumed, 4);
	assert_int_equal(frame("\r\n", 2, &f), SIG_FRAME_PONG);
	assert_int_equal(f.consumed, 2);
	assert_int_equal(frame("\r\n\r", 3, &f), SIG_FRAME_NEED_MORE);
	/* a pong followed by a message */
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "\r\n%s", MSG2);
	assert_int_equal(frame(buf, (size_t)n, &f), SIG_FRAME_PONG);
	assert_int_equal(frame(buf + 2, (size_t)n - 2, &f), SIG_FRAME_MESSAGE);
	/* ping then a message */
	n = snprintf(buf, sizeof(buf), "\r\n\r\n%s", MSG2);
	assert_int_equal(frame(buf, (size_t)n, &f), SIG_FRAME_PING);
	assert_int_equal(frame(buf + 4, (size_t)n - 4, &f), SIG_FRAME_MESSAGE);
	/* datagram keep-alive */
	assert_int_equal(sig_frame_datagram("\r\n\r\n", 4, &LIM, &f), SIG_FRAME_PING);
	(void)st;
}

static void test_errors(void **st)
{
	sig_frame f;
	const char *no_cl = "INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n";
	assert_int_equal(frame(no_cl, strlen(no_cl), &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_NO_CLEN);

	const char *big = "INVITE sip:x SIP/2.0\r\nContent-Length: 4097\r\n\r\n";
	assert_int_equal(frame(big, strlen(big), &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_BODY_TOO_BIG);

	const char *conflict = "INVITE sip:x SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
	assert_int_equal(frame(conflict, strlen(conflict), &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_BAD_CLEN);

	const char *same = "INVITE sip:x SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab";
	assert_int_equal(frame(same, strlen(same), &f), SIG_FRAME_MESSAGE);

	const char *neg = "INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n";
	assert_int_equal(frame(neg, strlen(neg), &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_BAD_CLEN);

	const char *junk = "INVITE sip:x SIP/2.0\r\nContent-Length: 12abc\r\n\r\n";
	assert_int_equal(frame(junk, strlen(junk), &f), sbc_err_sip(400));

	const char *huge = "INVITE sip:x SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n";
	assert_int_equal(frame(huge, strlen(huge), &f), sbc_err_sip(400));

	/* binary garbage is refused at once, even without a line end */
	const char bin[] = {0x16, 0x03, 0x01, 0x00, 0x05};
	assert_int_equal(frame(bin, sizeof(bin), &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_GARBAGE);
	/* "hello" is a token, a method we do not know (RFC 3261 7.1): the
	 * comma makes it garbage; a lower-case method is framed (501 later) */
	assert_int_equal(frame("hello, world\r\n", 14, &f), sbc_err_sip(400));
	const char low[] = "invite sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(frame(low, sizeof(low) - 1, &f), SIG_FRAME_MESSAGE);
	assert_int_equal(frame("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, &f), sbc_err_sip(400));
	assert_int_equal(frame("SIP/3.0 200 OK\r\n", 16, &f), sbc_err_sip(400));
	const char nulm[] = "OPT\0ONS sip:x SIP/2.0\r\n";
	assert_int_equal(frame(nulm, sizeof(nulm) - 1, &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_GARBAGE);
	const char nul[] = "OPTIONS sip:x SIP/2.0\r\nVia: a\0b\r\n";
	assert_int_equal(frame(nul, sizeof(nul) - 1, &f), sbc_err_sip(400));
	assert_int_equal(frame("OPTIONS sip:x SIP/2.0\nVia: x\n\n", 30, &f), sbc_err_sip(400));
	(void)st;
}

static void test_header_limit(void **st)
{
	char buf[2048];
	sig_frame f;
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "OPTIONS sip:x SIP/2.0\r\nX: ", 26);
	assert_int_equal(frame(buf, 1023, &f), SIG_FRAME_NEED_MORE);
	assert_int_equal(frame(buf, 1024, &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_HDR_TOO_BIG);
	assert_int_equal(frame(buf, sizeof(buf), &f), sbc_err_sip(400));
	(void)st;
}

static void test_datagram(void **st)
{
	sig_frame f;
	const char *nocl = "MESSAGE sip:x SIP/2.0\r\nVia: x\r\n\r\nbody";
	assert_int_equal(sig_frame_datagram(nocl, strlen(nocl), &LIM, &f), SIG_FRAME_MESSAGE);
	assert_int_equal(f.body_len, 4);
	const char *longer = "MESSAGE sip:x SIP/2.0\r\nl: 2\r\n\r\nbody";
	assert_int_equal(sig_frame_datagram(longer, strlen(longer), &LIM, &f), SIG_FRAME_MESSAGE);
	assert_int_equal(f.body_len, 2);
	const char *shorter = "MESSAGE sip:x SIP/2.0\r\nl: 20\r\n\r\nbody";
	assert_int_equal(sig_frame_datagram(shorter, strlen(shorter), &LIM, &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_SHORT_BODY);
	const char *trunc = "MESSAGE sip:x SIP/2.0\r\nl: 0\r\n";
	assert_int_equal(sig_frame_datagram(trunc, strlen(trunc), &LIM, &f), sbc_err_sip(400));
	(void)st;
}

/* --- fuzz-style: random chunking of a valid stream, random corruption --- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

#define ACC_MAX (1024 + 4096 + 4)

/* Feeds buf to a stream framer in random chunks the way sig_conn.c does
 * (a bounded accumulation buffer); returns messages framed, or -1 at the
 * first error. Checks the framer's invariants on every call. */
static int feed_chunks(const char *buf, size_t len, uint64_t *sum)
{
	static char acc[ACC_MAX];
	size_t acc_len = 0, pos = 0;
	int msgs = 0;
	while (pos < len) {
		size_t chunk = 1 + rnd() % 300;
		if (chunk > len - pos)
			chunk = len - pos;
		if (acc_len + chunk > ACC_MAX)
			chunk = ACC_MAX - acc_len;
		memcpy(acc + acc_len, buf + pos, chunk);
		acc_len += chunk;
		pos += chunk;
		for (;;) {
			sig_frame f;
			int r = frame(acc, acc_len, &f);
			if (r < 0)
				return -1;
			if (r == SIG_FRAME_NEED_MORE) {
				assert_true(acc_len < ACC_MAX);
				break;
			}
			assert_true(f.consumed > 0 && f.consumed <= acc_len);
			if (r == SIG_FRAME_MESSAGE) {
				assert_int_equal(f.consumed, f.hdr_len + f.body_len);
				*sum += f.body_len * 31u + f.hdr_len;
				msgs++;
			}
			memmove(acc, acc + f.consumed, acc_len - f.consumed);
			acc_len -= f.consumed;
		}
	}
	return msgs;
}

static void test_fuzz_chunking(void **st)
{
	static char buf[64 * 1024];
	for (int iter = 0; iter < 300; iter++) {
		size_t len = 0;
		int want = 0;
		uint64_t want_sum = 0;
		while (len < sizeof(buf) - 3000) {
			int kind = (int)(rnd() % 5);
			if (kind == 0) {
				memcpy(buf + len, "\r\n\r\n", 4);
				len += 4;
				continue;
			}
			unsigned body = rnd() % 600;
			int n = snprintf(buf + len, sizeof(buf) - len,
					 "MESSAGE sip:%u@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z%u\r\n"
					 "%s: %u\r\n\r\n",
					 rnd(), rnd(), (rnd() & 1) ? "Content-Length" : "l", body);
			want_sum += body * 31u + (unsigned)n;
			len += (size_t)n;
			memset(buf + len, 'b', body);
			len += body;
			want++;
			if (rnd() % 8 == 0)
				break;
		}
		uint64_t sum = 0;
		assert_int_equal(feed_chunks(buf, len, &sum), want);
		assert_true(sum == want_sum);
	}
	(void)st;
}

static void test_fuzz_random(void **st)
{
	static char buf[8192];
	static const char *seeds[] = {MSG1, MSG2, "\r\n\r\n",
				      "INVITE sip:x SIP/2.0\r\nl: 3\r\nVia: a\r\n b\r\n\r\nxyz"};
	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		if (iter % 3 == 0) { /* pure noise */
			len = rnd() % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)rnd();
		} else { /* a valid message with a few mutations */
			const char *s = seeds[rnd() % 4];
			len = strlen(s);
			memcpy(buf, s, len);
			int muts = 1 + (int)(rnd() % 4);
			for (int m = 0; m < muts && len; m++) {
				size_t at = rnd() % len;
				switch (rnd() % 4) {
				case 0: buf[at] = (char)rnd(); break;
				case 1: buf[at] = "\r\n: 0123456789"[rnd() % 14]; break;
				case 2: len = at; break; /* truncate */
				default:
					if (len + 8 < sizeof(buf)) {
						memmove(buf + at + 8, buf + at, len - at);
						memcpy(buf + at, "\r\nl: 99", 7);
						buf[at + 7] = '9';
						len += 8;
					}
				}
			}
		}
		sig_frame f;
		int r = frame(buf, len, &f);
		assert_true(r == SIG_FRAME_NEED_MORE || r == SIG_FRAME_MESSAGE || r == SIG_FRAME_PING ||
			    r == SIG_FRAME_PONG || r == sbc_err_sip(400));
		if (r > 0)
			assert_true(f.consumed <= len && f.consumed > 0);
		if (r == SIG_FRAME_MESSAGE)
			assert_true((size_t)f.hdr_len + f.body_len <= len && f.body_len <= LIM.max_body);
		if (r == SIG_FRAME_NEED_MORE)
			assert_true(len < LIM.max_header + LIM.max_body + 4);
		r = sig_frame_datagram(buf, len, &LIM, &f);
		if (r == SIG_FRAME_MESSAGE)
			assert_true((size_t)f.hdr_len + f.body_len <= len);
		assert_true(r != SIG_FRAME_NEED_MORE);
	}
	(void)st;
}

/* find_hdr_end notes the lines that start with c/C/l/L and only those are
 * read for Content-Length, up to 8 of them; past 8 every line is read. With
 * 0..14 such decoy lines around the real one (and a second, conflicting or
 * equal, one at every place), the result must be what the rule says: the
 * value when the lines agree, 400 when they conflict, 400 without any. */
static void test_clen_among_many(void **st)
{
	static const char *const decoys[] = {"Call-ID: x@h", "CSeq: 1 INVITE", "Contact: <sip:a@b>", "contact: <sip:c@d>",
					     "Content-Type: application/sdp", "Lx: 4", "Content-Lengthy: 7", "C: text/plain",
					     "Call-Info: <http://x>;purpose=icon", "Via: SIP/2.0/TCP h"};
	static char buf[2048];
	unsigned checked = 0;
	for (int ndec = 0; ndec <= 14; ndec++) {
		for (int at = 0; at <= ndec; at++) {
			for (int second = -1; second <= ndec; second++) {
				for (int conflict = 0; conflict < 2; conflict++) {
					if (second < 0 && conflict)
						continue;
					size_t n = (size_t)snprintf(buf, sizeof(buf), "INVITE sip:x SIP/2.0\r\n");
					for (int d = 0; d <= ndec; d++) {
						if (d == at)
							n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s: 3\r\n",
									      d % 2 ? "l" : "Content-Length");
						if (d == second)
							n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s:%s\r\n",
									      d % 2 ? "content-length" : "L",
									      conflict ? " 4" : "\t3 ");
						if (d < ndec)
							n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\r\n",
									      decoys[(d + at) % 10]);
						if (d == 3) /* a folded line that would look like l: */
							n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Subject: a\r\n l: 9\r\n");
					}
					n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\nabcd");
					sig_frame f;
					int r = frame(buf, n, &f);
					if (conflict) {
						assert_int_equal(r, sbc_err_sip(400));
						assert_int_equal(f.why, SIG_FRAME_E_BAD_CLEN);
					} else {
						assert_int_equal(r, SIG_FRAME_MESSAGE);
						assert_int_equal(f.body_len, 3);
						assert_int_equal(f.consumed, n - 1);
					}
					checked++;
				}
			}
		}
	}
	/* no Content-Length among 12 decoys: refused on a stream */
	size_t n = (size_t)snprintf(buf, sizeof(buf), "INVITE sip:x SIP/2.0\r\n");
	for (int d = 0; d < 12; d++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\r\n", decoys[d % 10]);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
	sig_frame f;
	assert_int_equal(frame(buf, n, &f), sbc_err_sip(400));
	assert_int_equal(f.why, SIG_FRAME_E_NO_CLEN);
	/* a start line that begins with C (CANCEL) is not a header */
	static const char cancel[] = "CANCEL sip:x SIP/2.0\r\nl: 0\r\n\r\n";
	assert_int_equal(frame(cancel, sizeof(cancel) - 1, &f), SIG_FRAME_MESSAGE);
	assert_int_equal(f.consumed, sizeof(cancel) - 1);
	assert_true(checked > 1000);
	(void)st;
}

/* The scan jumps to the first special byte of each eight: a forbidden byte,
 * a bare CR or a bare LF at every offset of the headers is found. */
static void test_bad_byte_every_offset(void **st)
{
	static const char base[] = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
				   "Subject: abcdefghijklmnopqrstuvwxyz\r\nContent-Length: 0\r\n\r\n";
	static const char bad[] = {0x00, 0x01, 0x1f, 0x7f};
	char buf[sizeof(base)];
	size_t n = sizeof(base) - 1;
	size_t first_eol = (size_t)(strchr(base, '\r') - base);
	for (size_t at = first_eol + 2; at < n - 4; at++) {
		if (base[at] == '\r' || base[at] == '\n')
			continue;
		for (size_t b = 0; b < sizeof(bad) + 2; b++) {
			memcpy(buf, base, n);
			buf[at] = b < sizeof(bad) ? bad[b] : (b == sizeof(bad) ? '\r' : '\n');
			sig_frame f;
			int r = frame(buf, n, &f);
			if (r != sbc_err_sip(400) || f.why != SIG_FRAME_E_GARBAGE) {
				print_error("byte %02x at %zu: got %d why %u\n", (unsigned char)buf[at], at, r, f.why);
				fail();
			}
		}
		/* a tab or a UTF-8 byte there is fine */
		memcpy(buf, base, n);
		buf[at] = at % 2 ? '\t' : (char)0xc3;
		sig_frame f;
		int r = frame(buf, n, &f);
		if ((base[at - 1] == '\n' && buf[at] == '\t') || at >= (size_t)(strstr(base, "Content-") - base))
			continue; /* a fold, or Content-Length's own line changed */
		if (r != SIG_FRAME_MESSAGE) {
			print_error("byte %02x at %zu: got %d why %u\n", (unsigned char)buf[at], at, r, f.why);
			fail();
		}
	}
	(void)st;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_clen_among_many),
		cmocka_unit_test(test_bad_byte_every_offset),
		cmocka_unit_test(test_compact_and_long_lines),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_split_every_prefix),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_datagram),
		cmocka_unit_test(test_fuzz_chunking),
		cmocka_unit_test(test_fuzz_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
