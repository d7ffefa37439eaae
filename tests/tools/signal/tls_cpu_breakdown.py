#!/usr/bin/python3
"""Where sbc-signal's CPU goes during full TLS handshakes (issue #4).

Reads `perf script` output of sbc-signal recorded with kernel call chains
(perf record -g -p PID while sig-tlsload runs --mode full) and prints the
share of samples per bucket: public-key crypto by primitive, the rest of
libcrypto (hashing, record AEAD, RNG), libssl's own code, malloc/free,
our code, and the kernel by system call. User samples go by their
innermost function (the library is built without frame pointers, so the
callers above libcrypto are not trusted); kernel samples by the system
call (or interrupt) at the bottom of their kernel stack.

Usage:
  perf record -F 2000 -g -o hs.data -p $(pidof sbc-signal) -- sleep 5
  perf script -i hs.data | tests/tools/signal/tls_cpu_breakdown.py [CPU_MS_PER_HANDSHAKE]
With CPU_MS_PER_HANDSHAKE (measured outside perf) each bucket is also
given in microseconds per handshake.
"""
import collections
import re
import sys

# (bucket, regex on the symbol), first match wins; libcrypto/libssl/libc only
USER = [
    ("crypto: X25519 key share", r"^(fe_|X25519|x25519|ge_|cmov$|table_select|fiat_25519|x25519_)"),
    ("crypto: P-256 (ECDSA sign, nistz)", r"(nistz256|^ecdsa_|^ec_|^EC_|^ECDSA|^bn_|^BN_|^p256_|fiat_p256)"),
    ("libcrypto: SHA-256/SHA-512 (transcript, HKDF, HMAC, nonce)",
     r"(^sha256|^SHA256|^sha512|^SHA512|^HKDF|^HMAC|^hmac|^EVP_MD|^EVP_Digest|^md_)"),
    ("libcrypto: AES-GCM record/ticket encryption", r"(^aes_|^gcm_|^CRYPTO_gcm|aead|^EVP_AEAD|^EVP_Cipher|^EVP_Encrypt|^EVP_Decrypt|^ctr128|^CRYPTO_ctr|^CRYPTO_cbc)"),
    ("libcrypto: RNG", r"(rdrand|^RAND_|^CTR_DRBG|^rand_|^ctr_drbg)"),
    ("malloc/free (libc + OPENSSL_malloc)", r"(malloc|free$|^_int_|^cfree|^OPENSSL_malloc|^OPENSSL_free|^OPENSSL_zalloc|^OPENSSL_realloc|unlink_chunk|^tcache|^__libc_calloc|^calloc|^realloc)"),
    ("memcpy/memset", r"^__(mem|str)"),
    ("libcrypto: CBB/CBS (message building/parsing), ASN.1",
     r"(^CBB|^CBS|^cbb_|^cbs_|^asn1|^ASN1|^CRYPTO_BUFFER)"),
]
KERNEL = [
    ("kernel: accept4", ("__sys_accept4", "do_accept")),
    ("kernel: close", ("__x64_sys_close", "__fput", "tcp_close", "task_work_run")),
    ("kernel: epoll_ctl", ("__x64_sys_epoll_ctl", "do_epoll_ctl")),
    ("kernel: epoll_wait", ("do_epoll_wait",)),
    ("kernel: recv", ("__x64_sys_recvfrom", "__sys_recvfrom", "tcp_recvmsg")),
    ("kernel: write/send", ("ksys_write", "__sys_sendto", "tcp_sendmsg")),
    ("kernel: setsockopt/ioctl", ("__x64_sys_setsockopt", "__x64_sys_ioctl")),
    ("kernel: softirq (loopback TCP delivery)", ("handle_softirqs", "do_softirq", "net_rx_action")),
    ("kernel: scheduling/interrupts", ("schedule", "irqentry", "asm_sysvec", "finish_task_switch")),
]


def classify(leaf_sym, leaf_dso, stack):
    if "kernel" in leaf_dso or leaf_dso.startswith("[k"):
        for name, keys in KERNEL:
            for fr in stack:
                if any(k in fr for k in keys):
                    return name
        return "kernel: other"
    if "sbc-signal" in leaf_dso:
        return "ours: sbc-signal"
    if "libuv" in leaf_dso:
        return "ours: libuv (event loop)"
    for name, rx in USER:
        if re.search(rx, leaf_sym):
            return name
    if "libssl" in leaf_dso:
        return "libssl: handshake/record code"
    if "libcrypto" in leaf_dso:
        return "libcrypto: other"
    if "libc" in leaf_dso:
        return "libc: other"
    return "other: " + leaf_dso


def main():
    ms = float(sys.argv[1]) if len(sys.argv) > 1 else None
    counts = collections.Counter()
    stack = []
    total = 0

    def flush():
        nonlocal total
        if not stack:
            return
        leaf_sym, leaf_dso = stack[0]
        counts[classify(leaf_sym, leaf_dso, [s for s, _ in stack])] += 1
        total += 1

    frame = re.compile(r"^\s+[0-9a-f]+\s+(\S+?)(?:\+0x[0-9a-f]+)?\s+\((.*)\)\s*$")
    for line in sys.stdin:
        m = frame.match(line)
        if m:
            stack.append((m.group(1), m.group(2)))
            continue
        if not line.strip():
            flush()
            stack = []
    flush()
    if not total:
        print("no samples")
        return 1
    groups = collections.Counter()
    for k, v in counts.items():
        groups[k.split(":")[0]] += v
    print(f"{total} samples" + (f"; {ms:.4f} ms CPU per handshake" if ms else ""))
    for k, v in counts.most_common():
        us = f"  {v / total * ms * 1000:6.1f} us/hs" if ms else ""
        print(f"  {100 * v / total:5.1f}%{us}  {k}")
    print("by group: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in groups.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
