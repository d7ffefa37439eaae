/* RFC 3326 Reason relay cost: the CPU sbc-signal adds to a BYE (or CANCEL)
 * for carrying its Reason to the other leg (b2b_reason_lines: find the
 * Reason lines, check each value, copy the good ones) and to building the
 * BYE with them, measured as CPU time per BYE over many rounds:
 *   - a BYE without Reason (the scan for none),
 *   - a BYE with one Q.850 Reason,
 *   - a BYE with three Reason lines, one of them malformed,
 *   - the BYE built on the other leg with one Reason line, against the
 *     same BYE without (b2b_build_in_dialog).
 * Targets: the Reason work on a BYE with the usual one Q.850 Reason under
 * 300 ns (3 % of the 10 us of B2BUA message work per call, bench_b2b_sip,
 * and under 0.5 % of the 65 us per call of all of sbc-signal); with three
 * lines, one malformed (several values are rare), under 1 us. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../../sbc-signal/src/b2b_call.h"
#include "../../unit/sbc-signal/sip_samples.h"
#include "../../../sbc-signal/src/sip_build.h"
#include "../../../sbc-signal/src/sip_msg.h"

#define TARGET_NS 300.0
#define TARGET_MANY_NS 1000.0

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#define BYE_HEAD                                                                                                   \
	"BYE sip:sbc@203.0.113.5:5061;transport=tls SIP/2.0\r\n"                                                   \
	"Via: SIP/2.0/TLS 198.51.100.10:5061;branch=z9hG4bKbye1;rport\r\n"                                         \
	"Max-Forwards: 70\r\n"                                                                                     \
	"From: \"Alice\" <sip:+15550001111@198.51.100.10>;tag=a-tag-1\r\n"                                        \
	"To: <sip:+4930123456@203.0.113.5>;tag=sbc-a\r\n"                                                          \
	"Call-ID: 77abc@198.51.100.10\r\n"                                                                         \
	"CSeq: 11 BYE\r\n"                                                                                         \
	"User-Agent: CarrierA-SBC 1.0\r\n"

static const char BYE_NONE[] = BYE_HEAD "Content-Length: 0\r\n\r\n";
static const char BYE_ONE[] = BYE_HEAD "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n"
				       "Content-Length: 0\r\n\r\n";
static const char BYE_THREE[] = BYE_HEAD "Reason: Q.850;cause=16;text=\"Normal call clearing\"\r\n"
					 "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"
					 "Reason: Q.850;cause=999;text=\"bad\"\r\n"
					 "Content-Length: 0\r\n\r\n";

static sip_msg M;
static volatile int sink;

/* ns per b2b_reason_lines on the parsed msg (best of 3 runs of n) */
static double lines_ns(const char *msg, size_t len, int want, int n)
{
	char buf[B2B_REASON_BUF];
	const char *l[4];
	double best = 1e18;
	if (sip_parse(msg, len, &M) < 0)
		return -1;
	for (int run = 0; run < 3; run++) {
		double t0 = cpu_ns();
		for (int i = 0; i < n; i++) {
			int q = 0, r = b2b_reason_lines(&M, buf, sizeof(buf), l, 4, &q);
			if (r != want)
				return -1;
			sink += q;
		}
		double ns = (cpu_ns() - t0) / n;
		if (ns < best)
			best = ns;
	}
	return best;
}

int main(void)
{
	const int n = 400000;
	int fail = 0;
	double none = lines_ns(BYE_NONE, sizeof(BYE_NONE) - 1, 0, n);
	double one = lines_ns(BYE_ONE, sizeof(BYE_ONE) - 1, 1, n);
	double three = lines_ns(BYE_THREE, sizeof(BYE_THREE) - 1, 2, n);

	/* the BYE on the other leg, with and without the Reason line */
	static b2b_dialog d;
	static char out[4096];
	static const char ok_text[] = SIP_SAMPLE_B_200_CONFIRMS;
	static sip_msg ok;
	const char *rsn = "Reason: Q.850;cause=16;text=\"Normal call clearing\"";
	b2b_via via = {.transport = "UDP", .host = "203.0.113.5", .port = 5060, .branch = "z9hG4bKbye"};
	double build[2] = {1e18, 1e18};
	if (b2b_dialog_uac_init(&d, "cid-b@203.0.113.5", "ours", "<sip:a@203.0.113.5>;tag=ours",
				"<sip:4930@192.0.2.80>", "sip:4930@192.0.2.80:5060", 1) < 0 ||
	    sip_parse(ok_text, sizeof(ok_text) - 1, &ok) < 0 || b2b_dialog_uac_update(&d, &ok) < 0) {
		fprintf(stderr, "dialog set-up failed\n");
		return 1;
	}
	for (int run = 0; run < 3; run++)
		for (int with = 0; with < 2; with++) {
			double t0 = cpu_ns();
			for (int i = 0; i < n; i++) {
				d.local_cseq = 1;
				int r = b2b_build_in_dialog(&d, SIP_M_BYE, &via, NULL, with ? &rsn : NULL, with ? 1 : 0,
							    NULL, out, sizeof(out));
				if (r <= 0)
					return 1;
				sink += r;
			}
			double ns = (cpu_ns() - t0) / n;
			if (ns < build[with])
				build[with] = ns;
		}
	if (none < 0 || one < 0 || three < 0) {
		fprintf(stderr, "b2b_reason_lines returned an unexpected count\n");
		return 1;
	}
	double added_one = one + (build[1] - build[0]);
	printf("bench_b2b_reason: CPU ns per BYE, best of 3 x %d\n", n);
	printf("  b2b_reason_lines, no Reason                    %7.1f ns\n", none);
	printf("  b2b_reason_lines, 1 Q.850 Reason               %7.1f ns\n", one);
	printf("  b2b_reason_lines, 3 Reason lines (1 malformed) %7.1f ns\n", three);
	printf("  BYE built on the other leg without Reason      %7.1f ns\n", build[0]);
	printf("  BYE built on the other leg with 1 Reason       %7.1f ns\n", build[1]);
	printf("  Reason work added to a BYE with 1 Reason       %7.1f ns (target < %.0f ns) %s\n", added_one,
	       TARGET_NS, added_one < TARGET_NS ? "ok" : "OVER");
	double added_three = three + (build[1] - build[0]);
	printf("  Reason work added to a BYE with 3 lines        %7.1f ns (target < %.0f ns) %s\n", added_three,
	       TARGET_MANY_NS, added_three < TARGET_MANY_NS ? "ok" : "OVER");
	fail = added_one >= TARGET_NS || added_three >= TARGET_MANY_NS;
	return fail ? 1 : 0;
}
