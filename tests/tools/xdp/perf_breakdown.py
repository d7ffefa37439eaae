#!/usr/bin/python3
"""Where the CPU of one bench_xdp run goes, in microseconds per relayed packet.

Runs `bench_xdp` for one relay (BENCH_XDP_ONLY=<relay>:<pps>:<mode>), records
the whole machine with `perf record -a -g` during the measured part of the
run, and prints for each command (the relay, bench_xdp = generator + sink,
ksoftirqd, other work) its CPU per relayed packet and, inside it, the kernel
paths that matter for a relay over veth: the TX kick of an AF_XDP socket in
copy mode, the skb it builds, veth_xmit, the receive stack run inside it
(process_backlog: the next namespace's IP/UDP receive, done in the sender's
softirq), wake-ups (epoll/io_uring waits, schedule) and user space.

    perf_breakdown.py <build-dir> <relay> <pps> <mode> [seconds]

PERF_KEEP=1 keeps the perf data (its path is printed) for perf report.

relay: 5 sbc-media socket, 6 sbc-media xdp, 7 rtpengine (bench_xdp's
numbering); mode: 0 RTP->RTP, 1 SRTP->RTP, 2 RTP->SRTP. Needs root and perf.
Other work on the machine shows as its own commands and does not enter our
rows (per-packet figures divide our commands' samples by our packets).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

# Inclusive (children) figures worth showing, in the order printed.
PATHS = [
    ("sendto (XSK TX kick)", "__libc_sendto"),
    ("  __xsk_generic_xmit (skb per desc)", "__xsk_generic_xmit"),
    ("  xsk_build_skb", "xsk_build_skb"),
    ("  sock_alloc_send_pskb", "sock_alloc_send_pskb"),
    ("io_uring_enter", "__do_sys_io_uring_enter"),
    ("sendmmsg", "__sys_sendmmsg"),
    ("recvmmsg", "__x64_sys_recvmmsg"),
    ("udp_sendmsg", "udp_sendmsg"),
    ("udp_recvmsg", "udp_recvmsg"),
    ("veth_xmit", "veth_xmit"),
    ("process_backlog (peer's rx stack)", "process_backlog"),
    ("veth_poll (native XDP rx)", "veth_poll"),
    ("  skb_pp_cow_data (veth copy)", "skb_pp_cow_data"),
    ("  __xsk_rcv (copy to UMEM)", "__xsk_rcv"),
    ("do_xdp_generic (generic XDP rx)", "do_xdp_generic"),
    ("sock_def_readable (wake a reader)", "sock_def_readable"),
    ("epoll_wait", "do_epoll_wait"),
    ("io_cqring_wait", "io_cqring_wait"),
    ("__schedule (sleep/wake)", "__schedule"),
    ("csum (any)", None),
]


def report(data, pids=None, comm=None):
    """Inclusive (children) and self percentages of the whole recording, by
    symbol, for the given processes or command."""
    args = ["perf", "report", "-i", data, "--stdio", "-g", "none", "--sort", "sym",
            "--children"]
    if pids:
        args += ["--pid", ",".join(str(p) for p in pids)]
    if comm:
        args += ["--comm", comm]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(\S+)", line)
        if m:
            rows[m.group(4)] = (float(m.group(1)), float(m.group(2)), m.group(3))
    return rows


def ns_pids(bench_pid):
    """The processes in bench_xdp's namespaces (A: generator, R: relay, B:
    sink), by role: other engineers' processes with the same names (another
    sbc-media) stay out."""
    out = {}
    for role, suffix in (("generator (A)", "a"), ("relay (R)", "r"), ("sink (B)", "b")):
        ns = "sbcb%x%s" % (bench_pid, suffix)
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        out[role] = [int(x) for x in r.stdout.split()]
    return out


def split(relay, us, rows, ksoft):
    """The relay's share of the machine's CPU per packet, from the samples,
    split into what a zero-copy NIC would remove and the rest (issue 7 item
    6 on veth, where AF_XDP binds in copy mode only).

    The relay's share is R's receive, run in the sender's softirq (A:
    veth_poll with XDP attached, process_backlog without), plus the relay
    process minus the sink's receive run inside its sends (process_backlog
    in R: on a real network that is the next host's work; the bench takes
    it out with the direct A->B baseline). A zero-copy NIC removes, on the
    AF_XDP path: veth's copy of each skb for XDP (skb_pp_cow_data), the copy
    into the UMEM (__xsk_rcv) and the skb built per TX descriptor with its
    veth_xmit (xsk_build_skb + veth_xmit; the sink's receive after it is
    the next host's work).
    The socket path keeps its UDP stack on any NIC."""
    a = rows.get("generator (A)", {})
    r = rows.get("relay (R)", {})
    if not a or not r:
        return
    inc = lambda rw, sym: rw.get(sym, (0, 0, ""))[0]
    self_r = sum(x[1] for x in r.values())
    peer_rx = inc(r, "process_backlog")
    xdp = relay == "6"
    # R's receive: with XDP only R's veths run veth_poll, wherever the
    # softirq lands (A's send, or ksoftirqd on a busy machine); without,
    # the backlog of A's send (or of ksoftirqd: counted as R's, though a
    # deferred softirq there may also hold some of B's receive).
    sym = "veth_poll" if xdp else "process_backlog"
    r_rx = inc(a, sym) + sum(inc(k, sym) for k in ksoft)
    if xdp:
        r_rx += inc(rows.get("sink (B)", {}), sym)
    share = us(r_rx) + us(self_r - peer_rx)
    print("\n  relay's share (R's receive in the sender's softirq %.2f + relay process %.2f - the sink's "
          "receive inside its sends %.2f): %.2f us/pkt" % (us(r_rx), us(self_r), us(peer_rx),
                                                         share))
    if not peer_rx:
        # perf did not unwind R's sends through the softirq this time: the
        # sink's receive hides in other symbols and in the share
        print("    the sink's receive was not found in R's call chains (perf did not unwind "
              "through the softirq): the share includes it; no split from this run")
        return
    if not xdp:
        print("    socket path: its UDP receive and send stacks stay on any NIC")
        return
    every = list(rows.values()) + ksoft
    cow = sum(inc(rw, "skb_pp_cow_data") for rw in every)
    xrcv = sum(inc(rw, "__xsk_rcv") for rw in every)
    # The skb built per TX descriptor (allocation + copy of the frame) and
    # veth_xmit's own work (the enqueue; the sink's receive runs later, at
    # the bottom-half enable in __dev_direct_xmit, outside veth_xmit).
    # Call chains through the skb path are not always unwound (the symbols
    # below may be missing): then the kick minus the sink's receive nested
    # in it (process_backlog runs at the bottom-half enable inside it).
    build = inc(r, "xsk_build_skb") or inc(r, "sock_alloc_send_pskb")
    xmit = max(build + inc(r, "veth_xmit"), inc(r, "__xsk_generic_xmit") - peer_rx)
    zc = us(cow) + us(xrcv) + us(xmit)
    # The fraction is the figure to use: perf's cpu-clock on this VM can
    # miss a vCPU's samples for a while (steal), which scales every us/pkt
    # figure here but not the shares within our own samples; multiply it by
    # bench_xdp's relay:ours (schedstat) for microseconds.
    print("    a zero-copy NIC removes %.2f us/pkt = %.0f%% of the share (veth skb copy for XDP "
          "%.2f, copy into the UMEM %.2f, skb + veth_xmit per TX descriptor %.2f); the rest "
          "%.2f us/pkt" % (zc, 100.0 * zc / share if share > 0 else 0, us(cow), us(xrcv),
                           us(xmit), share - zc))


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    build, relay, pps, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    secs = float(sys.argv[5]) if len(sys.argv) > 5 else 4.0
    if os.geteuid() != 0:
        print("perf_breakdown: skipped: needs root")
        return 77
    bench = os.path.join(build, "bench", "bench_xdp")
    env = dict(os.environ, BENCH_XDP_ONLY="%s:%d:%s" % (relay, pps, mode))
    data = tempfile.mktemp(prefix="xdp_perf.", suffix=".data")
    p = subprocess.Popen([bench, str(secs)], env=env, stdout=subprocess.PIPE, text=True)
    # bench_xdp: idle baseline (secs), set-up (~1 s), warm-up 0.5 s, then
    # the measured secs; record the middle of the measured part.
    time.sleep(secs + 2.0)
    roles = ns_pids(p.pid)
    rec = max(1.0, secs - 1.0)
    subprocess.run(["perf", "record", "-q", "-a", "-g", "-o", data, "sleep", str(rec)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = p.communicate()[0]
    print(out.strip())
    m = re.search(r"relayed (\d+)/s", out)
    relayed = float(m.group(1)) if m else pps
    hdr = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort",
                          "comm", "-g", "none"], capture_output=True, text=True).stdout
    ev = re.search(r"Event count \(approx.\): (\d+)", hdr)
    total_ns = float(ev.group(1)) if ev else rec * 1e9 * os.cpu_count()
    idle = 0.0
    for line in hdr.splitlines():
        mm = re.match(r"\s+([\d.]+)%\s+swapper\s*$", line)
        if mm:
            idle = float(mm.group(1))
    pkts = relayed * rec
    us = lambda pct: pct / 100.0 * total_ns / 1e3 / pkts
    groups = [(role, pl, None) for role, pl in roles.items() if pl]
    groups.append(("ksoftirqd", None, "ksoftirqd/0"))
    groups.append(("ksoftirqd", None, "ksoftirqd/1"))
    print("\nCPU per relayed packet (perf, %.1f s, %.0f packets/s relayed; idle %.0f%% of "
          "the samples):" % (rec, relayed, idle))
    tot = 0.0
    detail = []
    ksoft = []
    for role, pl, comm in groups:
        rows = report(data, pl, comm)
        self_all = sum(r[1] for r in rows.values())
        tot += us(self_all)
        print("  %-28s %6.2f us/pkt" % (role if not comm else comm, us(self_all)))
        if pl:
            detail.append((role, rows))
        else:
            ksoft.append(rows)
    print("  %-28s %6.2f us/pkt" % ("ours", tot))
    for role, rows in detail:
        print("\n  inside %s (inclusive us/pkt):" % role)
        for name, sym in PATHS:
            if sym is None:
                v = sum(r[1] for s_, r in rows.items() if "csum" in s_ or "checksum" in s_)
            else:
                v = rows.get(sym, (0, 0, ""))[0]
            if us(v) >= 0.01:
                print("    %-36s %6.3f" % (name, us(v)))
        user = sum(r[1] for r in rows.values() if r[2] == ".")
        print("    %-36s %6.3f" % ("user space (self)", us(user)))
    split(relay, us, {role: rows for role, rows in detail}, ksoft)
    if os.environ.get("PERF_KEEP"):
        print("\nperf data kept in %s" % data)
    else:
        os.unlink(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
